// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * seize.c - freeze all threads of a process with PTRACE_SEIZE and
 * PTRACE_INTERRUPT, and let them go again.
 *
 * PTRACE_SEIZE (not ATTACH) sends no SIGSTOP, so job control state is not
 * disturbed, and an already stopped process stays stopped after detach.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inject.h"

/* A thread drowning in signals must not keep us from freezing it. */
#define MAX_REDELIVER 64
#define MAX_PASSES 64
#define SEIZE_RETRIES 3	/* EPERM while a previous tracer lets go */

int pgc_wait_tid(pid_t tid, int *status)
{
	for (;;) {
		pid_t w = waitpid(tid, status, __WALL);

		if (w == tid)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		return -ESRCH;
	}
}

/* A thread we hold; one that exited may have left its tid to a new thread. */
static bool has_task(const struct pgc_proc *p, pid_t tid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->t[i].tid == tid && !p->t[i].exited)
			return true;
	return false;
}

/* What seize_one() found when it could not seize a thread. */
#define THREAD_GONE 1

/*
 * Has thread @tid of @pid exited, or is it exiting?  The kernel refuses to
 * attach to a thread whose exit has gone past the point of no return
 * (EPERM) and forgets one that has been reaped (ESRCH); in a process that
 * creates and joins threads all the time, that is every freeze.
 */
static bool thread_gone(pid_t pid, pid_t tid, struct pgc_status *st)
{
	return pgc_status_read(pid, tid, st) || st->state == 'Z' ||
	       st->state == 'X';
}

/* @tracer: whoever traces the thread we could not seize, or 0. */
static int seize_error(pid_t pid, pid_t tid, int err, pid_t tracer)
{
	if (err == EPERM && tracer) {
		char path[32], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)tracer);
		f = fopen(path, "re");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		comm[strcspn(comm, "\n")] = '\0';
		if (!strcmp(comm, "pgclone"))
			return pgc_fail(-EBUSY, "PID %d is already traced by PID %d, another pgclone working on it: try again when it is done",
					(int)pid, (int)tracer);
		return pgc_fail(-EBUSY, "PID %d is already traced by PID %d (%s)",
				(int)pid, (int)tracer, comm[0] ? comm : "?");
	}
	if (err == EPERM || err == EACCES)
		return pgc_priv_explain(pid);
	return pgc_fail(-EIO, "cannot seize thread %d of PID %d: %s", (int)tid,
			(int)pid, strerror(err));
}

/*
 * Interrupt a freshly seized thread and wait until it sits in a stop.
 * A group stop (SIGSTOP and friends) that lands now is noted in
 * *group_stop, so the process is stopped again when we let it go.
 */
static int stop_task(struct pgc_task *t, bool *group_stop)
{
	int status, n = 0;

	if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0))
		return -errno;
	for (;;) {
		if (pgc_wait_tid(t->tid, &status))
			return -ESRCH;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			t->exited = true;
			return 0;
		}
		if (!WIFSTOPPED(status))
			continue;
		if (status >> 16 == PTRACE_EVENT_STOP) {
			/* interrupt stops report SIGTRAP, group stops the signal */
			if (WSTOPSIG(status) != SIGTRAP)
				*group_stop = true;
			return 0;
		}
		/*
		 * A signal-delivery stop came first: deliver the signal as it
		 * would have been without us and wait for the interrupt.
		 */
		if (++n > MAX_REDELIVER)
			return -EAGAIN;
		if (ptrace(PTRACE_CONT, t->tid, 0,
			   (void *)(long)(status >> 16 ? 0 : WSTOPSIG(status))))
			return -errno;
	}
}

/*
 * PTRACE_SEIZE one thread: 0, THREAD_GONE for a thread that exited or is
 * exiting (skipped: it runs no more code that could touch memory), or an
 * error.  Only a tracer of that very thread, other than us, is reported as
 * one: the leader's TracerPid is pgclone's own once the leader is seized.
 * EPERM from a live thread that nobody traces by the time we look is
 * retried: another pgclone that held it has just let go (seen under TCG,
 * where that window is wide), and "the kernel refused" would be wrong.
 */
static int seize_one(pid_t pid, pid_t tid)
{
	struct pgc_status st;
	int ret, err;

	for (int tries = 0;; tries++) {
		pgc_priv_raise(PGC_CAP_SYS_PTRACE);
		ret = (int)ptrace(PTRACE_SEIZE, tid, 0, (void *)PTRACE_O_TRACESYSGOOD);
		err = errno;
		pgc_priv_lower();
		if (!ret)
			return 0;
		if (err == ESRCH)
			return THREAD_GONE;
		if (err != EPERM)
			return seize_error(pid, tid, err, 0);
		if (thread_gone(pid, tid, &st))
			return THREAD_GONE;
		if (st.tracer && st.tracer != getpid())
			return seize_error(pid, tid, err, st.tracer);
		if (tries == SEIZE_RETRIES)
			return seize_error(pid, tid, err, 0);
		usleep(1000);
	}
}

static int seize_new_threads(struct pgc_proc *p, bool *found)
{
	struct pgc_status st;
	char path[64];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	*found = false;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)p->pid);
	d = opendir(path);
	if (!d)
		return p->n ? 0 : pgc_fail(-ESRCH, "no process with PID %d",
					   (int)p->pid);
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		struct pgc_task *t;

		if (tid <= 0 || has_task(p, tid))
			continue;
		ret = seize_one(p->pid, tid);
		if (ret == THREAD_GONE) {
			ret = 0;
			continue;
		}
		if (ret)
			break;
		t = realloc(p->t, (p->n + 1) * sizeof(*t));
		if (!t) {
			ptrace(PTRACE_DETACH, tid, 0, 0);
			ret = -ENOMEM;
			break;
		}
		p->t = t;
		t = &p->t[p->n++];
		t->tid = tid;
		t->exited = false;
		*found = true;
		ret = stop_task(t, &p->stopped_before);
		if (ret == -ESRCH && thread_gone(p->pid, tid, &st)) {
			t->exited = true;	/* it exited between seize and stop */
			ret = 0;
		}
		if (ret) {
			ret = pgc_fail(ret == -ESRCH ? -ESRCH : -EIO,
				       "cannot stop thread %d of PID %d",
				       (int)tid, (int)p->pid);
			break;
		}
	}
	closedir(d);
	return ret;
}

static size_t live_tasks(const struct pgc_proc *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += !p->t[i].exited;
	return n;
}

int pgc_proc_check(pid_t pid, struct pgc_status *st)
{
	if (pgc_status_read(pid, 0, st))
		return pgc_fail(-ESRCH, "no process with PID %d", (int)pid);
	if (st->kthread)
		return pgc_fail(-EINVAL, "PID %d is a kernel thread", (int)pid);
	if (st->state == 'Z' || st->state == 'X')
		return pgc_fail(-ESRCH, "PID %d is a zombie", (int)pid);
	if (st->tgid != pid)
		return pgc_fail(-EINVAL, "%d is a thread ID, not a process ID (its process is %d)",
				(int)pid, (int)st->tgid);
	return 0;
}

int pgc_proc_seize(struct pgc_proc *p, pid_t pid)
{
	struct pgc_status st;
	bool found = true;
	int ret;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	ret = pgc_proc_check(pid, &st);
	if (ret)
		return ret;
	p->stopped_before = st.state == 'T';

	/* Threads may be created while we seize; stopped ones cannot. */
	for (int pass = 0; found && pass < MAX_PASSES; pass++) {
		ret = seize_new_threads(p, &found);
		if (ret) {
			pgc_proc_release(p);
			return ret;
		}
	}
	if (found) {
		pgc_proc_release(p);
		return pgc_fail(-EIO, "PID %d keeps creating threads", (int)pid);
	}
	if (!live_tasks(p)) {
		pgc_proc_release(p);
		return pgc_fail(-ESRCH, "PID %d exited while pgclone was working on it",
				(int)pid);
	}
	pr_debug("froze %zu thread(s) of PID %d", p->n, (int)pid);
	return 0;
}

void pgc_proc_release(struct pgc_proc *p)
{
	/*
	 * A process that was in a group stop goes back into it on detach
	 * (__ptrace_unlink() sets JOBCTL_STOP_PENDING).  A SIGSTOP swallowed
	 * while a thread ran syscalls for us is handed back to that thread
	 * with the detach: it sits in a syscall-exit stop, from which the
	 * kernel sends the detach signal to the thread itself.  No kill(),
	 * so no CAP_KILL for another user's process.  A SIGTRAP sent to the
	 * thread that a batch's trap dequeued with its own (inject/batch.c)
	 * goes back the same way, from the trap's signal-delivery stop, with
	 * its siginfo; that thread's SIGSTOP, if it also swallowed one, is
	 * the one case this cannot hand back both of.
	 */
	for (size_t i = 0; i < p->n; i++) {
		pid_t tid = p->t[i].tid;
		int sig = tid == p->retrap_tid ? SIGTRAP :
			  tid == p->restop_tid ? SIGSTOP : 0;

		if (!p->t[i].exited)
			ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig);
	}
	free(p->t);
	p->t = NULL;
	p->n = 0;
}
