// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * exec.c - the x86_64 batch executor (inject/batch.c): a position-
 * independent loop that pgclone copies into a mapping of its own in the
 * target and runs there, so that a whole array of syscalls costs one
 * ptrace stop instead of two per syscall.  It touches no stack and no
 * memory but its records; it ends with int3, whose SIGTRAP stop is how
 * pgclone learns that it is done.
 *
 *	r12: the record to run next, r13: the end of the records
 *
 *  0:	4d 39 ec		loop:	cmp    %r13,%r12
 *  3:	73 3f				jae    done
 *  5:	41 8b 04 24			mov    (%r12),%eax	nr
 *  9:	49 8b 7c 24 08			mov    0x8(%r12),%rdi	args
 *  e:	49 8b 74 24 10			mov    0x10(%r12),%rsi
 * 13:	49 8b 54 24 18			mov    0x18(%r12),%rdx
 * 18:	4d 8b 54 24 20			mov    0x20(%r12),%r10
 * 1d:	4d 8b 44 24 28			mov    0x28(%r12),%r8
 * 22:	4d 8b 4c 24 30			mov    0x30(%r12),%r9
 * 27:	0f 05				syscall
 * 29:	49 89 44 24 38			mov    %rax,0x38(%r12)	ret
 * 2e:	48 3d 01 f0 ff ff		cmp    $-4095,%rax
 * 34:	72 08				jb     next		not an error
 * 36:	41 f6 44 24 04 01		testb  $1,0x4(%r12)	PGC_EXEC_MAY_FAIL
 * 3c:	74 06				je     done
 * 3e:	49 83 c4 40		next:	add    $0x40,%r12
 * 42:	eb bc				jmp    loop
 * 44:	cc			done:	int3
 *
 * r12 is left on the record that stopped the loop, or on the end.
 */
#include <stddef.h>

#include "../../arch.h"

const uint8_t pgc_arch_exec_code[] = {
	0x4d, 0x39, 0xec, 0x73, 0x3f, 0x41, 0x8b, 0x04, 0x24, 0x49, 0x8b, 0x7c,
	0x24, 0x08, 0x49, 0x8b, 0x74, 0x24, 0x10, 0x49, 0x8b, 0x54, 0x24, 0x18,
	0x4d, 0x8b, 0x54, 0x24, 0x20, 0x4d, 0x8b, 0x44, 0x24, 0x28, 0x4d, 0x8b,
	0x4c, 0x24, 0x30, 0x0f, 0x05, 0x49, 0x89, 0x44, 0x24, 0x38, 0x48, 0x3d,
	0x01, 0xf0, 0xff, 0xff, 0x72, 0x08, 0x41, 0xf6, 0x44, 0x24, 0x04, 0x01,
	0x74, 0x06, 0x49, 0x83, 0xc4, 0x40, 0xeb, 0xbc, 0xcc,
};
const size_t pgc_arch_exec_len = sizeof(pgc_arch_exec_code);
const size_t pgc_arch_exec_syscall_off = 0x27;
const size_t pgc_arch_exec_trap_off = 0x44;

_Static_assert(sizeof(struct pgc_exec_rec) == 0x40, "the loop steps 64 bytes");
_Static_assert(offsetof(struct pgc_exec_rec, flags) == 4, "testb $1,0x4(%r12)");
_Static_assert(offsetof(struct pgc_exec_rec, args) == 8, "mov 0x8(%r12),%rdi");
_Static_assert(offsetof(struct pgc_exec_rec, ret) == 0x38, "mov %rax,0x38(%r12)");

void pgc_arch_prepare_exec(struct pgc_regs *regs, uint64_t code, uint64_t first,
			   uint64_t end)
{
	regs->r.rip = code;
	regs->r.r12 = first;
	regs->r.r13 = end;
	/* as for a single syscall: nothing to restart, no single-step */
	regs->r.orig_rax = (uint64_t)-1;
	regs->r.eflags &= ~0x100ULL;
}

uint64_t pgc_arch_exec_cursor(const struct pgc_regs *regs)
{
	return regs->r.r12;
}

uint64_t pgc_arch_syscall_seen_ip(uint64_t insn)
{
	/* the kernel's saved ip is the return address: after the insn */
	return insn + pgc_arch_syscall_insn_len;
}

uint64_t pgc_arch_trap_seen_ip(uint64_t trap)
{
	return trap + 1;	/* int3 is a trap: ip is past it */
}
