/*
 * rules_disk: the storage rules of SPEC section 8 (filesystems, block
 * devices, SMART, md RAID, ZFS). Field names are the Crucible agent's.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rules.h"
#include "rules_impl.h"
#include "snapshot.h"

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* 1 when (sev, v) ranks above (best_sev, best_v): severity, then value. */
static int
worse_than(const char *sev, double v, const char *best_sev, double best_v)
{
	return rule_rank(sev) > rule_rank(best_sev) ||
	    (rule_rank(sev) == rule_rank(best_sev) && v > best_v);
}

void
rule_disk_space_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double		 warn = rule_threshold(c, rule, "warning");
	double		 crit = rule_threshold(c, rule, "critical");
	double		 top = NAN;
	json_t		*disk, *hits = json_array();
	const char	*sev = NULL, *top_mount = NULL;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	json_array_foreach(snap_arr(c->cur->root, "disks"), i, disk) {
		double		 p = snap_disk_percent(disk);
		const char	*s = rule_level(p, warn, crit);
		const char	*mount = snap_str(disk, "mount");

		if (s == NULL || snap_skip_fs(disk))
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o, "
		    "s:o, s:o}", "mount", mount, "device",
		    str_or_null(snap_str(disk, "device")), "percent_used",
		    rule_num(rule_round2(p)), "used_gb",
		    rule_num(snap_num(disk, "used_gb")), "total_gb",
		    rule_num(snap_num(disk, "total_gb")), "available_gb",
		    rule_num(snap_num(disk, "available_gb"))));
		snprintf(item, sizeof(item), "%s %.4g%%", mount, p);
		rule_list_add(list, sizeof(list), item);
		if (worse_than(s, p, sev, top)) {
			top = p;
			top_mount = mount;
		}
		sev = rule_worst(sev, s);
	}
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Disk %s is %.4g%% full%s", top_mount,
	    top, rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, sev, json_pack("{s:o}", "mounts", hits), title,
	    "Filesystems over %.4g%% used: %s.", warn, list);
}

void
rule_inode_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double		 warn = rule_threshold(c, rule, "warning");
	double		 crit = rule_threshold(c, rule, "critical");
	double		 top = NAN;
	json_t		*disk, *hits = json_array();
	const char	*sev = NULL, *top_mount = NULL;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	json_array_foreach(snap_arr(c->cur->root, "disks"), i, disk) {
		double		 total = snap_num(disk, "inodes_total");
		double		 used = snap_num(disk, "inodes_used"), p;
		const char	*mount = snap_str(disk, "mount"), *s;

		if (isnan(used))
			used = total - snap_num(disk, "inodes_free");
		if (!(total > 0) || !(used >= 0) || used > total ||
		    snap_skip_fs(disk))
			continue;
		p = 100 * used / total;
		if ((s = rule_level(p, warn, crit)) == NULL)
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o}",
		    "mount", mount, "inodes_used", rule_num(used),
		    "inodes_total", rule_num(total), "percent",
		    rule_num(rule_round2(p))));
		snprintf(item, sizeof(item), "%s %.4g%%", mount, p);
		rule_list_add(list, sizeof(list), item);
		if (worse_than(s, p, sev, top)) {
			top = p;
			top_mount = mount;
		}
		sev = rule_worst(sev, s);
	}
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Disk %s has used %.4g%% of its "
	    "inodes%s", top_mount, top, rule_and_more(more,
	    (int)json_array_size(hits) - 1));
	rule_fire(res, sev, json_pack("{s:o}", "mounts", hits), title,
	    "Filesystems over %.4g%% of inodes used: %s (many small files; "
	    "find / -xdev -type f | cut -d/ -f2 | sort | uniq -c).", warn,
	    list);
}

/* The disk of the current snapshot mounted at mount, or NULL. */
static json_t *
disk_at(json_t *root, const char *mount)
{
	json_t		*disk;
	const char	*m;
	size_t		 i;

	json_array_foreach(snap_arr(root, "disks"), i, disk)
		if ((m = snap_str(disk, "mount")) != NULL &&
		    strcmp(m, mount) == 0)
			return disk;
	return NULL;
}

/*
 * Hours until avail reaches zero on the least-squares line through
 * (t[i], y[i]), n >= 2; NAN unless the line falls. Written as
 * avail * Sxx / -Sxy so exact data gives exact hours.
 */
static double
hours_to_empty(const double *t, const double *y, int n, double avail,
    double *gb_per_day)
{
	double	 mt = 0, my = 0, sxx = 0, sxy = 0;

	for (int i = 0; i < n; i++) {
		mt += t[i] / n;
		my += y[i] / n;
	}
	for (int i = 0; i < n; i++) {
		sxx += (t[i] - mt) * (t[i] - mt);
		sxy += (t[i] - mt) * (y[i] - my);
	}
	if (!(sxx > 0) || !(sxy < 0))
		return NAN;
	*gb_per_day = -sxy / sxx * 86400;
	return avail * sxx / -sxy / 3600;
}

/*
 * 1 when a filesystem of the snapshot may be used past min_used (one
 * whose use isn't known may be): only then is its history worth loading.
 */
static int
any_fs_past(json_t *root, double min_used)
{
	json_t		*disk;
	size_t		 i;

	json_array_foreach(snap_arr(root, "disks"), i, disk) {
		double	 pct = snap_disk_percent(disk);

		if (!snap_skip_fs(disk) && snap_num(disk, "available_gb") >= 0 &&
		    (isnan(pct) || pct >= min_used))
			return 1;
	}
	return 0;
}

void
rule_disk_fill_projection(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	const struct rule_history *h;
	double		 warn_h, crit_h, min_used, min_n, soonest = NAN;
	json_t		*hits;
	const char	*sev = NULL, *soonest_mount = NULL;
	char		 title[200], more[32], list[300] = "", item[160];

	warn_h = rule_threshold(c, rule, "warning_hours");
	crit_h = rule_threshold(c, rule, "critical_hours");
	min_used = rule_threshold(c, rule, "min_used_percent");
	min_n = rule_threshold(c, rule, "min_snapshots");
	if (!any_fs_past(c->cur->root, min_used) || (h = rule_hist(c)) == NULL)
		return;
	hits = json_array();
	for (int f = 0; h->fs != NULL && f < h->nfs; f++) {
		const struct rule_fs_series *fs = &h->fs[f];
		/* The points: seconds relative to now, GB free. */
		double		 t[RULE_FS_POINTS + 1];
		double		 y[RULE_FS_POINTS + 1];
		double		 avail, pct, hours, rate = NAN;
		json_t		*disk;
		const char	*s;
		int		 n = 0, have;

		if (memchr(fs->mount, '\0', sizeof(fs->mount)) == NULL ||
		    (disk = disk_at(c->cur->root, fs->mount)) == NULL ||
		    snap_skip_fs(disk))
			continue;
		avail = snap_num(disk, "available_gb");
		pct = snap_disk_percent(disk);
		if (isnan(pct) && fs->total_gb > 0 && avail >= 0)
			pct = 100 * (fs->total_gb - avail) / fs->total_gb;
		if (!(avail >= 0) || !(pct >= min_used))
			continue;
		/* Times relative to now keep the sums well conditioned. */
		have = fs->n < 0 ? 0 : fs->n > RULE_FS_POINTS ?
		    RULE_FS_POINTS : fs->n;
		for (int i = 0; i < have; i++) {
			if (fs->ts[i] >= c->cur->ts ||
			    !(fs->avail_gb[i] >= 0))
				continue;
			t[n] = (double)(fs->ts[i] - c->cur->ts);
			y[n++] = fs->avail_gb[i];
		}
		t[n] = 0;
		y[n++] = avail;
		if (n < 2 || !(n >= min_n))
			continue;
		hours = hours_to_empty(t, y, n, avail, &rate);
		if (hours <= crit_h)
			s = "critical";
		else if (hours <= warn_h)
			s = "warning";
		else
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o, "
		    "s:o, s:i}", "mount", fs->mount, "available_gb",
		    rule_num(avail), "percent_used", rule_num(rule_round2(pct)),
		    "gb_per_day", rule_num(rule_round2(rate)), "hours_to_full",
		    rule_num(rule_round2(hours)), "points", n));
		snprintf(item, sizeof(item), "%s in %.1f h", fs->mount, hours);
		rule_list_add(list, sizeof(list), item);
		if (rule_rank(s) > rule_rank(sev) || isnan(soonest) ||
		    (rule_rank(s) == rule_rank(sev) && hours < soonest)) {
			soonest = hours;
			soonest_mount = fs->mount;
		}
		sev = rule_worst(sev, s);
	}
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	rule_and_more(more, (int)json_array_size(hits) - 1);
	if (soonest < 48)
		snprintf(title, sizeof(title), "Disk %s fills up in %.1f "
		    "hours%s", soonest_mount, soonest, more);
	else
		snprintf(title, sizeof(title), "Disk %s fills up in %.1f "
		    "days%s", soonest_mount, soonest / 24, more);
	rule_fire(res, sev, json_pack("{s:o}", "mounts", hits), title,
	    "At the current rate, free space runs out: %s.", list);
}

/* 1 when the comma-separated mount options hold "ro". */
static int
mounted_ro(const char *opts)
{
	size_t	 n;

	for (; opts != NULL && *opts != '\0'; opts += n + (opts[n] == ',')) {
		n = strcspn(opts, ",");
		if (n == 2 && strncmp(opts, "ro", 2) == 0)
			return 1;
	}
	return 0;
}

void
rule_filesystem_readonly(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*disk, *hits = json_array();
	const char	*first = NULL;
	char		 title[200], more[32], list[300] = "";
	size_t		 i;

	(void)rule;
	json_array_foreach(snap_arr(c->cur->root, "disks"), i, disk) {
		const char	*mount = snap_str(disk, "mount");

		/*
		 * options_unreliable: the agent read them inside its own
		 * sandboxed mount namespace, where / looks read-only.
		 */
		if (mount == NULL || snap_skip_fs(disk) ||
		    !mounted_ro(snap_str(disk, "options")) ||
		    snap_bool(disk, "options_unreliable") == 1)
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o}",
		    "mount", mount, "device", str_or_null(snap_str(disk,
		    "device")), "fstype", str_or_null(snap_str(disk, "fstype")),
		    "options", str_or_null(snap_str(disk, "options"))));
		rule_list_add(list, sizeof(list), mount);
		if (first == NULL)
			first = mount;
	}
	if (first == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Filesystem %s is mounted read-only%s",
	    first, rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, "warning", json_pack("{s:o}", "mounts", hits), title,
	    "Mounted read-only: %s. The kernel remounts a filesystem "
	    "read-only after I/O errors (dmesg | grep -i remount).", list);
}

void
rule_disk_io_errors(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*io = snap_obj(c->cur->root, "io_errors"), *d;
	json_t		*devs = json_array();
	double		 n = snap_num(io, "count");
	char		 title[200], list[200] = "";
	size_t		 i;

	(void)rule;
	if (!(n > 0)) {
		json_decref(devs);
		return;
	}
	json_array_foreach(snap_arr(io, "devices"), i, d)
		if (json_is_string(d)) {
			json_array_append_new(devs, json_copy(d));
			rule_list_add(list, sizeof(list), json_string_value(d));
		}
	if (*list != '\0')
		rule_titlef(title, sizeof(title), "%.0f disk I/O error%s on "
		    "%s", n, n == 1 ? "" : "s", list);
	else
		snprintf(title, sizeof(title), "%.0f disk I/O error%s", n,
		    n == 1 ? "" : "s");
	rule_fire(res, "critical", json_pack("{s:o, s:o}", "count",
	    rule_num(n), "devices", devs), title,
	    "The kernel logged %.0f I/O error%s recently%s%s (dmesg | grep "
	    "-i 'i/o error'); check the drive's SMART data.", n,
	    n == 1 ? "" : "s", *list ? " on " : "", list);
}

/* 1 for an NVMe device ("nvme0n1", "/dev/nvme0n1p2"). */
static int
is_nvme(const char *dev)
{
	const char	*base = strrchr(dev, '/');

	return strncmp(base != NULL ? base + 1 : dev, "nvme", 4) == 0;
}

/*
 * One latency reading against its class threshold; adds it to hits and
 * returns its severity.
 */
static const char *
latency_check(const struct rule_ctx *c, const struct rule_def *rule,
    const char *dev, double ms, const char *source, json_t *hits,
    char *list, size_t lsz, double *worst_ratio, const char **worst_dev)
{
	double		 warn = rule_threshold(c, rule, is_nvme(dev) ?
	    "nvme_warning_ms" : "other_warning_ms");
	double		 crit = warn * rule_threshold(c, rule,
	    "critical_factor");
	const char	*s = rule_level(ms, warn, crit);
	char		 item[160];

	if (s == NULL)
		return NULL;
	json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:s}",
	    "device", dev, "latency_ms", rule_num(ms), "threshold_ms",
	    rule_num(warn), "source", source));
	snprintf(item, sizeof(item), "%s %.4g ms", dev, ms);
	rule_list_add(list, lsz, item);
	if (isnan(*worst_ratio) || ms / warn > *worst_ratio) {
		*worst_ratio = ms / warn;
		*worst_dev = dev;
	}
	return s;
}

void
rule_disk_latency_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*e, *hits = json_array();
	const char	*sev = NULL, *worst_dev = NULL;
	double		 worst = NAN;
	char		 title[200], more[32], list[300] = "";
	size_t		 i;

	/* io_latency: the agent's averages over the interval. */
	json_array_foreach(snap_arr(c->cur->root, "io_latency"), i, e) {
		const char	*dev = snap_str(e, "device");
		double		 r = snap_num(e, "avg_read_latency_ms");
		double		 w = snap_num(e, "avg_write_latency_ms");
		double		 ms = isnan(r) || w > r ? w : r;

		/* No I/O in the interval: the averages mean nothing. */
		if (dev == NULL || (snap_num(e, "read_iops") == 0 &&
		    snap_num(e, "write_iops") == 0))
			continue;
		sev = rule_worst(sev, latency_check(c, rule, dev, ms,
		    "io_latency", hits, list, sizeof(list), &worst,
		    &worst_dev));
	}
	/* disks[].latency_p99_ms: the contract's per-filesystem field. */
	json_array_foreach(snap_arr(c->cur->root, "disks"), i, e) {
		const char	*dev = snap_str(e, "device");

		if (dev == NULL)
			continue;
		sev = rule_worst(sev, latency_check(c, rule, dev,
		    snap_num(e, "latency_p99_ms"), "latency_p99_ms", hits,
		    list, sizeof(list), &worst, &worst_dev));
	}
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Disk %s is slow%s", worst_dev,
	    rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, sev, json_pack("{s:o}", "devices", hits), title,
	    "I/O latency is high: %s (iostat -x 1 5).", list);
}

void
rule_smart_failing(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*d, *hits = json_array();
	const char	*first = NULL;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	(void)rule;
	json_array_foreach(snap_arr(c->cur->root, "smart"), i, d) {
		const char	*dev = snap_str(d, "device");
		const char	*health = snap_str(d, "health");
		double		 realloc;
		int		 bad_health;

		realloc = snap_num(d, "reallocated_sectors");
		/* Pending sectors alone do not fire: they flap. */
		bad_health = snap_smart_state(d) == SMART_BROKEN;

		if (dev == NULL || (!bad_health && !(realloc > 0)))
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o, "
		    "s:o}", "device", dev, "model", str_or_null(snap_str(d,
		    "model")), "serial", str_or_null(snap_str(d, "serial")),
		    "health", str_or_null(health), "reallocated_sectors",
		    rule_num(realloc)));
		if (bad_health)
			snprintf(item, sizeof(item), "%s health %s", dev,
			    health);
		else
			snprintf(item, sizeof(item), "%s %.0f reallocated "
			    "sectors", dev, realloc);
		rule_list_add(list, sizeof(list), item);
		if (first == NULL)
			first = dev;
	}
	if (first == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Drive %s is failing%s", first,
	    rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, "critical", json_pack("{s:o}", "devices", hits), title,
	    "SMART: %s. Back up and replace the drive.", list);
}

void
rule_nvme_wear_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double		 info = rule_threshold(c, rule, "info");
	double		 warn = rule_threshold(c, rule, "warning");
	double		 crit = rule_threshold(c, rule, "critical");
	double		 top = NAN;
	json_t		*d, *hits = json_array();
	const char	*sev = NULL, *top_dev = NULL;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	json_array_foreach(snap_arr(c->cur->root, "smart"), i, d) {
		const char	*dev = snap_str(d, "device");
		double		 used = snap_num(d, "percentage_used");
		const char	*s = rule_level(used, warn, crit);

		if (s == NULL && used >= info)
			s = "info";
		if (s == NULL || dev == NULL)
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o}",
		    "device", dev, "model", str_or_null(snap_str(d, "model")),
		    "serial", str_or_null(snap_str(d, "serial")),
		    "percentage_used", rule_num(used)));
		snprintf(item, sizeof(item), "%s %.4g%%", dev, used);
		rule_list_add(list, sizeof(list), item);
		if (worse_than(s, used, sev, top)) {
			top = used;
			top_dev = dev;
		}
		sev = rule_worst(sev, s);
	}
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Drive %s is %.4g%% worn%s", top_dev,
	    top, rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, sev, json_pack("{s:o}", "devices", hits), title,
	    "Rated endurance used: %s. Plan the replacement.", list);
}

void
rule_raid_degraded(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*r, *hits = json_array();
	const char	*first = NULL;
	char		 title[200], more[32], list[300] = "", item[200];
	size_t		 i;

	(void)rule;
	json_array_foreach(snap_arr(c->cur->root, "raid"), i, r) {
		const char	*dev = snap_str(r, "device");
		const char	*status = snap_str(r, "status");
		json_t		*failed = snap_arr(r, "failed_disks"), *f;
		char		 names[120] = "";
		size_t		 j;

		json_array_foreach(failed, j, f)
			if (json_is_string(f))
				rule_list_add(names, sizeof(names),
				    json_string_value(f));
		if (dev == NULL || (snap_bool(r, "degraded") != 1 &&
		    *names == '\0' && (status == NULL ||
		    strcasestr(status, "degraded") == NULL)))
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o}",
		    "device", dev, "level", str_or_null(snap_str(r, "level")),
		    "status", str_or_null(status), "failed_disks",
		    failed != NULL ? json_incref(failed) : json_array()));
		snprintf(item, sizeof(item), "%s (%s)%s%s", dev,
		    status != NULL ? status : "degraded", *names ?
		    " failed: " : "", names);
		rule_list_add(list, sizeof(list), item);
		if (first == NULL)
			first = dev;
	}
	if (first == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "RAID array %s is degraded%s", first,
	    rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, "critical", json_pack("{s:o}", "arrays", hits), title,
	    "Degraded: %s. Replace the failed disk (cat /proc/mdstat).",
	    list);
}

void
rule_zfs_pool_unhealthy(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*p, *hits = json_array();
	const char	*sev = NULL, *top = NULL, *top_state = NULL;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	(void)rule;
	json_array_foreach(snap_arr(snap_obj(c->cur->root, "zfs"), "pools"),
	    i, p) {
		const char	*name = snap_str(p, "name");
		const char	*state = snap_str(p, "state"), *s;

		/* UNKNOWN is the agent's "no state line", not a state. */
		if (name == NULL || state == NULL || *state == '\0' ||
		    strcasecmp(state, "ONLINE") == 0 ||
		    strcasecmp(state, "UNKNOWN") == 0)
			continue;
		s = strcasecmp(state, "FAULTED") == 0 ||
		    strcasecmp(state, "UNAVAIL") == 0 ? "critical" : "warning";
		json_array_append_new(hits, json_pack("{s:s, s:s, s:o}",
		    "name", name, "state", state, "errors",
		    str_or_null(snap_str(p, "errors_text"))));
		snprintf(item, sizeof(item), "%s %s", name, state);
		rule_list_add(list, sizeof(list), item);
		if (rule_rank(s) > rule_rank(sev)) {
			top = name;
			top_state = state;
		}
		sev = rule_worst(sev, s);
	}
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "ZFS pool %s is %s%s", top, top_state,
	    rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, sev, json_pack("{s:o}", "pools", hits), title,
	    "Pools not ONLINE: %s (zpool status -x).", list);
}

void
rule_zfs_scrub_errors(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*p, *hits = json_array();
	const char	*first = NULL;
	double		 first_n = 0;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	(void)rule;
	json_array_foreach(snap_arr(snap_obj(c->cur->root, "zfs"), "pools"),
	    i, p) {
		const char	*name = snap_str(p, "name");
		double		 n = snap_num(p, "scrub_errors");

		if (name == NULL || !(n > 0))
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o}",
		    "name", name, "scrub_errors", rule_num(n),
		    "last_scrub_date", str_or_null(snap_str(p,
		    "last_scrub_date"))));
		snprintf(item, sizeof(item), "%s %.0f", name, n);
		rule_list_add(list, sizeof(list), item);
		if (first == NULL) {
			first = name;
			first_n = n;
		}
	}
	if (first == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "ZFS scrub found %.0f error%s in pool "
	    "%s%s", first_n, first_n == 1 ? "" : "s", first,
	    rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, "warning", json_pack("{s:o}", "pools", hits), title,
	    "Scrub errors per pool: %s (zpool status -v).", list);
}
