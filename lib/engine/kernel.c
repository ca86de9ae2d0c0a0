// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kernel.c - the kernel engine: one process_vm_mmap(2) call copies the
 * page tables of the whole range, like fork() does, under both mmap locks.
 * No ptrace at all: both processes are named by pidfds.
 *
 * The call has a fixed number, __NR_process_vm_mmap (472 on x86-64, the
 * next free one in mainline's tables when the series was posted).  Until
 * the series is merged that number may belong to another syscall in some
 * later kernel, so it is called only on a kernel that has the call: one
 * whose symbol table lists its entry point (/proc/kallsyms shows symbol
 * names to everyone), confirmed by a probe with no valid flag, which the
 * call refuses with EINVAL before it looks at anything else.  A kernel
 * without the series never sees the number; a kernel with the series but
 * without KALLSYMS gets the copy engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "uapi/process_vm_mmap.h"

#ifdef PVM_MMAP_ENTRY
/* Whether the running kernel's symbol table has @sym. */
static int kernel_has_symbol(const char *sym)
{
	char line[512];
	size_t n = strlen(sym);
	int found = 0;
	FILE *f = fopen("/proc/kallsyms", "re");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		/* "ADDRESS TYPE NAME[\t[MODULE]]" */
		char *name = strchr(line, ' ');

		name = name ? strchr(name + 1, ' ') : NULL;
		found = name && !strncmp(name + 1, sym, n) &&
			(name[1 + n] == '\n' || name[1 + n] == '\t');
	}
	fclose(f);
	return found;
}

static long find_syscall(void)
{
	int saved = errno;
	long nr = -ENOSYS;

	/* no valid flag: the call refuses that first, with EINVAL */
	if (kernel_has_symbol(PVM_MMAP_ENTRY) &&
	    syscall(__NR_process_vm_mmap, -1, 0UL, 0UL, -1, 0UL, ~0U) == -1 &&
	    errno == EINVAL)
		nr = __NR_process_vm_mmap;
	errno = saved;
	return nr;
}
#else
static long find_syscall(void)
{
	return -ENOSYS;		/* not wired up on this architecture */
}
#endif

/* __NR_process_vm_mmap if this kernel has the call, else -ENOSYS. */
long pgc_kernel_syscall_nr(void)
{
	static long cached;	/* 0: not looked yet; threads may race to */
	long nr = __atomic_load_n(&cached, __ATOMIC_RELAXED);

	if (!nr) {
		nr = find_syscall();
		__atomic_store_n(&cached, nr, __ATOMIC_RELAXED);
	}
	return nr;
}

static int kernel_error(int err, const struct pgc_plan *plan)
{
	switch (err) {
	case EEXIST:
		return pgc_fail(-EEXIST, "destination 0x%llx-0x%llx in PID %d is not free",
				(unsigned long long)plan->dst,
				(unsigned long long)(plan->dst + plan->len),
				(int)plan->dst_pid);
	case EPERM:
	case EACCES: {
		char why[160];
		pid_t pid = plan->src_pid;

		/* name the process the kernel would not let us attach to */
		pgc_ptrace_denied_reason(pid, why, sizeof(why));
		if (!strncmp(why, "the kernel refused", 18)) {
			pid = plan->dst_pid;
			pgc_ptrace_denied_reason(pid, why, sizeof(why));
		}
		return pgc_fail(-EPERM, "not permitted to ptrace PID %d: %s", (int)pid, why);
	}
	case ESRCH:
		return pgc_fail(-ESRCH, "a process exited during the clone");
	case ENOMEM:
		return pgc_fail(-ENOMEM, "PID %d has no room for 0x%llx bytes more",
				(int)plan->dst_pid, (unsigned long long)plan->len);
	case EFAULT:
		/* planned against /proc a moment ago: a race, not bad input */
		return pgc_fail(-EIO, "the source range changed during the clone");
	case EOPNOTSUPP:
	case EINVAL:
		return pgc_fail(err == EINVAL ? -EINVAL : -EOPNOTSUPP,
				"process_vm_mmap refused the range: %s", strerror(err));
	default:
		return pgc_fail(-EIO, "process_vm_mmap failed: %s", strerror(err));
	}
}

/*
 * process_vm_mmap(2) gives the destination the source's files and shared
 * memory without asking whether the destination could open them itself;
 * the copy engine asks the frozen destination (engine/access.c), this
 * engine has nobody to ask.  A destination that may ptrace the source
 * could take them anyway; any other is refused them here, and --engine
 * auto uses the copy engine for it (api.c).
 */
static int objects_reachable(const struct pgc_request *req,
			     const struct pgc_plan *plan)
{
	if (pgc_priv_may_reach(req->dst_pid, req->src_pid))
		return 0;
	for (size_t i = 0; i < plan->n; i++) {
		const struct pgclone_range *r = &plan->r[i];

		if (r->map.kind == PGCLONE_KIND_ANON_PRIVATE)
			continue;
		return pgc_fail(-EPERM, "PID %d may not ptrace PID %d, and process_vm_mmap(2) cannot ask it whether it could open %s of 0x%llx-0x%llx itself: not giving it the mapping (--engine copy asks it)",
				(int)req->dst_pid, (int)req->src_pid,
				r->map.name && r->map.name[0] ? r->map.name :
				pgclone_kind_name(r->map.kind),
				(unsigned long long)r->map.start,
				(unsigned long long)r->map.end);
	}
	return 0;
}

static int count_pages(struct pgc_plan *plan)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)plan->src_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* counters only: not worth failing for */
	for (size_t i = 0; !err && i < plan->n; i++) {
		struct pgclone_range *r = &plan->r[i];
		struct pgc_runs runs = { 0 };

		err = pgc_pagemap_scan(fd, r->map.start, r->map.end - r->map.start,
				       r->map.kind, &runs);
		r->pages_present = runs.pages_present;
		r->pages_shared = runs.pages_present;
		pgc_runs_free(&runs);
	}
	close(fd);
	return err;
}

int pgc_kernel_engine_clone(const struct pgc_request *req,
			    struct pgclone_result *res)
{
	long nr = pgc_kernel_syscall_nr(), ret;
	struct pgc_vma_list src_maps, dst_maps;
	struct pgc_plan plan;
	struct pgc_phases ph;
	uint64_t elapsed;
	unsigned int flags = 0;
	bool committed = false;
	int spidfd = -1, dpidfd = -1, err;

	pgc_phases_start(&ph);
	/*
	 * Pin both processes first: a PID reused after this names another
	 * pidfd, so what is planned from /proc below is what gets cloned.
	 */
	{
		struct pgc_status st;

		err = pgc_proc_check(req->src_pid, &st);
		if (!err && req->dst_pid != req->src_pid)
			err = pgc_proc_check(req->dst_pid, &st);
		if (err)
			return err;
	}
	spidfd = (int)syscall(SYS_pidfd_open, req->src_pid, 0);
	dpidfd = (int)syscall(SYS_pidfd_open, req->dst_pid, 0);
	if (spidfd < 0 || dpidfd < 0) {
		err = pgc_fail(-ESRCH, "no process with PID %d",
			       spidfd < 0 ? (int)req->src_pid : (int)req->dst_pid);
		goto close;
	}
	err = pgc_maps_read(req->src_pid, &src_maps);
	if (err)
		goto close;
	err = req->flags & PGCLONE_DST_AUTO ?	/* dst 0: the kernel picks */
	      pgc_plan_build_auto(&plan, req->src_pid, &src_maps, req->src,
				  req->len, req->dst_pid) :
	      pgc_plan_build(&plan, req->src_pid, &src_maps, req->src, req->len,
			     req->dst_pid, req->dst);
	plan.src_maps = src_maps;
	if (!err && !(req->flags & PGCLONE_DST_AUTO)) {
		err = pgc_maps_read(req->dst_pid, &dst_maps);
		if (!err) {
			err = pgc_plan_check_dst(&plan, &dst_maps,
						 req->flags & PGCLONE_REPLACE);
			pgc_maps_free(&dst_maps);
			if (!err && (req->flags & PGCLONE_REPLACE))
				err = pgc_replace_check_pid(req->dst_pid, &plan,
							    req->flags & PGCLONE_FORCE);
		}
	}
	if (!err)
		err = objects_reachable(req, &plan);
	if (!err) {
		pgc_phase_end(&ph, "plan");
		err = count_pages(&plan);
	}
	if (!err)
		pgc_phase_end(&ph, "scan");
	if (err || (req->flags & PGCLONE_DRY_RUN))
		goto out;
	if (pgc_cancelled(req, 0, plan.len)) {
		err = pgc_fail(-EINTR, "interrupted");
		goto out;
	}
	err = pgc_ready(req);
	if (err)
		goto out;

	if (req->flags & PGCLONE_REPLACE)
		flags |= PVM_MMAP_FIXED;
	if (req->flags & PGCLONE_MOVE)
		flags |= PVM_MMAP_MOVE;
	ret = syscall(nr, spidfd, plan.src, plan.len, dpidfd, plan.dst, flags);
	if (ret < 0)
		err = kernel_error(errno, &plan);
	else if ((req->flags & PGCLONE_DST_AUTO) && pgc_plan_set_dst(&plan, (uint64_t)ret))
		err = -EIO;	/* an address no user range can have */
	else if ((uint64_t)ret != plan.dst)
		err = pgc_fail(-EIO, "process_vm_mmap mapped at 0x%lx, not 0x%llx",
			       ret, (unsigned long long)plan.dst);
	else	/* the commit point: see pgc_request_finish() */
		committed = true;
	if (!err)
		pgc_phase_end(&ph, "map");
	if (committed)
		err = pgc_fault_point("committed");
	pgc_cancelled(req, plan.len, plan.len);
out:
	err = pgc_request_finish(res, &plan, committed, false, err,
				 "a step after the commit failed");
	elapsed = pgc_phases_elapsed(&ph);
	if (!err || committed) {
		res->engine = PGCLONE_ENGINE_KERNEL;
		res->elapsed_ns = elapsed;
	}
	pgc_plan_free(&plan);
close:
	if (spidfd >= 0)
		close(spidfd);
	if (dpidfd >= 0)
		close(dpidfd);
	return err;
}
