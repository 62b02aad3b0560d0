/* cmd-ioc.c - claw ioc: the archive's indicators, by hand and from files.
 *
 *   claw ioc add [--type T] VALUE...   add or update (TYPE:VALUE, or guessed)
 *   claw ioc list [--active] [--json]
 *   claw ioc show ID [--json]
 *   claw ioc revoke ID|VALUE...
 *   claw ioc import [--format F] FILE|DIR|URL...
 *                                      plain lists, CSV, MISP, STIX 2.1,
 *                                      a MISP feed, a TAXII 2.1 collection:
 *                                      all or nothing (indexer/feeds/)
 *
 * Every change is committed to the store (claw-ioc.h), then the active set
 * is published for the MTA ([ioc] published), which reads it again within
 * a second.
 */
#include "build-config.h"

#include "claw-config.h"
#include "claw-feed.h"
#include "claw-ioc.h"
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

/* What an add or an import gives every indicator it makes. */
typedef struct {
    const char *type; /* --type, or NULL: each value says or is guessed */
    const char *action, *reason, *source, *expires, *from, *confidence;
    int64_t valid_from, valid_until;
    int conf;
    char by[64];
} ioc_opts_t;

/* Check and complete the options an add or an import share. */
static bool
ioc_opts_ready(const char *prog, ioc_opts_t *o, int64_t now)
{
    if (o->action && !claw_ioc_action_known(o->action)) {
        fprintf(stderr, "%s: --action %s: expected block, quarantine, tag or hunt\n", prog,
                o->action);
        return false;
    }
    if (o->type && !claw_feed_type_known(o->type, strlen(o->type))) {
        fprintf(stderr, "%s: --type %s: expected one of", prog, o->type);
        for (const char *const *k = claw_ioc_types(); *k; k++)
            fprintf(stderr, " %s", *k);
        fprintf(stderr, "\n");
        return false;
    }
    /* What is not given keeps what an indicator already there has. */
    const char *bad = NULL;
    o->valid_until = o->valid_from = CLAW_IOC_KEEP;
    if (o->expires && !claw_feed_parse_time(o->expires, now, &o->valid_until))
        bad = o->expires;
    if (o->from && !claw_feed_parse_time(o->from, now, &o->valid_from))
        bad = o->from;
    if (bad) {
        fprintf(stderr, "%s: %s: expected a date (2027-01-31, 2027-01-31T12:00:00Z), a span "
                        "(90d, 12h, 30m, 45s, 2w) or never\n",
                prog, bad);
        return false;
    }
    o->conf = CLAW_IOC_KEEP_CONFIDENCE;
    if (o->confidence) {
        char *end;
        long c = strtol(o->confidence, &end, 10);
        if (*end || end == o->confidence || c < 0 || c > 100) {
            fprintf(stderr, "%s: --confidence %s: expected 0 to 100\n", prog, o->confidence);
            return false;
        }
        o->conf = (int)c;
    }
    cli_whoami(o->by, sizeof o->by);
    return true;
}

/* What every indicator of a batch gets from the options. */
static claw_feed_defaults_t
defaults_of(const ioc_opts_t *o)
{
    return (claw_feed_defaults_t){.type = o->type, .action = o->action, .source = o->source,
                                  .reason = o->reason, .added_by = o->by,
                                  .valid_from = o->valid_from, .valid_until = o->valid_until,
                                  .confidence = o->conf};
}

/* Publish the active set for the MTA; a failure is said, and the change
 * stays committed (the next change, or clawd, publishes it). */
static int
publish(const char *prog, claw_archive_t *ar, claw_config_t *cfg, int64_t now)
{
    char *path = claw_ioc_published_path(cfg, claw_archive_dir(ar));
    size_t n = 0;
    claw_status_t st = path ? claw_ioc_publish(ar, path, now, &n, NULL) : CLAW_STATUS_OUT_OF_MEMORY;
    if (st)
        fprintf(stderr, "%s: the change is stored, but the MTA's copy was not written: %s\n", prog,
                claw_archive_error(ar));
    free(path);
    return st ? EX_IOERR : 0;
}

/* Store batch @b and publish; prints what changed and what was passed
 * over. */
static int
store_batch(const char *prog, claw_archive_t *ar, claw_config_t *cfg, claw_feed_batch_t *b,
            int64_t now, bool json)
{
    GPtrArray *iocs = b->iocs;
    claw_ioc_put_counts_t counts = {0, 0, 0, 0};
    claw_status_t st = claw_ioc_put(ar, (claw_ioc_t *const *)iocs->pdata, iocs->len, now, &counts);
    if (st) {
        fprintf(stderr, "%s: nothing added: %s\n", prog, claw_archive_error(ar));
        return EX_IOERR;
    }
    GHashTableIter it;
    gpointer why, n;
    if (json) {
        printf("{\"added\":%zu,\"updated\":%zu,\"unchanged\":%zu,\"revoked\":%zu,"
               "\"skipped\":%zu,\"ids\":[",
               counts.added, counts.updated, counts.unchanged, counts.revoked, b->n_skipped);
        bool first = true;
        GHashTable *said = g_hash_table_new(g_int64_hash, g_int64_equal);
        for (guint i = 0; i < iocs->len; i++) {
            claw_ioc_t *c = iocs->pdata[i];
            /* Each in force once: not one revoked, by this batch or before. */
            if (c->revoked || !c->id || g_hash_table_contains(said, &c->id))
                continue;
            claw_ioc_t *now_there = NULL;
            bool active = claw_ioc_get(ar, c->id, &now_there) == CLAW_STATUS_SUCCESS &&
                          !now_there->revoked;
            claw_ioc_free(now_there);
            if (!active)
                continue;
            g_hash_table_add(said, &c->id);
            printf("%s%" PRIu64, first ? "" : ",", c->id);
            first = false;
        }
        g_hash_table_destroy(said);
        GString *o = g_string_new("],\"skipped_by_reason\":{");
        g_hash_table_iter_init(&it, b->skipped);
        for (first = true; g_hash_table_iter_next(&it, &why, &n); first = false) {
            g_string_append(o, first ? "" : ",");
            cli_json_str(o, why);
            g_string_append_printf(o, ":%u", GPOINTER_TO_UINT(n));
        }
        printf("%s}}\n", o->str);
        g_string_free(o, TRUE);
    } else {
        guint shown = 0;
        for (guint i = 0; i < iocs->len && shown < 50; i++) {
            const claw_ioc_t *c = iocs->pdata[i];
            char *v = cli_safe_text(c->value, 200);
            if (c->revoked && c->id)
                printf("%" PRIu64 "\t%s\t%s\trevoked\n", c->id, c->type, v);
            else if (!c->revoked)
                printf("%" PRIu64 "\t%s\t%s\n", c->id, c->type, v);
            shown += !c->revoked || c->id;
            g_free(v);
        }
        if (iocs->len > shown)
            printf("... and more\n");
        g_hash_table_iter_init(&it, b->skipped);
        while (g_hash_table_iter_next(&it, &why, &n)) {
            char *w = cli_safe_text(why, 200);
            printf("skipped %u: %s\n", GPOINTER_TO_UINT(n), w);
            g_free(w);
        }
        printf("%zu added, %zu updated, %zu unchanged, %zu revoked, %zu skipped\n",
               counts.added, counts.updated, counts.unchanged, counts.revoked, b->n_skipped);
    }
    return publish(prog, ar, cfg, now);
}

#define IOC_OPTIONS(o)                                                                             \
    {"type", 't', NULL, &(o).type}, {"action", 'a', NULL, &(o).action},                         \
        {"reason", 'r', NULL, &(o).reason}, {"expires", 'e', NULL, &(o).expires},               \
        {"from", 0, NULL, &(o).from}, {"confidence", 0, NULL, &(o).confidence},                 \
        {"source", 0, NULL, &(o).source}

static const char add_usage[] =
    "ioc add [--type T] [--action A] [--reason TEXT] [--expires WHEN] [--from WHEN]\n"
    "        [--confidence N] [--source NAME] [--json] VALUE...\n"
    "Add indicators to the archive (or update the ones already there), then publish the\n"
    "active set for the MTA. VALUE is TYPE:VALUE, or a bare value of --type, or guessed\n"
    "(an IP or range, a SHA-256, a URL, <message-id>, an address, else a domain).\n"
    "Types: url host domain sender sha256 ip message-id. Actions: block (the default),\n"
    "quarantine, tag, hunt. WHEN: 2027-01-31, 2027-01-31T12:00:00Z, 90d, 12h, never.\n";

static int
ioc_add(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    ioc_opts_t o = {.source = "cli"};
    bool json = false;
    const cli_option_t options[] = {IOC_OPTIONS(o), {"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog, add_usage, options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    if (optind >= argc) {
        fprintf(stderr, "%s: ioc add: no VALUE (try --help)\n", prog);
        return EX_USAGE;
    }
    if (!ioc_opts_ready(prog, &o, now))
        return EX_USAGE;
    claw_feed_defaults_t d = defaults_of(&o);
    claw_feed_batch_t b;
    claw_feed_batch_init(&b, &d);
    rc = 0;
    for (int i = optind; i < argc; i++) {
        const char *why = NULL;
        if (!claw_feed_add(&b, NULL, argv[i], &why)) {
            char *v = cli_safe_text(argv[i], 200);
            fprintf(stderr, "%s: '%s': %s\n", prog, v, why);
            g_free(v);
            rc = EX_DATAERR;
        }
    }
    claw_archive_t *ar = rc ? NULL : cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (ar) {
        rc = store_batch(prog, ar, cfg, &b, now, json);
        claw_archive_close(ar);
    } else if (rc == EX_DATAERR) {
        fprintf(stderr, "%s: nothing added\n", prog);
    }
    claw_feed_batch_clear(&b);
    return rc;
}

static const char *
state_of(const claw_ioc_t *c, int64_t now)
{
    if (c->revoked)
        return "revoked";
    if (c->valid_until && now >= c->valid_until)
        return "expired";
    if (c->valid_from && now < c->valid_from)
        return "pending";
    return "active";
}

static void
json_time(GString *o, const char *name, int64_t t)
{
    char buf[40];
    g_string_append_printf(o, ",\"%s\":", name);
    if (!t) {
        g_string_append(o, "null");
        return;
    }
    cli_fmt_time(buf, sizeof buf, t, true);
    cli_json_str(o, buf);
}

static void
json_field(GString *o, const char *name, const char *v)
{
    g_string_append_printf(o, ",\"%s\":", name);
    if (v)
        cli_json_str(o, v);
    else
        g_string_append(o, "null");
}

static void
ioc_json(GString *o, const claw_ioc_t *c, int64_t now)
{
    g_string_append_printf(o, "{\"id\":%" PRIu64, c->id);
    json_field(o, "type", c->type);
    json_field(o, "value", c->value);
    json_field(o, "given", c->given);
    json_field(o, "action", c->action);
    json_field(o, "state", state_of(c, now));
    json_field(o, "source", c->source);
    json_field(o, "reason", c->reason);
    json_field(o, "added_by", c->added_by);
    json_time(o, "added", c->added);
    json_time(o, "updated", c->updated);
    json_time(o, "valid_from", c->valid_from);
    json_time(o, "valid_until", c->valid_until);
    json_time(o, "revoked", c->revoked);
    json_field(o, "revoked_by", c->revoked_by);
    if (c->confidence >= 0)
        g_string_append_printf(o, ",\"confidence\":%d}", c->confidence);
    else
        g_string_append(o, ",\"confidence\":null}");
}

typedef struct {
    bool json, active_only;
    int64_t now;
    size_t n;
    GString *out;
} list_run_t;

static bool
list_one(void *ctx, const claw_ioc_t *c)
{
    list_run_t *l = ctx;
    if (l->active_only && !claw_ioc_active(c, l->now))
        return true;
    if (cli_stdout_closed())
        return false;
    if (l->json) {
        g_string_truncate(l->out, 0);
        g_string_append(l->out, l->n ? ",\n" : "[\n");
        ioc_json(l->out, c, l->now);
        fputs(l->out->str, stdout);
    } else {
        char *v = cli_safe_text(c->value, 200);
        printf("%" PRIu64 "\t%s\t%s\t%s\t%s\n", c->id, c->type, c->action, state_of(c, l->now), v);
        g_free(v);
    }
    l->n++;
    return true;
}

static int
ioc_list(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    list_run_t l = {.now = g_get_real_time() / G_USEC_PER_SEC, .out = g_string_new(NULL)};
    const cli_option_t options[] = {
        {"json", 'j', &l.json, NULL}, {"active", 0, &l.active_only, NULL}, {0}};
    int rc = cli_parse(prog,
                       "ioc list [--active] [--json]\nThe archive's indicators, by id: id, type, "
                       "action, state (active, pending, expired, revoked), value.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON) {
        g_string_free(l.out, TRUE);
        return rc;
    }
    rc = 0;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, false, &rc);
    if (ar) {
        if (claw_ioc_each(ar, list_one, &l)) {
            fprintf(stderr, "%s: %s\n", prog, claw_archive_error(ar));
            rc = EX_IOERR;
        } else if (l.json) {
            fputs(l.n ? "\n]\n" : "[]\n", stdout);
        }
        claw_archive_close(ar);
    }
    g_string_free(l.out, TRUE);
    return cli_finish_output(prog, rc);
}

/* The indicator @arg names: an id, or a value (as ioc add reads one). */
static claw_status_t
find_ioc(claw_archive_t *ar, const char *arg, uint64_t *id, const char **why)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    if (g_ascii_isdigit(arg[0]) && !*end && !errno) {
        *id = n;
        return CLAW_STATUS_SUCCESS;
    }
    claw_feed_batch_t b;
    claw_feed_batch_init(&b, NULL);
    claw_ioc_t *c = claw_feed_add(&b, NULL, arg, why);
    claw_status_t st = c ? claw_ioc_find(ar, c->type, c->value, id) : CLAW_STATUS_INVALID_ARGUMENT;
    claw_feed_batch_clear(&b);
    return st;
}

static int
ioc_show(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog, "ioc show [--json] ID|VALUE\nOne indicator, whole.\n", options, true,
                       argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s: ioc show: expected one ID or VALUE (try --help)\n", prog);
        return EX_USAGE;
    }
    rc = 0;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, false, &rc);
    if (!ar)
        return rc;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    uint64_t id = 0;
    const char *why = NULL;
    claw_ioc_t *c = NULL;
    claw_status_t st = find_ioc(ar, argv[optind], &id, &why);
    if (!st)
        st = claw_ioc_get(ar, id, &c);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, why ? why : claw_archive_error(ar));
        rc = st == CLAW_STATUS_NOT_FOUND ? EXIT_NONE : why ? EX_DATAERR : EX_IOERR;
    } else if (json) {
        GString *o = g_string_new(NULL);
        ioc_json(o, c, now);
        printf("%s\n", o->str);
        g_string_free(o, TRUE);
    } else {
        char t[40];
        char *v = cli_safe_text(c->value, 2000);
        printf("Id:          %" PRIu64 "\nType:        %s\nValue:       %s\n", c->id, c->type, v);
        g_free(v);
        if (c->given) {
            v = cli_safe_text(c->given, 2000);
            printf("Given as:    %s\n", v);
            g_free(v);
        }
        printf("Action:      %s\nState:       %s\n", c->action, state_of(c, now));
        printf("Source:      %s\n", c->source ? c->source : "-");
        if (c->reason) {
            v = cli_safe_text(c->reason, 2000);
            printf("Reason:      %s\n", v);
            g_free(v);
        }
        cli_fmt_time(t, sizeof t, c->added, true);
        printf("Added:       %s by %s\n", t, c->added_by ? c->added_by : "-");
        cli_fmt_time(t, sizeof t, c->updated, true);
        printf("Updated:     %s\n", t);
        if (c->valid_from) {
            cli_fmt_time(t, sizeof t, c->valid_from, true);
            printf("Valid from:  %s\n", t);
        }
        if (c->valid_until) {
            cli_fmt_time(t, sizeof t, c->valid_until, true);
            printf("Valid until: %s\n", t);
        }
        if (c->revoked) {
            cli_fmt_time(t, sizeof t, c->revoked, true);
            printf("Revoked:     %s by %s\n", t, c->revoked_by ? c->revoked_by : "-");
        }
        if (c->confidence >= 0)
            printf("Confidence:  %d\n", c->confidence);
    }
    claw_ioc_free(c);
    claw_archive_close(ar);
    return cli_finish_output(prog, rc);
}

static int
ioc_revoke(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    const cli_option_t options[] = {{0}};
    int rc = cli_parse(prog,
                       "ioc revoke ID|VALUE...\nRevoke indicators (they are kept, marked), then "
                       "publish the active set for the MTA.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    if (optind >= argc) {
        fprintf(stderr, "%s: ioc revoke: no ID or VALUE (try --help)\n", prog);
        return EX_USAGE;
    }
    rc = 0;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (!ar)
        return rc;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    char by[64];
    cli_whoami(by, sizeof by);
    size_t done = 0;
    for (int i = optind; i < argc; i++) {
        uint64_t id = 0;
        const char *why = NULL;
        claw_status_t st = find_ioc(ar, argv[i], &id, &why);
        if (!st)
            st = claw_ioc_revoke(ar, id, by, now);
        if (st) {
            char *v = cli_safe_text(argv[i], 200);
            fprintf(stderr, "%s: %s: %s\n", prog, v, why ? why : claw_archive_error(ar));
            g_free(v);
            if (!rc)
                rc = st == CLAW_STATUS_NOT_FOUND ? EXIT_NONE : why ? EX_DATAERR : EX_IOERR;
            continue;
        }
        printf("%" PRIu64 "\trevoked\n", id);
        done++;
    }
    if (done) {
        int prc = publish(prog, ar, cfg, now);
        rc = rc ? rc : prc;
    }
    claw_archive_close(ar);
    return rc;
}

/* The whole of file @path ("-": standard input) in *@data, at most
 * CLAW_FEED_MAX_BYTES; false, having said why, otherwise. */
static bool
read_whole(const char *prog, const char *path, char **data, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, g_strerror(errno));
        if (f && f != stdin)
            fclose(f);
        return false;
    }
    GString *buf = g_string_sized_new(S_ISREG(sb.st_mode) ? (gsize)MIN(sb.st_size, 1 << 20) + 1
                                                          : 65536);
    char chunk[65536];
    size_t got;
    bool ok = true;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf->len + got > CLAW_FEED_MAX_BYTES) {
            fprintf(stderr, "%s: %s: more than an import takes (%zu MB): split it\n", prog, path,
                    CLAW_FEED_MAX_BYTES >> 20);
            ok = false;
            break;
        }
        g_string_append_len(buf, chunk, (gssize)got);
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, g_strerror(errno));
        ok = false;
    }
    if (f != stdin)
        fclose(f);
    *len = buf->len;
    *data = g_string_free(buf, !ok);
    return ok;
}

/* How an import reads its inputs. */
typedef struct {
    const char *format;    /* NULL: guessed */
    const char *columns;   /* CSV: the column mapping */
    bool header;           /* CSV: the first row names the columns */
    const char *after;     /* TAXII: added_after */
    claw_feed_fetch_opts_t fetch;
} import_opts_t;

static bool
is_url(const char *s)
{
    return g_str_has_prefix(s, "https://") || g_str_has_prefix(s, "http://");
}

/* One input, FILE, DIR or URL, into @b; false, having said why. */
static bool
import_one(const char *prog, const char *arg, const import_opts_t *io, claw_feed_batch_t *b)
{
    const char *f = io->format;
    char *error = NULL, *data = NULL;
    size_t len = 0;
    bool ok;
    struct stat sb;
    bool dir = !is_url(arg) && stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (dir && (!f || !strcmp(f, "misp-feed"))) {
        /* A MISP feed mirrored on disk: its manifest says which files. */
        char *manifest = g_build_filename(arg, "manifest.json", NULL);
        bool feed = g_file_test(manifest, G_FILE_TEST_IS_REGULAR);
        g_free(manifest);
        if (!feed) {
            fprintf(stderr, "%s: %s: a directory without manifest.json: not a MISP feed\n",
                    prog, arg);
            return false;
        }
        char *abs = g_canonicalize_filename(arg, NULL);
        char *url = g_filename_to_uri(abs, NULL, NULL);
        claw_feed_fetch_opts_t fo = io->fetch;
        fo.allow_file = true;
        ok = url && claw_feed_pull_misp(b, url, &fo, &error);
        g_free(url);
        g_free(abs);
    } else if (dir) {
        fprintf(stderr, "%s: %s: a directory is read as a MISP feed only (--format misp-feed)\n",
                prog, arg);
        return false;
    } else if (f && !strcmp(f, "misp-feed")) {
        ok = is_url(arg) && claw_feed_pull_misp(b, arg, &io->fetch, &error);
        if (!is_url(arg))
            error = g_strdup_printf("%s: --format misp-feed takes a URL or a directory", arg);
    } else if (f && !strcmp(f, "taxii")) {
        ok = is_url(arg) && claw_feed_pull_taxii(b, arg, io->after, &io->fetch, NULL, &error);
        if (!is_url(arg))
            error = g_strdup_printf("%s: --format taxii takes a collection's URL", arg);
    } else if (is_url(arg)) {
        ok = claw_feed_fetch(arg, &io->fetch, &data, &len, NULL, NULL, &error) &&
             claw_feed_read(b, f, arg, data, len, io->columns, io->header, &error);
    } else {
        ok = read_whole(prog, arg, &data, &len) &&
             claw_feed_read(b, f, arg, data, len, io->columns, io->header, &error);
    }
    if (!ok && error) {
        char *e = cli_safe_text(error, 1000);
        fprintf(stderr, "%s: %s\n", prog, e);
        g_free(e);
    }
    g_free(error);
    g_free(data);
    return ok;
}

static const char import_usage[] =
    "ioc import [--format F] [--columns MAP] [--header] [--added-after WHEN] [--ca FILE]\n"
    "           [--type T] [--action A] [--reason TEXT] [--expires WHEN] [--from WHEN]\n"
    "           [--confidence N] [--source NAME] [--json] FILE|DIR|URL...\n"
    "Import indicators, all or nothing: one input that cannot be read stops the import,\n"
    "naming it and the position of the fault, with nothing added. Formats (--format; else\n"
    "guessed from the data):\n"
    "  plain      a TYPE:VALUE, or a bare value of --type (or guessed, as ioc add does), a\n"
    "             line; '#' starts a comment at a line's start or after a space\n"
    "  csv        with --columns value=N[,type=N][,reason=N][,expires=N][,from=N]\n"
    "             [,confidence=N] (columns from 1, or header names with --header)\n"
    "  misp       a MISP event's JSON (or a list of them): attributes with to_ids; a\n"
    "             deleted one revokes its indicator\n"
    "  stix       a STIX 2.1 bundle: indicator objects with the pattern subset feeds use\n"
    "  misp-feed  a MISP feed: a URL or a directory with manifest.json and event files\n"
    "  taxii      a TAXII 2.1 collection's URL (.../collections/ID/), every page; objects\n"
    "             added after --added-after only, when given\n"
    "What an input passes over (a MISP attribute not for detection, a STIX pattern beyond\n"
    "the subset) is counted by reason. A URL is fetched over HTTPS, verified against the\n"
    "system's CAs or --ca FILE. The source is file:FILE or url:URL unless --source says.\n";

static int
ioc_import(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    ioc_opts_t o = {0};
    import_opts_t io = {0};
    const char *after = NULL;
    bool json = false;
    const cli_option_t options[] = {IOC_OPTIONS(o),
                                    {"format", 'f', NULL, &io.format},
                                    {"columns", 0, NULL, &io.columns},
                                    {"header", 0, &io.header, NULL},
                                    {"added-after", 0, NULL, &after},
                                    {"ca", 0, NULL, &io.fetch.ca_file},
                                    {"json", 'j', &json, NULL},
                                    {0}};
    int rc = cli_parse(prog, import_usage, options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    if (optind >= argc) {
        fprintf(stderr, "%s: ioc import: no FILE, DIR or URL (try --help)\n", prog);
        return EX_USAGE;
    }
    static const char *const formats[] = {"plain", "csv", "misp", "stix", "misp-feed", "taxii"};
    bool known = !io.format;
    for (size_t i = 0; !known && i < G_N_ELEMENTS(formats); i++)
        known = !strcmp(io.format, formats[i]);
    if (!known) {
        fprintf(stderr, "%s: --format %s: expected plain, csv, misp, stix, misp-feed or taxii\n",
                prog, io.format);
        return EX_USAGE;
    }
    if (io.format && !strcmp(io.format, "csv") && !io.columns) {
        fprintf(stderr, "%s: --format csv needs --columns value=N[,type=N]... (try --help)\n",
                prog);
        return EX_USAGE;
    }
    char after_buf[40];
    if (after) {
        int64_t t;
        if (!claw_feed_parse_past(after, now, &t)) {
            fprintf(stderr, "%s: --added-after %s: expected a date or a span back (30d)\n", prog,
                    after);
            return EX_USAGE;
        }
        cli_fmt_time(after_buf, sizeof after_buf, t, true);
        io.after = after_buf;
    }
    if (!ioc_opts_ready(prog, &o, now))
        return EX_USAGE;
    bool given_source = o.source != NULL;
    claw_feed_defaults_t d = defaults_of(&o);
    claw_feed_batch_t b;
    claw_feed_batch_init(&b, &d);
    rc = 0;
    for (int i = optind; i < argc && !rc; i++) {
        if (!given_source) {
            char *src = g_strconcat(is_url(argv[i]) ? "url:" : "file:", argv[i], NULL);
            b.defaults.source = claw_feed_str(&b, src);
            g_free(src);
        }
        if (!import_one(prog, argv[i], &io, &b))
            rc = EX_DATAERR;
    }
    claw_archive_t *ar = NULL;
    if (rc)
        fprintf(stderr, "%s: nothing imported\n", prog);
    else if (b.iocs->len == 0 && !b.n_skipped)
        fprintf(stderr, "%s: no indicators in %s\n", prog,
                argc - optind > 1 ? "the inputs" : argv[optind]);
    else
        ar = cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (ar) {
        rc = store_batch(prog, ar, cfg, &b, now, json);
        claw_archive_close(ar);
    }
    claw_feed_batch_clear(&b);
    return rc;
}

int
claw_cmd_ioc(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    static const struct {
        const char *name;
        claw_cli_cmd_fn *fn;
    } subs[] = {{"add", ioc_add},
                {"list", ioc_list},
                {"show", ioc_show},
                {"revoke", ioc_revoke},
                {"import", ioc_import}};
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h"))) {
        printf("Usage: %s ioc add|list|show|revoke|import ... (each with --help)\n"
               "The archive's indicators: added by hand or from files, hunted in the archive,\n"
               "published for the MTA.\n",
               prog);
        return 0;
    }
    for (size_t i = 0; sub && i < G_N_ELEMENTS(subs); i++)
        if (!strcmp(sub, subs[i].name))
            return subs[i].fn(prog, cfg, archive, argc - 1, argv + 1);
    fprintf(stderr, "%s: ioc: expected add, list, show, revoke or import (try ioc --help)\n",
            prog);
    return EX_USAGE;
}
