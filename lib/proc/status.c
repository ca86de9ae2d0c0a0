// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * status.c - the few facts of /proc/PID/status pgclone decides on: state,
 * tracer, seccomp mode, identity, namespace depth and signal sets.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* "Uid:" and "Gid:" lines: real, effective, saved, filesystem. */
static int parse_ids(const char *p, unsigned int out[4])
{
	unsigned long v[4];
	int n;

	if (!p)
		return -EINVAL;
	n = sscanf(p, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]);
	if (n < 1)
		return -EINVAL;
	/* a trimmed line (tests, fuzzing): what is missing repeats the last */
	for (int i = 0; i < 4; i++)
		out[i] = (unsigned int)(i < n ? v[i] : v[n - 1]);
	return 0;
}

static uint64_t parse_hex(const char *p)
{
	unsigned long long v = 0;

	if (p)
		sscanf(p, "%llx", &v);
	return v;
}

int pgc_status_parse(const char *text, struct pgc_status *st)
{
	const char *p;

	memset(st, 0, sizeof(*st));
	p = field(text, "State");
	if (!p)
		return -EINVAL;
	st->state = *p;
	p = field(text, "Tgid");
	if (!p || sscanf(p, "%d", &st->tgid) != 1)
		return -EINVAL;
	p = field(text, "PPid");
	if (p)
		sscanf(p, "%d", &st->ppid);
	p = field(text, "TracerPid");
	if (p)
		sscanf(p, "%d", &st->tracer);
	if (parse_ids(field(text, "Uid"), st->uid) ||
	    parse_ids(field(text, "Gid"), st->gid))
		return -EINVAL;
	st->ruid = st->uid[0];
	st->euid = st->uid[1];
	st->rgid = st->gid[0];
	st->cap_prm = parse_hex(field(text, "CapPrm"));
	st->cap_eff = parse_hex(field(text, "CapEff"));
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
	st->sig_pnd = parse_hex(field(text, "SigPnd"));
	st->shd_pnd = parse_hex(field(text, "ShdPnd"));
	st->sig_ign = parse_hex(field(text, "SigIgn"));
	st->sig_cgt = parse_hex(field(text, "SigCgt"));
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

/* /proc/PID/stat from the field after the comm (which may hold anything
 * but ends at the last ')'): " S PPID ...", field 3 first. */
static int read_stat(pid_t pid, char *buf, size_t len, const char **after)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	*after = strrchr(buf, ')');
	if (!*after || (*after)[1] != ' ' || !(*after)[2])
		return -EIO;
	++*after;
	return 0;
}

int pgc_proc_start_time(pid_t pid, uint64_t *t)
{
	char buf[1024];
	unsigned long long v;
	const char *p;
	int ret = read_stat(pid, buf, sizeof(buf), &p);

	if (ret)
		return pgc_fail(ret, "cannot read /proc/%d/stat", (int)pid);
	/* starttime is field 22 */
	for (int field = 3; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &v) != 1)
		return pgc_fail(-EIO, "cannot parse /proc/%d/stat", (int)pid);
	*t = v;
	return 0;
}

bool pgc_proc_wait_stopped(pid_t pid, unsigned int ms)
{
	for (unsigned int i = 0; i <= ms; i++) {
		struct timespec ms1 = { 0, 1000000 };
		char buf[1024];
		const char *p;

		if (read_stat(pid, buf, sizeof(buf), &p))
			return false;
		if (p[1] == 'T')
			return true;
		nanosleep(&ms1, NULL);
	}
	return false;
}

bool pgc_proc_gone(pid_t pid)
{
	char buf[1024];
	const char *p;

	if (read_stat(pid, buf, sizeof(buf), &p))
		return true;
	return p[1] == 'Z' || p[1] == 'X';
}

int pgc_boot_id(uint64_t *hi, uint64_t *lo)
{
	char buf[64], hex[33];
	size_t k = 0;
	ssize_t n;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return pgc_fail(-EIO, "cannot open /proc/sys/kernel/random/boot_id");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (ssize_t i = 0; i < n && k < 32; i++)
		if (buf[i] != '-' && buf[i] != '\n')
			hex[k++] = buf[i];
	hex[k] = '\0';
	if (k != 32)
		return pgc_fail(-EIO, "cannot parse /proc/sys/kernel/random/boot_id");
	*lo = strtoull(hex + 16, NULL, 16);
	hex[16] = '\0';
	*hi = strtoull(hex, NULL, 16);
	return 0;
}
