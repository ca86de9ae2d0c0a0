// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fault.c - named points where tests can make a clone fail or pause, so
 * that rollback and "process died mid-way" are tested deterministically
 * rather than by racing timers.  Only built with -DPGCLONE_FAULT_POINTS=ON.
 *
 *   PGCLONE_FAULT_FAIL=POINT   the step at POINT fails with -EIO
 *   PGCLONE_FAULT_STOP=POINT   pgclone stops itself (SIGSTOP) at POINT,
 *                              so a test can act, then SIGCONT it
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "pgcloneP.h"

int pgc_fault_point(const char *point)
{
	const char *stop = getenv("PGCLONE_FAULT_STOP");
	const char *fail = getenv("PGCLONE_FAULT_FAIL");

	const char *times = getenv("PGCLONE_FAULT_TIMES");

	/* when each point is passed, for measuring windows (SECURITY.md) */
	if (times) {
		FILE *f = fopen(times, "ae");
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (f) {
			fprintf(f, "%s %lld\n", point,
				(long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
			fclose(f);
		}
	}
	if (stop && !strcmp(stop, point))
		raise(SIGSTOP);
	if (fail && !strcmp(fail, point))
		return pgc_fail(-EIO, "fault injected at %s", point);
	return 0;
}
