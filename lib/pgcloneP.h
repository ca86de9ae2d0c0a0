/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pgcloneP.h - private declarations shared inside libpgclone.
 * Nothing here is part of the ABI; everything is hidden by default.
 */
#ifndef PGCLONE_PRIVATE_H
#define PGCLONE_PRIVATE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pgclone.h"

#define PGC_PAGE_SIZE 4096ULL
/* a PMD-mapped transparent huge page (x86_64) */
#define PGC_HPAGE_SIZE (2ULL << 20)
#define PGC_PAGE_SHIFT 12
#define PGC_PAGE_ALIGNED(x) (((x) & (PGC_PAGE_SIZE - 1)) == 0)
#define PGC_PAGE_DOWN(x) ((x) & ~(PGC_PAGE_SIZE - 1))
/* No user address on any supported arch reaches 2^57 (5-level paging). */
#define PGC_USER_ADDR_LIMIT (1ULL << 57)
/* The top of user space mmap() uses without an explicit high hint (x86_64,
 * 4-level and 5-level alike): where a destination may be placed. */
#define PGC_TASK_SIZE 0x7ffffffff000ULL

#define offsetofend(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define __must_check __attribute__((warn_unused_result))
#define __printf(a, b) __attribute__((format(printf, a, b)))

/* ---- log.c: logging and the one-line "last error" ------------------- */
void pgc_log(enum pgclone_log_level level, const char *fmt, ...) __printf(2, 3);
#define pr_warn(...) pgc_log(PGCLONE_LOG_WARN, __VA_ARGS__)
#define pr_info(...) pgc_log(PGCLONE_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) pgc_log(PGCLONE_LOG_DEBUG, __VA_ARGS__)
/*
 * Record why a call failed (kept for pgclone_last_error()), log it at error
 * level, and return @err (a negative errno) so callers can write
 * "return pgc_fail(-EEXIST, ...)".  The first recorded reason wins until
 * pgc_clear_error(): the root cause is more useful than what followed.
 */
int pgc_fail(int err, const char *fmt, ...) __printf(2, 3);
void pgc_clear_error(void);
/*
 * While @quiet, hold back every message but errors: for a step whose
 * expected complaints the caller answers itself.  Returns the old state.
 */
bool pgc_log_hush(bool quiet);
bool pgc_has_error(void);
/* Set errno from a -errno return, as the public entry points promise. */
int pgc_ret(int ret);
/* Is @err one of the @n errors of @set?  (Test a success separately, in
 * the caller: see closed_set() in api.c for the gcc 12.2 -O3 miscompile
 * of a loop that did both.) */
static inline bool pgc_err_in(int err, const int *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == err)
			return true;
	return false;
}

/* ---- phase.c: the wall time of each phase of a request, logged -------- */
struct pgc_phases {
	uint64_t start, lap;		/* CLOCK_MONOTONIC, ns */
};
/* CLOCK_MONOTONIC in ns */
uint64_t pgc_now_ns(void);
void pgc_phases_start(struct pgc_phases *p);
/* Log (info) the time since the last phase ended as phase @name. */
void pgc_phase_end(struct pgc_phases *p, const char *name);
/* Log (info) and return the time since pgc_phases_start(). */
uint64_t pgc_phases_elapsed(const struct pgc_phases *p);

/* ---- fault.c: test-only fault points ------------------------------- */
#ifdef PGCLONE_FAULT_POINTS
int pgc_fault_point(const char *point) __must_check;
#else
static inline int pgc_fault_point(const char *point) { (void)point; return 0; }
#endif

/* ---- proc/maps.c: /proc/PID/smaps ------------------------------------ */

/* VmFlags from smaps that decide whether and how a mapping is cloned. */
enum pgc_vmflag {
	VMF_MAYWRITE = 1u << 0,		/* mw */
	VMF_GROWSDOWN = 1u << 1,	/* gd */
	VMF_PFNMAP = 1u << 2,		/* pf */
	VMF_IO = 1u << 3,		/* io */
	VMF_DONTEXPAND = 1u << 4,	/* de */
	VMF_HUGETLB = 1u << 5,		/* ht */
	VMF_MIXEDMAP = 1u << 6,		/* mm */
	VMF_UFFD = 1u << 7,		/* um, uw, ui */
	VMF_LOCKED = 1u << 8,		/* lo */
	VMF_NORESERVE = 1u << 9,	/* nr */
	VMF_SEALED = 1u << 10,		/* sl */
	VMF_SHADOW_STACK = 1u << 11,	/* ss */
	VMF_UFFD_WP = 1u << 12,		/* uw: write-protect mode */
	VMF_UFFD_MI = 1u << 13,		/* um, ui: missing or minor mode */
};

struct pgc_vma {
	struct pgclone_mapping m;	/* m.name points into name[] */
	unsigned int vmflags;		/* enum pgc_vmflag */
	unsigned int dev_major, dev_minor;
	char *name;			/* owned */
};

struct pgc_vma_list {
	struct pgc_vma *v;
	size_t n, cap;
};

/* Parse one /proc/PID/maps line; returns 0 or -EINVAL. Allocates v->name. */
int pgc_maps_parse_line(const char *line, struct pgc_vma *v);
/* Parse the two-letter codes of a "VmFlags:" line. */
void pgc_maps_parse_vmflags(const char *flags, struct pgc_vma *v);
/* Fill in kind, refusal and advice from what was parsed. */
void pgc_vma_classify(struct pgc_vma *v);
/* Read and classify all mappings of @pid from smaps (or maps as fallback). */
int pgc_maps_read(pid_t pid, struct pgc_vma_list *list) __must_check;
/* The same in two steps: open (with the capability it takes), then read
 * through the descriptor (which needs none) and close it. */
int pgc_maps_open(pid_t pid);
int pgc_maps_read_fd(pid_t pid, int fd, struct pgc_vma_list *list) __must_check;
int pgc_maps_parse_stream(void *stdio_file, struct pgc_vma_list *list);
void pgc_maps_free(struct pgc_vma_list *list);
/* The mapping containing @addr, or NULL. */
const struct pgc_vma *pgc_maps_find(const struct pgc_vma_list *list,
				    uint64_t addr);

/* ---- proc/pagemap.c --------------------------------------------------- */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)		/* page cache or shared anon page */
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_UFFD_WP (1ULL << 57)		/* write-protected by uffd-wp */

/* Does pagemap entry @e hold data a clone of a @kind mapping must copy? */
bool pgc_pagemap_needs_copy(uint64_t e, enum pgclone_kind kind);
bool pgc_pagemap_populated(uint64_t e);

/* A run of pages to copy, relative to a range's start. */
struct pgc_run {
	uint64_t off;
	uint64_t len;
	unsigned int flags;		/* PGC_RUN_* */
};

/* The walk could not tell the zero page from data: compare before writing. */
#define PGC_RUN_MAYBE_ZERO (1u << 0)
/* Mapped by huge PMDs in the source. */
#define PGC_RUN_HUGE (1u << 1)

struct pgc_runs {
	struct pgc_run *r;
	size_t n, cap;
	uint64_t pages_present;		/* present or swapped */
	uint64_t pages_to_copy;
	uint64_t pages_zero;		/* the zero page: nothing to copy */
};

/*
 * Scan [start, start + len) of the pagemap open on @fd and collect the runs
 * of pages a @kind mapping must copy.  Memory use is bounded by the number
 * of runs, not by len.
 */
int pgc_pagemap_scan(int fd, uint64_t start, uint64_t len,
		     enum pgclone_kind kind, struct pgc_runs *runs) __must_check;
/* Same, on an in-memory array of entries (used by the scanner and tests). */
int pgc_runs_add_entries(struct pgc_runs *runs, const uint64_t *e, size_t n,
			 uint64_t first_off, enum pgclone_kind kind);
void pgc_runs_free(struct pgc_runs *runs);

/* ---- proc/pagewalk.c: what each page of a range holds ---------------- */
#define PGC_PG_PRESENT (1u << 0)
#define PGC_PG_SWAPPED (1u << 1)
#define PGC_PG_FILE (1u << 2)		/* not the process's own anonymous page */
#define PGC_PG_ZERO (1u << 3)		/* the shared zero page, or the huge one */
#define PGC_PG_HUGE (1u << 4)		/* mapped by a huge PMD (PAGEMAP_SCAN only) */
#define PGC_PG_DIRTY (1u << 5)		/* soft-dirty: written since tracking was
					 * armed (a walk with pgc_walk_track()) */

enum pgc_walk_how {
	PGC_WALK_SCAN,		/* ioctl(PAGEMAP_SCAN), Linux 6.7+ */
	PGC_WALK_PFN,		/* pagemap; the zero pages known by their pfn */
	PGC_WALK_PAGEMAP,	/* pagemap alone: zero pages look like data */
};

struct pgc_walk {
	int fd;				/* /proc/PID/pagemap */
	enum pgc_walk_how how;
	uint64_t zero_pfn, huge_zero_pfn;	/* PGC_WALK_PFN; 0: none seen */
	bool dirty;			/* report PGC_PG_DIRTY (pgc_walk_track()) */
	bool written;			/* ... as uffd-wp's "written", not soft-dirty */
	/*
	 * uffd-wp armed: a page table it protected holds a marker in every
	 * empty entry, which the kernel reports as swapped.  Known by its
	 * pagemap entry: a swap entry of the last swap type (pte markers'),
	 * which only CAP_SYS_ADMIN is shown; where types are hidden, any
	 * swap entry of a process with nothing swapped (@no_swap).  Never
	 * reported.
	 */
	bool wp_markers, no_swap;
	/*
	 * uffd-wp, a live dump's rounds: write-protect again each written
	 * page the walk reports, in the same PAGEMAP_SCAN call that reports
	 * it (PM_SCAN_WP_MATCHING).  Only for a range registered with the
	 * source's userfaultfd in that mode: the kernel passes over any
	 * other silently.  A walk without PAGEMAP_SCAN ignores it.
	 */
	bool rearm;
	void *buf;			/* for the kernel's answers, kept across
					 * ranges: a walk of thousands of small
					 * VMAs must not allocate per VMA */
};

/* A run [start, end) of populated pages sharing categories @cats. */
typedef int (*pgc_walk_fn)(void *ctx, uint64_t start, uint64_t end,
			   unsigned int cats);

/* Open @pid's pagemap and choose the best way the kernel and we allow. */
int pgc_walk_open(struct pgc_walk *w, pid_t pid) __must_check;
/* The same on an open pagemap @fd, trying no better way than @best. */
void pgc_walk_init(struct pgc_walk *w, int fd, enum pgc_walk_how best);
/*
 * Report written pages too (PGC_PG_DIRTY): soft-dirty ones, falling back
 * from PAGEMAP_SCAN to pagemap entries where it does not know the
 * category, or with @uffd_wp those uffd-wp no longer write-protects
 * (PAGE_IS_WRITTEN; pagemap bit 57 clear).
 * Returns how written pages are seen.
 */
enum pgc_track_how pgc_walk_track(struct pgc_walk *w, bool uffd_wp);
/* Is pagemap entry @e a uffd-wp marker, for a walk with wp_markers? */
bool pgc_walk_is_marker(const struct pgc_walk *w, uint64_t e);
/* Call @fn for every run of populated pages in [start, end), in order. */
int pgc_walk_range(struct pgc_walk *w, uint64_t start, uint64_t end,
		   pgc_walk_fn fn, void *ctx) __must_check;
void pgc_walk_close(struct pgc_walk *w);
/* Categories of a PAGEMAP_SCAN region, of a pagemap entry (for tests). */
unsigned int pgc_walk_cats_of_scan(uint64_t categories);
unsigned int pgc_walk_cats_of_entry(const struct pgc_walk *w, uint64_t e);
/*
 * Add the run [off, off + len) of a @kind range's pages, of categories
 * @cats, to the pages a clone must copy.
 */
int pgc_runs_add_cats(struct pgc_runs *runs, uint64_t off, uint64_t len,
		      unsigned int cats, enum pgclone_kind kind, bool zero_known);
/*
 * For a walk that cannot see huge PMDs: mark as huge every run piece that
 * covers a whole huge-page-aligned block (a full block costs no more as a
 * huge page).  @base: the address the runs' offsets start from.
 */
int pgc_runs_mark_full_blocks(struct pgc_runs *runs, uint64_t base) __must_check;

/* ---- proc/softdirty.c: written-page tracking (soft-dirty) -------------- */
#define PGC_PAGE_IS_SOFT_DIRTY (1ULL << 7)	/* PAGEMAP_SCAN, Linux 6.8+ */
#define PGC_PAGE_IS_WRITTEN (1ULL << 1)		/* PAGEMAP_SCAN, uffd-wp */

/* How a walk sees written pages; the numbers are the image's TrackMethod. */
enum pgc_track_how {
	PGC_TRACK_SCAN = 1,	/* PAGEMAP_SCAN with PAGE_IS_SOFT_DIRTY */
	PGC_TRACK_PAGEMAP = 2,	/* pagemap entries, bit 55 */
	PGC_TRACK_UFFD_SCAN = 3,	/* PAGEMAP_SCAN with PAGE_IS_WRITTEN */
	PGC_TRACK_UFFD_PAGEMAP = 4,	/* pagemap entries, bit 57 */
};

/* What armed tracking follows; proc/uffdwp.c has the second. */
enum pgc_track_mode {
	PGC_TRACK_SOFT_DIRTY = 1,
	PGC_TRACK_UFFD_WP = 2,
};

struct pgc_track_page;
struct pgc_track {
	int clear_refs;			/* /proc/PID/clear_refs, opened early */
	int record;			/* the source's tracking record */
	uint64_t generation;		/* what the record names; 0: nothing */
	/* PGCLONE_FAULT_SOFTDIRTY=emulate (tests): page hashes, by address */
	int emul_fd;
	struct pgc_track_page *old, *new;
	size_t n_old, n_new, cap_new;
	enum pgc_track_mode mode;
	/* PGC_TRACK_UFFD_WP: the target's userfaultfd and its record */
	int uffd_rec;			/* the record: "FD INO\n", or empty */
	int uffd_recorded;		/* the descriptor it names, or -1 */
	int uffd_fd;			/* that descriptor, checked: ours; or -1 */
	uint64_t uffd_ino;
	bool uffd_created;		/* by this dump: undone if it fails */
};

/* 0, or -EOPNOTSUPP when the kernel keeps no soft-dirty bits. */
int pgc_track_supported(void);
/* Does PAGEMAP_SCAN on @pagemap_fd report PAGE_IS_SOFT_DIRTY? */
bool pgc_track_scan_works(int pagemap_fd);
/*
 * Open what arming tracking of @pid writes -- its clear_refs and its
 * record -- while we may (before the caller's ready callback), and read
 * the generation the record names.
 */
int pgc_track_open(struct pgc_track *t, pid_t pid, uint64_t start_time,
		   uint64_t boot_hi, uint64_t boot_lo,
		   enum pgclone_track_method method) __must_check;
/*
 * Record @generation, then clear every soft-dirty bit of the process (the
 * caller arms uffd-wp itself, then pgc_track_note_uffd()).
 */
int pgc_track_arm(struct pgc_track *t, uint64_t generation) __must_check;
/*
 * A dump without tracking: does pgclone track @pid with a userfaultfd of
 * its own (t->uffd_fd >= 0 after)?  Creates nothing; anything amiss reads
 * as no.  Then pgc_track_end() clears the record once it is closed.
 */
int pgc_track_peek(struct pgc_track *t, pid_t pid, uint64_t start_time,
		   uint64_t boot_hi, uint64_t boot_lo) __must_check;
int pgc_track_end(struct pgc_track *t) __must_check;
/* Record the target's userfaultfd (t->uffd_fd, t->uffd_ino). */
int pgc_track_note_uffd(struct pgc_track *t) __must_check;
void pgc_track_close(struct pgc_track *t);
/*
 * Tests, on kernels without soft-dirty: is tracking emulated?  Then was
 * the page at @addr (its bytes: @page) written since it was armed, and
 * note each page the dump holds, for the next (pgc_track_arm() keeps them).
 */
bool pgc_track_emulated(const struct pgc_track *t);
bool pgc_track_emul_dirty(const struct pgc_track *t, uint64_t addr,
			  const void *page);
int pgc_track_emul_note(struct pgc_track *t, uint64_t addr, const void *page);
/* After an arm, the pages just noted are what the next scan compares with. */
void pgc_track_emul_rotate(struct pgc_track *t);

/* ---- proc/status.c ---------------------------------------------------- */
/* Field 22 of /proc/PID/stat: when it started, in clock ticks after boot. */
int pgc_proc_start_time(pid_t pid, uint64_t *t) __must_check;
/*
 * Wait up to @ms for @pid to be in its group stop (state T).  A SIGSTOP
 * left pending at a detach is taken by a thread on its way back to user
 * mode, after PTRACE_DETACH returned: --leave-stopped waits for it.
 */
bool pgc_proc_wait_stopped(pid_t pid, unsigned int ms);
/*
 * Whether @pid has exited (reaped, or a zombie): its descriptors and its
 * memory went with it.
 */
bool pgc_proc_gone(pid_t pid);
/* /proc/sys/kernel/random/boot_id as two numbers. */
int pgc_boot_id(uint64_t *hi, uint64_t *lo) __must_check;
struct pgc_status {
	char state;			/* R, S, D, T, t, Z, X */
	pid_t tgid;
	pid_t ppid;
	pid_t tracer;
	uid_t ruid, euid;
	gid_t rgid;
	uid_t uid[4];			/* real, effective, saved, filesystem */
	gid_t gid[4];
	uint64_t cap_prm, cap_eff;	/* CapPrm, CapEff */
	int seccomp;			/* 0 off, 1 strict, 2 filter */
	pid_t nspid_last;		/* the pid in its own innermost ns */
	int nspid_depth;
	bool kthread;
	/* signal sets, bit (n - 1) for signal n: pending for the thread (a
	 * task's file) or the process, ignored, caught */
	uint64_t sig_pnd, shd_pnd, sig_ign, sig_cgt;
};
int pgc_status_parse(const char *text, struct pgc_status *st);
/* priv.c: why ptrace of @pid was refused, in words, into @out; "the
 * kernel refused ..." when /proc shows no reason */
void pgc_ptrace_denied_reason(pid_t pid, char *out, size_t len);
int pgc_status_read(pid_t pid, pid_t tid, struct pgc_status *st) __must_check;
/* A live process (not a thread, zombie or kernel thread), or why not. */
int pgc_proc_check(pid_t pid, struct pgc_status *st) __must_check;
/* proc/ns.c: are @a and @b in one pid namespace? 1 yes, 0 no, <0 error. */
int pgc_same_pidns(pid_t a, pid_t b);

/* ---- priv.c: may we touch a process; capabilities only while needed -- */

/* Capability numbers (linux/capability.h), as bits of a 64-bit set. */
#define PGC_CAP(n) (1ULL << (n))
#define PGC_CAP_DAC_READ_SEARCH PGC_CAP(2)
#define PGC_CAP_KILL PGC_CAP(5)
#define PGC_CAP_SETGID PGC_CAP(6)
#define PGC_CAP_SETUID PGC_CAP(7)
#define PGC_CAP_SYS_PTRACE PGC_CAP(19)
#define PGC_CAP_SYS_ADMIN PGC_CAP(21)
#define PGC_CAP_CHECKPOINT_RESTORE PGC_CAP(40)
/* Opening another user's /proc/PID files: smaps, pagemap (with page
 * frame numbers), mem, map_files, task. */
#define PGC_CAPS_PROC (PGC_CAP_SYS_PTRACE | PGC_CAP_DAC_READ_SEARCH |	\
		       PGC_CAP_SYS_ADMIN | PGC_CAP_CHECKPOINT_RESTORE)

/* What the ptrace decision is made from (gathered from /proc). */
struct pgc_ptrace_view {
	struct pgc_status self, target;
	bool dumpable_known, dumpable;
	int yama;			/* Yama ptrace_scope, -1 without Yama */
	bool descendant;		/* the target descends from us */
};

enum pgc_verdict {
	PGC_ALLOWED,
	PGC_DENIED,			/* the kernel will refuse */
	PGC_UNSURE,			/* it may refuse (Yama exceptions) */
};

/*
 * What __ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS), commoncap and
 * Yama will decide for us and @pid; on anything but ALLOWED, @why says
 * what is missing.  A permitted capability counts as ours.
 */
enum pgc_verdict pgc_ptrace_decide(const struct pgc_ptrace_view *v, pid_t pid,
				   char *why, size_t n);
/* 0, or -EPERM (the reason as the last error), -ESRCH, -EINVAL (kthread). */
int pgc_priv_check(pid_t pid) __must_check;
/*
 * Could @tracer itself ptrace @tracee, by the same rules (its own ids,
 * permitted capabilities, Yama)?  The kernel engine asks it for the
 * destination and the source: process_vm_mmap(2) hands the destination
 * the source's files and shared memory without asking it, and a process
 * that may ptrace the source could take them anyway.
 */
bool pgc_priv_may_reach(pid_t tracer, pid_t tracee);
/* Turn the kernel's EPERM for @pid into a failure that says why. */
int pgc_priv_explain(pid_t pid);
/* Make the permitted ones of @caps effective until pgc_priv_lower(). */
void pgc_priv_raise(uint64_t caps);
void pgc_priv_lower(void);
/* Clear every capability set of this thread for good: 0 or -EPERM. */
int pgc_priv_drop_all(void);
/*
 * May the user who runs us ptrace @pid by their own right?  Capabilities
 * count only when the real uid is 0 (then they are the user's, not a file
 * capability of pgclone's).  For objects an image names.
 */
bool pgc_priv_user_may(pid_t pid);
/* Raise @caps only if they are the user's own (real uid 0). */
void pgc_priv_raise_as_user(uint64_t caps);
/*
 * A pidfd naming @pid's process for good, or -1: taken when the process
 * is checked, compared after it is seized, so that a PID reused between
 * the two is noticed (pgc_pin_check() fails with -ESRCH).
 */
int pgc_pin(pid_t pid);
int pgc_pin_check(int pin, pid_t pid) __must_check;
/* open(2) of a /proc/PID file, with PGC_CAPS_PROC raised around it. */
int pgc_proc_open(const char *path, int flags);
/* process_vm_readv/writev(2), with CAP_SYS_PTRACE raised around them. */
struct iovec;
ssize_t pgc_vm_readv(pid_t pid, const struct iovec *l, unsigned long nl,
		     const struct iovec *r, unsigned long nr);
ssize_t pgc_vm_writev(pid_t pid, const struct iovec *l, unsigned long nl,
		      const struct iovec *r, unsigned long nr);

/* ---- plan.c ------------------------------------------------------------ */
struct pgc_plan {
	pid_t src_pid, dst_pid;
	uint64_t src, len, dst;
	struct pgclone_range *r;	/* names point into src_maps */
	size_t n;
	struct pgc_vma_list src_maps;
	const struct pgc_vma **src_vma; /* per range, into src_maps */
};

int pgc_plan_build(struct pgc_plan *plan, pid_t src_pid,
		   const struct pgc_vma_list *maps, uint64_t src, uint64_t len,
		   pid_t dst_pid, uint64_t dst) __must_check;
/* Log (info) each source mapping the plan takes; @whole: no length given. */
void pgc_plan_log(const struct pgc_plan *plan, bool whole);
/*
 * --dst auto: the same, but the destination is not known yet: every range
 * lands at its offset from the source start until pgc_plan_set_dst()
 * moves the whole plan, keeping the ranges' relative layout.
 */
int pgc_plan_build_auto(struct pgc_plan *plan, pid_t src_pid,
			const struct pgc_vma_list *maps, uint64_t src,
			uint64_t len, pid_t dst_pid) __must_check;
int pgc_plan_set_dst(struct pgc_plan *plan, uint64_t dst) __must_check;
/* Append [start, end) of mapping @v as a range landing at its offset from
 * plan->src past plan->dst.  Returns 0 or -ENOMEM. */
int pgc_plan_push(struct pgc_plan *plan, const struct pgc_vma *v,
		  uint64_t start, uint64_t end);
/*
 * Check the destination against its mappings.  Without @replace any
 * overlap is -EEXIST naming the mapping; with it, overlapped mappings must
 * be movable (they are set aside so that a failure can put them back).
 */
int pgc_plan_check_dst(const struct pgc_plan *plan,
		       const struct pgc_vma_list *dst_maps, bool replace);
void pgc_plan_free(struct pgc_plan *plan);

/* What a thread keeps in its process's memory (read in inject/threads.c). */
enum pgc_thread_area_kind {
	PGC_AREA_STACK,			/* its stack pointer */
	PGC_AREA_RSEQ,			/* the area it registered with rseq(2) */
	PGC_AREA_TLS,			/* its thread pointer (fs_base) */
	PGC_AREA_ROBUST,		/* its set_robust_list(2) head */
};
struct pgc_thread_area {
	pid_t tid;
	enum pgc_thread_area_kind kind;
	uint64_t addr, len;
};
struct pgc_thread_areas {
	pid_t pid;
	struct pgc_thread_area *a;
	size_t n;
};
/*
 * --replace over what a thread keeps in memory kills the thread: refuse
 * (-EBUSY, naming each area and whose thread) a plan whose destination
 * windows hold any of @areas, unless @force (then only warn).
 */
int pgc_plan_check_threads(const struct pgc_plan *plan,
			   const struct pgc_thread_areas *areas, bool force);

/* ---- request.c: one request's life, shared by engines and images ------- */
struct pgc_request {
	pid_t src_pid, dst_pid;
	uint64_t src, len, dst;
	unsigned int flags;
	pgclone_progress_fn progress;
	void *progress_ctx;
	pgclone_ready_fn ready;
	pgclone_confine_fn confine;	/* restore: the image parser's confinement */
	unsigned int input_timeout_ms;	/* restore: longest wait for image bytes */
	unsigned int compress;		/* dump: enum pgclone_compression */
	int compress_level;		/* dump: checked, 0 replaced by the default */
	unsigned int compress_threads;	/* dump: zstd's workers (0: none) */
	int parent_fd;			/* dump, PGCLONE_DELTA: the parent image */
	const int *chain;		/* restore: the images before the last */
	size_t nr_chain;
	enum pgclone_engine engine;	/* dump: who takes a snapshot */
	enum pgclone_track_method track;	/* dump: how PGCLONE_TRACK tracks */
	int max_rounds;			/* dump, PGCLONE_LIVE: checked, defaults set */
	unsigned int max_downtime_ms;
	pgclone_live_fn live_round;
	pgclone_ready_fn complete;	/* dump, PGCLONE_LIVE: the stream is complete */
	int src_pin, dst_pin;		/* pidfds taken at the permission check, or -1 */
};

/*
 * Between two steps of an operation: a test fault point, then whether the
 * caller asked to stop (the progress callback, asked with 0 of 0 bytes,
 * returns non-zero: the CLI's does after SIGINT/SIGTERM/SIGHUP).  Either
 * fails the operation, which rolls back.
 */
int pgc_step(const struct pgc_request *req, const char *point) __must_check;
/* Everything inspected, nothing changed: tell the caller (opts->ready). */
int pgc_ready(const struct pgc_request *req) __must_check;

/* Call the progress callback; non-zero means the caller wants to stop. */
bool pgc_cancelled(const struct pgc_request *req, uint64_t done,
		   uint64_t total);
/* Copy the plan's ranges into @res (with their own names), add up counts. */
int pgc_result_fill(struct pgclone_result *res, const struct pgc_plan *plan);
/* The destination holds the result: PGCLONE_RESULT_COMMITTED, if @res has room. */
void pgc_result_set_committed(struct pgclone_result *res);
/*
 * A step after the commit point (the ranges moved into place) failed with
 * @err: nothing will undo the clone, so this must never read as "nothing
 * changed".  The last error becomes "cloned ... (that stays), but
 * @not_done: <cause>"; returns -ENOTRECOVERABLE.
 */
int pgc_commit_failed(const struct pgc_plan *plan, bool restore,
		      const char *not_done, int err);
/*
 * The end of every request that changes a process: @err is the outcome,
 * @committed whether the destination holds the result by now.  Fills @res
 * (also after a commit that a later step's failure followed, with
 * PGCLONE_RESULT_COMMITTED) and returns 0, @err, or -ENOTRECOVERABLE
 * saying @not_done.
 */
int pgc_request_finish(struct pgclone_result *res, const struct pgc_plan *plan,
		       bool committed, bool restore, int err,
		       const char *not_done) __must_check;

/* ---- the engines and the image code, which api.c chooses between ------ */

int pgc_copy_engine_clone(const struct pgc_request *req,
			  struct pgclone_result *res) __must_check;
int pgc_kernel_engine_clone(const struct pgc_request *req,
			    struct pgclone_result *res) __must_check;
/*
 * engine/snapclone.c: PGCLONE_SNAPSHOT with the copy engine: the refusals
 * checked, a snapshot of the source taken, the copy engine's clone made
 * from it, the snapshot dropped.
 */
int pgc_snapshot_copy_clone(const struct pgc_request *req,
			    struct pgclone_result *res) __must_check;
int pgc_image_dump(const struct pgc_request *req, bool all, int out,
		   struct pgclone_result *res) __must_check;
int pgc_image_restore(const struct pgc_request *req, int in,
		      struct pgclone_result *res) __must_check;
int pgc_image_info(int fd, bool verify, struct pgclone_image_info *info);
/* image/zstd.c: is @level one zstd has?  -EINVAL with the error set when not. */
int pgc_zstd_check_level(int level);
int pgc_zstd_default_level(void);

/* The syscall number published in sysfs, or -ENOSYS. */
long pgc_kernel_syscall_nr(void);

#endif /* PGCLONE_PRIVATE_H */
