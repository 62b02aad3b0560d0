/* cmd-hunt.c - claw hunt, hunt list, hunt show: the hunts of the archive
 * library (indexer/archive/hunt.c says where each type of indicator is
 * looked for), run by hand and printed, and the ones kept.
 */
#include "build-config.h"

#include "claw-feed.h"
#include "claw-ioc.h"
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

/* One indicator to hunt: from the store by id, or a value given. */
typedef struct {
    uint64_t id; /* 0: a value, not (yet) in the store */
    const char *type, *value;
} quarry_t;

static bool
quarry_of(claw_archive_t *ar, const char *arg, GStringChunk *strings, quarry_t *q,
          const char **why)
{
    char *end;
    unsigned long long n = strtoull(arg, &end, 10);
    *q = (quarry_t){0};
    if (g_ascii_isdigit(arg[0]) && !*end) {
        claw_ioc_t *c = NULL;
        if (claw_ioc_get(ar, n, &c) != CLAW_STATUS_SUCCESS) {
            *why = claw_archive_error(ar);
            return false;
        }
        q->id = c->id;
        q->type = g_string_chunk_insert(strings, c->type);
        q->value = g_string_chunk_insert(strings, c->value);
        claw_ioc_free(c);
        return true;
    }
    /* A value, read as `claw ioc add` reads one. */
    claw_feed_batch_t b;
    claw_feed_batch_init(&b, NULL);
    claw_ioc_t *c = claw_feed_add(&b, NULL, arg, why);
    if (c) {
        q->type = g_string_chunk_insert(strings, c->type);
        q->value = g_string_chunk_insert(strings, c->value);
    }
    claw_feed_batch_clear(&b);
    return c != NULL;
}

typedef struct {
    const char *prog;
    claw_archive_t *ar;
    claw_engine_t *engine;
    bool json, count, record;
    long limit;
    char by[64];
} hunt_opts_t;

/* Where an indicator is in a message (lines), indented under it. */
static void
print_where(const char *where)
{
    gchar **lines = g_strsplit(where ? where : "", "\n", -1);
    for (gchar **l = lines; *l; l++) {
        char *safe = cli_safe_text(*l, 300);
        printf("    %s\n", safe);
        g_free(safe);
    }
    g_strfreev(lines);
}

/* Hunt @q (claw_hunt_run) and print it; the number of matches, or -1
 * after an error said. */
static int64_t
hunt_one(hunt_opts_t *o, claw_index_t *ix, const quarry_t *q)
{
    claw_hunt_run_t *run = NULL;
    char *err = NULL;
    bool placed = !o->count || o->record; /* a count alone says no where */
    claw_status_t st = claw_hunt_run(o->ar, ix, placed ? o->engine : NULL, q->id, q->type,
                                     q->value, o->by, o->record, &run, &err);
    if (st) {
        fprintf(stderr, "%s hunt: %s\n", o->prog, err ? err : claw_status_to_string(st));
        free(err);
        return -1;
    }
    const claw_hunt_t *h = &run->hunt;
    int64_t rc = (int64_t)h->matches;
    char *v = cli_safe_text(q->value, 200);
    if (o->json) {
        GString *j = g_string_new("{");
        if (o->record)
            g_string_append_printf(j, "\"hunt\":%" PRIu64 ",", h->id);
        g_string_append(j, "\"indicator\":{\"id\":");
        if (q->id)
            g_string_append_printf(j, "%" PRIu64, q->id);
        else
            g_string_append(j, "null");
        g_string_append(j, ",\"type\":");
        cli_json_str(j, q->type);
        g_string_append(j, ",\"value\":");
        cli_json_str(j, q->value);
        g_string_append_printf(j, "},\"matches\":%" PRIu64 ",\"messages\":[", h->matches);
        for (size_t k = 0; !o->count && k < run->n && (o->limit == 0 || (long)k < o->limit); k++) {
            claw_record_t *r = NULL;
            if (claw_archive_get_summary(o->ar, run->docids[k], &r))
                continue;
            if (k)
                g_string_append_c(j, ',');
            cli_hit_json(j, run->docids[k], r);
            g_string_append(j, ",\"where\":");
            cli_json_split(j, run->wheres[k], "\n");
            g_string_append_c(j, '}');
            claw_record_free(r);
        }
        g_string_append(j, "]}");
        printf("%s\n", j->str);
        g_string_free(j, TRUE);
    } else if (o->count) {
        printf("%" PRIu64 "\t%s:%s\n", h->matches, q->type, v);
    } else {
        printf("# %s:%s: %" PRIu64 " message%s", q->type, v, h->matches,
               h->matches == 1 ? "" : "s");
        if (o->record)
            printf(" (hunt %" PRIu64 ")", h->id);
        printf("\n");
        for (size_t k = 0; k < run->n && (o->limit == 0 || (long)k < o->limit); k++) {
            if (cli_stdout_closed())
                break;
            claw_hit_t hit = {run->docids[k], 0};
            if (!cli_print_hit(o->prog, o->ar, &hit, CLI_HIT_TEXT, false))
                rc = -1;
            print_where(run->wheres[k]);
        }
        if (o->limit && (uint64_t)o->limit < h->matches)
            printf("# (%ld of %" PRIu64 " shown; --limit 0 for all)\n", o->limit, h->matches);
    }
    g_free(v);
    claw_hunt_run_free(run);
    return rc;
}

static const char usage[] =
    "hunt [--json] [--count] [--limit N] [--no-record] ID|VALUE...\n"
    "hunt list [--json] | hunt show [--json] [--limit N] HUNT\n"
    "hunt --rules [--since WHEN] [--query Q] [--resume] (hunt --rules --help)\n"
    "Every archived message, of any age, that holds each indicator: one of the store's\n"
    "(by id) or a value (TYPE:VALUE, or guessed as claw ioc add does), with where in each\n"
    "message it is; kept as a hunt record unless --no-record. Where each type is looked\n"
    "for: claw(1), HUNTING. Exit 1 if none is found.\n";

static int hunt_list(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                     char **argv);
static int hunt_show(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                     char **argv);

int
claw_cmd_hunt(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "list"))
        return hunt_list(prog, cfg, archive, argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "show"))
        return hunt_show(prog, cfg, archive, argc - 1, argv + 1);
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--rules"))
            return claw_cmd_hunt_rules(prog, cfg, archive, argc, argv);
    hunt_opts_t o = {.prog = prog};
    bool no_record = false;
    const char *limit_text = NULL;
    const cli_option_t options[] = {{"json", 'j', &o.json, NULL},
                                    {"count", 'C', &o.count, NULL},
                                    {"limit", 'l', NULL, &limit_text},
                                    {"no-record", 0, &no_record, NULL},
                                    {0}};
    int rc = cli_parse(prog, usage, options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    o.record = !no_record;
    o.limit = 1000;
    if (limit_text) {
        char *end;
        o.limit = strtol(limit_text, &end, 10);
        if (*end || end == limit_text || o.limit < 0) {
            fprintf(stderr, "%s hunt: --limit %s: expected a count (0: all)\n", prog, limit_text);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "%s hunt: give indicators, by id or value (try --help)\n", prog);
        return EX_USAGE;
    }
    rc = 0;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, o.record, &o.ar, &rc);
    if (!ix)
        return rc;
    cli_search_warn_behind(prog, o.ar, ix);
    cli_whoami(o.by, sizeof o.by);
    char *err = NULL;
    if (claw_engine_new(cfg, &o.engine, &err) != CLAW_STATUS_SUCCESS) {
        fprintf(stderr, "%s hunt: where in the messages will not be said: %s\n", prog,
                err ? err : "no engine");
        free(err);
    }
    GStringChunk *strings = g_string_chunk_new(1024);
    uint64_t found = 0;
    for (int i = optind; i < argc && !cli_stdout_closed(); i++) {
        quarry_t q;
        const char *why = NULL;
        if (!quarry_of(o.ar, argv[i], strings, &q, &why)) {
            char *v = cli_safe_text(argv[i], 200);
            fprintf(stderr, "%s hunt: %s: %s\n", prog, v, why ? why : "not an indicator");
            g_free(v);
            rc = rc ? rc : EX_DATAERR;
            continue;
        }
        int64_t n = hunt_one(&o, ix, &q);
        if (n < 0)
            rc = EX_IOERR;
        else
            found += (uint64_t)n;
    }
    g_string_chunk_free(strings);
    claw_engine_destroy(o.engine);
    cli_search_close(ix);
    return cli_finish_output(prog, rc ? rc : found ? 0 : EXIT_NONE);
}

static void
hunt_json(GString *j, const claw_hunt_t *h)
{
    char t[40];
    g_string_append_printf(j, "{\"id\":%" PRIu64 ",\"indicator\":", h->id);
    if (h->ioc_id)
        g_string_append_printf(j, "%" PRIu64, h->ioc_id);
    else
        g_string_append(j, "null");
    g_string_append(j, ",\"type\":");
    cli_json_str(j, h->type);
    g_string_append(j, ",\"value\":");
    cli_json_str(j, h->value);
    g_string_append(j, ",\"by\":");
    cli_json_str(j, h->by);
    cli_fmt_time(t, sizeof t, h->started, true);
    g_string_append_printf(j, ",\"started\":\"%s\"", t);
    cli_fmt_time(t, sizeof t, h->finished, true);
    g_string_append_printf(j, ",\"finished\":\"%s\",\"matches\":%" PRIu64, t, h->matches);
}

typedef struct {
    bool json;
    size_t n;
} list_run_t;

static bool
list_hunt(void *ctx, const claw_hunt_t *h)
{
    list_run_t *l = ctx;
    if (cli_stdout_closed())
        return false;
    if (l->json) {
        GString *j = g_string_new(l->n ? ",\n" : "[\n");
        hunt_json(j, h);
        g_string_append_c(j, '}');
        fputs(j->str, stdout);
        g_string_free(j, TRUE);
    } else {
        char t[40];
        cli_fmt_time(t, sizeof t, h->started, false);
        char *v = cli_safe_text(h->value, 200);
        printf("%" PRIu64 "\t%s\t%" PRIu64 "\t%s:%s\n", h->id, t, h->matches, h->type, v);
        g_free(v);
    }
    l->n++;
    return true;
}

static int
hunt_list(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    list_run_t l = {0};
    const cli_option_t options[] = {{"json", 'j', &l.json, NULL}, {0}};
    int rc = cli_parse(prog, "hunt list [--json]\nThe hunts recorded: id, when, matches, the "
                             "indicator.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, false, &rc);
    if (!ar)
        return rc;
    if (claw_hunt_each(ar, list_hunt, &l)) {
        fprintf(stderr, "%s: %s\n", prog, claw_archive_error(ar));
        rc = EX_IOERR;
    } else if (l.json) {
        fputs(l.n ? "\n]\n" : "[]\n", stdout);
    }
    claw_archive_close(ar);
    return cli_finish_output(prog, rc);
}

typedef struct {
    const char *prog;
    claw_archive_t *ar;
    bool json;
    long limit;
    size_t n;
    GString *j;
    int rc;
} show_run_t;

/* Every recipient of every delivery of @r, Bcc included, in @o as a JSON
 * array or a comma-separated list. */
static void
recipients(GString *o, const claw_record_t *r, bool json)
{
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    bool first = true;
    if (json)
        g_string_append_c(o, '[');
    for (size_t d = 0; d < r->n_deliveries; d++)
        for (size_t k = 0; k < r->deliveries[d].n_rcpt; k++) {
            const char *a = r->deliveries[d].rcpt[k];
            if (!g_hash_table_add(seen, (gpointer)a))
                continue;
            if (!first)
                g_string_append(o, json ? "," : ", ");
            first = false;
            if (json) {
                cli_json_str(o, a);
            } else {
                char *safe = cli_safe_text(a, 200);
                g_string_append(o, safe);
                g_free(safe);
            }
        }
    if (json)
        g_string_append_c(o, ']');
    g_hash_table_destroy(seen);
}

static bool
show_hit(void *ctx, uint64_t docid, const char *where)
{
    show_run_t *s = ctx;
    if (cli_stdout_closed() || (s->limit && (long)s->n >= s->limit))
        return false;
    claw_record_t *r = NULL;
    if (claw_archive_get(s->ar, docid, &r)) {
        fprintf(stderr, "%s hunt: #%" PRIu64 ": %s\n", s->prog, docid, claw_archive_error(s->ar));
        s->rc = EX_IOERR;
        return true;
    }
    if (s->json) {
        if (s->n)
            g_string_append_c(s->j, ',');
        cli_hit_json(s->j, docid, r);
        g_string_append(s->j, ",\"recipients\":");
        recipients(s->j, r, true);
        g_string_append(s->j, ",\"where\":");
        cli_json_split(s->j, where, "\n");
        g_string_append_c(s->j, '}');
    } else {
        claw_hit_t hit = {docid, 0};
        cli_print_hit(s->prog, s->ar, &hit, CLI_HIT_TEXT, false);
        GString *to = g_string_new(NULL);
        recipients(to, r, false);
        printf("    to: %s\n", to->len ? to->str : "(no envelope)");
        g_string_free(to, TRUE);
        print_where(where);
    }
    claw_record_free(r);
    s->n++;
    return true;
}

static int
hunt_show(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    show_run_t s = {.prog = prog, .limit = 1000};
    const char *limit_text = NULL;
    const cli_option_t options[] = {
        {"json", 'j', &s.json, NULL}, {"limit", 'l', NULL, &limit_text}, {0}};
    int rc = cli_parse(prog,
                       "hunt show [--json] [--limit N] HUNT\nOne hunt: the indicator, and each "
                       "message it found with every recipient (Bcc included) and where in the "
                       "message the indicator is.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    char *end = NULL;
    uint64_t id = optind + 1 == argc ? strtoull(argv[optind], &end, 10) : 0;
    if (!id || *end) {
        fprintf(stderr, "%s hunt show: expected one hunt id (try --help)\n", prog);
        return EX_USAGE;
    }
    if (limit_text) {
        s.limit = strtol(limit_text, &end, 10);
        if (*end || end == limit_text || s.limit < 0) {
            fprintf(stderr, "%s hunt show: --limit %s: expected a count (0: all)\n", prog,
                    limit_text);
            return EX_USAGE;
        }
    }
    rc = 0;
    s.ar = cli_open_archive_for(prog, cfg, archive, false, &rc);
    if (!s.ar)
        return rc;
    claw_hunt_t *h = NULL;
    claw_status_t st = claw_hunt_get(s.ar, id, &h);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, claw_archive_error(s.ar));
        claw_archive_close(s.ar);
        return st == CLAW_STATUS_NOT_FOUND ? EXIT_NONE : EX_IOERR;
    }
    s.j = g_string_new(NULL);
    if (s.json) {
        hunt_json(s.j, h);
        g_string_append(s.j, ",\"messages\":[");
    } else {
        char t[40];
        cli_fmt_time(t, sizeof t, h->started, true);
        char *v = cli_safe_text(h->value, 2000);
        printf("Hunt:        %" PRIu64 "\nIndicator:   %s:%s", h->id, h->type, v);
        if (h->ioc_id)
            printf(" (%" PRIu64 ")", h->ioc_id);
        printf("\nRun:         %s by %s\nMatches:     %" PRIu64 "\n\n", t, h->by ? h->by : "-",
               h->matches);
        g_free(v);
    }
    st = claw_hunt_each_hit(s.ar, id, show_hit, &s);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, claw_archive_error(s.ar));
        s.rc = EX_IOERR;
    }
    if (s.json) {
        g_string_append(s.j, "]}");
        printf("%s\n", s.j->str);
    }
    g_string_free(s.j, TRUE);
    claw_hunt_free(h);
    claw_archive_close(s.ar);
    return cli_finish_output(prog, s.rc);
}
