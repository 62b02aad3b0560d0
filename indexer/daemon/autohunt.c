/* autohunt.c - clawd hunts every indicator that is added or changed, over
 * the whole archive, by itself: within seconds of `claw ioc add` (or a
 * feed) the hunt record says which messages, of any age, hold it and where
 * (claw_hunt_run, kept by "clawd"). Looked at once a second on the event
 * loop (one counter read from the store); the hunts run in a thread of
 * their own, with their own reader of the index and their own engine to
 * parse the messages found. Each round starts from the time the last one
 * started (kept in the store, so a restart goes on from there): an
 * indicator changed in the same second as a round began is hunted twice,
 * never not at all.
 */
#include "build-config.h"

#include "clawd.h"
#include "claw-ioc.h"

#include <inttypes.h>
#include <time.h>

#define RETRY_AFTER 10 /* seconds after a round that failed */

struct clawd_hunter {
    server_t *srv;
    struct event *tick;
    GThread *thread;   /* the round under way, or NULL */
    gint finished;     /* set by the thread */
    gint stop;         /* clawd is stopping: the round ends after its hunt */
    bool failed;       /* by the thread: try the round again later */
    claw_engine_t *engine; /* the thread's, made once */
    uint64_t want;     /* the store's change count the round started at */
    uint64_t seen;     /* the change count of the last round that finished */
    int64_t retry_at;
};

typedef struct {
    int64_t since;
    GPtrArray *due; /* claw_ioc_t copies: id, type, value */
} due_run_t;

static bool
collect_due(void *ctx, const claw_ioc_t *c)
{
    due_run_t *d = ctx;
    if (c->updated >= d->since && claw_ioc_active(c, time(NULL))) {
        claw_ioc_t *copy = g_new0(claw_ioc_t, 1);
        copy->id = c->id;
        copy->type = g_strdup(c->type);
        copy->value = g_strdup(c->value);
        g_ptr_array_add(d->due, copy);
    }
    return true;
}

static void
free_due(gpointer p)
{
    claw_ioc_t *c = p;
    g_free((char *)c->type);
    g_free((char *)c->value);
    g_free(c);
}

/* One round: hunt every indicator in force changed since the last round
 * began, then note this round's start. */
static gpointer
hunt_round(gpointer data)
{
    clawd_hunter_t *h = data;
    claw_archive_t *ar = h->srv->archive;
    int64_t started = time(NULL);
    due_run_t d = {claw_hunt_get_through(ar), g_ptr_array_new_with_free_func(free_due)};
    claw_index_t *ix = NULL;
    char *err = NULL;
    h->failed = false;
    if (claw_ioc_each(ar, collect_due, &d)) {
        claw_log(CLAW_LOG_ERROR, NULL, "hunts: cannot read the indicators: %s",
                 claw_archive_error(ar));
        h->failed = true;
    } else if (d.due->len) {
        char *dir = g_build_filename(claw_archive_dir(ar), "index", NULL);
        claw_status_t st = claw_index_open(dir, 0, &ix, &err);
        g_free(dir);
        if (st) {
            claw_log(CLAW_LOG_ERROR, NULL, "hunts: cannot read the index: %s",
                     err ? err : claw_status_to_string(st));
            free(err);
            h->failed = true;
        }
        if (!h->engine && !h->failed &&
            claw_engine_new(h->srv->cfg, &h->engine, &err) != CLAW_STATUS_SUCCESS) {
            claw_log(CLAW_LOG_WARNING, NULL, "hunts: where in the messages will not be said: %s",
                     err ? err : "no engine");
            free(err);
        }
    }
    for (guint i = 0; ix && i < d.due->len; i++) {
        if (g_atomic_int_get(&h->stop)) {
            h->failed = true; /* not through: the next start goes on */
            break;
        }
        claw_ioc_t *c = d.due->pdata[i];
        claw_hunt_run_t *run = NULL;
        err = NULL;
        claw_status_t st =
            claw_hunt_run(ar, ix, h->engine, c->id, c->type, c->value, "clawd", true, &run, &err);
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
        claw_log(CLAW_LOG_NOTICE, NULL,
                 "hunt %" PRIu64 ": indicator %" PRIu64 " (%s:%s): %" PRIu64 " messages",
                 run->hunt.id, c->id, c->type, c->value, run->hunt.matches);
        claw_hunt_run_free(run);
    }
    claw_index_close(ix);
    if (!h->failed && d.due->len && claw_hunt_set_through(ar, started)) {
        claw_log(CLAW_LOG_ERROR, NULL, "hunts: %s", claw_archive_error(ar));
        h->failed = true;
    }
    g_ptr_array_free(d.due, TRUE);
    g_atomic_int_set(&h->finished, 1);
    return NULL;
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
        else
            h->seen = h->want;
    }
    if (h->retry_at && time(NULL) < h->retry_at)
        return;
    uint64_t changes = claw_ioc_changes(h->srv->archive);
    if (changes == h->seen)
        return;
    h->want = changes;
    h->retry_at = 0;
    g_atomic_int_set(&h->finished, 0);
    h->thread = g_thread_new("hunt", hunt_round, h);
}

clawd_hunter_t *
clawd_hunter_start(server_t *srv)
{
    clawd_hunter_t *h = g_new0(clawd_hunter_t, 1);
    h->srv = srv;
    h->seen = UINT64_MAX; /* a first round at start: what changed while clawd was down */
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
    g_free(h);
}
