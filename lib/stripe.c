/*
 * stripe: a small client for Stripe's form-encoded HTTP API.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cfg.h"
#include "kiln.h"
#include "log.h"
#include "outbound.h"
#include "stripe.h"

#define ANSWER_MAX	(1024 * 1024)	/* Stripe's objects are far smaller */
#define ID_LEN_MAX	255

/* A growing byte buffer, NUL-terminated. */
struct buf {
	char	*p;
	size_t	 len, cap;
	int	 oom;		/* an append failed */
};

static CURL	*curl;		/* outbound_handle(), during stripe_post() */

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	char	*p;
	size_t	 cap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Appends s percent-encoded as curl does for a form. */
static void
buf_escaped(struct buf *b, const char *s)
{
	char	*e = curl_easy_escape(curl, s, 0);

	if (e == NULL) {
		b->oom = 1;
		return;
	}
	buf_add(b, e, strlen(e));
	curl_free(e);
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;

	n *= size;	/* size is 1 */
	if (b->len + n > ANSWER_MAX)
		return 0;	/* curl fails the transfer: CURLE_WRITE_ERROR */
	buf_add(b, p, n);
	return b->oom ? 0 : n;
}

/* 1 when s can go into a header line (no CR, LF or other controls). */
static int
header_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if (iscntrl((unsigned char)*s))
			return 0;
	return 1;
}

int
stripe_configured(void)
{
	return *cfg_get("stripe_secret_key") != '\0';
}

const char *
stripe_id(json_t *v)
{
	const char	*s;
	size_t		 i;

	if (json_is_object(v))
		v = json_object_get(v, "id");
	if ((s = json_string_value(v)) == NULL || *s == '\0' ||
	    strlen(s) > ID_LEN_MAX)
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return NULL;
	return s;
}

/* Stripe's error message of a failed answer, or a generic one. */
static void
answer_error(json_t *j, long status, char err[STRIPE_ERR_MAX])
{
	const char	*msg = json_string_value(json_object_get(
	    json_object_get(j, "error"), "message"));

	if (msg != NULL && *msg != '\0')
		snprintf(err, STRIPE_ERR_MAX, "%s", msg);
	else
		snprintf(err, STRIPE_ERR_MAX, "Stripe answered HTTP %ld.",
		    status);
	valid_utf8_trim(err);
}

json_t *
stripe_post(const char *path, const struct stripe_field *f, size_t n,
    const char *idem_key, char err[STRIPE_ERR_MAX])
{
	const char		*key = cfg_get("stripe_secret_key");
	const char		*base = cfg_get("stripe_api_base");
	struct buf		 url = { 0 }, form = { 0 }, hdr = { 0 };
	struct buf		 answer = { 0 };
	struct curl_slist	*headers = NULL, *h;
	json_t			*j = NULL;
	json_error_t		 jerr;
	CURLcode		 cc;
	long			 status = 0;
	size_t			 i, blen = strlen(base);

	*err = '\0';
	/* Stripe is the operator's choice: no SSRF guard, but no proxy. */
	if ((curl = outbound_handle(5, 10, "http,https")) == NULL) {
		snprintf(err, STRIPE_ERR_MAX, "libcurl failed to start.");
		goto fail;
	}
	if (*key == '\0' || !header_safe(key) ||
	    (idem_key != NULL && !header_safe(idem_key))) {
		snprintf(err, STRIPE_ERR_MAX, "Stripe is not configured.");
		goto fail;
	}
	/* "https://api.stripe.com/" and "https://api.stripe.com" alike. */
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	buf_add(&url, base, blen);
	buf_add(&url, path, strlen(path));
	buf_add(&form, "", 0);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_add(&form, "&", 1);
		buf_escaped(&form, f[i].name);
		buf_add(&form, "=", 1);
		buf_escaped(&form, f[i].value);
	}
	buf_add(&hdr, "Authorization: Bearer ", 22);
	buf_add(&hdr, key, strlen(key));
	if (url.oom || form.oom || hdr.oom ||
	    (headers = curl_slist_append(NULL, hdr.p)) == NULL) {
		snprintf(err, STRIPE_ERR_MAX, "Out of memory.");
		goto fail;
	}
	if (idem_key != NULL) {
		free(hdr.p);
		memset(&hdr, 0, sizeof(hdr));
		buf_add(&hdr, "Idempotency-Key: ", 17);
		buf_add(&hdr, idem_key, strlen(idem_key));
		if (hdr.oom || (h = curl_slist_append(headers, hdr.p)) ==
		    NULL) {
			snprintf(err, STRIPE_ERR_MAX, "Out of memory.");
			goto fail;
		}
		headers = h;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url.p);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form.p);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)form.len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
	if ((cc = curl_easy_perform(curl)) != CURLE_OK) {
		snprintf(err, STRIPE_ERR_MAX, "Stripe could not be reached: "
		    "%s.", curl_easy_strerror(cc));
		goto fail;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	j = answer.p != NULL ? json_loadb(answer.p, answer.len, 0, &jerr) :
	    NULL;
	if (status < 200 || status > 299 || !json_is_object(j)) {
		if (status >= 200 && status <= 299)
			snprintf(err, STRIPE_ERR_MAX, "Stripe's answer is not "
			    "a JSON object.");
		else
			answer_error(j, status, err);
		json_decref(j);
		j = NULL;
		goto fail;
	}
	goto out;
fail:
	kiln_log(LOG_WARNING, "stripe POST %s: %s", path, err);
out:
	/* The handle keeps pointers to these only until the next reset. */
	if (curl != NULL)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	free(url.p);
	free(form.p);
	free(hdr.p);
	free(answer.p);
	return j;
}
