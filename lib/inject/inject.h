/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * inject.h - stop a process's threads with ptrace and run syscalls in it.
 *
 * Only ptrace stops are used: PTRACE_SEIZE + PTRACE_INTERRUPT to freeze,
 * and for a remote syscall the thread's ip is pointed at an existing
 * syscall instruction (in the vdso) and driven through its syscall-entry
 * and syscall-exit stops.  Nothing is ever written into the target's code.
 */
#ifndef PGCLONE_INJECT_H
#define PGCLONE_INJECT_H

#include <linux/filter.h>
#include <linux/seccomp.h>

#include "../pgcloneP.h"
#include "arch.h"

struct pgc_task {
	pid_t tid;
	bool exited;
};

/* A process whose threads pgclone holds stopped. */
struct pgc_proc {
	pid_t pid;
	struct pgc_task *t;
	size_t n;
	bool stopped_before;	/* it was in group stop (SIGSTOP) already */
	pid_t restop_tid;	/* swallowed a SIGSTOP in a syscall stop: resend */
};

/* Seize and stop every thread of @pid; threads created meanwhile too. */
int pgc_proc_seize(struct pgc_proc *p, pid_t pid) __must_check;
/* Detach from every thread; a process that was stopped stays stopped. */
void pgc_proc_release(struct pgc_proc *p);

/* The seccomp filters of one thread, as a list of cBPF programs. */
struct pgc_filters {
	struct sock_filter **prog;
	unsigned short *len;
	size_t n;
	int mode;		/* /proc status "Seccomp:" value */
	bool unreadable;	/* filtered but PTRACE_SECCOMP_GET_FILTER failed */
};

int pgc_seccomp_load(pid_t tid, int mode, struct pgc_filters *f);
void pgc_seccomp_free(struct pgc_filters *f);
/*
 * Run one classic BPF program on @d (seccomp semantics) and return its
 * verdict; a malformed program yields SECCOMP_RET_KILL_PROCESS.
 */
uint32_t pgc_bpf_run(const struct sock_filter *prog, size_t len,
		     const struct seccomp_data *d);
/* Would every filter let this syscall through (ALLOW or LOG)? */
bool pgc_seccomp_allows(const struct pgc_filters *f,
			const struct seccomp_data *d);
/* The action the filters would take for this exact call (number,
 * arguments, instruction pointer), as the kernel combines them. */
uint32_t pgc_seccomp_verdict(const struct pgc_filters *f,
			     const struct seccomp_data *d);
/* "KILL_PROCESS (...)", "ERRNO 13 (...)": a verdict for a message */
const char *pgc_seccomp_verdict_text(uint32_t verdict, char *buf, size_t len);

/* A thread borrowed for remote syscalls; registers put back on end. */
struct pgc_remote {
	struct pgc_proc *proc;
	pid_t tid;
	struct pgc_regs saved;
	uint64_t saved_sigmask;
	uint64_t gadget;	/* address of a syscall instruction */
	bool used;		/* registers were changed at least once */
	bool dead;		/* the task vanished under us */
	struct pgc_filters filters;
	/* -v: what the injection cost, printed by pgc_remote_end() */
	unsigned long nr_syscalls;	/* syscalls run in the target */
	unsigned long nr_stops;		/* ptrace stops waited for */
};

int pgc_remote_begin(struct pgc_remote *r, struct pgc_proc *p) __must_check;
/*
 * Run syscall @nr in the target.  Returns 0 and stores the syscall's own
 * return value (which may be -errno) in *ret, or a negative errno when the
 * syscall could not be run: -EACCES (the target's seccomp filter forbids
 * it), -ESRCH (the target died), -EIO (unexpected stop).
 */
int pgc_remote_syscall(struct pgc_remote *r, long *ret, long nr, uint64_t a0,
		       uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		       uint64_t a5) __must_check;
/* Put registers and signal mask back.  Returns 0 or -ESRCH. */
int pgc_remote_end(struct pgc_remote *r);

/* threads.c: what each stopped thread of @p keeps in its memory. */
int pgc_thread_areas_read(const struct pgc_proc *p,
			  struct pgc_thread_areas *list) __must_check;
void pgc_thread_areas_free(struct pgc_thread_areas *list);
/*
 * --replace: refuse to replace a range that holds a thread's stack
 * pointer, rseq area, TLS or robust-futex list (pgc_plan_check_threads),
 * reading the threads of @p, which pgclone holds stopped ...
 */
int pgc_replace_check_threads(const struct pgc_proc *p,
			      const struct pgc_plan *plan, bool force) __must_check;
/* ... or of @pid, stopped just for this (the kernel engine, dry runs). */
int pgc_replace_check_pid(pid_t pid, const struct pgc_plan *plan,
			  bool force) __must_check;

/* Wait for a stop of @tid, retrying on EINTR; returns the wait status. */
int pgc_wait_tid(pid_t tid, int *status);

#endif
