/*
 * rules: every rule of the catalogue against small snapshots. For each,
 * the cases at, just below and just above its thresholds, its boot
 * grace, a config_overrides change, and missing, null or wrong-typed
 * input (which never fires); then the real agent's fixture, which fires
 * exactly five rules. Sections follow the catalogue order.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "health.h"
#include "iso.h"
#include "rules.h"
#include "rules_impl.h"
#include "snapshot.h"
#include "tap.h"

#define NOW	1800000000LL	/* the current snapshot's receive time */
#define DAY	86400LL

static struct rule_result	 last;		/* the latest evaluation */
static int			 sec, cas;	/* case number: sec.cas */
static const char		*sec_rule;	/* the section's rule id */

static void
section(int n, const char *rule)
{
	sec = n;
	cas = 0;
	sec_rule = rule;
}

/* "12.3 disk_space_high: <what>", numbered in order. */
static const char * __attribute__((format(printf, 1, 2)))
label(const char *fmt, ...)
{
	static char	 buf[512];
	char		 what[400];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(buf, sizeof(buf), "%d.%d %s: %s", sec, ++cas, sec_rule, what);
	return buf;
}

#define EXPECT(want, got, ...)	is_str((got), (want), "%s", label(__VA_ARGS__))
#define CHECK(cond, ...)	ok((cond), "%s", label(__VA_ARGS__))

/*
 * Builds s from frag (the members of a JSON object, "\"cpu\":{...}")
 * over a minimal valid snapshot up for a day. Returns 1, or 0 with the
 * parser's complaint on stderr.
 */
static int
build(struct snapshot *s, const char *frag, int64_t ts)
{
	json_t		*o, *base;
	json_error_t	 err;
	char		*text = NULL, *body = NULL, field[200];
	const char	*code = "";
	int		 rc = 0;

	if (asprintf(&text, "{%s}", frag) < 0)
		return 0;
	if ((o = json_loads(text, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		fprintf(stderr, "# test JSON: %s in {%s}\n", err.text, frag);
		goto out;
	}
	base = json_pack("{s:{s:i}, s:{}, s:{}}", "system", "uptime_seconds",
	    86400, "cpu", "memory");
	json_object_update_missing(o, base);
	json_decref(base);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!snapshot_parse(s, body, strlen(body), &code, field,
	    sizeof(field))) {
		fprintf(stderr, "# snapshot refused: %s %s\n", code, field);
		goto out;
	}
	snapshot_derive(s);
	s->ts = ts;
	rc = 1;
out:
	free(text);
	free(body);
	return rc;
}

/*
 * Evaluates rule id on cur_frag (with prev_frag gap seconds earlier,
 * overrides and hist, each optional). Returns the severity, "none",
 * "skipped" (inside the boot grace) or an error; the result stays in
 * last.
 */
static const char *
eval_full(const char *id, const char *cur_frag, const char *prev_frag,
    int64_t gap, const char *overrides, const struct rule_history *hist)
{
	const struct rule_def	*rule = rule_find(id);
	struct snapshot		 cur, prev;
	struct rule_ctx		 c;
	json_t			*evidence;
	const char		*sev = "bad snapshot";

	rule_result_clear(&last);
	if (rule == NULL)
		return "no such rule";
	if (!build(&cur, cur_frag, NOW))
		return sev;
	if (prev_frag != NULL && !build(&prev, prev_frag, NOW - gap)) {
		snapshot_free(&cur);
		return sev;
	}
	memset(&c, 0, sizeof(c));
	c.cur = &cur;
	c.prev = prev_frag != NULL ? &prev : NULL;
	c.hist = hist;
	if (overrides != NULL &&
	    (c.overrides = json_loads(overrides, 0, NULL)) == NULL)
		sev = "bad overrides";
	else if (!rule_eval(&c, rule, &last))
		sev = "skipped";
	else
		sev = last.severity != NULL ? last.severity : "none";
	/*
	 * The evidence may hold values of the snapshots (raid's failed
	 * disks, a PSU's status): a copy of its own outlives their arenas.
	 */
	evidence = json_deep_copy(last.evidence);
	json_decref(last.evidence);
	last.evidence = evidence;
	json_decref(c.overrides);
	snapshot_free(&cur);
	if (prev_frag != NULL)
		snapshot_free(&prev);
	return sev;
}

static const char *
run(const char *frag)
{
	return eval_full(sec_rule, frag, NULL, 0, NULL, NULL);
}

static const char *
run_ov(const char *frag, const char *overrides)
{
	return eval_full(sec_rule, frag, NULL, 0, overrides, NULL);
}

static const char *
run_prev(const char *frag, const char *prev_frag, int64_t gap)
{
	return eval_full(sec_rule, frag, prev_frag, gap, NULL, NULL);
}

static const char *
run_hist(const char *frag, const struct rule_history *hist)
{
	return eval_full(sec_rule, frag, NULL, 0, NULL, hist);
}

/* printf into a buffer that lives until the next call of f(). */
static const char * __attribute__((format(printf, 1, 2)))
f(const char *fmt, ...)
{
	static char	 bufs[4][2048];
	static int	 next;
	char		*b = bufs[next++ % 4];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* 1 when the last evidence, as compact JSON, contains needle. */
static int
evidence_has(const char *needle)
{
	char	*s = last.evidence != NULL ?
	    json_dumps(last.evidence, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(12)) : NULL;
	int	 found = s != NULL && strstr(s, needle) != NULL;

	if (!found)
		fprintf(stderr, "#   evidence %s lacks %s\n",
		    s != NULL ? s : "(none)", needle);
	free(s);
	return found;
}

static int
title_has(const char *needle)
{
	int	 found = strstr(last.title, needle) != NULL;

	if (!found)
		fprintf(stderr, "#   title \"%s\" lacks \"%s\"\n", last.title,
		    needle);
	return found;
}

/* The number of occurrence keys of the last result. */
static int
occurrences(void)
{
	return last.occurrences != NULL ?
	    (int)json_array_size(last.occurrences) : 0;
}

static const char *
occurrence(int i)
{
	return json_string_value(json_array_get(last.occurrences, i));
}

static void
test_ram_high(void)
{
	section(1, "ram_high");
#define MEM(avail)	f("\"memory\":{\"total_mb\":10000,\"used_mb\":100," \
	    "\"available_mb\":%s}", avail)
	EXPECT("none", run(MEM("500")), "available exactly 5%% is fine");
	EXPECT("warning", run(MEM("499")), "available 4.99%% warns");
	EXPECT("none", run(MEM("501")), "available 5.01%% is fine");
	EXPECT("warning", run(MEM("200")), "available exactly 2%% warns");
	EXPECT("critical", run(MEM("199")), "available 1.99%% is critical");
	EXPECT("warning", run(MEM("201")), "available 2.01%% warns");
	CHECK(title_has("memory") && evidence_has("\"available_percent\":2.01"),
	    "title and evidence carry the numbers");
#define USED(used) \
	f("\"memory\":{\"total_mb\":10000,\"used_mb\":%s}", used)
	EXPECT("warning", run(USED("9000")),
	    "no available_mb: 90%% used warns");
	EXPECT("none", run(USED("8999")), "no available_mb: 89.99%% is fine");
	EXPECT("warning", run(USED("9001")), "no available_mb: 90.01%% warns");
	EXPECT("critical", run(USED("9500")),
	    "no available_mb: 95%% is critical");
	EXPECT("warning", run(USED("9499")), "no available_mb: 94.99%% warns");
	EXPECT("critical", run(USED("9501")),
	    "no available_mb: 95.01%% is critical");
	EXPECT("none", run(MEM("800")), "available 8%% is fine by default");
	EXPECT("warning", run_ov(MEM("800"),
	    "{\"ram_high\":{\"warning_available_percent\":10}}"),
	    "override warning_available_percent 10: 8%% warns");
	EXPECT("critical", run_ov(USED("9200"),
	    "{\"ram_high\":{\"critical_used_percent\":92}}"),
	    "override critical_used_percent 92: 92%% is critical");
	EXPECT("none", run("\"memory\":{}"),
	    "an empty memory block never fires");
	EXPECT("none", run("\"memory\":{\"total_mb\":null,\"used_mb\":9900,"
	    "\"available_mb\":1}"), "null total never fires");
	EXPECT("none", run("\"memory\":{\"total_mb\":0,\"used_mb\":0,"
	    "\"available_mb\":0}"), "zero total never fires");
	EXPECT("none", run("\"memory\":{\"total_mb\":10000,\"used_mb\":null,"
	    "\"available_mb\":null}"), "null used and available never fire");
	EXPECT("none", run("\"memory\":{\"total_mb\":10000,\"used_mb\":20000}"),
	    "used above total is not measured");
#undef MEM
#undef USED
}

static void
test_swap_high(void)
{
	section(2, "swap_high");
#define SWAP(used, total) f("\"memory\":{\"swap_total_mb\":%s," \
	    "\"swap_used_mb\":%s}", total, used)
	EXPECT("warning", run(SWAP("500", "1000")), "50%% warns");
	EXPECT("none", run(SWAP("499", "1000")), "49.9%% is fine");
	EXPECT("warning", run(SWAP("501", "1000")), "50.1%% warns");
	EXPECT("critical", run(SWAP("800", "1000")), "80%% is critical");
	EXPECT("warning", run(SWAP("799", "1000")), "79.9%% warns");
	EXPECT("critical", run(SWAP("801", "1000")), "80.1%% is critical");
	CHECK(title_has("Swap is 80.1% used") &&
	    evidence_has("\"swap_used_mb\":801"),
	    "title and evidence carry the numbers");
	EXPECT("warning", run_ov(SWAP("450", "1000"),
	    "{\"swap_high\":{\"warning\":40}}"),
	    "override warning 40: 45%% warns");
	EXPECT("none", run(SWAP("0", "0")), "no swap is skipped");
	EXPECT("none", run(SWAP("10", "0")),
	    "used swap without a total is skipped");
	EXPECT("none", run(SWAP("null", "1000")), "null used never fires");
	EXPECT("none", run(SWAP("900", "null")), "null total never fires");
#undef SWAP
}

static void
test_cpu_high(void)
{
	section(3, "cpu_high");
#define IDLE(v)	f("\"cpu\":{\"idle_percent\":%s}", v)
	EXPECT("warning", run(IDLE("10")), "90%% busy warns");
	EXPECT("none", run(IDLE("10.5")), "89.5%% busy is fine");
	EXPECT("warning", run(IDLE("9.5")), "90.5%% busy warns");
	EXPECT("critical", run(IDLE("2")), "98%% busy is critical");
	EXPECT("warning", run(IDLE("2.5")), "97.5%% busy warns");
	EXPECT("critical", run(IDLE("1.5")), "98.5%% busy is critical");
	CHECK(title_has("98.5%") && evidence_has("\"cpu_percent\":98.5"),
	    "title and evidence carry the numbers");
	EXPECT("critical", run_ov(IDLE("4"),
	    "{\"cpu_high\":{\"critical\":95}}"),
	    "override critical 95: 96%% is critical");
	EXPECT("none", run(IDLE("null")), "null idle never fires");
	EXPECT("none", run(IDLE("-50")), "an absurd idle is not measured");
	EXPECT("none", run("\"cpu\":{}"), "missing idle never fires");
#undef IDLE
}

static void
test_load_high(void)
{
	section(4, "load_high");
#define LOAD(v)	f("\"cpu\":{\"load_1m\":%s,\"cores\":[{},{},{},{}]}", v)
	EXPECT("warning", run(LOAD("6")), "1.5x of 4 cores warns");
	EXPECT("none", run(LOAD("5.99")), "just under 1.5x is fine");
	EXPECT("warning", run(LOAD("6.01")), "just over 1.5x warns");
	EXPECT("critical", run(LOAD("12")), "3x is critical");
	EXPECT("warning", run(LOAD("11.99")), "just under 3x warns");
	EXPECT("critical", run(LOAD("12.01")), "just over 3x is critical");
	CHECK(evidence_has("\"cores\":4") && title_has("4 cores"),
	    "evidence names the cores");
	EXPECT("warning", run_ov(LOAD("4.5"),
	    "{\"load_high\":{\"warning_per_core\":1}}"),
	    "override warning_per_core 1: 1.1x warns");
	EXPECT("none", run("\"cpu\":{\"load_1m\":50}"), "no cores never fires");
	EXPECT("none", run("\"cpu\":{\"load_1m\":50,\"cores\":[]}"),
	    "an empty core list never fires");
	EXPECT("none", run(LOAD("null")), "null load never fires");
	EXPECT("none", run("\"cpu\":{\"load_1m\":50,\"cores\":null}"),
	    "a null core list never fires");
#undef LOAD
}

static void
test_cpu_iowait_high(void)
{
	section(5, "cpu_iowait_high");
#define IOW(w, l) f("\"cpu\":{\"iowait_percent\":%s,\"load_1m\":%s}", w, l)
	EXPECT("warning", run(IOW("20", "1")), "20%% at load 1 warns");
	EXPECT("none", run(IOW("19.9", "4")), "19.9%% is fine");
	EXPECT("warning", run(IOW("20.1", "4")), "20.1%% warns");
	EXPECT("none", run(IOW("60", "0.99")), "load just under 1 is quiet");
	EXPECT("warning", run(IOW("60", "1.01")), "load just over 1 warns");
	CHECK(evidence_has("\"iowait_percent\":60"), "evidence has iowait");
	EXPECT("warning", run_ov(IOW("30", "0.5"),
	    "{\"cpu_iowait_high\":{\"min_load\":0}}"),
	    "override min_load 0: idle box warns");
	EXPECT("none", run_ov(IOW("30", "4"),
	    "{\"cpu_iowait_high\":{\"warning\":40}}"),
	    "override warning 40: 30%% is fine");
	EXPECT("none", run(IOW("null", "4")), "null iowait never fires");
	EXPECT("none", run(IOW("60", "null")), "null load never fires");
#undef IOW
}

static void
test_oom_kills(void)
{
	section(6, "oom_kills");
	EXPECT("critical", run("\"os_alerts\":{\"oom_kills_recent\":1}"),
	    "one kill is critical");
	CHECK(title_has("1 process") && evidence_has("\"oom_kills_recent\":1"),
	    "title and evidence count the kills");
	EXPECT("none", run("\"os_alerts\":{\"oom_kills_recent\":0}"),
	    "zero kills is fine");
	EXPECT("critical", run_ov("\"os_alerts\":{\"oom_kills_recent\":3}",
	    "{\"oom_kills\":{\"warning\":5}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run("\"os_alerts\":{\"oom_kills_recent\":null}"),
	    "null never fires");
	EXPECT("none", run("\"os_alerts\":null"), "a null block never fires");
	EXPECT("none", run("\"os_alerts\":{}"), "a missing count never fires");
}

static void
test_clock_drift(void)
{
	section(7, "clock_drift");
#define DRIFT(ms) f("\"os_alerts\":{\"time_drift_ms\":%s}", ms)
#define DRIFT_UP(ms, up) f("\"os_alerts\":{\"time_drift_ms\":%s}," \
	    "\"system\":{\"uptime_seconds\":%s}", ms, up)
	EXPECT("warning", run(DRIFT("5000")), "5 s warns");
	EXPECT("none", run(DRIFT("4999")), "4.999 s is fine");
	EXPECT("warning", run(DRIFT("5001")), "5.001 s warns");
	EXPECT("critical", run(DRIFT("60000")), "60 s is critical");
	EXPECT("warning", run(DRIFT("59999")), "59.999 s warns");
	EXPECT("critical", run(DRIFT("60001")), "60.001 s is critical");
	EXPECT("none", run(DRIFT("-4999")), "4.999 s behind is fine");
	EXPECT("critical", run(DRIFT("-60000")), "60 s behind is critical");
	CHECK(title_has("60.0 s") && evidence_has("\"time_drift_ms\":-60000"),
	    "title and evidence carry the drift");
	EXPECT("skipped", run(DRIFT_UP("90000", "299")),
	    "inside the 300 s grace it is not evaluated");
	EXPECT("critical", run(DRIFT_UP("90000", "300")),
	    "at the end of the grace it is");
	EXPECT("critical", run(DRIFT_UP("90000", "301")),
	    "just past the grace");
	EXPECT("warning", run_ov(DRIFT("2000"),
	    "{\"clock_drift\":{\"warning_ms\":1000}}"),
	    "override warning_ms 1000: 2 s warns");
	EXPECT("critical", run_ov(DRIFT_UP("90000", "10"),
	    "{\"clock_drift\":{\"grace_seconds\":0}}"),
	    "override grace_seconds 0: evaluated at once");
	EXPECT("none", run(DRIFT("null")), "null drift never fires");
#undef DRIFT
#undef DRIFT_UP
}

static void
test_ntp_not_synced(void)
{
	section(8, "ntp_not_synced");
#define NTP(s, d) f("\"ntp\":{\"synced\":%s,\"daemon_running\":%s," \
	    "\"daemon_name\":\"chronyd\"}", s, d)
#define NTP_UP(up) f("\"ntp\":{\"synced\":false,\"daemon_running\":false}," \
	    "\"system\":{\"uptime_seconds\":%s}", up)
	EXPECT("critical", run(NTP("false", "false")),
	    "not synced and no daemon is critical");
	CHECK(evidence_has("\"daemon_running\":false") &&
	    title_has("not synchronised"), "evidence has the daemon state");
	EXPECT("warning", run(NTP("false", "true")),
	    "a daemon that has not synced warns");
	CHECK(strstr(last.message, "chronyd") != NULL,
	    "message names the daemon");
	EXPECT("none", run(NTP("true", "true")), "synced is fine");
	EXPECT("none", run(NTP("true", "false")),
	    "synced without a daemon is fine");
	EXPECT("warning", run("\"ntp\":{\"synced\":false}"),
	    "unsynced with the daemon unknown warns");
	EXPECT("skipped", run(NTP_UP("299")),
	    "inside the 300 s grace: skipped");
	EXPECT("critical", run(NTP_UP("300")),
	    "at the end of the grace: fires");
	EXPECT("critical", run(NTP_UP("317")), "the fixture's 317 s: fires");
	EXPECT("skipped", run_ov(NTP_UP("317"),
	    "{\"ntp_not_synced\":{\"grace_seconds\":600}}"),
	    "override grace_seconds 600: 317 s is inside");
	EXPECT("none", run(NTP("null", "false")), "null synced never fires");
	EXPECT("none", run("\"ntp\":{\"synced\":\"false\"}"),
	    "a string synced never fires");
	EXPECT("none", run("\"ntp\":\"unsynced\""),
	    "a string block never fires");
	EXPECT("none", run("\"ntp\":null"), "a null block never fires");
#undef NTP
#undef NTP_UP
}

static void
test_fd_exhaustion(void)
{
	section(9, "fd_exhaustion");
#define FD(p)	f("\"file_descriptors\":{\"allocated\":1,\"max\":1000," \
	    "\"percent\":%s}", p)
	EXPECT("warning", run(FD("80")), "80%% warns");
	EXPECT("none", run(FD("79.9")), "79.9%% is fine");
	EXPECT("warning", run(FD("80.1")), "80.1%% warns");
	EXPECT("critical", run(FD("95")), "95%% is critical");
	EXPECT("warning", run(FD("94.9")), "94.9%% warns");
	EXPECT("critical", run(FD("95.1")), "95.1%% is critical");
	EXPECT("warning", run("\"file_descriptors\":{\"allocated\":800,"
	    "\"max\":1000}"), "computed from allocated / max: 80%% warns");
	CHECK(evidence_has("\"percent\":80"), "evidence has the percentage");
	EXPECT("warning", run_ov(FD("60"),
	    "{\"fd_exhaustion\":{\"warning\":50}}"),
	    "override warning 50: 60%% warns");
	EXPECT("none", run("\"file_descriptors\":{\"percent\":null,"
	    "\"max\":0,\"allocated\":5}"),
	    "null percent, zero max never fires");
	EXPECT("none", run(FD("150")), "an absurd percentage is not measured");
	EXPECT("none", run("\"file_descriptors\":null"),
	    "a null block never fires");
#undef FD
}

static void
test_conntrack_exhaustion(void)
{
	section(10, "conntrack_exhaustion");
#define CT(p)	f("\"conntrack\":{\"available\":true,\"count\":1," \
	    "\"max\":262144,\"percent\":%s}", p)
	EXPECT("warning", run(CT("80")), "80%% warns");
	EXPECT("none", run(CT("79.9")), "79.9%% is fine");
	EXPECT("warning", run(CT("80.1")), "80.1%% warns");
	EXPECT("critical", run(CT("95")), "95%% is critical");
	EXPECT("warning", run(CT("94.9")), "94.9%% warns");
	EXPECT("critical", run(CT("95.1")), "95.1%% is critical");
	EXPECT("critical", run("\"conntrack\":{\"count\":960,\"max\":1000}"),
	    "computed from count / max: 96%% is critical");
	CHECK(evidence_has("\"count\":960"), "evidence has the count");
	EXPECT("critical", run_ov(CT("91"),
	    "{\"conntrack_exhaustion\":{\"critical\":90}}"),
	    "override critical 90: 91%% is critical");
	EXPECT("none", run("\"conntrack\":{\"available\":false,"
	    "\"percent\":99}"),
	    "available false is skipped");
	EXPECT("none", run(CT("null")), "null percent never fires");
	EXPECT("none", run("\"conntrack\":{\"count\":5,\"max\":0}"),
	    "zero max never fires");
#undef CT
}

static void
test_systemd_service_failed(void)
{
	section(11, "systemd_service_failed");
	EXPECT("critical",
	    run("\"systemd\":{\"failed_units\":[\"nginx.service\"],"
	    "\"failed_count\":1}"), "a failed unit is critical");
	CHECK(title_has("nginx.service") &&
	    evidence_has("\"failed_units\":[\"nginx.service\"]"),
	    "title and evidence list the unit");
	EXPECT("critical", run("\"systemd\":{\"failed_units\":[\"a.service\","
	    "\"b.mount\"]}"), "two failed units without a count");
	CHECK(evidence_has("\"failed_count\":2"),
	    "the count comes from the list");
	EXPECT("none", run("\"systemd\":{\"failed_units\":[],"
	    "\"failed_count\":0}"),
	    "no failed units is fine");
	EXPECT("critical", run("\"systemd\":{\"failed_units\":[],"
	    "\"failed_count\":2}"), "a count without names still fires");
	EXPECT("critical", run("\"systemd\":{\"failed_units\":"
	    "[{\"unit\":\"x.service\"}]}"), "unit objects are accepted");
	EXPECT("critical",
	    run_ov("\"systemd\":{\"failed_units\":[\"a.service\"]}",
	    "{\"systemd_service_failed\":{\"warning\":5}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run("\"systemd\":{\"failed_units\":null}"),
	    "null units never fire");
	EXPECT("none", run("\"systemd\":{\"failed_units\":\"nginx\"}"),
	    "a string list never fires");
	EXPECT("none", run("\"systemd\":{\"failed_units\":[1,null,\"\"]}"),
	    "unnamed entries never fire");
	EXPECT("none", run("\"systemd\":5"), "a number block never fires");
}

static void
test_disk_space_high(void)
{
	section(12, "disk_space_high");
#define DISK(p)	f("\"disks\":[{\"device\":\"/dev/sda1\",\"mount\":\"/\"," \
	    "\"percent_used\":%s,\"total_gb\":100}]", p)
	EXPECT("none", run(DISK("84.9")), "84.9%% is fine");
	EXPECT("warning", run(DISK("85.1")), "85.1%% warns");
	EXPECT("warning", run(DISK("85")), "85%% warns");
	CHECK(title_has("Disk / is 85% full") &&
	    evidence_has("\"mount\":\"/\",\"percent_used\":85"),
	    "title names the mount, evidence the numbers");
	EXPECT("critical", run(DISK("95")), "95%% is critical");
	EXPECT("warning", run(DISK("94.9")), "94.9%% warns");
	EXPECT("critical", run(DISK("95.1")), "95.1%% is critical");
	EXPECT("critical",
	    run("\"disks\":[{\"mount\":\"/\",\"percent_used\":90},"
	    "{\"mount\":\"/data\",\"percent_used\":97},{\"mount\":\"/home\","
	    "\"percent_used\":10}]"), "the worst filesystem decides");
	CHECK(title_has("/data is 97% full (and 1 more)"),
	    "the title names the worst and counts the rest");
	EXPECT("warning", run("\"disks\":[{\"mount\":\"/\",\"used_gb\":90,"
	    "\"total_gb\":100}]"), "computed from used / total: 90%% warns");
	EXPECT("none", run("\"disks\":[{\"mount\":\"/snap/core/1\","
	    "\"percent_used\":100},{\"mount\":\"/mnt/iso\","
	    "\"fstype\":\"iso9660\","
	    "\"percent_used\":100}]"),
	    "snaps and images are always full: skipped");
	EXPECT("warning", run_ov(DISK("75"),
	    "{\"disk_space_high\":{\"warning\":70}}"),
	    "override warning 70: 75%% warns");
	EXPECT("none", run(DISK("null")), "null percentage never fires");
	EXPECT("none", run("\"disks\":[{\"percent_used\":99}]"),
	    "a filesystem without a mount never fires");
	EXPECT("none", run("\"disks\":[]"), "no disks never fires");
	EXPECT("none", run(DISK("101")),
	    "an absurd percentage is not measured");
#undef DISK
}

static void
test_inode_high(void)
{
	section(13, "inode_high");
#define INO(u)	f("\"disks\":[{\"mount\":\"/var\",\"inodes_total\":1000," \
	    "\"inodes_used\":%s}]", u)
	EXPECT("warning", run(INO("850")), "85%% warns");
	EXPECT("none", run(INO("849")), "84.9%% is fine");
	EXPECT("warning", run(INO("851")), "85.1%% warns");
	EXPECT("critical", run(INO("950")), "95%% is critical");
	EXPECT("warning", run(INO("949")), "94.9%% warns");
	EXPECT("critical", run(INO("951")), "95.1%% is critical");
	CHECK(title_has("/var") && evidence_has("\"inodes_used\":951"),
	    "title and evidence name the mount");
	EXPECT("warning",
	    run("\"disks\":[{\"mount\":\"/\",\"inodes_total\":1000,"
	    "\"inodes_free\":100}]"), "computed from inodes_free: 90%% warns");
	EXPECT("none", run("\"disks\":[{\"mount\":\"/boot/efi\","
	    "\"inodes_total\":1000,\"inodes_used\":999}]"),
	    "/boot/efi is skipped");
	EXPECT("none", run("\"disks\":[{\"mount\":\"/run/user/0\","
	    "\"inodes_total\":1000,\"inodes_used\":999}]"), "/run is skipped");
	EXPECT("critical", run_ov(INO("920"),
	    "{\"inode_high\":{\"critical\":90}}"),
	    "override critical 90: 92%% is critical");
	EXPECT("none", run("\"disks\":[{\"mount\":\"/\",\"inodes_total\":0,"
	    "\"inodes_used\":0}]"), "zero inodes never fires");
	EXPECT("none", run("\"disks\":[{\"mount\":\"/\",\"inodes_total\":1000}"
	    "]"),
	    "no used or free count never fires");
	EXPECT("none", run(INO("null")), "null used never fires");
#undef INO
}

/* A history of three hourly points falling 1 GB an hour towards avail. */
static struct rule_history *
fill_history(struct rule_history *h, struct rule_fs_series *fs, int points,
    double avail)
{
	memset(fs, 0, sizeof(*fs));
	snprintf(fs->mount, sizeof(fs->mount), "/");
	fs->total_gb = 1000;
	fs->n = points;
	for (int i = 0; i < points; i++) {
		fs->ts[i] = NOW - (points - i) * 3600;
		fs->avail_gb[i] = avail + (points - i);
	}
	h->fs = fs;
	h->nfs = 1;
	h->ecc_corr_24h_ago = NAN;
	return h;
}

static void
test_disk_fill_projection(void)
{
	struct rule_history	 h;
	struct rule_fs_series	 fs;

	section(14, "disk_fill_projection");
#define FILL(avail, pct) f("\"disks\":[{\"mount\":\"/\",\"available_gb\":%s," \
	    "\"percent_used\":%s,\"total_gb\":1000}]", avail, pct)
	EXPECT("critical", run_hist(FILL("24", "50"),
	    fill_history(&h, &fs, 3, 24)),
	    "full in exactly 24 h is critical");
	CHECK(title_has("fills up in 24.0 hours") &&
	    evidence_has("\"hours_to_full\":24") &&
	    evidence_has("\"gb_per_day\":24"),
	    "title and evidence carry the rate");
	EXPECT("critical", run_hist(FILL("23.5", "50"),
	    fill_history(&h, &fs, 3, 23.5)), "23.5 h is critical");
	EXPECT("warning", run_hist(FILL("24.5", "50"),
	    fill_history(&h, &fs, 3, 24.5)), "24.5 h warns");
	EXPECT("warning", run_hist(FILL("168", "50"),
	    fill_history(&h, &fs, 3, 168)), "exactly 7 days warns");
	EXPECT("warning", run_hist(FILL("167.5", "50"),
	    fill_history(&h, &fs, 3, 167.5)), "just under 7 days warns");
	EXPECT("none", run_hist(FILL("168.5", "50"),
	    fill_history(&h, &fs, 3, 168.5)), "just over 7 days is fine");
	EXPECT("critical", run_hist(FILL("24", "40"),
	    fill_history(&h, &fs, 3, 24)),
	    "exactly 40%% used is judged");
	EXPECT("none", run_hist(FILL("24", "39.9"),
	    fill_history(&h, &fs, 3, 24)),
	    "39.9%% used is not judged");
	EXPECT("none", run_hist(FILL("24", "50"), fill_history(&h, &fs, 2, 24)),
	    "three points (two history + now) are too few");
	EXPECT("critical", eval_full(sec_rule, FILL("24", "50"), NULL, 0,
	    "{\"disk_fill_projection\":{\"min_snapshots\":3}}",
	    fill_history(&h, &fs, 2, 24)), "override min_snapshots 3: enough");
	EXPECT("critical", eval_full(sec_rule, FILL("30", "50"), NULL, 0,
	    "{\"disk_fill_projection\":{\"critical_hours\":48}}",
	    fill_history(&h, &fs, 3, 30)), "override critical_hours 48: 30 h "
	    "is critical");
	fill_history(&h, &fs, 3, 24);
	for (int i = 0; i < 3; i++)
		fs.avail_gb[i] = 24 - (3 - i);
	EXPECT("none", run_hist(FILL("24", "50"), &h),
	    "growing free space is fine");
	fill_history(&h, &fs, 4, 24);
	fs.ts[3] = NOW;
	fs.avail_gb[3] = 24;
	EXPECT("critical", run_hist(FILL("24", "50"), &h),
	    "a history point at the current time is not counted twice");
	CHECK(evidence_has("\"points\":4"), "four points were fitted");
	fill_history(&h, &fs, 3, 24);
	fs.avail_gb[1] = NAN;
	EXPECT("none", run_hist(FILL("24", "50"), &h),
	    "a NAN point is dropped, leaving too few");
	EXPECT("none", run_hist(FILL("24", "50"), NULL),
	    "no history never fires");
	fill_history(&h, &fs, 3, 24);
	fs.n = -7;
	EXPECT("none", run_hist(FILL("24", "50"), &h),
	    "a negative count is no points");
	fill_history(&h, &fs, RULE_FS_POINTS, 24);
	fs.n = 9999;
	EXPECT("critical", run_hist(FILL("24", "50"), &h),
	    "an oversized count is clamped");
	CHECK(evidence_has(f("\"points\":%d", RULE_FS_POINTS + 1)),
	    "to RULE_FS_POINTS history points and now");
	fill_history(&h, &fs, 3, 24);
	memset(fs.mount, 'x', sizeof(fs.mount));
	EXPECT("none", run_hist(FILL("24", "50"), &h),
	    "an unterminated mount is ignored");
	fill_history(&h, &fs, 3, 24);
	h.fs = NULL;
	EXPECT("none", run_hist(FILL("24", "50"), &h),
	    "a NULL series never fires");
	EXPECT("none", run_hist("\"disks\":[{\"mount\":\"/data\","
	    "\"available_gb\":24,\"percent_used\":50}]",
	    fill_history(&h, &fs, 3, 24)),
	    "a mount not in the snapshot is skipped");
	EXPECT("none", run_hist(FILL("null", "50"),
	    fill_history(&h, &fs, 3, 24)),
	    "null free space never fires");
#undef FILL
}

static void
test_filesystem_readonly(void)
{
	section(15, "filesystem_readonly");
#define RO(opts) f("\"disks\":[{\"device\":\"/dev/sdb1\",\"mount\":\"/srv\"," \
	    "\"fstype\":\"ext4\",\"options\":%s}]", opts)
	EXPECT("warning", run(RO("\"ro,relatime\"")), "ro warns");
	CHECK(title_has("/srv is mounted read-only") &&
	    evidence_has("\"options\":\"ro,relatime\""), "title and evidence");
	EXPECT("warning", run(RO("\"relatime,ro\"")),
	    "ro anywhere in the list");
	EXPECT("warning", run(RO("\"ro\"")), "ro alone");
	EXPECT("none", run(RO("\"rw,errors=remount-ro\"")),
	    "errors=remount-ro is a policy, not a state");
	EXPECT("none", run(RO("\"rox,nosuid\"")), "an option starting with ro");
	EXPECT("none", run("\"disks\":[{\"mount\":\"/boot/efi\","
	    "\"options\":\"ro\"},"
	    "{\"mount\":\"/snap/x/1\",\"fstype\":\"squashfs\","
	    "\"options\":\"ro\"},"
	    "{\"mount\":\"/media\",\"fstype\":\"squashfs\",\"options\":\"ro\"}"
	    "]"),
	    "pseudo and image filesystems are skipped");
	EXPECT("none", run("\"disks\":[{\"mount\":\"/\",\"options\":\"ro\","
	    "\"options_unreliable\":true}]"),
	    "options the agent flags as unreliable are skipped");
	EXPECT("warning", run_ov(RO("\"ro\""),
	    "{\"filesystem_readonly\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(RO("null")), "null options never fire");
	EXPECT("none", run(RO("7")), "numeric options never fire");
	EXPECT("none", run("\"disks\":[{\"options\":\"ro\"}]"),
	    "no mount never fires");
#undef RO
}

static void
test_disk_io_errors(void)
{
	section(16, "disk_io_errors");
	EXPECT("critical", run("\"io_errors\":{\"count\":3,"
	    "\"devices\":[\"sdb\"]}"), "three errors are critical");
	CHECK(title_has("3 disk I/O errors on sdb") &&
	    evidence_has("\"devices\":[\"sdb\"]"),
	    "title and evidence name sdb");
	EXPECT("critical", run("\"io_errors\":{\"count\":1}"),
	    "one error without devices");
	EXPECT("none", run("\"io_errors\":{\"count\":0,\"devices\":[]}"),
	    "zero is fine");
	EXPECT("critical", run_ov("\"io_errors\":{\"count\":1}",
	    "{\"disk_io_errors\":{\"warning\":5}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run("\"io_errors\":{\"count\":null}"),
	    "null never fires");
	EXPECT("none", run("\"io_errors\":{\"count\":\"3\"}"),
	    "a string count never fires");
	EXPECT("none", run("\"io_errors\":\"many\""),
	    "a string block never fires");
	EXPECT("none", run("\"io_errors\":null"), "a null block never fires");
}

static void
test_disk_latency_high(void)
{
	section(17, "disk_latency_high");
#define LAT(dev, r, w) f("\"io_latency\":[{\"device\":\"%s\"," \
	    "\"avg_read_latency_ms\":%s,\"avg_write_latency_ms\":%s," \
	    "\"read_iops\":10,\"write_iops\":10}]", dev, r, w)
	EXPECT("warning", run(LAT("nvme0n1", "1", "0.1")),
	    "NVMe at 1 ms warns");
	EXPECT("none", run(LAT("nvme0n1", "0.99", "0.1")),
	    "NVMe at 0.99 ms is fine");
	EXPECT("warning", run(LAT("nvme0n1", "1.01", "0.1")),
	    "NVMe at 1.01 ms warns");
	EXPECT("critical", run(LAT("nvme0n1", "0.1", "5")),
	    "NVMe at 5 ms is critical");
	EXPECT("warning", run(LAT("nvme0n1", "4.99", "null")),
	    "NVMe at 4.99 ms warns");
	EXPECT("warning", run(LAT("sda", "50", "1")), "SATA at 50 ms warns");
	EXPECT("none", run(LAT("sda", "49.9", "1")), "SATA at 49.9 ms is fine");
	EXPECT("warning", run(LAT("sda", "50.1", "1")),
	    "SATA at 50.1 ms warns");
	EXPECT("critical", run(LAT("sda", "1", "250")),
	    "SATA at 250 ms is critical");
	EXPECT("warning", run(LAT("sda", "1", "249.9")),
	    "SATA at 249.9 ms warns");
	EXPECT("critical", run(LAT("sda", "1", "250.1")),
	    "SATA at 250.1 ms is critical");
	CHECK(title_has("Disk sda is slow") &&
	    evidence_has("\"latency_ms\":250.1") &&
	    evidence_has("\"threshold_ms\":50"), "title and evidence");
	EXPECT("warning", run("\"disks\":[{\"device\":\"/dev/nvme0n1p2\","
	    "\"mount\":\"/\",\"latency_p99_ms\":1.5}]"),
	    "the contract's latency_p99_ms counts, by device class");
	EXPECT("none", run("\"io_latency\":[{\"device\":\"sda\","
	    "\"avg_read_latency_ms\":900,\"avg_write_latency_ms\":900,"
	    "\"read_iops\":0,\"write_iops\":0}]"),
	    "no I/O in the interval: skipped");
	EXPECT("warning", run_ov(LAT("sda", "30", "1"),
	    "{\"disk_latency_high\":{\"other_warning_ms\":20}}"),
	    "override other_warning_ms 20: 30 ms warns");
	EXPECT("critical", run_ov(LAT("sda", "100", "1"),
	    "{\"disk_latency_high\":{\"critical_factor\":2}}"),
	    "override critical_factor 2: 100 ms is critical");
	EXPECT("none", run(LAT("vda", "null", "null")),
	    "null latencies never fire (the fixture)");
	EXPECT("none", run("\"io_latency\":[{\"avg_read_latency_ms\":900,"
	    "\"read_iops\":10}]"), "no device never fires");
	EXPECT("none", run("\"io_latency\":[{\"device\":\"sda\","
	    "\"avg_read_latency_ms\":\"slow\",\"read_iops\":10}]"),
	    "a string latency never fires");
	EXPECT("none", run("\"io_latency\":{\"sda\":900}"),
	    "an object instead of a list never fires");
#undef LAT
}

static void
test_smart_failing(void)
{
	section(18, "smart_failing");
#define SM(h, r) f("\"smart\":[{\"device\":\"/dev/sda\",\"model\":\"X\"," \
	    "\"serial\":\"S1\",\"health\":%s," \
	    "\"reallocated_sectors\":%s}]", h, r)
	EXPECT("critical", run(SM("\"FAILED\"", "0")),
	    "health FAILED is critical");
	CHECK(title_has("/dev/sda") && evidence_has("\"serial\":\"S1\""),
	    "title names the drive, evidence its serial");
	EXPECT("none", run(SM("\"PASSED\"", "0")),
	    "PASSED with none reallocated");
	EXPECT("critical", run(SM("\"PASSED\"", "1")),
	    "one reallocated sector is critical");
	EXPECT("critical", run(SM("\"PASSED\"", "8")),
	    "eight reallocated sectors are critical");
	EXPECT("none", run(SM("\"OK\"", "0")), "SAS \"OK\" is healthy");
	EXPECT("none", run("\"smart\":[{\"device\":\"/dev/sda\","
	    "\"health\":\"PASSED\",\"pending_sectors\":3}]"),
	    "pending sectors alone do not fire (they flap)");
	EXPECT("critical", run_ov(SM("\"FAILED\"", "0"),
	    "{\"smart_failing\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(SM("null", "null")),
	    "null health and count never fire");
	EXPECT("none", run(SM("5", "0")), "a numeric health never fires");
	EXPECT("none", run(SM("\"\"", "0")), "an empty health never fires");
	EXPECT("none", run("\"smart\":[{\"health\":\"FAILED\"}]"),
	    "no device never fires");
	/* The roll-up reads the health string as the rule does. */
	{
		static const struct {
			const char	*health, *rule, *rollup;
		} agree[] = {
			{ "\"\"", "none", "healthy" },
			{ "\"PASSED\"", "none", "healthy" },
			{ "\"OK\"", "none", "healthy" },
			{ "\"passed\"", "none", "healthy" },
			{ "\"FAILED\"", "critical", "broken" },
		};
		struct snapshot	 s;

		for (size_t i = 0; i < sizeof(agree) / sizeof(agree[0]); i++) {
			const char	*frag = SM(agree[i].health, "0");
			const char	*got = "bad snapshot";

			EXPECT(agree[i].rule, run(frag), "health %s: rule %s",
			    agree[i].health, agree[i].rule);
			if (build(&s, frag, NOW)) {
				got = health_disk_rollup(s.root);
				snapshot_free(&s);
			}
			EXPECT(agree[i].rollup, got, "health %s: roll-up %s",
			    agree[i].health, agree[i].rollup);
		}
	}
#undef SM
}

static void
test_nvme_wear_high(void)
{
	section(19, "nvme_wear_high");
#define WEAR(p)	f("\"smart\":[{\"device\":\"/dev/nvme0n1\"," \
	    "\"health\":\"PASSED\",\"percentage_used\":%s}]", p)
	EXPECT("info", run(WEAR("75")), "75%% is info");
	EXPECT("none", run(WEAR("74.9")), "74.9%% is fine");
	EXPECT("info", run(WEAR("75.1")), "75.1%% is info");
	EXPECT("warning", run(WEAR("85")), "85%% warns");
	EXPECT("info", run(WEAR("84.9")), "84.9%% is info");
	EXPECT("warning", run(WEAR("85.1")), "85.1%% warns");
	EXPECT("critical", run(WEAR("95")), "95%% is critical");
	EXPECT("warning", run(WEAR("94.9")), "94.9%% warns");
	EXPECT("critical", run(WEAR("95.1")), "95.1%% is critical");
	CHECK(title_has("/dev/nvme0n1 is 95.1% worn") &&
	    evidence_has("\"percentage_used\":95.1"), "title and evidence");
	EXPECT("info", run_ov(WEAR("60"), "{\"nvme_wear_high\":{\"info\":50}}"),
	    "override info 50: 60%% is info");
	EXPECT("none", run(WEAR("null")), "null never fires");
	EXPECT("none", run("\"smart\":[{\"percentage_used\":99}]"),
	    "no device never fires");
#undef WEAR
}

static void
test_raid_degraded(void)
{
	section(20, "raid_degraded");
#define MD(deg, failed, status) f("\"raid\":[{\"device\":\"md0\"," \
	    "\"level\":\"raid1\",\"status\":%s,\"degraded\":%s," \
	    "\"disks\":[\"sda1\",\"sdb1\"],\"failed_disks\":%s}]", \
	    status, deg, failed)
	EXPECT("critical", run(MD("true", "[]", "\"active\"")),
	    "a degraded array is critical");
	EXPECT("critical", run(MD("false", "[\"sdb1\"]", "\"active\"")),
	    "a failed disk is critical");
	CHECK(title_has("md0") && evidence_has("\"failed_disks\":[\"sdb1\"]"),
	    "title and evidence name the array and the disk");
	EXPECT("critical", run(MD("false", "[]", "\"clean, degraded\"")),
	    "a degraded status is critical");
	EXPECT("none", run(MD("false", "[]", "\"active\"")),
	    "a clean array is fine");
	EXPECT("critical", run_ov(MD("true", "[]", "\"active\""),
	    "{\"raid_degraded\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(MD("\"yes\"", "\"sdb1\"", "null")),
	    "string flags and lists never fire");
	EXPECT("none", run(MD("null", "null", "null")), "nulls never fire");
	EXPECT("none", run("\"raid\":[{\"degraded\":true}]"),
	    "no device never fires");
#undef MD
}

static void
test_zfs_pool_unhealthy(void)
{
	section(21, "zfs_pool_unhealthy");
#define POOL(st) f("\"zfs\":{\"pools\":[{\"name\":\"tank\",\"state\":%s," \
	    "\"errors_text\":\"No known data errors\"}]}", st)
	EXPECT("warning", run(POOL("\"DEGRADED\"")), "DEGRADED warns");
	CHECK(title_has("ZFS pool tank is DEGRADED") &&
	    evidence_has("\"state\":\"DEGRADED\""), "title and evidence");
	EXPECT("critical", run(POOL("\"FAULTED\"")), "FAULTED is critical");
	EXPECT("critical", run(POOL("\"UNAVAIL\"")), "UNAVAIL is critical");
	EXPECT("warning", run(POOL("\"SUSPENDED\"")), "other states warn");
	EXPECT("none", run(POOL("\"ONLINE\"")), "ONLINE is fine");
	EXPECT("critical", run_ov(POOL("\"FAULTED\""),
	    "{\"zfs_pool_unhealthy\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(POOL("\"UNKNOWN\"")),
	    "the agent's UNKNOWN (no state line) never fires");
	EXPECT("none", run(POOL("null")), "null never fires");
	EXPECT("none", run(POOL("3")), "a numeric state never fires");
	EXPECT("none", run("\"zfs\":{\"pools\":{\"tank\":\"FAULTED\"}}"),
	    "an object instead of a list never fires");
	EXPECT("none", run("\"zfs\":\"x\""), "a string block never fires");
#undef POOL
}

static void
test_zfs_scrub_errors(void)
{
	section(22, "zfs_scrub_errors");
#define SCRUB(n) f("\"zfs\":{\"pools\":[{\"name\":\"tank\",\"state\":" \
	    "\"ONLINE\",\"scrub_errors\":%s}]}", n)
	EXPECT("warning", run(SCRUB("1")), "one scrub error warns");
	EXPECT("warning", run(SCRUB("5")), "five warn");
	CHECK(title_has("5 errors in pool tank") &&
	    evidence_has("\"scrub_errors\":5"), "title and evidence");
	EXPECT("none", run(SCRUB("0")), "zero is fine");
	EXPECT("warning", run_ov(SCRUB("5"),
	    "{\"zfs_scrub_errors\":{\"warning\":9}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(SCRUB("null")), "null never fires");
	EXPECT("none", run(SCRUB("\"5\"")), "a string never fires");
#undef SCRUB
}

static void
test_interface_errors(void)
{
	section(23, "interface_errors");
#define NIC(e, p) f("\"network\":[{\"interface\":\"eth0\",\"rx_errors\":%s," \
	    "\"tx_errors\":0,\"rx_packets\":%s,\"tx_packets\":0}]", e, p)
#define NIC_UP(e, up) f("\"network\":[{\"interface\":\"eth0\"," \
	    "\"rx_errors\":%s}],\"system\":{\"uptime_seconds\":%s}", \
	    e, up)
	EXPECT("critical", run(NIC("100", "0")), "100 errors are critical");
	EXPECT("none", run(NIC("99", "0")), "99 errors alone are quiet");
	EXPECT("critical", run(NIC("101", "0")), "101 errors are critical");
	EXPECT("critical", run("\"network\":[{\"interface\":\"eth0\","
	    "\"rx_errors\":60,\"tx_errors\":40}]"), "rx and tx errors add up");
	CHECK(title_has("eth0") && evidence_has("\"rx_errors\":60"),
	    "title and evidence name the interface");
	EXPECT("critical", run(NIC("10", "10000")),
	    "0.1%% of 10k packets is critical");
	EXPECT("none", run(NIC("9", "5000")), "0.18%% with 9 errors is quiet");
	EXPECT("none", run(NIC("10", "9999")), "under 10k packets is quiet");
	EXPECT("none", run(NIC("10", "10001")), "0.09999%% is quiet");
	EXPECT("critical", run(NIC("11", "10001")), "0.10999%% is critical");
	EXPECT("warning", run_prev(NIC("1", "500"), NIC("1", "500"), 300),
	    "errors in two consecutive intervals warn");
	CHECK(evidence_has("\"previous_errors\":1"),
	    "evidence has the earlier count");
	EXPECT("none", run_prev(NIC("5", "500"), NIC("0", "500"), 300),
	    "errors in one interval only are quiet");
	EXPECT("none", run(NIC("5", "500")), "no previous snapshot: quiet");
	EXPECT("none", run_prev(NIC_UP("5", "500"), NIC_UP("5", "100000"), 300),
	    "a reboot in between breaks the sequence");
	EXPECT("none", run_prev(NIC_UP("5", "419"), NIC_UP("5", "119"), 300),
	    "a previous interval inside the grace does not count");
	EXPECT("warning", run_prev(NIC_UP("5", "420"), NIC_UP("5", "120"), 300),
	    "a previous interval at the end of the grace counts");
	EXPECT("skipped", run(NIC_UP("500", "119")),
	    "inside the 120 s grace: skipped");
	EXPECT("critical", run(NIC_UP("500", "120")),
	    "at the end of the grace: fires");
	EXPECT("critical", run(NIC_UP("500", "121")),
	    "just past the grace: fires");
	EXPECT("none", run("\"network\":[{\"interface\":\"lo\","
	    "\"rx_errors\":500}]"),
	    "loopback is skipped");
	EXPECT("critical", run_ov(NIC("60", "0"),
	    "{\"interface_errors\":{\"critical_errors\":50}}"),
	    "override critical_errors 50: 60 is critical");
	EXPECT("critical", run_ov(NIC_UP("500", "10"),
	    "{\"interface_errors\":{\"grace_seconds\":0}}"),
	    "override grace_seconds 0: evaluated at once");
	EXPECT("none", run(NIC("null", "null")), "null counts never fire");
	EXPECT("none", run("\"network\":[{\"rx_errors\":500}]"),
	    "no interface name never fires");
	EXPECT("none", run_prev(NIC("1", "500"), "\"network\":null", 300),
	    "a previous snapshot without a network block is no history");
#undef NIC
#undef NIC_UP
}

static void
test_link_speed_mismatch(void)
{
	section(24, "link_speed_mismatch");
#define LINK(name, sp, st) f("\"network\":[{\"interface\":\"%s\"," \
	    "\"speed_mbps\":%s,\"operstate\":%s}]", name, sp, st)
	EXPECT("warning", run(LINK("eth0", "100", "\"up\"")),
	    "100 Mbit/s warns");
	CHECK(title_has("eth0 links at 100 Mbit/s") &&
	    evidence_has("\"speed_mbps\":100"), "title and evidence");
	EXPECT("none", run(LINK("eth0", "1000", "\"up\"")), "1000 is fine");
	EXPECT("warning", run(LINK("eth0", "999", "\"up\"")), "999 warns");
	EXPECT("none", run(LINK("eth0", "1001", "\"up\"")), "1001 is fine");
	EXPECT("none", run(LINK("eth0", "0", "\"up\"")),
	    "speed 0 (virtio: unknown) is skipped (the fixture)");
	EXPECT("none", run(LINK("eth0", "-1", "\"up\"")),
	    "speed -1 is skipped");
	EXPECT("none", run(LINK("eth0", "100", "\"down\"")),
	    "a down link is skipped");
	EXPECT("warning", run("\"network\":[{\"interface\":\"eno1\","
	    "\"speed_mbps\":100}]"), "no operstate: a known speed means up");
	EXPECT("none", run(LINK("tun0", "10", "\"up\"")),
	    "virtual interfaces' speeds are placeholders");
	EXPECT("warning", run_ov(LINK("eth0", "1000", "\"up\""),
	    "{\"link_speed_mismatch\":{\"min_mbps\":10000}}"),
	    "override min_mbps 10000: 1000 warns");
	EXPECT("none", run(LINK("eth0", "null", "\"up\"")),
	    "null speed never fires");
	EXPECT("none", run(LINK("eth0", "100", "5")),
	    "a numeric operstate is not up");
	EXPECT("warning", run(LINK("eth0", "100", "null")),
	    "a null operstate is unknown, like a missing one");
#undef LINK
}

static void
test_interface_saturation(void)
{
	section(25, "interface_saturation");
#define SAT(rx, tx) \
	f("\"network\":[{\"interface\":\"eth0\",\"speed_mbps\":1000," \
	    "\"rx_bytes_sec\":%s,\"tx_bytes_sec\":%s}]", rx, tx)
	EXPECT("warning", run(SAT("112500000", "0")), "90%% of the line warns");
	EXPECT("none", run(SAT("112000000", "0")), "89.6%% is fine");
	EXPECT("warning", run(SAT("113000000", "0")), "90.4%% warns");
	EXPECT("warning", run(SAT("0", "125000000")), "tx counts too");
	CHECK(title_has("eth0 is 100% utilised") &&
	    evidence_has("\"utilization_percent\":100"), "title and evidence");
	EXPECT("warning", run_ov(SAT("70000000", "0"),
	    "{\"interface_saturation\":{\"warning\":50}}"),
	    "override warning 50: 56%% warns");
	EXPECT("none", run("\"network\":[{\"interface\":\"eth0\","
	    "\"speed_mbps\":0,\"rx_bytes_sec\":9e9}]"),
	    "unknown speed is skipped");
	EXPECT("none", run(SAT("null", "null")), "null rates never fire");
#undef SAT
}

static void
test_cpu_temperature_high(void)
{
	section(26, "cpu_temperature_high");
#define TMAX(t)	f("\"thermal\":{\"available\":true,\"source\":\"hwmon\"," \
	    "\"max_cpu_celsius\":%s}", t)
#define BMC(name, unit, v, uc) f("\"ipmi\":{\"available\":true,\"sensors\":" \
	    "[{\"name\":\"%s\",\"unit\":\"%s\",\"value\":%s," \
	    "\"status\":\"ok\",\"upper_critical\":%s}]}", \
	    name, unit, v, uc)
	EXPECT("warning", run(TMAX("80")), "80 C warns");
	EXPECT("none", run(TMAX("79.9")), "79.9 C is fine");
	EXPECT("warning", run(TMAX("80.1")), "80.1 C warns");
	EXPECT("critical", run(TMAX("90")), "90 C is critical");
	EXPECT("warning", run(TMAX("89.9")), "89.9 C warns");
	EXPECT("critical", run(TMAX("90.1")), "90.1 C is critical");
	CHECK(title_has("90.1") && evidence_has("\"celsius\":90.1") &&
	    evidence_has("\"path\":\"thermal\""), "title and evidence");
	EXPECT("warning", run("\"thermal\":{\"max_cpu_celsius\":null,"
	    "\"cpu_readings\":[{\"chip\":\"coretemp-isa-0000\",\"label\":"
	    "\"Package id 0\",\"celsius\":85}]}"),
	    "readings of the {chip,label,celsius} shape");
	CHECK(evidence_has("\"sensor\":\"Package id 0\""),
	    "evidence names the sensor");
	EXPECT("critical", run("\"thermal\":{\"cpu_readings\":[{\"label\":"
	    "\"k10temp Tctl\",\"value_celsius\":91,\"source_chip\":\"k10temp\","
	    "\"source\":\"hwmon\"},{\"label\":\"x\",\"value_celsius\":40}]}"),
	    "readings of the agent's {label,value_celsius} shape");
	EXPECT("warning", run(BMC("CPU1 Temp", "C", "85", "100")),
	    "IPMI: upper critical 100 - 15 = 85 warns");
	EXPECT("none", run(BMC("CPU1 Temp", "C", "84.9", "100")),
	    "IPMI: 84.9 is fine");
	EXPECT("critical", run(BMC("CPU1 Temp", "degrees C", "95", "100")),
	    "IPMI: upper critical 100 - 5 = 95 is critical");
	EXPECT("warning", run(BMC("CPU1 Temp", "C", "94.9", "100")),
	    "IPMI: 94.9 warns");
	CHECK(evidence_has("\"path\":\"ipmi\"") && title_has("CPU1 Temp"),
	    "the BMC path is named");
	EXPECT("warning", run(BMC("CPU0 Temp", "C", "80", "null")),
	    "IPMI without a limit: 80 warns");
	EXPECT("none", run(BMC("CPU_FAN", "RPM", "100", "3000")),
	    "a CPU fan is not a temperature");
	EXPECT("none", run(BMC("CPU_VDDCR0", "Volts", "1.5", "1.578")),
	    "a CPU voltage is not a temperature");
	EXPECT("none", run(BMC("CPU Inlet Temp", "C", "99", "null")),
	    "inlet sensors are not the CPU");
	EXPECT("warning",
	    run("\"ipmi\":{\"sensors\":[{\"name\":\"Processor 1\","
	    "\"type\":\"temperature\",\"value\":82}]}"),
	    "type temperature is enough");
	EXPECT("none", run("\"thermal\":{\"max_cpu_celsius\":60},\"ipmi\":"
	    "{\"sensors\":[{\"name\":\"CPU1 Temp\",\"unit\":\"C\",\"value\":99}"
	    "]}"),
	    "hwmon wins over the BMC");
	EXPECT("skipped", run(f("%s,\"system\":{\"uptime_seconds\":59}",
	    TMAX("99"))), "inside the 60 s grace: skipped");
	EXPECT("critical", run(f("%s,\"system\":{\"uptime_seconds\":60}",
	    TMAX("99"))), "at the end of the grace: fires");
	EXPECT("warning", run_ov(TMAX("75"),
	    "{\"cpu_temperature_high\":{\"warning\":70}}"),
	    "override warning 70: 75 C warns");
	EXPECT("warning", run_ov(BMC("CPU1 Temp", "C", "81", "100"),
	    "{\"cpu_temperature_high\":{\"ipmi_warning_margin\":20}}"),
	    "override ipmi_warning_margin 20: 81 of 100 warns");
	EXPECT("none", run("\"thermal\":{\"max_cpu_celsius\":null,"
	    "\"cpu_readings\":[]}"), "null and no readings never fire");
	EXPECT("none", run(TMAX("200")), "an absurd reading is not measured");
	EXPECT("none", run("\"thermal\":{\"cpu_readings\":["
	    "{\"celsius\":\"hot\"},null,7]}"),
	    "wrong-typed readings never fire");
	EXPECT("none", run(BMC("CPU1 Temp", "C", "\"na\"", "100")),
	    "a string BMC value never fires");
#undef TMAX
#undef BMC
}

static void
test_ecc_errors(void)
{
	struct rule_history	 h = { NULL, 0, 5 };

	section(27, "ecc_errors");
#define ECC(c, u) f("\"ipmi\":{\"ecc_errors\":{\"correctable\":%s," \
	    "\"uncorrectable\":%s}}", c, u)
	EXPECT("critical", run(ECC("0", "1")), "one uncorrectable is critical");
	CHECK(title_has("1 uncorrectable") &&
	    evidence_has("\"uncorrectable\":1"),
	    "title and evidence");
	EXPECT("none", run(ECC("0", "0")), "zero is fine");
	EXPECT("critical", run("\"ipmi\":{\"ecc_errors\":{\"correctable\":0,"
	    "\"uncorrectable\":0},"
	    "\"ecc_errors_from_sel\":{\"correctable\":null,"
	    "\"uncorrectable\":2}}"),
	    "SEL-derived uncorrectable counts (Dell)");
	EXPECT("critical", run("\"ecc_edac\":{\"edac_uncorrected_total\":1}"),
	    "EDAC uncorrectable counts");
	EXPECT("warning", run_hist(ECC("15", "0"), &h),
	    "10 correctable within 24 h warn");
	CHECK(evidence_has("\"correctable_increase\":10"),
	    "evidence has the rise");
	EXPECT("none", run_hist(ECC("14", "0"), &h), "9 within 24 h are fine");
	EXPECT("warning", run_hist(ECC("16", "0"), &h), "11 within 24 h warn");
	h.ecc_corr_24h_ago = 50;
	EXPECT("warning", run_hist(ECC("12", "0"), &h),
	    "a count that went down was cleared: all 12 are new");
	h.ecc_corr_24h_ago = 5;
	EXPECT("none", run_ov(ECC("9", "0"),
	    "{\"ecc_errors\":{\"correctable_warning\":3}}"),
	    "without history even a lowered threshold cannot judge a rate");
	EXPECT("warning", eval_full(sec_rule, ECC("9", "0"), NULL, 0,
	    "{\"ecc_errors\":{\"correctable_warning\":3}}", &h),
	    "override correctable_warning 3: 4 within 24 h warn");
	EXPECT("none", run_hist(ECC("1000", "0"), NULL),
	    "no history: the correctable rate is unknown");
	h.ecc_corr_24h_ago = NAN;
	EXPECT("none", run_hist(ECC("1000", "0"), &h),
	    "a NAN baseline: the rate is unknown");
	h.ecc_corr_24h_ago = 5;
	EXPECT("none", run_hist("\"ipmi\":{\"ecc_errors\":null}", &h),
	    "null counts never fire (the fixture)");
	EXPECT("none", run_hist(ECC("null", "null"), &h),
	    "null fields never fire");
#undef ECC
}

static void
test_psu_redundancy_loss(void)
{
	section(28, "psu_redundancy_loss");
#define PSU(s1, v1, s2, v2) f("\"ipmi\":{\"available\":true,\"sensors\":[" \
	    "{\"name\":\"PSU1 Status\",\"unit\":\"discrete\"," \
	    "\"status\":%s,\"value\":%s},{\"name\":\"PSU2 Status\"," \
	    "\"unit\":\"discrete\",\"status\":%s,\"value\":%s}]}", \
	    s1, v1, s2, v2)
	EXPECT("critical", run(PSU("\"ok\"", "1", "\"cr\"", "0")),
	    "one of two PSUs critical");
	CHECK(title_has("PSU2 Status") &&
	    evidence_has("\"name\":\"PSU2 Status\""),
	    "title and evidence name the supply");
	EXPECT("none", run(PSU("\"ok\"", "1", "\"ok\"", "1")), "both healthy");
	EXPECT("critical", run(PSU("\"ok\"", "\"present\"", "\"fail\"",
	    "\"fail\"")), "a fail status");
	EXPECT("critical", run(PSU("\"0x0180\"", "\"0x1\"", "\"0x0180\"",
	    "\"0x3\"")), "the failure bit of a discrete reading");
	EXPECT("critical", run(PSU("\"0x0180\"", "\"0x1\"", "\"0x0180\"",
	    "\"0x9\"")), "the input-lost bit of a discrete reading");
	EXPECT("none", run(PSU("\"0x0180\"", "\"0x1\"", "\"0x0180\"",
	    "\"0x1\"")),
	    "presence only is healthy");
	EXPECT("none", run("\"ipmi\":{\"sensors\":[{\"name\":\"PSU1 Status\","
	    "\"status\":\"cr\"}]}"), "a lone supply is not redundancy");
	EXPECT("critical",
	    run("\"ipmi\":{\"sensors\":[{\"name\":\"PS1_Status\","
	    "\"status\":\"ok\"},{\"name\":\"PS2_Status\",\"status\":\"nr\"}]}"),
	    "PS<N>_Status names (Gigabyte)");
	EXPECT("critical", run("\"ipmi\":{\"psu_redundancy_state\":"
	    "\"redundancy_lost\",\"sensors\":[]}"), "Dell's aggregate state");
	EXPECT("none", run("\"ipmi\":{\"psu_redundancy_state\":"
	    "\"fully_redundant\",\"sensors\":[{\"name\":\"PS1 Status\","
	    "\"status\":\"ok\"},{\"name\":\"PS2 Status\",\"status\":\"cr\"}]}"),
	    "Dell's fully_redundant is the authority");
	EXPECT("critical", run_ov(PSU("\"ok\"", "1", "\"cr\"", "0"),
	    "{\"psu_redundancy_loss\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run("\"ipmi\":{\"sensors\":[{\"name\":null,\"status\":"
	    "\"cr\"},{\"name\":5,\"status\":\"cr\"}]}"),
	    "unnamed sensors never fire");
	EXPECT("none", run("\"ipmi\":{\"sensors\":\"PSU1 cr\"}"),
	    "a string list never fires");
	EXPECT("none", run(PSU("null", "null", "null", "null")),
	    "null statuses never fire");
#undef PSU
}

static void
test_ipmi_fan_failure(void)
{
	section(29, "ipmi_fan_failure");
#define FAN(rpm, st) f("\"ipmi\":{\"fans\":[{\"name\":\"FAN1\",\"rpm\":%s," \
	    "\"status\":%s},{\"name\":\"FAN2\",\"rpm\":5000," \
	    "\"status\":\"ok\"}]}", rpm, st)
	EXPECT("critical", run(FAN("0", "\"critical\"")), "a critical fan");
	CHECK(title_has("1 of 2 fans") && evidence_has("\"name\":\"FAN1\""),
	    "title and evidence");
	EXPECT("critical", run(FAN("4000", "\"critical\"")),
	    "critical status at speed still fires");
	EXPECT("critical", run(FAN("0", "\"warning\"")), "0 rpm, not absent");
	EXPECT("critical", run(FAN("0", "\"cr\"")), "raw cr status");
	EXPECT("none", run(FAN("0", "\"absent\"")), "an absent fan bay");
	EXPECT("none", run(FAN("0", "\"ok\"")),
	    "0 rpm that the BMC calls ok is a discrete sensor");
	EXPECT("none", run(FAN("1", "\"warning\"")), "1 rpm with a warning");
	EXPECT("critical", run_ov(FAN("0", "\"critical\""),
	    "{\"ipmi_fan_failure\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(FAN("null", "\"warning\"")), "null rpm never fires");
	EXPECT("none", run(FAN("null", "null")),
	    "null rpm and status never fire");
	EXPECT("none", run("\"ipmi\":{\"fans\":{\"FAN1\":0}}"),
	    "an object instead of a list never fires");
#undef FAN
}

/* One SEL event days ago (plus seconds) in the agent's shape. */
static const char *
sel(double days, int plus, const char *dir, const char *severity)
{
	char	 ts[ISO_MAX];

	iso_format(ts, NOW - (int64_t)(days * DAY) + plus);
	return f("{\"id\":1,\"timestamp\":\"%s\",\"sensor\":\"DIMM_A1\","
	    "\"sensor_type\":\"memory\",\"event\":\"Uncorrectable ECC\","
	    "\"direction\":\"%s\",\"severity\":\"%s\"}", ts, dir, severity);
}

static void
test_ipmi_sel_critical(void)
{
	char	 ts[ISO_MAX], key[200];

	section(30, "ipmi_sel_critical");
#define SEL1(e)	f("\"ipmi\":{\"available\":true,\"sel_events_recent\":[%s]}", e)
#define SEL2(a, b) f("\"ipmi\":{\"sel_events_recent\":[%s,%s]}", a, b)
	EXPECT("critical", run(SEL1(sel(2, 0, "Asserted", "critical"))),
	    "a critical event two days ago");
	iso_format(ts, NOW - 2 * DAY);
	snprintf(key, sizeof(key), "%s|DIMM_A1|Uncorrectable ECC", ts);
	CHECK(occurrences() == 1 && strcmp(occurrence(0), key) == 0,
	    "one occurrence keyed timestamp|sensor|event");
	CHECK(title_has("DIMM_A1: Uncorrectable ECC") &&
	    evidence_has("\"age_days\":2"), "title and evidence");
	EXPECT("critical", run(SEL1(sel(30, 0, "Asserted", "critical"))),
	    "exactly 30 days ago is inside the window");
	EXPECT("none", run(SEL1(sel(30, -1, "Asserted", "critical"))),
	    "30 days and a second ago is outside");
	EXPECT("critical", run(SEL1(sel(30, 1, "Asserted", "critical"))),
	    "a second under 30 days is inside");
	EXPECT("critical", run_ov(SEL1(sel(45, 0, "Asserted", "critical")),
	    "{\"ipmi_sel_critical\":{\"window_days\":60}}"),
	    "override window_days 60: 45 days ago fires");
	EXPECT("none", run(SEL1(sel(2, 0, "Deasserted", "critical"))),
	    "a deassertion is not an event");
	EXPECT("none", run(SEL1(sel(2, 0, "Asserted", "warning"))),
	    "a warning event is not critical");
	EXPECT("critical", run(SEL2(sel(2, 0, "Asserted", "critical"),
	    sel(3, 0, "Asserted", "critical"))), "two events");
	CHECK(occurrences() == 2 && title_has("2 critical events"),
	    "two occurrences");
	EXPECT("none", run(SEL2(sel(2, 0, "Asserted", "critical"),
	    sel(2, 1, "Deasserted", "critical"))),
	    "asserted and deasserted within a second is a glitch");
	EXPECT("critical", run(SEL2(sel(2, 0, "Asserted", "critical"),
	    sel(2, 120, "Deasserted", "critical"))),
	    "deasserted two minutes later is a real fault");
	EXPECT("critical", run(SEL1("{\"timestamp\":\"2027-01-10T00:00:00Z\","
	    "\"sensor\":\"PS1\",\"event\":\"AC lost\","
	    "\"severity\":\"critical\"}")),
	    "a missing direction is the agent's default, Asserted");
	EXPECT("none", run(SEL1("{\"timestamp\":\"not-a-date\","
	    "\"sensor\":\"PS1\","
	    "\"event\":\"AC lost\",\"direction\":\"Asserted\","
	    "\"severity\":\"critical\"}")),
	    "an unparseable timestamp never fires");
	EXPECT("none", run(SEL1("{\"timestamp\":null,\"sensor\":\"PS1\","
	    "\"event\":\"AC lost\",\"severity\":\"critical\"}")),
	    "a null timestamp never fires");
	EXPECT("none", run(SEL1("{\"timestamp\":\"2027-01-10T00:00:00Z\","
	    "\"sensor\":5,\"event\":\"AC lost\",\"severity\":\"critical\"}")),
	    "a numeric sensor never fires");
	EXPECT("none", run("\"ipmi\":{\"sel_events_recent\":{}}"),
	    "an object instead of a list never fires");
	EXPECT("none", run(SEL1("null,1,\"x\"")), "non-objects never fire");
#undef SEL1
#undef SEL2
}

static void
test_ipmi_sel_full(void)
{
	section(31, "ipmi_sel_full");
#define SELN(n)	f("\"ipmi\":{\"available\":true,\"sel_entries_count\":%s}", n)
	EXPECT("warning", run(SELN("3000")), "3000 entries warn");
	EXPECT("none", run(SELN("2999")), "2999 are fine");
	EXPECT("warning", run(SELN("3001")), "3001 warn");
	CHECK(title_has("3001 entries") &&
	    evidence_has("\"sel_entries_count\":3001"),
	    "title and evidence");
	EXPECT("warning", run_ov(SELN("1500"),
	    "{\"ipmi_sel_full\":{\"warning\":1000}}"),
	    "override warning 1000: 1500 warn");
	EXPECT("none", run(SELN("null")), "null never fires (the fixture)");
	EXPECT("none", run("\"ipmi\":null"), "a null block never fires");
#undef SELN
}

static void
test_cmos_battery_low(void)
{
	section(32, "cmos_battery_low");
#define BAT(name, unit, v) f("\"ipmi\":{\"sensors\":[{\"name\":\"%s\"," \
	    "\"unit\":\"%s\",\"value\":%s,\"status\":\"ok\"}]}", \
	    name, unit, v)
	EXPECT("warning", run(BAT("P_VBAT", "Volts", "2.45")), "2.45 V warns");
	CHECK(title_has("P_VBAT") && evidence_has("\"volts\":2.45"),
	    "title and evidence");
	EXPECT("none", run(BAT("VBAT", "Volts", "2.6")), "2.6 V is fine");
	EXPECT("warning", run(BAT("CMOS_BAT", "Volts", "2.59")),
	    "2.59 V warns");
	EXPECT("none", run(BAT("CMOS Battery", "Volts", "2.61")),
	    "2.61 V is fine");
	EXPECT("none", run(BAT("P_VBAT_SCALED", "Volts", "1.55")),
	    "divided-down _SCALED readings are skipped");
	EXPECT("none", run(BAT("P_1V05_PCH", "Volts", "1.05")),
	    "other low rails are not batteries");
	EXPECT("none", run(BAT("VBAT_STATE", "discrete", "0")),
	    "a discrete battery sensor is not a voltage");
	EXPECT("warning", run_ov(BAT("VBAT", "Volts", "2.9"),
	    "{\"cmos_battery_low\":{\"warning_volts\":3}}"),
	    "override warning_volts 3: 2.9 V warns");
	EXPECT("none", run(BAT("VBAT", "Volts", "\"na\"")),
	    "a string reading never fires");
	EXPECT("none", run(BAT("VBAT", "Volts", "null")), "null never fires");
#undef BAT
}

static void
test_ssh_root_password(void)
{
	section(33, "ssh_root_password");
#define SSH(x)	f("\"security\":{\"ssh\":%s}", x)
	EXPECT("warning", run(SSH("{\"permitRootLogin\":\"yes\","
	    "\"passwordAuthentication\":\"yes\","
	    "\"rootPasswordExposed\":true}")),
	    "rootPasswordExposed warns");
	CHECK(evidence_has("\"permitRootLogin\":\"yes\""),
	    "evidence has the settings");
	EXPECT("none", run(SSH("{\"permitRootLogin\":\"prohibit-password\","
	    "\"passwordAuthentication\":\"yes\","
	    "\"rootPasswordExposed\":false}")),
	    "key-only root login is fine");
	EXPECT("warning", run(SSH("{\"permitRootLogin\":\"yes\","
	    "\"passwordAuthentication\":\"yes\"}")),
	    "without the flag, both settings yes warns");
	EXPECT("none", run(SSH("{\"permitRootLogin\":\"no\","
	    "\"passwordAuthentication\":\"yes\"}")),
	    "without the flag, root login off is fine");
	EXPECT("warning", run_ov(SSH("{\"rootPasswordExposed\":true}"),
	    "{\"ssh_root_password\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(SSH("null")), "ssh null never fires (the fixture)");
	EXPECT("none", run(SSH("{\"rootPasswordExposed\":\"true\"}")),
	    "a string flag never fires");
	EXPECT("none", run("\"security\":\"hardened\""),
	    "a string security block never fires");
#undef SSH
}

static void
test_no_firewall(void)
{
	section(34, "no_firewall");
#define FW(a)	f("\"security\":{\"firewall\":{\"active\":%s,\"source\":" \
	    "\"none\",\"details\":\"No firewall detected\"}}", a)
	EXPECT("warning", run(FW("false")), "inactive warns");
	CHECK(evidence_has("\"source\":\"none\"") &&
	    strstr(last.message, "No firewall detected") != NULL,
	    "evidence and message carry the agent's account");
	EXPECT("none", run(FW("true")), "active is fine");
	EXPECT("warning", run_ov(FW("false"),
	    "{\"no_firewall\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(FW("null")), "null (could not tell) never fires");
	EXPECT("none", run(FW("\"false\"")), "a string never fires");
	EXPECT("none", run("\"security\":{}"), "no firewall block never fires");
	EXPECT("none", run("\"security\":{\"firewall\":[]}"),
	    "a list never fires");
#undef FW
}

static void
test_pending_security_updates(void)
{
	section(35, "pending_security_updates");
#define PEND(n, avail, conf) \
	f("\"security\":{\"pending_updates\":{\"distro\":" \
	    "\"debian\",\"pendingCount\":%s,\"available\":%s}," \
	    "\"auto_updates\":{\"configured\":%s}}", n, avail, conf)
	EXPECT("warning", run(PEND("82", "true", "false")),
	    "82 pending without auto-updates warns");
	CHECK(title_has("82 updates pending") &&
	    evidence_has("\"pendingCount\":82"),
	    "title and evidence");
	EXPECT("warning", run(PEND("1", "true", "false")), "one pending warns");
	EXPECT("none", run(PEND("0", "true", "false")), "none pending is fine");
	EXPECT("none", run(PEND("82", "true", "true")),
	    "auto-updates will apply them: quiet");
	EXPECT("none", run(PEND("82", "false", "false")),
	    "available false (unknown distro) never fires");
	EXPECT("warning", run("\"security\":{\"pending_updates\":{"
	    "\"pending_count\":3},\"auto_updates\":{\"configured\":false}}"),
	    "pending_count is accepted");
	EXPECT("warning", run_ov(PEND("82", "true", "false"),
	    "{\"pending_security_updates\":{\"warning\":100}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(PEND("82", "true", "null")),
	    "unknown auto-update state never fires");
	EXPECT("none",
	    run("\"security\":{\"pending_updates\":{\"pendingCount\":5}}"),
	    "no auto-update block never fires");
	EXPECT("none", run(PEND("null", "true", "false")),
	    "null count never fires");
	EXPECT("none", run(PEND("\"82\"", "true", "false")),
	    "a string count never fires");
#undef PEND
}

static void
test_unattended_upgrades_disabled(void)
{
	section(36, "unattended_upgrades_disabled");
#define AU(c)	f("\"security\":{\"auto_updates\":{\"configured\":%s," \
	    "\"mechanism\":\"none\",\"details\":\"Nothing\"}}", c)
	EXPECT("warning", run(AU("false")), "not configured warns");
	CHECK(evidence_has("\"mechanism\":\"none\""),
	    "evidence has the mechanism");
	EXPECT("none", run(AU("true")), "configured is fine");
	EXPECT("warning", run_ov(AU("false"),
	    "{\"unattended_upgrades_disabled\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run(AU("null")), "null never fires");
	EXPECT("none", run(AU("0")), "a number never fires");
	EXPECT("none", run("\"security\":{\"auto_updates\":\"off\"}"),
	    "a string block never fires");
#undef AU
}

static void
test_kernel_vulnerabilities(void)
{
	section(37, "kernel_vulnerabilities");
#define VULN(x)	f("\"security\":{\"kernel_vulns\":[{\"name\":\"mds\"," \
	    "\"status\":\"Not affected\",\"mitigated\":true},%s]}", x)
	EXPECT("warning", run(VULN("{\"name\":\"spec_store_bypass\","
	    "\"status\":\"Vulnerable\",\"mitigated\":false}")),
	    "an unmitigated vulnerability warns");
	CHECK(title_has("spec_store_bypass") && evidence_has("\"total\":2") &&
	    evidence_has("\"status\":\"Vulnerable\""), "title and evidence");
	EXPECT("none", run(VULN("{\"name\":\"l1tf\","
	    "\"status\":\"Mitigation: PTE Inversion\",\"mitigated\":true}")),
	    "all mitigated is fine");
	EXPECT("warning", run(VULN("{\"name\":\"retbleed\","
	    "\"status\":\"Vulnerable: no microcode\"}")),
	    "without the flag, a Vulnerable status warns");
	EXPECT("none", run(VULN("{\"name\":\"retbleed\","
	    "\"status\":\"Mitigation: untrained return thunk\"}")),
	    "without the flag, a Mitigation status is fine");
	EXPECT("warning", run_ov(VULN("{\"name\":\"x\",\"mitigated\":false}"),
	    "{\"kernel_vulnerabilities\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run("\"security\":{\"kernel_vulns\":[]}"),
	    "an empty list never fires");
	EXPECT("none", run(VULN("{\"mitigated\":false}")),
	    "an unnamed entry never fires");
	EXPECT("none", run(VULN("{\"name\":\"x\",\"mitigated\":\"no\"}")),
	    "a string flag without a status never fires");
	EXPECT("none", run(VULN("null,7")), "non-objects never fire");
	EXPECT("none", run("\"security\":{\"kernel_vulns\":\"many\"}"),
	    "a string list never fires");
#undef VULN
}

static void
test_kernel_needs_reboot(void)
{
	section(38, "kernel_needs_reboot");
#define KR(r, i, n) f("\"security\":{\"kernel_reboot\":{\"running\":%s," \
	    "\"installed\":%s,\"needsReboot\":%s}}", r, i, n)
	EXPECT("warning", run(KR("\"6.8.0-124-generic\"",
	    "\"6.8.0-136-generic\"",
	    "true")), "a newer kernel installed warns");
	CHECK(title_has("6.8.0-136-generic") &&
	    evidence_has("\"running\":\"6.8.0-124-generic\""),
	    "title and evidence");
	EXPECT("none", run(KR("\"6.8.0-136-generic\"", "\"6.8.0-136-generic\"",
	    "false")), "up to date is fine");
	EXPECT("none", run(KR("\"6.10.0-1\"", "\"6.8.0-9\"", "true")),
	    "running newer than any package: a reboot cannot help");
	EXPECT("none", run(KR("\"6.1.0-27-amd64\"", "\"6.1.0-27-amd64\"",
	    "true")),
	    "equal versions: nothing to reboot into");
	EXPECT("warning", run(KR("\"unknown\"", "\"unknown\"", "true")),
	    "unparseable versions: the agent's word");
	EXPECT("warning", run(KR("\"6.1.0-26-amd64\"", "\"6.1.0-27-amd64\"",
	    "null")), "no flag: versions decide");
	EXPECT("warning", run_ov(KR("\"6.1.0-26\"", "\"6.1.0-27\"", "true"),
	    "{\"kernel_needs_reboot\":{\"warning\":1}}"),
	    "an override of a key it lacks changes nothing");
	EXPECT("none", run("\"security\":{\"kernel_reboot\":null}"),
	    "null never fires (the fixture)");
	EXPECT("none", run(KR("null", "null", "\"yes\"")),
	    "a string flag and no versions never fire");
#undef KR
}

static void
test_unexpected_reboot(void)
{
	const char	*prev_week = "\"system\":{\"uptime_seconds\":604800}";
	char		 key[64], ts[ISO_MAX];

	section(39, "unexpected_reboot");
#define UP(s)	f("\"system\":{\"uptime_seconds\":%s}", s)
	EXPECT("warning", run_prev(UP("120"), prev_week, 300),
	    "up 2 minutes after a week is a reboot");
	iso_format(ts, NOW);
	snprintf(key, sizeof(key), "boot:%s", ts);
	CHECK(occurrences() == 1 && strcmp(occurrence(0), key) == 0,
	    "one occurrence keyed by the boot time to 10 minutes");
	CHECK(evidence_has("\"previous_uptime_seconds\":604800") &&
	    title_has("rebooted"), "title and evidence");
	EXPECT("warning", run_prev(UP("150"), prev_week, 300),
	    "30 s of jitter...");
	CHECK(occurrences() == 1 && strcmp(occurrence(0), key) == 0,
	    "...is the same occurrence");
	EXPECT("warning", run_prev(UP("599"), prev_week, 300),
	    "599 s is recent");
	EXPECT("none", run_prev(UP("600"), prev_week, 300), "600 s is not");
	EXPECT("none", run_prev(UP("601"), prev_week, 300), "601 s is not");
	EXPECT("warning", run_prev(UP("299"), UP("300"), 300),
	    "just under half of previous + elapsed");
	EXPECT("none", run_prev(UP("300"), UP("300"), 300),
	    "exactly half is not a reboot");
	EXPECT("none", run_prev(UP("400"), UP("100"), 300),
	    "the normal progression after a boot");
	EXPECT("none", run(UP("120")), "no previous snapshot never fires");
	EXPECT("none", run_prev(f("%s,\"expected_reboot\":true", UP("120")),
	    prev_week, 300), "an announced reboot (expected_reboot) is quiet");
	EXPECT("warning", run_prev(f("%s,\"expected_reboot\":false", UP("120")),
	    prev_week, 300), "expected_reboot false is no announcement");
	EXPECT("none", run_prev(f("%s,"
	    "\"expected_reboot\":{\"reason\":\"patch\"}",
	    UP("120")), prev_week, 300), "an announcement object is accepted");
	EXPECT("none", eval_full(sec_rule, UP("120"), prev_week, 300,
	    "{\"unexpected_reboot\":{\"max_uptime_seconds\":100}}", NULL),
	    "override max_uptime_seconds 100: 120 s is not recent");
	EXPECT("none", run_prev(UP("null"), prev_week, 300),
	    "null uptime never fires");
	EXPECT("none", run_prev(UP("120"), UP("null"), 300),
	    "null previous uptime never fires");
	EXPECT("none", run_prev(UP("120"), prev_week, -300),
	    "a previous snapshot from the future never fires");
#undef UP
}

static void
test_gpu_temperature_high(void)
{
	section(40, "gpu_temperature_high");
#define GPU(t)	f("\"gpu\":{\"available\":true,\"devices\":[{\"index\":0," \
	    "\"name\":\"NVIDIA L4\",\"temperature_c\":%s}]}", t)
	EXPECT("warning", run(GPU("85")), "85 C warns");
	CHECK(title_has("GPU 0 NVIDIA L4") && evidence_has("\"celsius\":85"),
	    "title and evidence");
	EXPECT("none", run(GPU("84.9")), "84.9 C is fine");
	EXPECT("warning", run(GPU("85.1")), "85.1 C warns");
	EXPECT("critical", run(GPU("92")), "92 C is critical");
	EXPECT("warning", run(GPU("91.9")), "91.9 C warns");
	EXPECT("critical", run(GPU("92.1")), "92.1 C is critical");
	EXPECT("critical", run("\"gpu\":{\"available\":true,\"tier1\":{"
	    "\"available\":true,\"gpus\":[{\"index\":1,\"name\":\"H100\","
	    "\"temp_c\":93}]}}"), "the agent's gpu.tier1.gpus[].temp_c");
	EXPECT("warning", run_ov(GPU("82"),
	    "{\"gpu_temperature_high\":{\"warning\":80}}"),
	    "override warning 80: 82 C warns");
	EXPECT("none", run(GPU("null")), "null never fires");
	EXPECT("none", run("\"gpu\":{\"tier1\":{\"gpus\":[{\"temp_c\":\"hot\"}]"
	    "}}"),
	    "a string temperature never fires");
	EXPECT("none", run("\"gpu\":\"none\""), "a string block never fires");
#undef GPU
}

/* Snapshots that hold nothing a rule can use: nothing must fire. */
static const char *const junk[] = {
	/* the bare minimum */
	"\"system\":{}",
	/* every block null */
	"\"system\":{\"uptime_seconds\":null},\"cpu\":{\"idle_percent\":null,"
	"\"iowait_percent\":null,\"load_1m\":null,\"cores\":null},"
	"\"memory\":{\"total_mb\":null,\"used_mb\":null,\"available_mb\":null,"
	"\"swap_total_mb\":null,\"swap_used_mb\":null},\"disks\":null,"
	"\"network\":null,\"smart\":null,\"raid\":null,\"ipmi\":null,"
	"\"security\":null,\"zfs\":null,\"io_errors\":null,\"io_latency\":null,"
	"\"conntrack\":null,\"systemd\":null,\"ntp\":null,"
	"\"file_descriptors\":null,\"thermal\":null,\"gpu\":null,"
	"\"os_alerts\":null,\"expected_reboot\":null,\"ecc_edac\":null",
	/* the loosely typed blocks with the wrong types */
	"\"security\":\"x\",\"zfs\":[1],\"io_errors\":\"3\","
	"\"io_latency\":{\"a\":1},\"systemd\":5,\"ntp\":\"synced\","
	"\"ipmi\":{\"sensors\":\"x\",\"fans\":{},\"sel_events_recent\":5,"
	"\"psu_redundancy_state\":7},\"thermal\":{\"cpu_readings\":\"x\"},"
	"\"gpu\":{\"devices\":null,\"tier1\":\"x\"},"
	    "\"expected_reboot\":\"yes\","
	"\"disks\":[{\"mount\":5,\"options\":7,\"fstype\":[]}],"
	"\"network\":[{\"interface\":3,\"operstate\":{}}],"
	"\"smart\":[{\"device\":1,\"health\":2}],\"ecc_edac\":[],"
	"\"raid\":[{\"device\":[],\"degraded\":\"yes\","
	    "\"failed_disks\":\"sdb\"}],"
	"\"conntrack\":{\"available\":\"yes\"}",
	/* lists of nulls, numbers and empty objects */
	"\"io_latency\":[null,1,\"x\",{}],\"security\":{\"ssh\":\"x\","
	"\"firewall\":[],\"pending_updates\":5,\"kernel_vulns\":[null,1,{},"
	"{\"mitigated\":\"no\"}],\"kernel_reboot\":[],\"auto_updates\":\"off\"}"
	    ","
	"\"zfs\":{\"pools\":[null,3,{},{\"state\":5,\"name\":7}]},"
	"\"ipmi\":{\"sensors\":[null,1,{},{\"name\":null}],\"fans\":[null,{}],"
	"\"sel_events_recent\":[null,{},{\"severity\":5}],"
	"\"ecc_errors\":{},\"ecc_errors_from_sel\":\"x\"},"
	"\"gpu\":{\"tier1\":{\"gpus\":[null,{\"temp_c\":\"hot\"}]},"
	"\"devices\":[{}]},\"systemd\":{\"failed_units\":[null,{},3]},"
	"\"disks\":[{}],\"network\":[{}],\"smart\":[{}],\"raid\":[{}],"
	"\"thermal\":{\"cpu_readings\":[null,1,{}]}",
};

static void
test_junk(void)
{
	struct rule_fs_series	 fs;
	struct rule_history	 h;

	section(41, "every rule");
	memset(&fs, 0, sizeof(fs));
	memset(fs.mount, '/', sizeof(fs.mount));	/* unterminated */
	fs.n = 1000;
	h.fs = &fs;
	h.nfs = 1;
	h.ecc_corr_24h_ago = NAN;
	for (int r = 0; r < rule_count; r++) {
		const char	*id = rule_catalog[r].id;

		if (rule_catalog[r].eval == NULL)
			continue;
		for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++)
			EXPECT("none", eval_full(id, junk[j], NULL, 0, NULL,
			    NULL),
			    "%s: junk snapshot %zu never fires", id, j + 1);
		EXPECT("none", eval_full(id, junk[3], junk[2], 300,
		    "{\"x\":5}", &h), "%s: junk previous snapshot, history "
		    "and overrides never fire", id);
	}
}

/* The rules that fire on snapshot s, as "id=severity id=severity". */
static void
fired_on(const struct snapshot *s, const struct snapshot *prev, char *out,
    size_t sz)
{
	struct rule_ctx		 c;
	struct rule_result	 res;

	memset(&c, 0, sizeof(c));
	c.cur = s;
	c.prev = prev;
	out[0] = '\0';
	for (int r = 0; r < rule_count; r++) {
		if (rule_eval(&c, &rule_catalog[r], &res) &&
		    res.severity != NULL)
			snprintf(out + strlen(out), sz - strlen(out), "%s%s=%s",
			    *out ? " " : "", rule_catalog[r].id, res.severity);
		rule_result_clear(&res);
	}
}

static void
test_fixture(void)
{
	const char	*path = getenv("KILN_FIXTURE");
	const char	*want = "ntp_not_synced=critical no_firewall=warning "
	    "pending_security_updates=warning "
	    "unattended_upgrades_disabled=warning "
	    "kernel_vulnerabilities=warning";
	struct snapshot	 s, p;
	char		*body = NULL, field[200], got[1024];
	const char	*code = "";
	size_t		 len = 0;
	FILE		*fp;
	int		 parsed = 0;

	section(42, "fixture");
	if (path == NULL)
		path = "tests/fixtures/snapshot-debian12-vm.json";
	if ((fp = fopen(path, "r")) != NULL) {
		body = malloc(1 << 20);
		len = fread(body, 1, (1 << 20) - 1, fp);
		fclose(fp);
	}
	CHECK(body != NULL && len > 0, "read %s", path);
	if (body != NULL)
		parsed = snapshot_parse(&s, body, len, &code, field,
		    sizeof(field));
	CHECK(parsed, "the agent's snapshot parses (%s %s)", code, field);
	if (!parsed) {
		free(body);
		return;
	}
	snapshot_derive(&s);
	s.ts = NOW;
	fired_on(&s, NULL, got, sizeof(got));
	is_str(got, want, "%s", label("exactly the five rules fire, ntp "
	    "critical"));
	/* The same snapshot five minutes earlier: no reboot, no history. */
	parsed = snapshot_parse(&p, body, len, &code, field, sizeof(field));
	if (parsed) {
		snapshot_derive(&p);
		p.ts = NOW - 300;
		fired_on(&s, &p, got, sizeof(got));
		snapshot_free(&p);
	}
	is_str(got, want, "%s", label("with a previous snapshot, still the "
	    "five"));
	s.d.uptime = 299;
	fired_on(&s, NULL, got, sizeof(got));
	is_str(got, "no_firewall=warning pending_security_updates=warning "
	    "unattended_upgrades_disabled=warning "
	    "kernel_vulnerabilities=warning", "%s",
	    label("at 299 s of uptime ntp_not_synced is in its grace"));
	snapshot_free(&s);
	free(body);
}

static void
test_catalogue(void)
{
	char		 where[200], buf[16];
	const char	*why = "";
	json_t		*ov;

	section(43, "catalogue");
	is_int(rule_count, 41, "%s", label("41 rules"));
	for (int r = 0; r < rule_count; r++)
		CHECK((rule_catalog[r].eval != NULL) !=
		    (strcmp(rule_catalog[r].id, "server_unreachable") == 0),
		    "%s has an eval function unless cron raises it",
		    rule_catalog[r].id);
	CHECK(rule_find("disk_space_high") != NULL &&
	    rule_threshold(&(struct rule_ctx){ 0 },
	    rule_find("disk_space_high"),
	    "warning") == 85, "a default threshold without overrides");
	CHECK(isnan(rule_threshold(&(struct rule_ctx){ 0 },
	    rule_find("oom_kills"), "warning")), "a key a rule lacks is NAN");
	ov = json_loads("{\"oom_kills\":{\"warning\":5}}", 0, NULL);
	CHECK(!rule_overrides_valid(ov, where, sizeof(where), &why) &&
	    strcmp(where, "config_overrides.oom_kills.warning") == 0,
	    "an override of a key a rule lacks is refused");
	json_decref(ov);
	ov = json_loads("{\"disk_fill_projection\":{\"critical_hours\":48},"
	    "\"ipmi_sel_critical\":{\"window_days\":60}}", 0, NULL);
	CHECK(rule_overrides_valid(ov, where, sizeof(where), &why),
	    "overrides of known keys are valid");
	json_decref(ov);
	buf[0] = '\0';
	rule_list_add(buf, sizeof(buf), "alpha");
	rule_list_add(buf, sizeof(buf), "beta");
	is_str(buf, "alpha, beta", "%s", label("rule_list_add joins"));
	rule_list_add(buf, sizeof(buf), "gamma");
	rule_list_add(buf, sizeof(buf), "delta");
	is_str(buf, "alpha, beta...", "%s", label("rule_list_add ends in ..."));
}

/* One derived number of the snapshot built from frag, or -999 if refused. */
static double
derived(const char *frag, size_t offset)
{
	struct snapshot	 s;
	double		 v;

	if (!build(&s, frag, NOW))
		return -999;
	memcpy(&v, (const char *)&s.d + offset, sizeof(v));
	snapshot_free(&s);
	return v;
}

static void
test_snapshot_derive(void)
{
	const size_t	 temp = offsetof(struct snap_derived, temp);
	const size_t	 gpu_temp = offsetof(struct snap_derived, gpu_temp);
	const size_t	 gpu_util = offsetof(struct snap_derived, gpu_util);
	const size_t	 disk = offsetof(struct snap_derived, disk);

	section(44, "snapshot_derive");
	CHECK(isnan(derived("\"ipmi\":{\"sensors\":[{\"name\":\"CPU Fan Duty\","
	    "\"unit\":\"percent\",\"value\":60},{\"name\":\"CPU Power\","
	    "\"unit\":\"Watts\",\"value\":95}]}", temp)),
	    "CPU-named sensors that are not temperatures are not the CPU "
	    "temperature");
	CHECK(derived("\"ipmi\":{\"sensors\":[{\"name\":\"CPU1 Temp\","
	    "\"unit\":\"C\",\"value\":52},{\"name\":\"CPU Power\","
	    "\"unit\":\"Watts\",\"value\":95}]}", temp) == 52,
	    "the agent's unit \"C\" marks a temperature");
	CHECK(derived("\"ipmi\":{\"sensors\":[{\"name\":\"CPU1_TEMP\","
	    "\"type\":\"Temperature\",\"value\":61}]}", temp) == 61,
	    "the contract's type marks one, in any case");
	CHECK(derived("\"gpu\":{\"tier1\":{\"gpus\":[{\"temp_c\":70,"
	    "\"utilization_gpu_percent\":30},{\"temp_c\":66,"
	    "\"utilization_gpu_percent\":90}]}}", gpu_temp) == 70,
	    "the agent's gpu.tier1.gpus temperature is derived");
	CHECK(derived("\"gpu\":{\"tier1\":{\"gpus\":[{\"temp_c\":70,"
	    "\"utilization_gpu_percent\":30},{\"temp_c\":66,"
	    "\"utilization_gpu_percent\":90}]}}", gpu_util) == 90,
	    "and its utilisation");
	CHECK(derived("\"gpu\":{\"devices\":[{\"temperature_c\":48,"
	    "\"utilization_percent\":12}]}", gpu_temp) == 48,
	    "the contract's gpu.devices still is");
	CHECK(derived("\"disks\":[{\"mount\":\"/snap/core/1\","
	    "\"fstype\":\"squashfs\",\"percent_used\":100},"
	    "{\"mount\":\"/mnt/iso\",\"fstype\":\"iso9660\","
	    "\"percent_used\":100},{\"mount\":\"/boot/efi\","
	    "\"percent_used\":90},{\"mount\":\"/\",\"percent_used\":40}]",
	    disk) == 40,
	    "the fullest disk skips what the disk rule skips: 40");
	CHECK(derived("\"disks\":[{\"mount\":\"/\",\"used_gb\":30,"
	    "\"total_gb\":50},{\"mount\":\"/data\",\"percent_used\":20}]",
	    disk) == 60,
	    "and falls back to used / total as the rule does: 60");
}

int
main(void)
{
	test_ram_high();
	test_swap_high();
	test_cpu_high();
	test_load_high();
	test_cpu_iowait_high();
	test_oom_kills();
	test_clock_drift();
	test_ntp_not_synced();
	test_fd_exhaustion();
	test_conntrack_exhaustion();
	test_systemd_service_failed();
	test_disk_space_high();
	test_inode_high();
	test_disk_fill_projection();
	test_filesystem_readonly();
	test_disk_io_errors();
	test_disk_latency_high();
	test_smart_failing();
	test_nvme_wear_high();
	test_raid_degraded();
	test_zfs_pool_unhealthy();
	test_zfs_scrub_errors();
	test_interface_errors();
	test_link_speed_mismatch();
	test_interface_saturation();
	test_cpu_temperature_high();
	test_ecc_errors();
	test_psu_redundancy_loss();
	test_ipmi_fan_failure();
	test_ipmi_sel_critical();
	test_ipmi_sel_full();
	test_cmos_battery_low();
	test_ssh_root_password();
	test_no_firewall();
	test_pending_security_updates();
	test_unattended_upgrades_disabled();
	test_kernel_vulnerabilities();
	test_kernel_needs_reboot();
	test_unexpected_reboot();
	test_gpu_temperature_high();
	test_junk();
	test_fixture();
	test_catalogue();
	test_snapshot_derive();
	rule_result_clear(&last);
	return done_testing();
}
