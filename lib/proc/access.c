// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * access.c - say why the kernel would not let us ptrace a process.
 *
 * The kernel answers EPERM and nothing more.  The rules it applied
 * (PTRACE_MODE_ATTACH_REALCREDS, then Yama) are few, and what they look
 * at is in /proc, so the reason can be named: a different user without
 * CAP_SYS_PTRACE, a process that is not dumpable, one that holds
 * capabilities we lack, or Yama's ptrace_scope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pgcloneP.h"

#define CAP_SYS_PTRACE_BIT 19

/* "Field:\t..." of /proc/PID/status: the value, or NULL. */
static const char *field(const char *status, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == ':')
			return p + n + 1;
	return NULL;
}

static int read_status(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	size_t got;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "re");
	if (!f)
		return -1;
	got = fread(buf, 1, len - 1, f);
	buf[got] = '\0';
	fclose(f);
	return 0;
}

static unsigned long long caps(const char *status, const char *name)
{
	const char *v = field(status, name);

	return v ? strtoull(v, NULL, 16) : 0;
}

static int yama_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int scope = 0;

	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = 0;
		fclose(f);
	}
	return scope;
}

/* Is @pid a descendant of ours?  Yama scope 1 lets a parent attach. */
static bool descendant(pid_t pid)
{
	char buf[4096];
	pid_t me = getpid();

	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		const char *pp;

		if (read_status(pid, buf, sizeof(buf)))
			return false;
		pp = field(buf, "PPid");
		pid = pp ? (pid_t)atoi(pp) : 0;
		if (pid == me)
			return true;
	}
	return false;
}

void pgc_ptrace_denied_reason(pid_t pid, char *out, size_t len)
{
	char mine[4096], theirs[4096];
	unsigned long long my_eff, my_prm, their_prm;
	bool cap_ptrace;
	unsigned int ruid, tuid[4] = { 0 };
	struct stat st;
	char path[32];
	int scope = yama_scope();
	const char *u;

	snprintf(out, len, "the kernel refused (an LSM policy?)");
	if (read_status(0, mine, sizeof(mine)) || read_status(pid, theirs, sizeof(theirs)))
		return;
	my_eff = caps(mine, "CapEff");
	my_prm = caps(mine, "CapPrm");
	their_prm = caps(theirs, "CapPrm");
	cap_ptrace = my_eff & (1ULL << CAP_SYS_PTRACE_BIT);
	ruid = getuid();
	u = field(theirs, "Uid");
	if (u)
		sscanf(u, "%u %u %u %u", &tuid[0], &tuid[1], &tuid[2], &tuid[3]);

	if (scope >= 3) {
		snprintf(out, len, "kernel.yama.ptrace_scope is 3: no process may be ptraced");
	} else if (!cap_ptrace && (tuid[0] != ruid || tuid[1] != ruid || tuid[2] != ruid)) {
		snprintf(out, len, "it runs as uid %u, you are uid %u and lack CAP_SYS_PTRACE",
			 tuid[1], ruid);
	} else if (!cap_ptrace && scope == 2) {
		snprintf(out, len, "kernel.yama.ptrace_scope is 2: only CAP_SYS_PTRACE may attach");
	} else if (!cap_ptrace && scope == 1 && !descendant(pid)) {
		snprintf(out, len, "kernel.yama.ptrace_scope is 1: only its ancestors "
			 "(or CAP_SYS_PTRACE) may attach");
	} else if (!cap_ptrace && (their_prm & ~my_prm)) {
		snprintf(out, len, "it holds capabilities you lack (CapPrm %llx), "
			 "which only CAP_SYS_PTRACE may override", their_prm);
	} else if (!cap_ptrace) {
		/* a non-dumpable process's /proc directory belongs to root */
		snprintf(path, sizeof(path), "/proc/%d", (int)pid);
		if (!stat(path, &st) && st.st_uid == 0 && tuid[1] != 0)
			snprintf(out, len, "it is not dumpable (setuid, or PR_SET_DUMPABLE 0): "
				 "attaching needs CAP_SYS_PTRACE");
	}
}
