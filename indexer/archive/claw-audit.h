/* claw-audit.h - the archive's audit log: one record per thing done to or
 * with the archive (an indicator change, a hunt, later plans, purges,
 * restores, holds), appended in the same LMDB transaction as the change it
 * records, so that the log holds a record exactly when the change
 * happened. Records are numbered from 1 and chained: each holds the
 * SHA-256 of the one before it, and the store keeps the head (the count
 * and the last record's hash). claw_audit_verify() walks the chain and
 * names the first record that was edited, removed, reordered or inserted.
 *
 * Whoever can write the store can also write a whole new chain and head:
 * that is why clawd logs the head to syslog (claw_audit_head()), where an
 * outside copy of it shows a chain rewritten or cut short.
 */
#ifndef CLAW_AUDIT_H
#define CLAW_AUDIT_H

#include "claw-archive.h"

typedef struct {
    uint64_t seq;       /* from 1 */
    int64_t time_us;    /* Unix time, microseconds */
    const char *actor;  /* a Unix user, "clawd", ... */
    const char *action; /* "ioc.put", "ioc.revoke", ... */
    const char *args;   /* what it was asked, key=value words */
    const char *result; /* what came of it, key=value words */
    char hash[65];      /* this record's SHA-256, hex */
    char prev[65];      /* the one before's (64 zeros for the first) */
} claw_audit_t;

/* Append a record in a transaction of its own (for what changes nothing
 * else: a search, a show, an export). */
claw_status_t claw_audit_add(claw_archive_t *a, const char *actor, const char *action,
                             const char *args, const char *result);

/* Call @fn with each record from number @from (1: all), in order, until it
 * returns false. The record is valid during the call. A record that cannot
 * be read fails the walk (verify says why). */
claw_status_t claw_audit_each(claw_archive_t *a, uint64_t from,
                              bool (*fn)(void *ctx, const claw_audit_t *r), void *ctx);

/* The number of records and the last one's hash (64 zeros when none), as
 * the store's head says. */
claw_status_t claw_audit_head(claw_archive_t *a, uint64_t *count, char hash[65]);

/* Walk the whole chain against the head. CLAW_STATUS_SUCCESS with *@count
 * records checked; CLAW_STATUS_IO_ERROR when the log was tampered with or
 * damaged: then *@bad (g_free) names the first bad record and what is wrong
 * with it, and *@bad_seq is its number. */
claw_status_t claw_audit_verify(claw_archive_t *a, uint64_t *count, char **bad,
                                uint64_t *bad_seq);

#endif
