/*
 * kiln: everything a route or cron program needs from the library.
 */
#ifndef KILN_H
#define KILN_H

#define KILN_VERSION	"0.1.0"

#include "audit.h"
#include "auth.h"
#include "cfg.h"
#include "db.h"
#include "hash.h"
#include "id.h"
#include "idem.h"
#include "iso.h"
#include "log.h"
#include "page.h"
#include "rate.h"
#include "req.h"
#include "valid.h"

#endif
