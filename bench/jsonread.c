/*
 * jsonread: microseconds per parse of one JSON file by jansson's
 * json_loadb (JSON_REJECT_DUPLICATES) and by Kiln's jsonread_parse, each
 * parse including the json_decref of its tree. Each parser runs ROUNDS
 * rounds of n parses, alternating so both see the same machine; the
 * best round counts (the least disturbed by anything else running).
 *   jsonread [FILE [N]]   default tests/fixtures/snapshot-debian12-vm.json
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "jsonread.h"

#define ROUNDS	7

static json_t *
by_jansson(const char *buf, size_t len)
{
	return json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
}

static json_t *
by_kiln(const char *buf, size_t len)
{
	return jsonread_parse(buf, len, NULL);
}

static double
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Microseconds per parse over n parses; -1 if one fails. */
static double
round_us(json_t *(*parse)(const char *, size_t), const char *buf,
    size_t len, long n)
{
	double	 t0 = now_us();
	json_t	*j;

	for (long i = 0; i < n; i++) {
		if ((j = parse(buf, len)) == NULL)
			return -1;
		json_decref(j);
	}
	return (now_us() - t0) / n;
}

int
main(int argc, char *argv[])
{
	const char	*path = argc > 1 ? argv[1] :
	    "tests/fixtures/snapshot-debian12-vm.json";
	long		 n = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
	double		 best_j = -1, best_k = -1, t;
	char		*buf;
	size_t		 len;
	FILE		*f;
	json_t		*a, *b;
	int		 same;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	rewind(f);
	if ((buf = malloc(len)) == NULL || fread(buf, 1, len, f) != len) {
		fprintf(stderr, "%s: read failed\n", path);
		return 1;
	}
	fclose(f);

	a = by_jansson(buf, len);
	b = by_kiln(buf, len);
	same = a != NULL && b != NULL && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	if (!same) {
		fprintf(stderr, "%s: the parsers disagree\n", path);
		return 1;
	}
	for (int r = 0; r < ROUNDS; r++) {
		t = round_us(by_jansson, buf, len, n);
		if (t >= 0 && (best_j < 0 || t < best_j))
			best_j = t;
		t = round_us(by_kiln, buf, len, n);
		if (t >= 0 && (best_k < 0 || t < best_k))
			best_k = t;
	}
	printf("%s (%zu bytes), best of %d rounds of %ld parses:\n", path,
	    len, ROUNDS, n);
	printf("  jansson json_loadb   %8.2f us/parse\n", best_j);
	printf("  kiln jsonread_parse  %8.2f us/parse\n", best_k);
	printf("  speed-up             %8.2fx\n", best_j / best_k);
	free(buf);
	return 0;
}
