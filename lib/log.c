/*
 * log: stderr lines. lighttpd sends a FastCGI child's stderr to its
 * breakage log; cron mails it; tests show it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

static const char	*prog = "kiln";	/* prefix of every line */
/* The current request, or NULL; per thread (the checkpoint thread's
 * lines belong to no request). */
static _Thread_local const char *request_id;
static int		 max_level = -1;	/* from KILN_LOG_LEVEL, lazily */

static int
configured_level(void)
{
	const char	*v = cfg_get("log_level");

	if (strcmp(v, "debug") == 0)
		return LOG_DEBUG;
	if (strcmp(v, "warning") == 0)
		return LOG_WARNING;
	if (strcmp(v, "error") == 0)
		return LOG_ERR;
	return LOG_INFO;
}

void
log_init(const char *progname)
{
	const char	*slash = strrchr(progname, '/');

	prog = slash != NULL ? slash + 1 : progname;
	/* Before any thread starts: no first read races another. */
	max_level = configured_level();
}

void
log_set_request(const char *id)
{
	request_id = id;
}

void
kiln_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice",
		"info", "debug"
	};
	char	 line[2048];
	va_list	 ap;

	if (max_level < 0)
		max_level = configured_level();
	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (request_id != NULL)
		fprintf(stderr, "%s: %s: [%s] %s\n", prog,
		    names[level & 7], request_id, line);
	else
		fprintf(stderr, "%s: %s: %s\n", prog, names[level & 7], line);
}
