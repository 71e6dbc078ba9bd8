/*
 * rules_host: the host rules of SPEC section 8 (memory, CPU, time,
 * kernel tables, systemd, security posture, reboots). Field names are
 * the Crucible agent's; see each rule for the block it reads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iso.h"
#include "rules.h"
#include "rules_impl.h"
#include "snapshot.h"

/* security.<key>, an object or NULL. */
static json_t *
security(const struct rule_ctx *c, const char *key)
{
	return snap_obj(snap_obj(c->cur->root, "security"), key);
}

/* n when 0 <= n <= 100, else NAN: a percentage out of range is noise. */
static double
percent(double n)
{
	return n >= 0 && n <= 100 ? n : NAN;
}

/*
 * The percent of a kernel table in use: the agent's "percent", else
 * used / max.
 */
static double
table_percent(json_t *o, const char *used_key)
{
	double	 p = percent(snap_num(o, "percent"));
	double	 used = snap_num(o, used_key), max = snap_num(o, "max");

	if (isnan(p) && used >= 0 && max > 0)
		p = percent(100 * used / max);
	return p;
}

/*
 * Numeric comparison of two kernel versions ("6.8.0-124-generic"):
 * -1, 0 or 1, or 2 when either has no number in it.
 */
static int
version_cmp(const char *a, const char *b)
{
	if (a == NULL || b == NULL || strpbrk(a, "0123456789") == NULL ||
	    strpbrk(b, "0123456789") == NULL)
		return 2;
	for (;;) {
		unsigned long long x, y;
		char		*end;

		a += strcspn(a, "0123456789");
		b += strcspn(b, "0123456789");
		if (*a == '\0' || *b == '\0')
			return *a == *b ? 0 : *a == '\0' ? -1 : 1;
		x = strtoull(a, &end, 10);
		a = end;
		y = strtoull(b, &end, 10);
		b = end;
		if (x != y)
			return x < y ? -1 : 1;
	}
}

void
rule_ram_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*mem = snap_obj(c->cur->root, "memory");
	double		 total = snap_num(mem, "total_mb");
	double		 avail = snap_num(mem, "available_mb");
	double		 used = c->cur->d.ram, pct;
	const char	*sev;
	char		 title[128];

	if (!(total > 0))
		return;
	if (avail >= 0 && avail <= total) {
		pct = 100 * avail / total;
		if (pct < rule_threshold(c, rule, "critical_available_percent"))
			sev = "critical";
		else if (pct < rule_threshold(c, rule,
		    "warning_available_percent"))
			sev = "warning";
		else
			return;
		snprintf(title, sizeof(title),
		    "Only %.3g%% of memory is available", pct);
		rule_fire(res, sev, json_pack("{s:o, s:o, s:o}",
		    "available_mb", rule_num(avail), "total_mb",
		    rule_num(total), "available_percent",
		    rule_num(rule_round2(pct))), title,
		    "%.0f MB of %.0f MB available (%.2f%%).", avail, total,
		    pct);
		return;
	}
	/* No (usable) available_mb: fall back to used / total. */
	sev = rule_level(used, rule_threshold(c, rule, "warning_used_percent"),
	    rule_threshold(c, rule, "critical_used_percent"));
	if (sev == NULL)
		return;
	snprintf(title, sizeof(title), "Memory is %.4g%% used", used);
	rule_fire(res, sev, json_pack("{s:o, s:o, s:o}", "used_mb",
	    rule_num(snap_num(mem, "used_mb")), "total_mb", rule_num(total),
	    "used_percent", rule_num(rule_round2(used))), title,
	    "%.0f MB of %.0f MB used (%.2f%%); the agent did not report "
	    "available memory.", snap_num(mem, "used_mb"), total, used);
}

void
rule_swap_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*mem = snap_obj(c->cur->root, "memory");
	double		 total = snap_num(mem, "swap_total_mb");
	double		 used = snap_num(mem, "swap_used_mb"), pct;
	const char	*sev;
	char		 title[128];

	if (!(total > 0) || !(used >= 0))
		return;		/* no swap, or not measured */
	pct = 100 * used / total;
	sev = rule_level(pct, rule_threshold(c, rule, "warning"),
	    rule_threshold(c, rule, "critical"));
	if (sev == NULL)
		return;
	snprintf(title, sizeof(title), "Swap is %.4g%% used", pct);
	rule_fire(res, sev, json_pack("{s:o, s:o, s:o}", "swap_used_mb",
	    rule_num(used), "swap_total_mb", rule_num(total), "used_percent",
	    rule_num(rule_round2(pct))), title,
	    "%.0f MB of %.0f MB swap used (%.2f%%).", used, total, pct);
}

void
rule_cpu_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double		 busy = c->cur->d.cpu;
	const char	*sev;
	char		 title[128];

	sev = rule_level(busy, rule_threshold(c, rule, "warning"),
	    rule_threshold(c, rule, "critical"));
	if (sev == NULL)
		return;
	snprintf(title, sizeof(title), "CPU is %.4g%% busy", busy);
	rule_fire(res, sev, json_pack("{s:o, s:o}", "cpu_percent",
	    rule_num(rule_round2(busy)), "idle_percent",
	    rule_num(snap_num(snap_obj(c->cur->root, "cpu"), "idle_percent"))),
	    title, "CPU usage (100 - idle) is %.2f%%.", busy);
}

void
rule_load_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*cores = snap_arr(snap_obj(c->cur->root, "cpu"),
	    "cores");
	double		 load = c->cur->d.load1;
	double		 n = (double)json_array_size(cores);
	const char	*sev;
	char		 title[128];

	if (!(n >= 1) || isnan(load))
		return;
	sev = rule_level(load, n * rule_threshold(c, rule, "warning_per_core"),
	    n * rule_threshold(c, rule, "critical_per_core"));
	if (sev == NULL)
		return;
	snprintf(title, sizeof(title), "Load %.4g on %.0f cores", load, n);
	rule_fire(res, sev, json_pack("{s:o, s:o, s:o}", "load_1m",
	    rule_num(load), "cores", rule_num(n), "load_per_core",
	    rule_num(rule_round2(load / n))), title,
	    "1-minute load %.2f is %.2f per core (%.0f cores).", load,
	    load / n, n);
}

void
rule_cpu_iowait_high(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double	 iowait = c->cur->d.iowait, load = c->cur->d.load1;
	char	 title[128];

	/* High iowait on an idle box is an artefact of tiny denominators. */
	if (!(iowait >= rule_threshold(c, rule, "warning")) ||
	    !(load >= rule_threshold(c, rule, "min_load")))
		return;
	snprintf(title, sizeof(title), "CPU iowait is %.4g%%", iowait);
	rule_fire(res, "warning", json_pack("{s:o, s:o}", "iowait_percent",
	    rule_num(iowait), "load_1m", rule_num(load)), title,
	    "The CPU spends %.2f%% of its time waiting on I/O at load %.2f.",
	    iowait, load);
}

void
rule_oom_kills(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double	 kills = snap_num(snap_obj(c->cur->root, "os_alerts"),
	    "oom_kills_recent");
	char	 title[128];

	(void)rule;
	if (!(kills > 0))
		return;
	snprintf(title, sizeof(title), "The kernel OOM-killed %.0f process%s",
	    kills, kills == 1 ? "" : "es");
	rule_fire(res, "critical", json_pack("{s:o}", "oom_kills_recent",
	    rule_num(kills)), title,
	    "%.0f recent out-of-memory kill%s (dmesg | grep -i 'out of "
	    "memory').", kills, kills == 1 ? "" : "s");
}

void
rule_clock_drift(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*os = snap_obj(c->cur->root, "os_alerts");
	double		 drift = snap_num(os, "time_drift_ms");
	const char	*sev;
	char		 title[128];

	sev = rule_level(fabs(drift), rule_threshold(c, rule, "warning_ms"),
	    rule_threshold(c, rule, "critical_ms"));
	if (sev == NULL)
		return;
	snprintf(title, sizeof(title), "The clock is off by %.1f s",
	    drift / 1000);
	rule_fire(res, sev, json_pack("{s:o}", "time_drift_ms",
	    rule_num(drift)), title, "The system clock is %.0f ms %s.",
	    fabs(drift), drift > 0 ? "ahead" : "behind");
}

void
rule_ntp_not_synced(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*ntp = snap_obj(c->cur->root, "ntp");
	int		 synced = snap_bool(ntp, "synced");
	int		 daemon = snap_bool(ntp, "daemon_running");
	const char	*name = snap_str(ntp, "daemon_name");
	json_t		*ev;

	(void)rule;
	if (synced != 0)
		return;		/* synchronised, or not measured */
	ev = json_pack("{s:b, s:o, s:o, s:o, s:o}", "synced", 0,
	    "daemon_running", daemon < 0 ? json_null() : json_boolean(daemon),
	    "daemon_name", name != NULL && *name != '\0' ?
	    json_string(name) : json_null(),
	    "source", snap_str(ntp, "source") != NULL ?
	    json_string(snap_str(ntp, "source")) : json_null(),
	    "offset_seconds", rule_num(snap_num(ntp, "offset_seconds")));
	if (daemon == 0)
		rule_fire(res, "critical", ev, "Time is not synchronised",
		    "No time daemon is running and the clock is not "
		    "synchronised (install chrony or enable "
		    "systemd-timesyncd).");
	else
		rule_fire(res, "warning", ev,
		    "The time daemon is not synchronised",
		    "%s is running but the clock is not synchronised.",
		    name != NULL && *name != '\0' ? name : "A time daemon");
}

void
rule_fd_exhaustion(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*fd = snap_obj(c->cur->root, "file_descriptors");
	double		 pct = table_percent(fd, "allocated");
	const char	*sev;
	char		 title[128];

	sev = rule_level(pct, rule_threshold(c, rule, "warning"),
	    rule_threshold(c, rule, "critical"));
	if (sev == NULL)
		return;
	snprintf(title, sizeof(title), "File descriptors are %.4g%% used",
	    pct);
	rule_fire(res, sev, json_pack("{s:o, s:o, s:o}", "allocated",
	    rule_num(snap_num(fd, "allocated")), "max",
	    rule_num(snap_num(fd, "max")), "percent",
	    rule_num(rule_round2(pct))), title,
	    "%.0f of %.0f file descriptors allocated (%.2f%%).",
	    snap_num(fd, "allocated"), snap_num(fd, "max"), pct);
}

void
rule_conntrack_exhaustion(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*ct = snap_obj(c->cur->root, "conntrack");
	double		 pct = table_percent(ct, "count");
	const char	*sev;
	char		 title[128];

	if (snap_bool(ct, "available") == 0)
		return;
	sev = rule_level(pct, rule_threshold(c, rule, "warning"),
	    rule_threshold(c, rule, "critical"));
	if (sev == NULL)
		return;
	snprintf(title, sizeof(title), "Conntrack table is %.4g%% full", pct);
	rule_fire(res, sev, json_pack("{s:o, s:o, s:o}", "count",
	    rule_num(snap_num(ct, "count")), "max",
	    rule_num(snap_num(ct, "max")), "percent",
	    rule_num(rule_round2(pct))), title,
	    "%.0f of %.0f connection-tracking entries in use (%.2f%%); new "
	    "connections are dropped when it is full.",
	    snap_num(ct, "count"), snap_num(ct, "max"), pct);
}

void
rule_systemd_service_failed(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*sd = snap_obj(c->cur->root, "systemd");
	json_t		*units = json_array(), *u;
	double		 count = snap_num(sd, "failed_count");
	char		 list[400] = "", title[200];
	size_t		 i;

	(void)rule;
	json_array_foreach(snap_arr(sd, "failed_units"), i, u) {
		/* Unit names, or objects naming one ({"unit": ...}). */
		const char	*name = json_string_value(u);

		if (name == NULL)
			name = snap_str(u, "unit") != NULL ?
			    snap_str(u, "unit") : snap_str(u, "name");
		if (name == NULL || *name == '\0')
			continue;
		json_array_append_new(units, json_string(name));
		rule_list_add(list, sizeof(list), name);
	}
	if (json_array_size(units) > 0 && !(count >= json_array_size(units)))
		count = (double)json_array_size(units);
	if (!(count > 0)) {
		json_decref(units);
		return;
	}
	if (json_array_size(units) > 0)
		rule_titlef(title, sizeof(title), "%.0f failed systemd "
		    "unit%s: %s", count, count == 1 ? "" : "s", list);
	else
		snprintf(title, sizeof(title), "%.0f failed systemd unit%s",
		    count, count == 1 ? "" : "s");
	rule_fire(res, "critical", json_pack("{s:o, s:o}", "failed_units",
	    units, "failed_count", rule_num(count)), title,
	    "systemd reports %.0f failed unit%s%s%s (systemctl --failed).",
	    count, count == 1 ? "" : "s", *list ? ": " : "", list);
}

void
rule_ssh_root_password(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*ssh = security(c, "ssh");
	int		 exposed = snap_bool(ssh, "rootPasswordExposed");
	const char	*permit = snap_str(ssh, "permitRootLogin");
	const char	*pass = snap_str(ssh, "passwordAuthentication");

	(void)rule;
	if (exposed < 0)
		exposed = snap_bool(ssh, "root_password_exposed");
	/* Older agents: derive it from the two sshd settings. */
	if (exposed < 0 && permit != NULL && pass != NULL)
		exposed = strcasecmp(permit, "yes") == 0 &&
		    strcasecmp(pass, "yes") == 0;
	if (exposed != 1)
		return;
	rule_fire(res, "warning", json_pack("{s:o, s:o}", "permitRootLogin",
	    permit != NULL ? json_string(permit) : json_null(),
	    "passwordAuthentication", pass != NULL ? json_string(pass) :
	    json_null()), "root can log in over SSH with a password",
	    "sshd has PermitRootLogin %s and PasswordAuthentication %s: root "
	    "can be brute-forced. Set PermitRootLogin prohibit-password.",
	    permit != NULL ? permit : "(unknown)",
	    pass != NULL ? pass : "(unknown)");
}

void
rule_no_firewall(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	json_t		*fw = security(c, "firewall");
	const char	*source = snap_str(fw, "source");
	const char	*details = snap_str(fw, "details");

	(void)rule;
	if (snap_bool(fw, "active") != 0)
		return;		/* active, or null: could not tell */
	rule_fire(res, "warning", json_pack("{s:b, s:o, s:o}", "active", 0,
	    "source", source != NULL ? json_string(source) : json_null(),
	    "details", details != NULL ? json_string(details) : json_null()),
	    "No firewall is active", "%s.", details != NULL ? details :
	    "The agent found no active firewall");
}

void
rule_pending_security_updates(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*pu = security(c, "pending_updates");
	double		 n = snap_num(pu, "pendingCount");
	const char	*distro = snap_str(pu, "distro");
	char		 title[128];

	(void)rule;
	if (isnan(n))
		n = snap_num(pu, "pending_count");
	/* Only when nothing will apply them: auto-updates explicitly off. */
	if (snap_bool(pu, "available") == 0 || !(n > 0) ||
	    snap_bool(security(c, "auto_updates"), "configured") != 0)
		return;
	snprintf(title, sizeof(title), "%.0f update%s pending", n,
	    n == 1 ? "" : "s");
	rule_fire(res, "warning", json_pack("{s:o, s:o, s:b}", "pendingCount",
	    rule_num(n), "distro", distro != NULL ? json_string(distro) :
	    json_null(), "auto_updates_configured", 0), title,
	    "%.0f package update%s pending (%s) and automatic updates are "
	    "off.", n, n == 1 ? " is" : "s are",
	    distro != NULL ? distro : "unknown distribution");
}

void
rule_unattended_upgrades_disabled(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*au = security(c, "auto_updates");
	const char	*mech = snap_str(au, "mechanism");
	const char	*details = snap_str(au, "details");

	(void)rule;
	if (snap_bool(au, "configured") != 0)
		return;
	rule_fire(res, "warning", json_pack("{s:b, s:o, s:o}", "configured", 0,
	    "mechanism", mech != NULL ? json_string(mech) : json_null(),
	    "details", details != NULL ? json_string(details) : json_null()),
	    "Automatic security updates are not configured",
	    "%s; security patches must be applied by hand.",
	    details != NULL ? details : "No automatic update mechanism");
}

void
rule_kernel_vulnerabilities(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*sec = snap_obj(c->cur->root, "security");
	json_t		*vulns = snap_arr(sec, "kernel_vulns"), *v;
	json_t		*bad = json_array();
	char		 names[300] = "", title[200];
	size_t		 i;

	(void)rule;
	json_array_foreach(vulns, i, v) {
		const char	*name = snap_str(v, "name");
		const char	*status = snap_str(v, "status");
		int		 mitigated = snap_bool(v, "mitigated");

		/* Without the flag, the kernel's own word decides. */
		if (mitigated < 0 && status != NULL)
			mitigated = strncasecmp(status, "Vulnerable", 10) != 0;
		if (mitigated != 0 || name == NULL)
			continue;
		json_array_append_new(bad, json_pack("{s:s, s:o}", "name",
		    name, "status", status != NULL ? json_string(status) :
		    json_null()));
		rule_list_add(names, sizeof(names), name);
	}
	if (json_array_size(bad) == 0) {
		json_decref(bad);
		return;
	}
	rule_titlef(title, sizeof(title), "%zu CPU vulnerabilit%s not "
	    "mitigated: %s", json_array_size(bad),
	    json_array_size(bad) == 1 ? "y" : "ies", names);
	rule_fire(res, "warning", json_pack("{s:o, s:o}", "unmitigated", bad,
	    "total", rule_num((double)json_array_size(vulns))), title,
	    "Unmitigated: %s. Update the kernel and CPU microcode, then "
	    "reboot.", names);
}

void
rule_kernel_needs_reboot(const struct rule_ctx *c,
    const struct rule_def *rule, struct rule_result *res)
{
	json_t		*kr = security(c, "kernel_reboot");
	const char	*running = snap_str(kr, "running");
	const char	*installed = snap_str(kr, "installed");
	int		 needs = snap_bool(kr, "needsReboot");
	int		 cmp = version_cmp(running, installed);
	char		 title[200];

	(void)rule;
	if (needs < 0)
		needs = snap_bool(kr, "needs_reboot");
	if (needs < 0)
		needs = cmp == -1;
	/*
	 * The agent compares strings: a running kernel newer than the
	 * packaged one (a mainline build) is not cured by a reboot.
	 */
	if (needs != 1 || cmp == 0 || cmp == 1)
		return;
	if (running != NULL && installed != NULL)
		snprintf(title, sizeof(title), "Reboot into kernel %s (running "
		    "%s)", installed, running);
	else
		snprintf(title, sizeof(title), "A reboot is needed for a newer "
		    "kernel");
	rule_fire(res, "warning", json_pack("{s:o, s:o}", "running",
	    running != NULL ? json_string(running) : json_null(), "installed",
	    installed != NULL ? json_string(installed) : json_null()), title,
	    "Running kernel %s, installed %s: security fixes in the newer "
	    "kernel are not active until a reboot.",
	    running != NULL ? running : "(unknown)",
	    installed != NULL ? installed : "(unknown)");
}

/* 1 when the agent says this boot was planned (expected_reboot). */
static int
reboot_announced(json_t *root)
{
	json_t	*e = json_object_get(root, "expected_reboot");

	if (json_is_object(e))
		return snap_bool(e, "expected") != 0;
	return json_is_true(e);
}

void
rule_unexpected_reboot(const struct rule_ctx *c, const struct rule_def *rule,
    struct rule_result *res)
{
	double		 up = c->cur->d.uptime, prev_up, elapsed, boot;
	int64_t		 prev_ts;
	char		 key[64], when[ISO_MAX];
	const char	*reason;

	if (isnan(up) ||
	    !(up < rule_threshold(c, rule, "max_uptime_seconds")) ||
	    !rule_prev_uptime(c, &prev_ts, &prev_up))
		return;
	elapsed = (double)(c->cur->ts - prev_ts);
	/* Had it kept running, uptime would be prev_up + elapsed. */
	if (isnan(prev_up) || elapsed < 0 || !(up < (prev_up + elapsed) / 2))
		return;
	if (reboot_announced(c->cur->root))
		return;
	/* Boot time to 10 minutes, so jitter is one occurrence. */
	boot = round(((double)c->cur->ts - up) / 600) * 600;
	iso_format(when, (int64_t)boot);
	snprintf(key, sizeof(key), "boot:%s", when);
	rule_occurrence(res, key);
	reason = snap_str(c->cur->root, "expected_reboot_reason");
	rule_fire(res, "warning", json_pack("{s:o, s:o, s:o, s:s, s:o}",
	    "uptime_seconds", rule_num(up), "previous_uptime_seconds",
	    rule_num(prev_up), "elapsed_seconds", rule_num(elapsed),
	    "boot_time", when, "expected_reboot_reason",
	    reason != NULL ? json_string(reason) : json_null()),
	    "The server rebooted unexpectedly",
	    "Uptime is %.0f s; the previous snapshot, %.0f s earlier, "
	    "reported %.0f s. The reboot was not announced (crucible-agent "
	    "mark-reboot).", up, elapsed, prev_up);
}
