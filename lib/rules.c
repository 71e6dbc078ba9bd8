/*
 * rules: the catalogue. Defaults are the reference system's thresholds.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"

const struct rule_def rule_catalog[] = {
	{ "ram_high", RULE_STATE, "Available memory is low.",
	    { { "warning_available_percent", 5 },
	      { "critical_available_percent", 2 },
	      { "warning_used_percent", 90 }, { "critical_used_percent", 95 } } },
	{ "swap_high", RULE_STATE, "Swap is mostly used.",
	    { { "warning", 50 }, { "critical", 80 } } },
	{ "cpu_high", RULE_STATE, "CPU is busy (100 - idle %).",
	    { { "warning", 90 }, { "critical", 98 } } },
	{ "load_high", RULE_STATE, "1-minute load is high per core.",
	    { { "warning_per_core", 1.5 }, { "critical_per_core", 3 } } },
	{ "cpu_iowait_high", RULE_STATE, "CPU waits on I/O under load.",
	    { { "warning", 20 }, { "min_load", 1 } } },
	{ "oom_kills", RULE_STATE, "The kernel killed processes for memory.",
	    { { NULL, 0 } } },
	{ "clock_drift", RULE_STATE, "The clock is off.",
	    { { "warning_ms", 5000 }, { "critical_ms", 60000 },
	      { "grace_seconds", 300 } } },
	{ "ntp_not_synced", RULE_STATE, "Time is not synchronised.",
	    { { "grace_seconds", 300 } } },
	{ "fd_exhaustion", RULE_STATE, "File descriptors are running out.",
	    { { "warning", 80 }, { "critical", 95 } } },
	{ "conntrack_exhaustion", RULE_STATE,
	    "The connection-tracking table is filling.",
	    { { "warning", 80 }, { "critical", 95 } } },
	{ "systemd_service_failed", RULE_STATE, "A systemd unit failed.",
	    { { NULL, 0 } } },
	{ "disk_space_high", RULE_STATE, "A filesystem is nearly full.",
	    { { "warning", 85 }, { "critical", 95 } } },
	{ "inode_high", RULE_STATE, "A filesystem is running out of inodes.",
	    { { "warning", 85 }, { "critical", 95 } } },
	{ "disk_fill_projection", RULE_STATE,
	    "At the current rate a filesystem fills up soon.",
	    { { "warning_hours", 168 }, { "critical_hours", 24 },
	      { "min_used_percent", 40 }, { "min_snapshots", 4 } } },
	{ "filesystem_readonly", RULE_STATE,
	    "A filesystem is mounted read-only.", { { NULL, 0 } } },
	{ "disk_io_errors", RULE_STATE, "The kernel reported disk I/O errors.",
	    { { NULL, 0 } } },
	{ "disk_latency_high", RULE_STATE, "Disk latency is high.",
	    { { "nvme_warning_ms", 1 }, { "other_warning_ms", 50 },
	      { "critical_factor", 5 } } },
	{ "smart_failing", RULE_STATE,
	    "A drive fails SMART or reallocates sectors.", { { NULL, 0 } } },
	{ "nvme_wear_high", RULE_STATE, "An NVMe drive is worn.",
	    { { "info", 75 }, { "warning", 85 }, { "critical", 95 } } },
	{ "raid_degraded", RULE_STATE, "A RAID array is degraded.",
	    { { NULL, 0 } } },
	{ "zfs_pool_unhealthy", RULE_STATE, "A ZFS pool is not ONLINE.",
	    { { NULL, 0 } } },
	{ "zfs_scrub_errors", RULE_STATE, "A ZFS scrub found errors.",
	    { { NULL, 0 } } },
	{ "interface_errors", RULE_STATE, "A network interface has errors.",
	    { { "critical_errors", 100 }, { "critical_ratio_percent", 0.1 },
	      { "min_packets", 10000 }, { "min_errors", 10 },
	      { "grace_seconds", 120 } } },
	{ "link_speed_mismatch", RULE_STATE,
	    "A link is up below the expected speed.",
	    { { "min_mbps", 1000 } } },
	{ "interface_saturation", RULE_STATE, "A link is nearly saturated.",
	    { { "warning", 90 } } },
	{ "cpu_temperature_high", RULE_STATE, "The CPU is hot.",
	    { { "warning", 80 }, { "critical", 90 },
	      { "ipmi_warning_margin", 15 }, { "ipmi_critical_margin", 5 },
	      { "grace_seconds", 60 } } },
	{ "ecc_errors", RULE_STATE, "Memory reports ECC errors.",
	    { { "correctable_warning", 10 } } },
	{ "psu_redundancy_loss", RULE_STATE, "A power supply failed.",
	    { { NULL, 0 } } },
	{ "ipmi_fan_failure", RULE_STATE, "A fan failed.", { { NULL, 0 } } },
	{ "ipmi_sel_critical", RULE_EVENT,
	    "The BMC logged a critical event.", { { "window_days", 30 } } },
	{ "ipmi_sel_full", RULE_STATE, "The BMC event log is nearly full.",
	    { { "warning", 3000 } } },
	{ "cmos_battery_low", RULE_STATE, "The CMOS battery is low.",
	    { { "warning_volts", 2.6 } } },
	{ "ssh_root_password", RULE_STATE,
	    "root can log in over SSH with a password.", { { NULL, 0 } } },
	{ "no_firewall", RULE_STATE, "No firewall is active.",
	    { { NULL, 0 } } },
	{ "pending_security_updates", RULE_STATE,
	    "Updates are pending and not applied automatically.",
	    { { NULL, 0 } } },
	{ "unattended_upgrades_disabled", RULE_STATE,
	    "Automatic security updates are not configured.",
	    { { NULL, 0 } } },
	{ "kernel_vulnerabilities", RULE_STATE,
	    "A CPU vulnerability is not mitigated.", { { NULL, 0 } } },
	{ "kernel_needs_reboot", RULE_STATE,
	    "A newer kernel is installed than runs.", { { NULL, 0 } } },
	{ "unexpected_reboot", RULE_EVENT, "The server rebooted unannounced.",
	    { { "max_uptime_seconds", 600 } } },
	{ "gpu_temperature_high", RULE_STATE, "A GPU is hot.",
	    { { "warning", 85 }, { "critical", 92 } } },
	{ "server_unreachable", RULE_STATE, "The server stopped reporting.",
	    { { "interval_factor", 2 }, { "never_reported_minutes", 20 } } },
};

const int rule_count = sizeof(rule_catalog) / sizeof(rule_catalog[0]);

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

/*
 * Drops a UTF-8 sequence that a cut left incomplete at the end of s:
 * ids and keys come from the client, and the JSON of the answer naming
 * them can't carry half a character.
 */
static void
utf8_trim(char *s)
{
	size_t		 n = strlen(s), i = n, want;
	unsigned char	 c;

	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || ((c = (unsigned char)s[i - 1]) & 0xc0) != 0xc0)
		return;
	want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	if (n - (i - 1) < want)
		s[i - 1] = '\0';
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
		utf8_trim(where);
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
			utf8_trim(where);
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
