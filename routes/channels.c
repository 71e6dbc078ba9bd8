/*
 * channels: /api/v1/channels[/ID[/test]] (SPEC 9). An account's
 * notification channels: config validated per type, secrets masked in
 * every answer, and a synchronous test send.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "kiln.h"
#include "audit.h"
#include "notify.h"
#include "outbound.h"

#define MAX_RECIPIENTS	10
#define MASK		"\xe2\x80\xa6"	/* U+2026, "..." */
#define MASK_MIN_CHARS	12	/* shorter secrets show no characters */

/*
 * The columns of a channel as the API shows it, in the order
 * channel_json() reads them; the last is its latest attempt as JSON.
 */
#define CHANNEL_COLUMNS \
    "c.public_id, c.name, c.type, c.config, c.enabled, c.created_at," \
    " c.updated_at," \
    " (SELECT json_object('at', strftime('%Y-%m-%dT%H:%M:%SZ', a.at," \
    "  'unixepoch'), 'success', json(CASE WHEN a.ok THEN 'true'" \
    "  ELSE 'false' END), 'status', a.status, 'duration_ms'," \
    "  a.duration_ms, 'error', a.error) FROM notify_attempt a" \
    "  WHERE a.channel_id = c.id ORDER BY a.id DESC LIMIT 1)"

/* A channel's stored row, as the handlers that change it need it. */
struct stored {
	int64_t		 id;		/* 0: none */
	char		 type[16];
	char		 name[404];
	json_t		*config;	/* owned */
	int		 enabled;
};

/* A validated POST / PUT body. */
struct channel_in {
	const char		*name;		/* borrowed from the body */
	const struct notify_type *type;
	json_t			*config;	/* owned, normalised */
	int			 enabled;	/* -1: not given */
};

/* MASK and the last 4 characters of s; MASK alone when s is short. */
static char *
mask_tail(char out[64], const char *s)
{
	const char	*p = s + strlen(s);
	int		 k = 0;

	if (valid_chars(s) < MASK_MIN_CHARS)
		p = "";
	else
		while (p > s && k < 4)
			if (((unsigned char)*--p & 0xc0) != 0x80)
				k++;
	snprintf(out, 64, MASK "%s", p);
	return out;
}

/*
 * A URL as "scheme://host[:port]/" MASK and its last 4 characters: the
 * path of a webhook URL is its secret. Credentials are dropped.
 */
static char *
mask_url(char out[400], const char *url)
{
	CURLU		*u = curl_url();
	char		*scheme = NULL, *host = NULL, *port = NULL, tail[64];
	const char	*rest = strstr(url, "://");

	out[0] = '\0';
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_PORT, &port, 0);
		/* The last 4 only when they leave most of the path hidden. */
		rest = rest != NULL ? strpbrk(rest + 3, "/?#") : NULL;
		snprintf(out, 400, "%s://%s%s%s/%s", scheme, host,
		    port != NULL ? ":" : "", port != NULL ? port : "",
		    rest != NULL && strlen(rest) >= MASK_MIN_CHARS ?
		    mask_tail(tail, rest) : MASK);
		valid_utf8_trim(out);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	if (out[0] == '\0')
		snprintf(out, 400, MASK);
	return out;
}

/* A secret field's value as GET shows it. */
static json_t *
mask_value(const struct notify_field *f, const json_t *v)
{
	char	 buf[400];

	if (!json_is_string(v))
		return json_null();
	if (f->kind == NF_URL)
		return json_string(mask_url(buf, json_string_value(v)));
	return json_string(mask_tail(buf, json_string_value(v)));
}

/* The stored config of a type as the API shows it. New reference. */
static json_t *
config_masked(const char *type_name, const char *text)
{
	const struct notify_type	*type = notify_type_find(type_name);
	json_t				*config, *out = json_object(), *v;
	int				 i;

	config = json_loads(text, 0, NULL);
	for (i = 0; type != NULL && i < NOTIFY_MAX_FIELDS; i++) {
		const struct notify_field *f = &type->fields[i];

		if (f->name == NULL ||
		    (v = json_object_get(config, f->name)) == NULL)
			continue;
		json_object_set_new(out, f->name, f->secret ?
		    mask_value(f, v) : json_deep_copy(v));
	}
	json_decref(config);
	return out;
}

static json_t *
channel_json(sqlite3_stmt *st)
{
	json_t	*c = json_object(), *last = NULL;

	if (sqlite3_column_type(st, 7) != SQLITE_NULL)
		last = json_loads(db_text(st, 7), 0, NULL);
	json_object_set_new(c, "id", json_string(db_text(st, 0)));
	json_object_set_new(c, "name", json_string(db_text(st, 1)));
	json_object_set_new(c, "type", json_string(db_text(st, 2)));
	json_object_set_new(c, "enabled",
	    json_boolean(sqlite3_column_int(st, 4)));
	json_object_set_new(c, "config",
	    config_masked(db_text(st, 2), db_text(st, 3)));
	json_object_set_new(c, "created_at", db_json_time(st, 5));
	json_object_set_new(c, "updated_at", db_json_time(st, 6));
	json_object_set_new(c, "last_attempt", last != NULL ? last :
	    json_null());
	return c;
}

static const char channel_get_sql[] =
    "SELECT " CHANNEL_COLUMNS " FROM channel c "
    "WHERE c.public_id = ?1 AND c.account_id = ?2";

/* The channel as the API shows it, or NULL when there is none. */
static json_t *
channel_load(const struct principal *who, const char *id)
{
	sqlite3_stmt	*st = db_prep(db_main(), channel_get_sql);
	json_t		*c = NULL;

	if (st == NULL || !id_valid(id, "chn_"))
		return NULL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	if (db_step(st) == SQLITE_ROW)
		c = channel_json(st);
	sqlite3_reset(st);
	return c;
}

static const char stored_sql[] =
    "SELECT id, type, name, config, enabled FROM channel "
    "WHERE public_id = ?1 AND account_id = ?2";

/*
 * Loads the caller's channel id into *s. Returns 1 (s->id 0 when there
 * is no such channel: a malformed id, an unknown one and another
 * account's look the same), or 0 on a database error.
 */
static int
stored_load(const struct principal *who, const char *id, struct stored *s)
{
	sqlite3_stmt	*st = db_prep(db_main(), stored_sql);
	int		 rc;

	memset(s, 0, sizeof(*s));
	if (!id_valid(id, "chn_"))
		return 1;
	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	if ((rc = db_step(st)) == SQLITE_ROW) {
		s->id = sqlite3_column_int64(st, 0);
		snprintf(s->type, sizeof(s->type), "%s", db_text(st, 1));
		snprintf(s->name, sizeof(s->name), "%s", db_text(st, 2));
		s->config = json_loads(db_text(st, 3), 0, NULL);
		s->enabled = sqlite3_column_int(st, 4);
	}
	sqlite3_reset(st);
	return rc != 0;
}

/* --- validation --------------------------------------------------------- */

/* 1 when s matches the extended regular expression re (compiled once). */
static int
matches(regex_t *rx, int *ready, const char *re, const char *s)
{
	if (!*ready) {
		if (regcomp(rx, re, REG_EXTENDED | REG_NOSUB) != 0)
			return 0;
		*ready = 1;
	}
	return regexec(rx, s, 0, NULL, 0) == 0;
}

static int
bot_token_ok(const char *s)
{
	static regex_t	 rx;
	static int	 ready;

	return matches(&rx, &ready, "^[0-9]{1,20}:[A-Za-z0-9_-]{10,100}$", s);
}

static int
chat_id_ok(const char *s)
{
	static regex_t	 rx;
	static int	 ready;

	return matches(&rx, &ready,
	    "^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$", s);
}

static int
routing_key_ok(const char *s)
{
	static regex_t	 rx;
	static int	 ready;

	return matches(&rx, &ready, "^[A-Za-z0-9]{32}$", s);
}

/* "config.<name>", cut to a sane length, into out[80]. */
static const char *
field_name(char out[80], const char *name)
{
	snprintf(out, 80, "config.%.64s", name);
	valid_utf8_trim(out);
	return out;
}

/* Checks the recipients array; stores a copy with duplicates dropped. */
static int
read_recipients(struct req *r, const char *field, const json_t *v,
    json_t *out, const char *key)
{
	json_t	*list, *e;
	size_t	 i, j;

	if (!json_is_array(v) || json_array_size(v) < 1 ||
	    json_array_size(v) > MAX_RECIPIENTS) {
		valid_fail(r, field, "%s must be an array of 1 to %d email "
		    "addresses.", field, MAX_RECIPIENTS);
		return 0;
	}
	list = json_array();
	json_array_foreach(v, i, e) {
		const char	*a = json_string_value(e);

		if (a == NULL || !valid_email(a) || strpbrk(a, "<>,;\"") !=
		    NULL) {
			json_decref(list);
			valid_fail(r, field, "%s[%zu] is not a valid email "
			    "address.", field, i);
			return 0;
		}
		for (j = 0; j < json_array_size(list); j++)
			if (strcasecmp(json_string_value(json_array_get(list,
			    j)), a) == 0)
				break;
		if (j == json_array_size(list))
			json_array_append_new(list, json_string(a));
	}
	json_object_set_new(out, key, list);
	return 1;
}

/*
 * Checks one config field of kind f->kind, and copies it into out.
 * Returns 1, or 0 having answered 400.
 */
static int
read_field(struct req *r, const struct notify_field *f, const json_t *v,
    json_t *out)
{
	char		 field[80], why[OUTBOUND_ERR_MAX], num[32];
	const char	*s = json_string_value(v);

	field_name(field, f->name);
	if (f->kind == NF_RECIPIENTS)
		return read_recipients(r, field, v, out, f->name);
	/* A chat id may come as the number Telegram shows. */
	if (f->kind == NF_CHAT_ID && json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		s = num;
	}
	if (s == NULL) {
		valid_fail(r, field, "%s must be a string.", field);
		return 0;
	}
	switch (f->kind) {
	case NF_URL:
		if (!outbound_url_valid(s, why, sizeof(why))) {
			valid_fail(r, field, "%s: %s.", field, why);
			return 0;
		}
		break;
	case NF_BOT_TOKEN:
		if (!bot_token_ok(s)) {
			valid_fail(r, field, "%s must look like "
			    "123456789:AAH... (from @BotFather).", field);
			return 0;
		}
		break;
	case NF_CHAT_ID:
		if (!chat_id_ok(s)) {
			valid_fail(r, field, "%s must be a numeric chat id or "
			    "@channelname.", field);
			return 0;
		}
		break;
	case NF_ROUTING_KEY:
		if (!routing_key_ok(s)) {
			valid_fail(r, field, "%s must be the 32-character "
			    "integration key of an Events API v2 service.",
			    field);
			return 0;
		}
		break;
	default:
		if (valid_chars(s) < 1 || valid_chars(s) > 256 ||
		    strpbrk(s, "\r\n\t") != NULL) {
			valid_fail(r, field, "%s must be 1 to 256 characters "
			    "on one line.", field);
			return 0;
		}
		break;
	}
	json_object_set_new(out, f->name, json_string(s));
	return 1;
}

/* The field of type called name, or NULL. */
static const struct notify_field *
type_field(const struct notify_type *type, const char *name)
{
	int	 i;

	for (i = 0; i < NOTIFY_MAX_FIELDS; i++)
		if (type->fields[i].name != NULL &&
		    strcmp(type->fields[i].name, name) == 0)
			return &type->fields[i];
	return NULL;
}

/*
 * Checks config against type into a new object. A secret sent back
 * exactly as GET masked it (old: the stored config of a channel of the
 * same type) keeps the stored value, so a client can PUT what it got.
 */
static json_t *
read_config(struct req *r, const struct notify_type *type,
    const json_t *config, const json_t *old)
{
	const struct notify_field	*f;
	const char			*key;
	json_t				*out = json_object(), *v, *masked;
	char				 field[80];
	int				 i, same;

	json_object_foreach((json_t *)config, key, v) {
		if (type_field(type, key) == NULL) {
			field_name(field, key);
			valid_fail(r, field, "%s is not a setting of %s "
			    "channels.", field, type->name);
			goto fail;
		}
	}
	for (i = 0; i < NOTIFY_MAX_FIELDS; i++) {
		f = &type->fields[i];
		if (f->name == NULL)
			continue;
		v = json_object_get(config, f->name);
		if (v == NULL || json_is_null(v)) {
			if (!f->required)
				continue;
			field_name(field, f->name);
			valid_fail(r, field, "%s is required for %s channels.",
			    field, type->name);
			goto fail;
		}
		if (f->secret && old != NULL && json_is_string(v) &&
		    json_object_get(old, f->name) != NULL) {
			masked = mask_value(f, json_object_get(old, f->name));
			same = json_equal(masked, v);
			json_decref(masked);
			if (same) {
				json_object_set(out, f->name,
				    json_object_get(old, f->name));
				continue;
			}
		}
		if (!read_field(r, f, v, out))
			goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

/*
 * Reads a POST or PUT body into *in (old: the stored channel for PUT).
 * Returns 1, or 0 having answered.
 */
static int
channel_read(struct req *r, const struct stored *old, struct channel_in *in)
{
	json_t		*body, *config, *enabled;
	const char	*type;

	memset(in, 0, sizeof(*in));
	in->enabled = -1;
	if ((body = req_json_object(r)) == NULL ||
	    !valid_string(r, body, "name", 1, 100, 1, &in->name) ||
	    !valid_string(r, body, "type", 1, 16, 1, &type))
		return 0;
	if ((in->type = notify_type_find(type)) == NULL) {
		valid_fail(r, "type", "type must be one of email, telegram, "
		    "slack, discord, pagerduty, webhook.");
		return 0;
	}
	enabled = json_object_get(body, "enabled");
	if (enabled != NULL && !json_is_boolean(enabled)) {
		valid_fail(r, "enabled", "enabled must be true or false.");
		return 0;
	}
	if (enabled != NULL)
		in->enabled = json_is_true(enabled);
	if (!json_is_object(config = json_object_get(body, "config"))) {
		valid_fail(r, "config", "config must be an object with the "
		    "settings of the %s channel.", in->type->name);
		return 0;
	}
	in->config = read_config(r, in->type, config, old != NULL &&
	    strcmp(old->type, in->type->name) == 0 ? old->config : NULL);
	return in->config != NULL;
}

/* --- endpoints ---------------------------------------------------------- */

static const char channel_list_sql[] =
    "SELECT " CHANNEL_COLUMNS " FROM channel c "
    "WHERE c.account_id = ?1 ORDER BY c.created_at, c.id";

static void
channel_list(struct req *r, const struct principal *who)
{
	sqlite3_stmt	*st = db_prep(db_main(), channel_list_sql);
	json_t		*list;
	int		 rc;

	if (st == NULL) {
		reply_err(r, 500, "internal_error", "The list failed.");
		return;
	}
	list = json_array();
	sqlite3_bind_int64(st, 1, who->account_id);
	while ((rc = db_step(st)) == SQLITE_ROW)
		json_array_append_new(list, channel_json(st));
	sqlite3_reset(st);
	if (rc == 0) {
		json_decref(list);
		reply_err(r, 500, "internal_error", "The list failed.");
		return;
	}
	reply_json(r, 200, json_pack("{s:o}", "channels", list));
}

static void
channel_get(struct req *r, const struct principal *who, const char *id)
{
	json_t	*c = channel_load(who, id);

	if (c != NULL)
		reply_json(r, 200, c);
	else
		reply_err(r, 404, "not_found", "No such channel.");
}

static const char count_sql[] =
    "SELECT count(*) FROM channel WHERE account_id = ?1";
static const char insert_sql[] =
    "INSERT INTO channel (public_id, account_id, name, type, config,"
    " enabled, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";

/* 1 when the account may have one more channel; else answers 409. */
static int
room_for_one(struct req *r, const struct principal *who)
{
	sqlite3_stmt	*st = db_prep(db_main(), count_sql);
	int64_t		 n = -1, max = cfg_int("max_channels");

	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, who->account_id);
	if (db_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (n < 0)
		return 0;
	if (n < max)
		return 1;
	reply_err(r, 409, "channel_limit_reached",
	    "An account may have at most %lld channels.", (long long)max);
	return 0;
}

static void
channel_create(struct req *r, const struct principal *who)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	struct channel_in in;
	json_t		*c;
	char		 id[ID_MAX], *text = NULL;

	if (!channel_read(r, NULL, &in))
		return;
	if ((text = json_dumps(in.config, KILN_JSON)) == NULL ||
	    !id_new(id, "chn_") || !db_begin(conn))
		goto fail;
	/* Counted inside the write lock so two creates can't both fit. */
	if (!room_for_one(r, who))
		goto fail;
	if ((st = db_prep(conn, insert_sql)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	sqlite3_bind_text(st, 3, in.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, in.type->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, in.enabled != 0);
	sqlite3_bind_int64(st, 7, iso_now());
	if (!db_run(st) || !db_commit(conn))
		goto fail;
	if ((c = channel_load(who, id)) == NULL)
		goto fail;
	reply_json(r, 201, json_pack("{s:b, s:o}", "success", 1,
	    "channel", c));
	goto out;
fail:
	db_rollback(conn);
	if (r->status == 0)
		reply_err(r, 500, "internal_error",
		    "The channel was not created.");
out:
	free(text);
	json_decref(in.config);
}

static const char update_sql[] =
    "UPDATE channel SET name = ?2, type = ?3, config = ?4, enabled = ?5,"
    " updated_at = ?6 WHERE id = ?1";

/*
 * The stored config (for the secrets a masked value keeps) is read under
 * the write lock: a concurrent change to it can't be overwritten with
 * the copy read before.
 */
static void
channel_update(struct req *r, const struct principal *who, const char *id)
{
	sqlite3		*conn = db_main();
	sqlite3_stmt	*st;
	struct stored	 old;
	struct channel_in in;
	json_t		*c;
	char		*text = NULL;

	memset(&in, 0, sizeof(in));
	memset(&old, 0, sizeof(old));
	if (!db_begin(conn) || !stored_load(who, id, &old))
		goto fail;
	if (old.id == 0) {
		reply_err(r, 404, "not_found", "No such channel.");
		goto fail;
	}
	if (!channel_read(r, &old, &in))
		goto fail;
	if ((text = json_dumps(in.config, KILN_JSON)) == NULL ||
	    (st = db_prep(conn, update_sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, old.id);
	sqlite3_bind_text(st, 2, in.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, in.type->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, in.enabled < 0 ? old.enabled : in.enabled);
	sqlite3_bind_int64(st, 6, iso_now());
	if (!db_run(st) || !db_commit(conn) ||
	    (c = channel_load(who, id)) == NULL)
		goto fail;
	reply_json(r, 200, c);
	goto out;
fail:
	db_rollback(conn);
	if (r->status == 0)
		reply_err(r, 500, "internal_error",
		    "The channel was not updated.");
out:
	free(text);
	json_decref(in.config);
	json_decref(old.config);
}

/* Pending deliveries go with it (ON DELETE CASCADE). */
static const char delete_sql[] =
    "DELETE FROM channel WHERE public_id = ?1 AND account_id = ?2";

static void
channel_delete(struct req *r, const struct principal *who, const char *id)
{
	sqlite3_stmt	*st = db_prep(db_main(), delete_sql);

	if (!id_valid(id, "chn_")) {
		reply_err(r, 404, "not_found", "No such channel.");
		return;
	}
	if (st == NULL) {
		reply_err(r, 500, "internal_error", "Delete failed.");
		return;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, who->account_id);
	if (!db_run(st))
		reply_err(r, 500, "internal_error", "Delete failed.");
	else if (sqlite3_changes(db_main()) == 0)
		reply_err(r, 404, "not_found", "No such channel.");
	else
		reply_json(r, 200, json_pack("{s:b, s:s}", "success", 1,
		    "deleted", id));
}

static const char attempt_sql[] =
    "INSERT INTO notify_attempt (channel_id, at, ok, status, duration_ms,"
    " error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/* Logs a test attempt like the notify job's (best effort). */
static void
log_attempt(int64_t channel_id, const struct notify_result *res)
{
	sqlite3_stmt	*st = db_prep(db_main(), attempt_sql);

	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, channel_id);
	sqlite3_bind_int64(st, 2, iso_now());
	sqlite3_bind_int(st, 3, res->ok);
	if (res->status > 0)
		sqlite3_bind_int64(st, 4, res->status);
	sqlite3_bind_int64(st, 5, res->duration_ms);
	if (!res->ok)
		sqlite3_bind_text(st, 6, res->error, -1, SQLITE_STATIC);
	db_run(st);
}

static void
channel_test(struct req *r, const struct principal *who, const char *id)
{
	struct stored		 s;
	struct notify_msg	 m;
	struct notify_result	 res;
	char			 event_id[ID_MAX], msg[400];

	if (!stored_load(who, id, &s)) {
		reply_err(r, 500, "internal_error", "The test failed.");
		return;
	}
	if (s.id == 0) {
		reply_err(r, 404, "not_found", "No such channel.");
		return;
	}
	if (!rate_check(r, &RATE_CHANNEL_TEST, who->account_bucket) ||
	    !id_new(event_id, "evt_"))
		goto out;
	memset(&m, 0, sizeof(m));
	m.event = NOTIFY_TEST;
	m.event_id = event_id;
	m.channel_id = id;
	m.channel_name = s.name;
	notify_send(s.type, s.config, &m, &res);
	log_attempt(s.id, &res);
	if (res.ok)
		reply_json(r, 200, json_pack("{s:b, s:I, s:I}", "success", 1,
		    "status", (json_int_t)res.status,
		    "duration_ms", (json_int_t)res.duration_ms));
	else {
		snprintf(msg, sizeof(msg), "The test notification was not "
		    "delivered: %s", res.error);
		reply_err_extra(r, 502, "delivery_failed", msg,
		    json_pack("{s:{s:o, s:s, s:I}}", "upstream",
		    "status", res.status > 0 ? json_integer(res.status) :
		    json_null(), "error", res.error,
		    "duration_ms", (json_int_t)res.duration_ms));
	}
out:
	if (r->status == 0)
		reply_err(r, 500, "internal_error", "The test failed.");
	json_decref(s.config);
}

static void
dispatch(struct req *r)
{
	struct principal	 who;
	const char		*m = r->method, *id = req_seg(r, 1);
	int			 get = strcmp(m, "GET") == 0;
	int			 post = strcmp(m, "POST") == 0;

	if (r->nsegs < 1 || r->nsegs > 3) {
		reply_err(r, 404, "not_found", "No such endpoint.");
		return;
	}
	if (!auth_require(r, &who, get ? SCOPE_READ : SCOPE_WRITE))
		return;
	/* The gates answer before any lookup: a free account can't probe. */
	if (req_path_is(r, 1, "channels")) {
		if (get)
			channel_list(r, &who);
		else if (!post)
			reply_method_not_allowed(r, "GET, POST");
		else if (auth_gate(r, &who, GATE_PRO | GATE_ADMIN))
			channel_create(r, &who);
	} else if (req_path_is(r, 2, "channels", "*")) {
		if (get)
			channel_get(r, &who, id);
		else if (strcmp(m, "PUT") == 0) {
			if (auth_gate(r, &who, GATE_PRO | GATE_ADMIN))
				channel_update(r, &who, id);
		} else if (strcmp(m, "DELETE") == 0) {
			if (auth_gate(r, &who, GATE_PRO))
				channel_delete(r, &who, id);
		} else
			reply_method_not_allowed(r, "GET, PUT, DELETE");
	} else if (req_path_is(r, 3, "channels", "*", "test")) {
		if (!post)
			reply_method_not_allowed(r, "POST");
		else if (auth_gate(r, &who, GATE_PRO))
			channel_test(r, &who, id);
	} else
		reply_err(r, 404, "not_found", "No such endpoint.");
}

/* What the audit log calls each endpoint. */
static const struct audit_ep audit[] = {
	{ "GET",	"/channels",		"channel.list" },
	{ "POST",	"/channels",		"channel.create" },
	{ "GET",	"/channels/:id",	"channel.get" },
	{ "PUT",	"/channels/:id",	"channel.update" },
	{ "DELETE",	"/channels/:id",	"channel.delete" },
	{ "POST",	"/channels/:id/test",	"channel.test" },
	AUDIT_END
};

int
main(void)
{
	static const struct route rt = {
		.name = "channels",
		.dispatch = dispatch,
		.audit = audit,
	};
	int	 rc;

	rc = req_run(&rt);
	notify_close();
	return rc;
}
