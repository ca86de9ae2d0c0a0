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
	pid_t retrap_tid;	/* holds a dequeued SIGTRAP of its own: resend */
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

/* The batch executor of a remote session (batch.c). */
enum pgc_exec_state {
	PGC_EXEC_UNPLACED,	/* no room for it yet: one syscall per stop */
	PGC_EXEC_PLACED,	/* room given, set up on the first batch */
	PGC_EXEC_READY,
	PGC_EXEC_OFF,		/* cannot be used with this target */
};

struct pgc_exec {
	enum pgc_exec_state state;
	uint64_t at;		/* its code page, then its records */
	struct pgc_exec_rec *rec;	/* our copy of the records */
};

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
	int carry_sig;		/* a dequeued signal to hand back on resume */
	struct pgc_exec exec;
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

/*
 * batch.c: run many syscalls per ptrace stop.  The executor (arch.h)
 * lives in pgc_remote_exec_span() bytes at @at that the caller reserved
 * for it and unmaps itself after pgc_remote_exec_drop(); until it is
 * given room, and wherever it cannot run (see batch.c), a batch runs one
 * syscall per stop, with the same results.
 */
struct pgc_rop {
	long nr;
	uint64_t a[6];
	bool may_fail;		/* an error return does not stop the batch */
	long ret;		/* out: the syscall's return value */
};
uint64_t pgc_remote_exec_span(void);
void pgc_remote_exec_at(struct pgc_remote *r, uint64_t at);
/* Stop using the executor: its room is about to be unmapped. */
void pgc_remote_exec_drop(struct pgc_remote *r);
/*
 * Run @ops in order, stopping after the first that returns an error
 * (-4095..-1) unless it may fail.  *ran says how many ran, each with its
 * ret: all of them, or up to and including the one that failed.  Returns
 * 0, or what pgc_remote_syscall() returns when the syscalls could not be
 * run (-EACCES, -ESRCH, -EIO), with *ran counting those that did.
 */
int pgc_remote_batch(struct pgc_remote *r, struct pgc_rop *ops, size_t n,
		     size_t *ran) __must_check;

/* remote.c, for batch.c */
int pgc_mem_rw(pid_t pid, uint64_t addr, void *buf, size_t len, bool write);
int pgc_remote_set_sigmask(pid_t tid, uint64_t mask);
int pgc_remote_give_back(struct pgc_remote *r);
/* Fault-point builds: PGCLONE_FAULT_OP=N turns the Nth syscall of the
 * session (@nth) into one that fails (munmap(1, 1): -EINVAL). */
void pgc_remote_fault_op(unsigned long nth, long *nr, uint64_t args[6]);

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
