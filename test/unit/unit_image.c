// SPDX-License-Identifier: GPL-2.0-or-later
/* Image format: checksums, header encoding and every header check. */
#include <unistd.h>

#include "unit.h"
#include "image/image.h"

static void test_crc32c(void **state)
{
	static const char nine[] = "123456789";
	char buf[4099];

	/* the standard check value of CRC-32C */
	assert_int_equal(pgc_crc32c(0, nine, 9), 0xe3069283);
	assert_int_equal(pgc_crc32c_soft(0, nine, 9), 0xe3069283);
	/* chaining equals one pass; hardware equals table, any alignment */
	assert_int_equal(pgc_crc32c(pgc_crc32c(0, nine, 4), nine + 4, 5), 0xe3069283);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 1);
	for (size_t off = 0; off < 8; off++)
		assert_int_equal(pgc_crc32c(0, buf + off, sizeof(buf) - off),
				 pgc_crc32c_soft(0, buf + off, sizeof(buf) - off));
	assert_int_equal(pgc_crc32c(0, "", 0), 0);
}

/* The three-stream path (long and short blocks, what is left, chained). */
static void test_crc32c_streams(void **state)
{
	static const size_t lens[] = {
		767, 768, 769, 3 * 256 + 7, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1,
		3 * 8192 + 3 * 256 + 13, 2 * 3 * 8192 + 5 * 256 + 3, 60000,
	};
	static uint8_t buf[60000 + 8];
	uint32_t x = 0x12345678;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
		for (size_t off = 0; off < 8; off += 3) {
			size_t n = lens[l], half = n / 3 + off;
			uint32_t want = pgc_crc32c_soft(0x9e3779b9, buf + off, n);

			assert_int_equal(pgc_crc32c(0x9e3779b9, buf + off, n), want);
			assert_int_equal(pgc_crc32c(pgc_crc32c(0x9e3779b9, buf + off, half),
						    buf + off + half, n - half), want);
		}
}

/* Counts from a parser that lies: never a pointer outside the ring. */
static void test_ring_counts(void **state)
{
	static char ring[2 << 20];
	struct pgc_img_parser p = { .data = -1, .verdict = -1, .release = -1,
				    .ring = ring, .ring_len = 1 << 20 };
	uint64_t bad[] = { 0, (1 << 20) + 1, ~0ull };
	uint64_t ok = 4096, two[2] = { 1 << 20, 1 };	/* full, then past it */
	int fds[2], vfds[2];
	void *at;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pipe(fds), 0);
		p.data = fds[0];
		p.produced = p.consumed = 0;
		assert_int_equal(write(fds[1], &bad[i], sizeof(bad[i])), 8);
		assert_int_equal(pgc_img_parser_data(&p, NULL, 4096, &at), -EPROTO);
		close(fds[0]);
		close(fds[1]);
	}
	/* a count in two pieces; then more than the ring holds unconsumed */
	assert_int_equal(pipe(fds), 0);
	p.data = fds[0];
	p.consumed = (1 << 20) - 1024;		/* near the end of a turn */
	p.produced = p.consumed;
	assert_int_equal(write(fds[1], &ok, 3), 3);
	assert_int_equal(write(fds[1], (char *)&ok + 3, 5), 5);
	assert_int_equal(pgc_img_parser_data(&p, NULL, 4096, &at), 0);
	assert_ptr_equal(at, ring + (1 << 20) - 1024);
	assert_int_equal(pgc_img_parser_done(&p, 4096), 0);
	assert_int_equal(write(fds[1], two, sizeof(two)), sizeof(two));
	assert_int_equal(pgc_img_parser_data(&p, NULL, 4096, &at), -EPROTO);
	/* never more than half the ring at once */
	assert_int_equal(pgc_img_parser_data(&p, NULL, (1 << 19) + 1, &at), -EINVAL);
	close(fds[0]);
	close(fds[1]);
	/* end of the counts with no verdict: an error, not a hang */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(pipe(vfds), 0);
	p.data = fds[0];
	p.verdict = vfds[0];
	p.produced = p.consumed = 0;
	p.npart = 0;
	close(fds[1]);
	close(vfds[1]);
	assert_int_equal(pgc_img_parser_data(&p, NULL, 4096, &at), -EIO);
	close(fds[0]);
	close(vfds[0]);
}

static struct pgc_img_header good(void)
{
	return (struct pgc_img_header){
		.major = 1, .minor = 0, .hdr_size = 64, .page_size = 4096,
		.manifest_len = 100, .data_off = 4096, .data_len = 8192,
		.manifest_crc = 0x1234,
	};
}

static int decode_with(void (*edit)(struct pgc_img_header *))
{
	struct pgc_img_header h = good(), out;
	uint8_t raw[64];

	edit(&h);
	pgc_img_header_encode(&h, raw);
	pgc_clear_error();
	return pgc_img_header_decode(raw, &out);
}

static void e_none(struct pgc_img_header *h) { (void)h; }
static void e_major(struct pgc_img_header *h) { h->major = 2; }
static void e_incompat(struct pgc_img_header *h) { h->incompat = 1u << 31; }
static void e_compat(struct pgc_img_header *h) { h->compat = 0x80000000u; }
static void e_ro(struct pgc_img_header *h) { h->ro_compat = 1; }
static void e_hdr(struct pgc_img_header *h) { h->hdr_size = 128; }
static void e_ps(struct pgc_img_header *h) { h->page_size = 3000; }
static void e_ps_small(struct pgc_img_header *h) { h->page_size = 2048; }
static void e_mlen0(struct pgc_img_header *h) { h->manifest_len = 0; }
static void e_mlen_big(struct pgc_img_header *h) { h->manifest_len = PGC_IMG_MAX_MANIFEST + 1; }
static void e_doff(struct pgc_img_header *h) { h->data_off = 8192; }
static void e_dlen(struct pgc_img_header *h) { h->data_len = 100; }

static void test_header(void **state)
{
	struct pgc_img_header h = good(), out;
	uint8_t raw[64];

	pgc_img_header_encode(&h, raw);
	assert_memory_equal(raw, "PGCLONE\0", 8);
	assert_int_equal(raw[16] | raw[17] << 8, 4096);	/* little endian */
	assert_int_equal(pgc_img_header_decode(raw, &out), 0);
	assert_int_equal(out.manifest_len, 100);
	assert_int_equal(out.data_len, 8192);
	assert_int_equal(out.manifest_crc, 0x1234);

	assert_int_equal(decode_with(e_none), 0);
	assert_int_equal(decode_with(e_compat), 0);	/* ignorable */
	assert_int_equal(decode_with(e_ro), 0);		/* readable */
	assert_int_equal(decode_with(e_major), -EOPNOTSUPP);
	assert_int_equal(decode_with(e_incompat), -EOPNOTSUPP);
	assert_int_equal(decode_with(e_hdr), -EPROTO);
	assert_int_equal(decode_with(e_ps), -EPROTO);
	assert_int_equal(decode_with(e_ps_small), -EPROTO);
	assert_int_equal(decode_with(e_mlen0), -EPROTO);
	assert_int_equal(decode_with(e_mlen_big), -EPROTO);
	assert_int_equal(decode_with(e_doff), -EPROTO);
	assert_int_equal(decode_with(e_dlen), -EPROTO);

	/* every single bit flip in the header is caught */
	for (size_t bit = 0; bit < 64 * 8; bit++) {
		raw[bit / 8] ^= (uint8_t)(1 << bit % 8);
		assert_int_not_equal(pgc_img_header_decode(raw, &out), 0);
		raw[bit / 8] ^= (uint8_t)(1 << bit % 8);
	}
}

static void test_trailer_size(void **state)
{
	uint32_t crcs[3] = { 1, 2, 3 };
	uint8_t buf[32];

	assert_int_equal(pgc_img_trailer_size(3), 32);
	pgc_img_trailer_encode(buf, crcs, 3);
	assert_memory_equal(buf, "PGCLEND\0", 8);
	assert_int_equal(buf[16], 1);
	assert_int_equal(buf[24], 3);
}

/* A delta's manifest: one range of 4 pages, DATA, PARENT, ZERO extents. */
struct delta {
	Pgclone__Manifest m;
	Pgclone__Source src;
	Pgclone__Range r, *rp[1];
	Pgclone__Extent e[3], *ep[3];
	Pgclone__Parent p;
	struct pgc_img_header h;
};

static void delta_init(struct delta *d)
{
	Pgclone__ExtentKind kinds[3] = { PGCLONE__EXTENT_KIND__DATA,
					 PGCLONE__EXTENT_KIND__PARENT,
					 PGCLONE__EXTENT_KIND__ZERO };

	memset(d, 0, sizeof(*d));
	pgclone__manifest__init(&d->m);
	pgclone__source__init(&d->src);
	d->src.has_page_size = 1;
	d->src.page_size = 4096;
	pgclone__range__init(&d->r);
	d->r.has_start = d->r.has_end = 1;
	d->r.start = 0x10000;
	d->r.end = 0x10000 + 4 * 4096;
	d->rp[0] = &d->r;
	for (int i = 0; i < 3; i++) {
		pgclone__extent__init(&d->e[i]);
		d->e[i].has_range = d->e[i].has_offset = d->e[i].has_nr_pages = 1;
		d->e[i].has_kind = d->e[i].has_anon = 1;
		d->e[i].offset = (uint64_t)i * 4096;
		d->e[i].nr_pages = 1;
		d->e[i].kind = kinds[i];
		d->e[i].anon = 1;
		d->ep[i] = &d->e[i];
	}
	d->e[0].has_data_off = 1;
	pgclone__parent__init(&d->p);
	d->p.has_id_hi = d->p.has_id_lo = d->p.has_manifest_crc = 1;
	d->p.id_hi = 0x1122334455667788ULL;
	d->p.id_lo = 0x99aabbccddeeff00ULL;
	d->p.manifest_crc = 0xdeadbeef;
	d->m.source = &d->src;
	d->m.n_ranges = 1;
	d->m.ranges = d->rp;
	d->m.n_extents = 3;
	d->m.extents = d->ep;
	d->m.parent = &d->p;
	d->m.has_id_hi = d->m.has_id_lo = 1;
	d->m.id_hi = 7;
	d->m.id_lo = 8;
	d->h = good();
	d->h.data_len = 4096;
	d->h.incompat = PGC_IMG_INCOMPAT_DELTA;
}

static void test_delta_manifest(void **state)
{
	struct delta d;
	uint64_t n;

	delta_init(&d);
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), 0);
	assert_int_equal(n, 1);
	/* the bit without a parent, a parent without the bit */
	d.m.parent = NULL;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	delta_init(&d);
	d.h.incompat = 0;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	/* PARENT extents only in a delta; a parent named in full */
	d.m.parent = NULL;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	delta_init(&d);
	d.p.has_manifest_crc = 0;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	/* no kind past PARENT */
	delta_init(&d);
	d.e[1].kind = (Pgclone__ExtentKind)3;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
}

/* restore's parser passes the ids and the parent on to the library */
static void test_delta_wire(void **state)
{
	struct pgc_img a = { 0 }, b;
	struct delta d;
	uint8_t *wire;
	size_t len;

	delta_init(&d);
	a.h = d.h;
	a.m = &d.m;
	assert_int_equal(pgc_img_wire_encode(&a, &wire, &len), 0);
	assert_int_equal(pgc_img_wire_decode(wire, len, &b), 0);	/* takes wire */
	assert_true(b.m->has_id_hi && b.m->has_id_lo);
	assert_int_equal(b.m->id_hi, 7);
	assert_int_equal(b.m->id_lo, 8);
	assert_non_null(b.m->parent);
	assert_int_equal(b.m->parent->id_hi, d.p.id_hi);
	assert_int_equal(b.m->parent->id_lo, d.p.id_lo);
	assert_int_equal(b.m->parent->manifest_crc, 0xdeadbeef);
	assert_int_equal(b.m->extents[1]->kind, PGCLONE__EXTENT_KIND__PARENT);
	pgc_img_free(&b);
}

/* A live round: the bit and the manifest's live agree; only round 0 is
 * no delta; the round and final flag come through the parser's records;
 * the next round names the one before. */
static void test_live_round(void **state)
{
	struct pgc_img a = { 0 }, b, prev = { 0 };
	Pgclone__Live live;
	Pgclone__Live plive;
	Pgclone__Manifest pm;
	struct delta d;
	uint8_t *wire;
	size_t len;
	uint64_t n;

	delta_init(&d);
	pgclone__live__init(&live);
	live.has_round = live.has_final = 1;
	live.round = 3;
	live.final = 1;
	d.m.live = &live;
	d.h.incompat |= PGC_IMG_INCOMPAT_LIVE;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), 0);
	/* the bit without live, live without the bit */
	d.h.incompat &= ~PGC_IMG_INCOMPAT_LIVE;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	d.h.incompat |= PGC_IMG_INCOMPAT_LIVE;
	d.m.live = NULL;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	d.m.live = &live;
	/* no round; round 0 as a delta; past the largest */
	live.has_round = 0;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	live.has_round = 1;
	live.round = 0;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	live.round = PGC_IMG_MAX_ROUNDS;
	assert_int_equal(pgc_img_check_manifest(&d.h, &d.m, &n), -EPROTO);
	live.round = 3;
	/* through the records */
	a.h = d.h;
	a.m = &d.m;
	assert_int_equal(pgc_img_wire_encode(&a, &wire, &len), 0);
	assert_int_equal(pgc_img_wire_decode(wire, len, &b), 0);	/* takes wire */
	assert_non_null(b.m->live);
	assert_int_equal(b.m->live->round, 3);
	assert_true(b.m->live->final);
	pgc_img_free(&b);
	/* the round before: id 0x1122...:0x99aa..., manifest crc 0xdeadbeef */
	pgclone__manifest__init(&pm);
	pgclone__live__init(&plive);
	plive.has_round = 1;
	plive.round = 2;
	pm.live = &plive;
	pm.has_id_hi = pm.has_id_lo = 1;
	pm.id_hi = d.p.id_hi;
	pm.id_lo = d.p.id_lo;
	prev.m = &pm;
	prev.h.manifest_crc = 0xdeadbeef;
	assert_int_equal(pgc_img_next_round(&prev, &a), 0);
	prev.h.manifest_crc = 0xdeadbeee;
	assert_int_equal(pgc_img_next_round(&prev, &a), -EPROTO);
	prev.h.manifest_crc = 0xdeadbeef;
	plive.round = 1;
	assert_int_equal(pgc_img_next_round(&prev, &a), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_crc32c_streams),
		cmocka_unit_test(test_ring_counts),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_trailer_size),
		cmocka_unit_test(test_delta_manifest),
		cmocka_unit_test(test_delta_wire),
		cmocka_unit_test(test_live_round),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
