/* claw-purge.h - taking mail back: purge plans, their journal, and what a
 * plan does to the archive's own copy.
 *
 * A plan is the exact list of copies a person saw in the dry run (message,
 * target, recipient, where), kept in the store with an id. Running it works
 * through that list, never a query asked again. Each copy is a journal
 * entry that goes planned -> (started ->) done | held | gone | failed:
 *   - the archive's copy is quarantined, erased or restored in the same
 *     LMDB transaction that marks its entry done and appends its audit
 *     record, so it is done exactly once whatever kills the process;
 *   - a copy elsewhere (a Maildir, a Dovecot mailbox, Exim's queue) is
 *     marked started, with where it goes, before it is touched, and done
 *     after: a run that finds it started does it again, which each target
 *     makes harmless (claw_purge_target_t).
 * A plan, its approval, every step and its end are in the audit log.
 *
 * The archive's copy, quarantined, is hidden from search (unless asked
 * for, state:quarantined) and kept whole; erased, its compressed bytes are
 * overwritten in the store, its records and keys removed, and a tombstone
 * (claw_tombstone_t) left in their place. Its index document is replaced
 * by an empty one by the indexer, which follows the store's log.
 */
#ifndef CLAW_PURGE_H
#define CLAW_PURGE_H

#include "claw-archive.h"

/* What a plan does. */
typedef enum claw_plan_action {
    CLAW_PLAN_QUARANTINE = 0,
    CLAW_PLAN_DELETE,
    CLAW_PLAN_RESTORE, /* undoes the quarantine of the plan it names */
    CLAW_PLAN_N_ACTIONS
} claw_plan_action_t;

const char *claw_plan_action_name(claw_plan_action_t action);
/* -1 for an unknown name. */
int claw_plan_action_from_name(const char *name);

/* Where a copy is. */
typedef enum claw_target {
    CLAW_TARGET_ARCHIVE = 0,
    CLAW_TARGET_MAILDIR,
    CLAW_TARGET_DOVECOT,
    CLAW_TARGET_QUEUE,
    CLAW_TARGET_N
} claw_target_t;

const char *claw_target_name(claw_target_t target);
int claw_target_from_name(const char *name);

typedef enum claw_plan_state {
    CLAW_PLAN_AWAITING = 0, /* over the approval threshold: a second person must approve */
    CLAW_PLAN_READY,
    CLAW_PLAN_RUNNING,      /* begun: a run (or clawd at start) finishes it */
    CLAW_PLAN_DONE,
    CLAW_PLAN_EXPIRED,      /* not approved in time */
    CLAW_PLAN_CANCELLED,
    CLAW_PLAN_N_STATES
} claw_plan_state_t;

const char *claw_plan_state_name(claw_plan_state_t state);

typedef enum claw_copy_status {
    CLAW_COPY_PLANNED = 0,
    CLAW_COPY_STARTED, /* a target outside the store was asked; not yet known done */
    CLAW_COPY_DONE,
    CLAW_COPY_HELD,    /* a legal hold keeps it (delete only) */
    CLAW_COPY_GONE,    /* not where the plan saw it: nothing to do */
    CLAW_COPY_FAILED,  /* the target refused or broke: detail says why; run again */
    CLAW_COPY_N_STATUS
} claw_copy_status_t;

const char *claw_copy_status_name(claw_copy_status_t status);

typedef struct claw_plan {
    uint64_t id;
    claw_plan_action_t action;
    claw_plan_state_t state;
    const char *source;  /* what named the mail: "hunt:3", "ioc:12", "query:...", "plan:4" */
    const char *reason;
    const char *by;      /* who made it (a Unix user, "clawd") */
    int64_t created;     /* seconds since the epoch */
    int64_t expires;     /* AWAITING: approve before this */
    const char *approved_by;
    int64_t approved;
    uint64_t restores;   /* RESTORE: the plan it undoes */
    uint64_t n_copies;
    uint64_t count[CLAW_COPY_N_STATUS]; /* copies by status */
    int64_t finished;
    void *strings;       /* what the strings are kept in: claw_plan_clear() */
} claw_plan_t;

/* Free what claw_plan_get() and claw_plan_run() filled @plan with. */
void claw_plan_clear(claw_plan_t *plan);

typedef struct claw_copy {
    uint64_t plan;       /* the plan it belongs to */
    uint32_t n;          /* its number in the plan, from 1 */
    uint64_t docid;      /* the archive's message */
    claw_target_t target;
    const char *id;      /* the message's X-Clawback-Id */
    const char *recipient; /* "" for the archive's copy */
    const char *where;   /* the target's place: "archive", a Maildir file... */
    claw_copy_status_t status;
    const char *detail;  /* where it went (to restore it), or why it failed */
    const char *hold;    /* HELD: the hold's name */
    const char *from;    /* RESTORE: where the quarantine put it (that copy's detail) */
    int64_t time;        /* of its last step */
} claw_copy_t;

/* ------------------------------------------------------------------------
 * The archive's copy
 * --------------------------------------------------------------------- */

typedef enum claw_msg_state {
    CLAW_MSG_STORED = 0, /* the message is in the archive, visible */
    CLAW_MSG_QUARANTINED,
    CLAW_MSG_ERASED,     /* only its tombstone is left */
    CLAW_MSG_ABSENT      /* no such docid */
} claw_msg_state_t;

/* What is left of an erased message. */
typedef struct claw_tombstone {
    uint64_t docid;
    char sha256[65];
    char id[CLAW_ID_SIZE];
    const char *message_id;
    const char *mail_from;   /* first delivery's */
    const char *rcpt;        /* every delivery's recipients, comma separated */
    int64_t arrival_ms;
    uint64_t size;
    const char *action;      /* the verdict it had */
    uint64_t plan;
    const char *reason;
    const char *by;
    int64_t time;            /* erased at, seconds */
} claw_tombstone_t;

/* The state of message @docid; with CLAW_MSG_QUARANTINED, *@plan (if not
 * NULL) is the plan that quarantined it. */
claw_status_t claw_archive_msg_state(claw_archive_t *archive, uint64_t docid,
                                     claw_msg_state_t *state, uint64_t *plan);
/* Call @fn with the tombstone of @docid (NOT_FOUND when it has none). */
claw_status_t claw_archive_tombstone(claw_archive_t *archive, uint64_t docid,
                                     void (*fn)(void *ctx, const claw_tombstone_t *t),
                                     void *ctx);

/* A message the MTA quarantined at reception (withheld from its
 * recipients, delivered to the archive alone, stored quarantined without
 * a plan) is released in steps around handing it to the MTA again: BEGIN,
 * then DONE (back in view) or ABORT (the MTA did not take it: quarantined
 * as before), each in the audit log with @detail (what the MTA said). A
 * release begun and never ended (a crash in between) is refused (IO_ERROR)
 * unless @again: the message may have reached its recipients.
 * INVALID_ARGUMENT, with the error saying why, for a message not
 * quarantined at reception. */
typedef enum { CLAW_RELEASE_BEGIN, CLAW_RELEASE_DONE, CLAW_RELEASE_ABORT } claw_release_step_t;
claw_status_t claw_archive_release(claw_archive_t *archive, uint64_t docid, const char *by,
                                   claw_release_step_t step, bool again, const char *detail);

/* ------------------------------------------------------------------------
 * Plans
 * --------------------------------------------------------------------- */

/* One copy a plan will touch, as the planner gives it. */
typedef struct claw_plan_item {
    uint64_t docid;
    claw_target_t target;
    const char *recipient; /* "" for the archive */
    const char *where;
    const char *hold;      /* a hold in force that keeps it: planned HELD (delete) */
    const char *from;      /* a restore: where the quarantine put it */
} claw_plan_item_t;

/* Make a plan of @n @items (plan->action, source, reason, by, created,
 * restores set; plan->id and state are set here): AWAITING when @n is over
 * @approval_threshold (expiring @expiry_s later), else READY. The message
 * ids are read from the store. Audited as purge.plan. */
claw_status_t claw_plan_make(claw_archive_t *archive, claw_plan_t *plan,
                             const claw_plan_item_t *items, size_t n,
                             uint64_t approval_threshold, int64_t expiry_s);

/* Plan @id (claw_plan_clear() it): NOT_FOUND when there is none. An
 * AWAITING plan past its expiry reads as EXPIRED. */
claw_status_t claw_plan_get(claw_archive_t *archive, uint64_t id, claw_plan_t *plan);

/* Call @fn with each plan, newest first, until it returns false. */
claw_status_t claw_plan_each(claw_archive_t *archive,
                             bool (*fn)(void *ctx, const claw_plan_t *plan), void *ctx);

/* Call @fn with each copy of plan @id in order, until it returns false. */
claw_status_t claw_plan_copies(claw_archive_t *archive, uint64_t id,
                               bool (*fn)(void *ctx, const claw_copy_t *copy), void *ctx);

/* Approve AWAITING plan @id as @by, who must not be its maker
 * (INVALID_ARGUMENT, with the error saying so, for that or a plan not
 * awaiting approval). */
claw_status_t claw_plan_approve(claw_archive_t *archive, uint64_t id, const char *by,
                                int64_t now);
/* Cancel a plan not begun. */
claw_status_t claw_plan_cancel(claw_archive_t *archive, uint64_t id, const char *by,
                               int64_t now);

/* A target outside the store, for claw_plan_run(). It is given copies
 * with the status they had before this try (STARTED: a run was cut short
 * while at it, so what it finds done may be its own work). It takes a copy
 * out of the user's view (quarantine: its detail, g_malloc'd, says where
 * it went), removes it (delete) or puts it back (restore, from @copy->from:
 * where the quarantine put it), and must give the same end when asked
 * again after a crash: a copy already where it was sent is done. Each
 * copy's status is DONE, GONE (nothing where the plan saw it) or FAILED
 * (its detail saying why).
 *
 * A target sets one of: act, which is given one copy at a time and returns
 * its status; act_many, given every copy of one transaction that is its
 * own (up to a few hundred), to do them together (one doveadm call for a
 * user's copies rather than one each), filling @status[i] and @detail[i]. */
typedef struct claw_purge_target {
    claw_copy_status_t (*act)(void *ctx, claw_plan_action_t action, const claw_copy_t *copy,
                              char **detail);
    void (*act_many)(void *ctx, claw_plan_action_t action, const claw_copy_t *copies, size_t n,
                     claw_copy_status_t *status, char **detail);
    void *ctx;
} claw_purge_target_t;

/* Is message @docid kept by a legal hold in force? The hold's name, or
 * NULL. Asked before each erasure. */
typedef const char *(*claw_hold_check_t)(void *ctx, uint64_t docid);

typedef struct claw_plan_run_options {
    const char *by;
    const claw_purge_target_t *targets[CLAW_TARGET_N]; /* NULL: that target's copies fail */
    claw_hold_check_t held;
    void *held_ctx;
    /* After each copy: progress. */
    void (*progress)(void *ctx, const claw_plan_t *plan, uint64_t done);
    void *progress_ctx;
} claw_plan_run_options_t;

/* Run plan @id to its end: every copy not yet done, in order. A plan done
 * already is SUCCESS with nothing to do; AWAITING, EXPIRED or CANCELLED is
 * INVALID_ARGUMENT with the error saying so; another run of it at the same
 * time is refused (IO_ERROR, "being run"). *@plan is the plan at the end.
 * Copies that failed leave the plan RUNNING, to be run again. */
claw_status_t claw_plan_run(claw_archive_t *archive, uint64_t id,
                            const claw_plan_run_options_t *opt, claw_plan_t *plan);

#endif
