// SPDX-License-Identifier: GPL-2.0-or-later
/* The copy engine's choice between the target's own copy and pgclone's
 * buffer (engine/transfer.c): both timed on a sample, the faster kept,
 * the target's own copy no longer than it takes to be sure it loses. */
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

/* Time one batch of @via, as large as the pick allows, at @mib_s MiB/s. */
static void batch(struct pgc_xfer_pick *p, enum pgc_xfer via, uint64_t mib_s)
{
	uint64_t bytes = pgc_xfer_batch_bytes(p, NORMAL);

	assert_int_equal(p->via, via);
	assert_int_equal(bytes, via == PGC_XFER_BOUNCE ? PGC_XFER_SAMPLE_BYTES :
				PGC_XFER_SAMPLE_STEP);
	pgc_xfer_account(p, via, bytes, bytes * 1000000000ULL / (mib_s * MIB));
}

/* Inject's batches at @mib_s until the pick decides; how many it took. */
static int inject_until_decided(struct pgc_xfer_pick *p, uint64_t mib_s)
{
	int n = 0;

	while (p->deciding) {
		batch(p, PGC_XFER_INJECT, mib_s);
		assert_true(++n <= PGC_XFER_SAMPLE_BATCHES);
	}
	return n;
}

/* The buffer first, on a whole sample; the target's own read after it. */
static void test_bounce_first(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	assert_true(p.deciding);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
	batch(&p, PGC_XFER_BOUNCE, 2500);
	assert_true(p.deciding);
	assert_int_equal(p.via, PGC_XFER_INJECT);
	assert_int_equal(pgc_xfer_batch_bytes(&p, NORMAL), PGC_XFER_SAMPLE_STEP);
}

/* Far slower (a nested VM's 300 against 2500 MiB/s): one step tells. */
static void test_bounce_far_faster(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	batch(&p, PGC_XFER_BOUNCE, 2500);
	assert_int_equal(inject_until_decided(&p, 300), 1);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
	assert_int_equal(pgc_xfer_batch_bytes(&p, NORMAL), NORMAL);
	/* decided: later batches change nothing */
	pgc_xfer_account(&p, PGC_XFER_BOUNCE, NORMAL, 1000000000ULL);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
}

/*
 * A little slower: sure to lose only once it has taken as long as the
 * buffer's 8 MiB (3.2 ms at 2500 MiB/s), at 2000 MiB/s after its 7th MiB.
 */
static void test_bounce_a_little_faster(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	batch(&p, PGC_XFER_BOUNCE, 2500);
	assert_int_equal(inject_until_decided(&p, 2000), 7);
	assert_int_equal(p.via, PGC_XFER_BOUNCE);
}

static void test_inject_faster(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	batch(&p, PGC_XFER_BOUNCE, 2500);
	assert_int_equal(inject_until_decided(&p, 4000),
			 PGC_XFER_SAMPLE_BYTES / PGC_XFER_SAMPLE_STEP);
	assert_int_equal(p.via, PGC_XFER_INJECT);
	assert_int_equal(pgc_xfer_batch_bytes(&p, NORMAL), NORMAL);
}

/* Ranges of a page each flush a page at a time: batches end a sample. */
static void test_small_batches(void **state)
{
	struct pgc_xfer_pick p;

	pick(&p);
	for (int i = 0; i < PGC_XFER_SAMPLE_BATCHES; i++)
		pgc_xfer_account(&p, PGC_XFER_BOUNCE, 4096, 20000);
	assert_int_equal(p.via, PGC_XFER_INJECT);
	for (int i = 0; i < PGC_XFER_SAMPLE_BATCHES; i++)
		pgc_xfer_account(&p, PGC_XFER_INJECT, 4096, 15000);
	assert_false(p.deciding);
	assert_int_equal(p.via, PGC_XFER_INJECT);
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
		cmocka_unit_test(test_bounce_first),
		cmocka_unit_test(test_bounce_far_faster),
		cmocka_unit_test(test_bounce_a_little_faster),
		cmocka_unit_test(test_inject_faster),
		cmocka_unit_test(test_small_batches),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
