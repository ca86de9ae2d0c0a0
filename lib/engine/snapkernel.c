// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * snapkernel.c - a snapshot the kernel makes (issue 14), where it has
 * process_vm_mmap(2): the planned ranges of the source are cloned, page
 * tables only, into a helper process of ours while the source is frozen,
 * and the dump reads them from the helper while the source runs on.
 *
 * Nothing runs in the source: no injected clone(2), no wait4(2), so no
 * seccomp filter of the source can forbid it and no child of the source
 * ever exists.  The helper is a child of ours that only waits to be
 * killed; PR_SET_PDEATHSIG kills it with us, so a SIGKILL of pgclone
 * leaves nothing behind at all.  The freeze lasts as long as the calls,
 * which copy page tables as fork() does: it keeps the maps the dump
 * planned from still until the copy holds them, and makes the copies of
 * several ranges one instant.
 *
 * The kernel places each copy where the helper has room, so a range is
 * read at another address than the source's: @shift says where.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot.h"
#include "uapi/process_vm_mmap.h"

static int helper_open(pid_t pid, const char *what)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	return pgc_proc_open(path, O_RDONLY | O_CLOEXEC);
}

bool pgc_snapshot_by_kernel(enum pgclone_engine engine)
{
	return engine != PGCLONE_ENGINE_COPY && pgc_kernel_syscall_nr() > 0;
}

int pgc_snapshot_helper(struct pgc_snapshot *s, pid_t src)
{
	pid_t parent = getpid(), child;

	memset(s, 0, sizeof(*s));
	s->src = src;
	s->rollup = s->status = -1;
	s->filters_count = -1;
	s->pidfd = -1;
	s->by_kernel = true;
	child = fork();
	if (child < 0)
		return pgc_fail(-ENOMEM, "cannot fork a helper to hold the snapshot: %s",
				strerror(errno));
	if (!child) {
		sigset_t all;

		/*
		 * Async-signal-safe calls only: the caller may have threads.
		 * It runs none of the caller's signal handlers, holds none of
		 * its files (a pipe it writes to ends when it closes it), and
		 * ends only by SIGKILL: ours, or the kernel's when we die.
		 */
		sigfillset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		syscall(SYS_close_range, 0U, ~0U, 0U);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		for (;;)
			pause();
	}
	s->child = child;
	s->pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	if (s->pidfd < 0) {
		int err = -errno;

		(void)pgc_snapshot_drop(s);
		return pgc_fail(err, "cannot open a pidfd of the snapshot helper: %s",
				strerror(-err));
	}
	/* for -v at the end: what it holds, less the page tables it had */
	s->rollup = helper_open(child, "smaps");
	s->status = helper_open(child, "status");
	s->pte_before = pgc_proc_kb(s->status, "VmPTE:");
	return 0;
}

/* What process_vm_mmap(2) said, as one line naming the range. */
static int map_error(int err, const struct pgc_plan *plan, uint64_t start,
		     uint64_t end)
{
	const char *why;

	switch (err) {
	case ENOMEM:
		why = "there is no room or memory for it";
		break;
	case EPERM:
	case EACCES:
		why = "permission denied";
		break;
	case EINTR:
		return pgc_fail(-EINTR, "interrupted");
	case ESRCH:
		return pgc_fail(-ESRCH, "PID %d exited while pgclone was working on it",
				(int)plan->src_pid);
	default:
		why = strerror(err);
		break;
	}
	return pgc_fail(err == ENOMEM ? -ENOMEM : err == EPERM || err == EACCES ?
			-EPERM : -EIO,
			"the kernel would not copy 0x%llx-0x%llx of PID %d for a snapshot: %s; dump it with --engine copy",
			(unsigned long long)start, (unsigned long long)end,
			(int)plan->src_pid, why);
}

int pgc_snapshot_map(struct pgc_snapshot *s, const struct pgc_request *req,
		     const struct pgc_plan *plan)
{
	long nr = pgc_kernel_syscall_nr();
	int err = 0;

	if (req->src_pin < 0)	/* the pidfd of the source the check allowed */
		return pgc_fail(-EINVAL, "no pidfd of PID %d", (int)plan->src_pid);
	s->shift = calloc(plan->n ? plan->n : 1, sizeof(*s->shift));
	s->runs = calloc(plan->n ? plan->n : 1, sizeof(*s->runs));
	if (!s->shift || !s->runs)
		return -ENOMEM;
	/* one call per run of adjacent ranges: the kernel keeps each VMA */
	for (size_t i = 0, j; !err && i < plan->n; i = j) {
		uint64_t start = plan->r[i].map.start, end;
		long at;

		for (j = i + 1; j < plan->n &&
		     plan->r[j].map.start == plan->r[j - 1].map.end; j++)
			;
		end = plan->r[j - 1].map.end;
		pgc_priv_raise(PGC_CAPS_PROC);
		at = syscall(nr, req->src_pin, start, end - start, s->pidfd, 0UL, 0U);
		if (at == -1)
			err = map_error(errno, plan, start, end);
		pgc_priv_lower();
		for (size_t k = i; !err && k < j; k++)
			s->shift[k] = (int64_t)((uint64_t)at - start);
		if (!err) {
			s->runs[s->n_runs].start = (uint64_t)at;
			s->runs[s->n_runs++].end = (uint64_t)at + (end - start);
			err = pgc_step(req, "snapshot-mapped");
		}
	}
	return err;
}

static bool held(const struct pgc_snapshot *s, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < s->n_runs; i++)
		if (start >= s->runs[i].start && end <= s->runs[i].end)
			return true;
	return false;
}

/*
 * What the snapshot costs by now: the pages of the copies only the helper
 * still maps (the source rewrote or dropped its own: copy-on-write made
 * two), and the page tables it gained.  The helper is a fork of ours:
 * its own pages are not counted.
 */
static void report_kernel_cost(const struct pgc_snapshot *s)
{
	uint64_t priv = 0, start = 0, end = 0;
	char line[512];
	bool in = false;
	FILE *f = NULL;
	int fd = s->rollup >= 0 ? dup(s->rollup) : -1;

	if (fd >= 0 && lseek(fd, 0, SEEK_SET) == 0)
		f = fdopen(fd, "re");
	if (!f && fd >= 0)
		close(fd);
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long kb;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &start, &end) == 2)
			in = held(s, start, end);
		else if (in && (sscanf(line, "Private_Clean: %llu kB", &kb) == 1 ||
				sscanf(line, "Private_Dirty: %llu kB", &kb) == 1))
			priv += kb * 1024;
	}
	if (f)
		fclose(f);
	pr_info("snapshot: at its end it held %.1f MiB the source had rewritten since, and %.1f MiB of page tables",
		(double)priv / (1 << 20),
		(double)(pgc_proc_kb(s->status, "VmPTE:") - s->pte_before) / (1 << 20));
}

void pgc_snapshot_drop_helper(struct pgc_snapshot *s)
{
	if (s->child) {
		if (s->n_runs)
			report_kernel_cost(s);
		kill(s->child, SIGKILL);
		while (waitpid(s->child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->pidfd = -1;
	free(s->shift);
	free(s->runs);
	s->shift = NULL;
	s->runs = NULL;
	s->n_runs = 0;
}
