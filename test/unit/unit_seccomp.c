// SPDX-License-Identifier: GPL-2.0-or-later
/* The cBPF evaluator that decides whether a target's seccomp filter
 * would let an injected syscall through. */
#include <linux/audit.h>
#include <sys/syscall.h>

#include "unit.h"
#include "inject/inject.h"
#include "inject/arch.h"

#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARCH BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch))
#define LD_ARG0 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

static struct seccomp_data call(int nr, uint64_t a0)
{
	struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64 };

	d.args[0] = a0;
	return d;
}

static void test_basic(void **state)
{
	struct sock_filter allow[] = { RET(SECCOMP_RET_ALLOW) };
	struct sock_filter kill_mmap[] = {
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1),
		RET(SECCOMP_RET_KILL_PROCESS),
		RET(SECCOMP_RET_ALLOW),
	};
	struct seccomp_data d = call(SYS_mmap, 0);

	assert_int_equal(pgc_bpf_run(allow, 1, &d), SECCOMP_RET_ALLOW);
	assert_int_equal(pgc_bpf_run(kill_mmap, 4, &d), SECCOMP_RET_KILL_PROCESS);
	d = call(SYS_munmap, 0);
	assert_int_equal(pgc_bpf_run(kill_mmap, 4, &d), SECCOMP_RET_ALLOW);
}

static void test_args_and_arch(void **state)
{
	/* errno unless arg0 has bit 2 set and is >= 16; kill other arches */
	struct sock_filter f[] = {
		LD_ARCH,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		RET(SECCOMP_RET_KILL_PROCESS),
		LD_ARG0,
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 4, 0, 1),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 16, 1, 0),
		RET(SECCOMP_RET_ERRNO | 1),
		RET(SECCOMP_RET_ALLOW),
	};
	struct seccomp_data d = call(1, 20);

	assert_int_equal(pgc_bpf_run(f, ARRAY_SIZE(f), &d), SECCOMP_RET_ALLOW);
	d = call(1, 4);
	assert_int_equal(pgc_bpf_run(f, ARRAY_SIZE(f), &d), SECCOMP_RET_ERRNO | 1);
	d = call(1, 16);
	assert_int_equal(pgc_bpf_run(f, ARRAY_SIZE(f), &d), SECCOMP_RET_ERRNO | 1);
	d.arch = AUDIT_ARCH_I386;
	assert_int_equal(pgc_bpf_run(f, ARRAY_SIZE(f), &d), SECCOMP_RET_KILL_PROCESS);
}

static void test_alu_and_scratch(void **state)
{
	/* A = nr * 2 + 1; M[3] = A; X = M[3]; A = X; return A */
	struct sock_filter f[] = {
		LD_NR,
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 2),
		BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
		BPF_STMT(BPF_ST, 3),
		BPF_STMT(BPF_LDX | BPF_MEM, 3),
		BPF_STMT(BPF_MISC | BPF_TXA, 0),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct seccomp_data d = call(21, 0);

	assert_int_equal(pgc_bpf_run(f, ARRAY_SIZE(f), &d), 43);
}

static void test_malformed(void **state)
{
	struct sock_filter jump_out[] = {
		BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0), RET(SECCOMP_RET_ALLOW),
	};
	struct sock_filter cond_out[] = {
		LD_NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 9, 9), RET(SECCOMP_RET_ALLOW),
	};
	struct sock_filter div0[] = {
		LD_NR, BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), RET(SECCOMP_RET_ALLOW),
	};
	struct sock_filter bad_op[] = { { 0xffff, 0, 0, 0 }, RET(SECCOMP_RET_ALLOW) };
	struct sock_filter bad_misc[] = { { BPF_MISC | 0x40, 0, 0, 0 }, RET(SECCOMP_RET_ALLOW) };
	struct sock_filter bad_ret[] = { { BPF_RET | 0x08, 0, 0, 0 } };
	struct sock_filter no_ret[] = { LD_NR };
	struct sock_filter bad_load[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 1000), RET(SECCOMP_RET_ALLOW),
	};
	struct sock_filter bad_mem[] = { BPF_STMT(BPF_ST, 99), RET(SECCOMP_RET_ALLOW) };
	struct seccomp_data d = call(0, 0);

	assert_int_equal(pgc_bpf_run(jump_out, 2, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(cond_out, 3, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(div0, 3, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(bad_op, 2, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(bad_misc, 2, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(bad_ret, 1, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(no_ret, 1, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(bad_load, 2, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(bad_mem, 2, &d), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(pgc_bpf_run(NULL, 0, &d), SECCOMP_RET_KILL_PROCESS);
}

static bool allows(uint32_t a, uint32_t b)
{
	struct sock_filter fa[] = { RET(a) }, fb[] = { RET(b) };
	struct sock_filter *progs[] = { fa, fb };
	unsigned short lens[] = { 1, 1 };
	struct pgc_filters f = { .prog = progs, .len = lens, .n = 2,
				 .mode = SECCOMP_MODE_FILTER };
	struct seccomp_data d = call(SYS_mmap, 0);

	return pgc_seccomp_allows(&f, &d);
}

static void test_chain(void **state)
{
	struct pgc_filters none = { .mode = 0 }, unreadable = {
		.mode = SECCOMP_MODE_FILTER, .unreadable = true };
	struct seccomp_data d = call(SYS_mmap, 0);

	assert_true(allows(SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW));
	assert_true(allows(SECCOMP_RET_LOG, SECCOMP_RET_ALLOW));
	assert_false(allows(SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | 1));
	assert_false(allows(SECCOMP_RET_ERRNO | 1, SECCOMP_RET_ALLOW));
	assert_false(allows(SECCOMP_RET_TRACE, SECCOMP_RET_LOG));
	assert_false(allows(SECCOMP_RET_USER_NOTIF, SECCOMP_RET_ALLOW));
	assert_false(allows(SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS));
	assert_false(allows(SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP));
	assert_true(pgc_seccomp_allows(&none, &d));
	assert_false(pgc_seccomp_allows(&unreadable, &d));
}

/* A refusal says what the filters answer for that call, combined as the
 * kernel combines them, and names the syscall. */
static void test_verdict_named(void **state)
{
	struct sock_filter fa[] = { RET(SECCOMP_RET_ERRNO | EPERM) },
			   fb[] = { RET(SECCOMP_RET_TRAP) };
	struct sock_filter *progs[] = { fa, fb };
	unsigned short lens[] = { 1, 1 };
	struct pgc_filters f = { .prog = progs, .len = lens, .n = 2,
				 .mode = SECCOMP_MODE_FILTER };
	struct seccomp_data d = call(SYS_mmap, 0);
	char buf[96];

	/* TRAP outranks ERRNO */
	assert_int_equal(pgc_seccomp_verdict(&f, &d), SECCOMP_RET_TRAP);
	f.n = 1;
	assert_int_equal(pgc_seccomp_verdict(&f, &d), SECCOMP_RET_ERRNO | EPERM);
	assert_string_equal(pgc_seccomp_verdict_text(SECCOMP_RET_ERRNO | EPERM, buf, sizeof(buf)),
			    "ERRNO 1 (Operation not permitted instead of the call)");
	assert_string_equal(pgc_seccomp_verdict_text(SECCOMP_RET_KILL_PROCESS, buf, sizeof(buf)),
			    "KILL_PROCESS (the process would be killed)");
	assert_string_equal(pgc_arch_syscall_name(9), "mmap");
	assert_string_equal(pgc_arch_syscall_name(25), "mremap");
	assert_string_equal(pgc_arch_syscall_name(438), "pidfd_getfd");
	assert_null(pgc_arch_syscall_name(100000));
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_args_and_arch),
		cmocka_unit_test(test_alu_and_scratch),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_verdict_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
