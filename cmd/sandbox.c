// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sandbox.c - the seccomp filters pgclone puts itself under.
 *
 * An image is untrusted input: show and verify parse it, and nothing
 * else, under the narrowest filter -- read the image, write the report,
 * manage their own memory, exit.  Any other system call kills pgclone
 * (SIGSYS) before it can do anything with what a hostile image made of
 * it.  restore cannot work under that filter, so it does not parse: the
 * library reads the image in a child process (lib/image/parser.c), which
 * drops every capability and puts itself under the same filter
 * (sandbox_image_child) before it reads a byte.
 *
 * maps, clone, dump and restore run under an allow-list of the calls
 * that work needs.  maps installs it once the command line is parsed; the
 * others once the library has seized and inspected the processes (its
 * ready callback), because reading a target's own seccomp filters
 * (PTRACE_SECCOMP_GET_FILTER) works only for a tracer under no filter.
 * Anything outside the list fails with EPERM rather than killing
 * pgclone, so that a call the list missed can only make an operation fail
 * and roll back, never leave a process half changed: no exec, no network,
 * no mounts, no module, key or BPF calls.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pgclone.h>

#include "cli.h"
#include "uapi/process_vm_mmap.h"

static const char *const image_parse_calls[] = {
	"read", "readv", "pread64", "lseek", "write", "writev",
	"fstat", "newfstatat", "statx",
	"mmap", "munmap", "mremap", "brk", "madvise",
	"close", "exit", "exit_group", "rt_sigreturn",
	"clock_gettime", "gettimeofday", "getpid", "gettid",
	"ioctl",		/* isatty() on stdout: TCGETS */
	"rt_sigprocmask", "sigaltstack", "futex",
	"poll", "ppoll",	/* restore --timeout: a bounded wait for input */
};

static const char *const process_calls[] = {
	/* files: /proc, map_files, images, memfds */
	"openat", "open", "close", "read", "readv", "pread64", "write", "writev",
	"pwrite64", "lseek", "fstat", "newfstatat", "statx", "fstatfs", "statfs",
	"getdents64", "readlink", "readlinkat", "fcntl", "dup", "dup2", "dup3",
	"unlink", "unlinkat",	/* a failed dump removes its temporary file */
	"pipe2", "ioctl", "ftruncate", "memfd_create", "fadvise64", "access",
	"faccessat", "faccessat2", "splice", "sendfile", "copy_file_range",
	/* restore of a live stream: a parser per round, forked from here,
	 * which confines itself further (a filter only ever narrows) */
	"close_range", "seccomp",
	"poll", "ppoll", "pselect6", "select",
	/* memory */
	"mmap", "munmap", "mremap", "mprotect", "brk", "madvise",
	/* processes */
	"ptrace", "wait4", "waitid", "process_vm_readv", "process_vm_writev",
	"pidfd_open", "pidfd_getfd", "pidfd_send_signal", "kill", "tgkill", "tkill",
	"clone", "clone3", "fork", "vfork", "exit", "exit_group", "getpid", "gettid",
	"getppid", "set_robust_list", "get_robust_list", "rseq", "prctl", "arch_prctl",
	"sched_yield", "sched_getaffinity", "getrlimit", "prlimit64",
	/* the helper that takes the target's credentials to hand it a file */
	"setresuid", "setresgid", "setgroups", "setuid", "setgid", "capget", "capset",
	"socketpair", "sendmsg", "recvmsg", "shutdown",
	/* signals and time */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait",
	"rt_sigqueueinfo", "sigaltstack", "restart_syscall", "pause",
	"nanosleep", "clock_nanosleep", "clock_gettime", "gettimeofday", "alarm",
	"futex", "getrandom", "uname", "sysinfo",
	/* identity, for permission checks and messages */
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
	"getgroups",
	/* process_vm_mmap(2), whose number the kernel publishes */
};

/* A dump puts its complete image in place (cmd/outfile.c). */
static const char *const dump_calls[] = {
	"fsync", "fdatasync", "rename", "renameat", "renameat2",
};

/*
 * The sanitizers' runtime needs more at exit (LeakSanitizer stops the
 * process with a ptrace()ing thread): a sanitizer build allows it, the
 * one way in which its filters differ from a release build's.
 */
static const char *const sanitizer_calls[] = {
#ifdef PGCLONE_SANITIZE
	"clone", "clone3", "ptrace", "wait4", "waitid", "sched_yield", "prctl",
	"openat", "readlink", "getrlimit", "prlimit64", "sched_getaffinity",
	"mprotect", "kill", "tgkill", "rt_sigaction", "getppid", "open",
	"getdents", "getdents64", "close", "read", "lseek", "fstat", "newfstatat",
#endif
	"exit",
};

/*
 * process_vm_mmap's number when the library will call it, else 0.  Asking
 * the library also makes it look (in /proc/kallsyms) before the filter
 * is loaded, and remember the answer.
 */
static long pvm_syscall_nr(void)
{
#ifdef __NR_process_vm_mmap
	if (pgclone_engine_probe(PGCLONE_ENGINE_KERNEL) == 0)
		return __NR_process_vm_mmap;
#endif
	return 0;
}

static int add_calls(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);

		/* names the architecture lacks (open on arm64...) */
		if (nr == __NR_SCMP_ERROR)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0))
			return -1;
	}
	return 0;
}

static int load(scmp_filter_ctx ctx, const char *what)
{
	int err = seccomp_load(ctx);

	seccomp_release(ctx);
	if (err) {
		fprintf(stderr, "%s: cannot install the %s sandbox: %s\n", prog, what,
			strerror(-err));
		return -1;
	}
	return 0;
}

/*
 * Test hook: a forbidden call right after the filter named in
 * PGCLONE_FAULT_SANDBOX ("image", "process", or "1" for either) is in
 * place.
 */
static void try_forbidden(const char *which)
{
#ifdef PGCLONE_FAULT_POINTS
	const char *t = getenv("PGCLONE_FAULT_SANDBOX");

	if (t && (!strcmp(t, "1") || !strcmp(t, which))) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		fprintf(stderr, "%s: sandbox test: socket() returned %d (%s)\n", prog, fd,
			fd < 0 ? strerror(errno) : "allowed");
		exit(fd < 0 ? 3 : 4);
	}
#else
	(void)which;
#endif
}

int sandbox_image_parse(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);

	if (!ctx || add_calls(ctx, image_parse_calls,
			      sizeof(image_parse_calls) / sizeof(image_parse_calls[0])) ||
	    add_calls(ctx, sanitizer_calls, sizeof(sanitizer_calls) / sizeof(sanitizer_calls[0]))) {
		fprintf(stderr, "%s: cannot build the image sandbox\n", prog);
		return -1;
	}
	/*
	 * Opening anything is refused, not fatal: the library asks
	 * /proc/sys/fs/pipe-max-size how far it may grow an input pipe, and
	 * does without the answer.
	 */
	if (
#ifndef PGCLONE_SANITIZE	/* which allows openat for its runtime */
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0) ||
#endif
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 0)) {
		seccomp_release(ctx);
		fprintf(stderr, "%s: cannot build the image sandbox\n", prog);
		return -1;
	}
	if (load(ctx, "image"))
		return -1;
	try_forbidden("image");
	return 0;
}

int sandbox_image_child(void *ctx)
{
	(void)ctx;
	if (priv_limit(PRIV_NONE))
		return -1;
	return sandbox_image_parse();
}

/*
 * A dump has opened everything it reads of the source by now (the kernel
 * checks access at open): it reads the process with no capability at all.
 */
static int process_filter(long pvm_nr, bool dump);

int sandbox_ready_dump(void *ctx)
{
	(void)ctx;
	if (priv_limit(PRIV_NONE))
		return -1;
	return process_filter(0, true) ? -1 : 0;
}

/*
 * A live dump stops the source again after its final round, to end
 * uffd-wp tracking a chunk per stop (lib/image/dump.c, live_untrack()):
 * each seize is a new ptrace attach, which needs what the rounds before
 * it had.  So it keeps the capabilities of a process dump (PRIV_PROCESS,
 * permitted, none in effect) and takes only the filter.
 */
int sandbox_ready_live(void *ctx)
{
	(void)ctx;
	return process_filter(0, true) ? -1 : 0;
}

int sandbox_ready_snapshot(void *ctx)
{
	(void)ctx;
	/* the kernel's snapshot calls process_vm_mmap(2) after this */
	return process_filter(pvm_syscall_nr(), true) ? -1 : 0;
}

int sandbox_ready(void *ctx)
{
	(void)ctx;
	return sandbox_process_work(pvm_syscall_nr()) ? -1 : 0;
}

/* No need to ask the library (a scan of /proc/kallsyms) for a number never called. */
int sandbox_ready_copy(void *ctx)
{
	(void)ctx;
	return sandbox_process_work(0) ? -1 : 0;
}

int sandbox_process_work(long pvm_nr)
{
	return process_filter(pvm_nr, false);
}

static int process_filter(long pvm_nr, bool dump)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));

	if (!ctx || add_calls(ctx, process_calls, sizeof(process_calls) / sizeof(process_calls[0])) ||
	    (dump && add_calls(ctx, dump_calls, sizeof(dump_calls) / sizeof(dump_calls[0]))) ||
	    add_calls(ctx, sanitizer_calls, sizeof(sanitizer_calls) / sizeof(sanitizer_calls[0])) ||
	    (pvm_nr > 0 && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, (int)pvm_nr, 0))) {
		fprintf(stderr, "%s: cannot build the sandbox\n", prog);
		return -1;
	}
	if (load(ctx, "process"))
		return -1;
	try_forbidden("process");
	return 0;
}
