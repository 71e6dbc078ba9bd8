/*
 * fuzz target: the small parsers every request goes through: ISO times,
 * cursors, keys, ids, host names, e-mail addresses, config_overrides.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "iso.h"
#include "page.h"
#include "rules.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s = malloc(size + 1), where[160];
	struct page_pos	 pos;
	int64_t		 ms;
	const char	*why;
	json_t		*j;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	setenv("KILN_KEY_PEPPER", "fuzz", 0);
	if (iso_parse_ms(s, &ms) && ms < 0)
		abort();
	if (page_cursor_read(s, "servers:1:[]", &pos) &&
	    strlen(pos.id) >= sizeof(pos.id))
		abort();
	(void)id_key_valid(s, KEY_PREFIX_COLLECTOR);
	(void)id_valid(s, "srv_");
	(void)valid_hostname(s);
	(void)valid_email(s);
	(void)valid_chars(s);
	if ((j = json_loadb((const char *)data, size, 0, NULL)) != NULL) {
		(void)rule_overrides_valid(j, where, sizeof(where), &why);
		json_decref(j);
	}
	free(s);
	return 0;
}
