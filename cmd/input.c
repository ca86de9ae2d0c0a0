// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * input.c - open the image that restore, show and verify read, without
 * hanging where no signal can end it.
 *
 * open(2) of a FIFO blocks until a writer comes.  A signal ends that wait
 * only if its handler is installed without SA_RESTART (cancel_on_signals()
 * and exit_on_signals() do so), and a signal that lands just before the
 * open() blocks would be missed; so while we open, an interval timer
 * interrupts the open every SLICE_MS, and between two tries we look at
 * what was asked (a cancelling signal, --timeout).  Once open, the waits
 * for data are the library's (restore: its parser child bounds them with
 * the timeout, and it asks our progress callback whether to stop) or end
 * in exit_on_signals() (show, verify).  Standard input is already open.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "escape.h"

#define SLICE_MS 200

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void tick(int sig)
{
	(void)sig;		/* only there to make open(2) return EINTR */
}

static void ticks(bool on)
{
	struct itimerval it = { { 0, SLICE_MS * 1000 }, { 0, SLICE_MS * 1000 } };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on ? tick : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	if (!on)
		memset(&it, 0, sizeof(it));
	if (on)
		sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	if (!on)
		sigaction(SIGALRM, &sa, NULL);
}

/*
 * open(2) @path, ending the wait for a FIFO's writer on a signal or timeout;
 * messages name it as @shown (escaped: pgclone(1), ESCAPING).
 */
static int open_waiting(const char *path, const char *shown,
			unsigned int timeout_ms, int *fdp)
{
	double until = now() + timeout_ms / 1000.0;
	int fd, ret = 0;

	ticks(true);
	while ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR) {
		if (cancel_signal()) {
			fprintf(stderr, "%s: interrupted while waiting for a writer to open %s\n",
				prog, shown);
			ret = EXIT_FAILED;
			break;
		}
		if (timeout_ms && now() >= until) {
			fprintf(stderr, "%s: no writer opened %s for %g seconds (--timeout)\n",
				prog, shown, timeout_ms / 1000.0);
			ret = EXIT_FAILED;
			break;
		}
	}
	ticks(false);
	if (!ret && fd < 0)
		ret = errx_usage("cannot open %s: %s", shown, strerror(errno));
	*fdp = fd;
	return ret;
}

int open_input(const char *path, unsigned int timeout_ms, int *fdp)
{
	struct stat st;
	char *shown;
	int fd, ret;

	if (!path)
		return errx_usage("an image is required (a file, or - for standard input)");
	if (!strcmp(path, "-") && stdin_closed)
		return errx_usage("standard input is closed: nothing to read an image from");
	if (!strcmp(path, "-")) {
		*fdp = STDIN_FILENO;
		return 0;
	}
	shown = text_escape(path);
	ret = open_waiting(path, shown ? shown : "the image", timeout_ms, &fd);
	/* an image is a stream of bytes: a file, a pipe, a socket, a tty */
	if (!ret && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		ret = errx_usage("%s is a directory, not an image", shown ? shown : "the input");
	}
	free(shown);
	if (ret)
		return ret;
	*fdp = fd;
	return 0;
}

int timeout_option(const char *arg, unsigned int *ms)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(arg, &end);
	/* up to 11 days: milliseconds in an unsigned int, and a sane bound */
	if (errno || end == arg || *end || !(s > 0) || s > 1e6)
		return errx_usage("--timeout '%.40s': not a number of seconds between 0 and 1000000",
				  arg);
	*ms = (unsigned int)(s * 1000 + 0.5);
	if (!*ms)
		*ms = 1;
	return 0;
}
