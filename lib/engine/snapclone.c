// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * snapclone.c - clone --snapshot: the copy engine's clone, read from a
 * copy-on-write snapshot of the source (snapshot.c) instead of the source
 * frozen for the whole copy.
 *
 * The copy engine is run on the snapshot as its source, unfrozen (the
 * snapshot is stopped for good and traced by us already), so that
 * nothing in it needs to know about snapshots.  A clone into the source
 * itself becomes a clone from the snapshot into the source, which the
 * engine then stops as a destination, as it must to build the ranges.
 */
#include <stdbool.h>
#include <string.h>

#include "snapshot.h"

/* Would a snapshot of @pid hold req's range?  (refusals of snapshot.c) */
static int check_range(const struct pgc_request *req, pid_t pid)
{
	struct pgc_plan plan = { 0 };
	struct pgc_vma_list maps;
	bool quiet;
	int err = pgc_maps_read(pid, &maps);

	if (err)
		return err;
	/* the plan is logged once, by the engine */
	quiet = pgc_log_hush(true);
	/* the source's side alone: the destination is the engine's to check */
	err = pgc_plan_build_auto(&plan, req->src_pid, &maps, req->src, req->len,
				  req->dst_pid);
	pgc_log_hush(quiet);
	plan.src_maps = maps;
	if (!err)
		err = pgc_snapshot_refuse(&plan, &maps);
	pgc_plan_free(&plan);
	return err;
}

int pgc_snapshot_copy_clone(const struct pgc_request *req,
			    struct pgclone_result *res)
{
	struct pgc_request sub = *req;
	struct pgc_snapshot snap;
	int err, drop;

	/* asked of the running source first: a refusal costs it no stop */
	err = check_range(req, req->src_pid);
	if (err || (req->flags & PGCLONE_DRY_RUN))
		return err;
	err = pgc_snapshot_take(&snap, req);
	if (err)
		return err;
	/* what changed between the check and the snapshot */
	err = check_range(req, snap.child);
	if (!err)
		err = pgc_step(req, "snapshot");
	if (!err) {
		sub.src_pid = snap.child;
		sub.src_pin = -1;	/* our own child: its PID cannot be reused */
		sub.flags = (req->flags & ~PGCLONE_SNAPSHOT) | PGCLONE_NO_FREEZE;
		err = pgc_copy_engine_clone(&sub, res);
	}
	drop = pgc_snapshot_drop(&snap);
	if (!err && drop) {
		/* the destination holds the clone: never "nothing changed" */
		return pgc_fail(-ENOTRECOVERABLE,
				"cloned, but the snapshot could not be reaped: %s",
				pgclone_last_error());
	}
	return err;
}
