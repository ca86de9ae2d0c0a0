// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * output.c - what a command prints on standard output reaches it, or the
 * exit status says it did not: `pgclone maps >/dev/full` is a failure,
 * not a silent success.  As util-linux's close_stdout(): stdout is closed
 * and checked once, at the end, whichever way the program ends.
 *
 * EPIPE (the reader went away, `pgclone maps | head -1`) fails the same
 * way but without a message: the reader chose to stop reading, and the
 * status still tells a script that not everything was delivered.
 * SIGPIPE is ignored so that a closed pipe is an error pgclone handles
 * (a dump removes its temporary file, a clone rolls back) rather than a
 * death in the middle of an operation.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define STDOUT_BUFFER	(1 << 20)

static bool committed, checked;

/*
 * A closed standard descriptor (`<&-`, `>&-`) would be the number of the
 * next file pgclone opens: its image, which "-i -" would then read or a
 * message overwrite.  Hold the number with /dev/null opened read-only
 * instead: nothing is written there by mistake, and every write to it
 * fails (EBADF), which output_exit() reports like any other lost output.
 * Returns whether @fd was closed.
 */
bool hold_closed_fd(int fd)
{
	int nfd;

	if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
		return false;
	nfd = open("/dev/null", O_RDONLY);
	if (nfd >= 0 && nfd != fd) {
		dup2(nfd, fd);
		close(nfd);
	}
	return true;
}

/* 0, or the errno of a failed write of standard output (-1: unknown). */
static int close_stdout_err(void)
{
	bool pending = __fpending(stdout) != 0, failed = ferror(stdout) != 0;
	int err;

	errno = 0;
	if (fclose(stdout) == 0)
		return failed ? -1 : 0;
	err = errno;
	/* closed before anything was written: nothing was lost */
	if (!failed && !pending && err == EBADF)
		return 0;
	return err ? err : -1;
}

int output_exit(int status)
{
	int err;

	if (checked)
		return status;
	checked = true;
	err = close_stdout_err();
	/* a command that failed has said why; check_report_written() too */
	if (!err || status != EXIT_DONE)
		return status;
	if (err != EPIPE)
		fprintf(stderr, "%s: write error on standard output%s%s\n", prog,
			err > 0 ? ": " : "", err > 0 ? strerror(err) : "");
	if (committed)
		return EXIT_INCOMPLETE;
	return status ? status : EXIT_FAILED;
}

void output_committed(void)
{
	committed = true;
}

/* exit() from anywhere (--help, --version): check what was printed. */
static void output_at_exit(void)
{
	int status = output_exit(EXIT_DONE);

	if (status != EXIT_DONE)
		_exit(status);
}

void output_init(void)
{
	hold_closed_fd(STDOUT_FILENO);
	hold_closed_fd(STDERR_FILENO);
	/*
	 * Everything pgclone prints fits: write it once, at the end, where
	 * the reason of a failure (errno) can still be told.  The buffer is
	 * ours: glibc takes the size of a NULL one as a hint and uses
	 * st_blksize (4 KiB for /dev/full), which --help outgrows.
	 */
	if (!isatty(STDOUT_FILENO)) {
		static char buf[STDOUT_BUFFER];

		setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	}
	signal(SIGPIPE, SIG_IGN);
	atexit(output_at_exit);
}
