/*
 * log: one line per event on stderr, prefixed with the program and the
 * request id of the request being served, if any.
 */
#ifndef KILN_LOG_H
#define KILN_LOG_H

#include <syslog.h>	/* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */

/* Set once by the program: the name that prefixes every line. */
void	log_init(const char *progname);

/* Borrowed until log_set_request(NULL): the id of the current request. */
void	log_set_request(const char *request_id);

void	kiln_log(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
