// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvcopy - the baseline pgclone's copy engine is measured against: the
 * plainest way to copy a range between two processes that already have
 * the destination mapped, process_vm_readv() into a buffer and
 * process_vm_writev() out of it, 4 MiB at a time.
 *
 *   pvcopy SRC_PID SRC_ADDR DST_PID DST_ADDR LEN
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

#define CHUNK (4UL << 20)

int main(int argc, char **argv)
{
	static char buf[CHUNK];
	uint64_t src, dst, len;
	pid_t spid, dpid;

	if (argc != 6) {
		fprintf(stderr, "usage: pvcopy SRC_PID SRC_ADDR DST_PID DST_ADDR LEN\n");
		return 2;
	}
	spid = (pid_t)strtol(argv[1], NULL, 0);
	src = strtoull(argv[2], NULL, 0);
	dpid = (pid_t)strtol(argv[3], NULL, 0);
	dst = strtoull(argv[4], NULL, 0);
	len = strtoull(argv[5], NULL, 0);
	for (uint64_t off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		struct iovec l = { buf, n }, r = { (void *)(src + off), n };

		if (process_vm_readv(spid, &l, 1, &r, 1, 0) != (ssize_t)n)
			return perror("process_vm_readv"), 1;
		r.iov_base = (void *)(dst + off);
		if (process_vm_writev(dpid, &l, 1, &r, 1, 0) != (ssize_t)n)
			return perror("process_vm_writev"), 1;
	}
	return 0;
}
