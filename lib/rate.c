/*
 * rate: the token buckets, in a table of fixed size that every process
 * of every route binary maps from one file (rate_shm_path, by default
 * <var_dir>/rate.shm) with MAP_SHARED. Taking a token costs a hash, a
 * mutex and a few loads and stores, where an UPSERT on an SQLite table
 * cost about a quarter of a minimal ingest request's CPU.
 *
 * The file: a header (magic, version, slot count, the boot it was made
 * in, a random 128-bit hash key and RATE_STRIPES process-shared robust
 * mutexes), then RATE_SLOTS slots. A slot holds one bucket: the keyed
 * hash of its name, tokens after its last take, the time of that take
 * (at_ms, which is also its last use), when it will be full again, and
 * the name truncated, for kiln-admin.
 *
 * A name lives in one set of RATE_WAYS adjacent slots, chosen by its
 * SipHash under the file's random key (so clients can't aim names at
 * one set); each set belongs to one stripe, whose mutex covers every
 * read-modify-write of its slots. A slot is free when empty or when its
 * bucket is full again: a full bucket behaves exactly as no bucket, so
 * the table needs no cleaning. When every slot of a set holds a bucket
 * still refilling, the least recently used is reused: only a flood of
 * distinct names does that, and forgetting a bucket only lets one name
 * start over full. Nothing is logged per request.
 *
 * A process that dies holding a mutex (robust: EOWNERDEAD) can have left
 * a slot half written; every field is an aligned 8-byte word stored
 * whole, so at worst one bucket is a little off. The next locker marks
 * the mutex consistent and carries on.
 *
 * The file is built and initialised under a temporary name, then linked
 * into place, so no process ever maps a half-made table; the loser of
 * that race opens the winner's. A file of another version or size, or
 * from before a reboot (its mutexes may be held by processes that no
 * longer exist), is replaced by a rename made under flock() of the old
 * file, after checking the path still names it, so that one process
 * replaces it and the others then open the replacement. A process maps
 * the table on first use and keeps it. When it can't, requests go
 * through: a limiter must not take the API down (logged once, retried
 * every minute).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "db.h"
#include "iso.h"
#include "log.h"
#include "rate.h"
#include "rate_impl.h"
#include "req.h"

#define HOUR		3600.0
#define MAGIC		"KILNRATE"
#define VERSION		1
#define REOPEN_MS	60000	/* between attempts after a failed open */
#define MAX_FULL_MS	(INT64_C(1) << 40)	/* overflow guard: 35 y */

const struct rate_class RATE_IP = { "ip", "rate_ip", 100, 10 };
const struct rate_class RATE_INGEST_IP =
    { "ingest-ip", "rate_ingest_ip", 1000, 100 };
const struct rate_class RATE_KEY = { "key", "rate_key", 1000, 100 };
const struct rate_class RATE_ACCOUNT = { "acct", "rate_account", 5000, 500 };
const struct rate_class RATE_SERVER_CREATE =
    { "srv-create", "rate_server_create", 100, 100 / HOUR };
const struct rate_class RATE_SERVER_DELETE =
    { "srv-delete", "rate_server_delete", 100, 100 / HOUR };
const struct rate_class RATE_ROTATE_KEY =
    { "rotate-key", "rate_rotate_key", 10, 10 / HOUR };
const struct rate_class RATE_CHANNEL_TEST =
    { "channel-test", "rate_channel_test", 10, 10 / HOUR };
const struct rate_class RATE_REGISTER =
    { "register", "rate_register", 3, 3 / HOUR };

/* A mutex on a cache line of its own: stripes are locked concurrently. */
struct stripe {
	alignas(64) pthread_mutex_t	 mutex;
};

struct head {
	char		 magic[8];	/* MAGIC, no NUL */
	uint32_t	 version;	/* VERSION */
	uint32_t	 nslots;	/* a power of two, >= RATE_WAYS */
	uint32_t	 head_size;	/* sizeof(struct head): the ABI */
	uint32_t	 slot_size;	/* sizeof(struct slot) */
	char		 boot[40];	/* the kernel's boot_id */
	unsigned char	 key[16];	/* SipHash key, random per file */
	struct stripe	 stripe[RATE_STRIPES];
};

struct slot {
	uint64_t	 hash;		/* rate_siphash of the name */
	int64_t		 at_ms;		/* last take; never goes back */
	int64_t		 full_ms;	/* full again then; 0: empty */
	double		 tokens;	/* after the last take */
	char		 name[RATE_NAME_MAX];	/* truncated */
};

struct rate_table {
	struct head	*head;		/* the mapping starts here */
	struct slot	*slot;		/* nslots, after the head */
	size_t		 size;		/* of the mapping */
	uint32_t	 nsets;
};

static struct rate_table *table;	/* this process's, kept till exit */
static int64_t		 failed_ms;	/* last failed open, or 0 */
static int		 logged;	/* a failure was logged */

#define ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56;
}

/* The reference algorithm (Aumasson and Bernstein), byte order fixed. */
uint64_t
rate_siphash(const unsigned char key[16], const void *msg, size_t n)
{
	const unsigned char	*p = msg, *end = p + (n - n % 8);
	uint64_t		 k0 = le64(key), k1 = le64(key + 8), m;
	uint64_t		 v0 = k0 ^ UINT64_C(0x736f6d6570736575);
	uint64_t		 v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
	uint64_t		 v2 = k0 ^ UINT64_C(0x6c7967656e657261);
	uint64_t		 v3 = k1 ^ UINT64_C(0x7465646279746573);
	uint64_t		 last = (uint64_t)n << 56;
	size_t			 i;

	for (; p != end; p += 8) {
		m = le64(p);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < n % 8; i++)
		last |= (uint64_t)p[i] << (8 * i);
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The kernel's id of this boot into out[40]; "" when it can't be read. */
static void
boot_id(char out[40])
{
	int	 fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
	ssize_t	 n = fd >= 0 ? read(fd, out, 39) : -1;

	if (fd >= 0)
		close(fd);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static size_t
table_size(uint32_t nslots)
{
	return sizeof(struct head) + (size_t)nslots * sizeof(struct slot);
}

/*
 * Maps fd when it holds a valid table of nslots made in this boot.
 * Returns the table, or NULL: invalid (*bad set) or an error (logged).
 */
static struct rate_table *
map(int fd, const char *path, uint32_t nslots, int *bad)
{
	struct rate_table	*t = NULL;
	struct head		*h = MAP_FAILED;
	struct stat		 sb;
	char			 boot[40];

	*bad = 0;
	if (fstat(fd, &sb) != 0) {
		kiln_log(LOG_ERR, "rate table %s: %s", path, strerror(errno));
		goto fail;
	}
	if ((size_t)sb.st_size != table_size(nslots)) {
		*bad = 1;
		goto fail;
	}
	h = mmap(NULL, table_size(nslots), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		kiln_log(LOG_ERR, "rate table %s: mmap: %s", path,
		    strerror(errno));
		goto fail;
	}
	boot_id(boot);
	if (memcmp(h->magic, MAGIC, sizeof(h->magic)) != 0 ||
	    h->version != VERSION || h->nslots != nslots ||
	    h->head_size != sizeof(struct head) ||
	    h->slot_size != sizeof(struct slot) ||
	    strncmp(h->boot, boot, sizeof(h->boot)) != 0) {
		*bad = 1;
		goto fail;
	}
	if ((t = malloc(sizeof(*t))) == NULL) {
		kiln_log(LOG_ERR, "rate table: out of memory");
		goto fail;
	}
	t->head = h;
	t->slot = (struct slot *)(h + 1);
	t->size = table_size(nslots);
	t->nsets = nslots / RATE_WAYS;
	return t;
fail:
	if (h != MAP_FAILED)
		munmap(h, table_size(nslots));
	return NULL;
}

/*
 * Makes a new table in a temporary file beside path, complete before
 * anyone can see it. Returns the file's name (caller unlinks and frees),
 * or NULL (logged).
 */
static char *
build(const char *path, uint32_t nslots)
{
	pthread_mutexattr_t	 attr;
	struct head		*h = MAP_FAILED;
	size_t			 size = table_size(nslots);
	char			*tmp = NULL;
	int			 fd = -1, ok = 0, i;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		kiln_log(LOG_ERR, "rate table: out of memory");
		goto out;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		kiln_log(LOG_ERR, "rate table %s: %s", tmp, strerror(errno));
		goto out;
	}
	db_give_to_owner(fd);
	/*
	 * Every block allocated now: a page first written on a full disk
	 * would otherwise kill the writing process with SIGBUS.
	 */
	if ((errno = posix_fallocate(fd, 0, (off_t)size)) != 0 ||
	    (h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0)) == MAP_FAILED) {
		kiln_log(LOG_ERR, "rate table %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (getrandom(h->key, sizeof(h->key), 0) != sizeof(h->key)) {
		kiln_log(LOG_ERR, "rate table: getrandom: %s",
		    strerror(errno));
		goto out;
	}
	if (pthread_mutexattr_init(&attr) != 0)
		goto out;
	ok = pthread_mutexattr_setpshared(&attr,
	    PTHREAD_PROCESS_SHARED) == 0 &&
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0;
	for (i = 0; ok && i < RATE_STRIPES; i++)
		ok = pthread_mutex_init(&h->stripe[i].mutex, &attr) == 0;
	pthread_mutexattr_destroy(&attr);
	if (!ok) {
		kiln_log(LOG_ERR, "rate table: robust shared mutexes "
		    "unavailable");
		goto out;
	}
	h->version = VERSION;
	h->nslots = nslots;
	h->head_size = sizeof(struct head);
	h->slot_size = sizeof(struct slot);
	boot_id(h->boot);
	memcpy(h->magic, MAGIC, sizeof(h->magic));
out:
	if (h != MAP_FAILED)
		munmap(h, size);
	if (fd >= 0)
		close(fd);
	if (!ok && tmp != NULL) {
		if (fd >= 0)
			unlink(tmp);
		free(tmp);
		tmp = NULL;
	}
	return tmp;
}

/* Replaces the invalid table open on fd, unless someone else has. */
static int
replace(int fd, const char *path, uint32_t nslots)
{
	struct stat	 mine, now;
	char		*tmp = NULL;
	int		 ok = 0;

	/* The lock goes with the old file: one replacer per old file. */
	if (flock(fd, LOCK_EX) != 0 || fstat(fd, &mine) != 0) {
		kiln_log(LOG_ERR, "rate table %s: %s", path, strerror(errno));
		return 0;
	}
	if (stat(path, &now) != 0 || now.st_ino != mine.st_ino ||
	    now.st_dev != mine.st_dev)
		return 1;	/* replaced already: open that one */
	kiln_log(LOG_INFO, "rate table %s: stale or foreign, replaced", path);
	if ((tmp = build(path, nslots)) == NULL)
		return 0;
	if (rename(tmp, path) != 0) {
		kiln_log(LOG_ERR, "rate table %s: %s", path, strerror(errno));
		unlink(tmp);
	} else
		ok = 1;
	free(tmp);
	return ok;
}

/* Creates the table's directory, as db.c does for the databases'. */
static void
make_dir(const char *path)
{
	char	*dir = strdup(path), *slash;

	if (dir != NULL && (slash = strrchr(dir, '/')) != NULL &&
	    slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) != 0 && errno != EEXIST)
			kiln_log(LOG_WARNING, "mkdir %s: %s", dir,
			    strerror(errno));
	}
	free(dir);
}

struct rate_table *
rate_table_open(const char *path, uint32_t nslots)
{
	struct rate_table	*t = NULL;
	char			*tmp;
	int			 fd, bad, tries, linked;

	if (nslots < RATE_WAYS || (nslots & (nslots - 1)) != 0) {
		kiln_log(LOG_ERR, "rate table: %u slots", nslots);
		return NULL;
	}
	make_dir(path);
	/* Each turn either opens a table or changes what the path names. */
	for (tries = 0; t == NULL && tries < 5; tries++) {
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) >= 0) {
			t = map(fd, path, nslots, &bad);
			if (t == NULL && bad && !replace(fd, path, nslots))
				bad = 0;
			close(fd);
			if (t == NULL && !bad)
				return NULL;	/* logged */
			continue;
		}
		if (errno != ENOENT) {
			kiln_log(LOG_ERR, "rate table %s: %s", path,
			    strerror(errno));
			return NULL;
		}
		if ((tmp = build(path, nslots)) == NULL)
			return NULL;
		linked = link(tmp, path) == 0 || errno == EEXIST;
		if (!linked)
			kiln_log(LOG_ERR, "rate table %s: %s", path,
			    strerror(errno));
		unlink(tmp);
		free(tmp);
		if (!linked)
			return NULL;
	}
	if (t == NULL)
		kiln_log(LOG_ERR, "rate table %s: keeps changing", path);
	return t;
}

void
rate_table_close(struct rate_table *t)
{
	if (t == NULL)
		return;
	munmap(t->head, t->size);
	free(t);
}

uint32_t
rate_table_set(const struct rate_table *t, const char *name)
{
	return (uint32_t)(rate_siphash(t->head->key, name, strlen(name)) &
	    (t->nsets - 1));
}

int
rate_table_lock(struct rate_table *t, uint32_t set)
{
	pthread_mutex_t	*m = &t->head->stripe[set % RATE_STRIPES].mutex;
	int		 rc = pthread_mutex_lock(m);

	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(m);
	return rc == 0;
}

void
rate_table_unlock(struct rate_table *t, uint32_t set)
{
	pthread_mutex_unlock(&t->head->stripe[set % RATE_STRIPES].mutex);
}

int
rate_table_take(struct rate_table *t, const char *name, double cap,
    double per_sec, int64_t now_ms, double *level)
{
	size_t		 len = strlen(name);
	uint64_t	 hash = rate_siphash(t->head->key, name, len);
	uint32_t	 set = (uint32_t)(hash & (t->nsets - 1));
	struct slot	*w = &t->slot[(size_t)set * RATE_WAYS];
	struct slot	*s = NULL, *free_slot = NULL, *lru = &w[0];
	double		 per_ms = per_sec / 1000.0, have, full;
	int		 i, ok;

	if (!rate_table_lock(t, set))
		return -1;
	for (i = 0; i < RATE_WAYS; i++) {
		if (w[i].hash == hash && w[i].full_ms != 0) {
			s = &w[i];
			break;
		}
		if (free_slot == NULL && w[i].full_ms <= now_ms)
			free_slot = &w[i];
		if (w[i].at_ms < lru->at_ms)
			lru = &w[i];
	}
	if (s == NULL) {
		/* A new bucket starts full, the same as a refilled one. */
		s = free_slot != NULL ? free_slot : lru;
		s->hash = hash;
		s->tokens = cap;
		s->at_ms = now_ms;
		if (len >= sizeof(s->name))
			len = sizeof(s->name) - 1;
		memcpy(s->name, name, len);
		s->name[len] = '\0';
	}
	/*
	 * Refill for the time since the last take, but never for a clock
	 * that went back: at_ms keeps the latest time seen. A debit needs
	 * a whole token, so refused requests don't dig the bucket deeper.
	 */
	have = s->tokens;
	if (now_ms > s->at_ms) {
		have += (double)(now_ms - s->at_ms) * per_ms;
		s->at_ms = now_ms;
	}
	if (have > cap)
		have = cap;
	ok = have >= 1;
	s->tokens = have - ok;
	full = ceil((cap - s->tokens) / per_ms);
	s->full_ms = s->at_ms + (!(full >= 1) ? 1 : full > MAX_FULL_MS ?
	    MAX_FULL_MS : (int64_t)full);
	rate_table_unlock(t, set);
	*level = have;
	return ok;
}

int
rate_table_each(struct rate_table *t, int64_t now_ms,
    void (*fn)(void *, const char *, double), void *arg)
{
	struct slot	 copy[RATE_WAYS];
	uint32_t	 set;
	int		 i, n;

	/* Copied under the lock, reported outside it. */
	for (set = 0; set < t->nsets; set++) {
		if (!rate_table_lock(t, set))
			return 0;
		for (i = n = 0; i < RATE_WAYS; i++)
			if (t->slot[set * RATE_WAYS + i].full_ms > now_ms)
				copy[n++] = t->slot[set * RATE_WAYS + i];
		rate_table_unlock(t, set);
		for (i = 0; i < n; i++)
			fn(arg, copy[i].name, copy[i].tokens);
	}
	return 1;
}

int
rate_retry_after(double level, double per_sec)
{
	double	 secs = ceil((1 - level) / per_sec);

	return !(secs >= 1) ? 1 : secs > 86400 ? 86400 : (int)secs;
}

/* This process's table, mapped on first use. NULL: let requests pass. */
static struct rate_table *
shared(void)
{
	int64_t	 now;

	if (table != NULL)
		return table;
	now = iso_now_ms();
	if (failed_ms != 0 && now - failed_ms < REOPEN_MS &&
	    now >= failed_ms)
		return NULL;
	if ((table = rate_table_open(cfg_get("rate_shm_path"), RATE_SLOTS))
	    != NULL)
		return table;
	failed_ms = now;
	if (!logged)
		kiln_log(LOG_ERR, "rate limits off: no shared table");
	logged = 1;
	return NULL;
}

int
rate_take(const struct rate_class *c, const char *who, int *retry_after)
{
	struct rate_table	*t = shared();
	char			 name[256];
	double			 level, cap = c->capacity;
	double			 refill = c->per_sec;
	int			 ok;

	if (*cfg_get(c->cfg_key) != '\0' && cfg_int(c->cfg_key) > 0) {
		cap = (double)cfg_int(c->cfg_key);
		refill = c->per_sec * cap / c->capacity;
	}

	*retry_after = 0;
	if (t == NULL)
		return 1;
	snprintf(name, sizeof(name), "%s:%s", c->prefix, who);
	if ((ok = rate_table_take(t, name, cap, refill, iso_now_ms(),
	    &level)) < 0) {
		if (!logged)
			kiln_log(LOG_ERR, "rate limits off: a mutex of %s "
			    "is unusable", cfg_get("rate_shm_path"));
		logged = 1;
		return 1;
	}
	if (!ok)
		*retry_after = rate_retry_after(level, refill);
	return ok;
}

int
rate_check(struct req *r, const struct rate_class *c, const char *who)
{
	int	 retry;

	if (rate_take(c, who, &retry))
		return 1;
	reply_header(r, "Retry-After", "%d", retry);
	reply_err(r, 429, "rate_limited",
	    "Too many requests; retry in %d second%s.", retry,
	    retry == 1 ? "" : "s");
	return 0;
}

/*
 * The table as it is, for looking: never built nor replaced, so an
 * operator's root shell leaves nothing the web server's user can't
 * open. NULL with *none set when there is no valid table (no buckets).
 */
static struct rate_table *
peek(int *none)
{
	const char		*path = cfg_get("rate_shm_path");
	struct rate_table	*t;
	int			 fd, bad;

	*none = 0;
	if (table != NULL)
		return table;
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		if (!(*none = errno == ENOENT))
			kiln_log(LOG_ERR, "rate table %s: %s", path,
			    strerror(errno));
		return NULL;
	}
	t = map(fd, path, RATE_SLOTS, &bad);
	close(fd);
	*none = bad;
	return table = t;
}

int
rate_each(void (*fn)(void *, const char *, double), void *arg)
{
	struct rate_table	*t;
	int			 none;

	if ((t = peek(&none)) == NULL)
		return none;
	if (rate_table_each(t, iso_now_ms(), fn, arg))
		return 1;
	kiln_log(LOG_ERR, "rate table %s: a mutex is unusable",
	    cfg_get("rate_shm_path"));
	return 0;
}
