// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * snapname.c - who the snapshot child is: its PID in pgclone's own PID
 * namespace, its name (pgclone:snap), and the zombies of earlier
 * snapshots that a SIGKILL of pgclone left, which the next snapshot of
 * the same source reaps (snapshot.c).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot.h"

/*
 * The snapshot's name (comm): what ps shows, and how the next snapshot of
 * the source knows a zombie that a SIGKILL of pgclone left behind.
 */
#define SNAP_COMM "pgclone:snap"

/*
 * The last "NSpid:" of @pid: its number in its own namespace, or -1.  A
 * kernel without CONFIG_PID_NS has one namespace and no such line: the
 * number is the same everywhere.
 */
static long innermost_pid(pid_t pid)
{
	char path[64], line[256];
	long n = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 6, *end;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
			n = v;
			p = end;
		}
		break;
	}
	fclose(f);
	return n;
}

/*
 * clone() returned the child's PID as the source sees it.  In another PID
 * namespace (a container) that is not ours: look among the children of
 * the thread that ran it (CONFIG_PROC_CHILDREN) for the one it names.
 */
pid_t pgc_snapshot_our_pid(pid_t src, pid_t tid, long theirs)
{
	char path[80];
	long kid;
	FILE *f;

	if (pgc_same_pidns(getpid(), src) == 1)
		return (pid_t)theirs;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)src, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fscanf(f, "%ld", &kid) == 1)
		if (innermost_pid((pid_t)kid) == theirs)
			break;
	if (ferror(f) || feof(f))
		kid = 0;
	fclose(f);
	return (pid_t)kid;
}

/*
 * Name the child SNAP_COMM: it runs prctl(PR_SET_NAME) for us, on a page
 * it maps for the name and unmaps again, so the snapshot's memory is
 * unchanged.  Best effort (a seccomp filter may forbid it): a child left
 * unnamed is only not recognised as a leftover later.  The source runs
 * meanwhile; none of this is its.
 */
void pgc_snapshot_name(const struct pgc_snapshot *s)
{
	struct pgc_task task = { .tid = s->child };
	struct pgc_proc child = { .pid = s->child, .t = &task, .n = 1 };
	bool quiet = pgc_log_hush(true), had_error = pgc_has_error();
	struct pgc_remote r;
	long addr = -1, ret = -1;
	char path[64];
	int fd;

	if (pgc_remote_begin(&r, &child))
		goto out;
	if (pgc_remote_syscall(&r, &addr, SYS_mmap, 0, PGC_PAGE_SIZE, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0) ||
	    addr < 0 || addr >= (long)PGC_TASK_SIZE)
		goto end;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)s->child);
	fd = pgc_proc_open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		if (pwrite(fd, SNAP_COMM, sizeof(SNAP_COMM), (off_t)addr) ==
		    (ssize_t)sizeof(SNAP_COMM) &&
		    !pgc_remote_syscall(&r, &ret, SYS_prctl, PR_SET_NAME,
					(uint64_t)addr, 0, 0, 0, 0) && ret)
			ret = -1;
		close(fd);
	}
	if (pgc_remote_syscall(&r, &ret, SYS_munmap, (uint64_t)addr, PGC_PAGE_SIZE,
			       0, 0, 0, 0) || ret)
		pr_warn("the snapshot child %d keeps a page at 0x%lx", (int)s->child, addr);
end:
	pgc_remote_end(&r);
out:
	pgc_log_hush(quiet);
	if (!had_error)
		pgc_clear_error();
}

/* Is @pid a zombie snapshot of @src that a killed pgclone left? */
static bool is_leftover(pid_t src, pid_t pid)
{
	char path[64], buf[1024], *p, *save = NULL, *tok;
	long ppid = -1, exit_signal = -1;
	char state = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !strstr(buf, "(" SNAP_COMM ") "))
		return false;
	p = strrchr(buf, ')');
	if (!p)
		return false;
	/* fields 3 (state), 4 (ppid) and 38 (exit_signal), after the comm */
	tok = strtok_r(p + 1, " ", &save);
	for (int field = 3; tok; field++, tok = strtok_r(NULL, " ", &save)) {
		if (field == 3)
			state = tok[0];
		else if (field == 4)
			ppid = strtol(tok, NULL, 10);
		else if (field == 38)
			exit_signal = strtol(tok, NULL, 10);
	}
	return state == 'Z' && ppid == src && exit_signal == 0;
}

/*
 * The zombies of earlier snapshots, which a SIGKILL of pgclone left
 * (pgclone(1), SNAPSHOTS): found among the children of the source's
 * threads (CONFIG_PROC_CHILDREN) before it is stopped, checked again and
 * reaped while it is (then it cannot reap one itself, so its PID cannot
 * be reused in between).
 */
size_t pgc_snapshot_find_leftovers(pid_t src, pid_t *out, size_t max)
{
	char path[64];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)src);
	d = opendir(path);
	while (d && (de = readdir(d)) && n < max) {
		char kids[320];
		long kid;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(kids, sizeof(kids), "/proc/%d/task/%s/children", (int)src,
			 de->d_name);
		f = fopen(kids, "re");
		while (f && n < max && fscanf(f, "%ld", &kid) == 1)
			if (is_leftover(src, (pid_t)kid))
				out[n++] = (pid_t)kid;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

void pgc_snapshot_reap_leftovers(struct pgc_remote *r, const pid_t *pids,
				 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		long there = innermost_pid(pids[i]), ret;

		if (there <= 0 || !is_leftover(r->proc->pid, pids[i]) ||
		    pgc_remote_syscall(r, &ret, SYS_wait4, (uint64_t)there, 0,
				       PGC_SNAP_WAIT_FLAGS, 0, 0, 0))
			continue;
		if (ret == there)
			pr_info("reaped %d, a snapshot of PID %d that a killed pgclone left",
				(int)pids[i], (int)r->proc->pid);
	}
}
