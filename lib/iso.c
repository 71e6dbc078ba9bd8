/*
 * iso: a strict, allocation-free ISO 8601 parser and formatter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iso.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Reads exactly n digits. Returns 1 and *out, or 0. */
static int
digits(const char **s, int n, int *out)
{
	int	 v = 0;

	for (int i = 0; i < n; i++) {
		char	 c = (*s)[i];

		if (c < '0' || c > '9')
			return 0;
		v = v * 10 + (c - '0');
	}
	*s += n;
	*out = v;
	return 1;
}

int
iso_parse_ms(const char *s, int64_t *ms)
{
	int	 y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, oh, om, sign;
	int64_t	 t;

	if (s == NULL || *s == '\0')
		return 0;
	/* All digits: Unix seconds. */
	if (strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) > 11)
			return 0;
		*ms = strtoll(s, NULL, 10) * 1000;
		return 1;
	}
	if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) ||
	    *s++ != '-' || !digits(&s, 2, &d))
		return 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo))
		return 0;
	t = days_from_civil(y, mo, d) * 86400;
	if (*s == '\0') {
		*ms = t * 1000;
		return 1;
	}
	if (*s != 'T' && *s != 't' && *s != ' ')
		return 0;
	s++;
	if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi))
		return 0;
	if (*s == ':') {
		s++;
		if (!digits(&s, 2, &sec))
			return 0;
		if (*s == '.' || *s == ',') {
			int	 n = 0;

			s++;
			if (*s < '0' || *s > '9')
				return 0;
			while (*s >= '0' && *s <= '9') {
				if (n < 3)
					frac = frac * 10 + (*s - '0');
				n++;
				s++;
			}
			for (; n < 3; n++)
				frac *= 10;
		}
	}
	/* 24:00 and leap seconds are refused rather than guessed at. */
	if (h > 23 || mi > 59 || sec > 59)
		return 0;
	t += h * 3600 + mi * 60 + sec;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		if (!digits(&s, 2, &oh))
			return 0;
		if (*s == ':')
			s++;
		if (!digits(&s, 2, &om) || oh > 23 || om > 59)
			return 0;
		t -= sign * (oh * 3600 + om * 60);
	} else
		return 0;
	if (*s != '\0' || t < 0)
		return 0;
	*ms = t * 1000 + frac;
	return 1;
}

char *
iso_format(char out[ISO_MAX], int64_t secs)
{
	time_t		 tt = (time_t)secs;
	struct tm	 tm;

	gmtime_r(&tt, &tm);
	strftime(out, ISO_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

char *
iso_format_ms(char out[ISO_MAX], int64_t ms)
{
	time_t		 tt = (time_t)(ms / 1000);
	struct tm	 tm;
	size_t		 n;

	gmtime_r(&tt, &tm);
	n = strftime(out, ISO_MAX - 6, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, ISO_MAX - n, ".%03uZ", (unsigned)(ms % 1000) % 1000u);
	return out;
}

int64_t
iso_now_ms(void)
{
	const char	*fake = getenv("KILN_FAKE_NOW");
	struct timespec	 ts;
	int64_t		 ms;

	if (fake != NULL && *fake != '\0' && iso_parse_ms(fake, &ms))
		return ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
iso_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
iso_now(void)
{
	return iso_now_ms() / 1000;
}
