// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvm_bench - the guest benchmark of process_vm_mmap(2), run by
 * kernel/bench.sh inside the patched guest (not a test).
 *
 * For one range of touched private anonymous memory, 4 KiB pages then
 * THP, it measures side by side, interleaved, in one boot:
 *   fork     fork() of the process holding the range: what copying the
 *            same page tables costs the kernel today;
 *   kernel   process_vm_mmap() of the range into another process;
 *   copy     pgclone --engine copy of the range into another process
 *            (the whole CLI run: ptrace, mmap injection, data copy);
 * and, after a kernel clone, what the destination holds: private and
 * shared pages of the range (smaps) and the memory the system lost.
 *
 *   pvm_bench [MIB] [ROUNDS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/process_vm_mmap.h"

#include "median.h"

#define MIB (1UL << 20)
#define PMD (2 * MIB)
#define DST 0x400000000000UL

static long pvm_nr;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long read_long(const char *path, const char *field)
{
	char line[256];
	size_t n = field ? strlen(field) : 0;
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!field) {
			v = strtol(line, NULL, 0);
			break;
		}
		if (!strncmp(line, field, n) && line[n] == ':')
			v = atol(line + n + 1);
	}
	fclose(f);
	return v;
}

/* Sum of an smaps field over the VMAs inside [a, a+len), in kB. */
static long smaps_kb(pid_t pid, unsigned long a, unsigned long len, const char *field)
{
	char path[64], line[256];
	unsigned long s, e;
	size_t fl = strlen(field);
	long sum = 0, v;
	int in = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = s >= a && e <= a + len;
		else if (in && !strncmp(line, field, fl) && line[fl] == ':' &&
			 sscanf(line + fl + 1, "%ld", &v) == 1)
			sum += v;
	}
	fclose(f);
	return sum;
}

/* An idle process to clone into; killed to drop what it received. */
static pid_t idle_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static double time_fork(void)
{
	double t0 = now_ms(), t;
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	t = now_ms() - t0;
	waitpid(pid, NULL, 0);
	return t;
}

static double time_kernel(unsigned long src, unsigned long len, int keep_stats,
			  long *priv_kb, long *shared_kb, long *lost_kb)
{
	pid_t dst = idle_child();
	int self = syscall(SYS_pidfd_open, getpid(), 0);
	int them = syscall(SYS_pidfd_open, dst, 0);
	long avail = read_long("/proc/meminfo", "MemAvailable");
	double t0 = now_ms(), t;
	long r = syscall(pvm_nr, self, src, len, them, DST, 0);

	t = now_ms() - t0;
	if (r != (long)DST) {
		fprintf(stderr, "pvm_bench: process_vm_mmap: %s\n", strerror(errno));
		exit(1);
	}
	if (keep_stats) {
		*lost_kb = avail - read_long("/proc/meminfo", "MemAvailable");
		*priv_kb = smaps_kb(dst, DST, len, "Private_Dirty") +
			   smaps_kb(dst, DST, len, "Private_Clean");
		*shared_kb = smaps_kb(dst, DST, len, "Shared_Dirty") +
			     smaps_kb(dst, DST, len, "Shared_Clean");
	}
	close(self);
	close(them);
	reap(dst);
	return t;
}

static double time_copy_engine(unsigned long src, unsigned long len)
{
	char spid[16], dpid[16], saddr[32], slen[32], daddr[32];
	pid_t dst = idle_child(), pid;
	double t0, t;
	int status;

	snprintf(spid, sizeof(spid), "%d", getpid());
	snprintf(dpid, sizeof(dpid), "%d", dst);
	snprintf(saddr, sizeof(saddr), "%#lx", src);
	snprintf(slen, sizeof(slen), "%lu", len);
	snprintf(daddr, sizeof(daddr), "%#lx", DST);
	t0 = now_ms();
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execl("/bin/pgclone", "pgclone", "--engine", "copy", "--pid", spid,
		      "--src", saddr, "--len", slen, "--target", dpid, "--dst", daddr,
		      "-q", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	t = now_ms() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "pvm_bench: pgclone --engine copy failed (%d)\n", status);
		exit(1);
	}
	reap(dst);
	return t;
}

static void bench(const char *mode, unsigned long len, int rounds)
{
	int thp = !strcmp(mode, "thp");
	char *raw = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unsigned long src = ((unsigned long)raw + PMD - 1) & ~(PMD - 1);
	double f[16], k[16], c[16];
	long priv = -1, shared = -1, lost = -1, huge;

	if (raw == MAP_FAILED) {
		perror("pvm_bench: mmap");
		exit(1);
	}
	madvise((void *)src, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (unsigned long o = 0; o < len; o += 4096)
		((char *)src)[o] = (char)(o >> 12);
	huge = smaps_kb(getpid(), src, len, "AnonHugePages");

	/* warm up each path once, then interleave the measured rounds */
	time_fork();
	time_kernel(src, len, 0, NULL, NULL, NULL);
	for (int i = 0; i < rounds; i++) {
		f[i] = time_fork();
		k[i] = time_kernel(src, len, i == 0, &priv, &shared, &lost);
		c[i] = time_copy_engine(src, len);
	}
	printf("BENCH mode=%s size_mib=%lu rounds=%d source_thp_kb=%ld "
	       "fork_ms=%.2f kernel_ms=%.2f copy_ms=%.2f kernel_over_fork=%.2f "
	       "copy_over_kernel=%.1f dst_private_kb=%ld dst_shared_kb=%ld "
	       "mem_used_by_clone_kb=%ld\n",
	       mode, len / MIB, rounds, huge, median(f, rounds), median(k, rounds),
	       median(c, rounds), median(k, rounds) / median(f, rounds),
	       median(c, rounds) / median(k, rounds), priv, shared, lost);
	fflush(stdout);
	munmap(raw, len + PMD);
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;

	/* only run in the guest, on the series' kernel: EINVAL for no flag */
	pvm_nr = __NR_process_vm_mmap;
	if (syscall(pvm_nr, -1, 0UL, 0UL, -1, 0UL, ~0U) != -1 || errno != EINVAL) {
		fprintf(stderr, "pvm_bench: this kernel has no process_vm_mmap\n");
		return 1;
	}
	if (rounds < 1 || rounds > 16)
		rounds = 3;
	bench("4k", mib * MIB, rounds);
	bench("thp", mib * MIB, rounds);
	return 0;
}
