/*
 * rules: the catalogue. Defaults are the reference system's thresholds.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"
#include "valid.h"
#include "rules_impl.h"
#include "snapshot.h"

const struct rule_def rule_catalog[] = {
	{ "ram_high", RULE_STATE, "Available memory is low.",
	    { { "warning_available_percent", 5 },
	      { "critical_available_percent", 2 },
	      { "warning_used_percent", 90 }, { "critical_used_percent", 95 } }, rule_ram_high },
	{ "swap_high", RULE_STATE, "Swap is mostly used.",
	    { { "warning", 50 }, { "critical", 80 } }, rule_swap_high },
	{ "cpu_high", RULE_STATE, "CPU is busy (100 - idle %).",
	    { { "warning", 90 }, { "critical", 98 } }, rule_cpu_high },
	{ "load_high", RULE_STATE, "1-minute load is high per core.",
	    { { "warning_per_core", 1.5 }, { "critical_per_core", 3 } }, rule_load_high },
	{ "cpu_iowait_high", RULE_STATE, "CPU waits on I/O under load.",
	    { { "warning", 20 }, { "min_load", 1 } }, rule_cpu_iowait_high },
	{ "oom_kills", RULE_STATE, "The kernel killed processes for memory.",
	    { { NULL, 0 } }, rule_oom_kills },
	{ "clock_drift", RULE_STATE, "The clock is off.",
	    { { "warning_ms", 5000 }, { "critical_ms", 60000 },
	      { "grace_seconds", 300 } }, rule_clock_drift },
	{ "ntp_not_synced", RULE_STATE, "Time is not synchronised.",
	    { { "grace_seconds", 300 } }, rule_ntp_not_synced },
	{ "fd_exhaustion", RULE_STATE, "File descriptors are running out.",
	    { { "warning", 80 }, { "critical", 95 } }, rule_fd_exhaustion },
	{ "conntrack_exhaustion", RULE_STATE,
	    "The connection-tracking table is filling.",
	    { { "warning", 80 }, { "critical", 95 } }, rule_conntrack_exhaustion },
	{ "systemd_service_failed", RULE_STATE, "A systemd unit failed.",
	    { { NULL, 0 } }, rule_systemd_service_failed },
	{ "disk_space_high", RULE_STATE, "A filesystem is nearly full.",
	    { { "warning", 85 }, { "critical", 95 } }, rule_disk_space_high },
	{ "inode_high", RULE_STATE, "A filesystem is running out of inodes.",
	    { { "warning", 85 }, { "critical", 95 } }, rule_inode_high },
	{ "disk_fill_projection", RULE_STATE,
	    "At the current rate a filesystem fills up soon.",
	    { { "warning_hours", 168 }, { "critical_hours", 24 },
	      { "min_used_percent", 40 }, { "min_snapshots", 4 } }, rule_disk_fill_projection },
	{ "filesystem_readonly", RULE_STATE,
	    "A filesystem is mounted read-only.", { { NULL, 0 } }, rule_filesystem_readonly },
	{ "disk_io_errors", RULE_STATE, "The kernel reported disk I/O errors.",
	    { { NULL, 0 } }, rule_disk_io_errors },
	{ "disk_latency_high", RULE_STATE, "Disk latency is high.",
	    { { "nvme_warning_ms", 1 }, { "other_warning_ms", 50 },
	      { "critical_factor", 5 } }, rule_disk_latency_high },
	{ "smart_failing", RULE_STATE,
	    "A drive fails SMART or reallocates sectors.", { { NULL, 0 } }, rule_smart_failing },
	{ "nvme_wear_high", RULE_STATE, "An NVMe drive is worn.",
	    { { "info", 75 }, { "warning", 85 }, { "critical", 95 } }, rule_nvme_wear_high },
	{ "raid_degraded", RULE_STATE, "A RAID array is degraded.",
	    { { NULL, 0 } }, rule_raid_degraded },
	{ "zfs_pool_unhealthy", RULE_STATE, "A ZFS pool is not ONLINE.",
	    { { NULL, 0 } }, rule_zfs_pool_unhealthy },
	{ "zfs_scrub_errors", RULE_STATE, "A ZFS scrub found errors.",
	    { { NULL, 0 } }, rule_zfs_scrub_errors },
	{ "interface_errors", RULE_STATE, "A network interface has errors.",
	    { { "critical_errors", 100 }, { "critical_ratio_percent", 0.1 },
	      { "min_packets", 10000 }, { "min_errors", 10 },
	      { "grace_seconds", 120 } }, rule_interface_errors },
	{ "link_speed_mismatch", RULE_STATE,
	    "A link is up below the expected speed.",
	    { { "min_mbps", 1000 } }, rule_link_speed_mismatch },
	{ "interface_saturation", RULE_STATE, "A link is nearly saturated.",
	    { { "warning", 90 } }, rule_interface_saturation },
	{ "cpu_temperature_high", RULE_STATE, "The CPU is hot.",
	    { { "warning", 80 }, { "critical", 90 },
	      { "ipmi_warning_margin", 15 }, { "ipmi_critical_margin", 5 },
	      { "grace_seconds", 60 } }, rule_cpu_temperature_high },
	{ "ecc_errors", RULE_STATE, "Memory reports ECC errors.",
	    { { "correctable_warning", 10 } }, rule_ecc_errors },
	{ "psu_redundancy_loss", RULE_STATE, "A power supply failed.",
	    { { NULL, 0 } }, rule_psu_redundancy_loss },
	{ "ipmi_fan_failure", RULE_STATE, "A fan failed.", { { NULL, 0 } }, rule_ipmi_fan_failure },
	{ "ipmi_sel_critical", RULE_EVENT,
	    "The BMC logged a critical event.", { { "window_days", 30 } }, rule_ipmi_sel_critical },
	{ "ipmi_sel_full", RULE_STATE, "The BMC event log is nearly full.",
	    { { "warning", 3000 } }, rule_ipmi_sel_full },
	{ "cmos_battery_low", RULE_STATE, "The CMOS battery is low.",
	    { { "warning_volts", 2.6 } }, rule_cmos_battery_low },
	{ "ssh_root_password", RULE_STATE,
	    "root can log in over SSH with a password.", { { NULL, 0 } }, rule_ssh_root_password },
	{ "no_firewall", RULE_STATE, "No firewall is active.",
	    { { NULL, 0 } }, rule_no_firewall },
	{ "pending_security_updates", RULE_STATE,
	    "Updates are pending and not applied automatically.",
	    { { NULL, 0 } }, rule_pending_security_updates },
	{ "unattended_upgrades_disabled", RULE_STATE,
	    "Automatic security updates are not configured.",
	    { { NULL, 0 } }, rule_unattended_upgrades_disabled },
	{ "kernel_vulnerabilities", RULE_STATE,
	    "A CPU vulnerability is not mitigated.", { { NULL, 0 } }, rule_kernel_vulnerabilities },
	{ "kernel_needs_reboot", RULE_STATE,
	    "A newer kernel is installed than runs.", { { NULL, 0 } }, rule_kernel_needs_reboot },
	{ "unexpected_reboot", RULE_EVENT, "The server rebooted unannounced.",
	    { { "max_uptime_seconds", 600 } }, rule_unexpected_reboot },
	{ "gpu_temperature_high", RULE_STATE, "A GPU is hot.",
	    { { "warning", 85 }, { "critical", 92 } }, rule_gpu_temperature_high },
	{ "server_unreachable", RULE_STATE, "The server stopped reporting.",
	    { { "interval_factor", 2 }, { "never_reported_minutes", 20 } }, NULL },
};

const int rule_count = sizeof(rule_catalog) / sizeof(rule_catalog[0]);
_Static_assert(sizeof(rule_catalog) / sizeof(rule_catalog[0]) <=
    RULE_CATALOG_MAX, "raise RULE_CATALOG_MAX");

const struct rule_def *
rule_find(const char *id)
{
	for (int i = 0; i < rule_count; i++)
		if (strcmp(rule_catalog[i].id, id) == 0)
			return &rule_catalog[i];
	return NULL;
}

static int
has_threshold(const struct rule_def *rule, const char *key)
{
	for (int i = 0; i < RULE_MAX_THRESHOLDS &&
	    rule->thresholds[i].key != NULL; i++)
		if (strcmp(rule->thresholds[i].key, key) == 0)
			return 1;
	return 0;
}

int
rule_overrides_valid(json_t *overrides, char *where, size_t where_sz,
    const char **why)
{
	const char		*rid, *key;
	json_t			*per_rule, *v;
	const struct rule_def	*rule;

	snprintf(where, where_sz, "config_overrides");
	if (!json_is_object(overrides)) {
		*why = "must be an object of rule ids";
		return 0;
	}
	json_object_foreach(overrides, rid, per_rule) {
		snprintf(where, where_sz, "config_overrides.%s", rid);
		valid_utf8_trim(where);
		if ((rule = rule_find(rid)) == NULL) {
			*why = "is not a known rule";
			return 0;
		}
		if (!json_is_object(per_rule)) {
			*why = "must be an object of thresholds";
			return 0;
		}
		json_object_foreach(per_rule, key, v) {
			snprintf(where, where_sz, "config_overrides.%s.%s",
			    rid, key);
			valid_utf8_trim(where);
			if (!has_threshold(rule, key)) {
				*why = "is not a threshold of this rule";
				return 0;
			}
			if (!json_is_number(v) || !isfinite(json_number_value(v))
			    || json_number_value(v) < 0) {
				*why = "must be a non-negative number";
				return 0;
			}
		}
	}
	return 1;
}

double
rule_threshold(const struct rule_ctx *c, const struct rule_def *rule,
    const char *key)
{
	json_t	*per_rule, *v;

	if (!has_threshold(rule, key))
		return NAN;
	/* Most servers have none: "{}" is not worth hashing a key for. */
	per_rule = json_object_size(c->overrides) > 0 ?
	    json_object_get(c->overrides, rule->id) : NULL;
	v = json_is_object(per_rule) ? json_object_get(per_rule, key) : NULL;
	if (json_is_number(v) && isfinite(json_number_value(v)))
		return json_number_value(v);
	for (int i = 0; i < RULE_MAX_THRESHOLDS &&
	    rule->thresholds[i].key != NULL; i++)
		if (strcmp(rule->thresholds[i].key, key) == 0)
			return rule->thresholds[i].def;
	return NAN;
}

const struct snapshot *
rule_prev(const struct rule_ctx *c)
{
	if (c->prev != NULL || c->source == NULL)
		return c->prev;
	return c->source->prev(c->source);
}

int
rule_prev_uptime(const struct rule_ctx *c, int64_t *ts, double *uptime)
{
	const struct snapshot	*prev;

	if (c->prev_ts != 0) {
		*ts = c->prev_ts;
		*uptime = c->prev_uptime;
		return 1;
	}
	if ((prev = rule_prev(c)) == NULL)
		return 0;
	*ts = prev->ts;
	*uptime = prev->d.uptime;
	return 1;
}

const struct rule_history *
rule_hist(const struct rule_ctx *c)
{
	if (c->hist != NULL || c->source == NULL)
		return c->hist;
	return c->source->hist(c->source);
}

int
rule_eval(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double	 grace = rule_threshold(c, rule, "grace_seconds");

	memset(res, 0, sizeof(*res));
	if (!isnan(grace) && !isnan(c->cur->d.uptime) &&
	    c->cur->d.uptime < grace)
		return 0;
	if (rule->eval != NULL)
		rule->eval(c, rule, res);
	return 1;
}

void
rule_fire(struct rule_result *res, const char *severity, json_t *evidence,
    const char *title, const char *fmt_message, ...)
{
	va_list	 ap;

	res->severity = severity;
	snprintf(res->title, sizeof(res->title), "%s", title);
	if (fmt_message != NULL) {
		va_start(ap, fmt_message);
		vsnprintf(res->message, sizeof(res->message), fmt_message, ap);
		va_end(ap);
	} else
		snprintf(res->message, sizeof(res->message), "%s", title);
	valid_utf8_trim(res->title);
	valid_utf8_trim(res->message);
	json_decref(res->evidence);
	res->evidence = evidence;
}

void
rule_occurrence(struct rule_result *res, const char *key)
{
	if (res->occurrences == NULL)
		res->occurrences = json_array();
	json_array_append_new(res->occurrences, json_string(key));
}

void
rule_result_clear(struct rule_result *res)
{
	json_decref(res->evidence);
	json_decref(res->occurrences);
	memset(res, 0, sizeof(*res));
}

const char *
rule_level(double v, double warn, double crit)
{
	if (v >= crit)
		return "critical";
	if (v >= warn)
		return "warning";
	return NULL;
}

int
rule_rank(const char *severity)
{
	if (severity == NULL)
		return 0;
	if (strcmp(severity, "critical") == 0)
		return 3;
	if (strcmp(severity, "warning") == 0)
		return 2;
	return 1;
}

const char *
rule_worst(const char *a, const char *b)
{
	return rule_rank(b) > rule_rank(a) ? b : a;
}

json_t *
rule_num(double v)
{
	if (!isfinite(v))
		return json_null();
	/* Whole numbers stay integers in evidence: 96, not 96.0. */
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return json_real(v);
}

double
rule_round2(double v)
{
	return isfinite(v) ? round(v * 100) / 100 : v;
}

void
rule_list_add(char *buf, size_t sz, const char *item)
{
	size_t	 len = strlen(buf), need;

	if (sz < 4 || (len >= 3 && strcmp(buf + len - 3, "...") == 0))
		return;
	need = (len > 0 ? 2 : 0) + strlen(item);
	if (len + need + 3 < sz) {
		snprintf(buf + len, sz - len, "%s%s", len > 0 ? ", " : "",
		    item);
		return;
	}
	/* Keep room for the ellipsis that says the list goes on. */
	if (len + 3 < sz)
		snprintf(buf + len, sz - len, "...");
	else
		snprintf(buf + sz - 4, 4, "...");
}

const char *
rule_and_more(char buf[32], int n)
{
	if (n > 0)
		snprintf(buf, 32, " (and %d more)", n);
	else
		buf[0] = '\0';
	return buf;
}

void
rule_titlef(char *buf, size_t sz, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
}
