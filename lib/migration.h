/*
 * migration: the schema files, embedded at build time (build/schema.c).
 */
#ifndef KILN_MIGRATION_H
#define KILN_MIGRATION_H

struct migration {
	int		 version;	/* NNN of schema/NNN-name.sql */
	const char	*name;		/* "NNN-name" */
	const char	*sql;		/* the file's text */
};

extern const struct migration	db_migrations[];	/* ascending */
extern const int		db_nmigrations;

#endif
