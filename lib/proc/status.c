// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * status.c - the few facts of /proc/PID/status pgclone decides on: state,
 * tracer, seccomp mode, identity and namespace depth.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgcloneP.h"

static const char *field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

int pgc_status_parse(const char *text, struct pgc_status *st)
{
	const char *p;
	unsigned long r, e;

	memset(st, 0, sizeof(*st));
	p = field(text, "State");
	if (!p)
		return -EINVAL;
	st->state = *p;
	p = field(text, "Tgid");
	if (!p || sscanf(p, "%d", &st->tgid) != 1)
		return -EINVAL;
	p = field(text, "TracerPid");
	if (p)
		sscanf(p, "%d", &st->tracer);
	p = field(text, "Uid");
	if (!p || sscanf(p, "%lu %lu", &r, &e) != 2)
		return -EINVAL;
	st->ruid = (uid_t)r;
	st->euid = (uid_t)e;
	p = field(text, "Gid");
	if (!p || sscanf(p, "%lu", &r) != 1)
		return -EINVAL;
	st->rgid = (gid_t)r;
	p = field(text, "Seccomp");
	if (p)
		sscanf(p, "%d", &st->seccomp);
	p = field(text, "NSpid");
	while (p && *p && *p != '\n') {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		st->nspid_last = (pid_t)v;
		st->nspid_depth++;
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	p = field(text, "Kthread");
	if (p)
		st->kthread = *p == '1';
	return 0;
}

int pgc_status_read(pid_t pid, pid_t tid, struct pgc_status *st)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid,
			 (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	if (pgc_status_parse(buf, st))
		return -EIO;
	return 0;
}

static int ns_ino(pid_t pid, ino_t *ino)
{
	char path[64];
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	if (stat(path, &sb))
		return -errno;
	*ino = sb.st_ino;
	return 0;
}

int pgc_same_pidns(pid_t a, pid_t b)
{
	ino_t ia, ib, self;
	int ret;

	/* a kernel without CONFIG_PID_NS has one namespace and no ns files */
	if (ns_ino(getpid(), &self) == -ENOENT)
		return 1;
	ret = ns_ino(a, &ia);
	if (!ret)
		ret = ns_ino(b, &ib);
	if (ret)
		return ret;
	return ia == ib;
}
