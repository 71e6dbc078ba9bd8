/*
 * hello: the ceiling of the stack. A FastCGI program that answers every
 * request with a fixed small JSON body and does nothing else, served by
 * the same lighttpd as Kiln's routes, so bench/run.sh can report each
 * endpoint's throughput as a ratio to it.
 */
#include <fcgiapp.h>

int
main(void)
{
	static const char reply[] =
	    "Status: 200 OK\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Content-Length: 16\r\n\r\n"
	    "{\"hello\":\"kiln\"}";
	FCGX_Request	 r;

	FCGX_Init();
	FCGX_InitRequest(&r, 0, 0);
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutStr(reply, sizeof(reply) - 1, r.out);
		FCGX_Finish_r(&r);
	}
	return 0;
}
