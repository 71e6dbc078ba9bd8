/*
 * fuzz target: jsonread_parse against jansson's json_loadb with
 * JSON_REJECT_DUPLICATES, the contract it keeps. On every input both
 * accept or both refuse; accepted trees are the same value by value:
 * same types throughout (json_equal would also catch 1 against 1.0,
 * but not 0.0 against -0.0), integers and reals bit for bit, strings
 * byte for byte, object keys in the same order. A refusal must say
 * where, inside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when a and b are the same tree, as described above. */
static int
same(json_t *a, json_t *b)
{
	const char	*ka, *kb;
	json_t		*va, *vb;
	void		*ia, *ib;
	double		 ra, rb;
	size_t		 i;

	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return 0;
		for (ia = json_object_iter(a), ib = json_object_iter(b);
		    ia != NULL && ib != NULL;
		    ia = json_object_iter_next(a, ia),
		    ib = json_object_iter_next(b, ib)) {
			ka = json_object_iter_key(ia);
			kb = json_object_iter_key(ib);
			if (json_object_iter_key_len(ia) !=
			    json_object_iter_key_len(ib) ||
			    memcmp(ka, kb, json_object_iter_key_len(ia)) != 0)
				return 0;
			va = json_object_iter_value(ia);
			vb = json_object_iter_value(ib);
			if (!same(va, vb))
				return 0;
		}
		return ia == NULL && ib == NULL;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (i = 0; i < json_array_size(a); i++)
			if (!same(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		    memcmp(json_string_value(a), json_string_value(b),
		    json_string_length(a)) == 0;
	case JSON_INTEGER:
		return json_integer_value(a) == json_integer_value(b);
	case JSON_REAL:
		ra = json_real_value(a);
		rb = json_real_value(b);
		return memcmp(&ra, &rb, sizeof(ra)) == 0;
	default:			/* true, false, null */
		return 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t	 jerr, kerr;
	json_t		*j, *k;

	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    &jerr);
	k = jsonread_parse((const char *)data, size, &kerr);
	if ((j == NULL) != (k == NULL)) {
		fprintf(stderr, "jansson %s (%s), jsonread %s (%s)\n",
		    j != NULL ? "accepts" : "refuses",
		    j != NULL ? "-" : jerr.text,
		    k != NULL ? "accepts" : "refuses",
		    k != NULL ? "-" : kerr.text);
		abort();
	}
	if (j != NULL && (!json_equal(j, k) || !same(j, k))) {
		fprintf(stderr, "the trees differ\n");
		abort();
	}
	if (k == NULL && (kerr.text[0] == '\0' || kerr.position < 0 ||
	    (size_t)kerr.position > size || kerr.line < 1 ||
	    kerr.column < 1)) {
		fprintf(stderr, "refusal without a place: %s\n", kerr.text);
		abort();
	}
	json_decref(j);
	json_decref(k);
	return 0;
}
