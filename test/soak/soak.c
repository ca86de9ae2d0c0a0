// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pgclone-soak - clone and roll back, again and again, against the same
 * two long-lived processes, through the library (no process start per
 * cycle), and check that nothing grows: the target's mapping count, this
 * process's file descriptors and its memory.  Leaks of heap memory are
 * also LeakSanitizer's to find in a sanitizer build.
 *
 *   pgclone-soak CYCLES [ENGINE]      (needs -DPGCLONE_FAULT_POINTS=ON)
 *
 * Even cycles clone 1 MiB with PGCLONE_REPLACE over the previous clone;
 * odd cycles fail at a rotating fault point and must roll back.
 */
#include <dirent.h>
#include <errno.h>
#include <pgclone.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1UL << 20)
#define DST 0x5a0000000000UL

static const char *const points[] = { "seized", "mapped", "batch", "copied", "finished" };

static pid_t child(unsigned long *addr)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *m = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		unsigned long a = (unsigned long)m;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		memset(m, 0x6b, MIB);
		if (write(p[1], &a, sizeof(a)) != sizeof(a))
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], addr, sizeof(*addr)) != sizeof(*addr))
		pid = -1;
	close(p[0]);
	return pid;
}

static long count_lines(const char *path)
{
	char line[512];
	long n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static long status_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = atol(line + n + 1);
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	long cycles = argc > 1 ? atol(argv[1]) : 10000;
	enum pgclone_engine engine = argc > 2 && !strcmp(argv[2], "kernel") ?
				     PGCLONE_ENGINE_KERNEL : PGCLONE_ENGINE_COPY;
	unsigned long src, unused;
	pid_t a = child(&src), b = child(&unused);
	char maps[64];
	long warm = cycles / 10, maps0 = 0, fds0 = 0, rss0 = 0, ok = 0, rolled = 0;

	if (a < 0 || b < 0 || cycles < 10) {
		fprintf(stderr, "usage: pgclone-soak CYCLES>=10 [copy|kernel]\n");
		return 2;
	}
	snprintf(maps, sizeof(maps), "/proc/%d/maps", b);
	for (long i = 0; i < cycles; i++) {
		PGCLONE_OPTS(opts, .engine = engine, .flags = PGCLONE_REPLACE);
		int fail = i % 2 && engine == PGCLONE_ENGINE_COPY;
		int ret;

		if (fail)
			setenv("PGCLONE_FAULT_FAIL", points[(i / 2) % 5], 1);
		else
			unsetenv("PGCLONE_FAULT_FAIL");
		ret = pgclone_clone(a, src, MIB, b, DST, &opts, NULL);
		if (fail ? ret != -EIO : ret != 0) {
			fprintf(stderr, "pgclone-soak: cycle %ld: %s (%d)\n", i,
				pgclone_last_error(), ret);
			return 1;
		}
		ok += !fail;
		rolled += fail;
		if (i == warm) {
			maps0 = count_lines(maps);
			fds0 = count_fds();
			rss0 = status_kb("VmRSS");
		}
	}
	{
		long maps1 = count_lines(maps), fds1 = count_fds(), rss1 = status_kb("VmRSS");

		printf("pgclone-soak: %ld cycles (%ld clones, %ld rollbacks): target mappings %ld -> %ld, "
		       "fds %ld -> %ld, VmRSS %ld -> %ld kB\n",
		       cycles, ok, rolled, maps0, maps1, fds0, fds1, rss0, rss1);
		kill(a, SIGKILL);
		kill(b, SIGKILL);
		waitpid(a, NULL, 0);
		waitpid(b, NULL, 0);
#ifdef PGCLONE_SANITIZE
		rss1 = rss0;	/* ASan's quarantine keeps freed memory: LSan judges */
#endif
		/* allocator slack, not a leak per cycle (10,000 x 1 KiB = 10 MiB) */
		return maps1 == maps0 && fds1 == fds0 && rss1 - rss0 < 512 ? 0 : 1;
	}
}
