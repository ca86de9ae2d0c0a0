/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PGCLONE_OUTFILE_H
#define PGCLONE_OUTFILE_H

/*
 * Where "dump -o" writes, so that a failed, interrupted or killed dump
 * loses nothing (pgclone(1), FILES):
 *
 *  - "-", a character or block device and a FIFO are written directly:
 *    never created, truncated or removed;
 *  - a regular file (or a name that does not exist yet) is written to a
 *    new temporary file beside it, ".NAME.pgclone-XXXXXX", created with
 *    O_EXCL and mode 0600, fsync'd and renamed over NAME only when the
 *    image is complete; any failure removes the temporary file, and an
 *    existing NAME (and every hard link to it) is left as it was;
 *  - symbolic links on the way are followed only where the kernel's
 *    fs.protected_symlinks would follow them, whatever that sysctl says:
 *    never a link in a sticky world-writable directory that belongs to
 *    neither the caller nor the directory's owner;
 *  - anything else (a directory, a socket) is refused.
 */
struct outfile {
	const char *path;	/* as given, for messages */
	int fd;			/* the image goes here */
	int dirfd;		/* O_PATH of the directory holding tmp, or -1 */
	char *leaf;		/* the final name in dirfd */
	char *tmp;		/* the temporary name in dirfd; NULL: written directly */
};

/* Open @path for an image: 0, or an exit status after one error line. */
int outfile_open(struct outfile *o, const char *path);
/* The image is complete: put it in place.  0, or an exit status after one
 * error line (EXIT_INCOMPLETE: in place, but its directory not synced). */
int outfile_commit(struct outfile *o);
/* The image failed: remove the temporary file, leave the rest alone. */
void outfile_abort(struct outfile *o);

#endif
