/*
 * arena: jansson trees that are let go of all at once. While an arena
 * is entered, every allocation jansson makes on this thread comes from
 * the arena's chunks, and jansson's frees there are no-ops (they can
 * only be of the arena's own values); arena_free then releases the
 * whole tree in one step, where json_decref would visit and free each
 * value, key and bucket on its own. A snapshot's tree (the VM
 * fixture's: 239 values under 212 keys) is read once and dropped
 * once: see snapshot_parse.
 *
 * The rule for a tree built in an arena: after arena_leave, nothing
 * may take its refcount to zero (never json_decref its root; other code
 * may incref a value and decref it again, and must be done with it
 * before arena_free). Allocations outside an arena are plain malloc and
 * free, so the rest of jansson's users are unchanged.
 */
#ifndef KILN_ARENA_H
#define KILN_ARENA_H

struct arena_chunk;

struct arena {
	struct arena_chunk	*chunks;	/* newest first, or NULL */
};

/*
 * Sends this thread's jansson allocations to a (zeroed, or freed with
 * arena_free, before its first use) until arena_leave. Not nested.
 */
void	arena_enter(struct arena *a);
void	arena_leave(void);

/* Releases everything allocated in a; a is empty again. */
void	arena_free(struct arena *a);

#endif
