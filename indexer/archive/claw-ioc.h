/* claw-ioc.h - the archive's indicator store: indicators of compromise
 * (a URL, a host, a domain, an IP or range, a sender, a SHA-256, a
 * Message-ID) kept in the archive's LMDB beside the mail, with where they
 * came from, why, how long they hold and what they ask for, and the active
 * ones published as an indicator file for the MTA (which never reads the
 * store itself: see claw_ioc_publish).
 *
 * Values are stored normalised by libclaw's claw_ioc_normalise(), the one
 * form in which messages' values are compared; the caller normalises (the
 * archive library does not link the mail model). Adding an indicator that
 * is already there (the same type and normalised value) updates it and
 * keeps its id; revoking keeps it, marked, so that its history stays.
 */
#ifndef CLAW_IOC_H
#define CLAW_IOC_H

#include "claw-archive.h"
#include "claw_xapian.h"

/* The actions an indicator asks for: "block" (new mail refused at SMTP
 * time; the default), "quarantine" (and old mail taken back), "tag", or
 * "hunt" (only looked for). Every active indicator is hunted. */
bool claw_ioc_action_known(const char *action);

typedef struct claw_ioc {
    uint64_t id;         /* given by the store, from 1 */
    const char *type;    /* one of claw_ioc_types() */
    const char *value;   /* normalised */
    const char *given;   /* as it was given, when that differs; else NULL */
    const char *action;  /* see claw_ioc_action_known() */
    const char *source;  /* "cli", "file:PATH", "feed:NAME", ... */
    const char *reason;  /* free text; may be NULL */
    const char *added_by;
    int64_t added;       /* seconds since the epoch */
    int64_t updated;     /* last added again or changed */
    int64_t valid_from;  /* 0: from when it was added */
    int64_t valid_until; /* 0: no end */
    int64_t revoked;     /* 0: not revoked */
    const char *revoked_by;
    int confidence;      /* 0 to 100; -1: not given */
} claw_ioc_t;

/* Is @ioc in force at @now: not revoked, and within its validity? */
bool claw_ioc_active(const claw_ioc_t *ioc, int64_t now);

/* What claw_ioc_put did. */
typedef struct claw_ioc_put_counts {
    size_t added, updated, revoked;
    size_t unchanged; /* there already, just as given: not written */
} claw_ioc_put_counts_t;

/* In claw_ioc_put(): a time (valid_from, valid_until) or a confidence that
 * keeps what the indicator had (a new one: none). */
#define CLAW_IOC_KEEP INT64_MIN
#define CLAW_IOC_KEEP_CONFIDENCE (-2)

/* Add @n indicators, or update the ones already there: what each one
 * gives replaces what was there, what it leaves out (a NULL action,
 * source or reason; CLAW_IOC_KEEP; CLAW_IOC_KEEP_CONFIDENCE) stays, and a
 * revoked one is in force again. A new one without an action blocks. One
 * whose revoked is set is revoked instead (by its revoked_by, else its
 * source), if it is there and in force; else nothing is done. A feed's
 * (source "feed:NAME") speaks for its own only: it revokes none from
 * another source and revives none someone else revoked (unchanged). The
 * same indicator twice in @iocs: the last one stands. All
 * in one transaction: every one is stored, or none. Each one's type and
 * value must be normalised already; id, added, updated, added_by (of an
 * indicator already there), revoked and revoked_by are the store's, and
 * each iocs[i]->id is set to its id. @now is the time of the change. */
claw_status_t claw_ioc_put(claw_archive_t *archive, claw_ioc_t *const *iocs, size_t n,
                           int64_t now, claw_ioc_put_counts_t *counts);

/* Revoke indicator @id (by @by at @now); NOT_FOUND if there is none. An
 * indicator revoked already stays as it was. */
claw_status_t claw_ioc_revoke(claw_archive_t *archive, uint64_t id, const char *by, int64_t now);

/* The id of the indicator of @type with normalised @value, or NOT_FOUND. */
claw_status_t claw_ioc_find(claw_archive_t *archive, const char *type, const char *value,
                            uint64_t *id);

/* Indicator @id in *@out (claw_ioc_free()), or NOT_FOUND. */
claw_status_t claw_ioc_get(claw_archive_t *archive, uint64_t id, claw_ioc_t **out);
void claw_ioc_free(claw_ioc_t *ioc);

/* Call @fn for each indicator by id, until it returns false. The record
 * handed to @fn is valid during the call only. */
claw_status_t claw_ioc_each(claw_archive_t *archive,
                            bool (*fn)(void *ctx, const claw_ioc_t *ioc), void *ctx);

/* How many changes the indicators have had (adds, updates, revocations),
 * by any process: a publisher compares it with the one it last saw. 0 if
 * the store cannot be read. */
uint64_t claw_ioc_changes(claw_archive_t *archive);

/* Write the indicators in force at @now that block or quarantine (the MTA
 * refuses mail that matches its set; tag and hunt are not for it) to @path
 * as an indicator file
 * (TYPE:VALUE lines, libclaw's [ioc] format), replacing it whole: written
 * beside it, synced, then renamed over it, so that a reader sees the old
 * set or the new one, never a part. *@count (if not NULL) is how many it
 * holds; *@next_change (if not NULL) the first time after @now at which
 * one starts or ends (0: none), when it must be written again. */
claw_status_t claw_ioc_publish(claw_archive_t *archive, const char *path, int64_t now,
                               size_t *count, int64_t *next_change);

/* ------------------------------------------------------------------------
 * Hunts (hunt.c): what a search of the whole archive for one indicator
 * found, kept: the indicator, when and by whom, and each message with
 * where in it the indicator is (claw_message_locate_ioc()).
 * --------------------------------------------------------------------- */

typedef struct claw_hunt {
    uint64_t id;        /* given by the store, from 1 */
    uint64_t ioc_id;    /* the store's indicator; 0 for a value hunted by hand */
    const char *type;
    const char *value;  /* normalised */
    const char *by;     /* a Unix user, or "clawd" */
    int64_t started, finished; /* seconds since the epoch */
    uint64_t matches;
} claw_hunt_t;

/* Record @hunt (its id is set) and its @n hits: each message's docid and
 * where the indicator is in it (lines; may be NULL), in one transaction. */
claw_status_t claw_hunt_record(claw_archive_t *archive, claw_hunt_t *hunt, const uint64_t *docids,
                               const char *const *wheres, size_t n);

/* Hunt @id in *@out (claw_hunt_free()), or NOT_FOUND. */
claw_status_t claw_hunt_get(claw_archive_t *archive, uint64_t id, claw_hunt_t **out);
void claw_hunt_free(claw_hunt_t *hunt);

/* Call @fn for each hunt, by id, until it returns false. */
claw_status_t claw_hunt_each(claw_archive_t *archive,
                             bool (*fn)(void *ctx, const claw_hunt_t *hunt), void *ctx);

/* Call @fn for each message hunt @id found, by docid, with where the
 * indicator is in it, until it returns false. */
claw_status_t claw_hunt_each_hit(claw_archive_t *archive, uint64_t id,
                                 bool (*fn)(void *ctx, uint64_t docid, const char *where),
                                 void *ctx);

/* Where the indicator @type:@value is in message @m (parsed from the store;
 * @r its record, whose deliveries give the envelopes): each place once, a
 * line each (claw_message_locate_ioc()); "" when it is in none. g_free() it. */
char *claw_hunt_where(const claw_message_t *m, const claw_record_t *r, const char *type,
                      const char *value);

/* What ioc:ID means in a query (claw_index_set_ioc_terms(): @ctx is a
 * claw_ioc_query_t): indicator @id's exact terms in the index, as a hunt
 * asks for them. */
typedef struct claw_ioc_query {
    claw_archive_t *archive;
    claw_index_t *index;
} claw_ioc_query_t;
bool claw_ioc_query_terms(void *ctx, const char *id, char ***terms, char **why);

/* A hunt run: its record (kept already if asked) and every message it
 * found, newest first, with where in each the indicator is. */
typedef struct claw_hunt_run {
    claw_hunt_t hunt;
    size_t n;
    uint64_t *docids;
    char **wheres; /* lines; NULL entries when no engine was given */
} claw_hunt_run_t;

/* Hunt the indicator @type:@value (normalised; @ioc_id its id in the
 * store, or 0) over the index @ix of the archive @ar: every message, the
 * count exact, each parsed again with @engine to say where the indicator
 * is in it (none said with a NULL engine), and kept as a hunt by @by when
 * @record. *@out is freed with claw_hunt_run_free(). INVALID_ARGUMENT with
 * *@error for an indicator that cannot be hunted (an unknown type,
 * a range over more than 100,000 of the index's addresses; free() it). */
claw_status_t claw_hunt_run(claw_archive_t *ar, claw_index_t *ix, claw_engine_t *engine,
                            uint64_t ioc_id, const char *type, const char *value, const char *by,
                            bool record, claw_hunt_run_t **out, char **error);
void claw_hunt_run_free(claw_hunt_run_t *run);

/* Record the @n hunts @runs made without recording them (each one's id is
 * set), in one transaction: a round of 100,000 hunts is not 100,000
 * commits. */
claw_status_t claw_hunt_record_runs(claw_archive_t *archive, claw_hunt_run_t *const *runs,
                                    size_t n);

#endif
