/*
 * notify: message formats per channel type, and the two senders (HTTP
 * POST and SMTP) on one reused curl handle.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "cfg.h"
#include "hash.h"
#include "iso.h"
#include "kiln.h"
#include "log.h"
#include "notify.h"
#include "outbound.h"
#include "valid.h"

#define REPLY_MAX	2048	/* of a receiver's answer, kept for errors */
#define SNIPPET_MAX	160	/* of that answer, quoted in an error */
#define MAX_RCPT	10

const struct notify_type notify_types[] = {
	{ "email", { { "recipients", NF_RECIPIENTS, 1, 0 } } },
	{ "telegram", { { "bot_token", NF_BOT_TOKEN, 1, 1 },
	    { "chat_id", NF_CHAT_ID, 1, 0 } } },
	{ "slack", { { "webhook_url", NF_URL, 1, 1 } } },
	{ "discord", { { "webhook_url", NF_URL, 1, 1 } } },
	{ "pagerduty", { { "routing_key", NF_ROUTING_KEY, 1, 1 } } },
	{ "webhook", { { "url", NF_URL, 1, 1 },
	    { "secret", NF_SECRET, 0, 1 } } },
};
const int notify_ntypes = sizeof(notify_types) / sizeof(notify_types[0]);

static char	 curl_err[CURL_ERROR_SIZE];

const struct notify_type *
notify_type_find(const char *name)
{
	int	 i;

	for (i = 0; i < notify_ntypes; i++)
		if (strcmp(notify_types[i].name, name) == 0)
			return &notify_types[i];
	return NULL;
}

int
notify_event_id(char out[ID_MAX], int64_t outbox_id)
{
	unsigned char	 mac[HASH_LEN];
	char		 in[64], hex[2 * HASH_LEN + 1];

	snprintf(in, sizeof(in), "notify-event:%lld", (long long)outbox_id);
	if (!hash_peppered(mac, in))
		return 0;
	hash_hex(hex, mac, ID_HEX_LEN / 2);
	snprintf(out, ID_MAX, "evt_%.20s", hex);
	return 1;
}

void
notify_close(void)
{
	outbound_close();
}

/* --- formats ------------------------------------------------------------ */

static const char *
str(const char *s)
{
	return s != NULL ? s : "";
}

/* s cut to at most n bytes on a character boundary, in buf[n + 1]. */
static const char *
clip(char *buf, size_t n, const char *s)
{
	snprintf(buf, n + 1, "%s", str(s));
	valid_utf8_trim(buf);
	return buf;
}

static void
server_link(char out[512], const struct notify_msg *m)
{
	snprintf(out, 512, "%s/servers/%s", cfg_get("base_url"),
	    str(m->server_id));
}

/* "FIRING critical", "RESOLVED", "TEST". */
static const char *
headline(char out[64], const struct notify_msg *m)
{
	size_t	 i;

	if (m->event == NOTIFY_TEST)
		return "TEST";
	if (m->event == NOTIFY_RESOLVED)
		return "RESOLVED";
	snprintf(out, 64, "FIRING %s", str(m->severity));
	for (i = 0; out[i] != '\0'; i++)
		out[i] = (char)toupper((unsigned char)out[i]);
	return out;
}

/*
 * The plain-text message (Telegram, email), as a new string: the caller
 * frees it. NULL (logged) when out of memory.
 */
static char *
text_body(const struct notify_msg *m)
{
	char	*s = NULL, link[512], head[64], t[ISO_MAX];
	size_t	 n;
	FILE	*f;

	if ((f = open_memstream(&s, &n)) == NULL) {
		kiln_log(LOG_ERR, "open_memstream failed");
		return NULL;
	}
	if (m->event == NOTIFY_TEST) {
		fprintf(f, "Kiln test notification\n\nThis is a test of the "
		    "channel \"%s\" (%s). If you can read it, Kiln's alert "
		    "notifications will arrive here.\n", str(m->channel_name),
		    str(m->channel_id));
		fclose(f);
		return s;
	}
	server_link(link, m);
	fprintf(f, "[%s] %s\n\n%s\n\n", headline(head, m), str(m->title),
	    str(m->message));
	fprintf(f, "Server: %s (%s)\nRule: %s\nSeverity: %s\n",
	    str(m->server_name), str(m->hostname), str(m->rule),
	    str(m->severity));
	if (m->occurrences > 1)
		fprintf(f, "Occurrences: %lld\n", (long long)m->occurrences);
	fprintf(f, "Opened: %s\n", iso_format(t, m->opened_at));
	if (m->event == NOTIFY_RESOLVED && m->resolved_at > 0)
		fprintf(f, "Resolved: %s\n", iso_format(t, m->resolved_at));
	fprintf(f, "\n%s\n", link);
	fclose(f);
	return s;
}

static char *
email_subject(char out[400], const struct notify_msg *m)
{
	char	 head[64], title[260];

	if (m->event == NOTIFY_TEST)
		snprintf(out, 400, "[Kiln] Test notification (%s)",
		    str(m->channel_name));
	else
		snprintf(out, 400, "[Kiln] %s: %s on %s", headline(head, m),
		    clip(title, 200, m->title), str(m->server_name));
	valid_utf8_trim(out);
	return out;
}

/* Slack's mrkdwn needs only &, < and > escaped. */
static void
slack_escape(FILE *f, const char *s)
{
	for (s = str(s); *s != '\0'; s++)
		if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else
			fputc(*s, f);
}

static json_t *
slack_json(const struct notify_msg *m)
{
	char	*s = NULL, link[512], head[64];
	size_t	 n;
	FILE	*f;
	json_t	*j;

	if ((f = open_memstream(&s, &n)) == NULL)
		return NULL;
	if (m->event == NOTIFY_TEST) {
		fputs("*Kiln test notification* for channel ", f);
		slack_escape(f, m->channel_name);
	} else {
		server_link(link, m);
		fprintf(f, "*[%s]* ", headline(head, m));
		slack_escape(f, m->title);
		fputs("\n", f);
		slack_escape(f, m->message);
		fputs("\nServer: *", f);
		slack_escape(f, m->server_name);
		fputs("* (", f);
		slack_escape(f, m->hostname);
		fputs(") | Rule: `", f);
		slack_escape(f, m->rule);
		fprintf(f, "` | <%s|Open in Kiln>", link);
	}
	fclose(f);
	j = json_pack("{s:s}", "text", s);
	free(s);
	return j;
}

static json_t *
discord_json(const struct notify_msg *m)
{
	char	 link[512], head[64], title[300], desc[2100], a[260], b[260];
	int	 color;

	if (m->event == NOTIFY_TEST) {
		snprintf(desc, sizeof(desc), "Notifications of the channel "
		    "\"%s\" will arrive here.", str(m->channel_name));
		valid_utf8_trim(desc);
		return json_pack("{s:[{s:s, s:s}], s:{s:[]}}", "embeds",
		    "title", "Kiln test notification", "description", desc,
		    "allowed_mentions", "parse");
	}
	server_link(link, m);
	snprintf(title, sizeof(title), "[%s] %s", headline(head, m),
	    clip(a, 200, m->title));
	valid_utf8_trim(title);
	color = m->event == NOTIFY_RESOLVED ? 0x2e9e5b :
	    strcmp(str(m->severity), "critical") == 0 ? 0xd63c3c :
	    strcmp(str(m->severity), "warning") == 0 ? 0xe3a21a : 0x3c78d6;
	snprintf(b, sizeof(b), "%s (%s)", str(m->server_name),
	    str(m->hostname));
	valid_utf8_trim(b);
	/* No @everyone from an alert's text: mentions are off. */
	return json_pack("{s:[{s:s, s:s, s:s, s:i, s:[{s:s, s:s, s:b},"
	    " {s:s, s:s, s:b}, {s:s, s:s, s:b}]}], s:{s:[]}}",
	    "embeds", "title", title,
	    "description", clip(desc, 2000, m->message), "url", link,
	    "color", color, "fields",
	    "name", "Server", "value", b, "inline", 1,
	    "name", "Rule", "value", str(m->rule), "inline", 1,
	    "name", "Severity", "value", str(m->severity), "inline", 1,
	    "allowed_mentions", "parse");
}

static json_t *
pagerduty_json(const struct notify_msg *m, const char *key, int resolve)
{
	char	 dedup[160], link[512], summary[1025], head[64];

	if (m->event == NOTIFY_TEST)
		snprintf(dedup, sizeof(dedup), "kiln-test:%s",
		    str(m->channel_id));
	else
		snprintf(dedup, sizeof(dedup), "%s:%s", str(m->server_id),
		    str(m->rule));
	if (resolve)
		return json_pack("{s:s, s:s, s:s}", "routing_key", key,
		    "event_action", "resolve", "dedup_key", dedup);
	if (m->event == NOTIFY_TEST)
		return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}",
		    "routing_key", key, "event_action", "trigger",
		    "dedup_key", dedup, "payload",
		    "summary", "Kiln test notification", "source", "kiln",
		    "severity", "info");
	server_link(link, m);
	snprintf(summary, sizeof(summary), "[%s] %s on %s",
	    headline(head, m), str(m->title), str(m->server_name));
	valid_utf8_trim(summary);
	return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s,"
	    " s:{s:s, s:s, s:s, s:I}}, s:[{s:s, s:s}], s:s, s:s}",
	    "routing_key", key, "event_action", "trigger",
	    "dedup_key", dedup, "payload", "summary", summary,
	    "source", str(m->hostname), "severity", str(m->severity),
	    "component", str(m->server_name), "class", str(m->rule),
	    "custom_details", "message", str(m->message),
	    "alert_id", str(m->alert_id), "server_id", str(m->server_id),
	    "occurrences", (json_int_t)m->occurrences,
	    "links", "href", link, "text", "Open in Kiln",
	    "client", "Kiln", "client_url", cfg_get("base_url"));
}

static json_t *
time_or_null(int64_t t)
{
	char	 buf[ISO_MAX];

	return t > 0 ? json_string(iso_format(buf, t)) : json_null();
}

static json_t *
webhook_json(const struct notify_msg *m)
{
	static const char *const events[] = { "firing", "resolved", "test" };
	char	 link[512], now[ISO_MAX];
	json_t	*alert = json_null(), *server = json_null();

	if (m->event != NOTIFY_TEST) {
		server_link(link, m);
		alert = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I,"
		    " s:o, s:o}", "id", str(m->alert_id),
		    "alert_type", str(m->rule), "kind", str(m->kind),
		    "severity", str(m->severity), "title", str(m->title),
		    "message", str(m->message), "status",
		    m->event == NOTIFY_RESOLVED ? "resolved" : "active",
		    "occurrences", (json_int_t)m->occurrences,
		    "opened_at", time_or_null(m->opened_at),
		    "resolved_at", time_or_null(m->event == NOTIFY_RESOLVED ?
		    m->resolved_at : 0));
		server = json_pack("{s:s, s:s, s:s, s:s}",
		    "id", str(m->server_id), "name", str(m->server_name),
		    "hostname", str(m->hostname), "url", link);
	}
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:s, s:s}}",
	    "id", str(m->event_id), "event", events[m->event],
	    "sent_at", iso_format(now, iso_now()), "alert", alert,
	    "server", server, "channel", "id", str(m->channel_id),
	    "name", str(m->channel_name));
}

/* --- the curl handle ---------------------------------------------------- */

/* A timeout in 1..300 s: 0 would mean none to libcurl. */
static long
seconds(const char *key)
{
	int64_t	 n = cfg_int(key);

	return n < 1 ? 1 : n > 300 ? 300 : (long)n;
}

/*
 * The process's outbound handle for one transfer (outbound_handle: no
 * redirects, no proxy, only the given protocols) with the notification
 * timeouts and the error buffer. NULL (logged) on failure.
 */
static CURL *
handle(const char *protocols)
{
	CURL	*c;

	if ((c = outbound_handle(seconds("notify_connect_timeout"),
	    seconds("notify_timeout"), protocols)) == NULL)
		return NULL;
	curl_err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	return c;
}

/* The failure of a transfer libcurl could not complete, into res. */
static void
curl_failed(CURLcode rc, struct notify_result *res)
{
	if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(res->error, sizeof(res->error), "timed out after "
		    "%lld ms: %.200s", (long long)res->duration_ms,
		    curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
	else
		snprintf(res->error, sizeof(res->error), "%.200s (curl %d)",
		    curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc),
		    (int)rc);
	valid_utf8_trim(res->error);
}

/* A receiver's answer, kept up to REPLY_MAX bytes. */
struct reply {
	char	 data[REPLY_MAX];
	size_t	 len;
};

static size_t
keep_reply(char *p, size_t size, size_t n, void *arg)
{
	struct reply	*b = arg;
	size_t		 len = size * n, room = sizeof(b->data) - 1 - b->len;

	if (len < room)
		room = len;
	memcpy(b->data + b->len, p, room);
	b->len += room;
	b->data[b->len] = '\0';
	return len;
}

/* "HTTP 500: <the start of the answer, printable ASCII only>". */
static void
http_failed(const struct reply *b, struct notify_result *res)
{
	char	 snip[SNIPPET_MAX + 1];
	size_t	 i, j = 0;

	for (i = 0; i < b->len && j < SNIPPET_MAX; i++)
		if (b->data[i] >= 0x20 && b->data[i] < 0x7f)
			snip[j++] = b->data[i];
		else if (j > 0 && snip[j - 1] != ' ')
			snip[j++] = ' ';
	snip[j] = '\0';
	if (res->status >= 300 && res->status < 400)
		snprintf(res->error, sizeof(res->error), "HTTP %ld: redirects "
		    "are not followed", res->status);
	else
		snprintf(res->error, sizeof(res->error), "HTTP %ld%s%s",
		    res->status, j > 0 ? ": " : "", snip);
}

/*
 * POSTs body (JSON) to url through the SSRF guard, with the extra
 * header lines given (NULL-terminated). Returns res->ok.
 */
static int
http_post(const char *url, const char *body, const char *const *extra,
    struct notify_result *res)
{
	struct outbound_target	 t;
	struct curl_slist	*hdrs = NULL, *pin = NULL, *tmp;
	struct reply		 b;
	CURL			*c;
	CURLcode		 rc;
	curl_off_t		 retry = 0;
	int64_t			 start = iso_mono_ms();
	int			 fail = 0;

	b.len = 0;
	b.data[0] = '\0';
	if (!outbound_check(url, &t, res->error, sizeof(res->error))) {
		res->duration_ms = iso_mono_ms() - start;
		return 0;
	}
	if ((c = handle(cfg_bool("allow_http") ? "http,https" : "https")) ==
	    NULL) {
		snprintf(res->error, sizeof(res->error), "curl unavailable");
		return 0;
	}
	/* No "Expect: 100-continue" round trip on bigger bodies. */
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	fail |= hdrs == NULL;
	if ((tmp = curl_slist_append(hdrs, "Expect:")) != NULL)
		hdrs = tmp;
	for (; extra != NULL && *extra != NULL && !fail; extra++)
		if ((tmp = curl_slist_append(hdrs, *extra)) != NULL)
			hdrs = tmp;
		else
			fail = 1;
	if (t.resolve[0] != '\0' &&
	    (pin = curl_slist_append(NULL, t.resolve)) == NULL)
		fail = 1;
	if (fail) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_RESOLVE, pin);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_reply);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c);
	res->duration_ms = iso_mono_ms() - start;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	if (rc != CURLE_OK)
		curl_failed(rc, res);
	else if (res->status >= 200 && res->status < 300)
		res->ok = 1;
	else {
		http_failed(&b, res);
		if (res->status == 429 &&
		    curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry) ==
		    CURLE_OK && retry > 0)
			res->retry_after = retry;
	}
	/* The lists are freed: forget them before the next transfer. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_RESOLVE, NULL);
out:
	curl_slist_free_all(hdrs);
	curl_slist_free_all(pin);
	return res->ok;
}

/* POSTs a JSON document; steals j. */
static int
post_json(const char *url, json_t *j, const char *const *extra,
    struct notify_result *res)
{
	char	*body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	int	 ok = 0;

	json_decref(j);
	if (body == NULL)
		snprintf(res->error, sizeof(res->error),
		    "the message could not be encoded");
	else
		ok = http_post(url, body, extra, res);
	free(body);
	return ok;
}

/* --- senders per type --------------------------------------------------- */

static const char *
cfg_str(const json_t *config, const char *key)
{
	return json_string_value(json_object_get(config, key));
}

static int
send_telegram(const json_t *config, const struct notify_msg *m,
    struct notify_result *res)
{
	const char	*token = cfg_str(config, "bot_token");
	const char	*chat = cfg_str(config, "chat_id");
	char		*text, url[1024], cut[4001];
	json_t		*j;

	if (token == NULL || chat == NULL) {
		snprintf(res->error, sizeof(res->error), "bad config");
		return 0;
	}
	if ((text = text_body(m)) == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return 0;
	}
	/* The token was validated as [0-9]+:[A-Za-z0-9_-]+: no '/' in it. */
	snprintf(url, sizeof(url), "%s/bot%s/sendMessage",
	    cfg_get("telegram_api_base"), token);
	j = json_pack("{s:s, s:s, s:b}", "chat_id", chat,
	    "text", clip(cut, 4000, text), "disable_web_page_preview", 1);
	free(text);
	return post_json(url, j, NULL, res);
}

static int
send_pagerduty(const json_t *config, const struct notify_msg *m,
    struct notify_result *res)
{
	const char		*key = cfg_str(config, "routing_key");
	const char		*url = cfg_get("pagerduty_events_url");
	struct notify_result	 again;

	if (key == NULL) {
		snprintf(res->error, sizeof(res->error), "bad config");
		return 0;
	}
	if (!post_json(url, pagerduty_json(m, key,
	    m->event == NOTIFY_RESOLVED), NULL, res))
		return 0;
	/* A test resolves what it triggered: nobody stays paged. */
	if (m->event == NOTIFY_TEST) {
		memset(&again, 0, sizeof(again));
		post_json(url, pagerduty_json(m, key, 1), NULL, &again);
	}
	return 1;
}

static int
send_webhook(const json_t *config, const struct notify_msg *m,
    struct notify_result *res)
{
	const char	*url = cfg_str(config, "url");
	const char	*secret = cfg_str(config, "secret");
	const char	*extra[3] = { NULL, NULL, NULL };
	unsigned char	 mac[HASH_LEN];
	char		*body, *signed_text = NULL, sig[160], id[120];
	char		 hex[2 * HASH_LEN + 1];
	json_t		*j = webhook_json(m);
	int64_t		 t = iso_now();
	int		 ok = 0;

	body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (url == NULL || body == NULL) {
		snprintf(res->error, sizeof(res->error), url == NULL ?
		    "bad config" : "the message could not be encoded");
		goto out;
	}
	snprintf(id, sizeof(id), "X-Kiln-Event: %s", str(m->event_id));
	extra[0] = id;
	if (secret != NULL && *secret != '\0') {
		/* Stripe's scheme: HMAC-SHA256(secret, "<t>.<body>"). */
		if (asprintf(&signed_text, "%lld.%s", (long long)t, body) < 0) {
			signed_text = NULL;
			snprintf(res->error, sizeof(res->error),
			    "out of memory");
			goto out;
		}
		hash_hmac(mac, secret, strlen(secret), signed_text,
		    strlen(signed_text));
		hash_hex(hex, mac, HASH_LEN);
		snprintf(sig, sizeof(sig), "X-Kiln-Signature: t=%lld,v1=%s",
		    (long long)t, hex);
		extra[1] = sig;
	}
	ok = http_post(url, body, extra, res);
out:
	free(signed_text);
	free(body);
	return ok;
}

static int
send_email(const json_t *config, const struct notify_msg *m,
    struct notify_result *res)
{
	const json_t	*list = json_object_get(config, "recipients");
	const char	*to[MAX_RCPT];
	char		 subject[400], *body;
	size_t		 i, n = 0;
	int		 ok;

	for (i = 0; i < json_array_size(list) && n < MAX_RCPT; i++)
		if (json_is_string(json_array_get(list, i)))
			to[n++] = json_string_value(json_array_get(list, i));
	if (n == 0) {
		snprintf(res->error, sizeof(res->error), "bad config");
		return 0;
	}
	if ((body = text_body(m)) == NULL) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return 0;
	}
	ok = notify_mail(to, n, email_subject(subject, m), body, res);
	free(body);
	return ok;
}

int
notify_send(const char *type, const json_t *config,
    const struct notify_msg *m, struct notify_result *res)
{
	memset(res, 0, sizeof(*res));
	if (strcmp(type, "email") == 0)
		return send_email(config, m, res);
	if (strcmp(type, "telegram") == 0)
		return send_telegram(config, m, res);
	if (strcmp(type, "slack") == 0)
		return post_json(cfg_str(config, "webhook_url") != NULL ?
		    cfg_str(config, "webhook_url") : "", slack_json(m), NULL,
		    res);
	if (strcmp(type, "discord") == 0)
		return post_json(cfg_str(config, "webhook_url") != NULL ?
		    cfg_str(config, "webhook_url") : "", discord_json(m), NULL,
		    res);
	if (strcmp(type, "pagerduty") == 0)
		return send_pagerduty(config, m, res);
	if (strcmp(type, "webhook") == 0)
		return send_webhook(config, m, res);
	snprintf(res->error, sizeof(res->error), "unknown channel type %s",
	    type);
	return 0;
}

/* --- email -------------------------------------------------------------- */

/* Copies a header value with CR and LF turned into spaces. */
static void
header_value(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc(*s == '\r' || *s == '\n' ? ' ' : *s, f);
}

static int
ascii_only(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/*
 * A Subject: header; non-ASCII as RFC 2047 encoded words of at most 45
 * bytes each (cut on character boundaries), folded.
 */
static void
subject_header(FILE *f, const char *s)
{
	unsigned char	 out[80];
	size_t		 n, len;

	fputs("Subject: ", f);
	if (ascii_only(s)) {
		header_value(f, s);
		fputs("\r\n", f);
		return;
	}
	for (len = strlen(s); len > 0; s += n, len -= n) {
		n = len < 45 ? len : 45;
		while (n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		EVP_EncodeBlock(out, (const unsigned char *)s, (int)n);
		fprintf(f, "=?UTF-8?B?%s?=%s", out, len > n ? "\r\n " : "");
	}
	fputs("\r\n", f);
}

/* The body: as 7bit text with CRLF lines when it can be, else base64. */
static void
body_part(FILE *f, const char *body)
{
	unsigned char	 out[80];
	const char	*p, *nl;
	size_t		 len, longest = 0, n;

	for (p = body; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		if ((size_t)(nl - p) > longest)
			longest = (size_t)(nl - p);
	if (strlen(p) > longest)
		longest = strlen(p);
	if (ascii_only(body) && longest < 990) {
		fputs("Content-Transfer-Encoding: 7bit\r\n\r\n", f);
		for (p = body; *p != '\0'; p++) {
			if (*p == '\n' && (p == body || p[-1] != '\r'))
				fputc('\r', f);
			fputc(*p, f);
		}
		if (p == body || p[-1] != '\n')
			fputs("\r\n", f);
		return;
	}
	fputs("Content-Transfer-Encoding: base64\r\n\r\n", f);
	for (len = strlen(body); len > 0; body += n, len -= n) {
		n = len < 57 ? len : 57;
		EVP_EncodeBlock(out, (const unsigned char *)body, (int)n);
		fprintf(f, "%s\r\n", out);
	}
}

/* The envelope address of mail_from ("Name <a@b>" or "a@b"). */
static void
from_address(char out[256], const char *from)
{
	const char	*lt = strchr(from, '<'), *gt;

	if (lt != NULL && (gt = strchr(lt, '>')) != NULL && gt - lt < 256)
		snprintf(out, 256, "%.*s", (int)(gt - lt - 1), lt + 1);
	else
		snprintf(out, 256, "%s", from);
}

/* The whole message, as a new string (caller frees); NULL on failure. */
static char *
mail_text(const char *const *to, size_t nto, const char *subject,
    const char *body, const char *from, size_t *len)
{
	unsigned char	 rnd[10];
	char		*s = NULL, date[64], hex[21];
	const char	*domain;
	struct tm	 tm;
	time_t		 now = (time_t)iso_now();
	size_t		 i;
	FILE		*f;

	if (!id_random(rnd, sizeof(rnd)) ||
	    (f = open_memstream(&s, len)) == NULL)
		return NULL;
	hash_hex(hex, rnd, sizeof(rnd));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	domain = strrchr(from, '@') != NULL ? strrchr(from, '@') + 1 :
	    "kiln.invalid";
	fprintf(f, "Date: %s\r\nFrom: ", date);
	if (strchr(from, '<') != NULL)
		header_value(f, from);
	else {
		fputs("Kiln <", f);
		header_value(f, from);
		fputs(">", f);
	}
	fputs("\r\nTo: ", f);
	for (i = 0; i < nto; i++) {
		header_value(f, to[i]);
		fputs(i + 1 < nto ? ",\r\n " : "\r\n", f);
	}
	subject_header(f, subject);
	fprintf(f, "Message-ID: <%s.%lld@", hex, (long long)now);
	for (; *domain != '\0' && *domain != '>'; domain++)
		fputc(isalnum((unsigned char)*domain) || *domain == '.' ||
		    *domain == '-' ? *domain : '_', f);
	fputs(">\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Auto-Submitted: auto-generated\r\n", f);
	body_part(f, body);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* Feeds the message to libcurl's SMTP upload. */
struct upload {
	const char	*p;
	size_t		 left;
};

static size_t
feed(char *buf, size_t size, size_t n, void *arg)
{
	struct upload	*u = arg;
	size_t		 len = size * n;

	if (len > u->left)
		len = u->left;
	memcpy(buf, u->p, len);
	u->p += len;
	u->left -= len;
	return len;
}

int
notify_mail(const char *const *to, size_t nto, const char *subject,
    const char *body, struct notify_result *res)
{
	const char		*url = cfg_get("smtp_url");
	const char		*user = cfg_get("smtp_user");
	struct curl_slist	*rcpt = NULL, *tmp;
	struct upload		 u;
	CURL			*c;
	CURLcode		 rc;
	char			 from[256], addr[300], *msg = NULL;
	size_t			 i, len = 0;
	int64_t			 start = iso_mono_ms();

	memset(res, 0, sizeof(*res));
	if (*url == '\0') {
		snprintf(res->error, sizeof(res->error),
		    "no SMTP relay is configured (smtp_url)");
		return 0;
	}
	from_address(from, cfg_get("mail_from"));
	for (i = 0; i < nto; i++) {
		snprintf(addr, sizeof(addr), "<%s>", to[i]);
		if ((tmp = curl_slist_append(rcpt, addr)) == NULL)
			goto nomem;
		rcpt = tmp;
	}
	if ((msg = mail_text(to, nto, subject, body, cfg_get("mail_from"),
	    &len)) == NULL)
		goto nomem;
	if ((c = handle("smtp,smtps")) == NULL) {
		snprintf(res->error, sizeof(res->error), "curl unavailable");
		goto out;
	}
	u.p = msg;
	u.left = len;
	snprintf(addr, sizeof(addr), "<%s>", from);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, addr);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	/* One refused address must not keep the mail from the others. */
#if LIBCURL_VERSION_NUM >= 0x080200
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#else
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, feed);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	/* STARTTLS when offered; required before a password is sent. */
	curl_easy_setopt(c, CURLOPT_USE_SSL, *user != '\0' &&
	    !cfg_bool("allow_http") ? (long)CURLUSESSL_ALL :
	    (long)CURLUSESSL_TRY);
	if (*user != '\0') {
		curl_easy_setopt(c, CURLOPT_USERNAME, user);
		curl_easy_setopt(c, CURLOPT_PASSWORD,
		    cfg_get("smtp_password"));
	}
	rc = curl_easy_perform(c);
	res->duration_ms = iso_mono_ms() - start;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	if (rc == CURLE_OK)
		res->ok = 1;
	else {
		curl_failed(rc, res);
		if (res->status > 0) {
			char	 e[sizeof(res->error)];

			snprintf(e, sizeof(e), "SMTP %ld: %.220s", res->status,
			    res->error);
			memcpy(res->error, e, sizeof(e));
		}
	}
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL);
	goto out;
nomem:
	snprintf(res->error, sizeof(res->error), "out of memory");
out:
	curl_slist_free_all(rcpt);
	free(msg);
	return res->ok;
}
