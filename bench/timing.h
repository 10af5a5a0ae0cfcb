/* timing.h - median wall time of a function, for the benchmarks and the
 * demo. Shared machines are noisy: take the median of many runs after a
 * warm-up and compare only ratios measured in the same process. */
#ifndef DP_TIMING_H
#define DP_TIMING_H

#include <stdlib.h>
#include <time.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median seconds per call of fn(arg): warm up for about a tenth of the
 * budget, then time at least 5 runs and until `budget` seconds are spent
 * (at most 1000 runs). Each run repeats fn enough times to last ~50 us,
 * so the clock's resolution does not matter for small kernels. */
static double median_time(void (*fn)(void *), void *arg, double budget)
{
	enum { MAX_RUNS = 1000 };
	static double t[MAX_RUNS];
	double start = now_seconds();
	int reps = 1;
	fn(arg);
	for (;;) {
		double t0 = now_seconds();
		for (int i = 0; i < reps; i++)
			fn(arg);
		double dt = now_seconds() - t0;
		if (dt > 50e-6 || reps > (1 << 20))
			break;
		reps *= 2;
	}
	while (now_seconds() - start < budget / 10)
		fn(arg);
	int n = 0;
	start = now_seconds();
	while (n < MAX_RUNS && (n < 5 || now_seconds() - start < budget)) {
		double t0 = now_seconds();
		for (int i = 0; i < reps; i++)
			fn(arg);
		t[n++] = (now_seconds() - t0) / reps;
	}
	qsort(t, (size_t)n, sizeof t[0], cmp_double);
	return t[n / 2];
}

#endif
