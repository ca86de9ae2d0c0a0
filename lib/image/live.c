// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * live.c - the rounds of a live dump (PGCLONE_LIVE): when the pre-copy
 * stops, and what each round reports.
 *
 * dump.c takes the rounds; this file only decides.  Round 0 (the whole
 * range) and the rounds after it are read while the source runs, each
 * after a short stop in which the written pages are read and tracking is
 * armed again.  A round is the final one -- the source stays frozen while
 * it is written -- when the pages it found to store would take no longer
 * than max_downtime_ms to write at the rate the round before achieved, or
 * when max_rounds rounds ran while the source ran.  Round 0 is final only
 * with no pre-copy at all (max_rounds 0): there is no rate to go by yet.
 */
#include <stdio.h>

#include "../pgcloneP.h"
#include "image.h"

void pgc_live_start(struct pgc_live *l, const struct pgc_request *req)
{
	*l = (struct pgc_live){ .req = req, .t_start = pgc_now_ns() };
}

bool pgc_live_final(const struct pgc_live *l, uint64_t bytes)
{
	double est;

	if (l->round >= (unsigned int)l->req->max_rounds)
		return true;
	if (!l->round || l->rate <= 0)
		return false;
	est = (double)bytes / l->rate * 1e3;	/* ms the final round would take */
	return est <= (double)l->req->max_downtime_ms;
}

void pgc_live_scanned(struct pgc_live *l, uint64_t bytes)
{
	uint64_t now = pgc_now_ns();

	/* what the source wrote since the last arm, per second */
	l->dirty_rate = l->round && now > l->t_armed ?
			(double)bytes * 1e9 / (double)(now - l->t_armed) : 0;
}

void pgc_live_armed(struct pgc_live *l)
{
	l->t_armed = pgc_now_ns();
}

void pgc_live_done(struct pgc_live *l, bool final, uint64_t data_len,
		   uint64_t stored, uint64_t write_ns, uint64_t round_ns,
		   uint64_t stopped_ns)
{
	struct pgclone_live_round r = {
		.sz = sizeof(r), .round = l->round, .final = final,
		.pages = data_len / PGC_PAGE_SIZE, .bytes = stored,
		.elapsed_ns = round_ns, .stopped_ns = stopped_ns,
		.dirty_rate = l->dirty_rate,
		.scan_ns = l->scan_ns,
	};

	/* the rate a final round of this size would see: data over time */
	if (write_ns && data_len)
		l->rate = (double)data_len * 1e9 / (double)write_ns;
	l->bytes += stored;
	pr_info("live round %u%s: %llu pages (%llu bytes in the stream) in %.3f ms, source stopped %.3f ms, dirty rate %.1f MB/s",
		l->round, final ? " (final, frozen)" : "",
		(unsigned long long)r.pages, (unsigned long long)stored,
		(double)round_ns / 1e6, (double)stopped_ns / 1e6,
		l->dirty_rate / 1e6);
	if (l->req->live_round)
		l->req->live_round(l->req->progress_ctx, &r);
	l->round++;
}
