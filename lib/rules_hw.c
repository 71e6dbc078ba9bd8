/*
 * rules_hw: the hardware rules of SPEC section 8 (network interfaces,
 * temperatures, ECC, and the BMC: PSUs, fans, event log, CMOS battery;
 * GPUs). Field names are the Crucible agent's.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iso.h"
#include "rules.h"
#include "rules_impl.h"
#include "snapshot.h"

#define SEL_TRANSIENT_SECONDS	60	/* assert, deassert: a glitch */

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* a + b where either may be missing; NAN when both are. */
static double
sum2(json_t *o, const char *a, const char *b)
{
	double	 x = snap_num(o, a), y = snap_num(o, b);

	if (isnan(x))
		return y;
	return isnan(y) ? x : x + y;
}

/* The ipmi block's array key, or NULL. */
static json_t *
ipmi_arr(const struct rule_ctx *c, const char *key)
{
	return snap_arr(snap_obj(c->cur->root, "ipmi"), key);
}

/*
 * Errors of one network entry in the previous snapshot, or NAN when
 * that interval does not count: no previous snapshot, a reboot between
 * the two (counters restarted) or a previous one still inside the grace.
 */
static double
prev_errors(const struct rule_ctx *c, double grace, const char *ifname)
{
	const struct snapshot *prev = rule_prev(c);
	json_t		*n;
	const char	*name;
	size_t		 i;

	if (prev == NULL || prev->d.uptime < grace ||
	    c->cur->d.uptime < prev->d.uptime)
		return NAN;
	json_array_foreach(snap_arr(prev->root, "network"), i, n)
		if ((name = snap_str(n, "interface")) != NULL &&
		    strcmp(name, ifname) == 0)
			return sum2(n, "rx_errors", "tx_errors");
	return NAN;
}

void
rule_interface_errors(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double		 crit_n, ratio, min_pk, min_err, grace;
	json_t		*n, *hits = json_array();
	const char	*sev = NULL, *top = NULL;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	crit_n = rule_threshold(c, rule, "critical_errors");
	ratio = rule_threshold(c, rule, "critical_ratio_percent");
	min_pk = rule_threshold(c, rule, "min_packets");
	min_err = rule_threshold(c, rule, "min_errors");
	grace = rule_threshold(c, rule, "grace_seconds");
	json_array_foreach(snap_arr(c->cur->root, "network"), i, n) {
		const char	*name = snap_str(n, "interface"), *s = NULL;
		/* Counts are per-interval deltas (SPEC 6). */
		double		 err = sum2(n, "rx_errors", "tx_errors");
		double		 pk = sum2(n, "rx_packets", "tx_packets");
		double		 before;

		if (name == NULL || strcmp(name, "lo") == 0 || !(err > 0))
			continue;
		before = prev_errors(c, grace, name);
		if (err >= crit_n || (pk >= min_pk && err >= min_err &&
		    100 * err / pk >= ratio))
			s = "critical";
		else if (before > 0)
			s = "warning";
		else
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o, "
		    "s:o, s:o}", "interface", name, "rx_errors",
		    rule_num(snap_num(n, "rx_errors")), "tx_errors",
		    rule_num(snap_num(n, "tx_errors")), "rx_packets",
		    rule_num(snap_num(n, "rx_packets")), "tx_packets",
		    rule_num(snap_num(n, "tx_packets")), "previous_errors",
		    rule_num(before)));
		snprintf(item, sizeof(item), "%s %.0f errors", name, err);
		rule_list_add(list, sizeof(list), item);
		if (rule_rank(s) > rule_rank(sev))
			top = name;
		sev = rule_worst(sev, s);
	}
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Interface %s has errors%s", top,
	    rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, sev, json_pack("{s:o}", "interfaces", hits), title,
	    "Errors in the last interval: %s%s. Check cables, optics and "
	    "the switch port.", list, strcmp(sev, "warning") == 0 ?
	    " (and in the interval before)" : "");
}

/* 1 for an interface whose "speed" is a driver's placeholder. */
static int
virtual_if(const char *name)
{
	static const char *const prefixes[] = { "lo", "tun", "tap", "wg",
	    "veth", "docker", "virbr", "br-", "vnet", "ifb", "dummy" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

void
rule_link_speed_mismatch(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	double		 min = rule_threshold(c, rule, "min_mbps");
	json_t		*n, *hits = json_array();
	const char	*first = NULL;
	double		 first_speed = 0;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	json_array_foreach(snap_arr(c->cur->root, "network"), i, n) {
		const char	*name = snap_str(n, "interface");
		const char	*state = snap_str(n, "operstate");
		json_t		*st = json_object_get(n, "operstate");
		double		 speed = snap_num(n, "speed_mbps");

		/* 0 or -1: the driver does not know (virtio, down links). */
		if (name == NULL || virtual_if(name) || !(speed > 0) ||
		    !(speed < min) || (st != NULL && !json_is_null(st) &&
		    (state == NULL || strcasecmp(state, "up") != 0)))
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o}",
		    "interface", name, "speed_mbps", rule_num(speed),
		    "operstate", str_or_null(state)));
		snprintf(item, sizeof(item), "%s at %.0f Mbit/s", name, speed);
		rule_list_add(list, sizeof(list), item);
		if (first == NULL) {
			first = name;
			first_speed = speed;
		}
	}
	if (first == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Interface %s links at %.0f Mbit/s%s",
	    first, first_speed, rule_and_more(more,
	    (int)json_array_size(hits) - 1));
	rule_fire(res, "warning", json_pack("{s:o, s:o}", "interfaces", hits,
	    "min_mbps", rule_num(min)), title,
	    "Below %.0f Mbit/s: %s. Check the cable, the optic and the "
	    "switch port's speed setting.", min, list);
}

void
rule_interface_saturation(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	double		 warn = rule_threshold(c, rule, "warning");
	double		 top = NAN;
	json_t		*n, *hits = json_array();
	const char	*top_name = NULL;
	char		 title[200], more[32], list[300] = "", item[160];
	size_t		 i;

	json_array_foreach(snap_arr(c->cur->root, "network"), i, n) {
		const char	*name = snap_str(n, "interface");
		double		 speed = snap_num(n, "speed_mbps");
		double		 rx = snap_num(n, "rx_bytes_sec");
		double		 tx = snap_num(n, "tx_bytes_sec");
		double		 busiest = isnan(rx) || tx > rx ? tx : rx;
		/* bytes/s * 8 / (Mbit/s * 1e6) * 100 */
		double		 util = busiest * 8 / (speed * 10000);

		if (name == NULL || !(speed > 0) || !(util >= warn))
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o, "
		    "s:o}", "interface", name, "speed_mbps", rule_num(speed),
		    "rx_mbps", rule_num(rule_round2(rx * 8 / 1e6)), "tx_mbps",
		    rule_num(rule_round2(tx * 8 / 1e6)), "utilization_percent",
		    rule_num(rule_round2(util))));
		snprintf(item, sizeof(item), "%s %.4g%% of %.0f Mbit/s", name,
		    util, speed);
		rule_list_add(list, sizeof(list), item);
		if (isnan(top) || util > top) {
			top = util;
			top_name = name;
		}
	}
	if (top_name == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "Interface %s is %.4g%% utilised%s",
	    top_name, top, rule_and_more(more, (int)json_array_size(hits) - 1));
	rule_fire(res, "warning", json_pack("{s:o}", "interfaces", hits),
	    title, "Near line rate: %s.", list);
}

/* v when it is a believable temperature, else NAN. */
static double
celsius(double v)
{
	return v >= -50 && v <= 150 ? v : NAN;
}

/* 1 for an IPMI sensor reading a CPU's temperature. */
static int
ipmi_cpu_temp(json_t *s)
{
	static const char *const not_cpu[] = { "ambient", "system", "pch",
	    "inlet", "outlet", "exhaust", "psu", "dimm", "memory" };
	const char	*name = snap_str(s, "name");
	const char	*unit = snap_str(s, "unit");
	const char	*type = snap_str(s, "type");
	int		 temp;

	if (name == NULL || (strcasestr(name, "cpu") == NULL &&
	    strcasestr(name, "processor") == NULL))
		return 0;
	for (size_t i = 0; i < sizeof(not_cpu) / sizeof(not_cpu[0]); i++)
		if (strcasestr(name, not_cpu[i]) != NULL)
			return 0;
	/* By unit, not by name: CPU_FAN and CPU_VCORE are not hot. */
	temp = type != NULL && strcasecmp(type, "temperature") == 0;
	if (unit != NULL) {
		unit += strspn(unit, " ");
		temp = temp || strcmp(unit, "C") == 0 ||
		    strcmp(unit, "\xc2\xb0" "C") == 0 ||
		    strncasecmp(unit, "degrees C", 9) == 0 ||
		    strncasecmp(unit, "degree C", 8) == 0;
	}
	return temp;
}

void
rule_cpu_temperature_high(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*thermal = snap_obj(c->cur->root, "thermal"), *r;
	double		 warn = rule_threshold(c, rule, "warning");
	double		 crit = rule_threshold(c, rule, "critical");
	double		 t = snap_num(thermal, "max_cpu_celsius");
	double		 hottest = NAN, top = NAN;
	const char	*label = NULL, *sev = NULL, *top_name = NULL;
	json_t		*hits;
	char		 title[200], list[300] = "", item[160];
	size_t		 i;

	t = celsius(t);
	/* hwmon readings, in either shape; they win over the BMC. */
	json_array_foreach(snap_arr(thermal, "cpu_readings"), i, r) {
		double	 v = celsius(snap_num(r, "celsius"));

		if (isnan(v))
			v = celsius(snap_num(r, "value_celsius"));
		if (v > hottest || (isnan(hottest) && !isnan(v))) {
			hottest = v;
			label = snap_str(r, "label");
		}
	}
	if (isnan(t))
		t = hottest;
	if (!isnan(t)) {
		if ((sev = rule_level(t, warn, crit)) == NULL)
			return;
		snprintf(title, sizeof(title), "CPU is at %.4g \xc2\xb0" "C",
		    t);
		rule_fire(res, sev, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}",
		    "path", "thermal", "celsius", rule_num(t), "sensor",
		    str_or_null(label), "source", str_or_null(snap_str(thermal,
		    "source")), "warning_celsius", rule_num(warn),
		    "critical_celsius", rule_num(crit)), title,
		    "The hottest CPU reading is %.1f \xc2\xb0" "C (warning at "
		    "%.4g, critical at %.4g). Check fans, airflow and heatsink "
		    "contact.", t, warn, crit);
		return;
	}
	/* Fallback: BMC sensors, against their own upper-critical limits. */
	hits = json_array();
	json_array_foreach(ipmi_arr(c, "sensors"), i, r) {
		double		 v = celsius(snap_num(r, "value"));
		double		 uc = snap_num(r, "upper_critical");
		double		 w = warn, cr = crit;
		const char	*s;

		if (!ipmi_cpu_temp(r) || isnan(v))
			continue;
		if (uc > 0) {
			w = uc - rule_threshold(c, rule, "ipmi_warning_margin");
			cr = uc - rule_threshold(c, rule,
			    "ipmi_critical_margin");
		}
		if ((s = rule_level(v, w, cr)) == NULL)
			continue;
		json_array_append_new(hits, json_pack("{s:s, s:o, s:o, s:o, "
		    "s:o}", "sensor", snap_str(r, "name"), "celsius",
		    rule_num(v), "upper_critical", rule_num(uc),
		    "warning_celsius", rule_num(w), "critical_celsius",
		    rule_num(cr)));
		snprintf(item, sizeof(item), "%s %.4g \xc2\xb0" "C (warning at "
		    "%.4g)", snap_str(r, "name"), v, w);
		rule_list_add(list, sizeof(list), item);
		if (rule_rank(s) > rule_rank(sev) ||
		    (rule_rank(s) == rule_rank(sev) && v > top)) {
			top = v;
			top_name = snap_str(r, "name");
		}
		sev = rule_worst(sev, s);
	}
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "CPU is at %.4g \xc2\xb0" "C (%s)", top,
	    top_name);
	rule_fire(res, sev, json_pack("{s:s, s:o}", "path", "ipmi", "sensors",
	    hits), title, "BMC CPU temperatures: %s. Check fans, airflow and "
	    "heatsink contact.", list);
}

/* The larger of two counts, either of which may be NAN. */
static double
max2(double a, double b)
{
	return isnan(a) || b > a ? b : a;
}

void
rule_ecc_errors(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*ipmi = snap_obj(c->cur->root, "ipmi");
	json_t		*named = snap_obj(ipmi, "ecc_errors");
	json_t		*sel = snap_obj(ipmi, "ecc_errors_from_sel");
	json_t		*edac = snap_obj(c->cur->root, "ecc_edac");
	const struct rule_history *h;
	double		 corr = c->cur->d.ecc_corr, before = NAN;
	double		 unc, grew;
	char		 title[128];

	/* Dell reports ECC only through the SEL; EDAC is the kernel's. */
	unc = max2(max2(snap_num(named, "uncorrectable"),
	    snap_num(sel, "uncorrectable")), snap_num(edac,
	    "edac_uncorrected_total"));
	/* The history only matters for a count there is. */
	if (!isnan(corr) && (h = rule_hist(c)) != NULL)
		before = h->ecc_corr_24h_ago;
	/* A count that went down was cleared: all of it is new. */
	grew = corr < before ? corr : corr - before;
	if (unc > 0) {
		snprintf(title, sizeof(title), "%.0f uncorrectable ECC error%s",
		    unc, unc == 1 ? "" : "s");
		rule_fire(res, "critical", json_pack("{s:o, s:o, s:o}",
		    "uncorrectable", rule_num(unc), "correctable",
		    rule_num(corr), "correctable_24h_ago", rule_num(before)),
		    title, "Memory reported %.0f uncorrectable ECC error%s: "
		    "data may be corrupt and a DIMM is failing (ipmitool sel "
		    "elist | grep -i memory).", unc, unc == 1 ? "" : "s");
		return;
	}
	if (!(grew >= rule_threshold(c, rule, "correctable_warning")))
		return;
	snprintf(title, sizeof(title), "%.0f correctable ECC errors in 24 h",
	    grew);
	rule_fire(res, "warning", json_pack("{s:o, s:o, s:o, s:o}",
	    "correctable", rule_num(corr), "correctable_24h_ago",
	    rule_num(before), "correctable_increase", rule_num(grew),
	    "uncorrectable", rule_num(unc)), title,
	    "The correctable ECC count rose from %.0f to %.0f within 24 "
	    "hours: an early sign of a failing DIMM.", before, corr);
}

/* 1 for an IPMI sensor of one power supply ("PSU1 Status", "PS2_Status"). */
static int
psu_sensor(const char *name)
{
	return name != NULL && (strcasestr(name, "psu") != NULL ||
	    strcasestr(name, "power supply") != NULL ||
	    (strncasecmp(name, "ps", 2) == 0 && name[2] >= '0' &&
	    name[2] <= '9'));
}

/* 1 when a PSU sensor says the supply failed or lost its input. */
static int
psu_failed(json_t *s)
{
	const char	*status = snap_str(s, "status");
	const char	*value = snap_str(s, "value");

	if (status != NULL && (strcasecmp(status, "cr") == 0 ||
	    strcasecmp(status, "nr") == 0 || strcasestr(status, "fail")))
		return 1;
	if (value == NULL)
		return 0;
	if (strcasestr(value, "fail") != NULL ||
	    strcasestr(value, "lost") != NULL)
		return 1;
	/* A discrete reading (IPMI sensor type 0x08): failure, input lost. */
	if (strncasecmp(value, "0x", 2) == 0)
		return (strtoul(value + 2, NULL, 16) & 0x3a) != 0;
	return 0;
}

void
rule_psu_redundancy_loss(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	const char	*state = snap_str(snap_obj(c->cur->root, "ipmi"),
	    "psu_redundancy_state");
	json_t		*s, *failed;
	char		 names[200] = "", title[200];
	size_t		 i, psus = 0;

	(void)rule;
	/* Dell's aggregate "PS Redundancy" sensor, when there is one. */
	if (state != NULL && strcmp(state, "redundancy_lost") == 0) {
		rule_fire(res, "critical", json_pack("{s:s}",
		    "redundancy_state", state), "Power supply redundancy lost",
		    "The BMC reports PSU redundancy lost: one failure from "
		    "an outage.");
		return;
	}
	/* When the BMC says fully redundant, that is the authority. */
	if (state != NULL && strcmp(state, "fully_redundant") == 0)
		return;
	failed = json_array();
	json_array_foreach(ipmi_arr(c, "sensors"), i, s) {
		const char	*name = snap_str(s, "name");

		if (!psu_sensor(name))
			continue;
		psus++;
		if (!psu_failed(s))
			continue;
		json_array_append_new(failed, json_pack("{s:s, s:O, s:O}",
		    "name", name, "status", json_object_get(s, "status") ?
		    json_object_get(s, "status") : json_null(), "value",
		    json_object_get(s, "value") ? json_object_get(s, "value") :
		    json_null()));
		rule_list_add(names, sizeof(names), name);
	}
	/* A lone supply that fails is an outage, not lost redundancy. */
	if (psus < 2 || json_array_size(failed) == 0) {
		json_decref(failed);
		return;
	}
	rule_titlef(title, sizeof(title), "Power supply failed: %s", names);
	rule_fire(res, "critical", json_pack("{s:o, s:i}", "failed", failed,
	    "psu_sensors", (int)psus), title,
	    "%zu of %zu PSU sensors report a failure (%s): the server runs "
	    "without redundancy.", json_array_size(failed), psus, names);
}

void
rule_ipmi_fan_failure(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*f, *failed = json_array();
	char		 names[300] = "", item[160], title[200];
	size_t		 i, present = 0;

	(void)rule;
	json_array_foreach(ipmi_arr(c, "fans"), i, f) {
		const char	*name = snap_str(f, "name");
		const char	*status = snap_str(f, "status");
		double		 rpm = snap_num(f, "rpm");
		int		 absent = status != NULL &&
		    strcasecmp(status, "absent") == 0;
		/*
		 * 0 rpm with the BMC's explicit "ok" is a discrete sensor
		 * without a reading, not a stopped fan.
		 */
		int		 bad = status != NULL &&
		    (strcasecmp(status, "critical") == 0 ||
		    strcasecmp(status, "cr") == 0 ||
		    strcasecmp(status, "nr") == 0);

		if (name == NULL || absent)
			continue;
		present++;
		if (!bad && !(rpm == 0 && (status == NULL ||
		    strcasecmp(status, "ok") != 0)))
			continue;
		json_array_append_new(failed, json_pack("{s:s, s:o, s:o}",
		    "name", name, "rpm", rule_num(rpm), "status",
		    str_or_null(status)));
		snprintf(item, sizeof(item), "%s (%.0f rpm)", name, rpm);
		rule_list_add(names, sizeof(names), item);
	}
	if (json_array_size(failed) == 0) {
		json_decref(failed);
		return;
	}
	snprintf(title, sizeof(title), "Fan failure: %zu of %zu fans",
	    json_array_size(failed), present);
	rule_fire(res, "critical", json_pack("{s:o, s:i}", "failed_fans",
	    failed, "fans_present", (int)present), title,
	    "Stopped or failing: %s. Cooling is reduced; replace the fan.",
	    names);
}

/* 1 when ev is an assertion the BMC took back within seconds. */
static int
sel_transient(json_t *events, json_t *ev, int64_t at)
{
	const char	*sensor = snap_str(ev, "sensor");
	const char	*what = snap_str(ev, "event");
	json_t		*o;
	size_t		 i;
	int64_t		 ms;

	json_array_foreach(events, i, o) {
		const char	*dir = snap_str(o, "direction");
		const char	*os = snap_str(o, "sensor");
		const char	*oe = snap_str(o, "event");

		if (dir == NULL || strcasecmp(dir, "Deasserted") != 0 ||
		    os == NULL || oe == NULL || strcmp(os, sensor) != 0 ||
		    strcmp(oe, what) != 0 ||
		    !iso_parse_ms(snap_str(o, "timestamp"), &ms))
			continue;
		if (ms / 1000 >= at && ms / 1000 - at <= SEL_TRANSIENT_SECONDS)
			return 1;
	}
	return 0;
}

void
rule_ipmi_sel_critical(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*events = ipmi_arr(c, "sel_events_recent");
	json_t		*ev, *hits;
	double		 days = rule_threshold(c, rule, "window_days");
	char		 key[512], list[300] = "", item[200], title[200];
	size_t		 i;

	hits = json_array();
	json_array_foreach(events, i, ev) {
		const char	*sev = snap_str(ev, "severity");
		const char	*dir = snap_str(ev, "direction");
		const char	*ts = snap_str(ev, "timestamp");
		const char	*sensor = snap_str(ev, "sensor");
		const char	*what = snap_str(ev, "event");
		int64_t		 ms, at;
		double		 age;

		/* The agent fills direction in; its default is Asserted. */
		if (sev == NULL || strcasecmp(sev, "critical") != 0 ||
		    (dir != NULL && strcasecmp(dir, "Asserted") != 0) ||
		    sensor == NULL || what == NULL ||
		    !iso_parse_ms(ts, &ms))
			continue;
		at = ms / 1000;
		age = (double)(c->cur->ts - at);
		/* A day of BMC clock skew is tolerated, not more. */
		if (!(age <= days * 86400) || age < -86400 ||
		    sel_transient(events, ev, at))
			continue;
		snprintf(key, sizeof(key), "%s|%s|%s", ts, sensor, what);
		rule_occurrence(res, key);
		json_array_append_new(hits, json_pack("{s:O, s:s, s:s, s:s, "
		    "s:o, s:o}", "id", json_object_get(ev, "id") ?
		    json_object_get(ev, "id") : json_null(), "timestamp", ts,
		    "sensor", sensor, "event", what, "sensor_type",
		    str_or_null(snap_str(ev, "sensor_type")), "age_days",
		    rule_num(rule_round2(age / 86400))));
		snprintf(item, sizeof(item), "%s: %s", sensor, what);
		rule_list_add(list, sizeof(list), item);
	}
	if (json_array_size(hits) == 0) {
		json_decref(hits);
		return;
	}
	if (json_array_size(hits) == 1)
		rule_titlef(title, sizeof(title), "BMC logged a critical "
		    "event: %s", list);
	else
		snprintf(title, sizeof(title), "BMC logged %zu critical events",
		    json_array_size(hits));
	rule_fire(res, "critical", json_pack("{s:o, s:o}", "events", hits,
	    "window_days", rule_num(days)), title,
	    "Critical SEL entries in the last %.0f days: %s (ipmitool sel "
	    "elist).", days, list);
}

void
rule_ipmi_sel_full(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double	 n = snap_num(snap_obj(c->cur->root, "ipmi"),
	    "sel_entries_count");
	double	 warn = rule_threshold(c, rule, "warning");
	char	 title[128];

	if (!(n >= warn))
		return;
	snprintf(title, sizeof(title), "BMC event log holds %.0f entries", n);
	rule_fire(res, "warning", json_pack("{s:o, s:o}", "sel_entries_count",
	    rule_num(n), "warning", rule_num(warn)), title,
	    "The SEL has %.0f entries; a full log stops recording hardware "
	    "events. Save and clear it (ipmitool sel save, sel clear).", n);
}

void
rule_cmos_battery_low(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double		 min = rule_threshold(c, rule, "warning_volts");
	json_t		*s, *low = json_array();
	char		 list[300] = "", item[160], title[200];
	size_t		 i;

	json_array_foreach(ipmi_arr(c, "sensors"), i, s) {
		const char	*name = snap_str(s, "name");
		const char	*unit = snap_str(s, "unit");
		double		 v = snap_num(s, "value");

		/*
		 * VBAT, P_VBAT, CMOS_BAT, "CMOS Battery"; _SCALED readings
		 * are divided down and cannot be compared.
		 */
		if (name == NULL || strcasestr(name, "bat") == NULL ||
		    strcasestr(name, "scaled") != NULL || unit == NULL ||
		    strncasecmp(unit, "volt", 4) != 0 || !(v < min) ||
		    !(v >= 0))
			continue;
		json_array_append_new(low, json_pack("{s:s, s:o}", "name",
		    name, "volts", rule_num(v)));
		snprintf(item, sizeof(item), "%s %.3g V", name, v);
		rule_list_add(list, sizeof(list), item);
	}
	if (json_array_size(low) == 0) {
		json_decref(low);
		return;
	}
	rule_titlef(title, sizeof(title), "CMOS battery is low: %s", list);
	rule_fire(res, "warning", json_pack("{s:o, s:o}", "low_batteries", low,
	    "warning_volts", rule_num(min)), title,
	    "Below %.3g V: %s. Replace the CR2032 before the BIOS settings "
	    "and clock are lost.", min, list);
}

/* Adds one GPU to hits when it is hot; returns its severity. */
static const char *
gpu_check(json_t *g, const char *temp_key, double warn, double crit,
    json_t *hits, char *list, size_t lsz, double *top, char *top_name,
    size_t tsz)
{
	double		 t = celsius(snap_num(g, temp_key));
	double		 idx = snap_num(g, "index");
	const char	*s = rule_level(t, warn, crit);
	const char	*name = snap_str(g, "name");
	char		 label[96], item[160];

	if (s == NULL)
		return NULL;
	if (!isnan(idx) && idx >= 0 && idx < 1e6)
		snprintf(label, sizeof(label), "GPU %.0f%s%s", idx,
		    name != NULL ? " " : "", name != NULL ? name : "");
	else
		snprintf(label, sizeof(label), "%s", name != NULL ? name :
		    "GPU");
	json_array_append_new(hits, json_pack("{s:s, s:o, s:o}", "gpu", label,
	    "uuid", str_or_null(snap_str(g, "uuid")), "celsius",
	    rule_num(t)));
	snprintf(item, sizeof(item), "%s %.4g \xc2\xb0" "C", label, t);
	rule_list_add(list, lsz, item);
	if (isnan(*top) || t > *top) {
		*top = t;
		snprintf(top_name, tsz, "%s", label);
	}
	return s;
}

void
rule_gpu_temperature_high(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*gpu = snap_obj(c->cur->root, "gpu"), *g;
	json_t		*hits = json_array();
	double		 warn = rule_threshold(c, rule, "warning");
	double		 crit = rule_threshold(c, rule, "critical");
	double		 top = NAN;
	const char	*sev = NULL;
	char		 list[300] = "", top_name[96] = "", title[200];
	size_t		 i;

	/* The contract's gpu.devices, and the agent's gpu.tier1.gpus. */
	json_array_foreach(snap_arr(gpu, "devices"), i, g)
		sev = rule_worst(sev, gpu_check(g, "temperature_c", warn, crit,
		    hits, list, sizeof(list), &top, top_name,
		    sizeof(top_name)));
	json_array_foreach(snap_arr(snap_obj(gpu, "tier1"), "gpus"), i, g)
		sev = rule_worst(sev, gpu_check(g, "temp_c", warn, crit, hits,
		    list, sizeof(list), &top, top_name, sizeof(top_name)));
	if (sev == NULL) {
		json_decref(hits);
		return;
	}
	snprintf(title, sizeof(title), "%s is at %.4g \xc2\xb0" "C", top_name,
	    top);
	rule_fire(res, sev, json_pack("{s:o, s:o, s:o}", "gpus", hits,
	    "warning_celsius", rule_num(warn), "critical_celsius",
	    rule_num(crit)), title, "Hot GPUs: %s (warning at %.4g, critical "
	    "at %.4g \xc2\xb0" "C).", list, warn, crit);
}
