// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * snapshot.c - freeze a process only for as long as a fork() takes.
 *
 * The source is seized and one of its threads runs clone(2) for us.  The
 * child is what fork() would make, with four differences, each for the
 * source's sake:
 *  - exit_signal 0: the source never gets a SIGCHLD, and wait(2) without
 *    __WALL/__WCLONE does not see the child at all;
 *  - CLONE_FILES | CLONE_FS: the child holds no reference of its own to
 *    any open file, so a pipe the source reads still reaches EOF, and a
 *    flock() it drops is dropped, while the snapshot lives;
 *  - it is traced from birth (PTRACE_O_TRACECLONE on the borrowed thread)
 *    and never resumed: it never runs an instruction of the program, so
 *    pthread_atfork() handlers do not run, nor anything else;
 *  - its stack pointer is a small, unmapped address, so that if it were
 *    ever let go (pgclone killed in the microseconds before the next
 *    point) its first return faults and it dies rather than running on
 *    as a second copy of the program.  From its first stop on, it carries
 *    PTRACE_O_EXITKILL: the kernel kills it when pgclone goes away.
 * The source is then let go; the dump or clone reads the child's memory,
 * which stays as it was at the freeze whatever the source writes (the
 * copy-on-write of fork).  At the end pgclone kills the child, collects
 * its death as its tracer and makes the source reap it with an injected
 * wait4(): no zombie, no signal, no thread is left.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot.h"

/*
 * clone(2) flags: the low byte is the exit signal, 0.  Not CLONE_VM: the
 * copy-on-write copy of the memory is the point.
 */
#define SNAP_CLONE_FLAGS ((uint64_t)(CLONE_FILES | CLONE_FS))
/* below mmap_min_addr: nothing can be mapped there */
#define SNAP_CHILD_SP 8ULL
/* how often the reap asks for a child that is dead but not yet a zombie */
#define SNAP_REAP_TRIES 100

static const char *vma_what(const struct pgc_vma *v)
{
	return v->name[0] ? v->name : "anonymous";
}

int pgc_snapshot_refuse(const struct pgc_plan *plan,
			const struct pgc_vma_list *maps)
{
	for (size_t i = 0; i < maps->n; i++) {
		const struct pgc_vma *v = &maps->v[i];

		if (v->vmflags & VMF_UFFD)
			return pgc_fail(-EOPNOTSUPP,
					"0x%llx-0x%llx (%s) of PID %d is registered with userfaultfd: a snapshot would report a fork to its monitor; dump without --snapshot",
					(unsigned long long)v->m.start,
					(unsigned long long)v->m.end, vma_what(v),
					(int)plan->src_pid);
	}
	for (size_t i = 0; i < plan->n; i++) {
		const struct pgclone_mapping *m = &plan->r[i].map;
		const char *why = NULL;

		if (m->advice & PGCLONE_ADV_DONTFORK)
			why = "is MADV_DONTFORK: a snapshot (a fork) does not get it";
		else if (m->advice & PGCLONE_ADV_WIPEONFORK)
			why = "is MADV_WIPEONFORK: a snapshot (a fork) gets it empty";
		else if (m->kind == PGCLONE_KIND_ANON_SHARED ||
			 m->kind == PGCLONE_KIND_FILE_SHARED)
			why = "is shared: the process's writes would show through a snapshot";
		if (why)
			return pgc_fail(-EOPNOTSUPP,
					"0x%llx-0x%llx (%s) of PID %d %s; dump it without --snapshot",
					(unsigned long long)m->start,
					(unsigned long long)m->end,
					m->name[0] ? m->name : "anonymous",
					(int)plan->src_pid, why);
	}
	return 0;
}

int pgc_snapshot_check(const struct pgc_request *req, pid_t pid,
		       pgc_snapshot_plan_fn plan_fn)
{
	struct pgc_plan plan = { 0 };
	struct pgc_vma_list maps;
	bool quiet;
	int err = pgc_maps_read(pid, &maps);

	if (err)
		return err;
	/* the plan is logged once, by the dump or clone that follows */
	quiet = pgc_log_hush(true);
	err = plan_fn(&plan, req, &maps);
	pgc_log_hush(quiet);
	plan.src_maps = maps;	/* freed with the plan */
	if (!err)
		err = pgc_snapshot_refuse(&plan, &maps);
	pgc_plan_free(&plan);
	return err;
}

/* "Seccomp_filters:" of a thread (Linux 5.9+), or -1. */
static long filter_count(pid_t pid, pid_t tid)
{
	char path[64], line[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp_filters: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Would the source's filters let @nr(@a...) through from our gadget? */
static int seccomp_lets(const struct pgc_remote *r, long nr,
			const uint64_t a[6], const char *what)
{
	struct seccomp_data sd = {
		.nr = (int)nr,
		.arch = pgc_arch_audit,
		.instruction_pointer = r->gadget,
	};

	memcpy(sd.args, a, sizeof(sd.args));
	if (r->filters.unreadable)
		return pgc_fail(-EPERM,
				"PID %d runs under a seccomp filter pgclone cannot inspect (that needs CAP_SYS_ADMIN): no snapshot",
				(int)r->proc->pid);
	if (!pgc_seccomp_allows(&r->filters, &sd))
		return pgc_fail(-EPERM,
				"the seccomp filter of PID %d forbids %s, which a snapshot needs; dump or clone it without --snapshot",
				(int)r->proc->pid, what);
	return 0;
}

/* Everything the snapshot will run in the source, asked before anything runs. */
static int check_filters(const struct pgc_remote *r)
{
	const uint64_t clone_args[6] = { SNAP_CLONE_FLAGS, SNAP_CHILD_SP };
	const uint64_t wait_args[6] = { 0, 0, PGC_SNAP_WAIT_FLAGS };
	int err = seccomp_lets(r, SYS_clone, clone_args, "clone(2) (a fork)");

	return err ? err : seccomp_lets(r, SYS_wait4, wait_args, "wait4(2)");
}

static int set_options(pid_t tid, long opts)
{
	return ptrace(PTRACE_SETOPTIONS, tid, 0, (void *)opts) ? -ESRCH : 0;
}

/* Run the clone and hold the child in its first stop. */
static int make_child(struct pgc_snapshot *s, struct pgc_remote *r)
{
	long ret = 0;
	int status, err;

	/* exit_signal 0 makes it a "clone" event, not a "fork" one */
	err = set_options(r->tid, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE);
	if (!err)
		err = pgc_remote_syscall(r, &ret, SYS_clone, SNAP_CLONE_FLAGS,
					 SNAP_CHILD_SP, 0, 0, 0, 0);
	/* what seize.c set, so that nothing the source creates later is ours */
	if (set_options(r->tid, PTRACE_O_TRACESYSGOOD) && !err)
		err = pgc_fail(-ESRCH, "PID %d exited while pgclone was working on it",
			       (int)s->src);
	if (err)
		return err;
	if (ret <= 0)
		return pgc_fail(ret == -ENOMEM || ret == -EAGAIN ? -ENOMEM : -EIO,
				"PID %d cannot fork for a snapshot: %s", (int)s->src,
				strerror((int)-ret));
	s->child_there = (pid_t)ret;
	s->child = pgc_snapshot_our_pid(s->src, r->tid, ret);
	if (!s->child)
		return pgc_fail(-EIO,
				"PID %d forked its snapshot as its PID %ld, which pgclone cannot find in its own PID namespace; it is left stopped until pgclone exits, then dies of SIGSEGV",
				(int)s->src, ret);
	if (pgc_wait_tid(s->child, &status) || !WIFSTOPPED(status) ||
	    set_options(s->child, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL))
		return pgc_fail(-EIO, "the snapshot child %d of PID %d did not stop",
				(int)s->child, (int)s->src);
	return 0;
}

/*
 * Kill the child and collect its death as its tracer; it is then a
 * zombie of the source (or of init, if the source is gone).  pgclone may
 * lack the right to signal it (another user's process, no CAP_KILL): then
 * the source, seized in @r, does it.
 */
static int kill_child(struct pgc_snapshot *s, struct pgc_remote *r)
{
	int status;
	long ret;

	if (kill(s->child, SIGKILL)) {
		if (errno != EPERM || !r)
			return -errno;
		if (pgc_remote_syscall(r, &ret, SYS_kill, (uint64_t)s->child_there,
				       SIGKILL, 0, 0, 0, 0) || ret)
			return -EPERM;
	}
	for (;;) {
		if (pgc_wait_tid(s->child, &status))
			return -ECHILD;		/* gone already */
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return 0;
	}
}

/* The source, stopped in @r, waits for the dead child: gone for good. */
static int reap_child(struct pgc_snapshot *s, struct pgc_remote *r)
{
	long ret = 0;
	int err;

	for (int i = 0; i < SNAP_REAP_TRIES; i++) {
		err = pgc_remote_syscall(r, &ret, SYS_wait4, (uint64_t)s->child_there,
					 0, PGC_SNAP_WAIT_FLAGS, 0, 0, 0);
		if (err)
			return err;
		/* -ECHILD: one of its own __WALL waits took it first */
		if (ret == s->child_there || ret == -ECHILD)
			return 0;
		if (ret != 0 && ret != -EINTR)
			break;
		usleep(1000);
	}
	return -EIO;
}

/* Kill and reap while the source is stopped in @r (a failed take). */
static void drop_frozen(struct pgc_snapshot *s, struct pgc_remote *r)
{
	int err = kill_child(s, r);

	if (!err || err == -ECHILD)
		err = reap_child(s, r);
	if (err)
		pr_warn("the snapshot child %d of PID %d could not be reaped: a zombie is left",
			(int)s->child, (int)s->src);
	s->child = 0;
}

/* The child's files that -v reads at the end, opened while we may. */
static void open_cost(struct pgc_snapshot *s)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)s->child);
	s->rollup = pgc_proc_open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)s->child);
	s->status = pgc_proc_open(path, O_RDONLY | O_CLOEXEC);
}

int pgc_snapshot_take(struct pgc_snapshot *s, const struct pgc_request *req)
{
	pid_t leftovers[PGC_SNAP_LEFTOVERS_MAX];
	size_t nleft = pgc_snapshot_find_leftovers(req->src_pid, leftovers,
						   PGC_SNAP_LEFTOVERS_MAX);
	uint64_t t0 = pgc_now_ns();
	struct pgc_remote r;
	struct pgc_proc p;
	bool begun = false;
	int err;

	memset(s, 0, sizeof(*s));
	s->src = req->src_pid;
	s->rollup = s->status = -1;
	s->filters_count = -1;
	err = pgc_proc_seize(&p, s->src);
	if (err)
		return err;
	err = pgc_pin_check(req->src_pin, s->src);
	if (!err) {
		err = pgc_remote_begin(&r, &p);
		begun = !err;
	}
	if (!err)
		err = check_filters(&r);
	if (!err)
		err = pgc_step(req, "snapshot-seized");
	if (!err)
		err = make_child(s, &r);
	if (!err)
		pgc_snapshot_reap_leftovers(&r, leftovers, nleft);
	if (!err)
		err = pgc_step(req, "snapshot-cloned");
	if (err && s->child)
		drop_frozen(s, &r);
	if (begun) {
		if (!err) {
			/* kept for the reap; pgc_remote_end() frees what is left */
			s->filters = r.filters;
			s->filters_tid = r.tid;
			s->filters_count = filter_count(s->src, r.tid);
			memset(&r.filters, 0, sizeof(r.filters));
		}
		if (pgc_remote_end(&r) && !err)
			err = pgc_fail(-ESRCH, "PID %d exited while pgclone was working on it",
				       (int)s->src);
	}
	pgc_proc_release(&p);
	s->freeze_ns = pgc_now_ns() - t0;
	if (err) {
		if (s->child)
			(void)pgc_snapshot_drop(s);
		pgc_seccomp_free(&s->filters);
		return err;
	}
	open_cost(s);
	pgc_snapshot_name(s);
	pr_info("snapshot: PID %d was stopped for %.3f ms; its child %d holds the snapshot",
		(int)s->src, (double)s->freeze_ns / 1e6, (int)s->child);
	return 0;
}

/* A "Key:   N kB" line of a /proc file read on @fd, in bytes; 0 if absent. */
uint64_t pgc_proc_kb(int fd, const char *key)
{
	char buf[4096], *p;
	ssize_t n;
	unsigned long long kb = 0;
	size_t klen = strlen(key);

	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (p = buf; p; p = strchr(p, '\n')) {
		p += *p == '\n';
		if (!strncmp(p, key, klen) && sscanf(p + klen, "%llu", &kb) == 1)
			return kb * 1024;
	}
	return 0;
}

/*
 * What the snapshot costs by now: the pages only it still maps (the
 * source rewrote or dropped its copy: copy-on-write made two), and its
 * page tables.  Everything else it shares with the source.
 */
static void report_cost(struct pgc_snapshot *s)
{
	uint64_t priv = pgc_proc_kb(s->rollup, "Private_Clean:") +
			pgc_proc_kb(s->rollup, "Private_Dirty:");
	uint64_t pte = pgc_proc_kb(s->status, "VmPTE:");

	pr_info("snapshot: at its end it held %.1f MiB the source had rewritten since, and %.1f MiB of page tables",
		(double)priv / (1 << 20), (double)pte / (1 << 20));
}

/*
 * Begin remote syscalls in the re-seized source.  Inside the caller's
 * sandbox its seccomp filters cannot be read again (the kernel refuses
 * PTRACE_SECCOMP_GET_FILTER to a confined tracer), but the ones read at
 * the freeze still hold if the same thread has the same number of them:
 * filters can be added, never removed or changed.
 */
static int begin_reap(struct pgc_snapshot *s, struct pgc_remote *r,
		      struct pgc_proc *p)
{
	bool quiet = pgc_log_hush(true);
	int err = pgc_remote_begin(r, p);

	pgc_log_hush(quiet);
	if (err)
		return err;
	if (r->filters.unreadable && r->tid == s->filters_tid &&
	    s->filters_count >= 0 &&
	    filter_count(s->src, r->tid) == s->filters_count) {
		pgc_seccomp_free(&r->filters);
		r->filters = s->filters;
		memset(&s->filters, 0, sizeof(s->filters));
	}
	return 0;
}

int pgc_snapshot_drop(struct pgc_snapshot *s)
{
	struct pgc_remote r;
	struct pgc_proc p;
	int err = 0, killed;

	if (s->by_kernel) {
		pgc_snapshot_drop_helper(s);
		goto out;
	}
	if (!s->child)
		goto out;
	report_cost(s);
	/* killed before the source stops: its page tables go while it runs */
	killed = kill_child(s, NULL);
	err = pgc_proc_seize(&p, s->src);
	if (err) {
		/* the source is gone: the child went to init, which reaps it */
		if (killed == -EPERM)
			pr_warn("PID %d is gone; its snapshot child %d is left to init",
				(int)s->src, (int)s->child);
		err = 0;
		goto out;
	}
	err = begin_reap(s, &r, &p);
	if (!err) {
		if (killed == -EPERM)
			killed = kill_child(s, &r);
		err = killed && killed != -ECHILD ? killed : reap_child(s, &r);
		if (pgc_remote_end(&r) && !err)
			err = -ESRCH;
	}
	pgc_proc_release(&p);
	if (err == -ESRCH) {
		err = 0;	/* it exited meanwhile: init reaps the child */
	} else if (err) {
		err = pgc_fail(-EIO, "PID %d could not reap its snapshot child %d: a zombie with exit signal 0 is left until it exits or waits with __WALL",
			       (int)s->src, (int)s->child);
	}
out:
	if (s->rollup >= 0)
		close(s->rollup);
	if (s->status >= 0)
		close(s->status);
	s->rollup = s->status = -1;
	pgc_seccomp_free(&s->filters);
	s->child = 0;
	return err;
}
