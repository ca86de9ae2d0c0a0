// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysnames.c - the x86_64 numbers of the syscalls pgclone runs in a
 * target, by name: a refusal names "mmap", never "syscall 9".  Spelled as
 * numbers from the x86_64 table (arch/x86/entry/syscalls/syscall_64.tbl)
 * so that the names stay right whatever headers the build has.
 */
#include <stddef.h>

#include "../../arch.h"

static const struct {
	long nr;
	const char *name;
} names[] = {
	{ 3, "close" },
	{ 9, "mmap" },
	{ 10, "mprotect" },
	{ 11, "munmap" },
	{ 25, "mremap" },
	{ 28, "madvise" },
	{ 77, "ftruncate" },
	{ 157, "prctl" },
	{ 219, "restart_syscall" },
	{ 310, "process_vm_readv" },
	{ 311, "process_vm_writev" },
	{ 319, "memfd_create" },
	{ 434, "pidfd_open" },
	{ 438, "pidfd_getfd" },
};

const char *pgc_arch_syscall_name(long nr)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].nr == nr)
			return names[i].name;
	return NULL;
}
