// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * outfile.c - open, commit or drop the file a dump writes (outfile.h says
 * what each kind of -o gets, and why).
 *
 * The path is resolved here one component at a time, not by the kernel,
 * so that the protected_symlinks rule holds on every link of it even on
 * a system that turned the sysctl off: a link planted by another user in
 * /tmp must not send root's image over /etc/shadow.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cli.h"
#include "escape.h"
#include "outfile.h"

#define MAX_LINKS	40		/* the kernel's MAXSYMLINKS */
#define PROC_MAGIC	0x9fa0		/* PROC_SUPER_MAGIC */
#define TMP_SUFFIX	".pgclone-XXXXXX"
#define TMP_LEAF_MAX	200		/* "." + leaf + suffix within NAME_MAX */

/* One error line, "WHAT PATH: WHY", the path escaped; then the status. */
static int fail(const struct outfile *o, int status, const char *what,
		const char *why)
{
	char *p = text_escape(o->path);

	fprintf(stderr, "%s: %s %s: %s\n", prog, what, p ? p : "(-o)", why);
	free(p);
	return status;
}

/*
 * fs/namei.c may_follow_link(): in a sticky, world-writable directory a
 * link is followed only if it belongs to the follower or to the directory's
 * owner -- anyone else may have planted it there.
 */
static bool may_follow(int dir, const struct stat *link)
{
	struct stat d;

	if (fstat(dir, &d))
		return false;
	if ((d.st_mode & (S_ISVTX | S_IWOTH)) != (S_ISVTX | S_IWOTH))
		return true;
	return link->st_uid == geteuid() || link->st_uid == d.st_uid;
}

static bool on_procfs(int dir)
{
	struct statfs s;

	return fstatfs(dir, &s) == 0 && s.f_type == PROC_MAGIC;
}

static int reopen_dir(int *dir, int at, const char *name, int flags)
{
	int nd = openat(at, name, O_PATH | O_DIRECTORY | O_CLOEXEC | flags);

	if (nd < 0)
		return -errno;
	close(*dir);
	*dir = nd;
	return 0;
}

/* Replace *rest by "target/remainder" of a link read with readlinkat(). */
static int splice_link(int *dir, const char *name, const char *remainder,
		       char **rest)
{
	char target[4096], *joined;
	ssize_t n = readlinkat(*dir, name, target, sizeof(target) - 1);

	if (n < 0)
		return -errno;
	if (n == (ssize_t)sizeof(target) - 1)
		return -ENAMETOOLONG;
	target[n] = '\0';
	if (asprintf(&joined, "%s/%s", target, remainder) < 0)
		return -ENOMEM;
	if (target[0] == '/') {
		int err = reopen_dir(dir, AT_FDCWD, "/", 0);

		if (err) {
			free(joined);
			return err;
		}
	}
	free(*rest);
	*rest = joined;
	return 0;
}

enum target { T_NEW, T_REGULAR, T_DIRECT };

/*
 * Walk @o->path: leave o->dirfd on the directory that holds the last
 * component, o->leaf its name, and, for a device or FIFO, o->fd open on it.
 * -errno, or -EXDEV for a link the protected_symlinks rule refuses.
 */
static int resolve(struct outfile *o, enum target *t)
{
	char *rest = strdup(o->path), *leaf = NULL;
	int dir = -1, links = 0, err;

	if (!rest)
		return -ENOMEM;
	err = reopen_dir(&dir, AT_FDCWD, rest[0] == '/' ? "/" : ".", 0);
	for (;;) {
		char *p = rest, *c, *next;
		bool last;
		struct stat st;

		if (err)
			break;
		while (*p == '/')
			p++;
		c = p;
		next = strchr(c, '/');
		if (next)
			*next++ = '\0';
		else
			next = c + strlen(c);
		while (*next == '/')
			next++;
		last = !*next;
		if (!*c || !strcmp(c, ".") || !strcmp(c, "..")) {
			if (last) {
				err = -EISDIR;	/* "dir/", ".", "..": no file name */
				break;
			}
			if (!strcmp(c, ".."))
				err = reopen_dir(&dir, dir, "..", 0);
			memmove(rest, next, strlen(next) + 1);
			continue;
		}
		if (fstatat(dir, c, &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno == ENOENT && last && !strchr(o->path + strlen(o->path) - 1, '/')) {
				*t = T_NEW;
				leaf = strdup(c);
				err = leaf ? 0 : -ENOMEM;
			} else {
				err = -errno;
			}
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > MAX_LINKS) {
				err = -ELOOP;
			} else if (!may_follow(dir, &st)) {
				err = -EXDEV;
			} else if (on_procfs(dir)) {
				/* a magic link (/proc/self/fd/1): only the kernel can follow it */
				if (!last) {
					err = reopen_dir(&dir, dir, c, 0);
					memmove(rest, next, strlen(next) + 1);
					continue;
				}
				o->fd = openat(dir, c, O_WRONLY | O_NOCTTY | O_CLOEXEC);
				err = o->fd < 0 ? -errno : 0;
				*t = T_DIRECT;
				break;
			} else {
				char *remainder = strdup(next);

				err = remainder ? splice_link(&dir, c, remainder, &rest) : -ENOMEM;
				free(remainder);
			}
			continue;
		}
		if (!last) {
			err = S_ISDIR(st.st_mode) ? reopen_dir(&dir, dir, c, O_NOFOLLOW) : -ENOTDIR;
			memmove(rest, next, strlen(next) + 1);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			err = -EISDIR;
		} else if (S_ISREG(st.st_mode)) {
			*t = T_REGULAR;
			leaf = strdup(c);
			err = leaf ? 0 : -ENOMEM;
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
			*t = T_DIRECT;
			o->fd = openat(dir, c, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
			err = o->fd < 0 ? -errno : 0;
		} else {
			err = -ESOCKTNOSUPPORT;	/* a socket: not a file to write */
		}
		break;
	}
	free(rest);
	if (err) {
		free(leaf);
		if (dir >= 0)
			close(dir);
		return err;
	}
	o->dirfd = dir;
	o->leaf = leaf;
	return 0;
}

static int create_tmp(struct outfile *o)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	int len = (int)strlen(o->leaf);

	if (len > TMP_LEAF_MAX)
		len = TMP_LEAF_MAX;
	for (int tries = 0; tries < 100; tries++) {
		unsigned char rnd[6];
		char *x;

		free(o->tmp);
		if (asprintf(&o->tmp, ".%.*s" TMP_SUFFIX, len, o->leaf) < 0) {
			o->tmp = NULL;
			return -ENOMEM;
		}
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -errno;
		x = o->tmp + strlen(o->tmp) - 6;
		for (int i = 0; i < 6; i++)
			x[i] = chars[rnd[i] % (sizeof(chars) - 1)];
		/* 0600: an image holds a process's memory, secrets included */
		o->fd = openat(o->dirfd, o->tmp,
			       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (o->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	free(o->tmp);
	o->tmp = NULL;
	return -errno;
}

int outfile_open(struct outfile *o, const char *path)
{
	enum target t = T_NEW;
	struct stat st;
	int err;

	*o = (struct outfile){ .path = path, .fd = -1, .dirfd = -1 };
	if (!path[0])
		return errx_usage("-o: the file name is empty");
	if (!strcmp(path, "-")) {
		o->fd = STDOUT_FILENO;
		t = T_DIRECT;
	} else {
		err = resolve(o, &t);
		if (err == -EXDEV)
			return fail(o, EXIT_USAGE, "refusing to follow a symbolic link on",
				    "another user's link in a sticky world-writable directory (see FILES in pgclone(1))");
		if (err == -ESOCKTNOSUPPORT)
			return fail(o, EXIT_USAGE, "cannot write an image to",
				    "a socket; give a file, a device, a FIFO or -");
		if (err)
			return fail(o, EXIT_USAGE, "cannot create", strerror(-err));
	}
	if (t == T_DIRECT) {
		/* what was opened, not what was looked at: it may have changed */
		if (fstat(o->fd, &st) || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ||
					   S_ISFIFO(st.st_mode) || o->fd == STDOUT_FILENO)) {
			outfile_abort(o);
			return fail(o, EXIT_USAGE, "refusing to write through",
				    "it reaches a regular file only through /proc; use -o - or the file's own name");
		}
		if (isatty(o->fd)) {
			outfile_abort(o);
			return errx_usage("refusing to write an image to a terminal");
		}
		return 0;
	}
	err = create_tmp(o);
	if (err) {
		char why[256];

		snprintf(why, sizeof(why), "%s (the image is written to a new file in the same directory, then renamed over it)",
			 strerror(-err));
		outfile_abort(o);
		return fail(o, EXIT_USAGE, "cannot create", why);
	}
	return 0;
}

int outfile_commit(struct outfile *o)
{
	int dfd, err = 0;

	if (!o->tmp) {
		/* a device or a pipe: what could not be written was an error already */
		if (o->fd != STDOUT_FILENO && close(o->fd))
			err = errno;
		o->fd = -1;
		return err ? fail(o, EXIT_FAILED, "cannot write the image to", strerror(err)) : 0;
	}
	if (cancel_signal())
		err = EINTR;
	else if (fsync(o->fd))
		err = errno;
	if (close(o->fd) && !err)
		err = errno;
	o->fd = -1;
	if (!err && renameat(o->dirfd, o->tmp, o->dirfd, o->leaf))
		err = errno;
	if (err) {
		outfile_abort(o);
		return fail(o, EXIT_FAILED, "cannot write the image to", strerror(err));
	}
	free(o->tmp);
	o->tmp = NULL;
	/* the new name is durable once the directory is */
	dfd = openat(o->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd))
		err = errno;
	if (dfd >= 0)
		close(dfd);
	outfile_abort(o);	/* nothing left to remove: closes the directory */
	if (err && err != EINVAL)	/* EINVAL: a file system without directory fsync */
		return fail(o, EXIT_INCOMPLETE, "the image is in place, but syncing the directory of",
			    strerror(err));
	return 0;
}

void outfile_abort(struct outfile *o)
{
	if (o->fd >= 0 && o->fd != STDOUT_FILENO)
		close(o->fd);
	o->fd = -1;
	if (o->tmp)
		unlinkat(o->dirfd, o->tmp, 0);	/* ours, created with O_EXCL */
	free(o->tmp);
	o->tmp = NULL;
	free(o->leaf);
	o->leaf = NULL;
	if (o->dirfd >= 0)
		close(o->dirfd);
	o->dirfd = -1;
}
