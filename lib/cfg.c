/*
 * cfg: the configuration table, the file, the environment.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"

/*
 * Every key Kiln reads, with its default. A default of NULL means the
 * value is derived from other keys (see derived()).
 */
static struct setting {
	const char	*key;
	const char	*def;
	char		*value;	/* resolved value, owned, or NULL */
} settings[] = {
	{ "var_dir", "./var", NULL },
	{ "db_path", NULL, NULL },		/* <var_dir>/kiln.db */
	{ "rate_db_path", NULL, NULL },		/* <var_dir>/rate.db */
	{ "rate_shm_path", NULL, NULL },	/* <var_dir>/rate.shm */
	{ "listen", "127.0.0.1", NULL },
	{ "port", "8080", NULL },
	{ "base_url", NULL, NULL },		/* http://<listen>:<port> */
	{ "key_pepper", "", NULL },
	{ "log_level", "info", NULL },
	{ "busy_timeout_ms", "10000", NULL },
	{ "max_body_bytes", "65536", NULL },
	{ "fastcgi_timeout_ms", "30000", NULL },	/* see lib/fcgi.h */
	{ "session_days", "7", NULL },
	{ "free_server_quota", "3", NULL },
	{ "trust_proxy", "no", NULL },
	{ "rate_ip", "", NULL },		/* "" keeps the contract's */
	{ "rate_ingest_ip", "", NULL },
	{ "rate_key", "", NULL },
	{ "rate_account", "", NULL },
	{ "rate_server_create", "", NULL },
	{ "rate_server_delete", "", NULL },
	{ "rate_rotate_key", "", NULL },
	{ "rate_register", "", NULL },
	{ "rate_channel_test", "", NULL },
	{ "mail_from", "kiln@localhost", NULL },
	{ "smtp_url", "", NULL },		/* "": no email is sent */
	{ "smtp_user", "", NULL },
	{ "smtp_password", "", NULL },
	{ "telegram_api_base", "https://api.telegram.org", NULL },
	{ "pagerduty_events_url", "https://events.pagerduty.com/v2/enqueue",
	    NULL },
	{ "notify_connect_timeout", "5", NULL },	/* seconds */
	{ "notify_timeout", "10", NULL },	/* seconds, whole transfer */
	{ "allow_http", "no", NULL },		/* plain http:// targets */
	{ "allow_private_targets", "no", NULL },	/* SSRF guard off */
	{ "max_channels", "25", NULL },		/* per account */
	{ "crucible_latest", "", NULL },
	{ "crucible_min_supported", "0.7.0", NULL },
	{ "crucible_changelog_url",
	    "https://github.com/glassmkr/crucible/releases", NULL },
	{ "npm_registry_url",			/* the cron job version-poll */
	    "https://registry.npmjs.org/-/package/@glassmkr/crucible/"
	    "dist-tags", NULL },
	{ "npm_timeout_seconds", "15", NULL },	/* 1-15; connect <= 5 */
	{ "raw_retention_hours", "24", NULL },	/* the cron job retention */
	{ "metric_retention_days", "90", NULL },
	{ "rollup_retention_days", "365", NULL },
	{ "audit_retention_days", "365", NULL },
	{ "stripe_secret_key", "", NULL },	/* "": billing unavailable */
	{ "stripe_webhook_secret", "", NULL },
	{ "stripe_api_base", "https://api.stripe.com", NULL },
	{ "stripe_price_pro", "", NULL },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static char	*file_values[NSETTINGS];	/* from the file, owned */
static int	 loaded;

static struct setting *
find(const char *key)
{
	size_t	 i;

	for (i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static void
load_file(void)
{
	const char	*path = getenv("KILN_CONFIG");
	char		 line[1024], *eq, *k, *v;
	FILE		*f;
	int		 lineno = 0;
	struct setting	*s;

	if (path == NULL || *path == '\0') {
		path = "/etc/kiln/kiln.conf";
		if (access(path, R_OK) != 0)
			return;
	}
	if ((f = fopen(path, "r")) == NULL) {
		kiln_log(LOG_ERR, "config %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		k = trim(line);
		if (*k == '\0' || *k == '#')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			kiln_log(LOG_WARNING, "config %s:%d: no '='",
			    path, lineno);
			continue;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		if ((s = find(k)) == NULL) {
			kiln_log(LOG_WARNING, "config %s:%d: unknown key %s",
			    path, lineno, k);
			continue;
		}
		free(file_values[s - settings]);
		file_values[s - settings] = strdup(v);
	}
	fclose(f);
}

static char *
join(const char *a, const char *b, const char *c)
{
	size_t	 n = strlen(a) + strlen(b) + strlen(c) + 1;
	char	*s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

/* Values that default to a combination of other keys. */
static char *
derived(const char *key)
{
	if (strcmp(key, "db_path") == 0)
		return join(cfg_get("var_dir"), "/", "kiln.db");
	if (strcmp(key, "rate_db_path") == 0)
		return join(cfg_get("var_dir"), "/", "rate.db");
	if (strcmp(key, "rate_shm_path") == 0)
		return join(cfg_get("var_dir"), "/", "rate.shm");
	if (strcmp(key, "base_url") == 0) {
		char	*hp = join(cfg_get("listen"), ":", cfg_get("port"));
		char	*url = hp != NULL ? join("http://", hp, "") : NULL;

		free(hp);
		return url;
	}
	return strdup("");
}

const char *
cfg_get(const char *key)
{
	struct setting	*s;
	char		 env[128], *p;
	const char	*v;

	if (!loaded) {
		loaded = 1;
		load_file();
	}
	if ((s = find(key)) == NULL) {
		kiln_log(LOG_ERR, "cfg_get: unknown key %s", key);
		return "";
	}
	if (s->value != NULL)
		return s->value;
	snprintf(env, sizeof(env), "KILN_%s", key);
	for (p = env; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	if ((v = getenv(env)) != NULL && *v != '\0')
		s->value = strdup(v);
	else if (file_values[s - settings] != NULL &&
	    *file_values[s - settings] != '\0')
		s->value = strdup(file_values[s - settings]);
	else if (s->def != NULL)
		s->value = strdup(s->def);
	else
		s->value = derived(key);
	return s->value != NULL ? s->value : "";
}

int64_t
cfg_int(const char *key)
{
	const char	*v = cfg_get(key);
	struct setting	*s = find(key);
	char		*end;
	long long	 n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0') {
		kiln_log(LOG_WARNING, "config %s: not a number: %s", key, v);
		return s != NULL && s->def != NULL ? strtoll(s->def, NULL, 10)
		    : 0;
	}
	return n;
}

int
cfg_bool(const char *key)
{
	const char	*v = cfg_get(key);

	return strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcasecmp(v, "true") == 0 || strcasecmp(v, "on") == 0;
}

int
cfg_pepper(const unsigned char **pepper, size_t *len)
{
	static unsigned char	 buf[64];
	static size_t		 buflen;
	const char		*v = cfg_get("key_pepper");
	char			*path = NULL;
	int			 fd = -1, rc = 0;
	ssize_t			 n = 0;

	if (buflen > 0)
		goto done;
	if (*v != '\0') {
		buflen = strlen(v) < sizeof(buf) ? strlen(v) : sizeof(buf);
		memcpy(buf, v, buflen);
		goto done;
	}
	if ((path = join(cfg_get("var_dir"), "/", "pepper")) == NULL)
		goto out;
	/* Create it once; whoever loses the race reads the winner's. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		if (getrandom(buf, 32, 0) != 32 || write(fd, buf, 32) != 32) {
			kiln_log(LOG_ERR, "pepper %s: %s", path,
			    strerror(errno));
			unlink(path);
			goto out;
		}
		close(fd);
		fd = -1;
	}
	if ((fd = open(path, O_RDONLY)) < 0) {
		kiln_log(LOG_ERR, "pepper %s: %s", path, strerror(errno));
		goto out;
	}
	/* A concurrent creator may not have written yet: retry briefly. */
	for (int tries = 0; tries < 50; tries++) {
		n = pread(fd, buf, 32, 0);
		if (n == 32)
			break;
		usleep(10000);
	}
	if (n != 32) {
		kiln_log(LOG_ERR, "pepper %s: short file", path);
		goto out;
	}
	buflen = 32;
done:
	*pepper = buf;
	*len = buflen;
	rc = 1;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}
