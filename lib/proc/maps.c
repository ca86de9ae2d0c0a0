// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * maps.c - read a process's mappings from /proc/PID/smaps: the maps line
 * gives addresses, protection and identity; VmFlags tells what the line
 * cannot (VM_IO, VM_PFNMAP, userfaultfd, hugetlb, madvise state).
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include "pgcloneP.h"

static const char *parse_hex(const char *p, uint64_t *out, char stop)
{
	uint64_t v = 0;
	int digits = 0;

	for (; isxdigit((unsigned char)*p); p++, digits++) {
		if (digits == 16)
			return NULL;
		v = v << 4 | (uint64_t)(isdigit((unsigned char)*p) ?
				*p - '0' : (tolower((unsigned char)*p) - 'a' + 10));
	}
	if (!digits || *p != stop)
		return NULL;
	*out = v;
	return p + 1;
}

static const char *parse_dec(const char *p, uint64_t *out)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*p))
		return NULL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return p;
}

int pgc_maps_parse_line(const char *line, struct pgc_vma *v)
{
	uint64_t start, end, off, maj, min, ino;
	const char *p = line;
	size_t len;

	memset(v, 0, sizeof(*v));
	p = parse_hex(p, &start, '-');
	if (p)
		p = parse_hex(p, &end, ' ');
	if (!p || start >= end || !PGC_PAGE_ALIGNED(start) ||
	    !PGC_PAGE_ALIGNED(end))
		return -EINVAL;
	if (strlen(p) < 5 || p[4] != ' ' ||
	    (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's'))
		return -EINVAL;
	v->m.prot = (p[0] == 'r' ? PROT_READ : 0) |
		    (p[1] == 'w' ? PROT_WRITE : 0) |
		    (p[2] == 'x' ? PROT_EXEC : 0);
	v->m.shared = p[3] == 's';
	p = parse_hex(p + 5, &off, ' ');
	if (p)
		p = parse_hex(p, &maj, ':');
	if (p)
		p = parse_hex(p, &min, ' ');
	if (p)
		p = parse_dec(p, &ino);
	if (!p || (*p != ' ' && *p != '\n' && *p != '\0') ||
	    maj > 0xfff || min > 0xfffff)
		return -EINVAL;
	while (*p == ' ')
		p++;
	len = strcspn(p, "\n");
	v->name = strndup(p, len);
	if (!v->name)
		return -ENOMEM;
	v->m.start = start;
	v->m.end = end;
	v->m.offset = off;
	v->dev_major = (unsigned int)maj;
	v->dev_minor = (unsigned int)min;
	v->m.dev = makedev(v->dev_major, v->dev_minor);
	v->m.ino = ino;
	v->m.name = v->name;
	return 0;
}

void pgc_maps_parse_vmflags(const char *flags, struct pgc_vma *v)
{
	static const struct {
		char code[3];
		unsigned int vmflag;
		unsigned int advice;
	} map[] = {
		{ "mw", VMF_MAYWRITE, 0 },	{ "gd", VMF_GROWSDOWN, 0 },
		{ "pf", VMF_PFNMAP, 0 },	{ "io", VMF_IO, 0 },
		{ "de", VMF_DONTEXPAND, 0 },	{ "ht", VMF_HUGETLB, 0 },
		{ "mm", VMF_MIXEDMAP, 0 },	{ "um", VMF_UFFD | VMF_UFFD_MI, 0 },
		{ "uw", VMF_UFFD | VMF_UFFD_WP, 0 },		{ "ui", VMF_UFFD | VMF_UFFD_MI, 0 },
		{ "lo", VMF_LOCKED, 0 },	{ "nr", VMF_NORESERVE, 0 },
		{ "sl", VMF_SEALED, 0 },	{ "ss", VMF_SHADOW_STACK, 0 },
		{ "hg", 0, PGCLONE_ADV_HUGEPAGE },
		{ "nh", 0, PGCLONE_ADV_NOHUGEPAGE },
		{ "dd", 0, PGCLONE_ADV_DONTDUMP },
		{ "dc", 0, PGCLONE_ADV_DONTFORK },
		{ "wf", 0, PGCLONE_ADV_WIPEONFORK },
		{ "mg", 0, PGCLONE_ADV_MERGEABLE },
		{ "sr", 0, PGCLONE_ADV_SEQUENTIAL },
		{ "rr", 0, PGCLONE_ADV_RANDOM },
	};
	const char *p = flags;

	v->vmflags = 0;
	v->m.advice = 0;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!p[0] || !p[1] || p[0] == '\n')
			break;
		for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
			if (p[0] == map[i].code[0] && p[1] == map[i].code[1]) {
				v->vmflags |= map[i].vmflag;
				v->m.advice |= map[i].advice;
			}
		}
		p += 2;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
}

static bool name_is(const struct pgc_vma *v, const char *name)
{
	return strcmp(v->name, name) == 0;
}

static bool is_shmem_object(const struct pgc_vma *v)
{
	/* shmem-backed objects: anonymous shared, memfd, SysV, files on tmpfs
	 * opened and unlinked; all are named after their shmem inode */
	return strncmp(v->name, "/dev/zero", 9) == 0 ||
	       strncmp(v->name, "/memfd:", 7) == 0 ||
	       strncmp(v->name, "/SYSV", 5) == 0 ||
	       strncmp(v->name, "/dev/shm/", 9) == 0;
}

void pgc_vma_classify(struct pgc_vma *v)
{
	struct pgclone_mapping *m = &v->m;

	m->refusal = PGCLONE_OK;
	if (name_is(v, "[vdso]"))
		m->refusal = PGCLONE_REFUSE_VDSO;
	else if (name_is(v, "[vvar]") || name_is(v, "[vvar_vclock]"))
		m->refusal = PGCLONE_REFUSE_VVAR;
	else if (name_is(v, "[vsyscall]"))
		m->refusal = PGCLONE_REFUSE_VSYSCALL;
	else if (v->vmflags & VMF_IO)
		m->refusal = PGCLONE_REFUSE_IO;
	else if (v->vmflags & (VMF_PFNMAP | VMF_MIXEDMAP))
		m->refusal = PGCLONE_REFUSE_PFNMAP;
	else if (v->vmflags & VMF_UFFD)
		m->refusal = PGCLONE_REFUSE_UFFD;
	else if (v->vmflags & VMF_HUGETLB)
		m->refusal = PGCLONE_REFUSE_HUGETLB;
	else if (v->vmflags & VMF_DONTEXPAND)
		m->refusal = PGCLONE_REFUSE_DONTEXPAND;

	if (m->refusal != PGCLONE_OK)
		m->kind = PGCLONE_KIND_SPECIAL;
	else if (m->ino == 0)
		/* private anonymous: heap, stack, [anon:NAME], nameless */
		m->kind = m->shared ? PGCLONE_KIND_ANON_SHARED :
				      PGCLONE_KIND_ANON_PRIVATE;
	else if (m->shared)
		m->kind = is_shmem_object(v) ? PGCLONE_KIND_ANON_SHARED :
					       PGCLONE_KIND_FILE_SHARED;
	else
		m->kind = PGCLONE_KIND_FILE_PRIVATE;
}

static int list_push(struct pgc_vma_list *list, const struct pgc_vma *v)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		struct pgc_vma *nv = realloc(list->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		list->v = nv;
		list->cap = cap;
	}
	list->v[list->n++] = *v;
	return 0;
}

static bool is_maps_header(const char *line)
{
	const char *p = line;

	while (isxdigit((unsigned char)*p))
		p++;
	return p != line && *p == '-';
}

int pgc_maps_parse_stream(void *stdio_file, struct pgc_vma_list *list)
{
	FILE *f = stdio_file;
	char *line = NULL;
	size_t cap = 0;
	struct pgc_vma v;
	int ret = 0;

	while (getline(&line, &cap, f) > 0) {
		if (is_maps_header(line)) {
			ret = pgc_maps_parse_line(line, &v);
			if (!ret) {
				ret = list_push(list, &v);
				if (ret)
					free(v.name);
			}
			if (ret)
				break;
		} else if (!strncmp(line, "VmFlags:", 8) && list->n) {
			pgc_maps_parse_vmflags(line + 8, &list->v[list->n - 1]);
		}
	}
	free(line);
	for (size_t i = 0; i < list->n; i++) {
		list->v[i].m.name = list->v[i].name;
		pgc_vma_classify(&list->v[i]);
	}
	return ret;
}

int pgc_maps_open(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	fd = pgc_proc_open(path, O_RDONLY);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return pgc_fail(-ESRCH, "no process with PID %d", (int)pid);
	if (errno == EACCES || errno == EPERM) {
		char why[160];

		pgc_ptrace_denied_reason(pid, why, sizeof(why));
		return pgc_fail(-EPERM, "not permitted to read the mappings of PID %d: %s",
				(int)pid, why);
	}
	return pgc_fail(-EIO, "cannot open %s: %s", path, strerror(errno));
}

#define MAPS_BUF (256u << 10)

int pgc_maps_read_fd(pid_t pid, int fd, struct pgc_vma_list *list)
{
	FILE *f = fdopen(fd, "re");
	/*
	 * /proc says its block is 1 KiB: stdio would read smaps (700 bytes a
	 * mapping) in some 20,000 read(2)s for 30,000 mappings.  A buffer
	 * of our own takes it in a hundred (stdio's if there is no memory).
	 */
	char *buf = malloc(MAPS_BUF);
	int ret;

	memset(list, 0, sizeof(*list));
	if (!f) {
		free(buf);
		close(fd);
		return pgc_fail(-ENOMEM, "out of memory reading the mappings of PID %d",
				(int)pid);
	}
	if (buf)
		setvbuf(f, buf, _IOFBF, MAPS_BUF);
	ret = pgc_maps_parse_stream(f, list);
	if (!ret && ferror(f))
		ret = -EIO;
	fclose(f);
	free(buf);
	if (ret) {
		pgc_maps_free(list);
		return pgc_fail(ret == -ENOMEM ? -ENOMEM : -EIO,
				"cannot parse /proc/%d/smaps", (int)pid);
	}
	if (!list->n) {
		struct pgc_status st;

		/* the words and errors of pgc_proc_check(): one answer everywhere */
		if (!pgc_status_read(pid, 0, &st) && st.kthread)
			return pgc_fail(-EINVAL, "PID %d is a kernel thread", (int)pid);
		return pgc_fail(-ESRCH, "PID %d is a zombie (it has no memory)",
				(int)pid);
	}
	return 0;
}

int pgc_maps_read(pid_t pid, struct pgc_vma_list *list)
{
	int fd = pgc_maps_open(pid);

	if (fd < 0) {
		memset(list, 0, sizeof(*list));
		return fd;
	}
	return pgc_maps_read_fd(pid, fd, list);
}

void pgc_maps_free(struct pgc_vma_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->v[i].name);
	free(list->v);
	memset(list, 0, sizeof(*list));
}

const struct pgc_vma *pgc_maps_find(const struct pgc_vma_list *list,
				    uint64_t addr)
{
	size_t lo = 0, hi = list->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pgc_vma *v = &list->v[mid];

		if (addr < v->m.start)
			hi = mid;
		else if (addr >= v->m.end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}
