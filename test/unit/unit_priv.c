// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ptrace permission decision (lib/priv.c), branch by branch, against
 * what __ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS), commoncap and
 * Yama decide in the kernel.
 */
#include <signal.h>
#include <sys/capability.h>
#include <sys/wait.h>

#include "unit.h"

static struct pgc_ptrace_view view(unsigned int me, unsigned int them)
{
	struct pgc_ptrace_view v;

	memset(&v, 0, sizeof(v));
	for (int i = 0; i < 4; i++) {
		v.self.uid[i] = v.self.gid[i] = me;
		v.target.uid[i] = v.target.gid[i] = them;
	}
	v.dumpable = true;
	v.yama = -1;
	return v;
}

static enum pgc_verdict decide(const struct pgc_ptrace_view *v, char *why)
{
	return pgc_ptrace_decide(v, 42, why, 400);
}

static void test_same_user(void **state)
{
	struct pgc_ptrace_view v = view(1000, 1000);
	char why[400];

	assert_int_equal(decide(&v, why), PGC_ALLOWED);
	assert_string_equal(why, "");
}

static void test_other_user(void **state)
{
	struct pgc_ptrace_view v = view(1000, 0);
	char why[400];

	assert_int_equal(decide(&v, why), PGC_DENIED);
	assert_non_null(strstr(why, "runs as uid 0/0/0 gid 0/0/0, you are uid 1000 gid 1000"));
	assert_non_null(strstr(why, "lack CAP_SYS_PTRACE"));
	/* a permitted CAP_SYS_PTRACE is raised when needed: it counts */
	v.self.cap_prm = PGC_CAP_SYS_PTRACE;
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
}

static void test_one_id_differs(void **state)
{
	struct pgc_ptrace_view v = view(1000, 1000);
	char why[400];

	/* a setuid-ish target: saved uid 0 is enough to refuse */
	v.target.uid[2] = 0;
	assert_int_equal(decide(&v, why), PGC_DENIED);
	v = view(1000, 1000);
	v.target.gid[1] = 5;
	assert_int_equal(decide(&v, why), PGC_DENIED);
	/* the filesystem ids do not count (REALCREDS: real, effective, saved) */
	v = view(1000, 1000);
	v.target.uid[3] = 0;
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
	/* it is our real uid that is compared, not the effective one */
	v = view(1000, 1000);
	v.self.uid[1] = 0;
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
	v.self.uid[0] = 0;
	assert_int_equal(decide(&v, why), PGC_DENIED);
}

static void test_not_dumpable(void **state)
{
	struct pgc_ptrace_view v = view(1000, 1000);
	char why[400];

	v.dumpable = false;
	assert_int_equal(decide(&v, why), PGC_DENIED);
	assert_non_null(strstr(why, "not dumpable"));
	v.self.cap_prm = PGC_CAP_SYS_PTRACE;
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
}

static void test_more_capable_target(void **state)
{
	struct pgc_ptrace_view v = view(1000, 1000);
	char why[400];

	v.target.cap_prm = PGC_CAP(23);		/* CAP_SYS_NICE */
	assert_int_equal(decide(&v, why), PGC_DENIED);
	assert_non_null(strstr(why, "cap_sys_nice"));
	/* a subset of ours is fine, whatever is effective */
	v.self.cap_prm = PGC_CAP(23) | PGC_CAP(1);
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
}

static void test_yama(void **state)
{
	struct pgc_ptrace_view v = view(1000, 1000);
	char why[400];

	v.yama = 0;
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
	/* 1: descendants only, unless the target named us (invisible) */
	v.yama = 1;
	assert_int_equal(decide(&v, why), PGC_UNSURE);
	assert_non_null(strstr(why, "ptrace_scope is 1"));
	v.descendant = true;
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
	v.descendant = false;
	v.self.cap_prm = PGC_CAP_SYS_PTRACE;
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
	/* 2: CAP_SYS_PTRACE only, even for our own processes */
	v.yama = 2;
	assert_int_equal(decide(&v, why), PGC_ALLOWED);
	v.self.cap_prm = 0;
	assert_int_equal(decide(&v, why), PGC_DENIED);
	assert_non_null(strstr(why, "ptrace_scope is 2"));
	/* 3: nobody, not even with the capability */
	v.yama = 3;
	v.self.cap_prm = ~0ULL;
	assert_int_equal(decide(&v, why), PGC_DENIED);
	assert_non_null(strstr(why, "ptrace_scope is 3"));
}

static void test_self_and_kthread(void **state)
{
	assert_int_equal(pgc_priv_check(getpid()), 0);
	assert_int_equal(pgc_priv_check(2), -EINVAL);	/* kthreadd */
	assert_int_equal(pgc_priv_check(4194303), -ESRCH);
}

/* ptrace refuses the caller itself; the reason says so, not an LSM */
static void test_self_reason(void **state)
{
	char why[200];

	pgc_ptrace_denied_reason(getpid(), why, sizeof(why));
	assert_string_equal(why, "it is the calling process itself, and a process cannot ptrace itself");
	(void)state;
}

static void test_pin(void **state)
{
	pid_t child = fork();
	int pin;

	if (!child) {
		pause();
		_exit(0);
	}
	pin = pgc_pin(child);
	assert_true(pin >= 0);
	assert_int_equal(pgc_pin_check(pin, child), 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	pgc_clear_error();
	assert_int_equal(pgc_pin_check(pin, child), -ESRCH);
	assert_non_null(strstr(pgclone_last_error(), "exited after pgclone checked it"));
	close(pin);
	assert_int_equal(pgc_pin_check(-1, child), 0);
}

static void test_raise_lower(void **state)
{
	cap_t before = cap_get_proc(), after;

	pgc_priv_raise(PGC_CAP_SYS_PTRACE);
	pgc_priv_raise(PGC_CAP_SYS_ADMIN);	/* nested: no-op */
	pgc_priv_lower();
	pgc_priv_lower();
	after = cap_get_proc();
	assert_int_equal(cap_compare(before, after), 0);
	cap_free(before);
	cap_free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_user),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_one_id_differs),
		cmocka_unit_test(test_not_dumpable),
		cmocka_unit_test(test_more_capable_target),
		cmocka_unit_test(test_yama),
		cmocka_unit_test(test_self_and_kthread),
		cmocka_unit_test(test_self_reason),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_raise_lower),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
