/*
 * health: the judgements shown on the server list and the health page:
 * a server's status (SPEC 7) and its worst drive (disk_health_rollup).
 */
#ifndef KILN_HEALTH_H
#define KILN_HEALTH_H

#include <stdint.h>

#include <jansson.h>

/* Before the first snapshot nobody knows the drives' state. */
#define DISK_HEALTH_PENDING	"pending"

/*
 * The worst per-drive state of a snapshot's SMART drives
 * (snap_smart_state): "broken" (I/O errors, or a SMART health reported
 * and not PASSED or OK), "failing" (pending or
 * reallocated sectors), "declining" (power-on hours > 40 000 or wear
 * > 80 %), else "healthy". Static string.
 */
const char	*health_disk_rollup(json_t *snapshot);

/*
 * A server's status: "suspended", "pending" (never reported), "offline"
 * (silent for 15 minutes or 3 intervals, whichever is longer),
 * "critical" / "warning" (its worst open alert), else "healthy".
 * last_seen 0: never; interval_s 0 or less: unknown; worst: the
 * severity of its worst open alert, or NULL. Static string.
 */
const char	*health_status(const char *server_status, int64_t last_seen,
		    double interval_s, const char *worst, int64_t now);

/* Seconds of silence after which a server counts as offline. */
int64_t		 health_offline_after(double interval_s);

#endif
