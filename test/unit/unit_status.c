// SPDX-License-Identifier: GPL-2.0-or-later
/* /proc/PID/status: the few fields pgclone decides on. */
#include "unit.h"

static const char status[] =
	"Name:\tvictim\n"
	"Umask:\t0022\n"
	"State:\tT (stopped)\n"
	"Tgid:\t4242\n"
	"Ngid:\t0\n"
	"Pid:\t4242\n"
	"PPid:\t1\n"
	"TracerPid:\t77\n"
	"Uid:\t1000\t1001\t1002\t1003\n"
	"Gid:\t100\t101\t102\t103\n"
	"CapPrm:\t0000000000800000\n"
	"CapEff:\t0000000000000001\n"
	"NSpid:\t4242\t17\t1\n"
	"Kthread:\t0\n"
	"Seccomp:\t2\n"
	"Seccomp_filters:\t1\n";

static void test_parse(void **state)
{
	struct pgc_status st;

	assert_int_equal(pgc_status_parse(status, &st), 0);
	assert_int_equal(st.state, 'T');
	assert_int_equal(st.tgid, 4242);
	assert_int_equal(st.tracer, 77);
	assert_int_equal(st.ruid, 1000);
	assert_int_equal(st.euid, 1001);
	assert_int_equal(st.rgid, 100);
	assert_int_equal(st.uid[2], 1002);
	assert_int_equal(st.uid[3], 1003);
	assert_int_equal(st.gid[1], 101);
	assert_int_equal(st.gid[2], 102);
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.cap_prm, 1ULL << 23);
	assert_int_equal(st.cap_eff, 1);
	assert_int_equal(st.seccomp, 2);
	assert_int_equal(st.nspid_depth, 3);
	assert_int_equal(st.nspid_last, 1);
	assert_false(st.kthread);
}

static void test_missing(void **state)
{
	struct pgc_status st;

	assert_int_equal(pgc_status_parse("Name:\tx\n", &st), -EINVAL);
	assert_int_equal(pgc_status_parse("State:\tS\nTgid:\t1\n", &st), -EINVAL);
	assert_int_equal(pgc_status_parse("State:\tS\nTgid:\tx\nUid:\t0 0\nGid:\t0\n", &st), -EINVAL);
	assert_int_equal(pgc_status_parse("State:\tS\nTgid:\t1\nUid:\t0 0\n", &st), -EINVAL);
	/* a key that merely starts like another does not match it */
	assert_int_equal(pgc_status_parse("StateX:\tS\nTgid:\t1\nUid:\t0 0\nGid:\t0\n", &st), -EINVAL);
	assert_int_equal(pgc_status_parse("State:\tI (idle)\nTgid:\t2\nUid:\t0 0\nGid:\t0\nKthread:\t1\n", &st), 0);
	assert_true(st.kthread);
}

static void test_self(void **state)
{
	struct pgc_status st;

	assert_int_equal(pgc_status_read(getpid(), 0, &st), 0);
	assert_int_equal(st.tgid, getpid());
	assert_int_equal(st.ruid, getuid());
	assert_int_equal(pgc_same_pidns(getpid(), getpid()), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
