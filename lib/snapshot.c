/*
 * snapshot: parse, check, derive.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "jsonread.h"
#include "snapshot.h"
#include "valid.h"

/*
 * The numeric fields of the contract's Snapshot type: a value there
 * must be a number or null. "block" is a top-level key (or "a.b" for a
 * nested object); each_item says the block is an array of objects.
 */
static const struct known_block {
	const char	*block;
	int		 each_item;
	const char	*fields[12];
} known_numbers[] = {
	{ "system", 0, { "uptime_seconds" } },
	{ "cpu", 0, { "user_percent", "system_percent", "iowait_percent",
	    "idle_percent", "load_1m", "load_5m", "load_15m" } },
	{ "cpu.cores", 1, { "core", "user_percent", "system_percent",
	    "iowait_percent", "idle_percent", "irq_percent",
	    "softirq_percent" } },
	{ "memory", 0, { "total_mb", "used_mb", "available_mb",
	    "swap_total_mb", "swap_used_mb" } },
	{ "disks", 1, { "total_gb", "used_gb", "available_gb", "percent_used",
	    "io_read_mb_s", "io_write_mb_s", "latency_p99_ms", "inodes_total",
	    "inodes_used", "inodes_free" } },
	{ "smart", 1, { "temperature_c", "percentage_used", "power_on_hours",
	    "reallocated_sectors", "pending_sectors" } },
	{ "network", 1, { "speed_mbps", "rx_bytes_sec", "tx_bytes_sec",
	    "rx_errors", "tx_errors", "rx_drops", "tx_drops", "rx_packets",
	    "tx_packets" } },
	{ "os_alerts", 0, { "oom_kills_recent", "zombie_processes",
	    "time_drift_ms" } },
	{ "thermal", 0, { "max_cpu_celsius" } },
	{ "conntrack", 0, { "count", "max", "percent" } },
	{ "file_descriptors", 0, { "allocated", "free", "max", "percent" } },
	{ "ipmi", 0, { "sel_entries_count" } },
	{ "ipmi.ecc_errors", 0, { "correctable", "uncorrectable" } },
	{ "gpu.devices", 1, { "temperature_c", "utilization_percent",
	    "memory_used_mb", "memory_total_mb" } },
};

double
snap_num(json_t *obj, const char *key)
{
	json_t	*v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	double	 d;

	if (!json_is_number(v))
		return NAN;
	d = json_number_value(v);
	return isfinite(d) ? d : NAN;
}

const char *
snap_str(json_t *obj, const char *key)
{
	json_t	*v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int
snap_bool(json_t *obj, const char *key)
{
	json_t	*v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_boolean(v) ? json_is_true(v) : -1;
}

json_t *
snap_obj(json_t *obj, const char *key)
{
	json_t	*v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_object(v) ? v : NULL;
}

json_t *
snap_arr(json_t *obj, const char *key)
{
	json_t	*v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_array(v) ? v : NULL;
}

int
snap_pseudo_mount(const char *m)
{
	static const char *const pseudo[] = { "/proc", "/sys", "/dev", "/run",
	    "/snap", "/boot/efi" };

	if (m == NULL)
		return 1;
	for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++) {
		size_t	 n = strlen(pseudo[i]);

		if (strncmp(m, pseudo[i], n) == 0 &&
		    (m[n] == '\0' || m[n] == '/'))
			return 1;
	}
	return 0;
}

int
snap_skip_fs(json_t *disk)
{
	const char	*fstype = snap_str(disk, "fstype");

	/* squashfs and ISO images are read-only and full by design. */
	return snap_pseudo_mount(snap_str(disk, "mount")) ||
	    (fstype != NULL && (strcmp(fstype, "squashfs") == 0 ||
	    strcmp(fstype, "iso9660") == 0));
}

double
snap_disk_percent(json_t *disk)
{
	double	 p = snap_num(disk, "percent_used");
	double	 used = snap_num(disk, "used_gb"), total = snap_num(disk,
	    "total_gb");

	if (isnan(p) && used >= 0 && total > 0)
		p = 100 * used / total;
	return p >= 0 && p <= 100 ? p : NAN;
}

int
snap_smart_state(json_t *drive)
{
	const char	*health = snap_str(drive, "health");

	/*
	 * SAS drives say "OK" where ATA and NVMe say "PASSED"; an empty or
	 * missing health is "not reported", not a failure.
	 */
	if (health != NULL && *health != '\0' &&
	    strcasecmp(health, "PASSED") != 0 && strcasecmp(health, "OK") != 0)
		return SMART_BROKEN;
	if (snap_num(drive, "pending_sectors") > 0 ||
	    snap_num(drive, "reallocated_sectors") > 0)
		return SMART_FAILING;
	if (snap_num(drive, "power_on_hours") > 40000 ||
	    snap_num(drive, "percentage_used") > 80)
		return SMART_DECLINING;
	return SMART_HEALTHY;
}

/* Finds the longest string anywhere in v; 1 when all are within cap. */
static int
strings_fit(json_t *v, char *field, size_t fsz, const char *path)
{
	const char	*k;
	json_t		*item;
	size_t		 i;
	char		 sub[256], key[101];

	if (json_is_string(v)) {
		if (json_string_length(v) <= SNAPSHOT_MAX_STRING)
			return 1;
		snprintf(field, fsz, "%s", path);
		return 0;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, k, item) {
			if (strlen(k) > SNAPSHOT_MAX_STRING) {
				snprintf(field, fsz, "%s", path);
				return 0;
			}
			/*
			 * Cuts must not split a character: the path goes
			 * back to the client as a JSON string.
			 */
			snprintf(key, sizeof(key), "%.100s", k);
			valid_utf8_trim(key);
			snprintf(sub, sizeof(sub), "%s%s%s", path,
			    *path ? "." : "", key);
			valid_utf8_trim(sub);
			if (!strings_fit(item, field, fsz, sub))
				return 0;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (!strings_fit(item, field, fsz, sub))
				return 0;
		}
	}
	return 1;
}

/* Resolves "a" or "a.b" from root; NULL when absent or null. */
static json_t *
block_at(json_t *root, const char *block)
{
	char	 head[32];
	const char *dot = strchr(block, '.');
	json_t	*v;

	if (dot == NULL)
		return json_object_get(root, block);
	snprintf(head, sizeof(head), "%.*s", (int)(dot - block), block);
	v = json_object_get(root, head);
	return json_is_object(v) ? json_object_get(v, dot + 1) : NULL;
}

/*
 * 1 when every known numeric field in obj, the block kb or its item
 * number item (-1: not an array), is a number or null. The path of
 * the culprit is made only when there is one.
 */
static int
numbers_ok(json_t *obj, const struct known_block *kb, long item,
    char *field, size_t fsz)
{
	for (int i = 0; i < 12 && kb->fields[i] != NULL; i++) {
		json_t	*v = json_object_get(obj, kb->fields[i]);

		if (v == NULL || json_is_null(v) || json_is_number(v))
			continue;
		if (item < 0)
			snprintf(field, fsz, "%s.%s", kb->block, kb->fields[i]);
		else
			snprintf(field, fsz, "%s[%ld].%s", kb->block, item,
			    kb->fields[i]);
		return 0;
	}
	return 1;
}

static int
shape_ok(json_t *root, char *field, size_t fsz)
{
	static const char *const required[] = { "system", "cpu", "memory" };
	static const char *const arrays[] = { "disks", "network", "smart",
	    "raid" };

	for (size_t i = 0; i < 3; i++)
		if (!json_is_object(json_object_get(root, required[i]))) {
			snprintf(field, fsz, "%s", required[i]);
			return 0;
		}
	for (size_t i = 0; i < 4; i++) {
		json_t	*v = json_object_get(root, arrays[i]);

		if (v != NULL && !json_is_null(v) && !json_is_array(v)) {
			snprintf(field, fsz, "%s", arrays[i]);
			return 0;
		}
	}
	for (size_t b = 0; b < sizeof(known_numbers) /
	    sizeof(known_numbers[0]); b++) {
		const struct known_block *kb = &known_numbers[b];
		json_t	*v = block_at(root, kb->block), *item;
		size_t	 i;

		if (v == NULL || json_is_null(v))
			continue;
		if (!kb->each_item) {
			if (!json_is_object(v)) {
				snprintf(field, fsz, "%s", kb->block);
				return 0;
			}
			if (!numbers_ok(v, kb, -1, field, fsz))
				return 0;
			continue;
		}
		if (!json_is_array(v)) {
			snprintf(field, fsz, "%s", kb->block);
			return 0;
		}
		json_array_foreach(v, i, item) {
			if (!json_is_object(item)) {
				snprintf(field, fsz, "%s[%zu]", kb->block, i);
				return 0;
			}
			if (!numbers_ok(item, kb, (long)i, field, fsz))
				return 0;
		}
	}
	return 1;
}

int
snapshot_parse(struct snapshot *s, const char *body, size_t len,
    const char **code, char *field, size_t fsz)
{
	json_error_t	 err;

	memset(s, 0, sizeof(*s));
	field[0] = '\0';
	arena_enter(&s->arena);
	s->root = jsonread_parse(body, len, &err);
	arena_leave();
	if (s->root == NULL || !json_is_object(s->root)) {
		*code = "invalid_json";
		snprintf(field, fsz, "%s", s->root == NULL ? err.text :
		    "the snapshot must be a JSON object");
		goto fail;
	}
	/*
	 * A decoded string is never longer than its JSON text, so a body
	 * within the limit can't hold an oversize string or key.
	 */
	if (len > SNAPSHOT_MAX_STRING &&
	    !strings_fit(s->root, field, fsz, "")) {
		*code = "oversize_field";
		goto fail;
	}
	if (!shape_ok(s->root, field, fsz)) {
		*code = "invalid_snapshot";
		goto fail;
	}
	return 1;
fail:
	snapshot_free(s);
	return 0;
}

void
snapshot_free(struct snapshot *s)
{
	s->root = NULL;
	arena_free(&s->arena);
}

/* v when lo <= v <= hi, else NAN: absurd readings are not measured. */
static double
within(double v, double lo, double hi)
{
	return v >= lo && v <= hi ? v : NAN;
}

/* The larger of two readings, either of which may be NAN. */
static double
max_of(double a, double b)
{
	if (isnan(a))
		return b;
	if (isnan(b))
		return a;
	return a > b ? a : b;
}

/*
 * 1 for an IPMI sensor reading a temperature: the contract's type, else
 * the agent's unit (it sends no type). A name alone is not enough: "CPU
 * Fan Duty" at 60 % or "CPU Power" at 95 W are not degrees.
 */
static int
celsius_sensor(json_t *r)
{
	const char	*type = snap_str(r, "type");
	const char	*unit = snap_str(r, "unit");

	return (type != NULL && strcasecmp(type, "temperature") == 0) ||
	    (unit != NULL && (strcmp(unit, "C") == 0 ||
	    strcmp(unit, "\xc2\xb0" "C") == 0 ||
	    strncasecmp(unit, "degrees C", 9) == 0));
}

/* The hottest CPU reading: thermal block, its readings, then IPMI. */
static double
cpu_temperature(json_t *root)
{
	json_t	*thermal = snap_obj(root, "thermal"), *r, *sensors;
	double	 t = within(snap_num(thermal, "max_cpu_celsius"), -50, 150);
	size_t	 i;

	if (!isnan(t))
		return t;
	json_array_foreach(snap_arr(thermal, "cpu_readings"), i, r) {
		double	 c = snap_num(r, "celsius");

		if (isnan(c))
			c = snap_num(r, "value_celsius");
		t = max_of(t, within(c, -50, 150));
	}
	if (!isnan(t))
		return t;
	sensors = snap_arr(snap_obj(root, "ipmi"), "sensors");
	json_array_foreach(sensors, i, r) {
		const char	*name = snap_str(r, "name");

		if (name != NULL && strcasestr(name, "cpu") != NULL &&
		    celsius_sensor(r))
			t = max_of(t, within(snap_num(r, "value"), -50, 150));
	}
	return t;
}

void
snapshot_derive(struct snapshot *s)
{
	struct snap_derived	*d = &s->d;
	json_t			*root = s->root, *cpu, *mem, *item;
	double			 total, rx = NAN, tx = NAN;
	size_t			 i;

	cpu = snap_obj(root, "cpu");
	mem = snap_obj(root, "memory");
	d->cpu = 100 - within(snap_num(cpu, "idle_percent"), 0, 100);
	d->iowait = within(snap_num(cpu, "iowait_percent"), 0, 100);
	d->load1 = within(snap_num(cpu, "load_1m"), 0, 1e6);
	total = snap_num(mem, "total_mb");
	d->ram = total > 0 ? within(100 * snap_num(mem, "used_mb") / total,
	    0, 100) : NAN;
	d->swap_mb = within(snap_num(mem, "swap_used_mb"), 0, 1e12);
	d->disk = NAN;
	/* The same filesystems, and the same numbers, the disk rule judges. */
	json_array_foreach(snap_arr(root, "disks"), i, item)
		if (!snap_skip_fs(item))
			d->disk = max_of(d->disk, snap_disk_percent(item));
	json_array_foreach(snap_arr(root, "network"), i, item) {
		const char	*ifname = snap_str(item, "interface");

		if (ifname != NULL && strcmp(ifname, "lo") == 0)
			continue;
		rx = max_of(rx, 0) + max_of(within(snap_num(item,
		    "rx_bytes_sec"), 0, 1e13), 0);
		tx = max_of(tx, 0) + max_of(within(snap_num(item,
		    "tx_bytes_sec"), 0, 1e13), 0);
	}
	d->rx_mbps = rx * 8 / 1e6;
	d->tx_mbps = tx * 8 / 1e6;
	d->temp = cpu_temperature(root);
	d->gpu_util = d->gpu_temp = NAN;
	json_array_foreach(snap_arr(snap_obj(root, "gpu"), "devices"), i,
	    item) {
		d->gpu_util = max_of(d->gpu_util,
		    within(snap_num(item, "utilization_percent"), 0, 100));
		d->gpu_temp = max_of(d->gpu_temp,
		    within(snap_num(item, "temperature_c"), -50, 150));
	}
	/* The agent's own shape: gpu.tier1.gpus[]. */
	json_array_foreach(snap_arr(snap_obj(snap_obj(root, "gpu"), "tier1"),
	    "gpus"), i, item) {
		d->gpu_util = max_of(d->gpu_util, within(snap_num(item,
		    "utilization_gpu_percent"), 0, 100));
		d->gpu_temp = max_of(d->gpu_temp,
		    within(snap_num(item, "temp_c"), -50, 150));
	}
	d->ecc_corr = within(snap_num(snap_obj(snap_obj(root, "ipmi"),
	    "ecc_errors"), "correctable"), 0, 1e15);
	d->uptime = within(snap_num(snap_obj(root, "system"),
	    "uptime_seconds"), 0, 1e10);
}
