/*
 * unit: the library's pure functions, tested directly.
 */
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "tap.h"

static void
test_ids(void)
{
	char	 key[KEY_MAX], id[ID_MAX];

	ok(id_new(id, "srv_") && id_valid(id, "srv_"), "1.1 new id is valid");
	ok(!id_valid("srv_../../etc", "srv_"), "1.2 traversal refused");
	ok(id_key_new(key, KEY_PREFIX_COLLECTOR) &&
	    id_key_valid(key, KEY_PREFIX_COLLECTOR), "1.3 new key is valid");
	is_int((long long)strlen(key), 13 + 43 + 1 + 4, "1.4 key length");
	key[20] = key[20] == 'a' ? 'b' : 'a';
	ok(!id_key_valid(key, KEY_PREFIX_COLLECTOR), "1.5 typo is caught");
	is_int(id_crc32("123456789", 9), 0xcbf43926, "1.6 CRC-32 check value");
}

int
main(void)
{
	test_ids();
	return done_testing();
}
