/* cmd-import.c - claw import: store and index Maildirs, mbox files, single
 * messages and directory trees of them. The manual is claw.1. */
#include "build-config.h"

#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>


typedef struct {
    GMutex lock;
    uint64_t stored, new_, deliveries, duplicates, failed, skipped, messages;
    uint64_t last_seq;
    uint64_t bytes_done;
} import_t;

static void
import_done(void *ctx, void *tag, claw_item_t *item, claw_status_t st, const char *error)
{
    import_t *im = ctx;
    g_mutex_lock(&im->lock);
    if (st || !item) {
        im->failed++;
        fprintf(stderr, "claw import: %s: %s\n", tag ? (const char *)tag : "message",
                error ? error : claw_status_to_string(st));
    } else {
        switch (claw_item_outcome(item)) {
        case CLAW_ITEM_NEW: im->new_++; break;
        case CLAW_ITEM_NEW_DELIVERY: im->deliveries++; break;
        case CLAW_ITEM_DUPLICATE: im->duplicates++; break;
        default: break;
        }
        if (claw_item_seq(item) > im->last_seq)
            im->last_seq = claw_item_seq(item);
    }
    im->stored++;
    g_mutex_unlock(&im->lock);
    g_free(tag);
    claw_item_free(item);
}

/* Does this look like the start of a message: a header field, or an mbox
 * postmark? Files that do not (index files of mail programs, notes) are
 * skipped. */
static bool
looks_like_mail(const char *d, size_t len)
{
    if (len >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0)
        d += 3, len -= 3;
    if (claw_mbox_is(d, len))
        return true;
    size_t i = 0;
    while (i < len && i < 200 && d[i] > ' ' && d[i] < 0x7f && d[i] != ':')
        i++;
    return i > 0 && i < len && d[i] == ':';
}

typedef struct {
    GPtrArray *files;
    uint64_t bytes;
} walk_t;

static void
walk(const char *path, walk_t *w, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "claw import: %s: %s\n", path, strerror(errno));
        return;
    }
    if (S_ISREG(st.st_mode)) {
        g_ptr_array_add(w->files, g_strdup(path));
        w->bytes += (uint64_t)st.st_size;
        return;
    }
    if (!S_ISDIR(st.st_mode) || depth > 64)
        return;
    /* A Maildir's tmp/ holds deliveries in progress. */
    char *cur = g_build_filename(path, "cur", NULL);
    bool maildir = g_file_test(cur, G_FILE_TEST_IS_DIR);
    g_free(cur);
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "claw import: %s: %s\n", path, strerror(errno));
        return;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    struct dirent *de;
    while ((de = readdir(dir)))
        if (de->d_name[0] != '.' || (maildir && de->d_name[1] && de->d_name[1] != '.'))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                strcmp(de->d_name, ".notmuch") && strcmp(de->d_name, ".mu") &&
                !(maildir && strcmp(de->d_name, "tmp") == 0))
                g_ptr_array_add(names, g_strdup(de->d_name));
    closedir(dir);
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    for (guint i = 0; i < names->len; i++) {
        const char *n = *(const char **)&names->pdata[i];
        char *child = g_build_filename(path, n, NULL);
        walk(child, w, depth + 1);
        g_free(child);
    }
    g_ptr_array_free(names, TRUE);
}

typedef struct {
    claw_ingest_t *in;
    const char *path;
    claw_delivery_t *d;
    import_t *im;
    size_t n;
} mbox_ctx_t;

static void
submit_mbox_message(void *ctx, const char *msg, size_t n)
{
    mbox_ctx_t *c = ctx;
    char *copy = malloc(n ? n : 1);
    if (!copy)
        return;
    memcpy(copy, msg, n);
    c->n++;
    g_mutex_lock(&c->im->lock);
    c->im->messages++;
    g_mutex_unlock(&c->im->lock);
    claw_ingest_submit(c->in, copy, n, c->d, g_strdup_printf("%s#%zu", c->path, c->n));
}

static void
progress(import_t *im, uint64_t total, gint64 start, bool final)
{
    g_mutex_lock(&im->lock);
    uint64_t done = im->stored, bytes = im->bytes_done;
    g_mutex_unlock(&im->lock);
    double secs = (double)(g_get_monotonic_time() - start) / 1e6;
    int pct = total ? (int)(100.0 * (double)bytes / (double)total) : 100;
    int bar = pct / 4;
    fprintf(stderr, "\r[%.*s%*s] %3d%%  %" PRIu64 " messages  %.0f/s ", bar,
            "=========================", 25 - bar, "", pct, done,
            secs > 0 ? (double)done / secs : 0.0);
    if (final)
        fputc('\n', stderr);
}

/* Is every path named on the command line there? A missing one is a
 * mistake to report before the archive is opened (or created). */
static bool
inputs_exist(const char *prog, int n, char **paths)
{
    bool all = true;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            fprintf(stderr, "%s import: %s: %s\n", prog, paths[i], strerror(errno));
            all = false;
        }
    }
    return all;
}

int
claw_cmd_import(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool quiet = false, json = false, no_index = false, trust = false;
    const cli_option_t options[] = {{"quiet", 'q', &quiet, NULL},
                                    {"json", 'j', &json, NULL},
                                    {"no-index", 'n', &no_index, NULL},
                                    {"trust-headers", 't', &trust, NULL},
                                    {0}};
    int prc = cli_parse(prog,
                        "import [--quiet] [--json] [--no-index] [--trust-headers] PATH...\n"
                        "Store and index Maildirs, mbox files, single messages and directory "
                        "trees of them.\n"
                        "--trust-headers: believe the X-Clawback-* fields in the messages (mail "
                        "exported\nfrom a Clawback archive or written by your own MTA); "
                        "otherwise the archive judges\neach message itself.\n",
                        options, true, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    if (optind >= argc) {
        fprintf(stderr, "%s import: give one or more paths (Maildir, mbox, .eml, directory)\n",
                prog);
        return EX_USAGE;
    }
    if (!inputs_exist(prog, argc - optind, argv + optind))
        return EX_NOINPUT;
    walk_t w = {g_ptr_array_new_with_free_func(g_free), 0};
    for (int i = optind; i < argc; i++)
        walk(argv[i], &w, 0);

    int rc = 0;
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = cli_open_archive(prog, dir, true, cfg, &rc);
    if (!ar) {
        g_free(dir);
        g_ptr_array_free(w.files, TRUE);
        return rc;
    }
    claw_archive_set_bulk(ar, true);
    char *err = NULL;
    claw_indexer_t *ix = NULL;
    bool index_elsewhere = false;
    if (!no_index) {
        claw_status_t st = claw_indexer_start(ar, cfg, NULL, false, &ix, &err);
        if (!st)
            claw_indexer_bulk(ix);
        if (st) {
            /* clawd holds the index: it follows the store and indexes these too. */
            fprintf(stderr, "%s import: not indexing here: %s\n", prog,
                    err ? err : claw_status_to_string(st));
            index_elsewhere = true;
        }
        free(err);
        err = NULL;
    }
    import_t im = {0};
    g_mutex_init(&im.lock);
    claw_ingest_t *in = NULL;
    claw_status_t st = claw_ingest_start(ar, cfg, ix, import_done, &im, &in, &err);
    if (st) {
        fprintf(stderr, "%s import: %s\n", prog, err ? err : claw_status_to_string(st));
        free(err);
        claw_indexer_stop(ix);
        claw_archive_close(ar);
        g_free(dir);
        g_ptr_array_free(w.files, TRUE);
        return EX_SOFTWARE;
    }
    bool tty = !quiet && isatty(STDERR_FILENO);
    gint64 start = g_get_monotonic_time(), last_draw = 0;
    uint64_t unreadable = 0, skipped = 0;
    for (guint i = 0; i < w.files->len; i++) {
        const char *path = w.files->pdata[i];
        gchar *data = NULL;
        gsize len = 0;
        GError *gerr = NULL;
        struct stat st_;
        if (!g_file_get_contents(path, &data, &len, &gerr)) {
            fprintf(stderr, "%s import: %s\n", prog, gerr->message);
            g_error_free(gerr);
            unreadable++;
            continue;
        }
        claw_delivery_t d = {0};
        d.source = "import";
        d.trusted = trust;
        d.time_ms = stat(path, &st_) == 0 ? (int64_t)st_.st_mtime * 1000 : 0;
        if (!looks_like_mail(data, len)) {
            skipped++;
            g_free(data);
        } else if (claw_mbox_is(data, len)) {
            mbox_ctx_t mc = {in, path, &d, &im, 0};
            claw_mbox_split(data, len, submit_mbox_message, &mc);
            g_free(data);
        } else {
            g_mutex_lock(&im.lock);
            im.messages++;
            g_mutex_unlock(&im.lock);
            claw_ingest_submit(in, data, len, &d, g_strdup(path));
        }
        g_mutex_lock(&im.lock);
        im.bytes_done += len;
        g_mutex_unlock(&im.lock);
        if (tty && g_get_monotonic_time() - last_draw > 100000) {
            progress(&im, w.bytes, start, false);
            last_draw = g_get_monotonic_time();
        }
    }
    claw_ingest_drain(in);
    double stored_secs = (double)(g_get_monotonic_time() - start) / 1e6;
    if (tty)
        progress(&im, w.bytes, start, true);
    claw_ingest_stop(in);
    claw_status_t ist = CLAW_STATUS_SUCCESS;
    if (ix) {
        if (tty)
            fprintf(stderr, "indexing...\r");
        ist = claw_indexer_wait(ix, im.last_seq);
        claw_indexer_stop(ix);
    }
    double secs = (double)(g_get_monotonic_time() - start) / 1e6;
    if (json) {
        printf("{\"files\":%u,\"messages\":%" PRIu64 ",\"new\":%" PRIu64
               ",\"new_deliveries\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"failed\":%" PRIu64
               ",\"skipped\":%" PRIu64 ",\"unreadable\":%" PRIu64
               ",\"seconds\":%.3f,\"stored_seconds\":%.3f,\"indexed\":%s}\n",
               w.files->len, im.messages, im.new_, im.deliveries, im.duplicates, im.failed,
               skipped, unreadable, secs, stored_secs, ix && !ist ? "true" : "false");
    } else if (!quiet) {
        printf("%" PRIu64 " messages from %u files in %.1f s (%.0f/s): %" PRIu64 " new, %" PRIu64
               " more deliveries of stored messages, %" PRIu64 " duplicates",
               im.messages, w.files->len, secs, secs > 0 ? (double)im.messages / secs : 0.0,
               im.new_, im.deliveries, im.duplicates);
        if (im.failed)
            printf(", %" PRIu64 " FAILED", im.failed);
        if (skipped)
            printf("; %" PRIu64 " files skipped (not mail)", skipped);
        if (unreadable)
            printf("; %" PRIu64 " files unreadable", unreadable);
        printf(".\n%s\n", ix ? (ist ? "The index could not be updated (see above)."
                                    : "Indexed.")
                          : index_elsewhere ? "The index is clawd's: it indexes them."
                                            : "Not indexed (--no-index).");
    }
    claw_archive_close(ar);
    g_free(dir);
    g_ptr_array_free(w.files, TRUE);
    g_mutex_clear(&im.lock);
    if (im.failed || ist)
        return EX_IOERR;
    return unreadable ? 2 : 0;
}

