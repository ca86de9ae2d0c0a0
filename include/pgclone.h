/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pgclone.h - clone memory mappings between live Linux processes.
 *
 * The only public header of libpgclone.  Conventions (libbpf style):
 *  - every fallible call returns 0 (or a count) on success and a negative
 *    errno on failure, and also sets errno; the set of errno values each call
 *    can return is closed and documented in its man page;
 *  - option structs start with "size_t sz" and must be zero-initialised
 *    (use PGCLONE_OPTS()); bytes past the fields a library knows must be 0;
 *  - the library never prints and never exits: install a log callback with
 *    pgclone_set_log() and read a one-line explanation of the last failure
 *    with pgclone_last_error().
 */
#ifndef PGCLONE_H
#define PGCLONE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PGCLONE_API __attribute__((visibility("default")))

#define PGCLONE_VERSION_MAJOR 0
#define PGCLONE_VERSION_MINOR 1
#define PGCLONE_VERSION_MICRO 0

/* Which mechanism moves the memory. */
enum pgclone_engine {
	PGCLONE_ENGINE_AUTO = 0,	/* kernel if available, else copy */
	PGCLONE_ENGINE_KERNEL = 1,	/* process_vm_mmap(2): page tables */
	PGCLONE_ENGINE_COPY = 2,	/* ptrace injection + process_vm_* */
};

/* pgclone_opts.flags */
enum pgclone_flags {
	PGCLONE_REPLACE = 1u << 0,	/* replace mappings at the destination */
	PGCLONE_MOVE = 1u << 1,		/* unmap the source after success */
	PGCLONE_NO_FREEZE = 1u << 2,	/* do not stop the source's threads */
	PGCLONE_DRY_RUN = 1u << 3,	/* plan and validate, change nothing */
	PGCLONE_STRICT = 1u << 4,	/* restore: refuse private copies of shared objects */
	PGCLONE_DUMP_ALL = 1u << 5,	/* dump: every mapping that can be dumped */
	/* with REPLACE: replace even what a thread keeps there (its stack
	 * pointer, rseq area, TLS, robust-futex list), which kills it */
	PGCLONE_FORCE = 1u << 6,
	/*
	 * The destination address is 0 and the library picks a free one in
	 * the destination, at the same offset within a 2 MiB huge page as
	 * the source (so THP can stay huge); pgclone_result.dst says where.
	 * Restore keeps the ranges' relative layout.  Not with REPLACE.
	 */
	PGCLONE_DST_AUTO = 1u << 7,
	/*
	 * Dump (and clone) from a copy-on-write snapshot: the source is
	 * stopped only while a fork-like child of it is made, then runs on
	 * while the child's memory, which stays as it was at that instant, is
	 * read.  The child is killed and reaped by the source at the end.
	 * Refused (-EOPNOTSUPP) for shared, MADV_DONTFORK and MADV_WIPEONFORK
	 * ranges and userfaultfd-registered processes; (-EPERM) when the
	 * source's seccomp filter forbids clone(2) or wait4(2).  Not with
	 * PGCLONE_NO_FREEZE.  See pgclone_dump(3).
	 */
	PGCLONE_SNAPSHOT = 1u << 8,
	/*
	 * Dump: arm written-page tracking of the source, so that a later
	 * PGCLONE_DELTA dump can store only what was written since this one.
	 * Once the image is written, while the source is still frozen, the
	 * dump records a new tracking generation for the source and clears
	 * the soft-dirty bits of its whole address space (clear_refs): a
	 * change to the source, see pgclone_dump(3).  Not with
	 * PGCLONE_NO_FREEZE or PGCLONE_SNAPSHOT.
	 */
	PGCLONE_TRACK = 1u << 9,
	/*
	 * Dump: a delta of the image on pgclone_image_opts.parent_fd, which
	 * must be the last dump that armed tracking of this same process:
	 * only what was written since is stored.  Implies PGCLONE_TRACK.
	 */
	PGCLONE_DELTA = 1u << 10,
	/*
	 * Restore: @fd is a delta to write into the clone of its parent that
	 * already lives in the process (dirty-only re-sync); opts->chain lists
	 * the images that clone was restored from, base first.  Before
	 * anything changes, the live range must have the layout of the
	 * delta's parent (every range mapped, private anonymous, with its
	 * protection) and every page the delta leaves to its parent must be
	 * what the chain holds there, byte for byte: -EINVAL otherwise.  Then
	 * only the delta's pages are written, the pages it no longer has are
	 * dropped and the protections it changed are set, all or nothing.
	 * Not with REPLACE, DST_AUTO or FORCE.  See pgclone_restore(3).
	 */
	PGCLONE_UPDATE = 1u << 11,
	/*
	 * Dump: live pre-copy into one stream (pgclone-image(5), LIVE
	 * STREAMS).  Round 0, the whole range, is read while the source
	 * runs; then rounds of what it wrote meanwhile, each a delta of the
	 * round before, until a round would keep it stopped no longer than
	 * max_downtime_ms (estimated from the previous round's throughput)
	 * or max_rounds rounds ran; the last round is read with the source
	 * frozen, and the stream is the instant of that freeze.  Each round
	 * stops the source briefly to read and re-arm written-page tracking
	 * (the source's soft-dirty bits are cleared: a change to it, as
	 * PGCLONE_TRACK).  Implies PGCLONE_TRACK; not with NO_FREEZE,
	 * SNAPSHOT or DELTA.  pgclone_restore() takes such a stream as it is.
	 */
	PGCLONE_LIVE = 1u << 12,
	/*
	 * Dump, with PGCLONE_LIVE: after the last round the source is left
	 * stopped -- SIGSTOP sent while it was still frozen, so it enters a
	 * group stop (state T) before it runs another instruction, detached
	 * from pgclone -- for the caller to kill or continue (SIGCONT).
	 */
	PGCLONE_LEAVE_STOPPED = 1u << 13,
};

/* What kind of object a mapping is backed by (design.md semantics table). */
enum pgclone_kind {
	PGCLONE_KIND_ANON_PRIVATE = 0,	/* heap, stack, MAP_PRIVATE|MAP_ANONYMOUS */
	PGCLONE_KIND_ANON_SHARED = 1,	/* MAP_SHARED|MAP_ANONYMOUS, shmem, memfd, SysV */
	PGCLONE_KIND_FILE_PRIVATE = 2,	/* MAP_PRIVATE of a regular file */
	PGCLONE_KIND_FILE_SHARED = 3,	/* MAP_SHARED of a regular file */
	PGCLONE_KIND_SPECIAL = 4,	/* vdso, vvar, vsyscall, VM_IO, ...: refused */
};

/* Why a mapping cannot be cloned (pgclone_mapping.refusal). */
enum pgclone_refusal {
	PGCLONE_OK = 0,
	PGCLONE_REFUSE_VDSO = 1,
	PGCLONE_REFUSE_VVAR = 2,
	PGCLONE_REFUSE_VSYSCALL = 3,
	PGCLONE_REFUSE_IO = 4,		/* VM_IO: device memory */
	PGCLONE_REFUSE_PFNMAP = 5,	/* VM_PFNMAP/VM_MIXEDMAP: raw frames */
	PGCLONE_REFUSE_UFFD = 6,	/* registered with userfaultfd */
	PGCLONE_REFUSE_HUGETLB = 7,	/* hugetlbfs: not supported yet */
	PGCLONE_REFUSE_DONTEXPAND = 8,	/* VM_DONTEXPAND: driver/AIO ring */
};

/* Advice flags that follow the source (pgclone_mapping.advice). */
enum pgclone_advice {
	PGCLONE_ADV_HUGEPAGE = 1u << 0,
	PGCLONE_ADV_NOHUGEPAGE = 1u << 1,
	PGCLONE_ADV_DONTDUMP = 1u << 2,
	PGCLONE_ADV_DONTFORK = 1u << 3,
	PGCLONE_ADV_WIPEONFORK = 1u << 4,
	PGCLONE_ADV_MERGEABLE = 1u << 5,
	PGCLONE_ADV_SEQUENTIAL = 1u << 6,
	PGCLONE_ADV_RANDOM = 1u << 7,
};

/* One mapping of a process, as pgclone sees it. */
struct pgclone_mapping {
	uint64_t start;
	uint64_t end;
	uint64_t offset;		/* file offset of start */
	uint64_t dev;			/* makedev(major, minor) of the file */
	uint64_t ino;
	uint32_t prot;			/* PROT_READ|PROT_WRITE|PROT_EXEC */
	uint32_t shared;		/* 1 if MAP_SHARED */
	enum pgclone_kind kind;
	enum pgclone_refusal refusal;	/* PGCLONE_OK if it can be cloned */
	uint32_t advice;		/* enum pgclone_advice bits */
	const char *name;		/* path, [heap], [anon:NAME], or "" */
};

/* One range of a clone, after planning (and after the clone, its counters). */
struct pgclone_range {
	struct pgclone_mapping map;	/* the part of the source mapping */
	uint64_t dst;			/* where it lands */
	uint64_t pages;			/* pages in the range */
	uint64_t pages_present;		/* present or swapped in the source */
	uint64_t pages_copied;		/* data pages written to the destination */
	uint64_t pages_shared;		/* reached through the shared object */
};

/*
 * Called between steps and from the copying loop.  Return non-zero to
 * cancel: the library then rolls the destination back and the call fails
 * with -EINTR.  This is how a caller turns SIGINT into a clean abort.
 */
typedef int (*pgclone_progress_fn)(void *ctx, uint64_t done_bytes,
				   uint64_t total_bytes);

/*
 * Called once with progress_ctx, when the processes are seized and
 * inspected (their maps, their seccomp filters) and before anything in
 * them is changed; non-zero cancels the call (-EINTR).  pgclone(1)
 * installs its seccomp sandbox here: from this point on it needs no
 * more than the calls that do the work.
 */
typedef int (*pgclone_ready_fn)(void *ctx);

/*
 * pgclone_restore() parses the image in a child process of its own, which
 * holds nothing but the image and two pipes back to the library, and
 * sends on only fixed-layout records that the library checks again.
 * Called once with progress_ctx in that child, before it reads a byte:
 * drop every privilege and install a seccomp filter there (pgclone(1)
 * allows read, write, its own memory and exit).  Non-zero makes the
 * restore fail with -EPERM.
 */
typedef int (*pgclone_confine_fn)(void *ctx);

struct pgclone_opts {
	size_t sz;			/* sizeof(struct pgclone_opts) */
	enum pgclone_engine engine;
	unsigned int flags;		/* enum pgclone_flags */
	pgclone_progress_fn progress;	/* optional: progress and cancel */
	void *progress_ctx;
	pgclone_ready_fn ready;		/* optional: inspected, nothing changed yet */
	size_t :0;
};
#define pgclone_opts__last_field ready

#define PGCLONE_OPTS(NAME, ...)						\
	struct pgclone_opts NAME = ({					\
		memset(&NAME, 0, sizeof(struct pgclone_opts));		\
		(struct pgclone_opts){					\
			.sz = sizeof(struct pgclone_opts),		\
			__VA_ARGS__					\
		};							\
	})

/* The same for any opts struct of this header (pgclone_image_opts, ...). */
#define PGCLONE_OPTS_OF(TYPE, NAME, ...)				\
	struct TYPE NAME = ({						\
		memset(&NAME, 0, sizeof(struct TYPE));			\
		(struct TYPE){						\
			.sz = sizeof(struct TYPE),			\
			__VA_ARGS__					\
		};							\
	})

/* Filled by pgclone_clone(); release with pgclone_result_free(). */
struct pgclone_result {
	size_t sz;			/* sizeof(struct pgclone_result) */
	enum pgclone_engine engine;	/* the engine that did the work */
	uint64_t src;			/* first source address (page aligned) */
	uint64_t dst;			/* first destination address */
	uint64_t len;			/* bytes in the cloned range */
	uint64_t pages_present;
	uint64_t pages_copied;
	uint64_t pages_skipped;		/* never touched: left untouched */
	uint64_t pages_shared;
	uint64_t bytes_copied;
	uint64_t elapsed_ns;
	struct pgclone_range *ranges;	/* nr_ranges entries, library-owned */
	size_t nr_ranges;
	unsigned int flags;		/* enum pgclone_result_flags */
	size_t :0;
};

/* pgclone_result.flags */
enum pgclone_result_flags {
	/*
	 * The destination holds the clone (or restore): it was moved into
	 * place.  Set on success, and with -ENOTRECOVERABLE when a step after
	 * that point failed.  Only written when res->sz covers the field.
	 */
	PGCLONE_RESULT_COMMITTED = 1u << 0,
};

/*
 * Clone [src_addr, src_addr + len) of @src_pid into @dst_pid at @dst_addr.
 * len == 0 means "to the end of the mapping containing src_addr".
 * src_addr is rounded down to a page; dst_addr must be page aligned.
 * Either the whole range is cloned, or the destination is left exactly as
 * it was.  Returns 0 or one of: -EINVAL, -ESRCH, -EPERM, -EBUSY, -EFAULT,
 * -EOPNOTSUPP, -ENOSYS, -EEXIST, -EACCES, -ENOMEM, -EINTR, -EIO, or
 * -ENOTRECOVERABLE: the clone was committed (the destination holds it;
 * PGCLONE_RESULT_COMMITTED, @res describes it) but a later step failed,
 * for example unmapping the source of a PGCLONE_MOVE; nothing was undone,
 * and pgclone_last_error() says what was done and what was not.
 */
PGCLONE_API int pgclone_clone(pid_t src_pid, uint64_t src_addr, uint64_t len,
			      pid_t dst_pid, uint64_t dst_addr,
			      const struct pgclone_opts *opts,
			      struct pgclone_result *res);

/* Release what pgclone_clone() allocated in @res; safe on a zeroed result. */
PGCLONE_API void pgclone_result_free(struct pgclone_result *res);

/* pgclone_image_opts.compress, pgclone_image_info.compression */
enum pgclone_compression {
	PGCLONE_COMPRESS_NONE = 0,
	PGCLONE_COMPRESS_ZSTD = 1,	/* per extent; pgclone-image(5) */
};

/* pgclone_image_opts.track: how PGCLONE_TRACK follows written pages */
enum pgclone_track_method {
	PGCLONE_TRACK_AUTO = 0,		/* soft-dirty where the kernel keeps it,
					 * else uffd-wp where it has that */
	PGCLONE_TRACK_SOFT_DIRTY = 1,	/* soft-dirty bits (CONFIG_MEM_SOFT_DIRTY) */
	PGCLONE_TRACK_UFFD_WP = 2,	/* a userfaultfd in the source, in the
					 * asynchronous write-protect mode
					 * (Linux 6.7+) */
};

/*
 * A round of a live dump (PGCLONE_LIVE), as pgclone_image_opts.live_round
 * reports it once the round is in the stream.  Fields past @sz are the
 * library's to add.
 */
struct pgclone_live_round {
	size_t sz;			/* sizeof(struct pgclone_live_round) */
	unsigned int round;		/* 0: the whole range */
	int final;			/* taken frozen: the last one */
	uint64_t pages;			/* pages of data the round stored */
	uint64_t bytes;			/* bytes it wrote to the stream */
	uint64_t elapsed_ns;		/* its scan, plus writing its data */
	uint64_t stopped_ns;		/* how long the source was stopped for it */
	double dirty_rate;		/* bytes/s written by the source since the
					 * round before (0 for round 0) */
	uint64_t scan_ns;		/* of stopped_ns: finding the written pages
					 * (and re-arming, but for the final round),
					 * before any data was written */
	size_t :0;
};
typedef void (*pgclone_live_fn)(void *ctx, const struct pgclone_live_round *r);

/* pgclone_image_opts.max_rounds: no round while the source runs. */
#define PGCLONE_LIVE_NO_PRECOPY (-1)
#define PGCLONE_LIVE_DEFAULT_ROUNDS 10
#define PGCLONE_LIVE_MAX_ROUNDS 99
#define PGCLONE_LIVE_DEFAULT_DOWNTIME_MS 300

/* The most images pgclone_restore() takes in a chain (opts->nr_chain). */
#define PGCLONE_MAX_CHAIN 64

/* Options of pgclone_dump() and pgclone_restore(). */
struct pgclone_image_opts {
	size_t sz;			/* sizeof(struct pgclone_image_opts) */
	unsigned int flags;		/* dump: NO_FREEZE, DUMP_ALL, SNAPSHOT;
					 * restore: REPLACE, STRICT, DRY_RUN,
					 * UPDATE */
	uint64_t dst;			/* restore: first range lands here (0: where it was) */
	pgclone_progress_fn progress;
	void *progress_ctx;
	pgclone_ready_fn ready;		/* optional: inspected, nothing changed yet */
	pgclone_confine_fn confine;	/* restore, optional: confine the image parser */
	unsigned int input_timeout_ms;	/* restore: fail with -ETIMEDOUT when no
					 * byte of the image arrives for this
					 * long (each wait; 0: wait forever) */
	unsigned int compress;		/* dump: enum pgclone_compression */
	int compress_level;		/* dump, zstd: its level (0: zstd's default, 3) */
	int parent_fd;			/* dump, PGCLONE_DELTA: the parent image */
	const int *chain;		/* restore: the images @fd is a delta of, */
	size_t nr_chain;		/* base first, each the parent of the next */
	enum pgclone_engine engine;	/* dump, PGCLONE_SNAPSHOT: who takes it;
					 * AUTO: the kernel where it has
					 * process_vm_mmap(2), KERNEL: only the
					 * kernel, COPY: a fork of the source */
	enum pgclone_track_method track;	/* dump, PGCLONE_TRACK or PGCLONE_LIVE: how */
	/* dump, PGCLONE_LIVE: rounds while the source runs, round 0
	 * included (0: PGCLONE_LIVE_DEFAULT_ROUNDS; PGCLONE_LIVE_NO_PRECOPY:
	 * none, round 0 is the frozen one), then the final round */
	int max_rounds;
	/* dump, PGCLONE_LIVE: the longest the final round may keep the source
	 * stopped, as estimated (0: PGCLONE_LIVE_DEFAULT_DOWNTIME_MS) */
	unsigned int max_downtime_ms;
	pgclone_live_fn live_round;	/* dump, PGCLONE_LIVE, optional: each round */
	/*
	 * dump, PGCLONE_LIVE, optional: the stream on @fd is complete (its
	 * final round written) and nothing more will be written to it.
	 * Called once the source runs again, before uffd-wp tracking is
	 * ended in it in short stops: the caller may close @fd there, so
	 * that the reader sees the end of the stream at once, or put a file
	 * in place.  Non-zero: tracking is still ended, then -EIO.
	 */
	pgclone_ready_fn complete;
	/*
	 * dump, zstd: threads that compress besides the caller's (zstd's
	 * ZSTD_c_nbWorkers; 0: none, the calling thread compresses), at most
	 * PGCLONE_MAX_COMPRESS_THREADS.  The format is the same, and the
	 * checksums, over the uncompressed bytes; the compressed bytes may
	 * differ from a dump on one thread (never between two dumps with
	 * threads, whatever their number).
	 */
	unsigned int compress_threads;
	size_t :0;
};
#define pgclone_image_opts__last_field compress_threads
#define PGCLONE_MAX_COMPRESS_THREADS 64

/*
 * Write [addr, addr + len) of @pid (or, with PGCLONE_DUMP_ALL, every
 * mapping that can be dumped) to @fd as a pgclone image (pgclone-image(5)).
 * @fd may be a pipe: the image is written in one pass.
 * With opts->compress PGCLONE_COMPRESS_ZSTD each extent's data is
 * compressed (opts->compress_level, zstd's range; -EINVAL outside it).
 * With PGCLONE_SNAPSHOT the source is stopped only while a copy-on-write
 * snapshot is taken (opts->engine: by the kernel, or a fork of it).
 * Returns 0 or -EINVAL, -ESRCH, -EPERM, -EBUSY, -EFAULT, -EOPNOTSUPP,
 * -ENOMEM, -EINTR, -EIO, -ENOSYS (PGCLONE_ENGINE_KERNEL on a kernel
 * without process_vm_mmap(2)), or -ENOTRECOVERABLE (PGCLONE_LIVE: the
 * stream is complete, opts->complete was called, then ending uffd-wp
 * tracking in the source failed: it keeps pgclone's userfaultfd).
 */
PGCLONE_API int pgclone_dump(pid_t pid, uint64_t addr, uint64_t len, int fd,
			     const struct pgclone_image_opts *opts,
			     struct pgclone_result *res);

/*
 * Recreate the ranges of the image read from @fd in @pid.  Every checksum
 * is verified before anything appears in the process; on any failure it
 * is left exactly as it was.  A delta image is restored with its chain:
 * opts->chain lists the images before it, base first; a chain whose links
 * do not match is refused (-EINVAL) before the process is touched.  With
 * PGCLONE_UPDATE the delta on @fd is written into the live clone of the
 * chain instead (see the flag).  Returns 0 or -EINVAL, -ESRCH, -EPERM, -EBUSY,
 * -EOPNOTSUPP, -EEXIST, -EACCES, -EPROTO (a malformed, truncated or
 * corrupt image), -ENOMEM, -EINTR, -EIO, or -ENOTRECOVERABLE (restored
 * and moved into place, then a later step failed: see pgclone_clone()).
 */
PGCLONE_API int pgclone_restore(pid_t pid, int fd,
				const struct pgclone_image_opts *opts,
				struct pgclone_result *res);

/* What an image holds, from pgclone_image_info(). */
struct pgclone_image_info {
	size_t sz;			/* sizeof(struct pgclone_image_info) */
	uint16_t major, minor;
	uint32_t page_size;
	uint32_t compat, incompat, ro_compat;
	uint64_t manifest_len, data_off, data_len;
	char tool_version[32];
	char kernel[65];
	char arch[32];
	char comm[32];
	int32_t src_pid;
	uint64_t time_ns;
	int frozen;
	struct pgclone_range *ranges;	/* pages_present: data + zero pages,
					 * pages_copied: pages stored */
	size_t nr_ranges;
	uint64_t nr_extents, nr_data_extents, pages_data, pages_zero;
	uint32_t compression;		/* enum pgclone_compression */
	int32_t compress_level;		/* as the dump chose it */
	uint64_t data_stored;		/* bytes the data area takes in the image
					 * (data_len when stored as it is); 0 when
					 * unknown: show of a compressed stream */
	char id[33];			/* the image's id, 32 hex digits ("": none) */
	int tracking;			/* its dump armed written-page tracking */
	int delta;			/* a delta: restored after its parent */
	char parent_id[33];		/* a delta: the id of its parent */
	uint32_t parent_manifest_crc;	/* ... and its manifest's crc32c */
	uint64_t pages_parent;		/* a delta: pages left to the parent */
	int live;			/* a live stream (dump --live): what is
					 * described is its round 0 */
	uint32_t live_rounds;		/* PGCLONE_IMAGE_VERIFY: rounds verified,
					 * the final one last; else 0 */
	size_t :0;
};

#define PGCLONE_IMAGE_VERIFY 1u		/* also read and check every data extent */

/*
 * Read the image on @fd and describe it; with PGCLONE_IMAGE_VERIFY, check
 * every checksum too (consuming the whole stream).  Touches no process.
 * Returns 0 or -EINVAL, -EOPNOTSUPP, -EPROTO, -ENOMEM, -EIO.
 */
PGCLONE_API int pgclone_image_info(int fd, unsigned int flags,
				   struct pgclone_image_info *info);
PGCLONE_API void pgclone_image_info_free(struct pgclone_image_info *info);

/*
 * List the mappings of @pid.  On success *maps points to *nr entries that
 * the caller releases with pgclone_maps_free().
 * Returns 0 or -EINVAL, -ESRCH, -EPERM, -ENOMEM, -EIO.
 */
PGCLONE_API int pgclone_maps(pid_t pid, struct pgclone_mapping **maps,
			     size_t *nr);
PGCLONE_API void pgclone_maps_free(struct pgclone_mapping *maps, size_t nr);

/*
 * Is @engine usable on this kernel?  Returns 0, or -ENOSYS when
 * process_vm_mmap(2) is not published in sysfs, or -EINVAL.
 */
PGCLONE_API int pgclone_engine_probe(enum pgclone_engine engine);

PGCLONE_API const char *pgclone_engine_name(enum pgclone_engine engine);
PGCLONE_API const char *pgclone_kind_name(enum pgclone_kind kind);
PGCLONE_API const char *pgclone_refusal_name(enum pgclone_refusal why);

/*
 * A one-line, human-readable explanation of the last failure of a pgclone
 * call in this thread (for example which mapping overlaps the destination).
 * Never NULL; "" when there is nothing to say.
 */
PGCLONE_API const char *pgclone_last_error(void);

enum pgclone_log_level {
	PGCLONE_LOG_ERROR = 0,
	PGCLONE_LOG_WARN = 1,
	PGCLONE_LOG_INFO = 2,
	PGCLONE_LOG_DEBUG = 3,
};
typedef void (*pgclone_log_fn)(void *ctx, enum pgclone_log_level level,
			       const char *msg);
/* Messages at @level or more severe go to @fn; NULL silences the library. */
PGCLONE_API void pgclone_set_log(pgclone_log_fn fn, void *ctx,
				 enum pgclone_log_level level);

PGCLONE_API const char *pgclone_version(void);

#ifdef __cplusplus
}
#endif
#endif /* PGCLONE_H */
