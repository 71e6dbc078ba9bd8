/*
 * notify: formats one notification and sends it through one channel
 * (SPEC 9), or sends one email. Email goes through libcurl's SMTP to the
 * configured relay; everything else is an HTTPS POST through the SSRF
 * guard (outbound.h). One curl easy handle serves the whole process, so
 * connections are reused; every transfer has hard timeouts and follows
 * no redirect. Nothing here touches the database.
 */
#ifndef KILN_NOTIFY_H
#define KILN_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "id.h"
#include "outbound.h"

/* What a channel's config field holds, for validation and masking. */
enum notify_field_kind {
	NF_RECIPIENTS,	/* array of 1..10 email addresses */
	NF_URL,		/* an outbound URL (its path is masked) */
	NF_BOT_TOKEN,	/* Telegram "<digits>:<token>" */
	NF_CHAT_ID,	/* Telegram chat id or @channel */
	NF_ROUTING_KEY,	/* PagerDuty integration key */
	NF_SECRET,	/* a shared secret */
};

struct notify_field {
	const char	*name;
	int		 kind;		/* enum notify_field_kind */
	int		 required;
	int		 secret;	/* masked in API answers */
};

#define NOTIFY_MAX_FIELDS	2

/* A channel type and its config fields. */
struct notify_type {
	const char		*name;
	struct notify_field	 fields[NOTIFY_MAX_FIELDS];
};

extern const struct notify_type	notify_types[];
extern const int		notify_ntypes;

/* The type called name, or NULL. */
const struct notify_type *notify_type_find(const char *name);

enum notify_event {
	NOTIFY_FIRING,
	NOTIFY_RESOLVED,
	NOTIFY_TEST,
};

/*
 * What a notification says. Every string is borrowed from the caller;
 * the alert and server ones may be NULL for a test.
 */
struct notify_msg {
	int		 event;		/* enum notify_event */
	const char	*event_id;	/* "evt_...", the same on every retry */
	const char	*alert_id;	/* "alr_..." */
	const char	*rule;		/* alert_type */
	const char	*kind;		/* state, event */
	const char	*severity;
	const char	*title;
	const char	*message;
	int64_t		 occurrences;
	int64_t		 opened_at;
	int64_t		 resolved_at;	/* 0: not resolved */
	const char	*server_id;	/* "srv_..." */
	const char	*server_name;
	const char	*hostname;
	const char	*channel_id;	/* "chn_..." */
	const char	*channel_name;
};

/* The outcome of one attempt. */
struct notify_result {
	int		 ok;		/* the receiver accepted it */
	long		 status;	/* HTTP status / SMTP code, 0: none */
	int64_t		 duration_ms;
	int64_t		 retry_after;	/* seconds a 429 asked for, 0: none */
	char		 error[OUTBOUND_ERR_MAX];	/* "" when ok */
};

/*
 * Sends m through a channel of type with its config (a JSON object as
 * the channels route stored it). Returns res->ok; res is always filled.
 */
int	notify_send(const char *type, const json_t *config,
	    const struct notify_msg *m, struct notify_result *res);

/*
 * Sends one plain-text email to nto recipients through the SMTP relay
 * (smtp_url, smtp_user, smtp_password, from mail_from). Returns res->ok.
 */
int	notify_mail(const char *const *to, size_t nto, const char *subject,
	    const char *body, struct notify_result *res);

/*
 * The event id of an outbox row: "evt_" and 20 hex of an HMAC under the
 * pepper, so a receiver can spot a redelivery without learning row ids.
 * Returns 1, or 0 (logged).
 */
int	notify_event_id(char out[ID_MAX], int64_t outbox_id);

/* Frees the curl handle (at exit, for the leak checkers). */
void	notify_close(void);

#endif
