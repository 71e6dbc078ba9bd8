/*
 * fuzz target: the snapshot parser, the derived numbers, the disk
 * roll-up and the whole rule pass. The input is both the current and
 * (read once more) the previous snapshot, with a small history, so the
 * rules that compare two snapshots or fit a trend run too.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "rules.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot		 cur, prev;
	struct rule_fs_series	 fs = { "/", 4, { 1000, 1060, 1120, 1180 },
	    { 50, 40, 30, 20 }, 100 };
	struct rule_history	 hist = { &fs, 1, 3 };
	struct rule_ctx		 ctx;
	struct rule_result	 res;
	const char		*code;
	char			 field[256];

	if (!snapshot_parse(&cur, (const char *)data, size, &code, field,
	    sizeof(field)))
		return 0;
	snapshot_parse(&prev, (const char *)data, size, &code, field,
	    sizeof(field));
	cur.ts = 1240;
	prev.ts = 1180;
	snapshot_derive(&cur);
	snapshot_derive(&prev);
	(void)health_disk_rollup(cur.root);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cur = &cur;
	ctx.prev = &prev;
	ctx.overrides = NULL;
	ctx.hist = &hist;
	for (int i = 0; i < rule_count; i++) {
		rule_eval(&ctx, &rule_catalog[i], &res);
		if (res.severity != NULL &&
		    (res.title[0] == '\0' || strlen(res.message) >= 600))
			abort();	/* a fired rule always says what */
		rule_result_clear(&res);
	}
	snapshot_free(&cur);
	snapshot_free(&prev);
	return 0;
}
