// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * info.c - describe an image (pgclone show) and check every checksum of
 * it (pgclone verify) without touching any process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pgcloneP.h"
#include "image.h"


static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static int fill(struct pgclone_image_info *info, const struct pgc_img *img)
{
	const Pgclone__Manifest *m = img->m;
	const Pgclone__Source *s = m->source;

	info->major = img->h.major;
	info->minor = img->h.minor;
	info->page_size = img->h.page_size;
	info->compat = img->h.compat;
	info->incompat = img->h.incompat;
	info->ro_compat = img->h.ro_compat;
	info->manifest_len = img->h.manifest_len;
	info->data_off = img->h.data_off;
	info->data_len = img->h.data_len;
	copy_str(info->tool_version, sizeof(info->tool_version), s->tool_version);
	copy_str(info->kernel, sizeof(info->kernel), s->kernel);
	copy_str(info->arch, sizeof(info->arch), s->arch);
	copy_str(info->comm, sizeof(info->comm), s->comm);
	info->src_pid = s->has_pid ? s->pid : 0;
	info->time_ns = s->time_ns;
	info->frozen = s->has_frozen && s->frozen;
	info->nr_extents = m->n_extents;
	if (m->has_id_hi && m->has_id_lo)
		snprintf(info->id, sizeof(info->id), "%016llx%016llx",
			 (unsigned long long)m->id_hi, (unsigned long long)m->id_lo);
	info->tracking = m->tracking != NULL;
	info->live = m->live != NULL;
	if (m->parent) {	/* checked: a delta names it fully */
		info->delta = 1;
		snprintf(info->parent_id, sizeof(info->parent_id), "%016llx%016llx",
			 (unsigned long long)m->parent->id_hi,
			 (unsigned long long)m->parent->id_lo);
		info->parent_manifest_crc = m->parent->manifest_crc;
	}
	if (img->h.incompat & PGC_IMG_INCOMPAT_ZSTD) {
		info->compression = PGCLONE_COMPRESS_ZSTD;
		info->compress_level = img->level;
	}
	info->ranges = calloc(m->n_ranges, sizeof(*info->ranges));
	if (!info->ranges)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_ranges; i++) {
		const Pgclone__Range *r = m->ranges[i];
		struct pgclone_range *p = &info->ranges[i];

		pgc_img_range_public(r, img->h.page_size, p);
		p->map.name = strdup(p->map.name);
		if (!p->map.name)
			return -ENOMEM;
		info->nr_ranges = i + 1;
	}
	for (size_t i = 0; i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		struct pgclone_range *p = &info->ranges[e->range];

		p->pages_present += e->nr_pages;
		if (e->kind == PGCLONE__EXTENT_KIND__DATA) {
			p->pages_copied += e->nr_pages;
			info->pages_data += e->nr_pages;
			info->nr_data_extents++;
		} else if (e->kind == PGCLONE__EXTENT_KIND__PARENT) {
			info->pages_parent += e->nr_pages;
		} else {
			info->pages_zero += e->nr_pages;
		}
	}
	return 0;
}

/*
 * What the data area takes in a compressed image, without reading it:
 * known for a file (all but the trailer, from here to its end), not for
 * a stream.  verify counts it instead.
 */
static uint64_t stored_size(int fd, const struct pgc_img *img)
{
	uint64_t tail = pgc_img_trailer_size(img->nr_data);
	struct stat sb;
	off_t at;

	if (!(img->h.incompat & PGC_IMG_INCOMPAT_ZSTD))
		return img->h.data_len;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode))
		return 0;
	at = lseek(fd, 0, SEEK_CUR);
	if (at < 0 || (uint64_t)sb.st_size < (uint64_t)at + tail)
		return 0;
	return (uint64_t)sb.st_size - (uint64_t)at - tail;
}

/*
 * verify of a live stream: every round after round 0 (@img, read), each
 * the next of the one before, to the final one, whose trailer must end
 * the stream.  A stream cut before is what restore refuses: so does this.
 */
static int verify_rounds(int fd, struct pgc_img *img, struct pgclone_image_info *info)
{
	int ret = 0;

	info->live_rounds = 1;
	while (!ret && pgc_img_more_rounds(img)) {
		struct pgc_img next;
		uint64_t stored = 0;

		ret = pgc_img_read_head(fd, &next);
		if (ret) {
			char why[256];

			snprintf(why, sizeof(why), "%s", pgclone_last_error());
			pgc_clear_error();
			return pgc_fail(ret, "the live stream ends before its final round (after round %u): %s",
					img->m->live->round, why);
		}
		ret = pgc_img_next_round(img, &next);
		if (!ret)
			ret = pgc_img_read_data(fd, &next, NULL, &stored);
		info->data_stored += stored;
		info->live_rounds++;
		pgc_img_free(img);
		*img = next;
	}
	return ret;
}

int pgc_image_info(int fd, bool verify, struct pgclone_image_info *info)
{
	struct pgc_img img;
	int ret;

	pgc_img_tune_fd(fd);
	ret = pgc_img_read_head(fd, &img);

	if (ret)
		return ret;
	ret = fill(info, &img);
	if (!ret && verify)
		ret = pgc_img_read_data(fd, &img, NULL, &info->data_stored);
	if (!ret && verify && img.m->live)
		ret = verify_rounds(fd, &img, info);
	else if (!ret && !verify)
		info->data_stored = stored_size(fd, &img);
	pgc_img_free(&img);
	return ret;
}
