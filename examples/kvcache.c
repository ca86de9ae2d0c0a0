// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvcache - a small key-value cache server, for the hot-restart example
 * (tools/hot-restart.py): a server restarting into a new binary hands its
 * in-memory cache to its successor with `pgclone --move` instead of
 * rebuilding it.
 *
 * The cache is one private anonymous arena: a header, then fixed-size
 * slots, key i in slot i; nothing in it points anywhere.  A server
 * answers one request per line of its standard input, on its standard
 * output:
 *   get KEY   -> the value, or "miss"
 *   sum       -> entries and an FNV-1a of the whole arena, as it reads it
 *
 *   pgclone-kvcache serve MIB
 *       build a MIB-sized cache at ARENA_ADDR (a slow build: every value
 *       is computed), print "arena ADDR LEN", serve
 *   pgclone-kvcache adopt ADDR LEN
 *       a successor: print "waiting", read a line once the arena is at
 *       ADDR (moved there by pgclone), check it, print "adopted N", serve
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAGIC		0x6b76636163686531ULL	/* "kvcache1" */
#define SLOT		64
#define VALUE_LEN	(SLOT - sizeof(uint64_t))
/*
 * The same in every server, away from where anything else is mapped
 * (0x600000000000 is ASan's allocator space: not there).
 */
#define ARENA_ADDR	0x500000000000UL

struct arena {
	uint64_t magic;
	uint64_t nr;
	uint8_t pad[SLOT - 2 * sizeof(uint64_t)];
	struct slot {
		uint64_t key;
		char value[VALUE_LEN];
	} slots[];
};

static void die(const char *what)
{
	fprintf(stderr, "pgclone-kvcache: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* What the server would have computed (or fetched) for @key: slow on purpose */
static void compute_value(uint64_t key, char *out)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 16; i++)
		h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
	snprintf(out, VALUE_LEN, "value-%" PRIu64 "-%016" PRIx64, key, h);
}

static uint64_t fnv1a(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static void answer(const struct arena *a, size_t len, const char *req)
{
	uint64_t key;

	if (sscanf(req, "get %" SCNu64, &key) == 1) {
		if (key < a->nr && a->slots[key].key == key)
			printf("%s\n", a->slots[key].value);
		else
			printf("miss\n");
	} else if (!strncmp(req, "sum", 3)) {
		printf("%" PRIu64 " %016" PRIx64 "\n", a->nr, fnv1a(a, len));
	} else {
		printf("error: unknown request\n");
	}
	fflush(stdout);
}

static int serve(const struct arena *a, size_t len)
{
	char line[128];

	while (fgets(line, sizeof(line), stdin))
		answer(a, len, line);
	return 0;
}

static int cmd_serve(unsigned long mib)
{
	size_t len = mib << 20;
	struct arena *a = mmap((void *)ARENA_ADDR, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			       -1, 0);

	if (a == MAP_FAILED)
		die("mmap");
	a->nr = (len - sizeof(*a)) / SLOT;
	for (uint64_t k = 0; k < a->nr; k++) {
		a->slots[k].key = k;
		compute_value(k, a->slots[k].value);
	}
	a->magic = MAGIC;
	printf("arena %#lx %zu\n", (unsigned long)a, len);
	fflush(stdout);
	return serve(a, len);
}

static int cmd_adopt(unsigned long addr, size_t len)
{
	const struct arena *a = (const struct arena *)addr;
	char line[16];

	printf("waiting\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	if (a->magic != MAGIC || sizeof(*a) + a->nr * SLOT > len) {
		fprintf(stderr, "pgclone-kvcache: no cache at %#lx\n", addr);
		return 1;
	}
	printf("adopted %" PRIu64 "\n", a->nr);
	fflush(stdout);
	return serve(a, len);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return cmd_serve(strtoul(argv[2], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "adopt"))
		return cmd_adopt(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0));
	fprintf(stderr, "usage: pgclone-kvcache serve MIB\n"
			"       pgclone-kvcache adopt ADDR LEN\n");
	return 2;
}
