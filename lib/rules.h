/*
 * rules: the alert-rule catalogue of SPEC section 8. Each rule has an
 * id (also the alert_type users mute), a kind, and the threshold keys a
 * server's config_overrides may change, with their defaults:
 *   config_overrides = { "<rule id>": { "<threshold>": number, ... } }
 */
#ifndef KILN_RULES_H
#define KILN_RULES_H

#include <stdint.h>

#include <jansson.h>

#define RULE_MAX_THRESHOLDS	6
#define RULE_FS_POINTS		16	/* fill-projection history per mount */
#define RULE_CATALOG_MAX	64	/* room for rules in per-rule arrays */

struct snapshot;

enum rule_kind {
	RULE_STATE,	/* open while it fires, resolve when it stops */
	RULE_EVENT,	/* occurrences stack; resolve manually or by TTL */
};

struct rule_threshold {
	const char	*key;
	double		 def;
};

/* Recent history a few rules need, loaded by ingest before the pass. */
struct rule_fs_series {
	char		 mount[128];
	int		 n;			/* points, oldest first */
	int64_t		 ts[RULE_FS_POINTS];
	double		 avail_gb[RULE_FS_POINTS];
	double		 total_gb;
};

struct rule_history {
	struct rule_fs_series	*fs;		/* per mount */
	int			 nfs;
	double			 ecc_corr_24h_ago;	/* oldest count in 24 h, or NAN */
};

/*
 * Where the previous snapshot and the recent history come from when a
 * rule first asks for them (few rules do, and only on some snapshots,
 * so ingest doesn't load them up front). Each function returns NULL
 * when there is none; a database error also sets failed, and the pass
 * is then not to be trusted.
 */
struct rule_source {
	const struct snapshot		*(*prev)(struct rule_source *);
	const struct rule_history	*(*hist)(struct rule_source *);
	int				 failed;
};

/* What a rule sees. */
struct rule_ctx {
	const struct snapshot	*cur;
	json_t			*overrides;	/* config_overrides, or NULL */
	/* Given up front (tests), or else fetched through source. */
	const struct snapshot	*prev;		/* previous snapshot, or NULL */
	const struct rule_history *hist;	/* or NULL */
	struct rule_source	*source;	/* or NULL */
	/*
	 * The previous snapshot's time and uptime, when the caller knows
	 * them without loading it (ingest reads them in the server's row):
	 * prev_ts 0 when it doesn't. See rule_prev_uptime.
	 */
	int64_t			 prev_ts;
	double			 prev_uptime;	/* NAN: not reported */
};

/* The previous snapshot, or NULL: c->prev, else fetched through source. */
const struct snapshot		*rule_prev(const struct rule_ctx *c);

/*
 * The previous snapshot's time (Unix seconds) and uptime (NAN: not
 * reported), from prev_ts / prev_uptime when set, else from rule_prev.
 * Returns 0 when there is no previous snapshot.
 */
int	rule_prev_uptime(const struct rule_ctx *c, int64_t *ts, double *uptime);

/* The recent history, or NULL: c->hist, else fetched through source. */
const struct rule_history	*rule_hist(const struct rule_ctx *c);

/*
 * What a rule says. severity NULL: it did not fire. Event rules list
 * the keys of the occurrences they see (a SEL entry, a boot) in
 * occurrences; the alert layer counts those it has not seen before.
 */
struct rule_result {
	const char	*severity;		/* "critical", "warning", "info" */
	char		 title[200];
	char		 message[600];
	json_t		*evidence;		/* owned, or NULL */
	json_t		*occurrences;		/* owned array, or NULL */
};

struct rule_def;
typedef void (*rule_eval_fn)(const struct rule_ctx *, const struct rule_def *,
    struct rule_result *);

struct rule_def {
	const char		*id;
	enum rule_kind		 kind;
	const char		*description;
	struct rule_threshold	 thresholds[RULE_MAX_THRESHOLDS];
	rule_eval_fn		 eval;		/* NULL: raised by cron */
};

extern const struct rule_def	rule_catalog[];
extern const int		rule_count;

/* The rule with this id, or NULL. */
const struct rule_def	*rule_find(const char *id);

/*
 * Checks a config_overrides object: known rules, known threshold keys,
 * finite non-negative numbers. Returns 1, or 0 with the offending
 * "rule.key" (or "rule") in where[where_sz] and a reason in why.
 */
int	rule_overrides_valid(json_t *overrides, char *where, size_t where_sz,
	    const char **why);

/*
 * The value of threshold key for rule: the server's override when it has
 * one, else the catalogue default (NAN for a key the rule doesn't have).
 */
double	rule_threshold(const struct rule_ctx *c, const struct rule_def *rule,
	    const char *key);

/*
 * Evaluates one rule into res (cleared first). Returns 0 without
 * evaluating while the server is inside the rule's boot grace
 * (uptime below its grace_seconds), else 1.
 */
int	rule_eval(const struct rule_ctx *c, const struct rule_def *rule,
	    struct rule_result *res);

/*
 * Marks res as fired with severity, title and message (printf-style; the
 * message is the title when fmt_message is NULL). Steals evidence.
 */
void	rule_fire(struct rule_result *res, const char *severity,
	    json_t *evidence, const char *title, const char *fmt_message, ...)
	    __attribute__((format(printf, 5, 6)));

/* Adds one occurrence key to an event rule's result. */
void	rule_occurrence(struct rule_result *res, const char *key);

/* The order of severities: critical 3, warning 2, info 1, NULL 0. */
int	rule_rank(const char *severity);

/* Releases what res owns. */
void	rule_result_clear(struct rule_result *res);

#endif
