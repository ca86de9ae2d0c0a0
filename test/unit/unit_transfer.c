// SPDX-License-Identifier: GPL-2.0-or-later
/* The copy engine's choice between the target's own copy and pgclone's
 * buffer (engine/transfer.c): both timed on a sample, the faster kept. */
#include "unit.h"
#include "engine/engine.h"

#define MIB (1ULL << 20)
#define NORMAL (64 * MIB)

static void pick(struct pgc_xfer_pick *p)
{
	/* the tests choose; a forced way would skip the timing */
	unsetenv("PGCLONE_FAULT_XFER");
	pgc_xfer_pick_init(p, true);
}

static void test_no_inject(void **state)
{
	struct pgc_xfer_pick p;

	pgc_xfer_pick_init(&p, false);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
	assert_false(p.deciding);
	assert_int_equal(pgc_xfer_batch_bytes(&p, NORMAL), NORMAL);
}

/* Time @via on a whole sample at @mib_s MiB/s. */
static void sample(struct pgc_xfer_pick *p, enum pgc_xfer via, uint64_t mib_s)
{
	uint64_t bytes = pgc_xfer_batch_bytes(p, NORMAL);

	assert_int_equal(p->via, via);
	assert_int_equal(bytes, PGC_XFER_SAMPLE_BYTES);
	pgc_xfer_account(p, via, bytes, bytes * 1000000000ULL / (mib_s * MIB));
}

static void test_bounce_faster(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	assert_true(p.deciding);
	sample(&p, PGC_XFER_INJECT, 300);
	assert_true(p.deciding);
	sample(&p, PGC_XFER_BOUNCE, 2500);
	assert_false(p.deciding);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
	assert_int_equal(pgc_xfer_batch_bytes(&p, NORMAL), NORMAL);
	/* decided: later batches change nothing */
	pgc_xfer_account(&p, PGC_XFER_BOUNCE, NORMAL, 1000000000ULL);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
}

static void test_inject_faster(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	sample(&p, PGC_XFER_INJECT, 4000);
	sample(&p, PGC_XFER_BOUNCE, 2500);
	assert_false(p.deciding);
	assert_int_equal(p.via, PGC_XFER_INJECT);
}

/* Ranges of a page each flush a page at a time: batches end a sample. */
static void test_small_batches(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	for (int i = 0; i < PGC_XFER_SAMPLE_BATCHES; i++)
		pgc_xfer_account(&p, PGC_XFER_INJECT, 4096, 200000);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
	for (int i = 0; i < PGC_XFER_SAMPLE_BATCHES; i++)
		pgc_xfer_account(&p, PGC_XFER_BOUNCE, 4096, 20000);
	assert_false(p.deciding);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
}

/* The target's filter or credentials refuse: bounce, nothing to time. */
static void test_refused(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	pgc_xfer_refused(&p);
	assert_false(p.deciding);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
	pgc_xfer_account(&p, PGC_XFER_INJECT, 4096, 1);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_inject),
		cmocka_unit_test(test_bounce_faster),
		cmocka_unit_test(test_inject_faster),
		cmocka_unit_test(test_small_batches),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
