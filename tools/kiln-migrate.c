/*
 * kiln-migrate: brings the database (db_path) to this build's schema.
 * Run by `make run`, by the installer, and safe to run at any time:
 * each migration is one transaction, applied once.
 */
#include <stdio.h>

#include "kiln.h"

int
main(int argc, char *argv[])
{
	(void)argc;
	log_init(argv[0]);
	if (!db_migrate(db_main()))
		return 1;
	if (!db_schema_ok())
		return 1;
	printf("%s: schema %d\n", cfg_get("db_path"), db_schema_version());
	return 0;
}
