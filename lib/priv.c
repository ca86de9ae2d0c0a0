// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * priv.c - may we touch this process, and with which capability.
 *
 * Before pgclone seizes a process it asks the question the kernel will
 * ask, __ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS) plus commoncap
 * and Yama, from what /proc shows of both sides, so that a refusal names
 * what is missing ("PID 1 runs as uid 0/0/0 ..., and you lack CAP_SYS_PTRACE")
 * instead of a bare EPERM after half the work.  The kernel still has the
 * last word: a check that passes here and fails there is reported with
 * the same explanation.
 *
 * Capabilities are made effective only around the calls that need them
 * (pgc_priv_raise/pgc_priv_lower), from the permitted set the caller left
 * us: a caller that keeps everything effective (plain root) sees no
 * change, one that keeps them permitted only (pgclone(1)) has none in
 * effect while /proc text, seccomp filters or images are parsed.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pgcloneP.h"

#define YAMA_SCOPE "/proc/sys/kernel/yama/ptrace_scope"
#define CAP_BIT(c) PGC_CAP(c)

static int read_yama_scope(void)
{
	char buf[16] = "";
	int fd = open(YAMA_SCOPE, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;		/* no Yama in this kernel */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -1;
}

/* Is @pid our descendant?  Yama's scope 1 lets a process trace those. */
static bool descends_from(pid_t pid, pid_t self)
{
	for (int depth = 0; pid > 1 && depth < 4096; depth++) {
		struct pgc_status st;

		if (pgc_status_read(pid, 0, &st))
			return false;
		if (st.ppid == self)
			return true;
		pid = st.ppid;
	}
	return false;
}

static bool is_descendant(pid_t pid)
{
	return descends_from(pid, getpid());
}

/*
 * The files in /proc/PID belong to the process's user only while it is
 * dumpable (task_dump_owner(), applied on every lookup); otherwise to
 * root.  Reliable for a process whose effective uid is not 0; for root's
 * processes there is nothing to see.  (The /proc/PID directory itself
 * keeps its owner, so ask a file in it.)
 */
static void read_dumpable(pid_t pid, const struct pgc_status *st,
			  struct pgc_ptrace_view *v)
{
	char path[32];
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	v->dumpable_known = st->euid != 0 && !stat(path, &sb);
	v->dumpable = !v->dumpable_known || sb.st_uid != 0;
}

static void cap_names(uint64_t caps, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (int c = 0; c < 64 && used + 1 < n; c++) {
		char *name;

		if (!(caps & CAP_BIT(c)))
			continue;
		name = cap_to_name((cap_value_t)c);
		used += (size_t)snprintf(out + used, n - used, "%s%s",
					 used ? "," : "", name ? name : "?");
		cap_free(name);
	}
}

enum pgc_verdict pgc_ptrace_decide(const struct pgc_ptrace_view *v, pid_t pid,
				   char *why, size_t n)
{
	const struct pgc_status *me = &v->self, *t = &v->target;
	/* a capability we may raise counts as ours (pgc_priv_raise) */
	bool ptrace_cap = me->cap_prm & CAP_BIT(CAP_SYS_PTRACE);
	bool same_ids = true;

	why[0] = '\0';
	for (int i = 0; i < 3; i++)
		same_ids &= me->uid[0] == t->uid[i] && me->gid[0] == t->gid[i];

	if (v->yama == 3) {
		snprintf(why, n, "Yama ptrace_scope is 3: no process may be traced");
		return PGC_DENIED;
	}
	if (v->yama == 2 && !ptrace_cap) {
		snprintf(why, n, "Yama ptrace_scope is 2: tracing PID %d needs CAP_SYS_PTRACE, which you lack",
			 (int)pid);
		return PGC_DENIED;
	}
	if (!same_ids && !ptrace_cap) {
		snprintf(why, n, "PID %d runs as uid %u/%u/%u gid %u/%u/%u, you are uid %u gid %u, and you lack CAP_SYS_PTRACE",
			 (int)pid, t->uid[0], t->uid[1], t->uid[2], t->gid[0],
			 t->gid[1], t->gid[2], me->uid[0], me->gid[0]);
		return PGC_DENIED;
	}
	if (!v->dumpable && !ptrace_cap) {
		snprintf(why, n, "PID %d is not dumpable (it changed credentials or cleared PR_SET_DUMPABLE) and you lack CAP_SYS_PTRACE",
			 (int)pid);
		return PGC_DENIED;
	}
	if ((t->cap_prm & ~me->cap_prm) && !ptrace_cap) {
		char names[256];

		cap_names(t->cap_prm & ~me->cap_prm, names, sizeof(names));
		snprintf(why, n, "PID %d holds capabilities you do not (%s) and you lack CAP_SYS_PTRACE",
			 (int)pid, names);
		return PGC_DENIED;
	}
	if (v->yama == 1 && !ptrace_cap && !v->descendant) {
		/* it may have named us with PR_SET_PTRACER: /proc cannot tell */
		snprintf(why, n, "Yama ptrace_scope is 1: PID %d is not a descendant of pgclone, did not allow it with PR_SET_PTRACER, and you lack CAP_SYS_PTRACE",
			 (int)pid);
		return PGC_UNSURE;
	}
	return PGC_ALLOWED;
}

static int gather(pid_t pid, struct pgc_ptrace_view *v)
{
	memset(v, 0, sizeof(*v));
	if (pgc_status_read(getpid(), 0, &v->self))
		return pgc_fail(-EIO, "cannot read my own /proc/self/status");
	if (pgc_status_read(pid, 0, &v->target))
		return -ESRCH;
	read_dumpable(pid, &v->target, v);
	v->yama = read_yama_scope();
	v->descendant = v->yama == 1 && is_descendant(pid);
	return 0;
}

bool pgc_priv_may_reach(pid_t tracer, pid_t tracee)
{
	struct pgc_ptrace_view v;
	char why[400];

	if (tracer == tracee)
		return true;
	memset(&v, 0, sizeof(v));
	if (pgc_status_read(tracer, 0, &v.self) ||
	    pgc_status_read(tracee, 0, &v.target))
		return false;
	read_dumpable(tracee, &v.target, &v);
	v.yama = read_yama_scope();
	v.descendant = v.yama == 1 && descends_from(tracee, tracer);
	/* Yama's PR_SET_PTRACER exceptions cannot be seen: count them out */
	return pgc_ptrace_decide(&v, tracee, why, sizeof(why)) == PGC_ALLOWED;
}

int pgc_priv_check(pid_t pid)
{
	struct pgc_ptrace_view v;
	char why[400];
	int err;

	if (pid == getpid())
		return 0;		/* the kernel never refuses a process itself */
	err = gather(pid, &v);
	if (err == -ESRCH)
		return pgc_fail(-ESRCH, "no process with PID %d", (int)pid);
	if (err)
		return err;
	if (v.target.kthread)
		return pgc_fail(-EINVAL, "PID %d is a kernel thread", (int)pid);
	if (pgc_ptrace_decide(&v, pid, why, sizeof(why)) == PGC_DENIED)
		return pgc_fail(-EPERM, "not permitted to ptrace PID %d: %s", (int)pid,
				why);
	return 0;
}

void pgc_ptrace_denied_reason(pid_t pid, char *out, size_t len)
{
	struct pgc_ptrace_view v;

	/* every rule allows it, and ptrace still refuses: say the real reason */
	if (pid == getpid()) {
		snprintf(out, len, "it is the calling process itself, and a process cannot ptrace itself");
		return;
	}
	if (gather(pid, &v) || pgc_ptrace_decide(&v, pid, out, len) == PGC_ALLOWED)
		snprintf(out, len, "the kernel refused (a security module, or another user namespace)");
}

int pgc_priv_explain(pid_t pid)
{
	char why[400];

	pgc_ptrace_denied_reason(pid, why, sizeof(why));
	return pgc_fail(-EPERM, "not permitted to ptrace PID %d: %s", (int)pid, why);
}

bool pgc_priv_user_may(pid_t pid)
{
	struct pgc_ptrace_view v;
	char why[400];

	if (pid <= 0 || gather(pid, &v))
		return false;
	if (v.self.uid[0] != 0)
		v.self.cap_prm = 0;
	return pgc_ptrace_decide(&v, pid, why, sizeof(why)) == PGC_ALLOWED;
}

int pgc_pin(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int pgc_pin_check(int pin, pid_t pid)
{
	struct pollfd p = { .fd = pin, .events = POLLIN };

	/* a pidfd turns readable once its process has exited */
	if (pin < 0 || poll(&p, 1, 0) == 0)
		return 0;
	return pgc_fail(-ESRCH, "PID %d exited after pgclone checked it%s", (int)pid,
			kill(pid, 0) && errno == ESRCH ? "" :
			"; the number now names another process, which pgclone leaves alone");
}

/* ---- effective capabilities, only around the calls that need them ---- */

static __thread cap_t saved;
static __thread int depth;

void pgc_priv_raise(uint64_t caps)
{
	cap_t c;

	if (depth++)
		return;
	c = cap_get_proc();
	saved = cap_dup(c);
	if (!c || !saved)
		goto out;
	for (cap_value_t v = 0; v < 64; v++) {
		cap_flag_value_t on;

		if (!(caps & CAP_BIT(v)) || !CAP_IS_SUPPORTED(v) ||
		    cap_get_flag(c, v, CAP_PERMITTED, &on) || on != CAP_SET)
			continue;
		cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET);
	}
	/* failing leaves us with less: the call that needed it says so */
	cap_set_proc(c);
out:
	cap_free(c);
}

void pgc_priv_lower(void)
{
	if (!depth || --depth)
		return;
	/* fails only if the permitted set shrank meanwhile: less is fine */
	if (saved)
		cap_set_proc(saved);
	cap_free(saved);
	saved = NULL;
}

int pgc_priv_drop_all(void)
{
	cap_t none = cap_init();
	int ret = none && !cap_set_proc(none) ? 0 : -EPERM;

	cap_free(none);
	cap_free(saved);
	saved = NULL;
	depth = 0;
	return ret;
}

void pgc_priv_raise_as_user(uint64_t caps)
{
	pgc_priv_raise(getuid() == 0 ? caps : 0);
}

int pgc_proc_open(const char *path, int flags)
{
	int fd, err;

	pgc_priv_raise(PGC_CAPS_PROC);
	fd = open(path, flags | O_CLOEXEC);
	err = errno;
	pgc_priv_lower();
	errno = err;
	return fd;
}

ssize_t pgc_vm_readv(pid_t pid, const struct iovec *l, unsigned long nl,
		     const struct iovec *r, unsigned long nr)
{
	ssize_t n;
	int err;

	pgc_priv_raise(PGC_CAP_SYS_PTRACE);
	n = process_vm_readv(pid, l, nl, r, nr, 0);
	err = errno;
	pgc_priv_lower();
	errno = err;
	return n;
}

ssize_t pgc_vm_writev(pid_t pid, const struct iovec *l, unsigned long nl,
		      const struct iovec *r, unsigned long nr)
{
	ssize_t n;
	int err;

	pgc_priv_raise(PGC_CAP_SYS_PTRACE);
	n = process_vm_writev(pid, l, nl, r, nr, 0);
	err = errno;
	pgc_priv_lower();
	errno = err;
	return n;
}
