/*
 * fuzz target: the FastCGI responder (lib/fcgi.c) reading whatever the
 * web server's side of a connection sends: the input, then the close.
 * Whatever it is, fcgi_accept either takes a request whose parameters
 * are "NAME=value" strings, or drops the connection; a request's body
 * never comes out longer than what was sent; and the reply goes out.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A listening socket in the abstract namespace: no file to clean up. */
static int
listener(struct sockaddr_un *sa)
{
	static int	 fd = -1;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
	    "kiln-fuzz-fcgi-%d", (int)getpid());
	if (fd < 0 && ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)sa, sizeof(*sa)) != 0 ||
	    listen(fd, 4) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0))
		abort();
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 body[1 << 17];
	struct sockaddr_un	 sa;
	struct fcgi		 f;
	char			 sink[4096];
	size_t			 got = 0, n;
	int			 lfd = listener(&sa), c, i;

	/* The whole input fits the socket's buffer (max_len 65536). */
	if ((c = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		abort();
	if (size > 0 && write(c, data, size) != (ssize_t)size)
		abort();
	shutdown(c, SHUT_WR);
	fcgi_init(&f, 200, NULL, NULL);
	if (fcgi_accept(&f, lfd) == 1) {
		for (i = 0; f.envp[i] != NULL; i++)
			if (strchr(f.envp[i], '=') == NULL)
				abort();
		while ((n = fcgi_read(&f, body + got, sizeof(body) - got)) > 0)
			if ((got += n) > size)
				abort();
		fcgi_write(&f, "Status: 200 OK\r\n\r\n", 18);
		fcgi_end(&f);
	}
	fcgi_free(&f);
	while (read(c, sink, sizeof(sink)) > 0)
		continue;
	close(c);
	return 0;
}
