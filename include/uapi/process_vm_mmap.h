/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * process_vm_mmap(2), as kernel/patches/ adds it: the syscall number and
 * the flags of include/uapi/linux/mman.h, for builds against kernel
 * headers that do not have them yet (every released kernel, today).
 *
 * Not installed: libpgclone's users ask pgclone_engine_probe().
 */
#ifndef PGCLONE_UAPI_PROCESS_VM_MMAP_H
#define PGCLONE_UAPI_PROCESS_VM_MMAP_H

#ifndef PVM_MMAP_FIXED
#define PVM_MMAP_FIXED	0x1	/* replace what the destination maps there */
#define PVM_MMAP_MOVE	0x2	/* unmap the source once the copy succeeded */
#endif

/*
 * The number is only reserved once the series is merged: until then a
 * later kernel may give it to another call.  Call it only on a kernel
 * whose symbol table has PVM_MMAP_ENTRY (see lib/engine/kernel.c).
 */
#if defined(__x86_64__) && !defined(__ILP32__)
#ifndef __NR_process_vm_mmap
#define __NR_process_vm_mmap	472
#endif
#define PVM_MMAP_ENTRY		"__x64_sys_process_vm_mmap"
#endif

#endif
