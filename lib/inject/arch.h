/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * arch.h - what the injection code needs from an architecture: its
 * registers, how a syscall is set up and read back, how the kernel would
 * have restarted an interrupted syscall, and the bytes of its syscall
 * instruction.  One implementation per arch under arch/<name>/.
 */
#ifndef PGCLONE_INJECT_ARCH_H
#define PGCLONE_INJECT_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch_regs.h"	/* struct pgc_regs, from arch/<name>/ */

extern const uint8_t pgc_arch_syscall_insn[];
extern const size_t pgc_arch_syscall_insn_len;
extern const uint32_t pgc_arch_audit;	/* AUDIT_ARCH_* for seccomp_data */

int pgc_arch_get_regs(pid_t tid, struct pgc_regs *regs);
int pgc_arch_set_regs(pid_t tid, const struct pgc_regs *regs);
/* Is the task running the native ABI (not compat)? */
bool pgc_arch_native(const struct pgc_regs *regs);
uint64_t pgc_arch_ip(const struct pgc_regs *regs);
uint64_t pgc_arch_sp(const struct pgc_regs *regs);
/* The thread pointer (x86_64: fs_base), through which libc finds TLS. */
uint64_t pgc_arch_tls(const struct pgc_regs *regs);
void pgc_arch_set_ip(struct pgc_regs *regs, uint64_t ip);
/* Point @regs at the syscall instruction at @ip, with number and args. */
void pgc_arch_prepare_syscall(struct pgc_regs *regs, uint64_t ip, long nr,
			      const uint64_t args[6]);
long pgc_arch_syscall_nr(const struct pgc_regs *regs);
/* The name of a syscall pgclone runs in a target, or NULL (messages). */
const char *pgc_arch_syscall_name(long nr);
long pgc_arch_syscall_ret(const struct pgc_regs *regs);
/*
 * The task stopped inside a syscall the kernel would restart (-ERESTART*)
 * and we resume it from a syscall-exit stop, where the kernel no longer
 * restarts anything: rewrite @regs the way the signal code would have.
 */
void pgc_arch_restart_fixup(struct pgc_regs *regs);
/* seccomp_data.instruction_pointer of a syscall made by the instruction
 * at @insn (the kernel reports the return address) */
uint64_t pgc_arch_syscall_seen_ip(uint64_t insn);

/*
 * The batch executor (inject/batch.c): machine code that runs an array of
 * records, one syscall each, in order, and stops at the first that
 * returns an error unless it is flagged PGC_EXEC_MAY_FAIL; then traps.
 * The record layout is the same for every 64-bit arch.
 */
#define PGC_EXEC_MAY_FAIL 1u
struct pgc_exec_rec {
	int32_t nr;
	uint32_t flags;		/* PGC_EXEC_* */
	uint64_t args[6];
	int64_t ret;		/* written by the executor */
};
extern const uint8_t pgc_arch_exec_code[];
extern const size_t pgc_arch_exec_len;
extern const size_t pgc_arch_exec_syscall_off;	/* its syscall instruction */
extern const size_t pgc_arch_exec_trap_off;	/* its trapping instruction */
/* Run the records [@first, @end) with the executor at @code. */
void pgc_arch_prepare_exec(struct pgc_regs *regs, uint64_t code, uint64_t first,
			   uint64_t end);
/* The record the executor stopped at (== end when all ran). */
uint64_t pgc_arch_exec_cursor(const struct pgc_regs *regs);
/* The ip a stop on the trap at @trap reports. */
uint64_t pgc_arch_trap_seen_ip(uint64_t trap);

#endif
