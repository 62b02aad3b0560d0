/* clawback.c - clawd takes mail back by itself: the messages a hunt of a
 * quarantine indicator found (from claw ioc add, or a feed whose
 * indicators ask for quarantine) are quarantined in the archive and in
 * the recipients' mailboxes, through a purge plan like any other (made
 * and run as "clawd", journaled, audited; one over [purge]
 * approval_threshold waits for a person's approval). And at start, a
 * plan a crash or a stop cut short is finished. And once a day, the mail
 * [retention] lets go of is deleted through a plan (legal holds keep what
 * they hold).
 *
 * Runs in the hunter's thread (autohunt.c), after a round's hunts are
 * kept, with the round's reader of the index.
 */
#include "build-config.h"

#include "clawd.h"
#include "claw-ioc.h"
#include "claw-purge.h"
#include "claw-targets.h"

#include <time.h>

#define BY "clawd"

/* Run plan @id to its end, and say how it ended. */
static void
run_plan(server_t *srv, claw_index_t *ix, uint64_t id)
{
    claw_archive_t *ar = srv->archive;
    claw_plan_t p;
    if (claw_plan_get(ar, id, &p)) {
        claw_log(CLAW_LOG_ERROR, NULL, "claw-back: plan %" PRIu64 ": %s", id,
                 claw_archive_error(ar));
        return;
    }
    bool deleting = p.action == CLAW_PLAN_DELETE;
    claw_plan_clear(&p);
    char *why = NULL;
    GHashTable *held = deleting ? claw_select_held(ar, ix, &why) : NULL;
    claw_targets_t t;
    if (deleting && !held) {
        claw_log(CLAW_LOG_ERROR, NULL, "claw-back: plan %" PRIu64 " not run: %s", id, why);
        g_free(why);
        return;
    }
    if (!claw_targets_open(srv->cfg, srv->archive_dir, &t, &why)) {
        claw_log(CLAW_LOG_ERROR, NULL, "claw-back: plan %" PRIu64 " not run: %s", id, why);
        g_free(why);
        if (held)
            g_hash_table_destroy(held);
        return;
    }
    claw_plan_run_options_t opt = {.by = BY, .held = held ? claw_select_held_check : NULL,
                                   .held_ctx = held};
    claw_targets_for_run(&t, &opt);
    claw_status_t st = claw_plan_run(ar, id, &opt, &p);
    if (st)
        claw_log(CLAW_LOG_ERROR, NULL, "claw-back: plan %" PRIu64 ": %s", id,
                 claw_archive_error(ar));
    else
        claw_log(p.state == CLAW_PLAN_DONE ? CLAW_LOG_NOTICE : CLAW_LOG_WARNING, NULL,
                 "claw-back: plan=%" PRIu64 " action=%s state=%s copies=%" PRIu64
                 " done=%" PRIu64 " gone=%" PRIu64 " held=%" PRIu64 " failed=%" PRIu64,
                 id, claw_plan_action_name(p.action), claw_plan_state_name(p.state),
                 p.n_copies, p.count[CLAW_COPY_DONE], p.count[CLAW_COPY_GONE],
                 p.count[CLAW_COPY_HELD], p.count[CLAW_COPY_FAILED]);
    claw_plan_clear(&p);
    claw_targets_close(&t);
    if (held)
        g_hash_table_destroy(held);
}

void
clawd_clawback_hunt(server_t *srv, claw_index_t *ix, const claw_hunt_run_t *run)
{
    if (!run->n)
        return;
    claw_archive_t *ar = srv->archive;
    claw_targets_t t;
    char *why = NULL;
    if (!claw_targets_open(srv->cfg, srv->archive_dir, &t, &why)) {
        claw_log(CLAW_LOG_ERROR, NULL, "claw-back of indicator %" PRIu64 ": %s",
                 run->hunt.ioc_id, why);
        g_free(why);
        return;
    }
    bool want[CLAW_TARGET_N] = {[CLAW_TARGET_ARCHIVE] = true,
                                [CLAW_TARGET_MAILDIR] = t.maildir != NULL,
                                [CLAW_TARGET_DOVECOT] = t.dovecot != NULL,
                                [CLAW_TARGET_QUEUE] = t.exim != NULL};
    GArray *items = g_array_new(FALSE, TRUE, sizeof(claw_plan_item_t));
    GStringChunk *s = g_string_chunk_new(4096);
    GArray *docids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    for (size_t i = 0; i < run->n; i++) {
        /* Taken back already (by an earlier hunt of it: an indicator
         * changed as a round began is hunted twice), or erased. */
        claw_msg_state_t state = CLAW_MSG_ABSENT;
        if (claw_archive_msg_state(ar, run->docids[i], &state, NULL) == CLAW_STATUS_SUCCESS &&
            state == CLAW_MSG_STORED)
            g_array_append_val(docids, run->docids[i]);
    }
    bool ok = claw_targets_plan(&t, ar, want, (const uint64_t *)docids->data, docids->len, NULL,
                                NULL, items, s, &why);
    if (!ok) {
        claw_log(CLAW_LOG_ERROR, NULL, "claw-back of indicator %" PRIu64 ": %s (no plan; "
                 "claw purge plan --ioc %" PRIu64 " when it is back)",
                 run->hunt.ioc_id, why, run->hunt.ioc_id);
        g_free(why);
    }
    g_array_free(docids, TRUE);
    claw_targets_close(&t);
    if (ok && items->len) {
        int64_t threshold = 0, expiry_ms = 0;
        claw_config_get_int(srv->cfg, "purge", "approval_threshold", &threshold);
        claw_config_get_duration_ms(srv->cfg, "purge", "approval_expiry", &expiry_ms);
        char *source = g_strdup_printf("ioc:%" PRIu64, run->hunt.ioc_id);
        char *reason = g_strdup_printf("indicator %s:%s asks for quarantine (hunt %" PRIu64 ")",
                                       run->hunt.type, run->hunt.value, run->hunt.id);
        claw_plan_t p = {.action = CLAW_PLAN_QUARANTINE, .source = source, .reason = reason,
                         .by = BY, .created = time(NULL)};
        if (claw_plan_make(ar, &p, (claw_plan_item_t *)items->data, items->len,
                           (uint64_t)threshold, expiry_ms / 1000))
            claw_log(CLAW_LOG_ERROR, NULL, "claw-back of indicator %" PRIu64 ": %s",
                     run->hunt.ioc_id, claw_archive_error(ar));
        else if (p.state == CLAW_PLAN_AWAITING)
            claw_log(CLAW_LOG_WARNING, NULL,
                     "claw-back: plan=%" PRIu64 " ioc=%" PRIu64 " copies=%" PRIu64
                     " awaits approval (over [purge] approval_threshold): claw purge approve %"
                     PRIu64, p.id, run->hunt.ioc_id, p.n_copies, p.id);
        else
            run_plan(srv, ix, p.id);
        g_free(source);
        g_free(reason);
    }
    g_array_free(items, TRUE);
    g_string_chunk_free(s);
}

typedef struct {
    GArray *ids;
} resume_t;

static bool
to_resume(void *ctx, const claw_plan_t *p)
{
    resume_t *r = ctx;
    /* Begun and cut short; or made by clawd, which runs its plans at once,
     * and not yet begun. A plan a person made and did not run is theirs. */
    if (p->state == CLAW_PLAN_RUNNING || (p->state == CLAW_PLAN_READY && !strcmp(p->by, BY)))
        g_array_append_val(r->ids, p->id);
    return true;
}

void
clawd_clawback_resume(server_t *srv, claw_index_t *ix)
{
    resume_t r = {g_array_new(FALSE, FALSE, sizeof(uint64_t))};
    if (claw_plan_each(srv->archive, to_resume, &r))
        claw_log(CLAW_LOG_ERROR, NULL, "claw-back: cannot read the plans: %s",
                 claw_archive_error(srv->archive));
    /* Oldest first: claw_plan_each gives the newest first. */
    for (guint i = r.ids->len; i > 0; i--) {
        uint64_t id = g_array_index(r.ids, uint64_t, i - 1);
        claw_log(CLAW_LOG_NOTICE, NULL, "claw-back: plan %" PRIu64 " was cut short: finishing it",
                 id);
        run_plan(srv, ix, id);
    }
    g_array_free(r.ids, TRUE);
}

bool
clawd_retention_run(server_t *srv, claw_index_t *ix, int64_t now)
{
    claw_archive_t *ar = srv->archive;
    GArray *docids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    char *why = NULL;
    bool ok = claw_retention_due(ix, srv->cfg, now, docids, NULL, &why);
    if (!ok) {
        claw_log(CLAW_LOG_ERROR, NULL, "retention: %s", why);
        g_free(why);
    } else if (!docids->len) {
        claw_log(CLAW_LOG_INFO, NULL, "retention: nothing is due");
    } else {
        GArray *items = g_array_new(FALSE, TRUE, sizeof(claw_plan_item_t));
        for (guint i = 0; i < docids->len; i++) {
            claw_plan_item_t it = {.docid = g_array_index(docids, uint64_t, i),
                                   .target = CLAW_TARGET_ARCHIVE, .recipient = "",
                                   .where = "archive"};
            g_array_append_val(items, it);
        }
        /* The rules are the approval: no second person for retention. */
        claw_plan_t p = {.action = CLAW_PLAN_DELETE, .source = "retention",
                         .reason = "the daily retention", .by = BY, .created = now};
        if (claw_plan_make(ar, &p, (claw_plan_item_t *)items->data, items->len, UINT64_MAX, 0)) {
            claw_log(CLAW_LOG_ERROR, NULL, "retention: %s", claw_archive_error(ar));
            ok = false;
        } else {
            claw_log(CLAW_LOG_NOTICE, NULL, "retention: plan=%" PRIu64 " due=%u", p.id,
                     docids->len);
            run_plan(srv, ix, p.id); /* holds asked there, as for any delete */
        }
        g_array_free(items, TRUE);
    }
    g_array_free(docids, TRUE);
    return ok;
}
