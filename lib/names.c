// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * names.c - the words the library has for its own enums, and its version.
 * Used by api.c, the planner and the image writer alike, so it depends on
 * nothing.
 */
#include "pgcloneP.h"

const char *pgclone_engine_name(enum pgclone_engine engine)
{
	switch (engine) {
	case PGCLONE_ENGINE_AUTO: return "auto";
	case PGCLONE_ENGINE_KERNEL: return "kernel";
	case PGCLONE_ENGINE_COPY: return "copy";
	}
	return "unknown";
}

const char *pgclone_kind_name(enum pgclone_kind kind)
{
	switch (kind) {
	case PGCLONE_KIND_ANON_PRIVATE: return "anon-private";
	case PGCLONE_KIND_ANON_SHARED: return "anon-shared";
	case PGCLONE_KIND_FILE_PRIVATE: return "file-private";
	case PGCLONE_KIND_FILE_SHARED: return "file-shared";
	case PGCLONE_KIND_SPECIAL: return "special";
	}
	return "unknown";
}

const char *pgclone_refusal_name(enum pgclone_refusal why)
{
	switch (why) {
	case PGCLONE_OK: return "ok";
	case PGCLONE_REFUSE_VDSO: return "vdso: kernel-provided code";
	case PGCLONE_REFUSE_VVAR: return "vvar: kernel data page (VM_PFNMAP)";
	case PGCLONE_REFUSE_VSYSCALL: return "vsyscall: fixed kernel page";
	case PGCLONE_REFUSE_IO: return "VM_IO: device memory";
	case PGCLONE_REFUSE_PFNMAP: return "VM_PFNMAP/VM_MIXEDMAP: raw page frames";
	case PGCLONE_REFUSE_UFFD: return "registered with userfaultfd";
	case PGCLONE_REFUSE_HUGETLB: return "hugetlbfs mapping: not supported";
	case PGCLONE_REFUSE_DONTEXPAND: return "VM_DONTEXPAND: driver or AIO ring";
	}
	return "unknown";
}

const char *pgclone_version(void)
{
#define STR_(x) #x
#define STR(x) STR_(x)
	return STR(PGCLONE_VERSION_MAJOR) "." STR(PGCLONE_VERSION_MINOR) "."
	       STR(PGCLONE_VERSION_MICRO);
}
