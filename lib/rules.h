/*
 * rules: the alert-rule catalogue of SPEC section 8. Each rule has an
 * id (also the alert_type users mute), a kind, and the threshold keys a
 * server's config_overrides may change, with their defaults:
 *   config_overrides = { "<rule id>": { "<threshold>": number, ... } }
 */
#ifndef KILN_RULES_H
#define KILN_RULES_H

#include <jansson.h>

#define RULE_MAX_THRESHOLDS	6

enum rule_kind {
	RULE_STATE,	/* open while it fires, resolve when it stops */
	RULE_EVENT,	/* occurrences stack; resolve manually or by TTL */
};

struct rule_threshold {
	const char	*key;
	double		 def;
};

struct rule_def {
	const char		*id;
	enum rule_kind		 kind;
	const char		*description;
	struct rule_threshold	 thresholds[RULE_MAX_THRESHOLDS];
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

#endif
