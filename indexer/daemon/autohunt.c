/* autohunt.c - clawd hunts every indicator that is added or changed, over
 * the whole archive, by itself: within seconds of `claw ioc add` (or a
 * feed) the hunt record says which messages, of any age, hold it and where
 * (claw_hunt_run, kept by "clawd"). And each message stored later is
 * looked at once against the indicators in force, and linked to those it
 * holds (kept as hunts by "clawd (ingest)").
 *
 * Looked at once a second on the event loop (counters read from the
 * store); the work runs in a thread of its own, with its own reader of the
 * index and its own engine to parse messages. A round of hunts waits until
 * the index holds every message the store held when it began, so that a
 * message is either in the index the hunt reads or after the point from
 * which new messages are linked: none falls between. Each round starts
 * from the time the last one started (kept in the store, so a restart goes
 * on from there): an indicator changed in the same second as a round began
 * is hunted twice, never not at all.
 */
#include "build-config.h"

#include "clawd.h"
#include "claw-ioc.h"

#include <inttypes.h>
#include <time.h>

#define RETRY_AFTER 10 /* seconds after a round that failed */
#define HUNTED_THROUGH "hunted_through" /* indicators changed since: to hunt */
#define LINKED_SEQ "linked_seq"         /* messages after this seq: to link */
#define LINK_BATCH 500                  /* messages linked in one go */
#define RECORD_BATCH 1000               /* hunts kept in one transaction */
#define RETENTION_AT "retention_at"     /* when retention last ran */
#define RETENTION_EVERY (24 * 3600)     /* seconds */

enum { JOB_HUNT, JOB_LINK, JOB_RETENTION };

struct clawd_hunter {
    server_t *srv;
    struct event *tick;
    GThread *thread;   /* the round under way, or NULL */
    gint finished;     /* set by the thread */
    gint stop;         /* clawd is stopping: the round ends after its hunt */
    bool failed;       /* by the thread: try the round again later */
    bool resumed;      /* plans cut short were looked for (first round) */
    claw_engine_t *engine; /* the thread's, made once */
    uint64_t want;     /* the store's change count the round started at */
    uint64_t seen;     /* the change count of the last round that finished */
    int64_t retry_at;
    uint64_t round_seq; /* the store's last message when a change was seen */
    uint64_t link_to;  /* the store's last message when linking began */
    int job;           /* the thread's: JOB_HUNT, JOB_LINK, JOB_RETENTION */
    GArray *ranges;    /* range_t: the IP ranges in force, for linking */
    uint64_t ranges_at; /* the change count they were read at */
    size_t in_force;   /* indicators in force then (none: nothing to link) */
    uint64_t passed_over; /* messages up to here had no indicator to link to */
};

typedef struct {
    int64_t since;
    GPtrArray *due; /* claw_ioc_t copies: id, type, value */
} due_run_t;

/* What a hunt needs of @c, kept past the store's read (free_due()). */
static claw_ioc_t *
copy_ioc(const claw_ioc_t *c)
{
    claw_ioc_t *copy = g_new0(claw_ioc_t, 1);
    copy->id = c->id;
    copy->type = g_strdup(c->type);
    copy->value = g_strdup(c->value);
    copy->action = g_strdup(c->action);
    return copy;
}

static bool
collect_due(void *ctx, const claw_ioc_t *c)
{
    due_run_t *d = ctx;
    if (c->updated >= d->since && claw_ioc_active(c, time(NULL)))
        g_ptr_array_add(d->due, copy_ioc(c));
    return true;
}

static void
free_due(gpointer p)
{
    claw_ioc_t *c = p;
    g_free((char *)c->type);
    g_free((char *)c->value);
    g_free((char *)c->action);
    g_free(c);
}

/* The thread's engine, made once; false (said once) without one. */
static bool
have_engine(clawd_hunter_t *h)
{
    char *err = NULL;
    if (!h->engine && claw_engine_new(h->srv->cfg, &h->engine, &err) != CLAW_STATUS_SUCCESS) {
        claw_log(CLAW_LOG_ERROR, NULL, "hunts: cannot parse messages: %s",
                 err ? err : "no engine");
        free(err);
    }
    return h->engine != NULL;
}

/* A hunt kept: said when it found something (the ones that found nothing
 * only in the round's summary: a feed of 100,000), and counted. */
static void
say_hunt(const claw_hunt_run_t *run, guint *hunted, uint64_t *matches)
{
    if (run->hunt.matches)
        claw_log(CLAW_LOG_NOTICE, NULL,
                 "hunt %" PRIu64 ": indicator %" PRIu64 " (%s:%s): %" PRIu64 " messages",
                 run->hunt.id, run->hunt.ioc_id, run->hunt.type, run->hunt.value,
                 run->hunt.matches);
    (*hunted)++;
    *matches += run->hunt.matches;
}

/* One round: hunt every indicator in force changed since the last round
 * began, then note this round's start. */
static void
hunt_round(clawd_hunter_t *h)
{
    claw_archive_t *ar = h->srv->archive;
    int64_t started = time(NULL);
    gint64 t0 = g_get_monotonic_time();
    guint hunted = 0;
    uint64_t matches = 0;
    int64_t since = (int64_t)claw_archive_info_get(ar, HUNTED_THROUGH);
    due_run_t d = {since, g_ptr_array_new_with_free_func(free_due)};
    claw_index_t *ix = NULL;
    char *err = NULL;
    if (claw_ioc_each(ar, collect_due, &d)) {
        claw_log(CLAW_LOG_ERROR, NULL, "hunts: cannot read the indicators: %s",
                 claw_archive_error(ar));
        h->failed = true;
    } else if (d.due->len || !h->resumed) {
        char *dir = g_build_filename(claw_archive_dir(ar), "index", NULL);
        claw_status_t st = claw_index_open(dir, 0, &ix, &err);
        g_free(dir);
        if (st) {
            claw_log(CLAW_LOG_ERROR, NULL, "hunts: cannot read the index: %s",
                     err ? err : claw_status_to_string(st));
            free(err);
            h->failed = true;
        }
        have_engine(h); /* without one, the hunts say no where */
    }
    if (ix && !h->resumed) { /* the first round: plans a crash cut short */
        clawd_clawback_resume(h->srv, ix);
        h->resumed = true;
    }
    /* Hunts are kept RECORD_BATCH at a time, in one transaction each (a
     * feed of 100,000 new indicators is not 100,000 commits); a hunt is
     * only said once it is kept. */
    GPtrArray *done = g_ptr_array_new_with_free_func((GDestroyNotify)claw_hunt_run_free);
    /* The indicators asking for quarantine: their mail is taken back. */
    GHashTable *quarantine = g_hash_table_new(g_int64_hash, g_int64_equal);
    for (guint i = 0; ix && i <= d.due->len; i++) {
        bool last = i == d.due->len || g_atomic_int_get(&h->stop);
        if (done->len && (last || done->len == RECORD_BATCH)) {
            if (claw_hunt_record_runs(ar, (claw_hunt_run_t *const *)done->pdata, done->len)) {
                claw_log(CLAW_LOG_ERROR, NULL, "hunts not kept: %s", claw_archive_error(ar));
                h->failed = true;
                break;
            }
            for (guint k = 0; k < done->len; k++) {
                claw_hunt_run_t *run = done->pdata[k];
                say_hunt(run, &hunted, &matches);
                if (g_hash_table_contains(quarantine, &run->hunt.ioc_id))
                    clawd_clawback_hunt(h->srv, ix, run);
            }
            g_ptr_array_set_size(done, 0);
        }
        if (last) {
            if (i < d.due->len)
                h->failed = true; /* stopped, not through: the next start goes on */
            break;
        }
        claw_ioc_t *c = d.due->pdata[i];
        if (c->action && !strcmp(c->action, "quarantine"))
            g_hash_table_add(quarantine, &c->id);
        claw_hunt_run_t *run = NULL;
        err = NULL;
        claw_status_t st =
            claw_hunt_run(ar, ix, h->engine, c->id, c->type, c->value, "clawd", false, &run, &err);
        if (st) {
            claw_log(CLAW_LOG_ERROR, NULL, "hunt of indicator %" PRIu64 " (%s:%s): %s", c->id,
                     c->type, c->value, err ? err : claw_status_to_string(st));
            free(err);
            /* An indicator that cannot be hunted (a range too wide) is
             * said and left; a store or index that fails ends the round. */
            if (st != CLAW_STATUS_INVALID_ARGUMENT) {
                h->failed = true;
                break;
            }
            continue;
        }
        g_ptr_array_add(done, run);
    }
    g_ptr_array_free(done, TRUE);
    g_hash_table_destroy(quarantine);
    if (hunted)
        claw_log(CLAW_LOG_NOTICE, NULL,
                 "hunts: round done: %u indicators hunted, %" PRIu64 " messages found, %.1f s",
                 hunted, matches, (double)(g_get_monotonic_time() - t0) / 1e6);
    claw_index_close(ix);
    /* (A round with nothing to hunt writes nothing: the store is written
     * only for what changed.) */
    if (!h->failed && d.due->len && claw_archive_info_set(ar, HUNTED_THROUGH, (uint64_t)started)) {
        claw_log(CLAW_LOG_ERROR, NULL, "hunts: %s", claw_archive_error(ar));
        h->failed = true;
    }
    /* The first round of all hunted every indicator over every message
     * the index held: linking starts after them. */
    if (!h->failed && d.due->len && since == 0 &&
        claw_archive_info_get(ar, LINKED_SEQ) < h->round_seq)
        claw_archive_info_set(ar, LINKED_SEQ, h->round_seq);
    g_ptr_array_free(d.due, TRUE);
}

/* ------------------------------------------------------------------------
 * Linking: each new message against the indicators in force
 * --------------------------------------------------------------------- */

typedef struct {
    uint64_t id;
    claw_cidr_t cidr;
} range_t;

/* What a batch of new messages is linked to: per indicator, its hits. */
typedef struct {
    claw_ioc_t *ioc; /* a copy (free_due) */
    GArray *docids;  /* uint64_t */
    GPtrArray *wheres;
} link_t;

typedef struct {
    clawd_hunter_t *h;
    GHashTable *tried; /* "type:value" looked up for this message */
    GHashTable *links; /* indicator id -> link_t */
    const claw_message_t *m;
    const claw_record_t *r;
    uint64_t docid;
} link_run_t;

static void
free_link(gpointer p)
{
    link_t *l = p;
    free_due(l->ioc);
    g_array_free(l->docids, TRUE);
    g_ptr_array_free(l->wheres, TRUE);
    g_free(l);
}

/* Message l->docid holds indicator @c: note it, with where. */
static void
linked(link_run_t *l, const claw_ioc_t *c)
{
    link_t *k = g_hash_table_lookup(l->links, &c->id);
    if (!k) {
        k = g_new0(link_t, 1);
        k->ioc = copy_ioc(c);
        k->docids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        k->wheres = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(l->links, &k->ioc->id, k);
    } else if (k->docids->len &&
               g_array_index(k->docids, uint64_t, k->docids->len - 1) == l->docid) {
        return; /* found by another key of the same message */
    }
    g_array_append_val(k->docids, l->docid);
    g_ptr_array_add(k->wheres, claw_hunt_where(l->m, l->r, c->type, c->value));
}

/* Look up indicator @type:@raw (normalised as claw ioc does) in the store. */
static void
try_key(link_run_t *l, const char *type, const char *raw)
{
    char *key = NULL;
    if (!raw || !*raw || claw_ioc_normalise(type, raw, &key, NULL) != CLAW_STATUS_SUCCESS)
        return;
    char *tk = g_strdup_printf("%s:%s", type, key);
    free(key);
    if (!g_hash_table_add(l->tried, tk))
        return;
    uint64_t id;
    claw_ioc_t *c = NULL;
    const char *v = strchr(tk, ':') + 1;
    if (claw_ioc_find(l->h->srv->archive, type, v, &id) == CLAW_STATUS_SUCCESS &&
        claw_ioc_get(l->h->srv->archive, id, &c) == CLAW_STATUS_SUCCESS &&
        claw_ioc_active(c, time(NULL)))
        linked(l, c);
    claw_ioc_free(c);
}

/* @host and each domain above it, as domain indicators. */
static void
try_domains(link_run_t *l, const char *host)
{
    for (const char *p = host; p && *p; p = strchr(p, '.')) {
        if (*p == '.')
            p++;
        try_key(l, "domain", p);
    }
}

static void
try_ip(link_run_t *l, const char *ip)
{
    if (!ip || !*ip)
        return;
    try_key(l, "ip", ip);
    for (guint i = 0; i < l->h->ranges->len; i++) {
        range_t *rg = &g_array_index(l->h->ranges, range_t, i);
        claw_ioc_t *c = NULL;
        if (claw_cidr_contains_text(&rg->cidr, ip) &&
            claw_ioc_get(l->h->srv->archive, rg->id, &c) == CLAW_STATUS_SUCCESS &&
            claw_ioc_active(c, time(NULL)))
            linked(l, c);
        claw_ioc_free(c);
    }
}

/* Every indicator key message @m (with its record @r) holds, looked up. */
static void
link_message(link_run_t *l)
{
    const claw_message_t *m = l->m;
    g_hash_table_remove_all(l->tried);
    for (size_t i = 0; i < m->n_urls; i++) {
        const claw_url_t *u = &m->urls[i];
        try_key(l, "url", u->url);
        try_key(l, "host", u->host.ascii);
        try_domains(l, u->host.ascii);
        try_ip(l, u->host.ascii); /* a link to an IP: the model writes it canonical */
    }
    for (size_t i = 0; i < m->n_addresses; i++) {
        const claw_address_t *a = &m->addresses[i];
        if (a->field > CLAW_FIELD_RETURN_PATH)
            continue;
        try_key(l, "sender", a->address);
        try_domains(l, a->domain.ascii);
    }
    for (size_t i = 0; i < l->r->n_deliveries; i++) {
        const claw_delivery_t *d = &l->r->deliveries[i];
        try_key(l, "sender", d->mail_from);
        const char *at = d->mail_from ? strrchr(d->mail_from, '@') : NULL;
        if (at)
            try_domains(l, at + 1);
        try_ip(l, d->client_ip);
    }
    for (size_t i = 0; i < m->n_received; i++)
        try_ip(l, m->received[i].ip);
    try_key(l, "sha256", m->sha256);
    for (size_t i = 0; i < m->n_attachments; i++)
        try_key(l, "sha256", m->attachments[i].sha256);
    try_key(l, "message-id", m->message_id);
}

static bool
collect_ranges(void *ctx, const claw_ioc_t *c)
{
    clawd_hunter_t *h = ctx;
    range_t rg = {c->id, {0}};
    if (c->revoked)
        return true;
    h->in_force++; /* not revoked: in force now, or pending, or ended */
    if (!strcmp(c->type, "ip") && strchr(c->value, '/') &&
        claw_cidr_parse(c->value, &rg.cidr) == CLAW_STATUS_SUCCESS)
        g_array_append_val(h->ranges, rg);
    return true;
}

typedef struct {
    GArray *docids;
    uint64_t last_seq;
} batch_t;

static bool
collect_docid(void *ctx, uint64_t seq, uint64_t docid)
{
    batch_t *b = ctx;
    g_array_append_val(b->docids, docid);
    b->last_seq = seq;
    return true;
}

/* Link the messages stored after the last one linked (at most LINK_BATCH),
 * against the indicators in force, and keep what was found as hunts. */
static void
link_new(clawd_hunter_t *h)
{
    claw_archive_t *ar = h->srv->archive;
    uint64_t from = MAX(claw_archive_info_get(ar, LINKED_SEQ), h->passed_over);
    batch_t b = {g_array_new(FALSE, FALSE, sizeof(uint64_t)), from};
    GArray *docids = b.docids;
    if (claw_archive_log(ar, from, LINK_BATCH, collect_docid, &b)) {
        claw_log(CLAW_LOG_ERROR, NULL, "linking: %s", claw_archive_error(ar));
        h->failed = true;
        g_array_free(docids, TRUE);
        return;
    }
    uint64_t through = b.last_seq;
    link_run_t l = {.h = h,
                    .tried = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                    .links = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, free_link)};
    for (guint i = 0; i < docids->len && h->engine; i++) {
        char *raw;
        size_t len;
        claw_record_t *r;
        claw_message_t *m;
        l.docid = g_array_index(docids, uint64_t, i);
        if (!claw_archive_parse(ar, h->engine, l.docid, &m, &r, &raw, &len)) {
            l.m = m;
            l.r = r;
            link_message(&l);
        }
        claw_message_destroy(m);
        claw_record_free(r);
        free(raw);
    }
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, l.links);
    while (!h->failed && g_hash_table_iter_next(&it, &key, &value)) {
        link_t *k = value;
        claw_hunt_t hunt = {.ioc_id = k->ioc->id, .type = k->ioc->type, .value = k->ioc->value,
                            .by = "clawd (ingest)", .started = time(NULL),
                            .finished = time(NULL), .matches = k->docids->len};
        if (claw_hunt_record(ar, &hunt, (const uint64_t *)k->docids->data,
                             (const char *const *)k->wheres->pdata, k->docids->len)) {
            claw_log(CLAW_LOG_ERROR, NULL, "linking: %s", claw_archive_error(ar));
            h->failed = true;
        } else {
            claw_log(CLAW_LOG_NOTICE, NULL,
                     "hunt %" PRIu64 ": %u new messages hold indicator %" PRIu64 " (%s:%s)",
                     hunt.id, k->docids->len, k->ioc->id, k->ioc->type, k->ioc->value);
        }
    }
    if (!h->failed && h->engine && claw_archive_info_set(ar, LINKED_SEQ, through)) {
        claw_log(CLAW_LOG_ERROR, NULL, "linking: %s", claw_archive_error(ar));
        h->failed = true;
    }
    g_hash_table_destroy(l.tried);
    g_hash_table_destroy(l.links);
    g_array_free(docids, TRUE);
}

/* The day's retention: [retention]'s delete plan, made and run
 * (clawback.c), then the time noted in the store. */
static void
retention_round(clawd_hunter_t *h)
{
    claw_archive_t *ar = h->srv->archive;
    int64_t started = time(NULL);
    char *dir = g_build_filename(claw_archive_dir(ar), "index", NULL), *err = NULL;
    claw_index_t *ix = NULL;
    claw_status_t st = claw_index_open(dir, 0, &ix, &err);
    g_free(dir);
    if (st) {
        claw_log(CLAW_LOG_ERROR, NULL, "retention: cannot read the index: %s",
                 err ? err : claw_status_to_string(st));
        free(err);
        h->failed = true;
        return;
    }
    if (!clawd_retention_run(h->srv, ix, started))
        h->failed = true;
    else if (claw_archive_info_set(ar, RETENTION_AT, (uint64_t)started))
        h->failed = true;
    claw_index_close(ix);
}

static gpointer
work(gpointer data)
{
    clawd_hunter_t *h = data;
    h->failed = false;
    if (h->job == JOB_HUNT) {
        hunt_round(h);
    } else if (h->job == JOB_RETENTION) {
        retention_round(h);
    } else {
        uint64_t changes = claw_ioc_changes(h->srv->archive);
        if (!h->ranges || h->ranges_at != changes) {
            if (!h->ranges)
                h->ranges = g_array_new(FALSE, FALSE, sizeof(range_t));
            g_array_set_size(h->ranges, 0);
            h->in_force = 0;
            claw_ioc_each(h->srv->archive, collect_ranges, h);
            h->ranges_at = changes;
        }
        /* No indicator to look for: the new messages are passed over
         * without being parsed, and without a write to the store (an
         * archive without indicators is written for its mail alone; after
         * a restart the same messages are passed over again). */
        if (!h->in_force)
            h->passed_over = h->link_to;
        else if (have_engine(h))
            link_new(h);
        else
            h->failed = true;
    }
    g_atomic_int_set(&h->finished, 1);
    return NULL;
}

static void
start(clawd_hunter_t *h, int job)
{
    h->job = job;
    g_atomic_int_set(&h->finished, 0);
    h->thread = g_thread_new(job == JOB_HUNT ? "hunt" : job == JOB_LINK ? "link" : "retention",
                             work, h);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    clawd_hunter_t *h = arg;
    if (h->thread) {
        if (!g_atomic_int_get(&h->finished))
            return;
        g_thread_join(h->thread);
        h->thread = NULL;
        if (h->failed)
            h->retry_at = time(NULL) + RETRY_AFTER;
        else if (h->job == JOB_HUNT)
            h->seen = h->want;
    }
    if (h->retry_at && time(NULL) < h->retry_at)
        return;
    h->retry_at = 0;
    claw_archive_stats_t st;
    if (claw_archive_stats(h->srv->archive, &st))
        return;
    uint64_t changes = claw_ioc_changes(h->srv->archive);
    if (changes != h->seen) {
        if (changes != h->want) { /* a change first seen now */
            h->want = changes;
            h->round_seq = st.last_seq;
        }
        /* The index must hold what the store held when the change was
         * seen: what it does not yet hold is linked instead. */
        if (claw_indexer_indexed(h->srv->indexer) >= h->round_seq) {
            start(h, JOB_HUNT);
            return;
        }
    }
    if (MAX(claw_archive_info_get(h->srv->archive, LINKED_SEQ), h->passed_over) < st.last_seq) {
        h->link_to = st.last_seq;
        start(h, JOB_LINK);
        return;
    }
    /* Retention once a day, when the index holds what the store does. */
    if (claw_config_retention(h->srv->cfg, 0) &&
        time(NULL) - (int64_t)claw_archive_info_get(h->srv->archive, RETENTION_AT) >=
            RETENTION_EVERY &&
        claw_indexer_indexed(h->srv->indexer) >= st.last_seq)
        start(h, JOB_RETENTION);
}

clawd_hunter_t *
clawd_hunter_start(server_t *srv)
{
    clawd_hunter_t *h = g_new0(clawd_hunter_t, 1);
    h->srv = srv;
    h->seen = UINT64_MAX; /* a first round at start: what changed while clawd was down */
    h->want = UINT64_MAX - 1;
    h->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, h);
    struct timeval second = {1, 0};
    event_add(h->tick, &second);
    on_tick(-1, 0, h);
    return h;
}

void
clawd_hunter_stop(clawd_hunter_t *h)
{
    if (!h)
        return;
    event_free(h->tick);
    g_atomic_int_set(&h->stop, 1);
    if (h->thread)
        g_thread_join(h->thread); /* after the hunt under way */
    claw_engine_destroy(h->engine);
    if (h->ranges)
        g_array_free(h->ranges, TRUE);
    g_free(h);
}
