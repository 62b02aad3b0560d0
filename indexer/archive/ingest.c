/* ingest.c - the ingest pipeline (workers, group-committing writer) and the
 * indexer thread that follows the store into Xapian. See claw-ingest.h. */
#include "build-config.h"

#include "claw-ingest.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Settings
 * --------------------------------------------------------------------- */

/* An [archive] number as the option table parsed it (units applied). The
 * table has every option named here, so the getters cannot fail. */
static int64_t
archive_int(const claw_config_t *cfg, const char *name)
{
    int64_t n = 0;
    claw_config_get_int(cfg, "archive", name, &n);
    return n;
}

/* The list option @section.@name in lower case, NULL-ended (g_strfreev),
 * its length in *@n. */
static char **
lower_list(const claw_config_t *cfg, const char *section, const char *name, size_t *n)
{
    const char *const *v = NULL;
    *n = 0;
    claw_config_get_list(cfg, section, name, &v, n);
    char **out = g_new0(char *, *n + 1);
    for (size_t i = 0; i < *n; i++)
        out[i] = g_ascii_strdown(v[i], -1);
    return out;
}

void
claw_archive_settings_read(const claw_config_t *cfg, claw_archive_settings_t *s)
{
    memset(s, 0, sizeof *s);
    s->path = g_strdup(claw_config_get(cfg, "archive", "path"));
    claw_config_get_size(cfg, "archive", "map_size", &s->map_size);
    s->prep.zstd_level = (int)archive_int(cfg, "compression_level");
    s->dictionary_after = (uint64_t)archive_int(cfg, "dictionary_after");
    int positions = 0;
    claw_config_get_bool(cfg, "archive", "positions", &positions);
    s->prep.positions = positions;
    uint64_t max_text = 0;
    claw_config_get_size(cfg, "archive", "max_text", &max_text);
    s->prep.max_text_bytes = (size_t)max_text;
    s->index_headers = lower_list(cfg, "archive", "index_headers", &s->prep.n_index_headers);
    s->prep.index_headers = (const char *const *)s->index_headers;
    s->trusted_authserv =
        lower_list(cfg, "policy", "trusted_authserv_ids", &s->prep.n_trusted_authserv);
    s->prep.trusted_authserv = (const char *const *)s->trusted_authserv;
    s->commit_batch = (size_t)archive_int(cfg, "commit_batch");
    claw_config_get_duration_ms(cfg, "archive", "commit_delay", &s->commit_delay_ms);
    s->index_batch = (size_t)archive_int(cfg, "index_batch");
    s->index_shards = (unsigned)archive_int(cfg, "index_shards");
    s->threads = (unsigned)archive_int(cfg, "threads");
    if (!s->threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->threads = n > 0 ? (unsigned)n : 1;
    }
}

void
claw_archive_settings_clear(claw_archive_settings_t *s)
{
    g_free(s->path);
    g_strfreev(s->index_headers);
    g_strfreev(s->trusted_authserv);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------
 * The indexer
 * --------------------------------------------------------------------- */

/* Documents handed from the writer to the indexer, waiting there: each is
 * some tens of KB of terms, so this bounds the memory a lagging index may
 * hold (20,000 took clawd past 450 MiB at 100,000 messages). Beyond it a
 * shard rebuilds the document from the store; a bulk load waits instead. */
#define MAX_OFFERED 2000

/* One thread per index shard: each follows the whole log and indexes the
 * documents of its shard, so both cores write Xapian at once. */
typedef struct shard {
    struct claw_indexer *x;
    unsigned no;
    claw_index_t *ix;
    claw_engine_t *engine; /* parses messages it must rebuild */
    GThread *thread;
    uint64_t position;     /* last seq read (replaced or not ours) */
    uint64_t indexed;      /* last seq committed */
    bool broken;           /* a write failed: reopen before going on */
    gint64 retry_at;       /* when to try again (broken, or a message unread) */
    gint64 backoff;        /* ...and the wait after that, doubling */
    bool given_up;         /* too many unsafe handles: wait for a restart */
} shard_t;

struct claw_indexer {
    claw_archive_t *ar;
    claw_archive_settings_t set;
    char *dir;             /* the index, for reopening a shard */
    unsigned n_shards;
    shard_t *shards;
    GMutex lock;
    GCond cond;
    bool stop;
    bool bulk;             /* compact once at the end, not as it grows */
    unsigned kicks;        /* bumped by every kick */
    GHashTable *offered;   /* seq -> claw_doc_t */
    claw_status_t failed;  /* the index could not be written */
    gint64 released;       /* when the store's pages were last released */
};

typedef struct {
    uint64_t seq, docid;
} log_entry_t;

static bool
collect_log(void *ctx, uint64_t seq, uint64_t docid)
{
    log_entry_t e = {seq, docid};
    g_array_append_val((GArray *)ctx, e);
    return true;
}

/* A failed attempt waits this long before the next, doubling up to the
 * most: a full disk is not retried in a loop, and the index resumes within
 * seconds of the space coming back. */
#define RETRY_FIRST (G_TIME_SPAN_MILLISECOND * 200)
#define RETRY_MOST (G_TIME_SPAN_SECOND * 5)

static void
shard_retry_later(shard_t *sh)
{
    sh->backoff = sh->backoff ? MIN(sh->backoff * 2, RETRY_MOST) : RETRY_FIRST;
    sh->retry_at = g_get_monotonic_time() + sh->backoff;
}

/* A write to the shard failed (a full disk, an I/O error). What it had not
 * committed is lost: Xapian discards it, and after a failed rollback it
 * closes the database, so that every later call fails. The shard is
 * reopened at its last commit (shard_reopen) before indexing goes on. */
static void
shard_write_failed(shard_t *sh, claw_status_t st, const char *what)
{
    claw_indexer_t *x = sh->x;
    claw_log(CLAW_LOG_ERROR, NULL, "index: shard %u: %s: %s (reopening it, then indexing from %" PRIu64
             ")", sh->no, what, claw_index_error(sh->ix), sh->indexed);
    g_mutex_lock(&x->lock);
    x->failed = st;
    sh->broken = true;
    sh->position = sh->indexed;
    g_cond_broadcast(&x->cond);
    g_mutex_unlock(&x->lock);
    shard_retry_later(sh);
}

static claw_status_t
shard_open(shard_t *sh, unsigned flags, char **error)
{
    claw_indexer_t *x = sh->x;
    claw_status_t st = claw_index_open_shard(x->dir, CLAW_INDEX_WRITE | CLAW_INDEX_REPAIR | flags,
                                             sh->no, x->n_shards, &sh->ix, error);
    if (st)
        return st;
    if (claw_index_repaired(sh->ix))
        claw_log(CLAW_LOG_WARNING, NULL,
                 "index: shard %u was damaged (%s): made again, empty, and indexed again from "
                 "the store",
                 sh->no, claw_index_repaired(sh->ix));
    claw_index_set_positions(sh->ix, x->set.prep.positions);
    uint64_t seq = 0;
    st = claw_index_last_seq(sh->ix, &seq);
    if (st) {
        if (error)
            *error = strdup(claw_index_error(sh->ix));
        claw_index_close(sh->ix);
        sh->ix = NULL;
        return st;
    }
    g_mutex_lock(&x->lock);
    sh->position = sh->indexed = seq;
    g_mutex_unlock(&x->lock);
    return CLAW_STATUS_SUCCESS;
}

#define LEAKED_MOST 64 /* databases: about 18 MiB (release_writable) */
#define ROOM_NEEDED (1u << 20)

/* Has the file system of @dir room for a shard's commit again? */
static bool
room_for_index(const char *dir)
{
    struct statvfs fs;
    if (statvfs(dir, &fs) != 0)
        return true; /* the reopen says what is wrong */
    return (uint64_t)fs.f_bavail * fs.f_frsize >= ROOM_NEEDED;
}

/* Open a broken shard again at its last commit; true when it is. */
static bool
shard_reopen(shard_t *sh)
{
    claw_indexer_t *x = sh->x;
    /* A shard whose own writes found damaged blocks would meet them again
     * at every commit: it is made again from the store instead. */
    bool rebuild = claw_index_damaged(sh->ix);
    /* Closing a database whose version file a full disk cut short leaves
     * it allocated (claw_index_stale): it is not reopened, to fail the
     * same way again, before the disk has room; and after LEAKED_MOST of
     * them the shard waits for a restart of clawd, so that memory stays
     * bounded however long the disk stays full. */
    bool stale = claw_index_stale(sh->ix);
    if (stale) {
        if (claw_index_leaked() >= LEAKED_MOST) {
            if (!sh->given_up)
                claw_log(CLAW_LOG_ERROR, NULL,
                         "index: shard %u: failed writes have left %u Xapian databases unsafe "
                         "to free; indexing of this shard stops until clawd is restarted",
                         sh->no, claw_index_leaked());
            sh->given_up = true;
            shard_retry_later(sh);
            return false;
        }
        if (!room_for_index(x->dir)) {
            shard_retry_later(sh);
            return false;
        }
    }
    claw_index_close(sh->ix);
    sh->ix = NULL;
    if (stale)
        claw_log(CLAW_LOG_WARNING, NULL,
                 "index: shard %u: a failed write of its version file left Xapian holding a "
                 "closed file number; its databases are left allocated, not freed (%u so far)",
                 sh->no, claw_index_leaked());
    char *error = NULL;
    claw_status_t st =
        shard_open(sh, CLAW_INDEX_CREATE | (rebuild ? CLAW_INDEX_REBUILD : 0), &error);
    if (st) {
        claw_log(CLAW_LOG_ERROR, NULL, "index: shard %u: cannot reopen it: %s", sh->no,
                 error ? error : claw_status_to_string(st));
        free(error);
        shard_retry_later(sh);
        return false;
    }
    claw_log(CLAW_LOG_NOTICE, NULL, "index: shard %u reopened; indexing from %" PRIu64, sh->no,
             sh->indexed);
    g_mutex_lock(&x->lock);
    sh->broken = false;
    bool any_broken = false;
    for (unsigned i = 0; i < x->n_shards; i++)
        any_broken = any_broken || x->shards[i].broken;
    if (!any_broken)
        x->failed = CLAW_STATUS_SUCCESS;
    g_mutex_unlock(&x->lock);
    return true;
}

static void
shard_commit(shard_t *sh)
{
    claw_indexer_t *x = sh->x;
    claw_status_t st = claw_index_commit(sh->ix, sh->position);
    if (st) {
        shard_write_failed(sh, st, "commit");
        return;
    }
    sh->backoff = 0;
    g_mutex_lock(&x->lock);
    sh->indexed = sh->position;
    g_cond_broadcast(&x->cond);
    g_mutex_unlock(&x->lock);
}

/* The shards read back the messages they were not handed (when they fall
 * behind), and the writer reads the pages it changes: through LMDB's map,
 * where every page read stays in the process's resident memory until the
 * map is gone. At most once a second (the shards look at least that often)
 * they go back to the page cache, so the memory of clawd, claw import and
 * reindex does not grow with the store. */
static void
release_pages(claw_indexer_t *x)
{
    gint64 now = g_get_monotonic_time();
    g_mutex_lock(&x->lock);
    bool due = now - x->released >= G_TIME_SPAN_SECOND;
    if (due)
        x->released = now;
    g_mutex_unlock(&x->lock);
    if (due)
        claw_archive_release_pages(x->ar);
}

/* Index what the store has after our position; true if there was any.
 * The position only passes a message once it is in the shard: one whose
 * document could not be made stops the round there (it is tried again
 * later), and a failed write takes the position back to the last commit. */
static bool
shard_round(shard_t *sh, size_t *uncommitted)
{
    claw_indexer_t *x = sh->x;
    GArray *entries = g_array_new(FALSE, FALSE, sizeof(log_entry_t));
    claw_archive_log(x->ar, sh->position, 2000, collect_log, entries);
    bool any = entries->len > 0;
    for (guint i = 0; i < entries->len && !sh->broken; i++) {
        log_entry_t *e = &g_array_index(entries, log_entry_t, i);
        if (i % 64 == 63)
            release_pages(x);
        if ((e->docid - 1) % x->n_shards != sh->no) {
            sh->position = e->seq;
            continue;
        }
        g_mutex_lock(&x->lock);
        gpointer key = NULL, offered = NULL;
        if (g_hash_table_steal_extended(x->offered, &e->seq, &key, &offered)) {
            g_free(key);
            if (x->bulk)
                g_cond_broadcast(&x->cond);
        }
        claw_doc_t *doc = offered;
        g_mutex_unlock(&x->lock);
        claw_status_t st = CLAW_STATUS_SUCCESS;
        if (!doc)
            st = claw_archive_doc(x->ar, sh->engine, &x->set.prep, e->docid, &doc);
        if (st) {
            claw_log(CLAW_LOG_ERROR, NULL, "index: message %" PRIu64 ": %s (trying again)",
                     e->docid, claw_archive_error(x->ar));
            shard_retry_later(sh);
            break;
        }
        st = claw_index_replace(sh->ix, e->docid, doc);
        claw_doc_free(doc);
        if (st) {
            shard_write_failed(sh, st, "cannot index a message");
            *uncommitted = 0;
            break;
        }
        sh->position = e->seq;
        if (++*uncommitted >= x->set.index_batch) {
            shard_commit(sh);
            *uncommitted = 0;
        }
    }
    g_array_free(entries, TRUE);
    return any;
}

/* Compact a shard that has had nothing to index for this long, when it has
 * grown by as many documents as it had at its last compaction (at least
 * 1,000, at most 100,000): the work stays linear in the documents indexed.
 * Not under load: the first commits after a compaction split the packed
 * blocks they touch, so a busy shard gains little from it. A bulk load
 * compacts once, at the end. */
#define COMPACT_WHEN_IDLE (G_TIME_SPAN_SECOND * 30)

static void
shard_maybe_compact(shard_t *sh, bool final)
{
    uint64_t docs = 0, compacted = 0;
    if (claw_index_compacted(sh->ix, &docs, &compacted) != 0)
        return;
    uint64_t grown = docs > compacted ? docs - compacted : 0;
    uint64_t need = compacted < 1000 ? 1000 : compacted > 100000 ? 100000 : compacted;
    if (final ? grown == 0 : grown < need)
        return;
    gint64 t0 = g_get_monotonic_time();
    claw_status_t st = claw_index_compact(sh->ix, sh->position);
    if (st) {
        shard_write_failed(sh, st, "compaction");
        return;
    }
    claw_log(CLAW_LOG_INFO, NULL, "index: shard %u compacted (%" PRIu64 " documents, %.1f s)",
             sh->no, docs, (double)(g_get_monotonic_time() - t0) / G_TIME_SPAN_SECOND);
}

/* A caught-up shard commits at most this often: the index is derived (the
 * store is durable already), and every Xapian commit syncs its tables and
 * rewrites their upper blocks, so committing after each small group commit
 * of the store cost more system time than the indexing itself. Searches
 * see new mail within this delay. */
#define INDEX_COMMIT_INTERVAL (G_TIME_SPAN_MILLISECOND * 300)

static gpointer
shard_main(gpointer data)
{
    shard_t *sh = data;
    claw_indexer_t *x = sh->x;
    size_t uncommitted = 0;
    unsigned seen = 0;
    gint64 last_commit = g_get_monotonic_time();
    uint64_t checked = sh->indexed; /* compaction looked at, at this seq */
    gint64 last_busy = 0;
    gint64 compact_idle = COMPACT_WHEN_IDLE;
    const char *t = getenv("CLAW_TEST_COMPACT_IDLE_MS"); /* tests only */
    if (t && *t)
        compact_idle = g_ascii_strtoll(t, NULL, 10) * G_TIME_SPAN_MILLISECOND;
    for (;;) {
        bool retry_due = g_get_monotonic_time() >= sh->retry_at;
        if (sh->broken && retry_due)
            shard_reopen(sh);
        bool any = !sh->broken && retry_due && shard_round(sh, &uncommitted);
        bool dirty = uncommitted || sh->indexed < sh->position;
        if (!dirty)
            last_commit = g_get_monotonic_time();
        /* Caught up: make it durable (also records skipped positions). */
        if (!any && dirty && g_get_monotonic_time() - last_commit >= INDEX_COMMIT_INTERVAL) {
            shard_commit(sh);
            uncommitted = 0;
            dirty = false;
            last_commit = g_get_monotonic_time();
        }
        if (any)
            last_busy = g_get_monotonic_time();
        if (!any && !dirty && !sh->broken && !x->bulk && sh->indexed != checked &&
            g_get_monotonic_time() - last_busy >= compact_idle) {
            checked = sh->indexed;
            shard_maybe_compact(sh, false);
        }
        release_pages(x);
        g_mutex_lock(&x->lock);
        if (x->stop && !any) {
            g_mutex_unlock(&x->lock);
            break;
        }
        if (!any && seen == x->kicks) {
            gint64 until = dirty ? last_commit + INDEX_COMMIT_INTERVAL
                                 : g_get_monotonic_time() + G_TIME_SPAN_SECOND;
            if (sh->retry_at > g_get_monotonic_time())
                until = MIN(until, sh->retry_at);
            g_cond_wait_until(&x->cond, &x->lock, until);
        }
        seen = x->kicks;
        g_mutex_unlock(&x->lock);
    }
    if (!sh->broken && (uncommitted || sh->indexed < sh->position))
        shard_commit(sh);
    if (x->bulk && !sh->broken && sh->indexed == sh->position && !x->failed)
        shard_maybe_compact(sh, true);
    return NULL;
}

static void
free_doc(gpointer p)
{
    claw_doc_free(p);
}

static void
indexer_free(claw_indexer_t *x)
{
    for (unsigned i = 0; i < x->n_shards; i++) {
        claw_index_close(x->shards[i].ix);
        claw_engine_destroy(x->shards[i].engine);
    }
    free(x->shards);
    g_free(x->dir);
    g_hash_table_destroy(x->offered);
    claw_archive_settings_clear(&x->set);
    g_mutex_clear(&x->lock);
    g_cond_clear(&x->cond);
    free(x);
}

claw_status_t
claw_indexer_start(claw_archive_t *ar, const claw_config_t *cfg, const char *index_dir, bool fresh,
                   claw_indexer_t **out, char **error)
{
    *out = NULL;
    claw_indexer_t *x = calloc(1, sizeof *x);
    if (!x)
        return CLAW_STATUS_OUT_OF_MEMORY;
    x->ar = ar;
    claw_archive_settings_read(cfg, &x->set);
    g_mutex_init(&x->lock);
    g_cond_init(&x->cond);
    x->offered = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, free_doc);
    x->dir = index_dir ? g_strdup(index_dir)
                       : g_build_filename(claw_archive_dir(ar), "index", NULL);
    /* An existing index keeps the shard count it was made with. */
    unsigned n = 0;
    if (!fresh) {
        char *f = g_build_filename(x->dir, "shards", NULL);
        gchar *text = NULL;
        if (g_file_get_contents(f, &text, NULL, NULL))
            n = (unsigned)g_ascii_strtoull(text, NULL, 10);
        g_free(text);
        g_free(f);
    }
    x->n_shards = n ? n : x->set.index_shards;
    x->shards = calloc(x->n_shards, sizeof *x->shards);
    /* Xapian keeps postings in memory until this many documents; small
     * batches measured faster here (its in-memory maps stay in cache). */
    char thr[32];
    snprintf(thr, sizeof thr, "%zu", x->set.index_batch);
    setenv("XAPIAN_FLUSH_THRESHOLD", thr, 0);
    claw_status_t st = CLAW_STATUS_SUCCESS;
    for (unsigned i = 0; i < x->n_shards && !st; i++) {
        shard_t *sh = &x->shards[i];
        sh->x = x;
        sh->no = i;
        st = shard_open(sh, fresh ? CLAW_INDEX_FRESH : CLAW_INDEX_CREATE, error);
        if (!st)
            st = claw_engine_new(cfg, &sh->engine, error);
    }
    if (st) {
        indexer_free(x);
        return st;
    }
    for (unsigned i = 0; i < x->n_shards; i++)
        x->shards[i].thread = g_thread_new("indexer", shard_main, &x->shards[i]);
    *out = x;
    return CLAW_STATUS_SUCCESS;
}

static uint64_t
low_position(claw_indexer_t *x)
{
    uint64_t low = UINT64_MAX;
    for (unsigned i = 0; i < x->n_shards; i++)
        low = x->shards[i].position < low ? x->shards[i].position : low;
    return low;
}

void
claw_indexer_offer(claw_indexer_t *x, uint64_t seq, claw_doc_t *doc)
{
    g_mutex_lock(&x->lock);
    while (x->bulk && !x->stop && !x->failed && seq > low_position(x) &&
           g_hash_table_size(x->offered) >= MAX_OFFERED)
        g_cond_wait_until(&x->cond, &x->lock, g_get_monotonic_time() + G_TIME_SPAN_SECOND);
    if (seq <= low_position(x) || g_hash_table_size(x->offered) >= MAX_OFFERED) {
        g_mutex_unlock(&x->lock);
        claw_doc_free(doc);
        return;
    }
    gint64 *k = g_new(gint64, 1);
    *k = (gint64)seq;
    g_hash_table_replace(x->offered, k, doc);
    g_mutex_unlock(&x->lock);
}

void
claw_indexer_kick(claw_indexer_t *x)
{
    g_mutex_lock(&x->lock);
    x->kicks++;
    g_cond_broadcast(&x->cond);
    g_mutex_unlock(&x->lock);
}

static uint64_t
low_indexed(claw_indexer_t *x)
{
    uint64_t low = UINT64_MAX;
    for (unsigned i = 0; i < x->n_shards; i++)
        low = x->shards[i].indexed < low ? x->shards[i].indexed : low;
    return low;
}

claw_status_t
claw_indexer_wait(claw_indexer_t *x, uint64_t seq)
{
    g_mutex_lock(&x->lock);
    x->kicks++;
    g_cond_broadcast(&x->cond);
    while (low_indexed(x) < seq && !x->failed)
        g_cond_wait(&x->cond, &x->lock);
    claw_status_t st = x->failed;
    g_mutex_unlock(&x->lock);
    return st;
}

uint64_t
claw_indexer_indexed(claw_indexer_t *x)
{
    g_mutex_lock(&x->lock);
    uint64_t v = low_indexed(x);
    g_mutex_unlock(&x->lock);
    return v;
}

void
claw_indexer_bulk(claw_indexer_t *x)
{
    g_mutex_lock(&x->lock);
    x->bulk = true;
    g_mutex_unlock(&x->lock);
}

void
claw_indexer_stop(claw_indexer_t *x)
{
    if (!x)
        return;
    g_mutex_lock(&x->lock);
    x->stop = true;
    x->kicks++;
    g_cond_broadcast(&x->cond);
    g_mutex_unlock(&x->lock);
    for (unsigned i = 0; i < x->n_shards; i++)
        g_thread_join(x->shards[i].thread);
    indexer_free(x);
}

/* ------------------------------------------------------------------------
 * The pipeline
 * --------------------------------------------------------------------- */

typedef struct {
    claw_engine_t *engine;
    unsigned generation;
} engine_slot_t;

typedef struct {
    char *raw;
    size_t len;
    claw_delivery_t d;
    char **strings; /* the delivery's copies */
    void *tag;
    /* results */
    claw_item_t *item;
    claw_status_t st;
    char *error;
} job_t;

struct claw_ingest {
    claw_archive_t *ar;
    claw_indexer_t *indexer;
    claw_archive_settings_t set;
    claw_ingest_done_t done;
    void *done_ctx;
    GThreadPool *pool;
    GAsyncQueue *engines; /* engine_slot_t */
    unsigned generation;
    GAsyncQueue *to_writer; /* job_t; the writer stops on &stop_job */
    GThread *writer;
    GMutex lock;
    GCond cond;
    size_t in_flight;     /* submitted, not yet done */
    size_t in_workers;    /* submitted, not yet at the writer */
    size_t max_in_flight;
};

static job_t stop_job;

static void
job_free(job_t *j)
{
    free(j->raw);
    g_strfreev(j->strings);
    g_free(j->error);
    g_free(j);
}

static claw_status_t
new_engines(claw_ingest_t *in, const claw_config_t *cfg, unsigned generation, GPtrArray *out,
            char **error)
{
    for (unsigned i = 0; i < in->set.threads; i++) {
        claw_engine_t *e;
        claw_status_t st = claw_engine_new(cfg, &e, error);
        if (st)
            return st;
        engine_slot_t *s = g_new(engine_slot_t, 1);
        s->engine = e;
        s->generation = generation;
        g_ptr_array_add(out, s);
    }
    return CLAW_STATUS_SUCCESS;
}

static void
worker(gpointer data, gpointer user)
{
    job_t *j = data;
    claw_ingest_t *in = user;
    engine_slot_t *s;
    for (;;) {
        s = g_async_queue_pop(in->engines);
        if (s->generation == (unsigned)g_atomic_int_get(&in->generation))
            break;
        claw_engine_destroy(s->engine); /* from before a reload */
        g_free(s);
    }
    j->st = claw_item_prepare(s->engine, &in->set.prep, j->raw, j->len, &j->d, &j->item);
    if (j->st)
        j->error = g_strdup_printf("cannot prepare the message: %s",
                                   claw_status_to_string(j->st));
    g_async_queue_push(in->engines, s);
    free(j->raw);
    j->raw = NULL;
    g_mutex_lock(&in->lock);
    in->in_workers--;
    g_mutex_unlock(&in->lock);
    g_async_queue_push(in->to_writer, j);
}

static gpointer
writer_main(gpointer data)
{
    claw_ingest_t *in = data;
    GPtrArray *batch = g_ptr_array_new();
    GPtrArray *items = g_ptr_array_new();
    bool stop = false;
    while (!stop) {
        job_t *j = g_async_queue_pop(in->to_writer);
        if (j == &stop_job)
            break;
        g_ptr_array_add(batch, j);
        gint64 until = g_get_monotonic_time() + in->set.commit_delay_ms * 1000;
        while (batch->len < in->set.commit_batch) {
            job_t *more = g_async_queue_try_pop(in->to_writer);
            if (!more) {
                /* Wait for more only while the workers still hold some. */
                g_mutex_lock(&in->lock);
                size_t pending = in->in_workers;
                g_mutex_unlock(&in->lock);
                if (!pending || g_get_monotonic_time() >= until)
                    break;
                more = g_async_queue_timeout_pop(in->to_writer, 1000);
                if (!more)
                    continue;
            }
            if (more == &stop_job) {
                stop = true;
                break;
            }
            g_ptr_array_add(batch, more);
        }
        g_ptr_array_set_size(items, 0);
        for (guint i = 0; i < batch->len; i++) {
            job_t *b = batch->pdata[i];
            if (!b->st)
                g_ptr_array_add(items, b->item);
        }
        claw_status_t st = items->len ? claw_archive_store(in->ar, (claw_item_t *const *)items->pdata,
                                                            items->len)
                                      : CLAW_STATUS_SUCCESS;
        const char *err = st ? claw_archive_error(in->ar) : NULL;
        if (st)
            claw_log(CLAW_LOG_ERROR, NULL, "store: %s", err);
        if (!st && in->indexer) {
            for (guint i = 0; i < items->len; i++) {
                claw_item_t *it = items->pdata[i];
                if (claw_item_outcome(it) == CLAW_ITEM_NEW)
                    claw_indexer_offer(in->indexer, claw_item_seq(it), claw_item_take_doc(it));
            }
            claw_indexer_kick(in->indexer);
        }
        for (guint i = 0; i < batch->len; i++) {
            job_t *b = batch->pdata[i];
            if (b->st)
                in->done(in->done_ctx, b->tag, NULL, b->st, b->error);
            else
                in->done(in->done_ctx, b->tag, b->item, st, err);
            b->item = NULL;
            job_free(b);
        }
        g_mutex_lock(&in->lock);
        in->in_flight -= batch->len;
        g_cond_broadcast(&in->cond);
        g_mutex_unlock(&in->lock);
        g_ptr_array_set_size(batch, 0);
    }
    g_ptr_array_free(batch, TRUE);
    g_ptr_array_free(items, TRUE);
    return NULL;
}

claw_status_t
claw_ingest_start(claw_archive_t *ar, const claw_config_t *cfg, claw_indexer_t *indexer,
                  claw_ingest_done_t done, void *done_ctx, claw_ingest_t **out, char **error)
{
    *out = NULL;
    claw_ingest_t *in = calloc(1, sizeof *in);
    if (!in)
        return CLAW_STATUS_OUT_OF_MEMORY;
    in->ar = ar;
    in->indexer = indexer;
    in->done = done;
    in->done_ctx = done_ctx;
    claw_archive_settings_read(cfg, &in->set);
    in->set.prep.archive = ar;
    claw_archive_set_dictionary(ar, in->set.dictionary_after, in->set.prep.zstd_level);
    g_mutex_init(&in->lock);
    g_cond_init(&in->cond);
    in->engines = g_async_queue_new();
    GPtrArray *engines = g_ptr_array_new();
    claw_status_t st = new_engines(in, cfg, 0, engines, error);
    for (guint i = 0; i < engines->len; i++)
        g_async_queue_push(in->engines, engines->pdata[i]);
    g_ptr_array_free(engines, TRUE);
    if (st) {
        claw_ingest_stop(in);
        return st;
    }
    in->max_in_flight = in->set.threads * 4 + in->set.commit_batch * 2;
    in->to_writer = g_async_queue_new();
    in->pool = g_thread_pool_new(worker, in, (gint)in->set.threads, TRUE, NULL);
    in->writer = g_thread_new("writer", writer_main, in);
    claw_log(CLAW_LOG_INFO, NULL,
             "ingest: %u threads; a commit holds up to %zu messages and waits %" PRId64
             " ms for more",
             in->set.threads, in->set.commit_batch, in->set.commit_delay_ms);
    *out = in;
    return CLAW_STATUS_SUCCESS;
}

void
claw_ingest_submit(claw_ingest_t *in, char *raw, size_t len, const claw_delivery_t *d, void *tag)
{
    job_t *j = g_new0(job_t, 1);
    j->raw = raw;
    j->len = len;
    j->tag = tag;
    /* Copy the delivery's strings into one vector. */
    GPtrArray *s = g_ptr_array_new();
    g_ptr_array_add(s, g_strdup(d->mail_from));
    g_ptr_array_add(s, g_strdup(d->client_ip));
    g_ptr_array_add(s, g_strdup(d->helo));
    g_ptr_array_add(s, g_strdup(d->source));
    for (size_t i = 0; i < d->n_rcpt; i++)
        g_ptr_array_add(s, g_strdup(d->rcpt[i]));
    g_ptr_array_add(s, NULL);
    /* NULL entries (absent fields) would end a strv early: use "". */
    for (guint i = 0; i + 1 < s->len; i++)
        if (!s->pdata[i])
            s->pdata[i] = g_strdup("");
    j->strings = (char **)g_ptr_array_free(s, FALSE);
    j->d.mail_from = d->mail_from ? j->strings[0] : NULL;
    j->d.client_ip = j->strings[1];
    j->d.helo = j->strings[2];
    j->d.source = j->strings[3];
    j->d.rcpt = (const char *const *)j->strings + 4;
    j->d.n_rcpt = d->n_rcpt;
    j->d.time_ms = d->time_ms ? d->time_ms : g_get_real_time() / 1000;
    j->d.trusted = d->trusted;

    g_mutex_lock(&in->lock);
    while (in->in_flight >= in->max_in_flight)
        g_cond_wait(&in->cond, &in->lock);
    in->in_flight++;
    in->in_workers++;
    g_mutex_unlock(&in->lock);
    g_thread_pool_push(in->pool, j, NULL);
}

claw_status_t
claw_ingest_reload(claw_ingest_t *in, const claw_config_t *cfg, char **error)
{
    unsigned gen = g_atomic_int_get(&in->generation) + 1;
    GPtrArray *engines = g_ptr_array_new();
    claw_status_t st = new_engines(in, cfg, gen, engines, error);
    if (st) {
        for (guint i = 0; i < engines->len; i++) {
            engine_slot_t *s = engines->pdata[i];
            claw_engine_destroy(s->engine);
            g_free(s);
        }
    } else {
        g_atomic_int_set(&in->generation, gen);
        for (guint i = 0; i < engines->len; i++)
            g_async_queue_push(in->engines, engines->pdata[i]);
    }
    g_ptr_array_free(engines, TRUE);
    return st;
}

void
claw_ingest_drain(claw_ingest_t *in)
{
    g_mutex_lock(&in->lock);
    while (in->in_flight)
        g_cond_wait(&in->cond, &in->lock);
    g_mutex_unlock(&in->lock);
}

void
claw_ingest_stop(claw_ingest_t *in)
{
    if (!in)
        return;
    if (in->writer) {
        claw_ingest_drain(in);
        g_thread_pool_free(in->pool, FALSE, TRUE);
        g_async_queue_push(in->to_writer, &stop_job);
        g_thread_join(in->writer);
        g_async_queue_unref(in->to_writer);
    }
    engine_slot_t *s;
    while ((s = g_async_queue_try_pop(in->engines))) {
        claw_engine_destroy(s->engine);
        g_free(s);
    }
    g_async_queue_unref(in->engines);
    claw_archive_settings_clear(&in->set);
    g_mutex_clear(&in->lock);
    g_cond_clear(&in->cond);
    free(in);
}

/* ------------------------------------------------------------------------
 * Phrases in an index without positions: confirmed against the message
 * --------------------------------------------------------------------- */

/* What one thread checks with: its engine and the message it last read. */
typedef struct {
    claw_engine_t *engine;
    bool own_engine;     /* a helper's, made from the config */
    bool broken;         /* a helper whose engine could not be made */
    uint64_t docid;      /* whose message is held */
    bool subject_only;   /* ... and whether only its subject */
    char *subject;
    claw_message_t *msg; /* its texts */
    GString *text;       /* words of one text, each NUL-terminated */
    GArray *words;       /* their offsets in text */
} slot_t;

struct claw_phrase_checker {
    claw_archive_t *ar;
    const claw_config_t *cfg;
    size_t max_text;
    unsigned n_slots;    /* the caller's, then one per helper thread */
    slot_t *slots;
    GThreadPool *pool;   /* the helpers, started by the first batch of two */
    /* The batch being checked: each thread takes the next message. */
    const uint64_t *docids;
    size_t k;
    gint next;
    const char *const *words;
    size_t n;
    bool subject_only;   /* a subject: phrase, not the body's */
    bool windowed;       /* the words are ASCII: looked for where the first is */
    bool kelvin;         /* ... and one has a "k", which the Kelvin sign spells too */
    bool *ok;
    GMutex lock;
    GCond done;
    unsigned running;    /* helpers not yet finished with the batch */
};

claw_phrase_checker_t *
claw_phrase_checker_new(claw_archive_t *ar, claw_engine_t *engine, const claw_config_t *cfg,
                        size_t max_text, unsigned threads)
{
    claw_phrase_checker_t *c = calloc(1, sizeof *c);
    if (!cfg) /* no engines for helpers */
        threads = 1;
    else if (!threads)
        threads = g_get_num_processors();
    threads = MIN(threads, 64);
    if (!c || !(c->slots = calloc(threads, sizeof *c->slots))) {
        free(c);
        return NULL;
    }
    c->ar = ar;
    c->cfg = cfg;
    c->max_text = max_text ? max_text : (size_t)1 << 20;
    c->n_slots = threads;
    for (unsigned i = 0; i < threads; i++) {
        c->slots[i].text = g_string_sized_new(i ? 4096 : 65536);
        c->slots[i].words = g_array_sized_new(FALSE, FALSE, sizeof(guint), i ? 512 : 8192);
    }
    c->slots[0].engine = engine;
    g_mutex_init(&c->lock);
    g_cond_init(&c->done);
    return c;
}

static void
drop_message(slot_t *s)
{
    claw_message_destroy(s->msg);
    g_free(s->subject);
    s->msg = NULL;
    s->subject = NULL;
}

void
claw_phrase_checker_free(claw_phrase_checker_t *c)
{
    if (!c)
        return;
    if (c->pool)
        g_thread_pool_free(c->pool, FALSE, TRUE);
    for (unsigned i = 0; i < c->n_slots; i++) {
        slot_t *s = &c->slots[i];
        drop_message(s);
        if (s->own_engine)
            claw_engine_destroy(s->engine);
        g_string_free(s->text, TRUE);
        g_array_free(s->words, TRUE);
    }
    free(c->slots);
    g_mutex_clear(&c->lock);
    g_cond_clear(&c->done);
    free(c);
}

static void
keep_word(void *ctx, const char *w, size_t n)
{
    slot_t *c = ctx;
    guint off = (guint)c->text->len;
    g_string_append_len(c->text, w, (gssize)n);
    g_string_append_c(c->text, '\0');
    g_array_append_val(c->words, off);
}

/* Every word of @s, then a search for the phrase in them. */
static bool
phrase_in_words(slot_t *c, const char *s, size_t len, const char *const *words, size_t n)
{
    g_string_truncate(c->text, 0);
    g_array_set_size(c->words, 0);
    claw_words(s, len, keep_word, c);
    const guint *off = (const guint *)(void *)c->words->data;
    for (guint i = 0; i + n <= c->words->len; i++) {
        size_t k = 0;
        while (k < n && strcmp(c->text->str + off[i + k], words[k]) == 0)
            k++;
        if (k == n)
            return true;
    }
    return false;
}

typedef struct {
    const char *const *words;
    size_t n, got, first_bad;
} window_t;

static void
window_word(void *ctx, const char *w, size_t len)
{
    window_t *c = ctx;
    if (c->got < c->n && c->first_bad == SIZE_MAX &&
        !(strlen(c->words[c->got]) == len && memcmp(c->words[c->got], w, len) == 0))
        c->first_bad = c->got;
    c->got++;
}

/* The next place in [@p, @end) where ASCII word @w (lowercase) starts, in
 * either case, or NULL. */
static const char *
find_ascii_ci(const char *p, const char *end, const char *w, size_t wl)
{
    int lo = w[0], up = g_ascii_toupper(w[0]);
    while ((size_t)(end - p) >= wl) {
        const char *a = memchr(p, lo, (size_t)(end - p) - wl + 1);
        const char *b = lo == up ? NULL : memchr(p, up, (size_t)(a ? a - p : end - p));
        const char *q = b ? b : a;
        if (!q)
            return NULL;
        if (g_ascii_strncasecmp(q, w, wl) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}

/* Does the character before @p (not the first of @s) continue a word, as
 * claw_words() sees it? */
static bool
word_before(const char *s, const char *p)
{
    const char *q = g_utf8_find_prev_char(s, p);
    size_t n;
    return q && claw_word_char(q, p, &n);
}

/* Does UTF-8 text @s hold the phrase of ASCII words? Only the places where
 * its first word starts are cut into words (the same claw_words() the index
 * used), which is most of the cost of a check saved. A word of the text is
 * an ASCII word only if it is spelled in ASCII, or with the Kelvin sign,
 * the one other character that lower-cases into ASCII: the caller sends
 * text holding that sign the long way. */
static bool
phrase_in_ascii(const char *s, size_t len, const char *const *words, size_t n)
{
    const char *end = s + len, *p = s;
    size_t w0 = strlen(words[0]);
    while ((p = find_ascii_ci(p, end, words[0], w0))) {
        if (p == s || !word_before(s, p)) {
            for (size_t win = 256;; win *= 2) {
                size_t avail = (size_t)(end - p), wl = win < avail ? win : avail;
                window_t c = {words, n, 0, SIZE_MAX};
                claw_words(p, wl, window_word, &c);
                /* A window that ends before the text may cut its last word. */
                size_t complete = wl == avail ? c.got : c.got ? c.got - 1 : 0;
                if (c.first_bad < complete)
                    break;
                if (complete >= n)
                    return true;
                if (wl == avail)
                    break;
            }
        }
        p++;
    }
    return false;
}

static bool
ascii_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

#define KELVIN_SIGN "\xE2\x84\xAA" /* U+212A, lower case "k" */

static bool
phrase_in(slot_t *s, const char *t, size_t len, const char *const *words, size_t n, bool windowed,
          bool kelvin)
{
    if (windowed && !(kelvin && memmem(t, len, KELVIN_SIGN, 3)))
        return phrase_in_ascii(t, len, words, n);
    return phrase_in_words(s, t, len, words, n);
}

/* Does message @docid hold the phrase? In @s's thread. */
static bool
check_message(claw_phrase_checker_t *c, slot_t *s, uint64_t docid)
{
    /* What is held serves the next check of the same message, unless it
     * was read for its subject alone and the body is wanted now. */
    if (docid != s->docid || !s->subject || (s->subject_only && !c->subject_only)) {
        drop_message(s);
        s->docid = docid;
        s->subject_only = c->subject_only;
        if (claw_archive_texts(c->ar, s->engine, docid, c->subject_only, &s->subject, &s->msg) !=
            0)
            return false;
    }
    const char *const *words = c->words;
    size_t n = c->n;
    if (!n)
        return true;
    /* The same texts terms.c indexes; a phrase never spans two of them. */
    const char *subject = s->subject;
    if (*subject && phrase_in(s, subject, strlen(subject), words, n, c->windowed, c->kelvin))
        return true;
    if (c->subject_only)
        return false;
    const claw_message_t *m = s->msg;
    size_t budget = c->max_text;
    for (size_t i = 0; i < m->n_texts && budget; i++) {
        size_t l = m->texts[i].length < budget ? m->texts[i].length : budget;
        if (phrase_in(s, m->texts[i].text, l, words, n, c->windowed, c->kelvin))
            return true;
        budget -= l;
    }
    return false;
}

/* Take the batch's next message until none is left. */
static void
check_batch(claw_phrase_checker_t *c, slot_t *s)
{
    for (;;) {
        size_t i = (size_t)g_atomic_int_add(&c->next, 1);
        if (i >= c->k)
            break;
        c->ok[i] = check_message(c, s, c->docids[i]);
    }
}

static void
helper_main(gpointer data, gpointer user)
{
    claw_phrase_checker_t *c = user;
    slot_t *s = data;
    if (!s->engine && !s->broken) {
        s->broken = claw_engine_new(c->cfg, &s->engine, NULL) != CLAW_STATUS_SUCCESS;
        s->own_engine = !s->broken;
    }
    if (!s->broken)
        check_batch(c, s);
    g_mutex_lock(&c->lock);
    if (--c->running == 0)
        g_cond_signal(&c->done);
    g_mutex_unlock(&c->lock);
}

void
claw_phrase_check(void *ctx, const uint64_t *docids, size_t k, const char *prefix,
                  const char *const *words, size_t n, bool *ok)
{
    claw_phrase_checker_t *c = ctx;
    c->subject_only = prefix && !strcmp(prefix, "S");
    c->docids = docids;
    c->k = k;
    c->words = words;
    c->n = n;
    c->ok = ok;
    c->windowed = true;
    c->kelvin = false;
    for (size_t i = 0; i < n; i++) {
        if (!*words[i] || !ascii_only(words[i], strlen(words[i])))
            c->windowed = false;
        if (strchr(words[i], 'k'))
            c->kelvin = true;
    }
    g_atomic_int_set(&c->next, 0);
    unsigned helpers = k > 1 ? c->n_slots - 1 : 0;
    if (helpers > k - 1)
        helpers = (unsigned)k - 1;
    if (helpers && !c->pool)
        c->pool = g_thread_pool_new(helper_main, c, (int)c->n_slots - 1, TRUE, NULL);
    if (!c->pool)
        helpers = 0;
    c->running = helpers;
    for (unsigned i = 1; i <= helpers; i++)
        g_thread_pool_push(c->pool, &c->slots[i], NULL);
    check_batch(c, &c->slots[0]);
    g_mutex_lock(&c->lock);
    while (c->running)
        g_cond_wait(&c->done, &c->lock);
    g_mutex_unlock(&c->lock);
}
