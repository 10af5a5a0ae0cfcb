/* tap.h - a minimal TAP producer for the tests run by prove.
 * Each test program includes this once, calls ok()/is_*() and ends with
 * done_testing(), which prints the plan and returns the exit status. */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

/* Report one test; returns cond so callers can add diagnostics. */
static __attribute__((unused)) int ok(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static __attribute__((unused)) int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

/* A diagnostic line, shown by prove -v and on failure. */
static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static __attribute__((unused)) void diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static __attribute__((unused)) int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
