/*
 * page: opaque cursor pagination. A cursor names the last row of the
 * previous page by (creation time, public id) and is signed with the
 * pepper together with the list it belongs to, so it can't be forged,
 * tampered with, or carried to another list or filter.
 */
#ifndef KILN_PAGE_H
#define KILN_PAGE_H

#include <stdint.h>

#include "id.h"

struct req;

#define PAGE_LIMIT_MAX		100
#define PAGE_CURSOR_MAX		160

/* A position in a list ordered by (t, id). */
struct page_pos {
	int64_t	 t;
	char	 id[ID_MAX];
};

/* Writes the cursor for pos within list context into out. Returns 1/0. */
int	page_cursor_make(char out[PAGE_CURSOR_MAX], const char *context,
	    const struct page_pos *pos);

/* Reads a cursor made for context. Returns 1 and *pos, or 0. */
int	page_cursor_read(const char *cursor, const char *context,
	    struct page_pos *pos);

/*
 * Reads ?limit (1-100, default 100) and ?cursor. Returns 1 with *after
 * set to 1 and *pos filled when a cursor was given; or 0 having answered
 * 400 invalid_limit / invalid_cursor.
 */
int	page_params(struct req *r, const char *context, int *limit,
	    int *after, struct page_pos *pos);

#endif
