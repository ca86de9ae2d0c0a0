// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * remote.c - run syscalls inside a stopped process.
 *
 * The borrowed thread's ip is set to a syscall instruction that already
 * exists in the process (the vdso has several) and the thread is driven
 * with PTRACE_SYSCALL through the syscall-entry and syscall-exit stops.
 * Nothing is written into the target's code, and every signal is blocked
 * while the thread runs for us, so no handler can run on foreign state.
 *
 * The saved registers go back after every syscall.  Two fixups make that
 * exact:
 * a thread stopped inside an rseq critical section is moved to its abort
 * handler first (as the kernel would on preemption), and a thread stopped
 * inside an interrupted syscall gets the kernel's restart rewrite, because
 * resuming from a syscall-exit stop skips the kernel's own restart logic.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inject.h"

/* PTRACE_GET_RSEQ_CONFIGURATION (5.13) and its struct, spelled out
 * because glibc and the uapi headers disagree on who defines them */
#define PGC_PTRACE_GET_RSEQ_CONFIGURATION 0x420f
struct pgc_rseq_configuration {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

/* struct rseq_cs as userspace lays it out (uapi/linux/rseq.h) */
struct rseq_cs_abi {
	uint32_t version;
	uint32_t flags;
	uint64_t start_ip;
	uint64_t post_commit_offset;
	uint64_t abort_ip;
};

#define RSEQ_CS_OFFSET 8	/* offsetof(struct rseq, rseq_cs) */
#define GADGET_SCAN_MAX (1u << 20)

int pgc_mem_rw(pid_t pid, uint64_t addr, void *buf, size_t len, bool write)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = pgc_proc_open(path, write ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return -errno;
	n = write ? pwrite(fd, buf, len, (off_t)addr) :
		    pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static uint64_t scan_for_insn(pid_t pid, uint64_t start, uint64_t end)
{
	size_t len = end - start > GADGET_SCAN_MAX ? GADGET_SCAN_MAX :
						     end - start;
	uint8_t *buf = malloc(len);
	uint64_t found = 0;

	if (!buf)
		return 0;
	if (!pgc_mem_rw(pid, start, buf, len, false)) {
		for (size_t i = 0; i + pgc_arch_syscall_insn_len <= len; i++) {
			if (!memcmp(buf + i, pgc_arch_syscall_insn,
				    pgc_arch_syscall_insn_len)) {
				found = start + i;
				break;
			}
		}
	}
	free(buf);
	return found;
}

/*
 * The mappings find_gadget() looks through, from /proc/PID/maps: names and
 * protections are all it needs, and smaps would walk every page table of
 * the process (11 ms for 1 GiB) while it is frozen.
 */
static int read_maps(pid_t pid, struct pgc_vma_list *maps)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = pgc_proc_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		memset(maps, 0, sizeof(*maps));
		return pgc_fail(-ESRCH, "cannot read the mappings of PID %d", (int)pid);
	}
	return pgc_maps_read_fd(pid, fd, maps);
}

/* A syscall instruction: in the vdso if there is one, else in any text. */
static int find_gadget(struct pgc_remote *r)
{
	struct pgc_vma_list maps;
	uint64_t found = 0;
	int ret = read_maps(r->proc->pid, &maps);

	if (ret)
		return ret;
	for (size_t i = 0; i < maps.n && !found; i++)
		if (!strcmp(maps.v[i].name, "[vdso]"))
			found = scan_for_insn(r->proc->pid, maps.v[i].m.start,
					      maps.v[i].m.end);
	for (size_t i = 0; i < maps.n && !found; i++) {
		const struct pgc_vma *v = &maps.v[i];

		if ((v->m.prot & PROT_EXEC) && (v->m.prot & PROT_READ) &&
		    v->m.kind != PGCLONE_KIND_SPECIAL)
			found = scan_for_insn(r->proc->pid, v->m.start, v->m.end);
	}
	pgc_maps_free(&maps);
	if (!found)
		return pgc_fail(-EIO, "no syscall instruction found in PID %d",
				(int)r->proc->pid);
	r->gadget = found;
	return 0;
}

/* Move a thread stopped inside an rseq critical section to its abort ip. */
static void rseq_fixup(struct pgc_remote *r)
{
	struct pgc_rseq_configuration conf;
	struct rseq_cs_abi cs;
	uint64_t cs_ptr, ip = pgc_arch_ip(&r->saved), zero = 0;

	if (ptrace((enum __ptrace_request)PGC_PTRACE_GET_RSEQ_CONFIGURATION, r->tid, sizeof(conf), &conf) <= 0 ||
	    !conf.rseq_abi_pointer)
		return;
	if (pgc_mem_rw(r->proc->pid, conf.rseq_abi_pointer + RSEQ_CS_OFFSET,
		   &cs_ptr, sizeof(cs_ptr), false) || !cs_ptr)
		return;
	if (pgc_mem_rw(r->proc->pid, cs_ptr, &cs, sizeof(cs), false))
		return;
	if (ip - cs.start_ip >= cs.post_commit_offset)
		return;
	pr_debug("thread %d is in an rseq critical section: abort to 0x%llx",
		 (int)r->tid, (unsigned long long)cs.abort_ip);
	pgc_arch_set_ip(&r->saved, cs.abort_ip);
	pgc_mem_rw(r->proc->pid, conf.rseq_abi_pointer + RSEQ_CS_OFFSET, &zero,
	       sizeof(zero), true);
	pgc_arch_set_regs(r->tid, &r->saved);
}

int pgc_remote_begin(struct pgc_remote *r, struct pgc_proc *p)
{
	struct pgc_status st;
	int ret;

	memset(r, 0, sizeof(*r));
	r->proc = p;
	for (size_t i = 0; i < p->n && !r->tid; i++)
		if (!p->t[i].exited)
			r->tid = p->t[i].tid;
	if (!r->tid)
		return pgc_fail(-ESRCH, "PID %d has no live thread", (int)p->pid);
	ret = pgc_arch_get_regs(r->tid, &r->saved);
	if (ret)
		return pgc_fail(-ESRCH, "cannot read registers of thread %d",
				(int)r->tid);
	if (!pgc_arch_native(&r->saved))
		return pgc_fail(-EOPNOTSUPP, "PID %d runs a 32-bit (compat) ABI",
				(int)p->pid);
	if (ptrace(PTRACE_GETSIGMASK, r->tid, sizeof(r->saved_sigmask),
		   &r->saved_sigmask))
		return pgc_fail(-ESRCH, "cannot read signal mask of thread %d",
				(int)r->tid);
	ret = pgc_status_read(p->pid, r->tid, &st);
	if (ret)
		return pgc_fail(-ESRCH, "PID %d vanished", (int)p->pid);
	if (st.seccomp == SECCOMP_MODE_STRICT)
		return pgc_fail(-EACCES, "PID %d runs in seccomp strict mode",
				(int)p->pid);
	ret = pgc_seccomp_load(r->tid, st.seccomp, &r->filters);
	if (ret)
		return ret;
	ret = find_gadget(r);
	if (ret) {
		pgc_seccomp_free(&r->filters);
		return ret;
	}
	rseq_fixup(r);
	return 0;
}

int pgc_remote_set_sigmask(pid_t tid, uint64_t mask)
{
	return ptrace(PTRACE_SETSIGMASK, tid, sizeof(mask), &mask) ? -errno : 0;
}

/* Resume with PTRACE_SYSCALL until the next syscall stop. */
static int step_to_syscall_stop(struct pgc_remote *r, struct pgc_regs *regs)
{
	int status;

	for (int spins = 0; spins < 64; spins++) {
		/* a signal a batch's trap dequeued goes back with the mask
		 * blocking it: the kernel queues it again (batch.c) */
		if (ptrace(PTRACE_SYSCALL, r->tid, 0, (void *)(long)r->carry_sig))
			return -ESRCH;
		r->carry_sig = 0;
		r->nr_stops++;
		if (pgc_wait_tid(r->tid, &status) || WIFEXITED(status) ||
		    WIFSIGNALED(status)) {
			r->dead = true;
			return -ESRCH;
		}
		if (WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80))
			return pgc_arch_get_regs(r->tid, regs) ? -ESRCH : 0;
		/*
		 * Every blockable signal is blocked, so what else arrives is a
		 * ptrace event stop (a late INTERRUPT) or SIGSTOP, which can't
		 * be blocked: we swallow it here and send it again on release.
		 */
		if (WIFSTOPPED(status) && (status >> 16) == 0 &&
		    WSTOPSIG(status) == SIGSTOP) {
			r->proc->stopped_before = true;
			r->proc->restop_tid = r->tid;
		}
	}
	return -EIO;
}

/*
 * Put the thread's own registers and signal mask back after every
 * injected syscall, so that a SIGKILL of pgclone, which detaches it, can
 * only ever catch it inside the one syscall in flight: stopped between
 * two of ours, it would resume exactly where it was interrupted.
 */
int pgc_remote_give_back(struct pgc_remote *r)
{
	struct pgc_regs regs = r->saved;

	pgc_arch_restart_fixup(&regs);
	if (pgc_arch_set_regs(r->tid, &regs) ||
	    pgc_remote_set_sigmask(r->tid, r->saved_sigmask))
		return -ESRCH;
	return 0;
}

int pgc_remote_syscall(struct pgc_remote *r, long *ret, long nr, uint64_t a0,
		       uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		       uint64_t a5)
{
	uint64_t args[6] = { a0, a1, a2, a3, a4, a5 };
	struct seccomp_data sd = {
		.arch = pgc_arch_audit,
		.instruction_pointer = pgc_arch_syscall_seen_ip(r->gadget),
	};
	struct pgc_regs regs = r->saved;
	int err;

	if (r->dead)
		return -ESRCH;
	pgc_remote_fault_op(r->nr_syscalls + 1, &nr, args);
	sd.nr = (int)nr;
	memcpy(sd.args, args, sizeof(args));
	if (r->filters.unreadable)
		return pgc_fail(-EACCES,
				"PID %d runs under a seccomp filter pgclone cannot inspect (that needs CAP_SYS_ADMIN)",
				(int)r->proc->pid);
	if (!pgc_seccomp_allows(&r->filters, &sd)) {
		/*
		 * The verdict for this exact call: a filter may check the
		 * arguments or the address a call is made from, so "forbids
		 * mmap" would be a guess about the process's own calls.
		 */
		const char *name = pgc_arch_syscall_name(nr);
		char num[32], verdict[96];

		snprintf(num, sizeof(num), "syscall %ld", nr);
		return pgc_fail(-EACCES,
				"the seccomp filter of PID %d answers %s(0x%llx, 0x%llx, 0x%llx, 0x%llx, 0x%llx, 0x%llx) from 0x%llx, which pgclone must run in it, with %s",
				(int)r->proc->pid, name ? name : num,
				(unsigned long long)args[0], (unsigned long long)args[1],
				(unsigned long long)args[2], (unsigned long long)args[3],
				(unsigned long long)args[4], (unsigned long long)args[5],
				(unsigned long long)r->gadget,
				pgc_seccomp_verdict_text(pgc_seccomp_verdict(&r->filters, &sd),
							 verdict, sizeof(verdict)));
	}
	if (pgc_remote_set_sigmask(r->tid, ~0ULL))
		goto dead;
	r->used = true;
	r->nr_syscalls++;
	pgc_arch_prepare_syscall(&regs, r->gadget, nr, args);
	if (pgc_arch_set_regs(r->tid, &regs))
		goto dead;
	err = step_to_syscall_stop(r, &regs);	/* entry */
	if (!err && pgc_arch_syscall_nr(&regs) != nr)
		err = -EIO;
	if (!err)
		err = step_to_syscall_stop(r, &regs);	/* exit */
	if (!err || err == -EIO)
		err = pgc_remote_give_back(r) ? -ESRCH : err;
	if (err == -EIO)
		return pgc_fail(-EIO, "unexpected stop of thread %d while running %s (syscall %ld)",
				(int)r->tid, pgc_arch_syscall_name(nr) ?
				pgc_arch_syscall_name(nr) : "a syscall", nr);
	if (err)
		goto dead;
	*ret = pgc_arch_syscall_ret(&regs);
	pr_debug("remote %d: %s/%ld(%#llx, %#llx, %#llx, %#llx, %#llx, %#llx) = %ld",
		 (int)r->tid, pgc_arch_syscall_name(nr) ? pgc_arch_syscall_name(nr) :
		 "syscall", nr, (unsigned long long)args[0], (unsigned long long)args[1],
		 (unsigned long long)args[2], (unsigned long long)args[3],
		 (unsigned long long)args[4], (unsigned long long)args[5], *ret);
	return 0;
dead:
	r->dead = true;
	return pgc_fail(-ESRCH, "PID %d exited while pgclone was working on it",
			(int)r->proc->pid);
}

int pgc_remote_end(struct pgc_remote *r)
{
	/* registers and mask went back after each syscall already */
	pgc_remote_exec_drop(r);
	free(r->exec.rec);
	r->exec.rec = NULL;
	/* a SIGTRAP of its own still held: the detach hands it back */
	if (r->carry_sig && !r->dead)
		r->proc->retrap_tid = r->tid;
	r->carry_sig = 0;
	if (r->nr_syscalls)
		pr_info("PID %d ran %lu syscall(s) for pgclone in %lu ptrace stop(s)",
			(int)r->proc->pid, r->nr_syscalls, r->nr_stops);
	pgc_seccomp_free(&r->filters);
	r->used = false;
	return r->dead ? -ESRCH : 0;
}

void pgc_remote_fault_op(unsigned long nth, long *nr, uint64_t args[6])
{
#ifdef PGCLONE_FAULT_POINTS
	const char *op = getenv("PGCLONE_FAULT_OP");

	if (op && strtoul(op, NULL, 0) == nth) {
		pr_debug("fault injected at syscall %lu", nth);
		*nr = SYS_munmap;
		memset(args, 0, 6 * sizeof(*args));
		args[0] = 1;
		args[1] = 1;
	}
#else
	(void)nth;
	(void)nr;
	(void)args;
#endif
}
