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
