// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * seccomp.c - decide, before running a syscall in a target, whether the
 * target's own seccomp filters would let it through.  A filter that kills
 * on mmap must never be tripped by pgclone: the target would die.  So the
 * filters are read with PTRACE_SECCOMP_GET_FILTER and evaluated here on
 * the exact syscall and arguments pgclone is about to inject.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>

#include "inject.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#define MAX_FILTERS 512

static uint32_t load_data(const struct seccomp_data *d, uint32_t off, bool *ok)
{
	uint32_t v;

	if (off > sizeof(*d) - sizeof(v) || off % 4) {
		*ok = false;
		return 0;
	}
	memcpy(&v, (const char *)d + off, sizeof(v));
	return v;
}

static bool alu(uint16_t op, uint32_t *a, uint32_t x)
{
	switch (op) {
	case BPF_ADD: *a += x; break;
	case BPF_SUB: *a -= x; break;
	case BPF_MUL: *a *= x; break;
	case BPF_DIV: if (!x) return false; *a /= x; break;
	case BPF_MOD: if (!x) return false; *a %= x; break;
	case BPF_AND: *a &= x; break;
	case BPF_OR: *a |= x; break;
	case BPF_XOR: *a ^= x; break;
	case BPF_LSH: *a = x >= 32 ? 0 : *a << x; break;
	case BPF_RSH: *a = x >= 32 ? 0 : *a >> x; break;
	case BPF_NEG: *a = -*a; break;
	default: return false;
	}
	return true;
}

static bool jump_taken(uint16_t op, uint32_t a, uint32_t v, bool *ok)
{
	switch (op) {
	case BPF_JEQ: return a == v;
	case BPF_JGT: return a > v;
	case BPF_JGE: return a >= v;
	case BPF_JSET: return a & v;
	default: *ok = false; return false;
	}
}

uint32_t pgc_bpf_run(const struct sock_filter *prog, size_t len,
		     const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };
	bool ok = true;

	for (size_t pc = 0; pc < len && ok; pc++) {
		const struct sock_filter *f = &prog[pc];
		uint16_t cls = BPF_CLASS(f->code);
		uint32_t src = BPF_SRC(f->code) == BPF_X ? x : f->k;

		switch (cls) {
		case BPF_LD:
			if (f->code == (BPF_LD | BPF_W | BPF_ABS))
				a = load_data(d, f->k, &ok);
			else if (f->code == (BPF_LD | BPF_W | BPF_LEN))
				a = sizeof(*d);
			else if (f->code == (BPF_LD | BPF_IMM))
				a = f->k;
			else if (f->code == (BPF_LD | BPF_MEM) && f->k < BPF_MEMWORDS)
				a = mem[f->k];
			else
				ok = false;
			break;
		case BPF_LDX:
			if (f->code == (BPF_LDX | BPF_W | BPF_LEN))
				x = sizeof(*d);
			else if (f->code == (BPF_LDX | BPF_IMM))
				x = f->k;
			else if (f->code == (BPF_LDX | BPF_MEM) && f->k < BPF_MEMWORDS)
				x = mem[f->k];
			else
				ok = false;
			break;
		case BPF_ST:
		case BPF_STX:
			if (f->code != cls || f->k >= BPF_MEMWORDS)
				ok = false;
			else
				mem[f->k] = cls == BPF_ST ? a : x;
			break;
		case BPF_ALU:
			/* only the op and the K/X source bits may be set */
			if (f->code & ~(0x07 | 0xf0 | BPF_X))
				ok = false;
			else
				ok = alu(BPF_OP(f->code), &a, src);
			break;
		case BPF_JMP:
			if (f->code & ~(0x07 | 0xf0 | BPF_X)) {
				ok = false;
				break;
			}
			if (BPF_OP(f->code) == BPF_JA) {
				if (f->k >= len - pc - 1)
					ok = false;
				else
					pc += f->k;
				break;
			}
			if (jump_taken(BPF_OP(f->code), a, src, &ok))
				pc += f->jt;
			else
				pc += f->jf;
			if (pc >= len - 1)
				ok = false;
			break;
		case BPF_RET:
			if (f->code == (BPF_RET | BPF_A))
				return a;
			if (f->code == (BPF_RET | BPF_K))
				return f->k;
			ok = false;
			break;
		case BPF_MISC:
			/* exact codes: anything else is what no kernel would load */
			if (f->code == (BPF_MISC | BPF_TAX))
				x = a;
			else if (f->code == (BPF_MISC | BPF_TXA))
				a = x;
			else
				ok = false;
			break;
		default:
			ok = false;
		}
	}
	return SECCOMP_RET_KILL_PROCESS;
}

/* The kernel orders actions by their signed action value: lower wins. */
static int32_t action_rank(uint32_t ret)
{
	return (int32_t)(ret & SECCOMP_RET_ACTION_FULL);
}

uint32_t pgc_seccomp_verdict(const struct pgc_filters *f,
			     const struct seccomp_data *d)
{
	uint32_t verdict = SECCOMP_RET_ALLOW;

	if (f->mode == 0)
		return SECCOMP_RET_ALLOW;
	if (f->unreadable || f->mode != SECCOMP_MODE_FILTER)
		return SECCOMP_RET_KILL_PROCESS;
	for (size_t i = 0; i < f->n; i++) {
		uint32_t v = pgc_bpf_run(f->prog[i], f->len[i], d);

		if (action_rank(v) < action_rank(verdict))
			verdict = v;
	}
	return verdict;
}

bool pgc_seccomp_allows(const struct pgc_filters *f,
			const struct seccomp_data *d)
{
	uint32_t verdict = pgc_seccomp_verdict(f, d) & SECCOMP_RET_ACTION_FULL;

	return verdict == SECCOMP_RET_ALLOW || verdict == SECCOMP_RET_LOG;
}

const char *pgc_seccomp_verdict_text(uint32_t verdict, char *buf, size_t len)
{
	uint32_t data = verdict & SECCOMP_RET_DATA;

	switch (verdict & SECCOMP_RET_ACTION_FULL) {
	case SECCOMP_RET_KILL_PROCESS:
		return "KILL_PROCESS (the process would be killed)";
	case SECCOMP_RET_KILL_THREAD:
		return "KILL_THREAD (the thread would be killed)";
	case SECCOMP_RET_TRAP:
		return "TRAP (SIGSYS instead of the call)";
	case SECCOMP_RET_ERRNO:
		snprintf(buf, len, "ERRNO %u (%s instead of the call)", data,
			 strerror((int)data));
		return buf;
	case SECCOMP_RET_USER_NOTIF:
		return "USER_NOTIF (a supervisor process would decide)";
	case SECCOMP_RET_TRACE:
		return "TRACE (a tracer would decide; pgclone is none)";
	default:
		snprintf(buf, len, "0x%x", verdict);
		return buf;
	}
}

static int load_filters(pid_t tid, struct pgc_filters *f);

int pgc_seccomp_load(pid_t tid, int mode, struct pgc_filters *f)
{
	int ret;

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	if (mode != SECCOMP_MODE_FILTER)
		return 0;
	/* PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN; the filters are
	 * interpreted later, with it lowered again */
	pgc_priv_raise(PGC_CAP_SYS_ADMIN);
	ret = load_filters(tid, f);
	pgc_priv_lower();
	return ret;
}

static int load_filters(pid_t tid, struct pgc_filters *f)
{
	int mode = f->mode;

	for (unsigned long i = 0; i < MAX_FILTERS; i++) {
		long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)i, NULL);
		struct sock_filter *prog;
		void *np, *nl;

		if (n < 0 && errno == ENOENT)
			break;
		if (n <= 0 || n > BPF_MAXINSNS) {
			/* needs CAP_SYS_ADMIN; without it we cannot know */
			pgc_seccomp_free(f);
			f->mode = mode;
			f->unreadable = true;
			pr_warn("cannot read the seccomp filters of thread %d: %s",
				(int)tid, strerror(errno));
			return 0;
		}
		prog = calloc((size_t)n, sizeof(*prog));
		np = realloc(f->prog, (f->n + 1) * sizeof(*f->prog));
		if (np)
			f->prog = np;
		nl = realloc(f->len, (f->n + 1) * sizeof(*f->len));
		if (nl)
			f->len = nl;
		if (!prog || !np || !nl) {
			free(prog);
			pgc_seccomp_free(f);
			return -ENOMEM;
		}
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)i, prog) != n) {
			free(prog);
			pgc_seccomp_free(f);
			return pgc_fail(-EIO, "cannot read seccomp filter %lu of thread %d",
					i, (int)tid);
		}
		f->prog[f->n] = prog;
		f->len[f->n] = (unsigned short)n;
		f->n++;
	}
	return 0;
}

void pgc_seccomp_free(struct pgc_filters *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->prog[i]);
	free(f->prog);
	free(f->len);
	memset(f, 0, sizeof(*f));
}
