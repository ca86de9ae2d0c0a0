// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * srcname.c - "--src '[heap]'": find the one mapping of a process that a
 * name from /proc/PID/maps names ([heap], [stack], [anon:NAME], the path
 * of a mapped file), so that nobody has to copy addresses out of maps.
 *
 * The rule (pgclone(1), "Ranges"): a name must name exactly one mapping.
 * A name that names several (a library is mapped once per permission, a
 * file may be mapped twice) is refused with every one of them listed, so
 * that the user picks one by its address.  The library validates the
 * address again under its own view of the process: a mapping that
 * changes in between is refused there, never cloned by a stale name.
 */
#include <errno.h>
#include <limits.h>
#include <pgclone.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "cli.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define LIST_MAX 16

/* Can this kernel name anonymous mappings (CONFIG_ANON_VMA_NAME)? */
static bool anon_names_supported(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;

	if (p == MAP_FAILED)
		return true;	/* cannot tell: say nothing about the kernel */
	/* a NULL name clears the name: harmless, and EINVAL without support */
	ok = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, 4096UL,
		   0UL) == 0;
	munmap(p, 4096);
	return ok;
}

static size_t find(const struct pgclone_mapping *m, size_t n, const char *name,
		   size_t *first)
{
	size_t hits = 0;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].name, name) && !hits++)
			*first = i;
	return hits;
}

static int refuse_many(const struct pgclone_mapping *m, size_t n,
		       const char *name, size_t hits, pid_t pid)
{
	char list[LIST_MAX * 48 + 32] = "", *p = list;
	size_t shown = 0;

	for (size_t i = 0; i < n && shown < LIST_MAX; i++) {
		char prot[5];

		if (strcmp(m[i].name, name))
			continue;
		format_prot(m[i].prot, m[i].shared, prot);
		p += snprintf(p, sizeof(list) - (size_t)(p - list), "%s0x%llx-0x%llx %s",
			      shown ? ", " : "", (unsigned long long)m[i].start,
			      (unsigned long long)m[i].end, prot);
		shown++;
	}
	if (hits > shown)
		snprintf(p, sizeof(list) - (size_t)(p - list), " and %zu more",
			 hits - shown);
	return errx_usage("--src '%s' names %zu mappings of PID %d: %s; give the address of one",
			  clip(name), hits, (int)pid, list);
}

int src_resolve(pid_t pid, struct src_arg *s)
{
	struct pgclone_mapping *m;
	char real[PATH_MAX];
	const char *name = s->name;
	size_t n, hits, first = 0;
	int ret;

	ret = pgclone_maps(pid, &m, &n);
	if (ret)
		return report_lib_error(ret, "maps");
	hits = find(m, n, name, &first);
	/* maps shows a file by its canonical path: /lib/x for /usr/lib/x */
	if (!hits && name[0] == '/' && realpath(name, real)) {
		hits = find(m, n, real, &first);
		name = real;
	}
	if (hits == 1)
		s->addr = m[first].start;
	else if (hits > 1)
		ret = refuse_many(m, n, name, hits, pid);
	else if (!strncmp(name, "[anon:", 6) && !anon_names_supported())
		ret = errx_usage("--src '%s': no mapping of PID %d has that name, and this kernel cannot name anonymous mappings (it lacks CONFIG_ANON_VMA_NAME)",
				 clip(name), (int)pid);
	else
		ret = errx_usage("--src '%s': no mapping of PID %d has that name (see '%s maps --pid %d')",
				 clip(name), (int)pid, prog, (int)pid);
	pgclone_maps_free(m, n);
	return ret;
}
