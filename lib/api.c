// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * api.c - public entry points: check arguments and options, pick an
 * engine, and map every failure onto each call's documented errno set.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgcloneP.h"

/*
 * libbpf's OPTS_VALID: a caller built against a newer header may pass a
 * bigger struct; that is fine as long as what we don't know is zero.
 */
/* A field of an opts struct, or @def when the caller's struct predates it. */
#define OPTS_GET(opts, field, def)					\
	((opts) && (opts)->sz >= offsetofend(__typeof__(*(opts)), field) ?	\
	 (opts)->field : (def))

static bool opts_valid(const void *opts, size_t known)
{
	const struct pgclone_opts *o = opts;
	const char *p = opts;

	if (!opts)
		return true;
	if (o->sz < offsetofend(struct pgclone_opts, sz))
		return false;
	for (size_t i = known; i < o->sz; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Errors a call may return; anything else becomes -EIO (libseccomp style).
 *
 * Not "if (err >= 0) return err;" followed by the search loop in one
 * function: gcc 12.2 (Debian 12) at -O3 turns that loop over a constant
 * table into a bit test and drops the early return, so closed_set(0, ...)
 * returned -EIO and a Release build reported every committed clone as a
 * failure.  -O2, -fno-tree-loop-optimize and clang 14 were right.  With
 * the search in a predicate of its own (pgc_err_in), gcc 12.2 and clang 14 give the
 * right answer at -O2 and -O3; CI runs the suite on Release builds of both.
 */
static int closed_set(int err, const int *allowed, size_t n)
{
	if (err >= 0 || pgc_err_in(err, allowed, n))
		return err;
	return -EIO;
}

static const int clone_errors[] = {
	-EINVAL, -ESRCH, -EPERM, -EBUSY, -EFAULT, -EOPNOTSUPP, -ENOSYS,
	-EEXIST, -EACCES, -ENOMEM, -EINTR, -EIO, -ENOTRECOVERABLE,
};

/*
 * Before anything is touched: may we ptrace each process (a refusal says
 * what is missing), and pin each one with a pidfd so that a PID reused
 * before the engine seizes it is noticed rather than worked on.
 */
static int check_and_pin(struct pgc_request *req, bool src, bool dst)
{
	int err = 0;

	if (src) {
		err = pgc_priv_check(req->src_pid);
		if (!err)
			req->src_pin = pgc_pin(req->src_pid);
	}
	if (!err && dst && !(src && req->dst_pid == req->src_pid)) {
		err = pgc_priv_check(req->dst_pid);
		if (!err)
			req->dst_pin = pgc_pin(req->dst_pid);
	}
	return err ? err : pgc_step(req, "checked");
}

static void unpin(struct pgc_request *req)
{
	if (req->src_pin >= 0)
		close(req->src_pin);
	if (req->dst_pin >= 0)
		close(req->dst_pin);
	req->src_pin = req->dst_pin = -1;
}

static enum pgclone_engine pick_engine(enum pgclone_engine want,
				       pid_t src_pid, pid_t dst_pid)
{
	if (want != PGCLONE_ENGINE_AUTO)
		return want;
	if (pgc_kernel_syscall_nr() <= 0)
		return PGCLONE_ENGINE_COPY;
	/*
	 * The kernel engine must refuse a destination that could not reach
	 * the source its shared and file mappings (kernel.c); the copy engine
	 * asks the destination whether it could open each of them instead.
	 */
	return pgc_priv_may_reach(dst_pid, src_pid) ? PGCLONE_ENGINE_KERNEL :
						     PGCLONE_ENGINE_COPY;
}

int pgclone_clone(pid_t src_pid, uint64_t src_addr, uint64_t len,
		  pid_t dst_pid, uint64_t dst_addr,
		  const struct pgclone_opts *opts, struct pgclone_result *res)
{
	const unsigned int known_flags = PGCLONE_REPLACE | PGCLONE_MOVE |
					 PGCLONE_NO_FREEZE | PGCLONE_DRY_RUN |
					 PGCLONE_FORCE | PGCLONE_DST_AUTO |
					 PGCLONE_SNAPSHOT;
	/* STRICT and DUMP_ALL belong to the image calls */
	struct pgc_request req = {
		.src_pid = src_pid, .dst_pid = dst_pid,
		.src = src_addr, .len = len, .dst = dst_addr,
		.src_pin = -1, .dst_pin = -1,
	};
	enum pgclone_engine engine = PGCLONE_ENGINE_AUTO;
	struct pgclone_result scratch;
	int err;

	pgc_clear_error();
	if (!res) {
		memset(&scratch, 0, sizeof(scratch));
		scratch.sz = sizeof(scratch);
		res = &scratch;
	}
	if (res->sz < offsetofend(struct pgclone_result, nr_ranges))
		return pgc_ret(pgc_fail(-EINVAL, "result struct too small"));
	if (!opts_valid(opts, offsetofend(struct pgclone_opts,
					  pgclone_opts__last_field)))
		return pgc_ret(pgc_fail(-EINVAL, "unknown fields set in pgclone_opts"));
	if (opts) {
		engine = opts->engine;
		req.flags = opts->flags;
		req.progress = opts->progress;
		req.progress_ctx = opts->progress_ctx;
		req.ready = OPTS_GET(opts, ready, NULL);
	}
	if (req.flags & ~known_flags)
		return pgc_ret(pgc_fail(-EINVAL, "unknown flags 0x%x", req.flags));
	if (engine > PGCLONE_ENGINE_COPY)
		return pgc_ret(pgc_fail(-EINVAL, "unknown engine %d", (int)engine));
	if (src_pid <= 0 || dst_pid <= 0)
		return pgc_ret(pgc_fail(-EINVAL, "invalid PID %d",
					src_pid <= 0 ? (int)src_pid : (int)dst_pid));
	if ((req.flags & PGCLONE_DST_AUTO) &&
	    ((req.flags & PGCLONE_REPLACE) || dst_addr))
		return pgc_ret(pgc_fail(-EINVAL, "PGCLONE_DST_AUTO takes a destination address of 0 and no PGCLONE_REPLACE"));
	if ((req.flags & PGCLONE_MOVE) && (req.flags & PGCLONE_NO_FREEZE))
		pr_info("--move freezes the source anyway: it must be stopped to unmap it");

	if ((req.flags & PGCLONE_SNAPSHOT) &&
	    (req.flags & (PGCLONE_NO_FREEZE | PGCLONE_MOVE)))
		return pgc_ret(pgc_fail(-EINVAL, "a snapshot is a freeze of an instant the source runs on from: not with PGCLONE_%s",
					req.flags & PGCLONE_MOVE ? "MOVE" : "NO_FREEZE"));

	engine = pick_engine(engine, src_pid, dst_pid);
	if (engine == PGCLONE_ENGINE_KERNEL && (req.flags & PGCLONE_SNAPSHOT)) {
		/* both mmap locks held: its clone is one instant already */
		pr_info("the kernel engine's clone is an instant of the source anyway: no snapshot needed");
		req.flags &= ~PGCLONE_SNAPSHOT;
	}
	if (engine == PGCLONE_ENGINE_KERNEL && pgc_kernel_syscall_nr() < 0)
		return pgc_ret(pgc_fail(-ENOSYS,
					"this kernel has no process_vm_mmap(2) (its entry point is not in /proc/kallsyms)"));
	pgclone_result_free(res);
	err = req.flags & PGCLONE_DRY_RUN ? 0 : check_and_pin(&req, true, true);
	if (!err && engine == PGCLONE_ENGINE_KERNEL) {
		/* kernel.c opens /proc and calls the syscall without asking */
		pgc_priv_raise(PGC_CAPS_PROC);
		err = pgc_kernel_engine_clone(&req, res);
		pgc_priv_lower();
	} else if (!err && (req.flags & PGCLONE_SNAPSHOT)) {
		err = pgc_snapshot_copy_clone(&req, res);
	} else if (!err) {
		err = pgc_copy_engine_clone(&req, res);
	}
	unpin(&req);
	if (res == &scratch)
		pgclone_result_free(res);
	return pgc_ret(closed_set(err, clone_errors, ARRAY_SIZE(clone_errors)));
}

static bool image_opts_ok(const struct pgclone_image_opts *opts,
			  unsigned int allowed, struct pgc_request *req)
{
	if (!opts_valid(opts, offsetofend(struct pgclone_image_opts,
					  pgclone_image_opts__last_field)))
		return false;
	if (!opts)
		return true;
	req->flags = opts->flags;
	req->dst = opts->dst;
	req->progress = opts->progress;
	req->progress_ctx = opts->progress_ctx;
	req->ready = OPTS_GET(opts, ready, NULL);
	req->confine = OPTS_GET(opts, confine, NULL);
	req->input_timeout_ms = OPTS_GET(opts, input_timeout_ms, 0);
	req->compress = OPTS_GET(opts, compress, 0);
	req->compress_level = OPTS_GET(opts, compress_level, 0);
	req->parent_fd = OPTS_GET(opts, parent_fd, 0);
	req->chain = OPTS_GET(opts, chain, NULL);
	req->nr_chain = OPTS_GET(opts, nr_chain, 0);
	req->engine = OPTS_GET(opts, engine, PGCLONE_ENGINE_AUTO);
	req->track = OPTS_GET(opts, track, PGCLONE_TRACK_AUTO);
	req->max_rounds = OPTS_GET(opts, max_rounds, 0);
	req->max_downtime_ms = OPTS_GET(opts, max_downtime_ms, 0);
	req->live_round = OPTS_GET(opts, live_round, NULL);
	req->complete = OPTS_GET(opts, complete, NULL);
	req->compress_threads = OPTS_GET(opts, compress_threads, 0);
	return !(opts->flags & ~allowed);
}

/* A dump's compression, checked; level 0 becomes zstd's default. */
static int check_compress(struct pgc_request *req)
{
	if (req->compress == PGCLONE_COMPRESS_NONE) {
		if (req->compress_level || req->compress_threads)
			return pgc_fail(-EINVAL, "a compression level or threads without compression");
		return 0;
	}
	if (req->compress != PGCLONE_COMPRESS_ZSTD)
		return pgc_fail(-EINVAL, "unknown compression %u", req->compress);
	if (!req->compress_level)
		req->compress_level = pgc_zstd_default_level();
	if (req->compress_threads > PGCLONE_MAX_COMPRESS_THREADS)
		return pgc_fail(-EINVAL, "%u compression threads: at most %u",
				req->compress_threads, PGCLONE_MAX_COMPRESS_THREADS);
	return pgc_zstd_check_level(req->compress_level);
}

static bool result_ok(struct pgclone_result *res)
{
	return res && res->sz >= offsetofend(struct pgclone_result, nr_ranges);
}

static const int dump_errors[] = {
	-EINVAL, -ESRCH, -EPERM, -EBUSY, -EFAULT, -EOPNOTSUPP, -EPROTO, -ENOMEM,
	-EINTR, -EIO, -ENOSYS, -ENOTRECOVERABLE,
};

/* Tracking needs the source frozen for the dump: its bits are read, then
 * cleared, and nothing may write in between. */
static int check_track(struct pgc_request *req)
{
	if (req->flags & PGCLONE_DELTA)
		req->flags |= PGCLONE_TRACK;
	if (!(req->flags & PGCLONE_DELTA) && req->parent_fd)
		return pgc_fail(-EINVAL, "a parent image without PGCLONE_DELTA");
	if ((req->flags & PGCLONE_DELTA) && req->parent_fd < 0)
		return pgc_fail(-EINVAL, "PGCLONE_DELTA without a parent image");
	if (req->track > PGCLONE_TRACK_UFFD_WP)
		return pgc_fail(-EINVAL, "unknown tracking method %d", (int)req->track);
	if (req->track && !(req->flags & PGCLONE_TRACK))
		return pgc_fail(-EINVAL, "a tracking method without PGCLONE_TRACK");
	if ((req->flags & PGCLONE_TRACK) && (req->flags & PGCLONE_NO_FREEZE))
		return pgc_fail(-EINVAL, "written-page tracking reads and clears what the source writes: it must be frozen (not with --no-freeze)");
	if ((req->flags & PGCLONE_TRACK) && (req->flags & PGCLONE_SNAPSHOT))
		return pgc_fail(-EOPNOTSUPP, "written-page tracking is not supported with --snapshot yet");
	return 0;
}

/* A live dump's options, checked; zeroes become the defaults. */
static int check_live(struct pgc_request *req)
{
	bool live = req->flags & PGCLONE_LIVE;

	if (!live && (req->max_rounds || req->max_downtime_ms || req->live_round ||
		      req->complete || (req->flags & PGCLONE_LEAVE_STOPPED)))
		return pgc_fail(-EINVAL, "rounds, a downtime, round and completion callbacks and PGCLONE_LEAVE_STOPPED are a live dump's (PGCLONE_LIVE)");
	if (!live)
		return 0;
	if (req->flags & (PGCLONE_NO_FREEZE | PGCLONE_SNAPSHOT | PGCLONE_DELTA))
		return pgc_fail(-EINVAL, "a live dump freezes the source for its last round and is its own base: not with PGCLONE_NO_FREEZE, PGCLONE_SNAPSHOT or PGCLONE_DELTA");
	if (req->max_rounds < PGCLONE_LIVE_NO_PRECOPY ||
	    req->max_rounds > PGCLONE_LIVE_MAX_ROUNDS)
		return pgc_fail(-EINVAL, "max_rounds %d is out of range (-1 to %d)",
				req->max_rounds, PGCLONE_LIVE_MAX_ROUNDS);
	if (req->max_downtime_ms > 3600u * 1000u)
		return pgc_fail(-EINVAL, "max_downtime_ms %u is more than an hour",
				req->max_downtime_ms);
	if (!req->max_rounds)
		req->max_rounds = PGCLONE_LIVE_DEFAULT_ROUNDS;
	if (req->max_rounds == PGCLONE_LIVE_NO_PRECOPY)
		req->max_rounds = 0;
	if (!req->max_downtime_ms)
		req->max_downtime_ms = PGCLONE_LIVE_DEFAULT_DOWNTIME_MS;
	req->flags |= PGCLONE_TRACK;
	return 0;
}

/* Only a snapshot has a choice of engine: a dump reads the source itself. */
static int check_dump_engine(const struct pgc_request *req)
{
	if (req->engine > PGCLONE_ENGINE_COPY)
		return pgc_fail(-EINVAL, "unknown engine %d", (int)req->engine);
	if (req->engine == PGCLONE_ENGINE_AUTO)
		return 0;
	if (!(req->flags & PGCLONE_SNAPSHOT))
		return pgc_fail(-EINVAL, "an engine is a snapshot's choice: a dump without one reads the source itself");
	if (req->engine == PGCLONE_ENGINE_KERNEL && pgc_kernel_syscall_nr() < 0)
		return pgc_fail(-ENOSYS, "this kernel has no process_vm_mmap(2) (its entry point is not in /proc/kallsyms)");
	return 0;
}

int pgclone_dump(pid_t pid, uint64_t addr, uint64_t len, int fd,
		 const struct pgclone_image_opts *opts,
		 struct pgclone_result *res)
{
	struct pgc_request req = { .src_pid = pid, .src = addr, .len = len,
				   .src_pin = -1, .dst_pin = -1 };
	int err;

	pgc_clear_error();
	if (!image_opts_ok(opts, PGCLONE_NO_FREEZE | PGCLONE_DUMP_ALL |
			   PGCLONE_SNAPSHOT | PGCLONE_TRACK | PGCLONE_DELTA |
			   PGCLONE_LIVE | PGCLONE_LEAVE_STOPPED, &req))
		return pgc_ret(pgc_fail(-EINVAL, "invalid pgclone_image_opts for a dump"));
	if (req.chain || req.nr_chain)
		return pgc_ret(pgc_fail(-EINVAL, "a chain of images is a restore's, not a dump's"));
	if ((req.flags & PGCLONE_SNAPSHOT) && (req.flags & PGCLONE_NO_FREEZE))
		return pgc_ret(pgc_fail(-EINVAL, "a snapshot freezes the source for an instant: not with PGCLONE_NO_FREEZE"));
	err = check_compress(&req);
	if (!err)
		err = check_live(&req);
	if (!err)
		err = check_track(&req);
	if (!err)
		err = check_dump_engine(&req);
	if (err)
		return pgc_ret(err);
	if (pid <= 0 || fd < 0 || !result_ok(res))
		return pgc_ret(pgc_fail(-EINVAL, "invalid arguments"));
	pgclone_result_free(res);
	err = check_and_pin(&req, true, false);
	if (!err)
		err = pgc_image_dump(&req, req.flags & PGCLONE_DUMP_ALL, fd, res);
	unpin(&req);
	return pgc_ret(closed_set(err, dump_errors, ARRAY_SIZE(dump_errors)));
}

static const int restore_errors[] = {
	-EINVAL, -ESRCH, -EPERM, -EBUSY, -EOPNOTSUPP, -EEXIST, -EACCES,
	-EPROTO, -ENOMEM, -EINTR, -ETIMEDOUT, -EIO, -ENOTRECOVERABLE,
};

int pgclone_restore(pid_t pid, int fd, const struct pgclone_image_opts *opts,
		    struct pgclone_result *res)
{
	struct pgc_request req = { .dst_pid = pid, .src_pin = -1, .dst_pin = -1 };
	int err;

	pgc_clear_error();
	if (!image_opts_ok(opts, PGCLONE_REPLACE | PGCLONE_STRICT | PGCLONE_DRY_RUN |
			   PGCLONE_FORCE | PGCLONE_DST_AUTO | PGCLONE_UPDATE, &req))
		return pgc_ret(pgc_fail(-EINVAL, "invalid pgclone_image_opts for a restore"));
	if (pid <= 0 || fd < 0 || !result_ok(res))
		return pgc_ret(pgc_fail(-EINVAL, "invalid arguments"));
	if (req.compress || req.compress_level || req.compress_threads)	/* the image says how */
		return pgc_ret(pgc_fail(-EINVAL, "compression is a dump's choice, not a restore's"));
	if (req.parent_fd)
		return pgc_ret(pgc_fail(-EINVAL, "a parent image is a dump's; a restore takes a chain"));
	if (req.max_rounds || req.max_downtime_ms || req.live_round || req.complete)
		return pgc_ret(pgc_fail(-EINVAL, "rounds and downtime are a live dump's; a restore takes the stream as it is"));
	if (!req.chain != !req.nr_chain || req.nr_chain > PGCLONE_MAX_CHAIN)
		return pgc_ret(pgc_fail(-EINVAL, "a chain of images is an array of at most %u descriptors",
					PGCLONE_MAX_CHAIN));
	for (size_t i = 0; i < req.nr_chain; i++)
		if (req.chain[i] < 0)
			return pgc_ret(pgc_fail(-EINVAL, "invalid descriptor in the chain"));
	if ((req.flags & PGCLONE_UPDATE) &&
	    (req.flags & (PGCLONE_REPLACE | PGCLONE_DST_AUTO | PGCLONE_FORCE)))
		return pgc_ret(pgc_fail(-EINVAL, "PGCLONE_UPDATE writes into the clone that is there: not with PGCLONE_REPLACE, PGCLONE_DST_AUTO or PGCLONE_FORCE"));
	if ((req.flags & PGCLONE_UPDATE) && !req.nr_chain)
		return pgc_ret(pgc_fail(-EINVAL, "an update needs the images the clone was restored from (opts->chain), to check that the process holds it"));
	if ((req.flags & PGCLONE_DST_AUTO) && ((req.flags & PGCLONE_REPLACE) || req.dst))
		return pgc_ret(pgc_fail(-EINVAL, "PGCLONE_DST_AUTO takes a destination address of 0 and no PGCLONE_REPLACE"));
	pgclone_result_free(res);
	/* an update's dry run reads the process (its clone is checked) */
	err = (req.flags & PGCLONE_DRY_RUN) && !(req.flags & PGCLONE_UPDATE) ? 0 :
	      check_and_pin(&req, false, true);
	if (!err)
		err = pgc_image_restore(&req, fd, res);
	unpin(&req);
	return pgc_ret(closed_set(err, restore_errors, ARRAY_SIZE(restore_errors)));
}

static const int info_errors[] = {
	-EINVAL, -EOPNOTSUPP, -EPROTO, -ENOMEM, -EIO,
};

int pgclone_image_info(int fd, unsigned int flags,
		       struct pgclone_image_info *info)
{
	struct pgclone_image_info full = { .sz = sizeof(full) };
	size_t sz;
	int err;

	pgc_clear_error();
	if (fd < 0 || !info || info->sz < offsetofend(struct pgclone_image_info,
						      pages_zero) ||
	    (flags & ~PGCLONE_IMAGE_VERIFY))
		return pgc_ret(pgc_fail(-EINVAL, "invalid arguments"));
	/* a caller built against an older header has a shorter struct */
	sz = info->sz;
	err = pgc_image_info(fd, flags & PGCLONE_IMAGE_VERIFY, &full);
	if (err)
		pgclone_image_info_free(&full);
	memcpy(info, &full, sz < sizeof(full) ? sz : sizeof(full));
	info->sz = sz;
	return pgc_ret(closed_set(err, info_errors, ARRAY_SIZE(info_errors)));
}

void pgclone_image_info_free(struct pgclone_image_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; info->ranges && i < info->nr_ranges; i++)
		free((char *)info->ranges[i].map.name);
	free(info->ranges);
	info->ranges = NULL;
	info->nr_ranges = 0;
}

void pgclone_result_free(struct pgclone_result *res)
{
	size_t sz;

	if (!res)
		return;
	for (size_t i = 0; res->ranges && i < res->nr_ranges; i++)
		free((char *)res->ranges[i].map.name);
	free(res->ranges);
	sz = res->sz;
	memset(res, 0, sz < sizeof(*res) ? sz : sizeof(*res));
	res->sz = sz;
}

static const int maps_errors[] = { -EINVAL, -ESRCH, -EPERM, -ENOMEM, -EIO };

int pgclone_maps(pid_t pid, struct pgclone_mapping **maps, size_t *nr)
{
	struct pgc_vma_list list;
	struct pgclone_mapping *out;
	int err;

	pgc_clear_error();
	if (pid <= 0 || !maps || !nr)
		return pgc_ret(pgc_fail(-EINVAL, "invalid arguments"));
	err = pgc_maps_read(pid, &list);
	if (err)
		return pgc_ret(closed_set(err, maps_errors, ARRAY_SIZE(maps_errors)));
	out = calloc(list.n ? list.n : 1, sizeof(*out));
	if (!out) {
		pgc_maps_free(&list);
		return pgc_ret(-ENOMEM);
	}
	for (size_t i = 0; i < list.n; i++) {
		out[i] = list.v[i].m;
		out[i].name = list.v[i].name;	/* ownership moves */
		list.v[i].name = NULL;
	}
	*nr = list.n;
	*maps = out;
	pgc_maps_free(&list);
	return 0;
}

void pgclone_maps_free(struct pgclone_mapping *maps, size_t nr)
{
	for (size_t i = 0; maps && i < nr; i++)
		free((char *)maps[i].name);
	free(maps);
}

int pgclone_engine_probe(enum pgclone_engine engine)
{
	switch (engine) {
	case PGCLONE_ENGINE_AUTO:
	case PGCLONE_ENGINE_COPY:
		return 0;
	case PGCLONE_ENGINE_KERNEL:
		return pgc_kernel_syscall_nr() > 0 ? 0 : pgc_ret(-ENOSYS);
	}
	return pgc_ret(-EINVAL);
}
