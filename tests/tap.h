/*
 * tap: a small TAP producer for C tests run by prove.
 *   ok(cond, "1.1 name"), is_int(got, want, ...), is_str(got, want, ...),
 *   done_testing() prints the plan and returns the exit status.
 * Failure details go to stderr, where prove shows them.
 */
#ifndef KILN_TAP_H
#define KILN_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int	tap_run, tap_failed;

static int
tap_report(int pass, const char *fmt, va_list ap)
{
	tap_run++;
	if (!pass)
		tap_failed++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_run);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	return pass;
}

static int __attribute__((format(printf, 2, 3), unused))
ok(int pass, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	tap_report(pass, fmt, ap);
	va_end(ap);
	return pass;
}

static int __attribute__((format(printf, 3, 4), unused))
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	tap_report(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		fprintf(stderr, "#   got %lld, want %lld\n", got, want);
	return got == want;
}

static int __attribute__((format(printf, 3, 4), unused))
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list	 ap;
	int	 pass = got != NULL && want != NULL && strcmp(got, want) == 0;

	va_start(ap, fmt);
	tap_report(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		fprintf(stderr, "#   got \"%s\", want \"%s\"\n",
		    got ? got : "(null)", want ? want : "(null)");
	return pass;
}

static int __attribute__((unused))
done_testing(void)
{
	printf("1..%d\n", tap_run);
	return tap_failed != 0;
}

#endif
