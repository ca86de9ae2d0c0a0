// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * regs.c - x86_64 part of remote syscall injection.
 */
#include <errno.h>
#include <linux/audit.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "../../arch.h"

#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

/* The 64-bit user code segment: anything else is a compat (ia32) task. */
#define USER_CS_64 0x33

const uint8_t pgc_arch_syscall_insn[] = { 0x0f, 0x05 };
const size_t pgc_arch_syscall_insn_len = sizeof(pgc_arch_syscall_insn);
const uint32_t pgc_arch_audit = AUDIT_ARCH_X86_64;

int pgc_arch_get_regs(pid_t tid, struct pgc_regs *regs)
{
	return ptrace(PTRACE_GETREGS, tid, 0, &regs->r) ? -errno : 0;
}

int pgc_arch_set_regs(pid_t tid, const struct pgc_regs *regs)
{
	return ptrace(PTRACE_SETREGS, tid, 0, &regs->r) ? -errno : 0;
}

bool pgc_arch_native(const struct pgc_regs *regs)
{
	return regs->r.cs == USER_CS_64;
}

uint64_t pgc_arch_sp(const struct pgc_regs *regs)
{
	return regs->r.rsp;
}

uint64_t pgc_arch_tls(const struct pgc_regs *regs)
{
	return regs->r.fs_base;
}

uint64_t pgc_arch_ip(const struct pgc_regs *regs)
{
	return regs->r.rip;
}

void pgc_arch_set_ip(struct pgc_regs *regs, uint64_t ip)
{
	regs->r.rip = ip;
}

void pgc_arch_prepare_syscall(struct pgc_regs *regs, uint64_t ip, long nr,
			      const uint64_t args[6])
{
	regs->r.rip = ip;
	regs->r.rax = (uint64_t)nr;
	regs->r.rdi = args[0];
	regs->r.rsi = args[1];
	regs->r.rdx = args[2];
	regs->r.r10 = args[3];
	regs->r.r8 = args[4];
	regs->r.r9 = args[5];
	/*
	 * We start from a ptrace stop taken on the way back to user mode; an
	 * orig_rax >= 0 there makes the kernel "restart" the syscall the task
	 * was in.  -1 says: no syscall to restart, just run from rip.
	 */
	regs->r.orig_rax = (uint64_t)-1;
	/* clear TF so the injected instruction does not single-step */
	regs->r.eflags &= ~0x100ULL;
}

long pgc_arch_syscall_nr(const struct pgc_regs *regs)
{
	return (long)regs->r.orig_rax;
}

long pgc_arch_syscall_ret(const struct pgc_regs *regs)
{
	return (long)regs->r.rax;
}

void pgc_arch_restart_fixup(struct pgc_regs *regs)
{
	if ((long)regs->r.orig_rax < 0)
		return;
	switch ((long)regs->r.rax) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		regs->r.rax = regs->r.orig_rax;
		regs->r.rip -= 2;
		break;
	case -ERESTART_RESTARTBLOCK:
		regs->r.rax = SYS_restart_syscall;
		regs->r.rip -= 2;
		break;
	}
}
