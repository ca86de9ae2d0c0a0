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

/* The source's side alone: the destination is the engine's to check. */
static int plan_range(struct pgc_plan *plan, const struct pgc_request *req,
		      const struct pgc_vma_list *maps)
{
	return pgc_plan_build_auto(plan, req->src_pid, maps, req->src, req->len,
				   req->dst_pid);
}

int pgc_snapshot_copy_clone(const struct pgc_request *req,
			    struct pgclone_result *res)
{
	struct pgc_request sub = *req;
	struct pgc_snapshot snap;
	int err, drop;

	/* asked of the running source first: a refusal costs it no stop */
	err = pgc_snapshot_check(req, req->src_pid, plan_range);
	if (err || (req->flags & PGCLONE_DRY_RUN))
		return err;
	err = pgc_snapshot_take(&snap, req);
	if (err)
		return err;
	/* what changed between the check and the snapshot */
	err = pgc_snapshot_check(req, snap.child, plan_range);
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
