/*
 * rules_impl: the evaluating function of every rule in the catalogue
 * (lib/rules.c), defined by domain in rules_host.c, rules_disk.c and
 * rules_hw.c. Each reads the snapshot (and, where noted in the
 * catalogue, the previous one or recent history) and calls rule_fire()
 * when its rule fires; missing or null input never fires.
 */
#ifndef KILN_RULES_IMPL_H
#define KILN_RULES_IMPL_H

#include <stddef.h>

#include "rules.h"

/*
 * Helpers the rule files share (defined in rules.c).
 */

/* "critical" when v >= crit, "warning" when v >= warn, else NULL (NAN too). */
const char	*rule_level(double v, double warn, double crit);

/* The worse of two severities, either of which may be NULL. */
const char	*rule_worst(const char *a, const char *b);

/* 0 for NULL, then info, warning, critical: 1, 2, 3. */

/* v as a JSON integer when it is whole, a real otherwise, null for NAN. */
json_t		*rule_num(double v);

/* v rounded to two decimals (for computed percentages and rates). */
double		 rule_round2(double v);

/*
 * Appends item to the comma-separated list in buf[sz], ending it with
 * "..." once it no longer fits.
 */
void		 rule_list_add(char *buf, size_t sz, const char *item);

/*
 * printf into buf[sz], cut short when it does not fit: titles may name
 * long lists, whose whole is in the message and the evidence.
 */
void		 rule_titlef(char *buf, size_t sz, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* " (and N more)" for n > 0, else "", in buf[32]. */
const char	*rule_and_more(char buf[32], int n);

void	rule_ram_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_swap_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_cpu_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_load_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_cpu_iowait_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_oom_kills(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_clock_drift(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_ntp_not_synced(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_fd_exhaustion(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_conntrack_exhaustion(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_systemd_service_failed(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_disk_space_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_inode_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_disk_fill_projection(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_filesystem_readonly(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_disk_io_errors(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_disk_latency_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_smart_failing(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_nvme_wear_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_raid_degraded(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_zfs_pool_unhealthy(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_zfs_scrub_errors(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_interface_errors(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_link_speed_mismatch(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_interface_saturation(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_cpu_temperature_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_ecc_errors(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_psu_redundancy_loss(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_ipmi_fan_failure(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_ipmi_sel_critical(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_ipmi_sel_full(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_cmos_battery_low(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_ssh_root_password(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_no_firewall(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_pending_security_updates(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_unattended_upgrades_disabled(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_kernel_vulnerabilities(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_kernel_needs_reboot(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_unexpected_reboot(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);
void	rule_gpu_temperature_high(const struct rule_ctx *, const struct rule_def *,
	    struct rule_result *);

#endif
