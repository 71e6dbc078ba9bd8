/*
 * store: snapshot rows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "db.h"
#include "health.h"
#include "log.h"
#include "rules.h"
#include "snapshot.h"
#include "store.h"
#include "valid.h"

/* The JSON goes in body_zstd, compressed; body is '' (schema/010). */
static const char raw_sql[] =
    "INSERT INTO snapshot_raw (server_id, ts_ms, body, body_zstd)"
    " VALUES (?1, ?2, '', ?3)";
static const char metric_sql[] =
    "INSERT OR REPLACE INTO metric (server_id, ts, cpu, iowait, load1, ram,"
    " swap_mb, disk, rx_mbps, tx_mbps, temp, gpu_util, gpu_temp, ecc_corr) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
/*
 * The hour's roll-ups, one row for every metric (schema/009): ?3 to ?8
 * are cpu, memory, disk, rx, tx and temperature, NULL when not measured.
 * min(coalesce(a, b), coalesce(b, a)) is the smaller of the two, or
 * whichever is not NULL.
 */
#define HOUR_NEW(p)	", " p " IS NOT NULL, coalesce(" p ", 0), " p ", " p
#define HOUR_ADD(m, p) \
    m "_n = " m "_n + (" p " IS NOT NULL), " \
    m "_sum = " m "_sum + coalesce(" p ", 0), " \
    m "_min = min(coalesce(" m "_min, " p "), coalesce(" p ", " m "_min)), " \
    m "_max = max(coalesce(" m "_max, " p "), coalesce(" p ", " m "_max))"
static const char hour_sql[] =
    "INSERT INTO metric_hour (server_id, bucket,"
    " cpu_n, cpu_sum, cpu_min, cpu_max,"
    " memory_n, memory_sum, memory_min, memory_max,"
    " disk_n, disk_sum, disk_min, disk_max, rx_n, rx_sum, rx_min, rx_max,"
    " tx_n, tx_sum, tx_min, tx_max, temperature_n, temperature_sum,"
    " temperature_min, temperature_max) VALUES (?1, ?2"
    HOUR_NEW("?3") HOUR_NEW("?4") HOUR_NEW("?5") HOUR_NEW("?6")
    HOUR_NEW("?7") HOUR_NEW("?8") ") "
    "ON CONFLICT (server_id, bucket) DO UPDATE SET "
    HOUR_ADD("cpu", "?3") ", " HOUR_ADD("memory", "?4") ", "
    HOUR_ADD("disk", "?5") ", " HOUR_ADD("rx", "?6") ", "
    HOUR_ADD("tx", "?7") ", " HOUR_ADD("temperature", "?8");
static const char fs_sql[] =
    "INSERT OR REPLACE INTO fs_usage (server_id, mount, ts, avail_gb,"
    " total_gb) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char server_sql[] =
    "UPDATE server SET"
    " hostname = coalesce(?2, hostname), ip = coalesce(?3, ip),"
    " os_type = coalesce(?4, os_type), os_version = coalesce(?5, os_version),"
    " kernel = coalesce(?6, kernel),"
    " collector_version = coalesce(?7, collector_version),"
    " dmi_vendor = ?8, dmi_product = ?9, ipmi_sensors_count = ?10,"
    " last_seen_at = ?11, last_ingest_ms = ?12, interval_s = ?13,"
    " uptime_s = ?14, disk_health = ?15, offline_since = NULL "
    "WHERE id = ?1";

/* Binds a derived number, NULL when not measured. */
static void
bind_num(sqlite3_stmt *st, int i, double v)
{
	if (isnan(v))
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_double(st, i, v);
}

/* Binds a snapshot string of at most max bytes, NULL otherwise. */
static void
bind_str(sqlite3_stmt *st, int i, const char *v, size_t max)
{
	if (v == NULL || *v == '\0' || strlen(v) > max)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* "Ubuntu 24.04 LTS" -> "24.04 LTS": the release from the first digit. */
static const char *
os_version(const char *os)
{
	const char	*p = os;

	if (os == NULL)
		return NULL;
	while (*p != '\0' && !(*p >= '0' && *p <= '9'))
		p++;
	return *p != '\0' ? p : NULL;
}

static int
store_rollups(int64_t server_id, const struct snapshot *s)
{
	const double	 v[] = { s->d.cpu, s->d.ram, s->d.disk, s->d.rx_mbps,
	    s->d.tx_mbps, s->d.temp };
	sqlite3_stmt	*st;
	size_t		 i, measured = 0;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		measured += !isnan(v[i]);
	if (measured == 0)
		return 1;
	if ((st = db_prep(db_main(), hour_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_int64(st, 2, s->ts - s->ts % 3600);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		bind_num(st, 3 + (int)i, v[i]);
	return db_run(st);
}

static int
store_fs(int64_t server_id, const struct snapshot *s)
{
	sqlite3_stmt	*st;
	json_t		*disk;
	size_t		 i;

	json_array_foreach(snap_arr(s->root, "disks"), i, disk) {
		const char	*mount = snap_str(disk, "mount");
		double		 avail = snap_num(disk, "available_gb");
		double		 total = snap_num(disk, "total_gb");

		if (mount == NULL || strlen(mount) > 127 ||
		    snap_skip_fs(disk) || !(avail >= 0) || !(total > 0))
			continue;
		if ((st = db_prep(db_main(), fs_sql)) == NULL)
			return 0;
		sqlite3_bind_int64(st, 1, server_id);
		sqlite3_bind_text(st, 2, mount, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, s->ts);
		sqlite3_bind_double(st, 4, avail);
		sqlite3_bind_double(st, 5, total);
		if (!db_run(st))
			return 0;
	}
	return 1;
}

static int
store_server(int64_t server_id, const struct snapshot *s, int64_t now_ms,
    double interval_s)
{
	json_t		*sys = snap_obj(s->root, "system");
	json_t		*dmi = snap_obj(s->root, "dmi");
	json_t		*ipmi = snap_obj(s->root, "ipmi");
	json_t		*sensors = snap_arr(ipmi, "sensors");
	const char	*host = snap_str(sys, "hostname");
	sqlite3_stmt	*st = db_prep(db_main(), server_sql);

	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	bind_str(st, 2, host != NULL && valid_hostname(host) ? host : NULL,
	    253);
	bind_str(st, 3, snap_str(sys, "ip"), 64);
	bind_str(st, 4, snap_str(sys, "os_id"), 64);
	bind_str(st, 5, os_version(snap_str(sys, "os")), 128);
	bind_str(st, 6, snap_str(sys, "kernel"), 128);
	bind_str(st, 7, snap_str(s->root, "collector_version"), 32);
	bind_str(st, 8, snap_bool(dmi, "available") != 0 ?
	    snap_str(dmi, "vendor") : NULL, 128);
	bind_str(st, 9, snap_bool(dmi, "available") != 0 ?
	    snap_str(dmi, "product_name") : NULL, 128);
	if (sensors != NULL && snap_bool(ipmi, "available") != 0)
		sqlite3_bind_int64(st, 10, (int64_t)json_array_size(sensors));
	sqlite3_bind_int64(st, 11, s->ts);
	sqlite3_bind_int64(st, 12, now_ms);
	bind_num(st, 13, interval_s);
	/* A whole number of seconds: the column is INTEGER (STRICT). */
	if (isnan(s->d.uptime))
		sqlite3_bind_null(st, 14);
	else
		sqlite3_bind_int64(st, 14, llround(s->d.uptime));
	sqlite3_bind_text(st, 15, health_disk_rollup(s->root), -1,
	    SQLITE_STATIC);
	return db_run(st);
}

/*
 * Raw snapshots are kept compressed with zstd at level 1: JSON shrinks
 * 3 to 5 times (4.2 KiB of a VM's snapshot to 1.5 KiB, 20 KiB of a
 * bare-metal host's to 4.5 KiB), for about 10 us of a push. So a VM's
 * row fits in its table page instead of spilling to an overflow page
 * of its own, and the raw table, the largest, is a quarter the size.
 */
#define RAW_ZSTD_LEVEL	1
#define RAW_MAX_BYTES	(64 * 1024 * 1024)	/* what a frame may claim */

/*
 * Stores body compressed as the raw row of server at now_ms. The
 * compression context and its output buffer are kept for the process:
 * a buffer of a few KiB allocated per push can make malloc tidy every
 * small chunk freed before it (malloc_consolidate). Measured with
 * bench/ipush.py the saving is small: under 1 % of a steady push's
 * instructions.
 */
static int
store_raw(int64_t server_id, const char *body, size_t len, int64_t now_ms)
{
	static ZSTD_CCtx	*cctx;
	static void		*z;
	static size_t		 zcap;
	sqlite3_stmt		*st;
	size_t			 zlen, bound = ZSTD_compressBound(len);
	void			*grown;

	if (cctx == NULL && (cctx = ZSTD_createCCtx()) == NULL) {
		kiln_log(LOG_ERR, "ZSTD_createCCtx: out of memory");
		return 0;
	}
	if (bound > zcap) {
		if ((grown = realloc(z, bound)) == NULL) {
			kiln_log(LOG_ERR, "store_raw: out of memory");
			return 0;
		}
		z = grown;
		zcap = bound;
	}
	zlen = ZSTD_compressCCtx(cctx, z, zcap, body, len, RAW_ZSTD_LEVEL);
	if (ZSTD_isError(zlen)) {
		kiln_log(LOG_ERR, "zstd: %s", ZSTD_getErrorName(zlen));
		return 0;
	}
	if ((st = db_prep(db_main(), raw_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_blob(st, 3, z, (int)zlen, SQLITE_STATIC);
	return db_run(st);
}

int
store_raw_body(sqlite3_stmt *st, int col, char **out, size_t *len)
{
	static ZSTD_DCtx	*dctx;	/* kept: making one costs more than
					 * decompressing a snapshot */
	const void		*z;
	const char		*text;
	size_t			 zlen;
	unsigned long long	 n;

	*out = NULL;
	*len = 0;
	if (sqlite3_column_type(st, col + 1) == SQLITE_NULL) {
		/* A row from before schema 010: the text as it came. */
		text = (const char *)sqlite3_column_text(st, col);
		n = (size_t)sqlite3_column_bytes(st, col);
		if ((*out = malloc(n + 1)) == NULL)
			goto oom;
		memcpy(*out, text != NULL ? text : "", n);
	} else {
		z = sqlite3_column_blob(st, col + 1);
		zlen = (size_t)sqlite3_column_bytes(st, col + 1);
		n = ZSTD_getFrameContentSize(z, zlen);
		if (n == ZSTD_CONTENTSIZE_UNKNOWN ||
		    n == ZSTD_CONTENTSIZE_ERROR || n > RAW_MAX_BYTES) {
			kiln_log(LOG_ERR, "a raw snapshot is not a zstd frame");
			return 0;
		}
		if (dctx == NULL && (dctx = ZSTD_createDCtx()) == NULL)
			goto oom;
		if ((*out = malloc(n + 1)) == NULL)
			goto oom;
		if (ZSTD_decompressDCtx(dctx, *out, n, z, zlen) != n) {
			kiln_log(LOG_ERR, "a raw snapshot does not decompress");
			free(*out);
			*out = NULL;
			return 0;
		}
	}
	(*out)[n] = '\0';
	*len = n;
	return 1;
oom:
	kiln_log(LOG_ERR, "store_raw_body: out of memory");
	return 0;
}

int
store_snapshot(int64_t server_id, const struct snapshot *s,
    const char *body, size_t len, int64_t now_ms, double interval_s)
{
	const struct snap_derived *d = &s->d;
	sqlite3_stmt	*st;

	if (!store_raw(server_id, body, len, now_ms) ||
	    (st = db_prep(db_main(), metric_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_int64(st, 2, s->ts);
	bind_num(st, 3, d->cpu);
	bind_num(st, 4, d->iowait);
	bind_num(st, 5, d->load1);
	bind_num(st, 6, d->ram);
	bind_num(st, 7, d->swap_mb);
	bind_num(st, 8, d->disk);
	bind_num(st, 9, d->rx_mbps);
	bind_num(st, 10, d->tx_mbps);
	bind_num(st, 11, d->temp);
	bind_num(st, 12, d->gpu_util);
	bind_num(st, 13, d->gpu_temp);
	bind_num(st, 14, d->ecc_corr);
	return db_run(st) && store_rollups(server_id, s) &&
	    store_fs(server_id, s) &&
	    store_server(server_id, s, now_ms, interval_s);
}

/* The snapshot before the one received at ?2 (already stored). */
static const char previous_sql[] =
    "SELECT ts_ms, body, body_zstd FROM snapshot_raw WHERE server_id = ?1"
    " AND ts_ms < ?2 ORDER BY ts_ms DESC LIMIT 1";

/* Returns 1 with prev parsed and derived, 0 when there is none, -1. */
static int
load_previous(int64_t server_id, int64_t before_ms, struct snapshot *prev)
{
	sqlite3_stmt	*st = db_prep(db_main(), previous_sql);
	const char	*code;
	char		 field[64], *body;
	size_t		 len;
	int64_t		 ts_ms;
	int		 rc;

	memset(prev, 0, sizeof(*prev));
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_int64(st, 2, before_ms);
	if ((rc = db_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	ts_ms = sqlite3_column_int64(st, 0);
	rc = store_raw_body(st, 1, &body, &len);
	sqlite3_reset(st);
	if (!rc)
		return -1;
	rc = snapshot_parse(prev, body, len, &code, field, sizeof(field));
	free(body);
	if (!rc)
		return 0;	/* stored before a stricter parser: ignore */
	prev->ts = ts_ms / 1000;
	snapshot_derive(prev);
	return 1;
}

/* The newest RULE_FS_POINTS per mount, within a week before ?4. */
static const char fs_history_sql[] =
    "SELECT mount, ts, avail_gb, total_gb FROM ("
    " SELECT mount, ts, avail_gb, total_gb, row_number() OVER"
    "  (PARTITION BY mount ORDER BY ts DESC) AS k"
    " FROM fs_usage WHERE server_id = ?1 AND ts >= ?2 AND ts < ?4) "
    "WHERE k <= ?3 ORDER BY mount, ts";
static const char ecc_history_sql[] =
    "SELECT ecc_corr FROM metric WHERE server_id = ?1 AND ts >= ?2"
    " AND ts < ?3 AND ecc_corr IS NOT NULL ORDER BY ts LIMIT 1";

/* Loads the history before now for the rules. Returns 1, or 0. */
static int
load_history(int64_t server_id, int64_t now, struct rule_history *h)
{
	sqlite3_stmt		*st;
	struct rule_fs_series	*cur = NULL;
	int			 rc;

	memset(h, 0, sizeof(*h));
	h->ecc_corr_24h_ago = NAN;
	if ((st = db_prep(db_main(), fs_history_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_int64(st, 2, now - 7 * 86400);
	sqlite3_bind_int(st, 3, RULE_FS_POINTS);
	sqlite3_bind_int64(st, 4, now);
	while ((rc = db_next(st)) > 0) {
		const char	*mount = db_text(st, 0);

		if (cur == NULL || strcmp(cur->mount, mount) != 0) {
			struct rule_fs_series *n = realloc(h->fs,
			    sizeof(*n) * (size_t)(h->nfs + 1));

			if (n == NULL) {
				kiln_log(LOG_ERR, "load_history: out of memory");
				rc = -1;
				break;
			}
			h->fs = n;
			cur = &h->fs[h->nfs++];
			memset(cur, 0, sizeof(*cur));
			snprintf(cur->mount, sizeof(cur->mount), "%s", mount);
		}
		if (cur->n < RULE_FS_POINTS) {
			cur->ts[cur->n] = sqlite3_column_int64(st, 1);
			cur->avail_gb[cur->n] = sqlite3_column_double(st, 2);
			cur->total_gb = sqlite3_column_double(st, 3);
			cur->n++;
		}
	}
	sqlite3_reset(st);
	/* Half a history would project a wrong fill rate. */
	if (rc < 0 || (st = db_prep(db_main(), ecc_history_sql)) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, server_id);
	sqlite3_bind_int64(st, 2, now - 86400);
	sqlite3_bind_int64(st, 3, now);
	if ((rc = db_next(st)) > 0)
		h->ecc_corr_24h_ago = sqlite3_column_double(st, 0);
	sqlite3_reset(st);
	return rc >= 0;
}

static const struct snapshot *
source_prev(struct rule_source *src)
{
	struct store_source	*s = (struct store_source *)src;
	int			 rc;

	if (s->prev_state == 0) {
		if ((rc = load_previous(s->server_id, s->now_ms,
		    &s->prev)) < 0)
			src->failed = 1;
		s->prev_state = rc > 0 ? 2 : 1;
	}
	return s->prev_state == 2 ? &s->prev : NULL;
}

static const struct rule_history *
source_hist(struct rule_source *src)
{
	struct store_source	*s = (struct store_source *)src;

	if (!s->hist_loaded) {
		s->hist_loaded = 1;
		if (!load_history(s->server_id, s->now_ms / 1000, &s->hist))
			src->failed = 1;
	}
	return src->failed ? NULL : &s->hist;
}

void
store_source_init(struct store_source *s, int64_t server_id, int64_t now_ms)
{
	memset(s, 0, sizeof(*s));
	s->src.prev = source_prev;
	s->src.hist = source_hist;
	s->server_id = server_id;
	s->now_ms = now_ms;
}

void
store_source_free(struct store_source *s)
{
	snapshot_free(&s->prev);
	free(s->hist.fs);
	memset(s, 0, sizeof(*s));
}

double
store_cadence(double old, double gap)
{
	if (!(gap >= 10 && gap <= 3600))
		return old;
	if (isnan(old) || old <= 0)
		return gap;
	if (gap < 0.75 * old)
		return 0.75 * old;
	if (gap > 1.5 * old)
		return 1.5 * old;
	return gap;
}
