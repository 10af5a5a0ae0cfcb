/* timing.h - median wall time of a function, for the benchmarks and the
 * demo. Shared machines are noisy: take the median of many runs after a
 * warm-up and compare only ratios measured in the same process. */
#ifndef DP_TIMING_H
#define DP_TIMING_H

#include <stdlib.h>
#include <time.h>

/* static inline: a benchmark that uses only some of these gets no
 * unused-function warning for the others. */
static inline double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the calling thread: time a shared machine's other jobs
 * take from us does not count. */
static inline double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median seconds per call of fn(arg) on `now` (now_seconds: wall time;
 * cpu_seconds: this thread's CPU time): warm up for about a tenth of the
 * budget, then time at least 5 runs and until `budget` seconds are spent
 * (at most 1000 runs). Each run repeats fn enough times to last ~50 us,
 * so the clock's resolution does not matter for small kernels. */
static inline double median_time_on(double (*now)(void),
                                    void (*fn)(void *), void *arg,
                                    double budget)
{
	enum { MAX_RUNS = 1000 };
	static double t[MAX_RUNS];
	double start = now();
	int reps = 1;
	fn(arg);
	for (;;) {
		double t0 = now();
		for (int i = 0; i < reps; i++)
			fn(arg);
		double dt = now() - t0;
		if (dt > 50e-6 || reps > (1 << 20))
			break;
		reps *= 2;
	}
	while (now() - start < budget / 10)
		fn(arg);
	int n = 0;
	start = now();
	while (n < MAX_RUNS && (n < 5 || now() - start < budget)) {
		double t0 = now();
		for (int i = 0; i < reps; i++)
			fn(arg);
		t[n++] = (now() - t0) / reps;
	}
	qsort(t, (size_t)n, sizeof t[0], cmp_double);
	return t[n / 2];
}

/* The same on wall time. */
static inline double median_time(void (*fn)(void *), void *arg,
                                 double budget)
{
	return median_time_on(now_seconds, fn, arg, budget);
}

#endif
