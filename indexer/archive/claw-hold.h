/* claw-hold.h - legal holds: named questions (a query, or every message
 * from or to an address) whose mail may be quarantined but never deleted,
 * by a purge plan or by retention (issue 22: those consult
 * claw_hold_each()). Kept in the archive's LMDB, by id; releasing keeps the
 * hold, marked, so its history stays. Adding and releasing are recorded in
 * the audit log in the same transaction.
 */
#ifndef CLAW_HOLD_H
#define CLAW_HOLD_H

#include "claw-archive.h"

typedef struct {
    uint64_t id;
    const char *name;        /* letters, digits, '.', '_', '-'; unique among those in force */
    const char *query;       /* what it holds: a query in claw search's language, */
    const char *address;     /* or every message from or to this address (lower case) */
    const char *reason;
    const char *by;          /* who added it */
    int64_t created;         /* seconds since the epoch */
    int64_t released;        /* 0: in force */
    const char *released_by;
} claw_hold_t;

/* Add @hold (its id is set): exactly one of query and address.
 * INVALID_ARGUMENT for a bad name or neither/both; INVALID_ARGUMENT too,
 * with the handle's error saying so, when a hold in force has the name. */
claw_status_t claw_hold_add(claw_archive_t *archive, claw_hold_t *hold);

/* Release the hold in force named @which, or with the id @which (digits):
 * *@id is its id. NOT_FOUND when there is none in force. */
claw_status_t claw_hold_release(claw_archive_t *archive, const char *which, const char *by,
                                int64_t now, uint64_t *id);

/* Call @fn with each hold, in force or released, by id, until it returns
 * false; the hold is valid during the call. */
claw_status_t claw_hold_each(claw_archive_t *archive,
                             bool (*fn)(void *ctx, const claw_hold_t *hold), void *ctx);

/* The query for what @hold holds, in claw search's language (an address
 * as every address field and the envelope). g_free() it. */
char *claw_hold_query(const claw_hold_t *hold);

#endif
