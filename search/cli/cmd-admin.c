/* cmd-admin.c - claw stats, check and reindex: looking after the archive.
 * The manual is claw.1. */
#include "build-config.h"

#include "claw-purge.h"
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

static uint64_t
dir_bytes(const char *path)
{
    uint64_t total = 0;
    GDir *d = g_dir_open(path, 0, NULL);
    if (!d)
        return 0;
    const char *n;
    while ((n = g_dir_read_name(d))) {
        char *p = g_build_filename(path, n, NULL);
        struct stat st;
        if (lstat(p, &st) == 0)
            total += S_ISDIR(st.st_mode) ? dir_bytes(p) : (uint64_t)st.st_blocks * 512;
        g_free(p);
    }
    g_dir_close(d);
    return total;
}

int
claw_cmd_stats(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog, "stats [--json]\nWhat the archive holds and its size.\n", options,
                       false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = cli_open_archive(prog, dir, false, cfg, &rc);
    if (!ar) {
        g_free(dir);
        return rc;
    }
    claw_archive_stats_t s;
    claw_archive_stats(ar, &s);
    uint32_t dict = claw_archive_dictionary(ar);
    claw_archive_close(ar);
    char *ipath = g_build_filename(dir, "index", NULL);
    uint64_t idx_docs = 0, idx_last = 0, idx_seq = 0, idx_bytes = dir_bytes(ipath);
    uint64_t idx_compacted = 0;
    claw_index_t *ix = NULL;
    bool have_index = claw_index_open(ipath, 0, &ix, NULL) == 0;
    if (have_index) {
        claw_index_count(ix, &idx_docs, &idx_last);
        claw_index_last_seq(ix, &idx_seq);
        uint64_t n;
        claw_index_compacted(ix, &n, &idx_compacted);
        claw_index_close(ix);
    }
    if (json) {
        GString *where = g_string_new(NULL);
        cli_json_str(where, dir);
        printf("{\"archive\":%s,\"messages\":%" PRIu64 ",\"deliveries\":%" PRIu64
               ",\"raw_bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64 ",\"store_file_bytes\":%" PRIu64
               ",\"map_size\":%" PRIu64 ",\"dictionary\":%" PRIu32 ",\"record_dictionary\":%" PRIu32
               ",\"last_seq\":%" PRIu64 ",\"index_documents\":%" PRIu64
               ",\"index_seq\":%" PRIu64 ",\"index_bytes\":%" PRIu64
               ",\"index_compacted_documents\":%" PRIu64 ",\"actions\":{\"accept\":%" PRIu64 ",\"tag\":%" PRIu64 ",\"quarantine\":%" PRIu64
               ",\"reject\":%" PRIu64 "}}\n",
               where->str, s.messages, s.deliveries, s.raw_bytes, s.stored_bytes, s.file_bytes,
               s.map_size, dict, s.record_dictionary, s.last_seq, idx_docs, idx_seq, idx_bytes, idx_compacted, s.by_action[0],
               s.by_action[1], s.by_action[2], s.by_action[3]);
        g_string_free(where, TRUE);
    } else {
        printf("Archive:     %s\n", dir);
        printf("Messages:    %" PRIu64 " (%" PRIu64 " deliveries)\n", s.messages, s.deliveries);
        printf("Verdicts:    %" PRIu64 " accept, %" PRIu64 " tag, %" PRIu64 " quarantine, %" PRIu64
               " reject\n",
               s.by_action[0], s.by_action[1], s.by_action[2], s.by_action[3]);
        printf("Raw mail:    %.1f MB, compressed to %.1f MB", (double)s.raw_bytes / 1e6,
               (double)s.stored_bytes / 1e6);
        if (dict)
            printf(" (zstd dictionary %" PRIu32 ")", dict);
        if (s.record_dictionary)
            printf("; records with dictionary %" PRIu32, s.record_dictionary);
        printf("\n");
        printf("Store file:  %.1f MB on disk (map %.1f MB)\n", (double)s.file_bytes / 1e6,
               (double)s.map_size / 1e6);
        printf("Index:       %s%" PRIu64 " documents, %.1f MB", have_index ? "" : "none; ",
               idx_docs, (double)idx_bytes / 1e6);
        if (have_index && idx_seq < s.last_seq)
            printf(", %" PRIu64 " changes behind", s.last_seq - idx_seq);
        if (have_index && idx_compacted < idx_docs)
            printf(" (%" PRIu64 " added since compacted)", idx_docs - idx_compacted);
        printf("\n");
        if (s.raw_bytes)
            printf("Size:        store + index = %.2f x the raw mail\n",
                   (double)(s.file_bytes + idx_bytes) / (double)s.raw_bytes);
    }
    g_free(ipath);
    g_free(dir);
    return cli_finish_output(prog, 0);
}

/* What check found, and how it says it: a line per finding, or (with
 * --json) one object at the end. */
typedef struct {
    uint64_t problems;
    GHashTable *store_docs;
    claw_archive_t *ar;
    bool json;
    GString *problem_list; /* --json: the problems, as JSON strings */
    GString *shards;       /* --json: {"shard","clean"} per xapian-check */
} check_t;

static void
report(void *ctx, const char *problem)
{
    check_t *c = ctx;
    c->problems++;
    if (!c->json) {
        printf("problem: %s\n", problem);
        return;
    }
    if (c->problem_list->len)
        g_string_append_c(c->problem_list, ',');
    cli_json_str(c->problem_list, problem);
}

static bool
collect_store(void *ctx, uint64_t docid, const char *sha)
{
    (void)sha;
    gint64 *k = g_new(gint64, 1);
    *k = (gint64)docid;
    g_hash_table_add(((check_t *)ctx)->store_docs, k);
    return true;
}

static bool
check_index_doc(void *ctx, uint64_t docid)
{
    check_t *c = ctx;
    gint64 k = (gint64)docid;
    claw_msg_state_t state = CLAW_MSG_ABSENT;
    if (!g_hash_table_remove(c->store_docs, &k) &&
        (claw_archive_msg_state(c->ar, docid, &state, NULL) || state != CLAW_MSG_ERASED)) {
        /* An erased message's document is emptied, not removed. */
        char m[128];
        snprintf(m, sizeof m, "index has document %" PRIu64 ", which the store does not", docid);
        report(c, m);
    }
    return true;
}

/* How long check watches an index that is behind the store while a writer
 * holds it: clawd commits within a second of catching up. */
#define CATCH_UP_WAIT (G_TIME_SPAN_SECOND * 3)

/* The index's log position in *@seq, once it has caught up with the
 * store's @target, or when it stops moving: true when it is behind and did
 * not move (no writer holds it, or the one that does indexes nothing). */
static bool
index_catch_up(claw_index_t *ix, uint64_t target, uint64_t *seq)
{
    claw_index_last_seq(ix, seq);
    if (*seq >= target)
        return false;
    if (!claw_index_writing(ix))
        return true;
    uint64_t first = *seq;
    gint64 until = g_get_monotonic_time() + CATCH_UP_WAIT;
    while (*seq < target && g_get_monotonic_time() < until) {
        g_usleep(G_USEC_PER_SEC / 10);
        if (claw_index_reopen(ix) == 0)
            claw_index_last_seq(ix, seq);
    }
    return *seq < target && *seq == first;
}

/* An index behind the store misses messages from searches: a problem,
 * worded for what the admin does about it. */
static void
report_behind(check_t *c, uint64_t behind, bool stuck)
{
    char m[300];
    if (stuck)
        snprintf(m, sizeof m,
                 "the index is %" PRIu64 " changes behind the store and not catching up: the "
                 "indexer is stuck or not running (clawd's log says why; clawd or 'claw reindex "
                 "--catch-up' indexes them)",
                 behind);
    else
        snprintf(m, sizeof m,
                 "the index is %" PRIu64 " changes behind the store, catching up (check again)",
                 behind);
    report(c, m);
}

#ifdef XAPIAN_CHECK
/* xapian-check on each shard of the index at @ipath, and on its
 * amendments (the changed messages) if any. */
static void
check_shards(check_t *c, const char *ipath, unsigned n_shards)
{
    for (unsigned k = 0; access(XAPIAN_CHECK, X_OK) == 0 && k < 2 * n_shards; k++) {
        char *out = NULL;
        int status = 0;
        char *shard = g_strdup_printf("%s/%s%u", ipath, k % 2 ? "amend" : "shard", k / 2);
        if (k % 2) {
            char *glass = g_strdup_printf("%s/iamglass", shard);
            bool there = access(glass, F_OK) == 0;
            g_free(glass);
            if (!there) {
                g_free(shard);
                continue;
            }
        }
        char *args[] = {(char *)XAPIAN_CHECK, shard, NULL};
        bool clean = g_spawn_sync(NULL, args, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                                  NULL, &status, NULL) &&
                     g_spawn_check_wait_status(status, NULL);
        if (c->json) {
            g_string_append(c->shards, c->shards->len ? ",{\"shard\":" : "{\"shard\":");
            cli_json_str(c->shards, shard);
            g_string_append_printf(c->shards, ",\"clean\":%s}", clean ? "true" : "false");
        } else if (clean) {
            printf("xapian-check %s: clean\n", shard);
        }
        if (!clean) {
            char m[600];
            snprintf(m, sizeof m, "xapian-check %s found errors", shard);
            report(c, m);
            if (out && !c->json)
                fputs(out, stdout);
        }
        g_free(out);
        g_free(shard);
    }
}
#endif

int
claw_cmd_check(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool deep = false, json = false;
    const cli_option_t options[] = {{"deep", 'd', &deep, NULL}, {"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog,
                       "check [--deep] [--json]\n"
                       "Store and index agree; xapian-check is clean. --deep reads every "
                       "message.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = cli_open_archive(prog, dir, false, cfg, &rc);
    if (!ar) {
        g_free(dir);
        return rc;
    }
    check_t ck = {0, g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL), ar, json,
                  g_string_new(NULL), g_string_new(NULL)};
    uint64_t n = 0;
    claw_archive_verify(ar, deep, report, &ck, &n);
    claw_archive_stats_t s;
    claw_archive_stats(ar, &s);
    claw_archive_each(ar, collect_store, &ck);
    if (!json)
        printf("store: %" PRIu64 " messages, %" PRIu64 " deliveries, log at %" PRIu64 "\n",
               s.messages, s.deliveries, s.last_seq);

    char *ipath = g_build_filename(dir, "index", NULL);
    claw_index_t *ix = NULL;
    char *err = NULL;
    bool have_index = false;
    uint64_t seq = 0, docs = 0, last = 0;
    bool stuck = false;
    claw_status_t st = claw_index_open(ipath, 0, &ix, &err);
    if (st) {
        char m[600];
        snprintf(m, sizeof m, "no usable index: %s", err ? err : claw_status_to_string(st));
        if (s.messages || st != CLAW_STATUS_NOT_FOUND)
            report(&ck, m);
        free(err);
    } else {
        have_index = true;
        stuck = index_catch_up(ix, s.last_seq, &seq);
        claw_index_count(ix, &docs, &last);
        if (!json)
            printf("index: %" PRIu64 " documents, at %" PRIu64 "\n", docs, seq);
        if (seq > s.last_seq)
            report(&ck, "the index claims more of the log than the store holds");
        else if (seq < s.last_seq)
            report_behind(&ck, s.last_seq - seq, stuck);
        claw_index_each(ix, check_index_doc, &ck);
        if (seq == s.last_seq && g_hash_table_size(ck.store_docs)) {
            char m[128];
            snprintf(m, sizeof m, "%u stored messages are missing from the index",
                     g_hash_table_size(ck.store_docs));
            report(&ck, m);
        }
#ifdef XAPIAN_CHECK
        check_shards(&ck, ipath, claw_index_n_shards(ix));
#endif
        claw_index_close(ix);
    }
    if (json) {
        printf("{\"clean\":%s,\"store\":{\"messages\":%" PRIu64 ",\"deliveries\":%" PRIu64
               ",\"last_seq\":%" PRIu64 "},\"index\":",
               ck.problems ? "false" : "true", s.messages, s.deliveries, s.last_seq);
        if (have_index)
            printf("{\"documents\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"behind\":%" PRIu64
                   ",\"stuck\":%s}",
                   docs, seq, seq < s.last_seq ? s.last_seq - seq : 0, stuck ? "true" : "false");
        else
            printf("null");
        printf(",\"xapian_check\":[%s],\"problems\":[%s]}\n", ck.shards->str,
               ck.problem_list->str);
    } else {
        printf("%s\n", ck.problems ? "PROBLEMS FOUND" : "clean");
    }
    claw_archive_close(ar);
    g_free(ipath);
    g_free(dir);
    g_hash_table_destroy(ck.store_docs);
    g_string_free(ck.problem_list, TRUE);
    g_string_free(ck.shards, TRUE);
    return cli_finish_output(prog, ck.problems ? EXIT_PROBLEMS : 0);
}

/* The archive to reindex, opened for writing. Only an archive that is
 * there: reindexing nothing is a mistake (a wrong --archive, say), and an
 * open for writing would create an empty archive in its place. */
static claw_archive_t *
archive_to_reindex(const char *prog, const char *dir, claw_config_t *cfg, int *rc)
{
    char *store = g_build_filename(dir, "store", NULL);
    bool there = access(store, F_OK) == 0;
    g_free(store);
    if (!there) {
        fprintf(stderr, "%s reindex: %s: no archive here\n", prog, dir);
        *rc = EX_NOINPUT;
        return NULL;
    }
    return cli_open_archive(prog, dir, true, cfg, rc);
}

/* Open every shard of the live index at @ipath for writing into @live, so
 * nothing else (clawd) writes it while they are held. Returns 0, or
 * EX_TEMPFAIL when another process holds one (clawd is running). */
static int
lock_live_index(const char *prog, const char *ipath, GPtrArray *live, bool quiet)
{
    char *f = g_build_filename(ipath, "shards", NULL);
    gchar *text = NULL;
    unsigned n = g_file_get_contents(f, &text, NULL, NULL)
                     ? (unsigned)g_ascii_strtoull(text, NULL, 10)
                     : 0;
    g_free(text);
    g_free(f);
    for (unsigned i = 0; i < n; i++) {
        claw_index_t *one = NULL;
        char *err = NULL;
        claw_status_t st = claw_index_open_shard(ipath, CLAW_INDEX_WRITE, i, n, &one, &err);
        if (st) {
            if (!quiet)
                fprintf(stderr, "%s reindex: %s\n", prog, err ? err : claw_status_to_string(st));
            free(err);
            return EX_TEMPFAIL;
        }
        g_ptr_array_add(live, one);
    }
    return 0;
}

int
claw_cmd_compact(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog,
                       "compact [--json]\n"
                       "Write the store afresh without its free pages: space freed by erased\n"
                       "messages goes back to the file system, and no old page of theirs is left\n"
                       "in it. Only with the archive open nowhere else (stop clawd first: 75).\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    char *dir = cli_archive_dir(cfg, archive);
    uint64_t before, after;
    char *err = NULL;
    claw_status_t st = claw_archive_compact(dir, &before, &after, &err);
    g_free(dir);
    if (st) {
        fprintf(stderr, "%s compact: %s\n", prog, err);
        free(err);
        return st == CLAW_STATUS_NOT_FOUND ? EX_NOINPUT : EX_TEMPFAIL;
    }
    if (json)
        printf("{\"before\":%" PRIu64 ",\"after\":%" PRIu64 "}\n", before, after);
    else
        printf("store compacted: %.1f MB -> %.1f MB\n", (double)before / 1e6, (double)after / 1e6);
    return cli_finish_output(prog, 0);
}

int
cli_index_catch_up(const char *prog, claw_config_t *cfg, claw_archive_t *ar, bool busy_ok)
{
    claw_archive_stats_t s;
    claw_archive_stats(ar, &s);
    char *err = NULL;
    claw_indexer_t *x = NULL;
    claw_status_t st = claw_indexer_start(ar, cfg, NULL, false, &x, &err);
    /* A running clawd is the index's writer (its shards are locked): that
     * is busy (75), not an I/O error; and it indexes what the store has
     * anyway. */
    bool busy = st == CLAW_STATUS_IO_ERROR && err && strstr(err, "locked");
    if (!st)
        st = claw_indexer_wait(x, s.last_seq);
    claw_indexer_stop(x);
    int rc = !st ? 0 : busy ? (busy_ok ? 0 : EX_TEMPFAIL) : EX_IOERR;
    if (st && !(busy && busy_ok))
        fprintf(stderr, "%s: index: %s\n", prog, err ? err : claw_status_to_string(st));
    free(err);
    return rc;
}

int
claw_cmd_reindex(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool catch_up = false, json = false;
    const cli_option_t options[] = {
        {"catch-up", 'u', &catch_up, NULL}, {"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog,
                       "reindex [--catch-up] [--json]\n"
                       "Rebuild the index from the store, or with --catch-up index what it "
                       "lacks.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = archive_to_reindex(prog, dir, cfg, &rc);
    if (!ar) {
        g_free(dir);
        return rc;
    }
    char *err = NULL;
    claw_status_t st;
    claw_archive_stats_t s;
    claw_archive_stats(ar, &s);
    if (catch_up) {
        rc = cli_index_catch_up(prog, cfg, ar, false);
        if (rc == 0 && json)
            printf("{\"mode\":\"catch-up\",\"last_seq\":%" PRIu64 "}\n", s.last_seq);
        else if (rc == 0)
            printf("index caught up to %" PRIu64 "\n", s.last_seq);
        claw_archive_close(ar);
        g_free(dir);
        return cli_finish_output(prog, rc);
    }
    /* Hold the live index's locks while the new one is built beside it,
     * by the indexer's threads replaying the whole log from the store. */
    char *ipath = g_build_filename(dir, "index", NULL);
    char *npath = g_build_filename(dir, "index.new", NULL);
    char *opath = g_build_filename(dir, "index.old", NULL);
    GPtrArray *live = g_ptr_array_new_with_free_func((GDestroyNotify)claw_index_close);
    if ((rc = lock_live_index(prog, ipath, live, false)))
        goto out;
    claw_index_remove_tree(npath);
    gint64 start = g_get_monotonic_time();
    claw_indexer_t *x = NULL;
    st = claw_indexer_start(ar, cfg, npath, true, &x, &err);
    if (!st) {
        claw_indexer_bulk(x);
        st = claw_indexer_wait(x, s.last_seq);
    }
    claw_indexer_stop(x);
    if (st) {
        fprintf(stderr, "%s reindex: %s\n", prog, err ? err : claw_status_to_string(st));
        rc = EX_IOERR;
        goto out;
    }
    /* Swap in the new index; the old one's locks are held until now. */
    claw_index_remove_tree(opath);
    if ((g_file_test(ipath, G_FILE_TEST_EXISTS) && rename(ipath, opath) != 0) ||
        rename(npath, ipath) != 0) {
        fprintf(stderr, "%s reindex: swapping in the new index: %s\n", prog, strerror(errno));
        rc = EX_IOERR;
    } else {
        double secs = (double)(g_get_monotonic_time() - start) / 1e6;
        if (json)
            printf("{\"mode\":\"full\",\"messages\":%" PRIu64 ",\"last_seq\":%" PRIu64
                   ",\"seconds\":%.3f}\n",
                   s.messages, s.last_seq, secs);
        else
            printf("reindexed %" PRIu64 " messages in %.1f s\n", s.messages, secs);
    }
out:
    g_ptr_array_free(live, TRUE);
    if (!rc)
        claw_index_remove_tree(opath);
    free(err);
    g_free(ipath);
    g_free(npath);
    g_free(opath);
    claw_archive_close(ar);
    g_free(dir);
    return cli_finish_output(prog, rc);
}
