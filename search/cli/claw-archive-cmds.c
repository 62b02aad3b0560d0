/* claw-archive-cmds.c - claw's archive commands: import, search, show,
 * export, stats, check, reindex. The manual is claw.1. */
#include "build-config.h"

#include "claw-cmds.h"
#include "claw-ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* Exit statuses beyond sysexits.h: search found nothing, check found
 * problems. */
#define EXIT_NONE 1
#define EXIT_PROBLEMS 1

static char *
archive_dir(claw_config_t *cfg, const char *archive)
{
    return g_strdup(archive ? archive : claw_config_get(cfg, "archive", "path"));
}

static claw_archive_t *
open_archive(const char *prog, const char *dir, bool write, claw_config_t *cfg, int *rc)
{
    claw_archive_t *a = NULL;
    char *err = NULL;
    claw_archive_settings_t s;
    claw_archive_settings_read(cfg, &s);
    claw_status_t st =
        claw_archive_open(dir, write ? 0 : CLAW_ARCHIVE_READ_ONLY, s.map_size, &a, &err);
    claw_archive_settings_clear(&s);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, err ? err : claw_status_to_string(st));
        *rc = st == CLAW_STATUS_NOT_FOUND ? EX_NOINPUT : EX_IOERR;
    }
    free(err);
    return a;
}

/* Text from a message, made safe for a terminal: control characters
 * become '?', and at most @max characters. g_free() it. */
static char *
safe_text(const char *s, size_t max)
{
    GString *o = g_string_new(NULL);
    const char *p = s ? s : "";
    if (!g_utf8_validate(p, -1, NULL))
        p = "(invalid UTF-8)";
    size_t n = 0;
    for (; *p && n < max; p = g_utf8_next_char(p), n++) {
        gunichar c = g_utf8_get_char(p);
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || (c >= 0x202a && c <= 0x202e) ||
            (c >= 0x2066 && c <= 0x2069))
            g_string_append_c(o, '?');
        else
            g_string_append_unichar(o, c);
    }
    if (*p && n >= max && o->len >= 3) {
        g_string_truncate(o, (gsize)(g_utf8_offset_to_pointer(o->str, (glong)max - 1) - o->str));
        g_string_append(o, "…");
    }
    return g_string_free(o, FALSE);
}

static void
json_str(GString *o, const char *s)
{
    g_string_append_c(o, '"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            g_string_append_printf(o, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf(o, "\\u%04x", *p);
        else
            g_string_append_c(o, (char)*p);
    }
    g_string_append_c(o, '"');
}

static void
fmt_time(char *buf, size_t n, int64_t t, bool seconds)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, n, seconds ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M", &tm);
}

/* ------------------------------------------------------------------------
 * import
 * --------------------------------------------------------------------- */

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

int
claw_cmd_import(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"json", no_argument, NULL, 'j'},
        {"no-index", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false, json = false, no_index = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qjnh", longopts, NULL)) != -1) {
        switch (c) {
        case 'q': quiet = true; break;
        case 'j': json = true; break;
        case 'n': no_index = true; break;
        case 'h':
            printf("Usage: %s import [--quiet] [--json] [--no-index] PATH...\n"
                   "Store and index Maildirs, mbox files, single messages and directory "
                   "trees of them.\n",
                   prog);
            return 0;
        default: return EX_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "%s import: give one or more paths (Maildir, mbox, .eml, directory)\n",
                prog);
        return EX_USAGE;
    }
    walk_t w = {g_ptr_array_new_with_free_func(g_free), 0};
    for (int i = optind; i < argc; i++)
        walk(argv[i], &w, 0);

    int rc = 0;
    char *dir = archive_dir(cfg, archive);
    claw_archive_t *ar = open_archive(prog, dir, true, cfg, &rc);
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

/* ------------------------------------------------------------------------
 * search
 * --------------------------------------------------------------------- */

/* The index for searching and the store it was made from, opened once (an
 * LMDB environment must not be opened twice by one process): the store
 * gives what a hit shows and confirms phrases in an index without body
 * positions, with an engine to parse with. */
static struct {
    claw_archive_t *ar;
    claw_engine_t *engine;
    claw_phrase_checker_t *checker;
} phrase_ctx;

static claw_index_t *
open_index(const char *prog, claw_config_t *cfg, const char *dir, int *rc)
{
    char *path = g_build_filename(dir, "index", NULL);
    claw_index_t *ix = NULL;
    char *err = NULL;
    claw_status_t st = claw_index_open(path, 0, &ix, &err);
    if (st) {
        if (st == CLAW_STATUS_NOT_FOUND)
            fprintf(stderr, "%s: no index at %s (is clawd running? or: claw reindex)\n", prog,
                    path);
        else
            fprintf(stderr, "%s: %s\n", prog, err ? err : claw_status_to_string(st));
        *rc = st == CLAW_STATUS_NOT_FOUND ? EX_NOINPUT : EX_IOERR;
    } else if (!(phrase_ctx.ar = open_archive(prog, dir, false, cfg, rc))) {
        claw_index_close(ix);
        ix = NULL;
    } else {
        if (claw_engine_new(cfg, &phrase_ctx.engine, NULL) == 0) {
            claw_archive_settings_t set;
            claw_archive_settings_read(cfg, &set);
            phrase_ctx.checker = claw_phrase_checker_new(phrase_ctx.ar, phrase_ctx.engine, cfg,
                                                         set.prep.max_text_bytes, 0);
            claw_archive_settings_clear(&set);
            claw_index_set_phrase_check(ix, claw_phrase_check, phrase_ctx.checker);
        }
    }
    free(err);
    g_free(path);
    return ix;
}

static void
close_index(claw_index_t *ix)
{
    claw_index_close(ix);
    claw_phrase_checker_free(phrase_ctx.checker);
    claw_engine_destroy(phrase_ctx.engine);
    claw_archive_close(phrase_ctx.ar);
    memset(&phrase_ctx, 0, sizeof phrase_ctx);
}

static void
warn_if_behind(const char *prog, claw_archive_t *ar, claw_index_t *ix)
{
    claw_archive_stats_t s;
    uint64_t seq = 0;
    if (claw_archive_stats(ar, &s) == 0 && claw_index_last_seq(ix, &seq) == 0 &&
        seq < s.last_seq)
        fprintf(stderr,
                "%s: note: the index is %" PRIu64 " changes behind the store (clawd indexes "
                "them; or run claw reindex --catch-up)\n",
                prog, s.last_seq - seq);
}

static char *
join_args(int argc, char **argv)
{
    GString *q = g_string_new(NULL);
    for (int i = 0; i < argc; i++) {
        if (i)
            g_string_append_c(q, ' ');
        g_string_append(q, argv[i]);
    }
    return g_string_free(q, FALSE);
}

int
claw_cmd_search(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},     {"limit", required_argument, NULL, 'l'},
        {"offset", required_argument, NULL, 'o'}, {"sort", required_argument, NULL, 's'},
        {"count", no_argument, NULL, 'C'},    {"explain", no_argument, NULL, 'e'},
        {"ids", no_argument, NULL, 'i'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, count = false, explain = false, ids = false;
    long limit = 50, offset = 0;
    claw_sort_t sort = CLAW_SORT_DATE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jl:o:s:Ceih", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'j': json = true; break;
        case 'C': count = true; break;
        case 'e': explain = true; break;
        case 'i': ids = true; break;
        case 'l':
        case 'o': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 100000000) {
                fprintf(stderr, "%s search: --%s wants a number, got '%s'\n", prog,
                        c == 'l' ? "limit" : "offset", optarg);
                return EX_USAGE;
            }
            *(c == 'l' ? &limit : &offset) = v;
            break;
        }
        case 's':
            if (strcmp(optarg, "date") == 0)
                sort = CLAW_SORT_DATE;
            else if (strcmp(optarg, "relevance") == 0)
                sort = CLAW_SORT_RELEVANCE;
            else {
                fprintf(stderr, "%s search: --sort is date or relevance\n", prog);
                return EX_USAGE;
            }
            break;
        case 'h':
            printf("Usage: %s search [--json] [--limit N] [--offset N] [--sort date|relevance]\n"
                   "                 [--count] [--ids] [--explain] QUERY...\n"
                   "See claw(1), QUERY LANGUAGE.\n",
                   prog);
            return 0;
        default: return EX_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "%s search: give a query (see claw(1), QUERY LANGUAGE)\n", prog);
        return EX_USAGE;
    }
    char *query = join_args(argc - optind, argv + optind);
    if (explain) {
        char *desc = NULL, *err = NULL;
        claw_status_t st = claw_index_describe(query, &desc, &err);
        if (st)
            fprintf(stderr, "%s search: %s\n", prog, err ? err : claw_status_to_string(st));
        else
            printf("%s\n", desc);
        free(desc);
        free(err);
        g_free(query);
        return st ? EX_DATAERR : 0;
    }
    int rc = 0;
    char *dir = archive_dir(cfg, archive);
    claw_index_t *ix = open_index(prog, cfg, dir, &rc);
    if (!ix) {
        g_free(query);
        g_free(dir);
        return rc;
    }
    warn_if_behind(prog, phrase_ctx.ar, ix);
    claw_hits_t *hits = NULL;
    char *err = NULL;
    claw_status_t st =
        claw_index_search(ix, query, sort, (size_t)offset, count ? 0 : (size_t)limit, &hits, &err);
    if (st) {
        fprintf(stderr, "%s search: %s\n", prog, err ? err : claw_status_to_string(st));
        free(err);
        close_index(ix);
        g_free(query);
        g_free(dir);
        return st == CLAW_STATUS_INVALID_ARGUMENT ? EX_DATAERR : EX_IOERR;
    }
    if (count) {
        printf("%" PRIu64 "\n", hits->estimated);
    } else if (!json && !ids && hits->n) {
        printf("%-16s  %-10s  %-32s  %-44s  %s\n", "DATE", "ACTION", "FROM", "SUBJECT", "ID");
    }
    for (size_t i = 0; !count && i < hits->n; i++) {
        /* What a hit shows is read from the store, the index holds none
         * of it. */
        claw_record_t *r = NULL;
        if (claw_archive_get_summary(phrase_ctx.ar, hits->hits[i].docid, &r)) {
            fprintf(stderr, "%s search: %s\n", prog, claw_archive_error(phrase_ctx.ar));
            rc = EX_IOERR;
            continue;
        }
        int64_t date = r->date ? r->date : r->arrival_ms / 1000;
        if (ids) {
            printf("%s\n", r->id);
        } else if (json) {
            GString *o = g_string_new("{\"id\":");
            json_str(o, r->id);
            char d[32], a[32];
            fmt_time(d, sizeof d, date, true);
            fmt_time(a, sizeof a, r->arrival_ms / 1000, true);
            g_string_append_printf(o, ",\"docid\":%" PRIu64 ",\"date\":\"%s\",\"arrival\":\"%s\","
                                      "\"from\":",
                                   hits->hits[i].docid, d, a);
            json_str(o, r->from);
            g_string_append(o, ",\"subject\":");
            json_str(o, r->subject);
            g_string_append(o, ",\"action\":");
            json_str(o, r->action);
            g_string_append_printf(o, ",\"score\":%g,\"size\":%" PRIu64, r->score, r->size);
            if (sort == CLAW_SORT_RELEVANCE)
                g_string_append_printf(o, ",\"relevance\":%.0f", hits->hits[i].relevance);
            g_string_append(o, "}");
            printf("%s\n", o->str);
            g_string_free(o, TRUE);
        } else {
            char d[32];
            fmt_time(d, sizeof d, date, false);
            char *from = safe_text(r->from, 32), *subj = safe_text(r->subject, 44);
            /* Pad by characters, not bytes. */
            printf("%-16s  %-10s  %s%*s  %s%*s  %s\n", d, r->action, from,
                   (int)(32 - g_utf8_strlen(from, -1)), "", subj,
                   (int)(44 - g_utf8_strlen(subj, -1)), "", r->id);
            g_free(from);
            g_free(subj);
        }
        claw_record_free(r);
    }
    bool none = hits->estimated == 0;
    if (!json && !ids && !count && hits->n && hits->estimated > (uint64_t)offset + hits->n)
        fprintf(stderr, "(%zu of about %" PRIu64 " shown; --limit, --offset for more)\n", hits->n,
                hits->estimated);
    claw_hits_free(hits);
    close_index(ix);
    g_free(query);
    g_free(dir);
    if (fflush(stdout) != 0)
        return EX_IOERR;
    return rc ? rc : none ? EXIT_NONE : 0;
}

/* ------------------------------------------------------------------------
 * show
 * --------------------------------------------------------------------- */

/* ID: a Clawback id, a message's SHA-256, or a docid ("#12" or "12"). */
static claw_status_t
resolve(claw_archive_t *ar, const char *id, uint64_t *docids, size_t max, size_t *n)
{
    *n = 0;
    const char *p = id[0] == '#' ? id + 1 : id;
    bool digits = *p && strspn(p, "0123456789") == strlen(p) && strlen(p) < 20;
    if (digits) {
        docids[0] = g_ascii_strtoull(p, NULL, 10);
        *n = 1;
        return CLAW_STATUS_SUCCESS;
    }
    if (strlen(id) == 64 && strspn(id, "0123456789abcdefABCDEF") == 64) {
        char *low = g_ascii_strdown(id, -1);
        claw_status_t st = claw_archive_find_sha(ar, low, &docids[0]);
        g_free(low);
        if (!st)
            *n = 1;
        return st;
    }
    char *up = g_ascii_strup(id, -1);
    claw_status_t st = claw_archive_find_id(ar, up, docids, max, n);
    g_free(up);
    return st ? st : *n ? CLAW_STATUS_SUCCESS : CLAW_STATUS_NOT_FOUND;
}

static void
record_json(GString *o, const claw_record_t *r)
{
    char d[32], a[32];
    fmt_time(d, sizeof d, r->date, true);
    fmt_time(a, sizeof a, r->arrival_ms / 1000, true);
    g_string_append_printf(o, "{\"docid\":%" PRIu64 ",\"id\":\"%s\",\"sha256\":\"%s\",", r->docid,
                           r->id, r->sha256);
    g_string_append_printf(o, "\"date\":\"%s\",\"arrival\":\"%s\",\"size\":%" PRIu64 ",", d, a,
                           r->size);
    g_string_append(o, "\"message_id\":");
    json_str(o, r->message_id);
    g_string_append(o, ",\"from\":");
    json_str(o, r->from);
    g_string_append(o, ",\"from_name\":");
    json_str(o, r->from_name);
    g_string_append(o, ",\"subject\":");
    json_str(o, r->subject);
    g_string_append(o, ",\"action\":");
    json_str(o, r->action);
    g_string_append_printf(o, ",\"score\":%g,\"rules\":[", r->score);
    if (*r->rules) {
        gchar **rules = g_strsplit(r->rules, ",", -1);
        for (gchar **p = rules; *p; p++) {
            if (p != rules)
                g_string_append_c(o, ',');
            json_str(o, *p);
        }
        g_strfreev(rules);
    }
    g_string_append(o, "],\"verdict_source\":");
    json_str(o, r->verdict_source);
    g_string_append(o, ",\"deliveries\":[");
    for (size_t i = 0; i < r->n_deliveries; i++) {
        const claw_delivery_t *dl = &r->deliveries[i];
        char t[32];
        fmt_time(t, sizeof t, dl->time_ms / 1000, true);
        g_string_append_printf(o, "%s{\"time\":\"%s\",\"source\":", i ? "," : "", t);
        json_str(o, dl->source);
        g_string_append(o, ",\"mail_from\":");
        json_str(o, dl->mail_from);
        g_string_append(o, ",\"rcpt\":[");
        for (size_t j = 0; j < dl->n_rcpt; j++) {
            if (j)
                g_string_append_c(o, ',');
            json_str(o, dl->rcpt[j]);
        }
        g_string_append(o, "],\"client_ip\":");
        json_str(o, dl->client_ip);
        g_string_append(o, ",\"helo\":");
        json_str(o, dl->helo);
        g_string_append(o, "}");
    }
    g_string_append(o, "]}");
}

static void
record_text(const claw_record_t *r)
{
    char d[32], a[32];
    fmt_time(d, sizeof d, r->date, true);
    fmt_time(a, sizeof a, r->arrival_ms / 1000, true);
    char *from = safe_text(r->from, 200), *name = safe_text(r->from_name, 200),
         *subj = safe_text(r->subject, 400), *mid = safe_text(r->message_id, 400);
    printf("Id:         %s\nDocid:      %" PRIu64 "\nSHA-256:    %s\nArrived:    %s\n", r->id,
           r->docid, r->sha256, a);
    printf("Date:       %s\nFrom:       %s%s%s%s\nSubject:    %s\nMessage-ID: %s\n", d,
           *name ? name : "", *name ? " <" : "", from, *name ? ">" : "", subj, mid);
    printf("Size:       %" PRIu64 " bytes\nVerdict:    %s score=%g rules=%s (%s)\n", r->size,
           r->action, r->score, r->rules, r->verdict_source);
    for (size_t i = 0; i < r->n_deliveries; i++) {
        const claw_delivery_t *dl = &r->deliveries[i];
        char t[32];
        fmt_time(t, sizeof t, dl->time_ms / 1000, true);
        char *mf = safe_text(dl->mail_from, 200), *ip = safe_text(dl->client_ip, 64),
             *helo = safe_text(dl->helo, 200);
        printf("Delivery %zu: %s via %s from <%s> ip=%s helo=%s\n", i + 1, t,
               dl->source ? dl->source : "?", mf, *ip ? ip : "-", *helo ? helo : "-");
        for (size_t j = 0; j < dl->n_rcpt; j++) {
            char *rc = safe_text(dl->rcpt[j], 200);
            printf("  to <%s>\n", rc);
            g_free(rc);
        }
        g_free(mf);
        g_free(ip);
        g_free(helo);
    }
    g_free(from);
    g_free(name);
    g_free(subj);
    g_free(mid);
}

int
claw_cmd_show(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"raw", no_argument, NULL, 'r'},  {"headers", no_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int mode = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "rHjh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
        case 'H':
        case 'j': mode = c; break;
        case 'h':
            printf("Usage: %s show [--raw|--headers|--json] ID...\n"
                   "ID: an X-Clawback-Id, a message's SHA-256, or #DOCID.\n",
                   prog);
            return 0;
        default: return EX_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "%s show: give an ID (X-Clawback-Id, SHA-256 or #docid)\n", prog);
        return EX_USAGE;
    }
    int rc = 0;
    char *dir = archive_dir(cfg, archive);
    claw_archive_t *ar = open_archive(prog, dir, false, cfg, &rc);
    g_free(dir);
    if (!ar)
        return rc;
    for (int i = optind; i < argc; i++) {
        uint64_t docids[16];
        size_t n = 0;
        claw_status_t st = resolve(ar, argv[i], docids, 16, &n);
        if (st || !n) {
            fprintf(stderr, "%s show: %s: not in the archive\n", prog, argv[i]);
            rc = EX_NOINPUT;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            if (mode == 'r' || mode == 'H') {
                char *raw;
                size_t len;
                st = claw_archive_raw(ar, docids[k], &raw, &len);
                if (st) {
                    fprintf(stderr, "%s show: %s\n", prog, claw_archive_error(ar));
                    rc = st == CLAW_STATUS_NOT_FOUND ? EX_NOINPUT : EX_IOERR;
                    continue;
                }
                size_t out = len;
                if (mode == 'H') {
                    for (size_t j = 0; j + 1 < len; j++)
                        if (raw[j] == '\n' &&
                            (raw[j + 1] == '\n' || (raw[j + 1] == '\r' && j + 2 < len &&
                                                    raw[j + 2] == '\n'))) {
                            out = j + 1;
                            break;
                        }
                }
                fwrite(raw, 1, out, stdout);
                free(raw);
                continue;
            }
            claw_record_t *r;
            st = claw_archive_get(ar, docids[k], &r);
            if (st) {
                fprintf(stderr, "%s show: %s\n", prog, claw_archive_error(ar));
                rc = st == CLAW_STATUS_NOT_FOUND ? EX_NOINPUT : EX_IOERR;
                continue;
            }
            if (mode == 'j') {
                GString *o = g_string_new(NULL);
                record_json(o, r);
                printf("%s\n", o->str);
                g_string_free(o, TRUE);
            } else {
                if (k || i > optind)
                    printf("\n");
                record_text(r);
            }
            claw_record_free(r);
        }
    }
    claw_archive_close(ar);
    if (fflush(stdout) != 0)
        return EX_IOERR;
    return rc;
}

/* ------------------------------------------------------------------------
 * export
 * --------------------------------------------------------------------- */

/* A file name from a subject: letters, digits, '-', '_', '.', at most 60. */
static void
slug(GString *o, const char *s)
{
    size_t n = 0;
    bool dash = false;
    for (const char *p = s ? s : ""; *p && n < 60; p++) {
        if (g_ascii_isalnum(*p)) {
            if (dash && n)
                g_string_append_c(o, '-'), n++;
            g_string_append_c(o, *p);
            n++;
            dash = false;
        } else {
            dash = true;
        }
    }
}

static bool
write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* One message in mboxrd form: a postmark, ">"-quoted "From " lines, a blank
 * line after. */
static bool
write_mbox(FILE *f, const claw_record_t *r, const char *raw, size_t len)
{
    const char *sender = r->n_deliveries && r->deliveries[0].mail_from &&
                                 *r->deliveries[0].mail_from
                             ? r->deliveries[0].mail_from
                             : "MAILER-DAEMON";
    char date[64];
    time_t t = (time_t)(r->arrival_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
    /* The sender may not hold spaces or line ends. */
    fputs("From ", f);
    for (const char *p = sender; *p; p++)
        fputc(*p > ' ' && *p < 0x7f ? *p : '_', f);
    fprintf(f, " %s\n", date);
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(raw + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - raw) + 1 : len;
        size_t j = i;
        while (j < e && raw[j] == '>')
            j++;
        if (e - j >= 5 && memcmp(raw + j, "From ", 5) == 0)
            fputc('>', f);
        fwrite(raw + i, 1, e - i, f);
        i = e;
    }
    if (len && raw[len - 1] != '\n')
        fputc('\n', f);
    fputc('\n', f);
    return !ferror(f);
}

int
claw_cmd_export(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"mbox", required_argument, NULL, 'm'},
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *mbox = NULL, *outdir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': mbox = optarg; break;
        case 'd': outdir = optarg; break;
        case 'h':
            printf("Usage: %s export (--mbox FILE | --dir DIR) QUERY...\n", prog);
            return 0;
        default: return EX_USAGE;
        }
    }
    if ((!mbox) == (!outdir) || optind >= argc) {
        fprintf(stderr, "%s export: give --mbox FILE or --dir DIR, and a query\n", prog);
        return EX_USAGE;
    }
    int rc = 0;
    char *dir = archive_dir(cfg, archive);
    claw_index_t *ix = open_index(prog, cfg, dir, &rc);
    claw_archive_t *ar = phrase_ctx.ar;
    g_free(dir);
    if (!ix)
        return rc;
    char *query = join_args(argc - optind, argv + optind);
    FILE *f = NULL;
    if (mbox) {
        f = strcmp(mbox, "-") == 0 ? stdout : fopen(mbox, "w");
        if (!f) {
            fprintf(stderr, "%s export: %s: %s\n", prog, mbox, strerror(errno));
            rc = EX_CANTCREAT;
            goto out;
        }
    } else if (g_mkdir_with_parents(outdir, 0750) != 0) {
        fprintf(stderr, "%s export: %s: %s\n", prog, outdir, strerror(errno));
        rc = EX_CANTCREAT;
        goto out;
    }
    size_t exported = 0;
    for (size_t offset = 0;; offset += 1000) {
        claw_hits_t *hits = NULL;
        char *err = NULL;
        claw_status_t st = claw_index_search(ix, query, CLAW_SORT_DATE, offset, 1000, &hits, &err);
        if (st) {
            fprintf(stderr, "%s export: %s\n", prog, err ? err : claw_status_to_string(st));
            free(err);
            rc = st == CLAW_STATUS_INVALID_ARGUMENT ? EX_DATAERR : EX_IOERR;
            break;
        }
        for (size_t i = 0; i < hits->n && !rc; i++) {
            claw_record_t *r = NULL;
            char *raw = NULL;
            size_t len = 0;
            if (claw_archive_get(ar, hits->hits[i].docid, &r) ||
                claw_archive_raw(ar, hits->hits[i].docid, &raw, &len)) {
                fprintf(stderr, "%s export: %s\n", prog, claw_archive_error(ar));
                rc = EX_IOERR;
            } else if (f) {
                if (!write_mbox(f, r, raw, len)) {
                    fprintf(stderr, "%s export: %s: %s\n", prog, mbox, strerror(errno));
                    rc = EX_IOERR;
                }
            } else {
                GString *name = g_string_new(r->id);
                g_string_append_c(name, '-');
                slug(name, r->subject);
                g_string_append(name, ".eml");
                char *path = g_build_filename(outdir, name->str, NULL);
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
                if (fd < 0 || !write_all(fd, raw, len) || close(fd) != 0) {
                    fprintf(stderr, "%s export: %s: %s\n", prog, path, strerror(errno));
                    rc = EX_IOERR;
                }
                g_free(path);
                g_string_free(name, TRUE);
            }
            if (!rc)
                exported++;
            free(raw);
            claw_record_free(r);
        }
        size_t n = hits->n;
        claw_hits_free(hits);
        if (n < 1000 || rc)
            break;
    }
    if (f && f != stdout && fclose(f) != 0 && !rc) {
        fprintf(stderr, "%s export: %s: %s\n", prog, mbox, strerror(errno));
        rc = EX_IOERR;
    }
    if (f == stdout)
        fflush(stdout);
    fprintf(stderr, "%s export: %zu messages\n", prog, exported);
out:
    g_free(query);
    close_index(ix);
    return rc;
}

/* ------------------------------------------------------------------------
 * stats, check, reindex
 * --------------------------------------------------------------------- */

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
    bool json = argc > 1 && (strcmp(argv[1], "--json") == 0 || strcmp(argv[1], "-j") == 0);
    int rc = 0;
    char *dir = archive_dir(cfg, archive);
    claw_archive_t *ar = open_archive(prog, dir, false, cfg, &rc);
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
        printf("{\"archive\":\"%s\",\"messages\":%" PRIu64 ",\"deliveries\":%" PRIu64
               ",\"raw_bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64 ",\"store_file_bytes\":%" PRIu64
               ",\"map_size\":%" PRIu64 ",\"dictionary\":%" PRIu32 ",\"record_dictionary\":%" PRIu32
               ",\"last_seq\":%" PRIu64 ",\"index_documents\":%" PRIu64
               ",\"index_seq\":%" PRIu64 ",\"index_bytes\":%" PRIu64
               ",\"index_compacted_documents\":%" PRIu64 ",\"actions\":{\"accept\":%" PRIu64 ",\"tag\":%" PRIu64 ",\"quarantine\":%" PRIu64
               ",\"reject\":%" PRIu64 "}}\n",
               dir, s.messages, s.deliveries, s.raw_bytes, s.stored_bytes, s.file_bytes,
               s.map_size, dict, s.record_dictionary, s.last_seq, idx_docs, idx_seq, idx_bytes, idx_compacted, s.by_action[0],
               s.by_action[1], s.by_action[2], s.by_action[3]);
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
    return 0;
}

typedef struct {
    uint64_t problems;
    GHashTable *store_docs;
    bool quiet;
} check_t;

static void
report(void *ctx, const char *problem)
{
    check_t *c = ctx;
    c->problems++;
    printf("problem: %s\n", problem);
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
    if (!g_hash_table_remove(c->store_docs, &k)) {
        char m[128];
        snprintf(m, sizeof m, "index has document %" PRIu64 ", which the store does not", docid);
        report(c, m);
    }
    return true;
}

int
claw_cmd_check(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool deep = argc > 1 && strcmp(argv[1], "--deep") == 0;
    int rc = 0;
    char *dir = archive_dir(cfg, archive);
    claw_archive_t *ar = open_archive(prog, dir, false, cfg, &rc);
    if (!ar) {
        g_free(dir);
        return rc;
    }
    check_t c = {0, g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL), false};
    uint64_t n = 0;
    claw_archive_verify(ar, deep, report, &c, &n);
    claw_archive_stats_t s;
    claw_archive_stats(ar, &s);
    claw_archive_each(ar, collect_store, &c);
    claw_archive_close(ar);
    printf("store: %" PRIu64 " messages, %" PRIu64 " deliveries, log at %" PRIu64 "\n", s.messages,
           s.deliveries, s.last_seq);

    char *ipath = g_build_filename(dir, "index", NULL);
    claw_index_t *ix = NULL;
    char *err = NULL;
    claw_status_t st = claw_index_open(ipath, 0, &ix, &err);
    if (st) {
        char m[600];
        snprintf(m, sizeof m, "no usable index: %s", err ? err : claw_status_to_string(st));
        if (s.messages || st != CLAW_STATUS_NOT_FOUND)
            report(&c, m);
        free(err);
    } else {
        uint64_t seq = 0, docs = 0, last = 0;
        claw_index_last_seq(ix, &seq);
        claw_index_count(ix, &docs, &last);
        printf("index: %" PRIu64 " documents, at %" PRIu64 "\n", docs, seq);
        if (seq > s.last_seq) {
            report(&c, "the index claims more of the log than the store holds");
        } else if (seq < s.last_seq) {
            /* Behind is normal while clawd catches up, and not a fault. */
            printf("index: %" PRIu64 " changes behind the store (clawd or 'claw reindex "
                   "--catch-up' indexes them)\n",
                   s.last_seq - seq);
        }
        claw_index_each(ix, check_index_doc, &c);
        if (seq == s.last_seq && g_hash_table_size(c.store_docs)) {
            char m[128];
            snprintf(m, sizeof m, "%u stored messages are missing from the index",
                     g_hash_table_size(c.store_docs));
            report(&c, m);
        }
#ifdef XAPIAN_CHECK
        /* Each shard, and its amendments (the changed messages) if any. */
        for (unsigned k = 0; access(XAPIAN_CHECK, X_OK) == 0 && k < 2 * claw_index_n_shards(ix);
             k++) {
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
            if (g_spawn_sync(NULL, args, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                             &status, NULL) &&
                g_spawn_check_wait_status(status, NULL)) {
                printf("xapian-check %s: clean\n", shard);
            } else {
                char m[600];
                snprintf(m, sizeof m, "xapian-check %s found errors", shard);
                report(&c, m);
                if (out)
                    fputs(out, stdout);
            }
            g_free(out);
            g_free(shard);
        }
#endif
        claw_index_close(ix);
    }
    g_free(ipath);
    g_free(dir);
    g_hash_table_destroy(c.store_docs);
    printf("%s\n", c.problems ? "PROBLEMS FOUND" : "clean");
    return c.problems ? EXIT_PROBLEMS : 0;
}

int
claw_cmd_reindex(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool catch_up = argc > 1 && strcmp(argv[1], "--catch-up") == 0;
    int rc = 0;
    char *dir = archive_dir(cfg, archive);
    claw_archive_t *ar = open_archive(prog, dir, true, cfg, &rc);
    if (!ar) {
        g_free(dir);
        return rc;
    }
    char *err = NULL;
    claw_status_t st;
    claw_archive_stats_t s;
    claw_archive_stats(ar, &s);
    if (catch_up) {
        claw_indexer_t *x = NULL;
        st = claw_indexer_start(ar, cfg, NULL, false, &x, &err);
        if (!st)
            st = claw_indexer_wait(x, s.last_seq);
        claw_indexer_stop(x);
        if (st)
            fprintf(stderr, "%s reindex: %s\n", prog, err ? err : claw_status_to_string(st));
        else
            printf("index caught up to %" PRIu64 "\n", s.last_seq);
        free(err);
        claw_archive_close(ar);
        g_free(dir);
        return st ? EX_IOERR : 0;
    }
    /* Hold the live index's locks while the new one is built beside it,
     * by the indexer's threads replaying the whole log from the store. */
    char *ipath = g_build_filename(dir, "index", NULL);
    char *npath = g_build_filename(dir, "index.new", NULL);
    char *opath = g_build_filename(dir, "index.old", NULL);
    GPtrArray *live = g_ptr_array_new_with_free_func((GDestroyNotify)claw_index_close);
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
            st = claw_index_open_shard(ipath, CLAW_INDEX_WRITE, i, n, &one, &err);
            if (st) {
                fprintf(stderr, "%s reindex: %s\n", prog, err ? err : claw_status_to_string(st));
                rc = EX_TEMPFAIL;
                goto out;
            }
            g_ptr_array_add(live, one);
        }
    }
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
        printf("reindexed %" PRIu64 " messages in %.1f s\n", s.messages,
               (double)(g_get_monotonic_time() - start) / 1e6);
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
    return rc;
}
