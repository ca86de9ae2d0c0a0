// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * transfer.c - which way the copy engine moves data: measured, not assumed.
 *
 * The target reading the source itself (an injected process_vm_readv) is
 * one copy, but it writes the destination through the target's own
 * addresses, so every new page there is first touched by a page fault.
 * pgclone's buffer is two copies (process_vm_readv in, process_vm_writev
 * out), but process_vm_writev fills the destination through the kernel's
 * mapping of each page, faulting it in without a trap.  Which wins
 * depends on the machine: on a nested virtual machine a 4 KiB fault cost
 * 17 us and the target's own copy ran at an eighth of pgclone's (issue
 * 13); where faults are cheap, one copy can win.  So, as the kernel's
 * raid6 and xor code pick their routines, time both on a first sample of
 * the data and keep the faster for the rest.  Both leave the destination
 * alike; only the time differs.
 *
 * The buffer is timed first, on the whole sample; then the target's own
 * read, a step at a time, and only until it is sure to lose: once it has
 * taken as long as the buffer took for the whole sample, it cannot be the
 * faster.  On that nested VM its 8 MiB sample took some 30 ms of a 1 GiB
 * clone's 360; it now stops after its first MiB.
 *
 * Fault-point builds take PGCLONE_FAULT_XFER=inject|bounce to force one,
 * so that the tests reach both whatever this machine prefers.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static const char *const xfer_names[] = {
	[PGC_XFER_INJECT] = "by the target's own process_vm_readv",
	[PGC_XFER_BOUNCE] = "through pgclone's buffer",
};

static bool forced(struct pgc_xfer_pick *p, bool inject_ok)
{
#ifdef PGCLONE_FAULT_POINTS
	const char *how = getenv("PGCLONE_FAULT_XFER");

	if (how && !strcmp(how, "inject") && inject_ok) {
		p->via = PGC_XFER_INJECT;
		return true;
	}
	if (how && !strcmp(how, "bounce")) {
		p->via = PGC_XFER_BOUNCE;
		return true;
	}
#endif
	(void)p;
	(void)inject_ok;
	return false;
}

void pgc_xfer_pick_init(struct pgc_xfer_pick *p, bool inject_ok)
{
	memset(p, 0, sizeof(*p));
	p->via = PGC_XFER_BOUNCE;
	p->deciding = inject_ok && !forced(p, inject_ok);
}

uint64_t pgc_xfer_batch_bytes(const struct pgc_xfer_pick *p, uint64_t normal)
{
	/* small while measuring: the slower way moves as little as it can */
	uint64_t most = p->via == PGC_XFER_INJECT ? PGC_XFER_SAMPLE_STEP :
			PGC_XFER_SAMPLE_BYTES;

	return p->deciding && normal > most ? most : normal;
}

void pgc_xfer_refused(struct pgc_xfer_pick *p)
{
	p->via = PGC_XFER_BOUNCE;
	p->deciding = false;
}

static bool sampled(const struct pgc_xfer_sample *s)
{
	return s->bytes >= PGC_XFER_SAMPLE_BYTES ||
	       s->batches >= PGC_XFER_SAMPLE_BATCHES;
}

static double mib_per_s(const struct pgc_xfer_sample *s)
{
	return (double)s->bytes / (1 << 20) / ((double)(s->ns ? s->ns : 1) / 1e9);
}

void pgc_xfer_account(struct pgc_xfer_pick *p, enum pgc_xfer used,
		      uint64_t bytes, uint64_t ns)
{
	struct pgc_xfer_sample *in = &p->tried[PGC_XFER_INJECT];
	struct pgc_xfer_sample *bo = &p->tried[PGC_XFER_BOUNCE];
	enum pgc_xfer other;

	if (!p->deciding)
		return;
	p->tried[used].bytes += bytes;
	p->tried[used].ns += ns;
	p->tried[used].batches++;
	if (!sampled(bo)) {
		p->via = PGC_XFER_BOUNCE;
		return;
	}
	/*
	 * ns per byte, cross-multiplied: samples are at most tens of MiB.
	 * Whatever inject's sample ends up holding (at most the sample's
	 * bytes), it takes at least in->ns: sure to lose once that is as
	 * long as the buffer takes, at its rate, for a whole sample.
	 */
	if (!sampled(in) &&
	    in->ns * bo->bytes < bo->ns * PGC_XFER_SAMPLE_BYTES) {
		p->via = PGC_XFER_INJECT;
		return;
	}
	if (bo->ns * in->bytes < in->ns * bo->bytes) {
		p->via = PGC_XFER_BOUNCE;
		other = PGC_XFER_INJECT;
	} else {
		p->via = PGC_XFER_INJECT;
		other = PGC_XFER_BOUNCE;
	}
	p->deciding = false;
	pr_info("copying %s: %.0f MiB/s, against %.0f MiB/s %s",
		xfer_names[p->via], mib_per_s(&p->tried[p->via]),
		mib_per_s(&p->tried[other]), xfer_names[other]);
}
