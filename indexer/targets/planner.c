/* planner.c - what a purge plan is made of (claw-targets.h): the messages
 * a question names (a query, quarantined mail too), those the legal holds
 * in force keep, the targets [purge] configures, and each message's copies
 * in them. claw purge plan and clawd's claw-back for quarantine
 * indicators make their plans through it.
 */
#include "build-config.h"

#include "claw-hold.h"
#include "claw-targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
claw_select_query(claw_index_t *ix, const char *query, GArray *docids, char **why)
{
    *why = NULL;
    claw_index_show_quarantined(ix, true);
    claw_hits_t *hits = NULL;
    char *err = NULL;
    claw_status_t st = claw_index_search(ix, query, CLAW_SORT_DATE, 0, CLAW_HITS_ALL, &hits, &err);
    claw_index_show_quarantined(ix, false);
    if (st) {
        *why = g_strdup(err ? err : claw_status_to_string(st));
        free(err);
        return false;
    }
    for (size_t i = 0; hits && i < hits->n; i++)
        g_array_append_val(docids, hits->hits[i].docid);
    claw_hits_free(hits);
    return true;
}

static int
cmp_u64(gconstpointer a, gconstpointer b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void
claw_select_unique(GArray *docids)
{
    g_array_sort(docids, cmp_u64);
    guint out = 0;
    for (guint i = 0; i < docids->len; i++)
        if (!out || g_array_index(docids, uint64_t, i) != g_array_index(docids, uint64_t, out - 1))
            g_array_index(docids, uint64_t, out++) = g_array_index(docids, uint64_t, i);
    g_array_set_size(docids, out);
}

/* ------------------------------------------------------------------------
 * Holds
 * --------------------------------------------------------------------- */

typedef struct {
    claw_index_t *ix;
    GHashTable *held; /* docid (uint64_t *) -> hold name */
    char *why;
} holds_run_t;

static bool
gather_hold(void *ctx, const claw_hold_t *h)
{
    holds_run_t *run = ctx;
    if (h->released)
        return true;
    char *q = claw_hold_query(h);
    GArray *d = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    char *why = NULL;
    if (!claw_select_query(run->ix, q, d, &why)) {
        run->why = g_strdup_printf("hold %s cannot be asked (%s): nothing is deleted", h->name,
                                   why);
        g_free(why);
    }
    for (guint i = 0; i < d->len; i++) {
        uint64_t *k = g_new(uint64_t, 1);
        *k = g_array_index(d, uint64_t, i);
        if (!g_hash_table_contains(run->held, k))
            g_hash_table_insert(run->held, k, g_strdup(h->name));
        else
            g_free(k);
    }
    g_array_free(d, TRUE);
    g_free(q);
    return !run->why;
}

GHashTable *
claw_select_held(claw_archive_t *ar, claw_index_t *ix, char **why)
{
    holds_run_t run = {ix, g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free),
                       NULL};
    if (claw_hold_each(ar, gather_hold, &run) != CLAW_STATUS_SUCCESS && !run.why)
        run.why = g_strdup(claw_archive_error(ar));
    *why = run.why;
    if (run.why) {
        g_hash_table_destroy(run.held);
        return NULL;
    }
    return run.held;
}

const char *
claw_select_held_check(void *ctx, uint64_t docid)
{
    return g_hash_table_lookup(ctx, &docid);
}

/* ------------------------------------------------------------------------
 * The targets [purge] configures
 * --------------------------------------------------------------------- */

char *
claw_recipient_expand(const char *template, const char *rcpt,
                      bool (*part_ok)(const char *part, size_t len))
{
    char *a = g_ascii_strdown(rcpt ? rcpt : "", -1);
    char *at = strrchr(a, '@');
    if (!at || at == a || !at[1] || !part_ok(a, (size_t)(at - a)) ||
        !part_ok(at + 1, strlen(at + 1))) {
        g_free(a);
        return NULL;
    }
    GString *p = g_string_new(NULL);
    for (const char *s = template; *s; s++) {
        if (*s != '%' || !s[1]) {
            g_string_append_c(p, *s);
            continue;
        }
        switch (*++s) {
        case 'u': g_string_append_len(p, a, at - a); break;
        case 'd': g_string_append(p, at + 1); break;
        case 'a': g_string_append(p, a); break;
        case '%': g_string_append_c(p, '%'); break;
        default: g_string_append_c(p, '%'), g_string_append_c(p, *s); break;
        }
    }
    g_free(a);
    return g_string_free(p, FALSE);
}

bool
claw_targets_open(const claw_config_t *cfg, const char *archive_dir, claw_targets_t *t,
                  char **error)
{
    memset(t, 0, sizeof *t);
    *error = NULL;
    const char *tmpl = claw_config_get(cfg, "purge", "maildir");
    if (tmpl && *tmpl) {
        const char *q = claw_config_get(cfg, "purge", "quarantine_dir");
        char *qdir = q && *q ? g_strdup(q) : g_build_filename(archive_dir, "quarantine", NULL);
        if (!g_path_is_absolute(qdir)) { /* an archive named relative to here */
            char *cwd = g_get_current_dir(), *abs = g_build_filename(cwd, qdir, NULL);
            g_free(cwd);
            g_free(qdir);
            qdir = abs;
        }
        t->maildir = claw_maildir_target_new(tmpl, qdir, error);
        g_free(qdir);
    }
    const char *dove = claw_config_get(cfg, "purge", "doveadm");
    if (!*error && dove && *dove)
        t->dovecot = claw_dovecot_target_new(dove, claw_config_get(cfg, "purge", "dovecot_user"),
                                             claw_config_get(cfg, "purge", "dovecot_quarantine"),
                                             error);
    const char *exim = claw_config_get(cfg, "purge", "exim");
    if (!*error && exim && *exim)
        t->exim = claw_exim_target_new(exim, error);
    if (*error) {
        claw_targets_close(t);
        return false;
    }
    t->ops[CLAW_TARGET_MAILDIR] = (claw_purge_target_t){.act = claw_maildir_act, .ctx = t->maildir};
    t->ops[CLAW_TARGET_DOVECOT] = (claw_purge_target_t){.act_many = claw_dovecot_act,
                                                        .ctx = t->dovecot};
    t->ops[CLAW_TARGET_QUEUE] = (claw_purge_target_t){.act = claw_exim_act, .ctx = t->exim};
    return true;
}

void
claw_targets_close(claw_targets_t *t)
{
    claw_maildir_target_free(t->maildir);
    claw_dovecot_target_free(t->dovecot);
    claw_exim_target_free(t->exim);
    memset(t, 0, sizeof *t);
}

void
claw_targets_for_run(claw_targets_t *t, claw_plan_run_options_t *opt)
{
    opt->targets[CLAW_TARGET_MAILDIR] = t->maildir ? &t->ops[CLAW_TARGET_MAILDIR] : NULL;
    opt->targets[CLAW_TARGET_DOVECOT] = t->dovecot ? &t->ops[CLAW_TARGET_DOVECOT] : NULL;
    opt->targets[CLAW_TARGET_QUEUE] = t->exim ? &t->ops[CLAW_TARGET_QUEUE] : NULL;
}

typedef struct {
    GArray *items;
    GStringChunk *s;
    uint64_t docid;
    const char *rcpt, *hold;
    claw_target_t target;
} found_t;

static void
found_copy(void *ctx, const char *where)
{
    found_t *f = ctx;
    claw_plan_item_t it = {.docid = f->docid,
                           .target = f->target,
                           .recipient = g_string_chunk_insert(f->s, f->rcpt),
                           .where = g_string_chunk_insert(f->s, where),
                           .hold = f->hold};
    g_array_append_val(f->items, it);
}

/* Copies in the order a plan lists and runs them: by target, recipient
 * and message. The archive's come first (done in the store, a few hundred
 * to a transaction); then each mailbox's copies together, which its
 * target can take back in one call (a user's hundred copies, one doveadm
 * move). */
static int
item_order(const void *x, const void *y)
{
    const claw_plan_item_t *a = x, *b = y;
    if (a->target != b->target)
        return a->target < b->target ? -1 : 1;
    int c = strcmp(a->recipient, b->recipient);
    if (c)
        return c;
    if (a->docid != b->docid)
        return a->docid < b->docid ? -1 : 1;
    return strcmp(a->where, b->where);
}

/* A message's recipient, to be looked for in Dovecot. */
typedef struct {
    uint64_t docid;
    const char *hold;
} ask_t;

bool
claw_targets_plan(claw_targets_t *t, claw_archive_t *ar, const bool *want,
                  const uint64_t *docids, size_t n, claw_hold_check_t held, void *held_ctx,
                  GArray *items, GStringChunk *s, char **why)
{
    *why = NULL;
    guint first = items->len;
    bool dovecot = want[CLAW_TARGET_DOVECOT] && t->dovecot;
    /* Dovecot is asked after the rest, for every (recipient, id) at once. */
    GPtrArray *rcpts = g_ptr_array_new(), *ids = g_ptr_array_new();
    GArray *asks = g_array_new(FALSE, FALSE, sizeof(ask_t));
    for (size_t k = 0; k < n; k++) {
        uint64_t docid = docids[k];
        const char *hold = held ? held(held_ctx, docid) : NULL;
        claw_record_t *r = NULL;
        if (claw_archive_get(ar, docid, &r) != CLAW_STATUS_SUCCESS)
            continue; /* erased: nothing left to find it by */
        if (want[CLAW_TARGET_ARCHIVE]) {
            found_t f = {items, s, docid, "", hold, CLAW_TARGET_ARCHIVE};
            found_copy(&f, "archive");
        }
        /* A delivery Exim still holds for some recipient: its queue copy. */
        for (size_t i = 0; i < r->n_deliveries && want[CLAW_TARGET_QUEUE] && t->exim; i++) {
            const char *qid = r->deliveries[i].queue_id;
            if (qid && claw_exim_queued(t->exim, qid)) {
                found_t f = {items, s, docid, "", hold, CLAW_TARGET_QUEUE};
                found_copy(&f, qid);
            }
        }
        GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
        for (size_t i = 0; i < r->n_deliveries; i++)
            for (size_t j = 0; j < r->deliveries[i].n_rcpt; j++) {
                const char *rcpt = r->deliveries[i].rcpt[j];
                if (!g_hash_table_add(seen, (gpointer)rcpt))
                    continue;
                found_t f = {items, s, docid, rcpt, hold, CLAW_TARGET_MAILDIR};
                if (want[CLAW_TARGET_MAILDIR] && t->maildir)
                    claw_maildir_find(t->maildir, rcpt, r->id, found_copy, &f);
                if (dovecot) {
                    ask_t a = {docid, hold};
                    g_array_append_val(asks, a);
                    g_ptr_array_add(rcpts, g_string_chunk_insert(s, rcpt));
                    g_ptr_array_add(ids, g_string_chunk_insert(s, r->id));
                }
            }
        g_hash_table_destroy(seen);
        claw_record_free(r);
    }
    GPtrArray *found = !asks->len ? NULL
                                  : claw_dovecot_find(t->dovecot, (const char *const *)rcpts->pdata,
                                                      (const char *const *)ids->pdata, asks->len,
                                                      why);
    for (guint k = 0; found && k < found->len; k++) {
        const claw_dovecot_found_t *hit = found->pdata[k];
        const ask_t *a = &g_array_index(asks, ask_t, hit->i);
        found_t f = {items, s, a->docid, rcpts->pdata[hit->i], a->hold, CLAW_TARGET_DOVECOT};
        found_copy(&f, hit->folder);
    }
    if (found)
        g_ptr_array_free(found, TRUE);
    g_ptr_array_free(rcpts, TRUE);
    g_ptr_array_free(ids, TRUE);
    g_array_free(asks, TRUE);
    if (items->len > first)
        qsort(&g_array_index(items, claw_plan_item_t, first), items->len - first,
              sizeof(claw_plan_item_t), item_order);
    return !*why;
}
