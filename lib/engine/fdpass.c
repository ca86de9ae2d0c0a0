// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fdpass.c - give the target a file descriptor for the object behind a
 * source mapping, so that shared mappings map the same object and private
 * file mappings the same file.
 *
 * pgclone opens /proc/SRC/map_files/START-END: it names the exact object
 * (a memfd, a deleted file, a SysV segment) without trusting any path.
 * The target then pulls the descriptor with an injected pidfd_open() +
 * pidfd_getfd() on pgclone itself.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "engine.h"

static int open_object(pid_t src_pid, const struct pgc_vma *v)
{
	char path[96];
	struct stat sb;
	int flags = O_CLOEXEC, fd;

	/* a shared mapping that may be made writable needs a writable file */
	flags |= (v->m.shared && (v->vmflags & VMF_MAYWRITE)) ? O_RDWR : O_RDONLY;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)src_pid,
		 (unsigned long long)v->m.start, (unsigned long long)v->m.end);
	fd = open(path, flags);
	if (fd < 0) {
		int err = errno;

		if (err == EPERM || err == EACCES)
			return pgc_fail(-EPERM,
					"not permitted to open the object of 0x%llx-0x%llx %s (needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN)",
					(unsigned long long)v->m.start,
					(unsigned long long)v->m.end, v->name);
		return pgc_fail(err == ENOENT ? -ESRCH : -EIO,
				"cannot open %s: %s", path, strerror(err));
	}
	/* the object must still be the one /proc/PID/maps described */
	if (fstat(fd, &sb) || sb.st_ino != v->m.ino ||
	    major(sb.st_dev) != v->dev_major || minor(sb.st_dev) != v->dev_minor) {
		close(fd);
		return pgc_fail(-EIO, "the object of 0x%llx-0x%llx changed while planning",
				(unsigned long long)v->m.start,
				(unsigned long long)v->m.end);
	}
	return fd;
}

int pgc_fd_to_target(struct pgc_remote *rem, pid_t src_pid,
		     const struct pgc_vma *v)
{
	long pidfd, rfd;
	int fd, ret, same;

	same = pgc_same_pidns(rem->proc->pid, getpid());
	if (same <= 0)
		return pgc_fail(-EOPNOTSUPP,
				"PID %d is in another PID namespace: passing it the object of %s is not supported yet",
				(int)rem->proc->pid, v->name);
	fd = open_object(src_pid, v);
	if (fd < 0)
		return fd;
	ret = pgc_remote_syscall(rem, &pidfd, SYS_pidfd_open, (uint64_t)getpid(),
				 0, 0, 0, 0, 0);
	if (!ret && pidfd < 0)
		ret = pgc_fail((int)pidfd, "pidfd_open in PID %d failed: %s",
			       (int)rem->proc->pid, strerror((int)-pidfd));
	if (ret) {
		close(fd);
		return ret;
	}
	ret = pgc_remote_syscall(rem, &rfd, SYS_pidfd_getfd, (uint64_t)pidfd,
				 (uint64_t)fd, 0, 0, 0, 0);
	if (!ret && rfd < 0)
		ret = pgc_fail(rfd == -EPERM ? -EPERM : -EIO,
			       "PID %d cannot take the object of %s from pgclone: %s",
			       (int)rem->proc->pid, v->name, strerror((int)-rfd));
	{
		long dummy;

		if (pgc_remote_syscall(rem, &dummy, SYS_close, (uint64_t)pidfd, 0,
				       0, 0, 0, 0) && !ret)
			ret = -ESRCH;
	}
	close(fd);
	return ret ? ret : (int)rfd;
}
