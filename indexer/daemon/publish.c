/* publish.c - clawd keeps the MTA's copy of the archive's indicators
 * current ([ioc] published): at start, after a change any process made
 * (claw ioc publishes its own changes too; clawd catches one whose
 * publishing failed), and when an indicator's validity starts or ends,
 * which no command is there to see. Looked at once a second on the event
 * loop (one counter read from the store); the file is written in a thread
 * of its own, so that a large set never holds up LMTP.
 */
#include "build-config.h"

#include "clawd.h"
#include "claw-ioc.h"

#include <time.h>
#include <unistd.h>

#define RETRY_AFTER 10 /* seconds after a failed publishing */

struct clawd_publisher {
    server_t *srv;
    struct event *tick;
    GThread *thread; /* the one writing now, or NULL */
    /* Set by the thread, read on the loop once it has finished. */
    gint finished;
    claw_status_t status;
    char *error;
    size_t count;
    int64_t next_change;
    /* The loop's own. */
    uint64_t want;    /* the changes the thread publishes */
    uint64_t seen;    /* the changes last published */
    int64_t next;     /* publish again then (0: no such time) */
    int64_t retry_at; /* after a failure */
    bool ever;
    char *path;
};

static gpointer
publish_thread(gpointer data)
{
    clawd_publisher_t *p = data;
    p->status = claw_ioc_publish(p->srv->archive, p->path, time(NULL), &p->count, &p->next_change);
    if (p->status)
        p->error = g_strdup(claw_archive_error(p->srv->archive));
    g_atomic_int_set(&p->finished, 1);
    return NULL;
}

/* The thread that finished: what it did. */
static void
reap(clawd_publisher_t *p)
{
    g_thread_join(p->thread);
    p->thread = NULL;
    if (p->status) {
        claw_log(CLAW_LOG_ERROR, NULL, "indicators not published for the MTA (%s): %s; trying "
                 "again in %d s", p->path, p->error ? p->error : claw_status_to_string(p->status),
                 RETRY_AFTER);
        p->retry_at = time(NULL) + RETRY_AFTER;
    } else {
        claw_log(CLAW_LOG_INFO, NULL, "indicators published for the MTA: %zu in force (%s)",
                 p->count, p->path);
        p->seen = p->want;
        p->next = p->next_change;
        p->ever = true;
        p->retry_at = 0;
    }
    g_free(p->error);
    p->error = NULL;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    clawd_publisher_t *p = arg;
    if (p->thread) {
        if (!g_atomic_int_get(&p->finished))
            return;
        reap(p);
    }
    int64_t now = time(NULL);
    if (p->retry_at && now < p->retry_at)
        return;
    uint64_t changes = claw_ioc_changes(p->srv->archive);
    if (p->ever && changes == p->seen && (!p->next || now < p->next) &&
        access(p->path, F_OK) == 0) /* (a copy someone removed is written again) */
        return;
    g_free(p->path);
    p->path = claw_ioc_published_path(p->srv->cfg, p->srv->archive_dir); /* as configured now */
    if (!p->path)
        return;
    p->want = changes;
    g_atomic_int_set(&p->finished, 0);
    p->thread = g_thread_new("publish", publish_thread, p);
}

clawd_publisher_t *
clawd_publisher_start(server_t *srv)
{
    clawd_publisher_t *p = g_new0(clawd_publisher_t, 1);
    p->srv = srv;
    p->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, p);
    struct timeval second = {1, 0};
    event_add(p->tick, &second);
    on_tick(-1, 0, p); /* at start: the MTA's copy as the store is now */
    return p;
}

void
clawd_publisher_stop(clawd_publisher_t *p)
{
    if (!p)
        return;
    event_free(p->tick);
    if (p->thread)
        reap(p);
    g_free(p->path);
    g_free(p);
}
