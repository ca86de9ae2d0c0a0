// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ns.c - are two processes in one PID namespace?  Another user's
 * /proc/PID/ns links need a capability, so this sits above priv.c, and
 * status.c (which priv.c reads) stays free of capabilities.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgcloneP.h"

static int ns_ino(pid_t pid, ino_t *ino)
{
	char path[64];
	struct stat sb;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	pgc_priv_raise(PGC_CAPS_PROC);	/* another user's ns links need it */
	ret = stat(path, &sb) ? -errno : 0;
	pgc_priv_lower();
	if (ret)
		return ret;
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
