// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * batch.c - run many syscalls in a target per ptrace stop.
 *
 * One injected syscall costs two ptrace stops and a handful of register
 * and signal-mask calls; a clone of thousands of VMAs runs several per
 * VMA (issue 13).  Here a small executor (arch/<name>/exec.c) is copied
 * into a mapping of pgclone's own in the target, in room the caller set
 * aside away from the destination (never the target's own text), and
 * runs an array of records, one syscall each, written with one
 * process_vm_writev and read back with one process_vm_readv.  As CRIU's
 * parasite does, but for plain syscalls, with no code of our own that
 * could go wrong beyond a loop.
 *
 * What holds as for one syscall at a time (remote.c):
 *  - every syscall is checked up front against the target's seccomp
 *    filters, with the executor's own syscall address; a refusal there
 *    runs the records one per stop, where the check is made again;
 *  - every signal is blocked while it runs, so no handler runs on our
 *    registers; SIGSTOP is swallowed and handed back on release;
 *  - registers and mask go back after every batch;
 *  - the records stop at the first that fails (unless it may fail) and
 *    say which one it was, so the caller's undo covers those before it.
 *
 * The executor ends with a trap, whose SIGTRAP the kernel forces: it
 * unblocks SIGTRAP and resets a caught or ignored one to SIG_DFL.  So it
 * is only used where SIGTRAP is SIG_DFL already (then the reset changes
 * nothing) and not pending for the thread (the forced one would merge
 * with it).  One sent to the thread while the executor runs does merge:
 * the stop then shows its siginfo, and it is handed back (carry_sig).
 *
 * A SIGKILL of pgclone while the executor runs detaches the target in
 * it: it finishes the records and dies of the SIGTRAP (SECURITY.md).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "inject.h"

#define EXEC_RECORDS 4096	/* per stop: 256 KiB of records */
#define EXEC_CODE_LEN PGC_PAGE_SIZE
#define EXEC_RECS_LEN (EXEC_RECORDS * sizeof(struct pgc_exec_rec))
#define SIG_BIT(s) (1ULL << ((s) - 1))
#define MAX_STOPS 64		/* signals and late interrupts per batch */

uint64_t pgc_remote_exec_span(void)
{
	return EXEC_CODE_LEN + EXEC_RECS_LEN;
}

void pgc_remote_exec_at(struct pgc_remote *r, uint64_t at)
{
	if (r->exec.state != PGC_EXEC_UNPLACED)
		return;
	r->exec.at = at;
	r->exec.state = PGC_EXEC_PLACED;
}

void pgc_remote_exec_drop(struct pgc_remote *r)
{
	if (r->exec.state != PGC_EXEC_UNPLACED)
		r->exec.state = PGC_EXEC_OFF;
}

static bool exec_forced_off(void)
{
#ifdef PGCLONE_FAULT_POINTS
	const char *v = getenv("PGCLONE_FAULT_EXEC");

	return v && !strcmp(v, "off");
#else
	return false;
#endif
}

/* Can the executor's trap be taken without changing the target? */
static const char *trap_unsafe(struct pgc_remote *r)
{
	struct pgc_status st;

	if (pgc_status_read(r->proc->pid, r->tid, &st))
		return "its status cannot be read";
	if ((st.sig_ign | st.sig_cgt) & SIG_BIT(SIGTRAP))
		return "it catches or ignores SIGTRAP";
	if (st.sig_pnd & SIG_BIT(SIGTRAP))
		return "a SIGTRAP is pending for it";
	return NULL;
}

static int exec_mmap(struct pgc_remote *r, uint64_t at, uint64_t len, int prot)
{
	long ret;
	int err = pgc_remote_syscall(r, &ret, SYS_mmap, at, len, (uint64_t)prot,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				     (uint64_t)-1, 0);

	if (err)
		return err;
	return (uint64_t)ret == at ? 0 : 1;
}

/*
 * Set the executor up in its room: code (read-only, executable; written
 * through /proc/PID/mem, which may write it, so that no mapping is ever
 * writable and executable), then its records.  Returns 0 (ready or
 * off, by r->exec.state) or -ESRCH.
 */
static int exec_setup(struct pgc_remote *r)
{
	struct pgc_exec *x = &r->exec;
	const char *why = exec_forced_off() ? "it is forced off" : trap_unsafe(r);
	bool had_error = pgc_has_error();
	uint8_t code[EXEC_CODE_LEN];
	int err = 0;

	x->state = PGC_EXEC_OFF;
	if (!why) {
		x->rec = calloc(EXEC_RECORDS, sizeof(*x->rec));
		if (!x->rec)
			return -ENOMEM;
		memset(code, 0xcc, sizeof(code));	/* int3 all around */
		memcpy(code, pgc_arch_exec_code, pgc_arch_exec_len);
		err = exec_mmap(r, x->at, EXEC_CODE_LEN, PROT_READ | PROT_EXEC);
		if (!err && pgc_mem_rw(r->proc->pid, x->at, code, sizeof(code), true))
			err = 1;
		if (!err)
			err = exec_mmap(r, x->at + EXEC_CODE_LEN, EXEC_RECS_LEN,
					PROT_READ | PROT_WRITE);
		if (err == -ESRCH)
			return err;
		/* a refusal (seccomp, a security module, W^X) only costs time;
		 * what was mapped stays in the caller's room, unmapped with it */
		if (err)
			why = "its mappings could not be set up";
		if (!had_error)
			pgc_clear_error();
	}
	if (why) {
		pr_debug("PID %d runs pgclone's syscalls one per stop: %s",
			 (int)r->proc->pid, why);
		return 0;
	}
	x->state = PGC_EXEC_READY;
	return 0;
}

/* Would the target's filters let the executor make all of these? */
static bool filters_allow(struct pgc_remote *r, const struct pgc_rop *ops,
			  size_t n)
{
	struct seccomp_data sd = {
		.arch = pgc_arch_audit,
		.instruction_pointer = pgc_arch_syscall_seen_ip(r->exec.at +
							   pgc_arch_exec_syscall_off),
	};

	if (r->filters.unreadable)
		return false;
	for (size_t i = 0; i < n; i++) {
		sd.nr = (int)ops[i].nr;
		memcpy(sd.args, ops[i].a, sizeof(sd.args));
		if (!pgc_seccomp_allows(&r->filters, &sd))
			return false;
	}
	return true;
}

static int run_singly(struct pgc_remote *r, struct pgc_rop *ops, size_t n,
		      size_t *ran)
{
	for (size_t i = 0; i < n; i++) {
		int err = pgc_remote_syscall(r, &ops[i].ret, ops[i].nr, ops[i].a[0],
					     ops[i].a[1], ops[i].a[2], ops[i].a[3],
					     ops[i].a[4], ops[i].a[5]);

		if (err)
			return err;
		(*ran)++;
		if (ops[i].ret < 0 && ops[i].ret > -4096 && !ops[i].may_fail)
			break;
	}
	return 0;
}

/*
 * Let the executor run until its trap.  A SIGSTOP on the way is
 * swallowed and sent again on release, as for a single syscall; a
 * SIGTRAP sent to the thread that merged with the trap's own is kept
 * (carry_sig) to be handed back.
 */
static int run_to_trap(struct pgc_remote *r, struct pgc_regs *regs)
{
	uint64_t trap = pgc_arch_trap_seen_ip(r->exec.at + pgc_arch_exec_trap_off);
	int status, sig = r->carry_sig;

	r->carry_sig = 0;
	for (int stops = 0; stops < MAX_STOPS; stops++) {
		siginfo_t si;

		if (ptrace(PTRACE_CONT, r->tid, 0, (void *)(long)sig))
			return -ESRCH;
		sig = 0;
		r->nr_stops++;
		if (pgc_wait_tid(r->tid, &status) || WIFEXITED(status) ||
		    WIFSIGNALED(status)) {
			r->dead = true;
			return -ESRCH;
		}
		if (!WIFSTOPPED(status) || (status >> 16))
			continue;	/* a late interrupt or group stop */
		if (WSTOPSIG(status) == SIGSTOP) {
			r->proc->stopped_before = true;
			r->proc->restop_tid = r->tid;
			continue;
		}
		if (WSTOPSIG(status) != SIGTRAP ||
		    ptrace(PTRACE_GETSIGINFO, r->tid, 0, &si) ||
		    pgc_arch_get_regs(r->tid, regs) || pgc_arch_ip(regs) != trap)
			return -EIO;	/* a fault: nothing we can go on from */
		if (si.si_code != SI_KERNEL)
			r->carry_sig = SIGTRAP;
		return 0;
	}
	return -EIO;
}

/* Run @n <= EXEC_RECORDS records through the executor. */
static int run_exec(struct pgc_remote *r, struct pgc_rop *ops, size_t n,
		    size_t *ran)
{
	struct pgc_exec *x = &r->exec;
	uint64_t recs = x->at + EXEC_CODE_LEN, done;
	size_t len = n * sizeof(*x->rec);
	struct iovec local = { x->rec, len }, remote = { (void *)recs, len };
	struct pgc_regs regs = r->saved;
	int err;

	for (size_t i = 0; i < n; i++) {
		x->rec[i] = (struct pgc_exec_rec){
			.nr = (int32_t)ops[i].nr,
			.flags = ops[i].may_fail ? PGC_EXEC_MAY_FAIL : 0,
		};
		memcpy(x->rec[i].args, ops[i].a, sizeof(x->rec[i].args));
	}
	if (pgc_vm_writev(r->proc->pid, &local, 1, &remote, 1) != (ssize_t)len)
		goto dead;
	if (pgc_remote_set_sigmask(r->tid, ~0ULL))
		goto dead;
	r->used = true;
	pgc_arch_prepare_exec(&regs, x->at, recs, recs + len);
	if (pgc_arch_set_regs(r->tid, &regs))
		goto dead;
	err = run_to_trap(r, &regs);
	if (err == -ESRCH)
		goto dead;
	if (pgc_remote_give_back(r))
		goto dead;
	if (err)
		return pgc_fail(-EIO, "unexpected stop of thread %d while it ran %zu syscall(s) for pgclone",
				(int)r->tid, n);
	done = (pgc_arch_exec_cursor(&regs) - recs) / sizeof(*x->rec);
	/* the cursor stays on the record that failed: it ran too */
	done = done < n ? done + 1 : n;
	len = done * sizeof(*x->rec);
	local.iov_len = remote.iov_len = len;
	if (pgc_vm_readv(r->proc->pid, &local, 1, &remote, 1) != (ssize_t)len)
		goto dead;
	for (size_t i = 0; i < done; i++)
		ops[i].ret = x->rec[i].ret;
	*ran += done;
	r->nr_syscalls += done;
	pr_debug("remote %d: %zu of %zu syscall(s) in one stop", (int)r->tid,
		 (size_t)done, n);
	return 0;
dead:
	r->dead = true;
	return pgc_fail(-ESRCH, "PID %d exited while pgclone was working on it",
			(int)r->proc->pid);
}

int pgc_remote_batch(struct pgc_remote *r, struct pgc_rop *ops, size_t n,
		     size_t *ran)
{
	*ran = 0;
	if (r->dead)
		return -ESRCH;
	while (*ran < n) {
		struct pgc_rop *chunk = ops + *ran;
		size_t k = n - *ran > EXEC_RECORDS ? EXEC_RECORDS : n - *ran;
		size_t before = *ran;
		int err = 0;

		if (r->exec.state == PGC_EXEC_PLACED)
			err = exec_setup(r);
		if (err)
			return err;
		for (size_t i = 0; i < k; i++)
			pgc_remote_fault_op(r->nr_syscalls + 1 + i, &chunk[i].nr,
					    chunk[i].a);
		if (r->exec.state == PGC_EXEC_READY && filters_allow(r, chunk, k))
			err = run_exec(r, chunk, k, ran);
		else
			err = run_singly(r, chunk, k, ran);
		if (err)
			return err;
		if (*ran - before < k)
			break;		/* one failed */
	}
	return 0;
}
