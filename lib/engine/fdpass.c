// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fdpass.c - give the target a file descriptor for the object behind a
 * source mapping, so that shared mappings map the same object and private
 * file mappings the same file.
 *
 * pgclone opens /proc/SRC/map_files/START-END: it names the exact object
 * (a memfd, a deleted file, a SysV segment) without trusting any path.
 * The target then pulls the descriptor with an injected pidfd_open() +
 * pidfd_getfd() on pgclone itself.  A target may not do that to a more
 * privileged pgclone (root cloning into a user's process): then the
 * descriptor is held out by a short-lived child that has taken the
 * target's own credentials, and the target pulls it from there.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	fd = pgc_proc_open(path, flags);
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

/* The target runs pidfd_open(@holder) + pidfd_getfd(pidfd, @fd). */
static int pull_fd(struct pgc_remote *rem, pid_t holder, int fd, long *rfd)
{
	long pidfd, dummy;
	int ret;

	ret = pgc_remote_syscall(rem, &pidfd, SYS_pidfd_open, (uint64_t)holder,
				 0, 0, 0, 0, 0);
	if (ret)
		return ret;
	if (pidfd < 0) {
		*rfd = pidfd;
		return 0;
	}
	ret = pgc_remote_syscall(rem, rfd, SYS_pidfd_getfd, (uint64_t)pidfd,
				 (uint64_t)fd, 0, 0, 0, 0);
	if (pgc_remote_syscall(rem, &dummy, SYS_close, (uint64_t)pidfd, 0, 0, 0,
			       0, 0) && !ret)
		ret = -ESRCH;
	return ret;
}

/*
 * Fork a child that becomes the target's user (no capabilities, dumpable,
 * so the target passes the ptrace check against it), holding @fd until
 * the target has pulled it.
 */
static int pull_fd_as_target_user(struct pgc_remote *rem, int fd, long *rfd)
{
	struct pgc_status st;
	int ready[2], hold[2], ret;
	char c;
	pid_t child;

	ret = pgc_status_read(rem->proc->pid, 0, &st);
	if (ret)
		return ret;
	if (pipe2(ready, O_CLOEXEC))
		return -errno;
	if (pipe2(hold, O_CLOEXEC)) {
		close(ready[0]);
		close(ready[1]);
		return -errno;
	}
	child = fork();
	if (child == 0) {
		close(ready[0]);
		close(hold[1]);
		pgc_priv_raise(PGC_CAP_SETUID | PGC_CAP_SETGID);
		if (setgroups(0, NULL) || setresgid(st.rgid, st.rgid, st.rgid) ||
		    setresuid(st.ruid, st.ruid, st.ruid) ||
		    pgc_priv_drop_all() || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	ret = child < 0 ? -errno : 0;
	if (!ret && read(ready[0], &c, 1) != 1)
		ret = -EPERM;
	if (!ret)
		ret = pull_fd(rem, child, fd, rfd);
	close(hold[1]);
	close(ready[0]);
	if (child > 0)
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
	return ret;
}

int pgc_fd_give(struct pgc_remote *rem, int fd, const char *what)
{
	long rfd;
	int ret, same;

	same = pgc_same_pidns(rem->proc->pid, getpid());
	if (same <= 0)
		return pgc_fail(-EOPNOTSUPP,
				"PID %d is in another PID namespace: passing it the object of %s is not supported yet",
				(int)rem->proc->pid, what);
	ret = pull_fd(rem, getpid(), fd, &rfd);
	if (!ret && rfd == -EPERM) {
		pr_debug("PID %d may not take fds from pgclone; using a helper with its credentials",
			 (int)rem->proc->pid);
		ret = pull_fd_as_target_user(rem, fd, &rfd);
	}
	if (!ret && rfd < 0)
		ret = pgc_fail(rfd == -EPERM ? -EPERM : -EIO,
			       "PID %d cannot take the object of %s from pgclone: %s",
			       (int)rem->proc->pid, what, strerror((int)-rfd));
	return ret ? ret : (int)rfd;
}

int pgc_fd_to_target(struct pgc_remote *rem, pid_t src_pid,
		     const struct pgc_vma *v)
{
	struct pgc_object_use use = {
		.what = v->name,
		.path = v->name[0] == '/' ? v->name : NULL,
		.holder = src_pid,
		.prot = v->m.prot,
		.shared = v->m.shared,
		.may_write = v->vmflags & VMF_MAYWRITE,
	};
	int fd = open_object(src_pid, v), ret;
	char why[300];

	if (fd < 0)
		return fd;
	/*
	 * The source has this mapping; the destination gets it only if its
	 * own credentials would: the same rule as restore (access.c).
	 */
	ret = pgc_target_may_have(rem, &fd, &use, why, sizeof(why));
	if (ret > 0)
		ret = pgc_fail(-EPERM, "PID %d could not open %s of 0x%llx-0x%llx itself (%s): not giving it the mapping",
			       (int)rem->proc->pid, v->name,
			       (unsigned long long)v->m.start,
			       (unsigned long long)v->m.end, why);
	if (!ret)
		ret = pgc_fd_give(rem, fd, v->name);
	close(fd);
	return ret;
}
