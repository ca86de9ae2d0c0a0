// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * access.c - may the target have this object by its own rights?
 *
 * pgclone often holds more than the process it changes: root restoring
 * into a user's process, or a pgclone with file capabilities.  An object
 * it opened (a file named by an image, a source mapping's map_files
 * entry) must reach the target only if the target could have got it
 * itself with the same access: read for any mapping, write for a shared
 * one that is or may become writable.  "Could have got it" is one of:
 *
 *   - the target may ptrace a process that maps it (the source of a
 *     clone, the dumping process of an image): with ptrace it could make
 *     that process hand the object over, so passing it adds nothing;
 *   - the target can open it by its path, with that access.
 *
 * Both questions are put to the kernel BY THE TARGET ITSELF, through
 * syscalls injected while it is frozen (pidfd_open + pidfd_getfd on a
 * descriptor number no process has, which fails with EPERM before EBADF
 * when ptrace access is refused; openat of the path).  We chose that over
 * a helper process taking the target's credentials (setresuid, setgroups,
 * capset, as fdpass.c does merely to hold a descriptor) because a helper
 * re-creates only what we remember to copy: it would miss the target's
 * mount namespace and root, its user namespace (which decides what its
 * capabilities are worth), its LSM label, and whatever credential the
 * kernel grows next.  The target's own openat is checked with all of
 * them, exactly.  The costs: a few syscalls in a process we already hold
 * stopped; a target whose seccomp filter refuses openat or pidfd_getfd is
 * treated as unable to open the object (the safe answer); and opening has
 * side effects for devices and FIFOs, so the target opens only what we
 * found to be a regular file, with O_NONBLOCK | O_NOCTTY, and closes it
 * at once.  What it opened is compared with our object (device and inode)
 * so a path swapped meanwhile proves nothing.
 *
 * A noexec mount is part of "the access": an executable mapping of a file
 * there is refused as the target's own mmap would refuse it.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine.h"

static int rsys(struct pgc_remote *rem, long *ret, long nr, uint64_t a0,
		uint64_t a1, uint64_t a2, uint64_t a3)
{
	return pgc_remote_syscall(rem, ret, nr, a0, a1, a2, a3, 0, 0);
}

static void rclose(struct pgc_remote *rem, long fd)
{
	long dummy;

	if (fd >= 0 && rsys(rem, &dummy, SYS_close, (uint64_t)fd, 0, 0, 0))
		pr_debug("cannot close fd %ld in PID %d", fd, (int)rem->proc->pid);
}

/*
 * May the target ptrace @pid?  1 yes, 0 no, or -errno when the question
 * could not be asked (the target died).
 */
static int target_may_ptrace(struct pgc_remote *rem, pid_t pid)
{
	long pidfd, got;
	int err;

	/* @pid names a process in our PID namespace: the target's must match */
	if (pid <= 0 || pgc_same_pidns(rem->proc->pid, getpid()) <= 0)
		return 0;
	err = rsys(rem, &pidfd, SYS_pidfd_open, (uint64_t)pid, 0, 0, 0);
	if (err == -EACCES)
		return 0;		/* its seccomp filter says no */
	if (err || pidfd < 0)
		return err ? err : 0;
	/* no process has descriptor INT_MAX: EBADF once access is granted */
	err = rsys(rem, &got, SYS_pidfd_getfd, (uint64_t)pidfd, INT_MAX, 0, 0);
	rclose(rem, pidfd);
	if (err == -EACCES)
		return 0;
	if (err)
		return err;
	if (got >= 0) {
		rclose(rem, got);
		return 1;
	}
	return got == -EBADF;
}

/* (Not build.c's pgc_target_write: build.c depends on this file.) */
static int put_path(pid_t pid, uint64_t at, const char *path, size_t len)
{
	struct iovec l = { .iov_base = (void *)path, .iov_len = len };
	struct iovec r = { .iov_base = (void *)at, .iov_len = len };

	if (pgc_vm_writev(pid, &l, 1, &r, 1) == (ssize_t)len)
		return 0;
	return pgc_fail(-ESRCH, "cannot write the path into PID %d", (int)pid);
}

static bool same_inode(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Let the target open @path with @flags.  1: it could, and got @want;
 * 0: it could not (*why says why); -errno: the question failed.
 */
static int target_may_open(struct pgc_remote *rem, const char *path, int flags,
			   const struct stat *want, bool exec, char *why,
			   size_t n)
{
	pid_t pid = rem->proc->pid;
	size_t len = strlen(path) + 1;
	long page, fd, dummy;
	char proc[64];
	struct statvfs fs;
	struct stat sb;
	int err, ok;

	if (len > PATH_MAX) {
		snprintf(why, n, "its path is too long");
		return 0;
	}
	err = rsys(rem, &page, SYS_mmap, 0, PATH_MAX, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS);
	if (!err && page < 0 && page > -4096)
		err = pgc_fail((int)page, "cannot map a page in PID %d: %s", (int)pid,
			       strerror((int)-page));
	if (err)
		return err;
	err = put_path(pid, (uint64_t)page, path, len);
	if (!err)
		err = rsys(rem, &fd, SYS_openat, (uint64_t)AT_FDCWD, (uint64_t)page,
			   (uint64_t)(flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), 0);
	if (rsys(rem, &dummy, SYS_munmap, (uint64_t)page, PATH_MAX, 0, 0) && !err)
		err = -ESRCH;
	if (err == -EACCES) {
		snprintf(why, n, "its seccomp filter forbids openat");
		return 0;
	}
	if (err)
		return err;
	if (fd < 0) {
		snprintf(why, n, "%s", strerror((int)-fd));
		return 0;
	}
	/* what it opened, seen through its descriptor table */
	snprintf(proc, sizeof(proc), "/proc/%d/fd/%ld", (int)pid, fd);
	pgc_priv_raise(PGC_CAPS_PROC);
	ok = !stat(proc, &sb) && same_inode(&sb, want);
	if (!ok)
		snprintf(why, n, "%s is now another file", path);
	if (ok && exec && !statvfs(proc, &fs) && (fs.f_flag & ST_NOEXEC)) {
		snprintf(why, n, "its filesystem is mounted noexec");
		ok = 0;
	}
	pgc_priv_lower();
	rclose(rem, fd);
	return ok;
}

/* 0: it may (*fd may now be read-only); 1: it may not; -errno: error */
int pgc_target_may_have(struct pgc_remote *rem, int *fd,
			const struct pgc_object_use *use, char *why, size_t n)
{
	bool shared_rw = use->shared && use->may_write;
	struct stat sb;
	int ret, flags = shared_rw ? O_RDWR : O_RDONLY;

	why[0] = '\0';
	if (fstat(*fd, &sb))
		return pgc_fail(-errno, "cannot stat the object of %s: %s", use->what,
				strerror(errno));
	ret = target_may_ptrace(rem, use->holder);
	if (ret)
		return ret < 0 ? ret : 0;
	if (!use->path || use->path[0] != '/' || !S_ISREG(sb.st_mode)) {
		if (use->holder > 0)
			snprintf(why, n, "it has no path it could open, and it may not ptrace PID %d, which maps it",
				 (int)use->holder);
		else
			snprintf(why, n, "it has no path it could open");
		return 1;
	}
	ret = target_may_open(rem, use->path, flags, &sb,
			      use->prot & PROT_EXEC, why, n);
	if (ret)
		return ret < 0 ? ret : 0;
	/*
	 * A shared mapping that is not writable now may stay read-only for
	 * good: a read-only descriptor makes the kernel drop VM_MAYWRITE, so
	 * mprotect can never make it writable.
	 */
	if (shared_rw && !(use->prot & PROT_WRITE) &&
	    target_may_open(rem, use->path, O_RDONLY, &sb, use->prot & PROT_EXEC,
			    (char[8]){ 0 }, 8) == 1) {
		char self[64];
		int ro;

		snprintf(self, sizeof(self), "/proc/self/fd/%d", *fd);
		pgc_priv_raise_as_user(PGC_CAP_DAC_READ_SEARCH);
		ro = open(self, O_RDONLY | O_CLOEXEC);
		pgc_priv_lower();
		if (ro < 0)
			return pgc_fail(-errno, "cannot reopen %s read-only: %s",
					use->what, strerror(errno));
		close(*fd);
		*fd = ro;
		pr_warn("PID %d may not write %s (%s): mapping it read-only, and it can never be made writable",
			(int)rem->proc->pid, use->what, why);
		return 0;
	}
	return 1;
}
