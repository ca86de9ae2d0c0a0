// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * request.c - the life of one request, shared by every engine and by the
 * image code: the steps between which it may be cancelled or made to fail
 * (tests), the "ready" hand-shake, and turning a finished plan into the
 * caller's result.
 *
 * It depends on nothing but the plan and logging, so that api.c, the
 * engines and the image code all depend on it and never on each other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcloneP.h"

bool pgc_cancelled(const struct pgc_request *req, uint64_t done, uint64_t total)
{
	return req->progress && req->progress(req->progress_ctx, done, total);
}

int pgc_ready(const struct pgc_request *req)
{
	if (req->ready && req->ready(req->progress_ctx))
		return pgc_fail(-EINTR, "cancelled before anything was changed");
	return 0;
}

int pgc_step(const struct pgc_request *req, const char *point)
{
	int err = pgc_fault_point(point);

	if (!err && pgc_cancelled(req, 0, 0))
		err = pgc_fail(-EINTR, "interrupted");
	return err;
}

static void free_names(struct pgclone_range *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)r[i].map.name);
}

int pgc_result_fill(struct pgclone_result *res, const struct pgc_plan *plan)
{
	size_t n = plan->n;
	struct pgclone_range *ranges;

	ranges = calloc(n ? n : 1, sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ranges[i] = plan->r[i];
		ranges[i].map.name = strdup(plan->r[i].map.name);
		if (!ranges[i].map.name) {
			free_names(ranges, i);
			free(ranges);
			return -ENOMEM;
		}
	}
	res->src = plan->src;
	res->dst = plan->dst;
	res->len = plan->len;
	res->ranges = ranges;
	res->nr_ranges = n;
	for (size_t i = 0; i < n; i++) {
		const struct pgclone_range *r = &ranges[i];

		res->pages_present += r->pages_present;
		res->pages_copied += r->pages_copied;
		res->pages_shared += r->pages_shared;
		if (r->map.kind == PGCLONE_KIND_ANON_PRIVATE)
			res->pages_skipped += r->pages - r->pages_present;
	}
	res->bytes_copied = res->pages_copied * PGC_PAGE_SIZE;
	return 0;
}

void pgc_result_set_committed(struct pgclone_result *res)
{
	/* a caller built against an older header has no room for flags */
	if (res->sz >= offsetofend(struct pgclone_result, flags))
		res->flags |= PGCLONE_RESULT_COMMITTED;
}

int pgc_commit_failed(const struct pgc_plan *plan, bool restore,
		      const char *not_done, int err)
{
	char cause[256], done[160];

	snprintf(cause, sizeof(cause), "%s",
		 pgc_has_error() ? pgclone_last_error() : strerror(-err));
	if (restore)
		snprintf(done, sizeof(done), "restored %zu range(s) to 0x%llx-0x%llx in PID %d",
			 plan->n, (unsigned long long)plan->dst,
			 (unsigned long long)(plan->dst + plan->len), (int)plan->dst_pid);
	else
		snprintf(done, sizeof(done), "cloned 0x%llx-0x%llx of PID %d to 0x%llx in PID %d",
			 (unsigned long long)plan->src,
			 (unsigned long long)(plan->src + plan->len),
			 (int)plan->src_pid, (unsigned long long)plan->dst,
			 (int)plan->dst_pid);
	pgc_clear_error();
	return pgc_fail(-ENOTRECOVERABLE, "%s (that stays), but %s: %s", done,
			not_done, cause);
}

int pgc_request_finish(struct pgclone_result *res, const struct pgc_plan *plan,
		       bool committed, bool restore, int err,
		       const char *not_done)
{
	int fill;

	if (err && !committed)
		return err;	/* rolled back: there is nothing to describe */
	fill = pgc_result_fill(res, plan);
	if (!committed)
		return fill;	/* a dry run */
	pgc_result_set_committed(res);
	if (err)
		return pgc_commit_failed(plan, restore, not_done, err);
	if (fill)
		return pgc_commit_failed(plan, restore,
					 "could not describe the result", fill);
	return 0;
}
