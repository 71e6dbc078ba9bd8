/*
 * cron: lock, schema check and one pass for the programs in cron/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cron.h"
#include "db.h"
#include "iso.h"
#include "log.h"

/*
 * Takes the job's lock. Returns the descriptor holding it, -1 when
 * another run holds it, -2 (logged) on error. The lock goes with the
 * process, so a run that crashes can't leave it taken.
 */
static int
lock_job(const char *job)
{
	const char	*dir = cfg_get("var_dir");
	char		 path[4096];
	int		 fd, err;

	if (snprintf(path, sizeof(path), "%s/cron-%s.lock", dir, job) >=
	    (int)sizeof(path)) {
		kiln_log(LOG_ERR, "lock path too long: %s", dir);
		return -2;
	}
	/* A first run on a fresh host may come before kiln-migrate's. */
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		kiln_log(LOG_WARNING, "mkdir %s: %s", dir, strerror(errno));
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
		kiln_log(LOG_ERR, "lock %s: %s", path, strerror(errno));
		return -2;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	err = errno;
	close(fd);
	if (err == EWOULDBLOCK) {
		kiln_log(LOG_INFO, "skipped: another run holds %s", path);
		return -1;
	}
	kiln_log(LOG_ERR, "flock %s: %s", path, strerror(err));
	return -2;
}

int
cron_run(const char *job, int (*pass)(int64_t now))
{
	static char	 name[64];	/* log_init keeps the pointer */
	int		 fd, rc = 1;

	snprintf(name, sizeof(name), "kiln-cron-%s", job);
	log_init(name);
	if ((fd = lock_job(job)) == -1)
		return 0;
	if (fd < 0)
		return 1;
	if (!db_schema_ok())
		goto out;
	if (pass(iso_now()))
		rc = 0;
	else
		kiln_log(LOG_ERR, "pass failed; the next run carries on");
	/* A pass that returned mid-transaction must not commit it. */
	db_release();
out:
	close(fd);
	return rc;
}
