/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The median of a benchmark's rounds, for the guest's C benchmarks. */
#ifndef PGCLONE_BENCH_MEDIAN_H
#define PGCLONE_BENCH_MEDIAN_H

#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v. */
static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
