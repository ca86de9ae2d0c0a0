// SPDX-License-Identifier: LGPL-2.1-or-later
/* fuzz_bpf - the seccomp cBPF evaluator must end on any program. */
#include <stdint.h>
#include <string.h>

#include "inject/inject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seccomp_data d = { 0 };
	struct sock_filter prog[BPF_MAXINSNS];
	size_t n;

	if (size < sizeof(d))
		return 0;
	memcpy(&d, data, sizeof(d));
	n = (size - sizeof(d)) / sizeof(prog[0]);
	if (n > BPF_MAXINSNS)
		n = BPF_MAXINSNS;
	memcpy(prog, data + sizeof(d), n * sizeof(prog[0]));
	(void)pgc_bpf_run(prog, n, &d);
	return 0;
}
