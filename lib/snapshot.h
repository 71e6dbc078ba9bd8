/*
 * snapshot: one agent snapshot, parsed and shape-checked, with the
 * numbers Kiln derives from it. Unknown fields and blocks are kept (new
 * agents extend the schema); a known numeric field of the wrong type is
 * refused; a number out of its range is "not measured" (NAN).
 */
#ifndef KILN_SNAPSHOT_H
#define KILN_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "arena.h"

#define SNAPSHOT_MAX_STRING	(64 * 1024)

/* Numbers derived from one snapshot; NAN means "not measured". */
struct snap_derived {
	double	 cpu;		/* 100 - idle, % */
	double	 iowait;	/* % */
	double	 load1;
	double	 ram;		/* used, % of total */
	double	 swap_mb;	/* swap used */
	double	 disk;		/* fullest filesystem, % */
	double	 rx_mbps;	/* all interfaces but loopback */
	double	 tx_mbps;
	double	 temp;		/* hottest CPU reading, degrees C */
	double	 gpu_util;	/* busiest GPU, % */
	double	 gpu_temp;	/* hottest GPU */
	double	 ecc_corr;	/* correctable ECC errors, as reported */
	double	 uptime;	/* seconds */
};

struct snapshot {
	json_t			*root;	/* in arena: never json_decref it */
	struct arena		 arena;
	int64_t			 ts;	/* when Kiln received it, Unix seconds */
	struct snap_derived	 d;
};

/*
 * Parses body into s (root and its tree live in s->arena: free with
 * snapshot_free; a reader may incref a value, and must decref it
 * before then) and
 * checks its shape. Returns 1, or 0 with *code one of invalid_json,
 * oversize_field, invalid_snapshot and field[fsz] naming the culprit
 * ("cpu.idle_percent", "disks[3].percent_used").
 */
int	snapshot_parse(struct snapshot *s, const char *body, size_t len,
	    const char **code, char *field, size_t fsz);

/* Fills s->d from s->root. */
void	snapshot_derive(struct snapshot *s);

void	snapshot_free(struct snapshot *s);

/*
 * Readers used by the rules. Each tolerates any input: a missing key, a
 * null, a wrong type or a non-object parent give NAN / NULL / -1.
 */
double		 snap_num(json_t *obj, const char *key);	/* finite or NAN */
const char	*snap_str(json_t *obj, const char *key);
int		 snap_bool(json_t *obj, const char *key);	/* 1, 0, -1 */
json_t		*snap_obj(json_t *obj, const char *key);	/* object or NULL */
json_t		*snap_arr(json_t *obj, const char *key);	/* array or NULL */

/* 1 for a pseudo filesystem rules skip (/proc, /sys, /dev, /run, ...). */
int		 snap_pseudo_mount(const char *mount);

/*
 * 1 for a filesystem nothing judges by its fill or flags: a pseudo mount,
 * or a squashfs or ISO image (read-only and full by design). The disk
 * rules, the derived disk percentage and the filesystem history skip it.
 */
int		 snap_skip_fs(json_t *disk);

/* A disk's percent used: the agent's, else used / total; NAN if neither. */
double		 snap_disk_percent(json_t *disk);

/* A SMART drive's state, worst last: the order health_disk_rollup ranks. */
#define SMART_HEALTHY	0
#define SMART_DECLINING	1	/* power-on hours > 40 000 or wear > 80 % */
#define SMART_FAILING	2	/* pending or reallocated sectors */
#define SMART_BROKEN	3	/* health reported and not PASSED or OK */

/*
 * The state of one smart[] entry (SMART_*). The one reading of the
 * health string behind both the disk roll-up and the smart_failing rule.
 */
int		 snap_smart_state(json_t *drive);

#endif
