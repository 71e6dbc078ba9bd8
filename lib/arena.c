/*
 * arena: jansson's allocations bumped out of chunks, dropped together.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "arena.h"

/*
 * Under AddressSanitizer a spare chunk is poisoned until it is taken
 * again, so a value read after its snapshot_free is reported, not
 * silently found where it was.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN	1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)	((void)(p), (void)(n))
#define UNPOISON(p, n)	((void)(p), (void)(n))
#endif

/*
 * A chunk: this header, then size bytes handed out from the start.
 * The first chunk of an arena holds a usual snapshot's tree (34 KiB
 * for the VM fixture's 4.2 KiB of JSON); each further one is twice
 * the one before, up to ARENA_CHUNK_MAX, so a hostile tree of many
 * megabytes takes a few dozen chunks, not thousands; one allocation
 * too large for the next chunk gets one of its own (arena_take).
 */
struct arena_chunk {
	struct arena_chunk	*next;
	size_t			 size;
	size_t			 used;
	size_t			 pad;	/* keeps what follows 16-aligned */
};

#define ARENA_ALIGN		16
#define ARENA_CHUNK		(64 * 1024)
#define ARENA_CHUNK_MAX		(4 * 1024 * 1024)
/*
 * First-size chunks an arena gives back are kept for the next one, up
 * to this many per thread: a batch of pushes reuses them, warm, rather
 * than asking malloc for 64 KiB each time. They are kept for the
 * thread's life (2 MiB at most; only a process's main thread parses
 * snapshots).
 */
#define ARENA_SPARES		32

_Static_assert(sizeof(struct arena_chunk) % ARENA_ALIGN == 0, "header");

static _Thread_local struct arena	*building;	/* entered, or NULL */
static _Thread_local struct arena_chunk	*spares;
static _Thread_local int		 nspares;

static struct arena_chunk *
chunk_new(size_t size)
{
	struct arena_chunk	*c;

	if (size == ARENA_CHUNK && spares != NULL) {
		c = spares;
		UNPOISON(c, sizeof(*c) + size);
		spares = c->next;
		nspares--;
	} else if ((c = malloc(sizeof(*c) + size)) == NULL)
		return NULL;
	c->size = size;
	c->used = 0;
	return c;
}

static void *
arena_take(struct arena *a, size_t n)
{
	struct arena_chunk	*head = a->chunks, *c;
	size_t			 size;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (head != NULL && head->size - head->used >= n) {
		head->used += n;
		return (char *)(head + 1) + head->used - n;
	}
	size = head == NULL ? ARENA_CHUNK : head->size < ARENA_CHUNK_MAX / 2 ?
	    head->size * 2 : ARENA_CHUNK_MAX;
	/*
	 * One over a quarter of the chunk that would come next (a long
	 * string, a large array's table) gets a chunk of exactly its size,
	 * behind the head, which goes on serving the small ones.
	 */
	if (n > size / 4) {
		if ((c = chunk_new(n)) == NULL)
			return NULL;
		c->used = n;
		if (head != NULL) {
			c->next = head->next;
			head->next = c;
		} else {
			c->next = NULL;
			a->chunks = c;
		}
		return c + 1;
	}
	if ((c = chunk_new(size)) == NULL)
		return NULL;
	c->next = head;
	c->used = n;
	a->chunks = c;
	return c + 1;
}

static void *
json_alloc(size_t n)
{
	return building != NULL ? arena_take(building, n) : malloc(n);
}

/*
 * Inside an arena, jansson frees only what it allocated there (a grown
 * array's old table, a tree torn down on a parse error): the arena
 * takes it back with the rest.
 */
static void
json_release(void *p)
{
	if (building == NULL)
		free(p);
}

static void
install(void)
{
	json_set_alloc_funcs(json_alloc, json_release);
}

void
arena_enter(struct arena *a)
{
	static pthread_once_t	 installed = PTHREAD_ONCE_INIT;

	pthread_once(&installed, install);	/* jansson's is process-wide */
	building = a;
}

void
arena_leave(void)
{
	building = NULL;
}

void
arena_free(struct arena *a)
{
	struct arena_chunk	*c, *next;

	for (c = a->chunks; c != NULL; c = next) {
		next = c->next;
		if (c->size == ARENA_CHUNK && nspares < ARENA_SPARES) {
			c->next = spares;
			spares = c;
			nspares++;
			POISON(c + 1, c->size);
		} else
			free(c);
	}
	a->chunks = NULL;
}
