// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * phase.c - where a request's time goes, for -v (issue 13).
 *
 * A request is timed as a row of laps: each phase ends where the next
 * begins, so the phases add up to the elapsed time and a slow case
 * explains itself ("scan: 600 ms" over a sparse reservation, "map" over
 * thousands of VMAs).  The times are logged at info level, like the plan:
 * the library never prints, and the log callback is where a caller that
 * wants them already listens.  The elapsed time is what the result's
 * elapsed_ns reports, so the two never disagree.
 */
#include <time.h>

#include "pgcloneP.h"

uint64_t pgc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

void pgc_phases_start(struct pgc_phases *p)
{
	p->start = p->lap = pgc_now_ns();
}

void pgc_phase_end(struct pgc_phases *p, const char *name)
{
	uint64_t t = pgc_now_ns();

	pr_info("phase %s: %.3f ms", name, ms(t - p->lap));
	p->lap = t;
}

uint64_t pgc_phases_elapsed(const struct pgc_phases *p)
{
	uint64_t ns = pgc_now_ns() - p->start;

	pr_info("elapsed: %.3f ms", ms(ns));
	return ns;
}
