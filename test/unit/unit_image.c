// SPDX-License-Identifier: GPL-2.0-or-later
/* Image format: checksums, header encoding and every header check. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_trailer_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
