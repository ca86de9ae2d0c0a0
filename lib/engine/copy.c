// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * copy.c - the copy engine: works on every stock kernel.
 *
 * Freeze the source, plan, build the destination mappings in the target
 * (engine/build.c), then move only the pages that hold data.  The fastest
 * transfer is a process_vm_readv() run inside the target, reading straight
 * from the source: one kernel copy, no bounce buffer.  When the target may
 * not read the source (credentials, namespaces, its seccomp filter), pgclone
 * copies through a bounded buffer; source pages without PROT_READ are read
 * through /proc/PID/mem, which may read them.  Which of the two ways is
 * faster depends on the machine: both are timed on the first few MiB and
 * the faster moves the rest (engine/transfer.c).
 *
 * What holds data comes from the page walk (proc/pagewalk.c): the zero
 * page is not data and leaves the destination page untouched; where the
 * walk cannot tell it from data, the pages pass through pgclone's buffer
 * and pages of zeroes are not written.  The source's huge pages come out
 * huge when the destination is aligned like the source (copy_range()).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine.h"

#define IOV_BATCH 512			/* iovecs per side per transfer */
#define BATCH_BYTES (64ULL << 20)	/* bytes per transfer: progress, cancel */
#define BOUNCE_BYTES (4ULL << 20)	/* pgclone's own buffer, whatever len */
#define SCRATCH_LEN (2 * IOV_BATCH * sizeof(struct iovec))

/* how copy_bounce() reads the source */
enum xfer_mode { XFER_BOUNCE, XFER_PROCMEM };

struct copier {
	const struct pgc_request *req;
	struct pgc_build *b;
	pid_t src_in_dst;		/* the source's pid as the target sees it */
	struct pgc_xfer_pick pick;	/* how queued runs move */
	bool injected;			/* the target has read the source */
	int memfd;			/* /proc/SRC/mem, opened on demand */
	char *bounce;
	uint64_t done, total;
	uint64_t zero_skipped;		/* pages of zeroes not written */
	struct iovec liov[IOV_BATCH], riov[IOV_BATCH];
	size_t niov;
	uint64_t batch_bytes;
	size_t iovs, transfers;		/* -vv: how the pages went over */
};

/*
 * Why a read or write of @pid failed (@err from the syscall): it died, or
 * something stranger.  A process being killed loses its mm before it
 * becomes a zombie, so ESRCH is the first sign.
 */
static int io_error(pid_t pid, int err, const char *what, uint64_t addr)
{
	struct pgc_status st;

	if (err == -ESRCH || pgc_status_read(pid, 0, &st) || st.state == 'Z' ||
	    st.state == 'X')
		return pgc_fail(-ESRCH, "PID %d exited while pgclone was working on it",
				(int)pid);
	return pgc_fail(-EIO, "cannot %s 0x%llx of PID %d", what,
			(unsigned long long)addr, (int)pid);
}

/*
 * A frozen source stays in a ptrace (or group) stop until pgclone lets it
 * go; a SIGKILL wakes it at once.  Killed, it exits with its memory still
 * readable for a moment, so the copy may have worked by chance: its death
 * must fail the clone and roll it back all the same, as it does when a
 * read notices it (io_error).  Without a freeze (no thread held) there is
 * nothing to ask.
 */
static int source_still_frozen(const struct pgc_proc *src)
{
	struct pgc_status st;

	if (!src->n)
		return 0;
	for (size_t i = 0; i < src->n; i++)
		if (!src->t[i].exited &&
		    !pgc_status_read(src->pid, src->t[i].tid, &st) &&
		    (st.state == 't' || st.state == 'T'))
			return 0;
	return pgc_fail(-ESRCH, "PID %d exited while pgclone was working on it",
			(int)src->pid);
}

/* The pid the target must name to reach the source, or 0 if it can't. */
static pid_t source_pid_in_target(pid_t src, pid_t dst)
{
	struct pgc_status st;

	if (pgc_same_pidns(dst, getpid()) == 1)
		return src;
	if (pgc_same_pidns(dst, src) == 1 && !pgc_status_read(src, 0, &st))
		return st.nspid_last;
	return 0;
}

static int flush_inject(struct copier *c)
{
	struct pgc_build *b = c->b;
	size_t half = c->niov * sizeof(struct iovec);
	long ret;
	int err;

	err = pgc_target_write(b->plan->dst_pid, b->scratch, c->liov, half);
	if (!err)
		err = pgc_target_write(b->plan->dst_pid, b->scratch + half,
				       c->riov, half);
	if (err)
		return io_error(b->plan->dst_pid, err, "write", b->scratch);
	err = pgc_remote_syscall(b->rem, &ret, SYS_process_vm_readv,
				 (uint64_t)c->src_in_dst, b->scratch, c->niov,
				 b->scratch + half, c->niov, 0);
	if (err == -EACCES && !c->injected) {
		pgc_clear_error();	/* its filter forbids it: copy ourselves */
		return -EAGAIN;
	}
	if (err)
		return err;
	if ((ret == -EPERM || ret == -ESRCH) && !c->injected)
		return -EAGAIN;	/* the target may not read the source */
	if (ret < 0 || (uint64_t)ret != c->batch_bytes)
		return pgc_fail(ret == -ESRCH ? -ESRCH : -EIO,
				"copy into PID %d stopped short (%ld of %llu bytes)",
				(int)b->plan->dst_pid, ret,
				(unsigned long long)c->batch_bytes);
	c->injected = true;
	return 0;
}

static bool page_is_zero(const char *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < PGC_PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Write @n bytes from the bounce buffer to @dst, leaving out the pages
 * that hold only zeroes when @skip_zero: the destination page stays
 * untouched and still reads as zeroes.
 */
static int write_out(struct copier *c, uint64_t dst, size_t n, bool skip_zero)
{
	pid_t dpid = c->b->plan->dst_pid;
	size_t from = 0;
	int err;

	while (from < n) {
		size_t to = from;

		if (skip_zero) {
			while (from < n && page_is_zero(c->bounce + from)) {
				from += PGC_PAGE_SIZE;
				c->zero_skipped++;
			}
			to = from;
			while (to < n && !page_is_zero(c->bounce + to))
				to += PGC_PAGE_SIZE;
		} else {
			to = n;
		}
		if (to == from)
			break;
		err = pgc_target_write(dpid, dst + from, c->bounce + from, to - from);
		if (err)
			return io_error(dpid, err, "write", dst + from);
		from = to;
	}
	return 0;
}

/*
 * pgclone's buffer, touched through once when it is made: its first
 * use would otherwise pay a page fault per page (1024 of them, 11-17 us
 * each on a nested VM), and the first use is the sample that decides
 * between the two ways of copying (engine/transfer.c).
 */
static int bounce_buffer(struct copier *c)
{
	if (c->bounce)
		return 0;
	c->bounce = malloc(BOUNCE_BYTES);
	if (!c->bounce)
		return -ENOMEM;
	memset(c->bounce, 0, BOUNCE_BYTES);
	return 0;
}

/* Copy through pgclone's own buffer: read the source, write the target. */
static int copy_bounce(struct copier *c, uint64_t src, uint64_t dst,
		       uint64_t len, enum xfer_mode mode, bool skip_zero)
{
	pid_t spid = c->req->src_pid;
	int err = bounce_buffer(c);

	if (err)
		return err;
	if (mode == XFER_PROCMEM && c->memfd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", (int)spid);
		c->memfd = pgc_proc_open(path, O_RDONLY);
		if (c->memfd < 0)
			return pgc_fail(-EPERM, "cannot open %s", path);
	}
	while (len) {
		size_t n = len > BOUNCE_BYTES ? BOUNCE_BYTES : len;
		struct iovec l = { c->bounce, n }, r = { (void *)src, n };
		ssize_t got;

		if (mode == XFER_PROCMEM)
			got = pread(c->memfd, c->bounce, n, (off_t)src);
		else
			got = pgc_vm_readv(spid, &l, 1, &r, 1);
		if (got != (ssize_t)n)
			return io_error(spid, got < 0 ? -errno : -EIO, "read", src);
		err = write_out(c, dst, n, skip_zero);
		if (err)
			return err;
		src += n;
		dst += n;
		len -= n;
	}
	return 0;
}

static int flush(struct copier *c)
{
	enum pgc_xfer used = c->pick.via;
	uint64_t t0;
	int err = 0;

	if (!c->niov)
		return 0;
	/* the buffer's making is not the way's cost: it is made once */
	if (used == PGC_XFER_BOUNCE) {
		err = bounce_buffer(c);
		if (err)
			return err;
	}
	t0 = pgc_now_ns();
	c->iovs += c->niov;
	c->transfers++;
	if (used == PGC_XFER_INJECT) {
		err = flush_inject(c);
		if (err == -EAGAIN) {
			pr_info("the target cannot read the source itself; copying through pgclone");
			pgc_xfer_refused(&c->pick);
			err = 0;
		} else if (!err) {
			goto done;
		}
	}
	for (size_t i = 0; !err && i < c->niov; i++)
		err = copy_bounce(c, (uint64_t)c->riov[i].iov_base,
				  (uint64_t)c->liov[i].iov_base,
				  c->riov[i].iov_len, XFER_BOUNCE, false);
	if (err)
		return err;
done:
	pgc_xfer_account(&c->pick, used, c->batch_bytes, pgc_now_ns() - t0);
	c->done += c->batch_bytes;
	c->niov = 0;
	c->batch_bytes = 0;
	err = pgc_fault_point("batch");
	if (err)
		return err;
	if (pgc_cancelled(c->req, c->done, c->total))
		return pgc_fail(-EINTR, "interrupted");
	return 0;
}

/*
 * Ranges that follow one another in the source are built one after
 * another too: a run that goes on where the last iovec ends, on both
 * sides, extends it.  30,000 one-page VMAs then cost the kernel one
 * iovec per batch, not one lookup and page-table walk per page.
 */
static bool extend_last(struct copier *c, uint64_t src, uint64_t dst,
			uint64_t n)
{
	struct iovec *l, *r;

	if (!c->niov)
		return false;
	l = &c->liov[c->niov - 1];
	r = &c->riov[c->niov - 1];
	if ((uint64_t)l->iov_base + l->iov_len != dst ||
	    (uint64_t)r->iov_base + r->iov_len != src)
		return false;
	l->iov_len += n;
	r->iov_len += n;
	return true;
}

static int queue(struct copier *c, uint64_t src, uint64_t dst, uint64_t len)
{
	while (len) {
		uint64_t limit = pgc_xfer_batch_bytes(&c->pick, BATCH_BYTES);
		uint64_t n = limit - c->batch_bytes;
		int err;

		if (n > len)
			n = len;
		if (!extend_last(c, src, dst, n)) {
			c->liov[c->niov] = (struct iovec){ (void *)dst, n };
			c->riov[c->niov] = (struct iovec){ (void *)src, n };
			c->niov++;
		}
		c->batch_bytes += n;
		src += n;
		dst += n;
		len -= n;
		if (c->niov == IOV_BATCH || c->batch_bytes == limit) {
			err = flush(c);
			if (err)
				return err;
		}
	}
	return 0;
}

/*
 * Copy one run through pgclone's buffer (pages without PROT_READ, pages
 * that may be the zero page), a batch at a time for progress and cancel.
 */
static int copy_run_aside(struct copier *c, uint64_t src, uint64_t dst,
			  uint64_t len, enum xfer_mode mode, bool skip_zero)
{
	int err = flush(c);

	while (!err && len) {
		uint64_t n = len > BATCH_BYTES ? BATCH_BYTES : len;

		err = copy_bounce(c, src, dst, n, mode, skip_zero);
		c->done += n;
		if (!err && pgc_cancelled(c->req, c->done, c->total))
			err = pgc_fail(-EINTR, "interrupted");
		src += n;
		dst += n;
		len -= n;
	}
	return err;
}

static int copy_run(struct copier *c, const struct pgclone_range *r,
		    uint64_t at, const struct pgc_run *run)
{
	uint64_t src = r->map.start + run->off;
	uint64_t dst = at + run->off;
	bool maybe_zero = run->flags & PGC_RUN_MAYBE_ZERO;

	if (!(r->map.prot & PROT_READ))
		return copy_run_aside(c, src, dst, run->len, XFER_PROCMEM,
				      maybe_zero);
	if (maybe_zero)
		return copy_run_aside(c, src, dst, run->len, XFER_BOUNCE, true);
	return queue(c, src, dst, run->len);
}

/* Do huge pages of the source land on huge page boundaries here too? */
static bool aligned_alike(const struct pgclone_range *r)
{
	return !((r->map.start ^ r->dst) & (PGC_HPAGE_SIZE - 1));
}

/*
 * Copy range @i's runs into where it is being built.  The source's huge
 * page advice is applied on the way, so that the copy's own faults decide
 * the page size: MADV_NOHUGEPAGE before any copy (run(), for all ranges
 * in one batch); MADV_HUGEPAGE only once the pages that were small in the
 * source are in, so that its huge pages come out huge (the build is
 * aligned like the destination, and the final mremap moves whole PMDs)
 * and its small ones do not grow into huge ones.  Runs of many ranges
 * share a transfer: nothing here waits for the end of a range.
 */
static int copy_range(struct copier *c, size_t i, const struct pgc_runs *runs)
{
	struct pgclone_range *r = &c->b->plan->r[i];
	uint64_t at = c->b->at[i];
	bool huge = (r->map.advice & PGCLONE_ADV_HUGEPAGE) && aligned_alike(r);
	int err = 0;

	c->zero_skipped = 0;
	for (size_t k = 0; !err && k < runs->n; k++)
		if (!huge || !(runs->r[k].flags & PGC_RUN_HUGE))
			err = copy_run(c, r, at, &runs->r[k]);
	if (!err && huge) {
		err = flush(c);
		if (!err)
			err = pgc_build_advise(c->b, i, MADV_HUGEPAGE);
		for (size_t k = 0; !err && k < runs->n; k++)
			if (runs->r[k].flags & PGC_RUN_HUGE)
				err = copy_run(c, r, at, &runs->r[k]);
	}
	r->pages_copied = runs->pages_to_copy - c->zero_skipped;
	return err;
}

/* A walk over ranges [i, end), which follow one another in the source. */
struct runs_ctx {
	const struct pgc_plan *plan;
	struct pgc_runs *runs;
	size_t i, end;		/* the range the walk is in; past the last */
	bool zero_known;
};

/* A run of the walk, cut where ranges meet. */
static int add_walked(void *ctx, uint64_t start, uint64_t end, unsigned int cats)
{
	struct runs_ctx *rc = ctx;
	int err = 0;

	while (!err && start < end) {
		const struct pgclone_range *r;
		uint64_t e;

		if (rc->i >= rc->end)
			return -EIO;	/* the walk left the ranges it was given */
		r = &rc->plan->r[rc->i];
		if (start >= r->map.end) {
			rc->i++;	/* the walk goes up: never back */
			continue;
		}
		e = end < r->map.end ? end : r->map.end;
		err = pgc_runs_add_cats(&rc->runs[rc->i], start - r->map.start,
					e - start, cats, r->map.kind, rc->zero_known);
		start = e;
	}
	return err;
}

/*
 * What the source holds: runs of pages to copy.  The zero page is left
 * out, so the destination stays untouched where the source was only read
 * (design.md, "Page states both engines keep").  Ranges that follow one
 * another are walked in one go: one ioctl per 512 runs, not one per VMA.
 */
static int scan_source(const struct pgc_plan *plan, struct pgc_runs *runs)
{
	struct pgc_walk w;
	size_t walks = 0;
	int err = pgc_walk_open(&w, plan->src_pid);

	if (err)
		return err;
	for (size_t i = 0; !err && i < plan->n; walks++) {
		struct runs_ctx rc = { plan, runs, i, i + 1, w.how != PGC_WALK_PAGEMAP };

		while (rc.end < plan->n &&
		       plan->r[rc.end].map.start == plan->r[rc.end - 1].map.end)
			rc.end++;
		err = pgc_walk_range(&w, plan->r[i].map.start,
				     plan->r[rc.end - 1].map.end, add_walked, &rc);
		for (; i < rc.end; i++) {
			struct pgclone_range *r = &plan->r[i];

			/* no PAGE_IS_HUGE: take whole blocks as the huge pages */
			if (!err && w.how != PGC_WALK_SCAN &&
			    (r->map.advice & PGCLONE_ADV_HUGEPAGE))
				err = pgc_runs_mark_full_blocks(&runs[i], r->map.start);
			r->pages_present = runs[i].pages_present;
			if (r->map.kind == PGCLONE_KIND_ANON_SHARED ||
			    r->map.kind == PGCLONE_KIND_FILE_SHARED)
				r->pages_shared = runs[i].pages_present;
		}
		if (err)
			err = pgc_fail(err, "cannot read the page states of PID %d",
				       (int)plan->src_pid);
	}
	pgc_walk_close(&w);
	pr_debug("page states of %zu range(s) in %zu walk(s)", plan->n, walks);
	return err;
}

static int unmap_source(struct pgc_remote *rem, const struct pgc_plan *plan)
{
	long ret;
	int err = pgc_remote_syscall(rem, &ret, SYS_munmap, plan->src, plan->len,
				     0, 0, 0, 0);

	if (!err && ret)
		err = pgc_fail(ret == -EPERM ? -EPERM : -EIO,
			       "cannot unmap the source in PID %d: %s",
			       (int)plan->src_pid, strerror((int)-ret));
	return err;
}

struct session {
	struct pgc_proc src, dst;
	struct pgc_vma_list dst_maps;
	struct pgc_plan plan;
	struct pgc_runs *runs;
	struct pgc_remote rem, src_rem;
	struct pgc_build build;
	bool built, rem_on, src_rem_on;
	bool committed;			/* moved into place: never rolled back */
	uint64_t dst_span;		/* --dst auto: bytes reserved at plan.dst */
	const char *not_done;		/* the step after the commit that runs */
	struct pgc_phases ph;		/* -v: where the time goes */
};

static bool same_process(const struct pgc_request *req)
{
	return req->src_pid == req->dst_pid;
}

/* Freeze, plan against the frozen state, check the destination. */
static int prepare(struct session *s, const struct pgc_request *req)
{
	struct pgc_vma_list src_maps;
	bool freeze_src = !(req->flags & PGCLONE_NO_FREEZE) ||
			  (req->flags & PGCLONE_MOVE) || same_process(req);
	int err;

	if (freeze_src) {
		err = pgc_proc_seize(&s->src, req->src_pid);
		if (!err)
			err = pgc_pin_check(req->src_pin, req->src_pid);
		if (err)
			return err;
	}
	/* a dry run of --replace reads the target's threads too */
	if (!same_process(req) && (!(req->flags & PGCLONE_DRY_RUN) ||
				   (req->flags & PGCLONE_REPLACE))) {
		err = pgc_proc_seize(&s->dst, req->dst_pid);
		if (!err)
			err = pgc_pin_check(req->dst_pin, req->dst_pid);
		if (err)
			return err;
	}
	pgc_phase_end(&s->ph, "seize");
	err = pgc_maps_read(req->src_pid, &src_maps);
	if (err)
		return err;
	if (req->flags & PGCLONE_DST_AUTO)	/* placed by run(), frozen */
		err = pgc_plan_build_auto(&s->plan, req->src_pid, &src_maps,
					  req->src, req->len, req->dst_pid);
	else
		err = pgc_plan_build(&s->plan, req->src_pid, &src_maps, req->src,
				     req->len, req->dst_pid, req->dst);
	s->plan.src_maps = src_maps;	/* the plan owns it from now on */
	if (err)
		return err;
	if (req->flags & PGCLONE_DST_AUTO) {
		pgc_phase_end(&s->ph, "plan");
		return 0;
	}
	if (same_process(req)) {
		err = pgc_plan_check_dst(&s->plan, &s->plan.src_maps,
					 req->flags & PGCLONE_REPLACE);
	} else {
		err = pgc_maps_read(req->dst_pid, &s->dst_maps);
		if (!err)
			err = pgc_plan_check_dst(&s->plan, &s->dst_maps,
						 req->flags & PGCLONE_REPLACE);
	}
	if (!err && (req->flags & PGCLONE_REPLACE))
		err = pgc_replace_check_threads(same_process(req) ? &s->src : &s->dst,
						&s->plan, req->flags & PGCLONE_FORCE);
	if (!err)
		pgc_phase_end(&s->ph, "plan");
	return err;
}

/* What the source holds, from its pagemap: runs to copy, counters. */
static int count_source(struct session *s)
{
	int err;

	s->runs = calloc(s->plan.n, sizeof(*s->runs));
	if (!s->runs)
		return -ENOMEM;
	err = scan_source(&s->plan, s->runs);
	if (!err)
		pgc_phase_end(&s->ph, "scan");
	return err;
}

static int run(struct session *s, const struct pgc_request *req)
{
	struct pgc_proc *dproc = same_process(req) ? &s->src : &s->dst;
	const struct pgc_vma_list *dmaps = same_process(req) ?
			&s->plan.src_maps : &s->dst_maps;
	struct copier c = { .req = req, .memfd = -1 };
	int err;

	err = count_source(s);
	if (err)
		return err;
	for (size_t i = 0; i < s->plan.n; i++)
		c.total += s->runs[i].pages_to_copy * PGC_PAGE_SIZE;
	if (pgc_cancelled(req, 0, c.total))
		return pgc_fail(-EINTR, "interrupted");

	err = pgc_step(req, "seized");
	if (err)
		return err;
	err = pgc_remote_begin(&s->rem, dproc);
	if (err)
		return err;
	s->rem_on = true;
	/* a move injects into the source too: read its filters now */
	if ((req->flags & PGCLONE_MOVE) && !same_process(req)) {
		err = pgc_remote_begin(&s->src_rem, &s->src);
		if (err)
			return err;
		s->src_rem_on = true;
	}
	err = pgc_ready(req);
	if (err)
		return err;
	/*
	 * Built and filled aside, moved into place at the end: until then the
	 * destination range is untouched, so even a SIGKILL of pgclone, which
	 * nothing can roll back, leaves it as it was (SECURITY.md).
	 */
	/* --dst auto: the target's kernel picks, while it is frozen */
	if (req->flags & PGCLONE_DST_AUTO) {
		err = pgc_build_reserve_dst(&s->rem, &s->plan, &s->dst_span);
		if (err)
			return err;
	}
	err = pgc_build_stage(&s->build, &s->rem, &s->plan, NULL, NULL, SCRATCH_LEN);
	if (err)
		return err;
	s->built = true;
	err = pgc_step(req, "mapped");
	if (err)
		return err;
	pgc_phase_end(&s->ph, "map");

	c.b = &s->build;
	c.src_in_dst = source_pid_in_target(req->src_pid, req->dst_pid);
	pgc_xfer_pick_init(&c.pick, c.src_in_dst > 0);
	err = pgc_build_advise_all(&s->build, PGCLONE_ADV_NOHUGEPAGE,
				   MADV_NOHUGEPAGE);
	for (size_t i = 0; !err && i < s->plan.n; i++)
		err = copy_range(&c, i, &s->runs[i]);
	if (!err)
		err = flush(&c);
	pr_debug("pages queued in %zu iovec(s) in %zu transfer(s)", c.iovs,
		 c.transfers);
	free(c.bounce);
	if (c.memfd >= 0)
		close(c.memfd);
	if (err)
		return err;
	if (pgc_cancelled(req, c.done, c.total))
		return pgc_fail(-EINTR, "interrupted");
	pgc_phase_end(&s->ph, "copy");

	err = pgc_step(req, "copied");
	if (!err)
		err = pgc_build_finish(&s->build);
	if (!err)
		err = pgc_build_drop_scratch(&s->build);
	if (!err)
		err = pgc_step(req, "finished");
	if (!err)
		err = source_still_frozen(&s->src);
	if (!err)
		err = pgc_build_place(&s->build, dmaps, req->flags & PGCLONE_REPLACE);
	if (err)
		return err;
	/*
	 * The commit point: the destination holds the clone.  Nothing after
	 * this is rolled back, and a failure from here on is reported as
	 * "done, but ..." (-ENOTRECOVERABLE), never as "nothing changed".
	 */
	s->committed = true;
	pgc_phase_end(&s->ph, "place");
	s->not_done = "a step after the commit failed";
	err = pgc_fault_point("committed");
	if (err || !(req->flags & PGCLONE_MOVE))
		return err;
	s->not_done = "the source was NOT unmapped (--move)";
	err = pgc_fault_point("move");
	if (err)
		return err;
	err = unmap_source(same_process(req) ? &s->rem : &s->src_rem, &s->plan);
	if (!err)
		pgc_phase_end(&s->ph, "move");
	return err;
}

static int end_session(struct session *s, int err)
{
	if (s->built) {
		int lost = err && !s->committed ? pgc_build_rollback(&s->build) : 0;

		if (lost)
			err = pgc_rollback_failed(s->plan.dst_pid, lost);
		else if (!err || s->committed)
			pgc_build_commit(&s->build);
	}
	if (s->rem_on)
		pgc_build_unreserve_dst(&s->rem, &s->plan, s->dst_span,
					s->committed);
	if (s->src_rem_on)
		pgc_remote_end(&s->src_rem);
	if (s->rem_on)
		pgc_remote_end(&s->rem);
	pgc_proc_release(&s->dst);
	pgc_proc_release(&s->src);
	for (size_t i = 0; s->runs && i < s->plan.n; i++)
		pgc_runs_free(&s->runs[i]);
	free(s->runs);
	pgc_maps_free(&s->dst_maps);
	return err;
}

int pgc_copy_engine_clone(const struct pgc_request *req,
			  struct pgclone_result *res)
{
	struct session s;
	uint64_t elapsed;
	int err;

	memset(&s, 0, sizeof(s));
	pgc_phases_start(&s.ph);
	err = prepare(&s, req);
	if (!err)
		err = req->flags & PGCLONE_DRY_RUN ? count_source(&s) : run(&s, req);
	err = end_session(&s, err);
	pgc_phase_end(&s.ph, "detach");
	err = pgc_request_finish(res, &s.plan, s.committed, false, err, s.not_done);
	elapsed = pgc_phases_elapsed(&s.ph);
	if (!err || s.committed) {
		res->engine = PGCLONE_ENGINE_COPY;
		res->elapsed_ns = elapsed;
	}
	pgc_plan_free(&s.plan);
	return err;
}
