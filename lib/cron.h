/*
 * cron: the skeleton of a cron program (SPEC 12). A job is one pass
 * function; cron_run names the program, takes the job's lock, checks
 * the schema and runs the pass once.
 */
#ifndef KILN_CRON_H
#define KILN_CRON_H

#include <stdint.h>

/*
 * Runs pass(now) once under an exclusive, non-blocking flock(2) on
 * <var_dir>/cron-<job>.lock, with the program named "kiln-cron-<job>"
 * in the log. When another run holds the lock it says so on stderr and
 * skips the pass. pass returns 1, or 0 after logging why; it does its
 * writes in its own short BEGIN IMMEDIATE transactions, so a run cut
 * short leaves a consistent database that the next run carries on from.
 * Returns the exit status for main: 0 on success or skip, 1 on failure.
 */
int	cron_run(const char *job, int (*pass)(int64_t now));

#endif
