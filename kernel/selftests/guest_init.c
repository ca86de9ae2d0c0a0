// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guest_init - /init of the pgclone test guest.
 *
 * Mounts what pgclone needs, runs the pgclone CLI against victim
 * processes (/bin/pgclone-victim, the same program the host suite uses)
 * and checks every result from /proc, printing TAP on the serial console;
 * then powers the guest off.  The host decides pass or fail from the
 * serial log (kernel/boot.sh): the TAP results, the final line, and the
 * absence of any kernel warning.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/process_vm_mmap.h"

#define PGCLONE "/bin/pgclone"
#define VICTIM "/bin/pgclone-victim"
#define MIB (1UL << 20)
#define DST 0x500000000000UL

static int passed, failed, testno;
static char last_err[512];	/* pgclone's stderr from the last run */
static int last_rc;

struct victim {
	pid_t pid;
	FILE *in, *out;
};

static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++testno);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		printf("# last pgclone exit %d: %s\n", last_rc,
		       last_err[0] ? strtok(last_err, "\n") : "(nothing on stderr)");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

static int victim_start(struct victim *v)
{
	int in[2], out[2];
	char line[64];

	if (pipe(in) || pipe(out))
		return -1;
	v->pid = fork();
	if (v->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(VICTIM, VICTIM, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	v->in = fdopen(in[1], "w");
	v->out = fdopen(out[0], "r");
	setvbuf(v->in, NULL, _IOLBF, 0);
	if (!fgets(line, sizeof(line), v->out) || strncmp(line, "ready", 5))
		return -1;
	return 0;
}

static char *victim_cmd(struct victim *v, char *reply, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(v->in, fmt, ap);
	va_end(ap);
	fputc('\n', v->in);
	fflush(v->in);
	if (!fgets(reply, (int)n, v->out))
		return strcpy(reply, "DEAD");
	reply[strcspn(reply, "\n")] = '\0';
	return reply;
}

static unsigned long victim_addr(struct victim *v, const char *fmt, unsigned long arg)
{
	char r[128];

	victim_cmd(v, r, sizeof(r), fmt, arg);
	return strtoul(r, NULL, 16);
}

static int victim_alive(struct victim *v)
{
	char r[32];

	return !strcmp(victim_cmd(v, r, sizeof(r), "ping"), "pong");
}

static void victim_stop(struct victim *v)
{
	kill(v->pid, SIGKILL);
	waitpid(v->pid, NULL, 0);
	fclose(v->in);
	fclose(v->out);
}

/* Run pgclone with a NULL-terminated argv tail; stderr into @err. */
static int run(char *err, size_t errlen, const char *env, ...)
{
	char *argv[32] = { PGCLONE };
	int p[2], status, n = 1;
	va_list ap;
	pid_t pid;
	ssize_t got;
	size_t used;

	va_start(ap, env);
	while (n < 31 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 1);
		dup2(p[1], 2);
		if (env)
			putenv((char *)env);
		execv(PGCLONE, argv);
		_exit(127);
	}
	close(p[1]);
	/* pgclone may write a line in several pieces: read to the end */
	used = 0;
	while ((got = read(p[0], err + used, errlen - 1 - used)) > 0 ||
	       (got < 0 && errno == EINTR)) {
		if (got > 0)
			used += (size_t)got;
		if (used == errlen - 1)
			break;
	}
	err[used] = '\0';
	while (read(p[0], &status, sizeof(status)) > 0)
		;
	close(p[0]);
	waitpid(pid, &status, 0);
	snprintf(last_err, sizeof(last_err), "%s", err);
	last_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	return last_rc;
}

static int read_mem(pid_t pid, unsigned long addr, void *buf, size_t len)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int same_bytes(pid_t a, unsigned long aa, pid_t b, unsigned long ba, size_t len)
{
	char *x = malloc(len), *y = malloc(len);
	int same = x && y && !read_mem(a, aa, x, len) && !read_mem(b, ba, y, len) &&
		   !memcmp(x, y, len);

	free(x);
	free(y);
	return same;
}

static char *maps_of(pid_t pid)
{
	static char buf[2][65536];
	static int which;
	char path[64];
	int fd;
	ssize_t n;

	which ^= 1;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY);
	n = fd < 0 ? 0 : read(fd, buf[which], sizeof(buf[which]) - 1);
	if (fd >= 0)
		close(fd);
	buf[which][n > 0 ? n : 0] = '\0';
	return buf[which];
}

static void hex(char *out, unsigned long v)
{
	sprintf(out, "0x%lx", v);
}

/* Whether the kernel has process_vm_mmap: its entry point is in kallsyms. */
static int have_kernel_engine(void)
{
	static int found = -1;	/* asked several times, looked up once */
	char line[512];
	FILE *f;

	if (found >= 0)
		return found;
	found = 0;
	f = fopen("/proc/kallsyms", "r");
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, " " PVM_MMAP_ENTRY "\n") != NULL;
	if (f)
		fclose(f);
	return found;
}

static void test_engines(void)
{
	char err[512];
	struct victim a;
	char src[32], spid[16];
	unsigned long addr;
	int rc;

	if (victim_start(&a)) {
		tap(0, "victim starts");
		return;
	}
	addr = victim_addr(&a, "anon %#lx", MIB);
	hex(src, addr);
	sprintf(spid, "%d", a.pid);
	rc = run(err, sizeof(err), NULL, "--pid", spid, "--src", src, "--dst", "0x500000000000",
		 "--engine", "kernel", NULL);
	if (have_kernel_engine())
		tap(rc == 0 && same_bytes(a.pid, addr, a.pid, DST, MIB),
		    "kernel engine clones through process_vm_mmap(2)");
	else
		tap(rc == 1 && strstr(err, "process_vm_mmap"),
		    "kernel engine refused with a clear line on a kernel without process_vm_mmap (%s)",
		    strtok(err, "\n"));
	victim_stop(&a);
}

/*
 * The pgclone clone tests, run once per engine: the same command line
 * and the same checks, "--engine copy" (ptrace + process_vm_readv) then
 * "--engine kernel" (process_vm_mmap) when the kernel has it.
 */
static void test_clones(const char *engine)
{
	int kernel = !strcmp(engine, "kernel");
	struct victim a, b;
	char err[512], src[32], dst[32], spid[16], dpid[16], r[128], *before;
	unsigned long addr, m;
	int rc;

	if (victim_start(&a) || victim_start(&b)) {
		tap(0, "victims start");
		return;
	}
	sprintf(spid, "%d", a.pid);
	sprintf(dpid, "%d", b.pid);
	hex(dst, DST);

	addr = victim_addr(&a, "anon %#lx", 4 * MIB);
	hex(src, addr);
	rc = run(err, sizeof(err), NULL, "--engine", engine, "--pid", spid, "--src", src,
		 "--len", "4M", "--target", dpid, "--dst", dst, NULL);
	tap(rc == 0 && same_bytes(a.pid, addr, b.pid, DST, 4 * MIB) && victim_alive(&b),
	    "%s engine: private anonymous, cross-process, byte for byte", engine);
	{
		char at0[32], at8[32];

		victim_cmd(&a, at0, sizeof(at0), "peek %#lx", addr);
		victim_cmd(&a, at8, sizeof(at8), "peek %#lx", addr + 8);
		victim_cmd(&a, r, sizeof(r), "poke %#lx %d", addr, (atoi(at0) + 1) & 0xff);
		victim_cmd(&b, r, sizeof(r), "poke %#lx %d", DST + 8, (atoi(at8) + 1) & 0xff);
		tap(!strcmp(victim_cmd(&b, r, sizeof(r), "peek %#lx", DST), at0) &&
		    !strcmp(victim_cmd(&a, r, sizeof(r), "peek %#lx", addr + 8), at8),
		    "%s engine: writes on either side stay private", engine);
	}

	rc = run(err, sizeof(err), NULL, "--engine", engine, "--pid", spid, "--src", src,
		 "--len", "4M", "--dst", "0x600000000000", NULL);
	tap(rc == 0 && same_bytes(a.pid, addr, a.pid, 0x600000000000UL, 4 * MIB),
	    "%s engine: same-process clone", engine);

	m = victim_addr(&a, "memfd %#lx", MIB);
	hex(src, m);
	rc = run(err, sizeof(err), NULL, "--engine", engine, "--pid", spid, "--src", src,
		 "--target", dpid, "--dst", "0x510000000000", NULL);
	if (rc == 0)	/* poking an unmapped address would kill the victim */
		victim_cmd(&b, r, sizeof(r), "poke 0x510000000010 0");
	tap(rc == 0 && !strcmp(victim_cmd(&a, r, sizeof(r), "peek %#lx", m + 16), "0"),
	    "%s engine: memfd shared both ways", engine);

	addr = victim_addr(&a, "thp %#lx", 8 * MIB);
	hex(src, addr);
	rc = run(err, sizeof(err), NULL, "--engine", engine, "--pid", spid, "--src", src,
		 "--len", "8M", "--target", dpid, "--dst", "0x520000000000", NULL);
	tap(rc == 0 && same_bytes(a.pid, addr, b.pid, 0x520000000000UL, 8 * MIB),
	    "%s engine: THP-backed source", engine);

	addr = victim_addr(&a, "anon %#lx", 2 * MIB);
	victim_cmd(&a, r, sizeof(r), "name %#lx %#lx guest-arena", addr, 2 * MIB);
	hex(src, addr);
	rc = run(err, sizeof(err), NULL, "--engine", engine, "--pid", spid, "--src", src,
		 "--len", "2M", "--target", dpid, "--dst", "0x530000000000", NULL);
	tap(rc == 0 && strstr(maps_of(b.pid), "530000000000-530000200000 rw-p 00000000 00:00 0") &&
	    strstr(maps_of(b.pid), "[anon:guest-arena]"),
	    "%s engine: anonymous VMA name follows (CONFIG_ANON_VMA_NAME)", engine);

	/* an occupied destination: refused, nothing changed; --replace works */
	before = strdup(maps_of(b.pid));
	rc = run(err, sizeof(err), NULL, "--engine", engine, "--pid", spid, "--src", src,
		 "--len", "2M", "--target", dpid, "--dst", "0x530000000000", NULL);
	tap(rc == 2 && strstr(err, "overlaps") && !strcmp(before, maps_of(b.pid)),
	    "%s engine: occupied destination refused, target unchanged", engine);
	free(before);
	victim_cmd(&a, r, sizeof(r), "poke %#lx 77", addr);
	rc = run(err, sizeof(err), NULL, "--engine", engine, "--replace", "--pid", spid,
		 "--src", src, "--len", "2M", "--target", dpid, "--dst", "0x530000000000", NULL);
	tap(rc == 0 && !strcmp(victim_cmd(&b, r, sizeof(r), "peek 0x530000000000"), "77"),
	    "%s engine: --replace maps over the old range", engine);

	if (!kernel) {
		before = strdup(maps_of(b.pid));
		rc = run(err, sizeof(err), "PGCLONE_FAULT_FAIL=batch", "--engine", engine,
			 "--pid", spid, "--src", src, "--len", "2M", "--target", dpid,
			 "--dst", "0x540000000000", NULL);
		tap(rc == 1 && !strcmp(before, maps_of(b.pid)) && victim_alive(&b),
		    "%s engine: failure mid-copy rolls the target back exactly", engine);
		free(before);
	}

	/* --move: the source range is gone afterwards, the copy holds it */
	addr = victim_addr(&a, "anon %#lx", MIB);
	victim_cmd(&a, r, sizeof(r), "poke %#lx 99", addr + 64);
	hex(src, addr);
	rc = run(err, sizeof(err), NULL, "--engine", engine, "--move", "--pid", spid,
		 "--src", src, "--target", dpid, "--dst", "0x570000000000", NULL);
	sprintf(r, "%lx-", addr);
	tap(rc == 0 && !strstr(maps_of(a.pid), r) &&
	    !strcmp(victim_cmd(&b, r, sizeof(r), "peek 0x570000000040"), "99"),
	    "%s engine: --move leaves only the destination", engine);

	if (!kernel) {
		addr = victim_addr(&a, "anon %#lx", 2 * MIB);
		hex(src, addr);
		rc = run(err, sizeof(err), NULL, "dump", "--pid", spid, "--src", src,
			 "--len", "2M", "-o", "/tmp/img", NULL);
		if (!rc)
			rc = run(err, sizeof(err), NULL, "restore", "--pid", dpid, "-i",
				 "/tmp/img", "--dst", "0x550000000000", NULL);
		tap(rc == 0 && same_bytes(a.pid, addr, b.pid, 0x550000000000UL, 2 * MIB),
		    "image: dump to a file and restore elsewhere");
	}

	/*
	 * A target whose seccomp filter kills on mmap: the copy engine must
	 * refuse (it would have to run mmap in it); the kernel engine runs
	 * nothing in the target and clones into it.
	 */
	addr = victim_addr(&a, "anon %#lx", 2 * MIB);
	hex(src, addr);
	victim_cmd(&b, r, sizeof(r), "seccomp-kill-mmap");
	before = strdup(maps_of(b.pid));
	rc = run(err, sizeof(err), NULL, "--engine", engine, "--pid", spid, "--src", src,
		 "--len", "2M", "--target", dpid, "--dst", "0x560000000000", NULL);
	if (kernel)
		tap(rc == 0 && victim_alive(&b) &&
		    same_bytes(a.pid, addr, b.pid, 0x560000000000UL, 2 * MIB),
		    "kernel engine: target whose seccomp filter kills on mmap is cloned into");
	else
		tap(rc == 1 && strstr(err, "seccomp") && !strcmp(before, maps_of(b.pid)) &&
		    victim_alive(&b),
		    "copy engine: target whose seccomp filter kills on mmap: refused, alive, unchanged");
	free(before);

	victim_stop(&a);
	victim_stop(&b);
}

/*
 * The hot-restart example (tools/hot-restart.py): a cache server hands its
 * cache to its successor with pgclone --move through @engine.  Its lines
 * (hand-over time, RSS) are the README's numbers for the kernel engine.
 */
static void test_hot_restart(const char *engine)
{
	pid_t pid;
	int status;

	if (access("/usr/bin/python3", X_OK))
		return;
	printf("# hot restart, --engine %s\n", engine);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *env[] = { "PGCLONE=/bin/pgclone", "KVCACHE=/bin/pgclone-kvcache",
				"PATH=/usr/bin:/bin", "HOME=/tmp", "PYTHONDONTWRITEBYTECODE=1",
				NULL };

		dup2(1, 2);
		execle("/usr/bin/python3", "python3", "/tests/hot-restart.py", "64",
		       "--engine", engine, (char *)NULL, env);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	tap(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "hot restart with --engine %s (exit %d)", engine,
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/*
 * The host's integration suite (the Python files of test/integration), when the
 * initramfs carries python3 (PGCLONE_GUEST_PYTHON=1): the same tests,
 * once with every clone through each engine (PGCLONE_ENGINE).
 */
static void test_python_suite(const char *engine)
{
	char tag[64];
	pid_t pid;
	int status;

	if (access("/usr/bin/python3", X_OK))
		return;
	snprintf(tag, sizeof(tag), "PGCLONE_ENGINE=%s", engine);
	printf("# python suite, %s\n", tag);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *env[] = { tag, "PGCLONE=/bin/pgclone", "VICTIM=/bin/pgclone-victim",
				"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/tmp",
				"PYTHONDONTWRITEBYTECODE=1", "TMPDIR=/tmp", NULL };

		if (chdir("/tests"))
			_exit(127);
		dup2(1, 2);
		/*
		 * Not yet here: test_files (the guest has no AF_UNIX, ln or
		 * ctypes' libffi), test_privilege (file capabilities need
		 * xattrs the initramfs lacks), test_threads (--force loses
		 * its victim in the guest, under investigation).
		 */
		execle("/usr/bin/python3", "python3", "-m", "unittest", "-v", "test_semantics",
		       "test_safety", "test_image", "test_badinput", "test_objects", "test_cli",
		       "test_commit", "test_interrupt", "test_freeze", "test_page_states",
		       "test_dst_auto", "test_phases", "test_transfer", "test_incremental",
		       "test_snapshot", "test_update", (char *)NULL, env);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	tap(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "python integration suite with --engine %s (exit %d)", engine,
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/*
 * pgclone.bench=MIB on the kernel command line: kernel/bench.sh, the
 * clone benchmark; pgclone.bench=move:MIB: `kernel/bench.sh move`, the
 * PVM_MMAP_MOVE benchmark; pgclone.bench=snapshot:MIB: `kernel/bench.sh
 * snapshot`, the snapshot stall benchmark with both snapshot engines.
 */
static char bench_mib[16];

static int bench_requested(void)
{
	char line[1024] = "", *p;
	FILE *f = fopen("/proc/cmdline", "r");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	p = strstr(line, "pgclone.bench=");
	if (!p)
		return 0;
	snprintf(bench_mib, sizeof(bench_mib), "%.*s", (int)strcspn(p + 14, " \n"), p + 14);
	return 1;
}

static void run_bench(void)
{
	pid_t pid;
	int status = -1;

	printf("BOOT-OK\nBENCH-START\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char size[24];
		char *env[] = { "PGCLONE=/bin/pgclone", "VICTIM=/bin/pgclone-victim",
				"STALLVICTIM=/bin/stallvictim", "PATH=/usr/bin:/bin",
				"HOME=/tmp", "PYTHONDONTWRITEBYTECODE=1", NULL };

		if (!strncmp(bench_mib, "snapshot:", 9)) {
			snprintf(size, sizeof(size), "%sM", bench_mib + 9);
			execle("/usr/bin/python3", "python3", "/bench/bench_snapshot.py",
			       "--size", size, "--runs", "3", "--out", "null",
			       "--engines", "copy,kernel", (char *)NULL, env);
		}
		if (!strncmp(bench_mib, "move:", 5))
			execl("/bin/move_bench", "move_bench", bench_mib + 5, "3",
			      (char *)NULL);
		else
			execl("/bin/pvm_bench", "pvm_bench", bench_mib, "3",
			      (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	printf(WIFEXITED(status) && !WEXITSTATUS(status) ? "BENCH-DONE\n" : "BENCH-FAILED\n");
	fflush(stdout);
	sync();
	reboot(LINUX_REBOOT_CMD_POWER_OFF);
	_exit(0);
}

/*
 * The kernel's own selftests (kselftest harness, TAP): each binary in
 * /bin named kselftest-* runs to completion and counts as one test here;
 * its TAP lines go to the serial log, where a "not ok" fails the boot.
 */
static void test_kselftests(void)
{
	struct dirent *d;
	DIR *dir = opendir("/bin");
	int any = 0;

	while (dir && (d = readdir(dir))) {
		char path[300];
		pid_t pid;
		int status;

		if (strncmp(d->d_name, "kselftest-", 10))
			continue;
		any = 1;
		snprintf(path, sizeof(path), "/bin/%s", d->d_name);
		printf("# running %s\n", path);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			chdir("/tmp");
			execl(path, path, (char *)NULL);
			_exit(127);
		}
		waitpid(pid, &status, 0);
		tap(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "kselftest %s (exit %d)", d->d_name,
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
	if (dir)
		closedir(dir);
	if (!any && have_kernel_engine())
		tap(0, "the kernel has process_vm_mmap but no kselftest binary was built");
}

int main(void)
{
	struct stat sb;

	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
	mkdir("/dev/pts", 0755);	/* script(1) in the progress test */
	mount("devpts", "/dev/pts", "devpts", 0, "ptmxmode=0666");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (bench_requested())
		run_bench();	/* does not return */
	printf("BOOT-OK\nTAP version 13\n");
#ifndef KSELFTESTS_ONLY
	if (stat(PGCLONE, &sb) || stat(VICTIM, &sb))
		tap(0, "pgclone and the victim are in the initramfs");
#else
	(void)sb;
#endif
	test_kselftests();
#ifndef KSELFTESTS_ONLY
	test_engines();
	test_clones("copy");
	if (have_kernel_engine())
		test_clones("kernel");
	test_python_suite("copy");
	if (have_kernel_engine())
		test_python_suite("kernel");
	test_hot_restart("copy");
	if (have_kernel_engine())
		test_hot_restart("kernel");
#endif
	printf("1..%d\n%d passed, %d failed\n", testno, passed, failed);
	printf(failed ? "SOME-TESTS-FAILED\n" : "ALL-TESTS-PASSED\n");
	fflush(stdout);
	sync();
	reboot(LINUX_REBOOT_CMD_POWER_OFF);
	return 0;
}
