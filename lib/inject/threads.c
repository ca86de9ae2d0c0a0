// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * threads.c - what each thread of a process keeps in that process's
 * memory and dies without: the page its stack pointer is in, the rseq
 * area it registered with rseq(2) (the kernel writes it whenever the
 * thread runs), its TLS (fs_base: libc reaches everything per-thread
 * through it) and the robust-futex list head it gave set_robust_list(2)
 * (the kernel walks it when the thread exits).  --replace over any of
 * these kills the thread, so it is refused unless forced (plan.c).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inject.h"

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif

/* linux/ptrace.h's, which glibc's sys/ptrace.h cannot be mixed with */
struct rseq_configuration {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

static int push(struct pgc_thread_areas *list, pid_t tid,
		enum pgc_thread_area_kind kind, uint64_t addr, uint64_t len)
{
	struct pgc_thread_area *a;

	if (!addr)
		return 0;
	a = realloc(list->a, (list->n + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	list->a = a;
	list->a[list->n++] = (struct pgc_thread_area){ tid, kind, addr, len };
	return 0;
}

/* One stopped thread: registers, rseq configuration, robust list. */
static int read_thread(pid_t tid, struct pgc_thread_areas *list)
{
	struct rseq_configuration rseq;
	struct pgc_regs regs;
	void *head = NULL;
	size_t len = 0;
	int err;

	err = pgc_arch_get_regs(tid, &regs);
	if (err == -ESRCH)
		return 0;	/* it exited while frozen: it holds nothing now */
	if (err)
		return pgc_fail(-EIO, "cannot read the registers of thread %d: %s",
				(int)tid, strerror(-err));
	err = push(list, tid, PGC_AREA_STACK, pgc_arch_sp(&regs), 1);
	if (!err)
		err = push(list, tid, PGC_AREA_TLS, pgc_arch_tls(&regs), 1);
	/* since 5.13; an older kernel cannot say, and nothing is pushed */
	memset(&rseq, 0, sizeof(rseq));
	if (!err && ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rseq), &rseq) > 0)
		err = push(list, tid, PGC_AREA_RSEQ, rseq.rseq_abi_pointer,
			   rseq.rseq_abi_size ? rseq.rseq_abi_size : 1);
	pgc_priv_raise(PGC_CAP_SYS_PTRACE);
	if (!err && !syscall(SYS_get_robust_list, (long)tid, &head, &len))
		err = push(list, tid, PGC_AREA_ROBUST, (uint64_t)head, len ? len : 1);
	pgc_priv_lower();
	return err;
}

int pgc_thread_areas_read(const struct pgc_proc *p, struct pgc_thread_areas *list)
{
	int err = 0;

	memset(list, 0, sizeof(*list));
	list->pid = p->pid;
	for (size_t i = 0; !err && i < p->n; i++)
		if (!p->t[i].exited)
			err = read_thread(p->t[i].tid, list);
	if (err)
		pgc_thread_areas_free(list);
	return err;
}

void pgc_thread_areas_free(struct pgc_thread_areas *list)
{
	free(list->a);
	list->a = NULL;
	list->n = 0;
}

int pgc_replace_check_threads(const struct pgc_proc *p,
			      const struct pgc_plan *plan, bool force)
{
	struct pgc_thread_areas list;
	int err = pgc_thread_areas_read(p, &list);

	if (!err)
		err = pgc_plan_check_threads(plan, &list, force);
	pgc_thread_areas_free(&list);
	return err;
}

int pgc_replace_check_pid(pid_t pid, const struct pgc_plan *plan, bool force)
{
	struct pgc_proc p;
	int err = pgc_proc_seize(&p, pid);

	if (!err)
		err = pgc_replace_check_threads(&p, plan, force);
	pgc_proc_release(&p);
	return err;
}
