/*
 * health: status and disk roll-up.
 */
#include <math.h>
#include <string.h>

#include "health.h"
#include "snapshot.h"

#define OFFLINE_MIN_SECS	(15 * 60)

const char *
health_disk_rollup(json_t *root)
{
	static const char *const states[] = { "healthy", "declining",
	    "failing", "broken" };
	json_t	*drive;
	size_t	 i;
	int	 worst = 0;

	if (snap_num(snap_obj(root, "io_errors"), "count") > 0)
		return states[SMART_BROKEN];
	json_array_foreach(snap_arr(root, "smart"), i, drive) {
		int	 state = snap_smart_state(drive);

		if (state > worst)
			worst = state;
	}
	return states[worst];
}

int64_t
health_offline_after(double interval_s)
{
	int64_t	 three = interval_s > 0 ? (int64_t)ceil(3 * interval_s) : 0;

	return three > OFFLINE_MIN_SECS ? three : OFFLINE_MIN_SECS;
}

const char *
health_status(const char *server_status, int64_t last_seen,
    double interval_s, const char *worst, int64_t now)
{
	if (strcmp(server_status, "suspended") == 0)
		return "suspended";
	if (last_seen == 0)
		return "pending";
	if (now - last_seen > health_offline_after(interval_s))
		return "offline";
	if (worst != NULL && strcmp(worst, "critical") == 0)
		return "critical";
	if (worst != NULL && strcmp(worst, "warning") == 0)
		return "warning";
	return "healthy";
}
