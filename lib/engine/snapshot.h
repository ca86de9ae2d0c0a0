/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot.h - a copy-on-write snapshot of a process (issue 14): its
 * memory as it was at one instant, held by a stopped child of it, so that a
 * dump or a clone reads the snapshot while the process runs on.  Where the
 * kernel has process_vm_mmap(2), a helper child of ours holds it instead
 * (snapkernel.c), and the dump reads each range at its shift.
 */
#ifndef PGCLONE_SNAPSHOT_H
#define PGCLONE_SNAPSHOT_H

#include <sys/wait.h>

#include "../inject/inject.h"

struct pgc_snapshot {
	pid_t src;			/* the process snapshotted */
	pid_t child;			/* the snapshot, stopped and traced by us; 0: none */
	pid_t child_there;		/* its PID in the source's PID namespace */
	int rollup, status;		/* the child's smaps_rollup (the helper's smaps) and status, for -v */
	/*
	 * The seccomp filters of the thread that ran the clone, read while
	 * nothing confined us: the reap runs wait4 in the same thread later,
	 * maybe from inside the caller's sandbox, which cannot read them.
	 */
	struct pgc_filters filters;
	pid_t filters_tid;
	long filters_count;		/* its Seccomp_filters then; -1 unknown */
	uint64_t freeze_ns;		/* how long the source was stopped for it */
	/* the kernel's snapshot: child is our helper, not the source's */
	bool by_kernel;
	int pidfd;			/* the helper's, for process_vm_mmap() */
	int64_t *shift;			/* per plan range: helper - source address */
	struct { uint64_t start, end; } *runs;	/* the copies, in the helper */
	size_t n_runs;
	uint64_t pte_before;		/* the helper's page tables before them */
};

/* the reap must never block a thread of the source */
#define PGC_SNAP_WAIT_FLAGS ((uint64_t)(__WALL | WNOHANG))
#define PGC_SNAP_LEFTOVERS_MAX 64

/*
 * Refuse what a snapshot cannot hold still (-EOPNOTSUPP, naming it): a
 * range of @plan that is shared (the process's writes show through),
 * MADV_DONTFORK (not in the child) or MADV_WIPEONFORK (empty in the
 * child); and any userfaultfd-registered mapping in @maps (the fork would
 * be reported to its monitor).
 */
int pgc_snapshot_refuse(const struct pgc_plan *plan,
			const struct pgc_vma_list *maps) __must_check;
/* Plan req's ranges of a process from its @maps (for the refusals). */
typedef int (*pgc_snapshot_plan_fn)(struct pgc_plan *plan,
				    const struct pgc_request *req,
				    const struct pgc_vma_list *maps);
/*
 * Would a snapshot hold what @plan_fn plans from @pid's maps (@pid: the
 * source before the snapshot, so that a refusal costs it no stop; the
 * snapshot after, for what changed in between)?  0 or the refusal.
 */
int pgc_snapshot_check(const struct pgc_request *req, pid_t pid,
		       pgc_snapshot_plan_fn plan_fn) __must_check;
/*
 * Stop every thread of req->src_pid, run clone(2) in it (a child that
 * shares its files but has a copy-on-write copy of its memory, no SIGCHLD
 * for it and no way to run a user instruction), and let it go again.  On
 * failure nothing is left in the source.
 */
int pgc_snapshot_take(struct pgc_snapshot *s,
		      const struct pgc_request *req) __must_check;
/*
 * Kill the snapshot and make the source reap it (an injected wait4), so
 * that nothing of it remains.  Safe on a snapshot never taken.  Returns 0,
 * or -EIO when the child could not be reaped (the message says what is
 * left).
 */
int pgc_snapshot_drop(struct pgc_snapshot *s);

/* snapkernel.c: may @engine's snapshot be the kernel's (process_vm_mmap)? */
bool pgc_snapshot_by_kernel(enum pgclone_engine engine);
/* Fork the helper that will hold it, before the source stops. */
int pgc_snapshot_helper(struct pgc_snapshot *s, pid_t src) __must_check;
/*
 * With the source frozen: clone each run of adjacent ranges of @plan into
 * the helper (req->src_pin names the source) and note where each landed.
 * On failure the helper may hold some: pgc_snapshot_drop() ends it all.
 */
int pgc_snapshot_map(struct pgc_snapshot *s, const struct pgc_request *req,
		     const struct pgc_plan *plan) __must_check;

/* Kill and reap the helper (pgc_snapshot_drop() calls it). */
void pgc_snapshot_drop_helper(struct pgc_snapshot *s);
/* snapshot.c: a "Key:   N kB" line of the /proc file on @fd, in bytes. */
uint64_t pgc_proc_kb(int fd, const char *key);

/* snapname.c: the child's PID here, given the one clone() gave the source
 * (in its namespace) through thread @tid; 0 if it cannot be found. */
pid_t pgc_snapshot_our_pid(pid_t src, pid_t tid, long theirs);
/* Name the (stopped) child pgclone:snap; best effort, changes none of its
 * memory. */
void pgc_snapshot_name(const struct pgc_snapshot *s);
/* Zombie snapshots of @src left by a killed pgclone, at most @max ... */
size_t pgc_snapshot_find_leftovers(pid_t src, pid_t *out, size_t max);
/* ... each checked again and reaped by the source, stopped in @r. */
void pgc_snapshot_reap_leftovers(struct pgc_remote *r, const pid_t *pids,
				 size_t n);

#endif
