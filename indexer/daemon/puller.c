/* puller.c - clawd pulls the feeds of [feeds] on their schedules (each
 * `every`, and at start) into the archive's indicators: a MISP feed, a
 * TAXII 2.1 collection (from where the last pull ended: its
 * X-TAXII-Date-Added-Last is kept in the store), or a file of any format
 * claw ioc import reads. Every indicator gets the feed's action and the
 * source feed:NAME; what the feed deletes or revokes is revoked. Each pull
 * is one transaction (indexer/feeds/, claw_ioc_put): a feed that fails
 * half-way adds nothing and is tried again after RETRY_AFTER. The rest of
 * clawd sees the change as any other: published for the MTA (publish.c)
 * and hunted over the archive (autohunt.c).
 *
 * One thread pulls the feeds one after another, so a slow feed never
 * holds LMTP; stopping clawd cancels a transfer under way.
 */
#include "build-config.h"

#include "clawd.h"
#include "claw-feed.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#define RETRY_AFTER 300 /* seconds after a pull that failed (at most `every`) */

typedef struct {
    char *name, *kind, *url, *action, *ca_file, *auth_file, *columns;
    int header;
    int64_t every;  /* seconds */
    int64_t due;    /* next pull */
} feed_t;

struct clawd_puller {
    server_t *srv;
    GPtrArray *feeds; /* feed_t */
    GThread *thread;
    GMutex lock;
    GCond wake;
    gint stop;
};

static void
feed_free(gpointer p)
{
    feed_t *f = p;
    g_free(f->name), g_free(f->kind), g_free(f->url), g_free(f->action);
    g_free(f->ca_file), g_free(f->auth_file), g_free(f->columns);
    g_free(f);
}

/* HTTP basic credentials from @path: its first line, "user:password". */
static char *
read_auth(const char *path, char **error)
{
    char *text = NULL;
    GError *err = NULL;
    if (!g_file_get_contents(path, &text, NULL, &err)) {
        *error = g_strdup_printf("auth_file %s: %s", path, err->message);
        g_error_free(err);
        return NULL;
    }
    char *nl = strpbrk(text, "\r\n");
    if (nl)
        *nl = '\0';
    if (!strchr(text, ':')) {
        *error = g_strdup_printf("auth_file %s: expected user:password on its first line", path);
        g_free(text);
        return NULL;
    }
    return text;
}

/* The store's key for where feed @name's TAXII pulls got to. */
static char *
cursor_key(const feed_t *f)
{
    return g_strconcat("feed_cursor:", f->name, NULL);
}

/* Pull feed @f into the store; false, having logged why, on failure. */
static bool
pull(clawd_puller_t *p, feed_t *f)
{
    claw_archive_t *ar = p->srv->archive;
    int64_t t0 = g_get_monotonic_time();
    char *source = g_strconcat("feed:", f->name, NULL), *error = NULL, *auth = NULL;
    claw_feed_defaults_t d = {.action = f->action, .source = source, .added_by = "clawd",
                              .valid_from = CLAW_IOC_KEEP, .valid_until = CLAW_IOC_KEEP,
                              .confidence = CLAW_IOC_KEEP_CONFIDENCE};
    claw_feed_batch_t b;
    claw_feed_batch_init(&b, &d);
    claw_feed_fetch_opts_t o = {.ca_file = f->ca_file, .cancel = &p->stop};
    bool ok = !f->auth_file || (auth = read_auth(f->auth_file, &error));
    o.auth = auth;
    char *after = NULL, *last = NULL, *key = cursor_key(f);
    if (ok && !strcmp(f->kind, "misp-feed")) {
        ok = claw_feed_pull_misp(&b, f->url, &o, &error);
    } else if (ok && !strcmp(f->kind, "taxii")) {
        /* The cursor is a time as the server wrote it; the store keeps
         * numbers, so it is kept as microseconds since the epoch. */
        uint64_t us = claw_archive_info_get(ar, key);
        if (us) {
            GDateTime *t = g_date_time_new_from_unix_utc((gint64)(us / G_USEC_PER_SEC));
            GDateTime *tu = g_date_time_add(t, (GTimeSpan)(us % G_USEC_PER_SEC));
            after = g_date_time_format(tu, "%Y-%m-%dT%H:%M:%S.%fZ");
            g_date_time_unref(tu);
            g_date_time_unref(t);
        }
        ok = claw_feed_pull_taxii(&b, f->url, after, &o, &last, &error);
    } else if (ok) {
        char *data = NULL;
        size_t len = 0;
        ok = claw_feed_fetch(f->url, &o, &data, &len, NULL, NULL, &error) &&
             claw_feed_read(&b, f->kind, f->url, data, len, f->columns, f->header, &error);
        g_free(data);
    }
    claw_ioc_put_counts_t n = {0, 0, 0, 0};
    if (ok && b.iocs->len &&
        claw_ioc_put(ar, (claw_ioc_t *const *)b.iocs->pdata, b.iocs->len, time(NULL), &n)) {
        error = g_strdup(claw_archive_error(ar));
        ok = false;
    }
    if (ok && last) {
        GTimeZone *utc = g_time_zone_new_utc();
        GDateTime *t = g_date_time_new_from_iso8601(last, utc);
        g_time_zone_unref(utc);
        if (t) {
            claw_archive_info_set(ar, key, (uint64_t)g_date_time_to_unix(t) * G_USEC_PER_SEC +
                                               (uint64_t)g_date_time_get_microsecond(t));
            g_date_time_unref(t);
        }
    }
    long ms = (long)((g_get_monotonic_time() - t0) / 1000);
    if (ok)
        claw_log(CLAW_LOG_NOTICE, NULL,
                 "feed=%s kind=%s pulled added=%zu updated=%zu unchanged=%zu revoked=%zu "
                 "skipped=%zu ms=%ld", f->name, f->kind, n.added, n.updated, n.unchanged,
                 n.revoked, b.n_skipped, ms);
    else if (!g_atomic_int_get(&p->stop))
        claw_log(CLAW_LOG_ERROR, NULL, "feed=%s kind=%s not pulled, nothing added: %s; trying "
                 "again in %" PRId64 " s", f->name, f->kind, error ? error : "failed",
                 MIN(f->every, RETRY_AFTER));
    g_free(error), g_free(auth), g_free(after), g_free(last), g_free(key), g_free(source);
    claw_feed_batch_clear(&b);
    return ok;
}

static gpointer
puller_thread(gpointer data)
{
    clawd_puller_t *p = data;
    g_mutex_lock(&p->lock);
    while (!g_atomic_int_get(&p->stop)) {
        int64_t now = time(NULL), next = INT64_MAX;
        feed_t *due = NULL;
        for (guint i = 0; i < p->feeds->len; i++) {
            feed_t *f = p->feeds->pdata[i];
            if (f->due <= now && !due)
                due = f;
            next = MIN(next, f->due);
        }
        if (!due) {
            /* At most an hour at a time: the clock may have been set. */
            g_cond_wait_until(&p->wake, &p->lock,
                              g_get_monotonic_time() + MIN(next - now, 3600) * G_USEC_PER_SEC);
            continue;
        }
        g_mutex_unlock(&p->lock);
        bool ok = pull(p, due);
        g_mutex_lock(&p->lock);
        due->due = time(NULL) + (ok ? due->every : MIN(due->every, RETRY_AFTER));
    }
    g_mutex_unlock(&p->lock);
    return NULL;
}

clawd_puller_t *
clawd_puller_start(server_t *srv)
{
    const claw_feed_config_t *c;
    if (!claw_config_feed(srv->cfg, 0))
        return NULL;
    static gsize curl_ready;
    if (g_once_init_enter(&curl_ready)) {
        claw_feed_init();
        g_once_init_leave(&curl_ready, 1);
    }
    clawd_puller_t *p = g_new0(clawd_puller_t, 1);
    p->srv = srv;
    p->feeds = g_ptr_array_new_with_free_func(feed_free);
    /* A copy: a SIGHUP replaces the configuration under the thread. */
    for (size_t i = 0; (c = claw_config_feed(srv->cfg, i)); i++) {
        feed_t *f = g_new0(feed_t, 1);
        f->name = g_strdup(c->name), f->kind = g_strdup(c->kind), f->url = g_strdup(c->url);
        f->action = g_strdup(c->action), f->ca_file = g_strdup(c->ca_file);
        f->auth_file = g_strdup(c->auth_file), f->columns = g_strdup(c->columns);
        f->header = c->header;
        f->every = c->every_ms / 1000;
        g_ptr_array_add(p->feeds, f);
    }
    g_mutex_init(&p->lock);
    g_cond_init(&p->wake);
    claw_log(CLAW_LOG_INFO, NULL, "feeds: %u to pull", p->feeds->len);
    p->thread = g_thread_new("feeds", puller_thread, p);
    return p;
}

void
clawd_puller_stop(clawd_puller_t *p)
{
    if (!p)
        return;
    g_mutex_lock(&p->lock);
    g_atomic_int_set(&p->stop, 1);
    g_cond_signal(&p->wake);
    g_mutex_unlock(&p->lock);
    g_thread_join(p->thread);
    g_ptr_array_free(p->feeds, TRUE);
    g_mutex_clear(&p->lock);
    g_cond_clear(&p->wake);
    g_free(p);
}
