/* cmd-search.c - claw search, show and export: finding archived messages
 * and reading them out. The manual is claw.1. */
#include "build-config.h"

#include "claw-ioc.h"
#include "claw-purge.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>


/* The index for searching and the store it was made from, opened once (an
 * LMDB environment must not be opened twice by one process): the store
 * gives what a hit shows and confirms phrases in an index without body
 * positions, with an engine to parse with. */
static struct {
    claw_archive_t *ar;
    const claw_config_t *cfg;
    bool tried; /* to make the checker: at most once */
    claw_engine_t *engine;
    claw_phrase_checker_t *checker;
    claw_ioc_query_t iocs; /* what ioc:ID means: the store's indicator, hunted */
} phrase_ctx;

/* The phrase check the index calls. Confirming a phrase parses messages,
 * and a parser is what a search otherwise does without (cli-model.h): so
 * the engine and the checker are made here, at the first phrase that needs
 * them, not when the index is opened. Without them (an engine that fails)
 * a phrase matches the documents holding all its words, as an index
 * without a checker does. */
static void
check_phrase_lazily(void *ctx, const uint64_t *docids, size_t k, const char *prefix,
                    const char *const *words, size_t n, bool *ok)
{
    (void)ctx;
    if (!phrase_ctx.tried) {
        phrase_ctx.tried = true;
        if (claw_engine_new(phrase_ctx.cfg, &phrase_ctx.engine, NULL) == 0) {
            claw_archive_settings_t set;
            claw_archive_settings_read(phrase_ctx.cfg, &set);
            phrase_ctx.checker = claw_phrase_checker_new(
                phrase_ctx.ar, phrase_ctx.engine, phrase_ctx.cfg, set.prep.max_text_bytes, 0);
            claw_archive_settings_clear(&set);
        }
    }
    if (phrase_ctx.checker) {
        claw_phrase_check(phrase_ctx.checker, docids, k, prefix, words, n, ok);
        return;
    }
    for (size_t i = 0; i < k; i++)
        ok[i] = true;
}

/* @path for writing, made 0640 like --dir's files: exported mail is no
 * more readable than the archive it came from (fopen() would make 0644). */
static int
open_private_fd(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
}

static FILE *
open_private(const char *path)
{
    int fd = open_private_fd(path);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f)
        close(fd);
    return f;
}

claw_index_t *
cli_search_open(const char *prog, claw_config_t *cfg, const char *archive, int mode,
                claw_archive_t **ar, int *rc)
{
    char *dir = cli_archive_dir(cfg, archive);
    char *path = g_build_filename(dir, "index", NULL);
    claw_index_t *ix = NULL;
    char *err = NULL;
    claw_status_t st = claw_index_open(path, 0, &ix, &err);
    if (st) {
        /* An index we may not read looks like none: say which it is. */
        char *shards = g_build_filename(path, "shards", NULL);
        bool denied = access(shards, R_OK) != 0 && errno == EACCES;
        g_free(shards);
        if (denied)
            fprintf(stderr, "%s: %s: permission denied (searching needs read access to the "
                            "archive)\n",
                    prog, path);
        else if (st == CLAW_STATUS_NOT_FOUND)
            fprintf(stderr, "%s: no index at %s (is clawd running? or: claw reindex)\n", prog,
                    path);
        else
            fprintf(stderr, "%s: %s\n", prog, err ? err : claw_status_to_string(st));
        *rc = denied ? EX_NOPERM : st == CLAW_STATUS_NOT_FOUND ? EX_NOINPUT : EX_IOERR;
    } else if (!(phrase_ctx.ar = cli_open_archive(prog, dir, mode, cfg, rc))) {
        claw_index_close(ix);
        ix = NULL;
    } else {
        phrase_ctx.cfg = cfg;
        claw_index_set_phrase_check(ix, check_phrase_lazily, NULL);
        phrase_ctx.iocs = (claw_ioc_query_t){phrase_ctx.ar, ix};
        claw_index_set_ioc_terms(ix, claw_ioc_query_terms, &phrase_ctx.iocs);
        *ar = phrase_ctx.ar;
    }
    free(err);
    g_free(path);
    g_free(dir);
    return ix;
}

void
cli_search_close(claw_index_t *ix)
{
    claw_index_close(ix);
    claw_phrase_checker_free(phrase_ctx.checker);
    claw_engine_destroy(phrase_ctx.engine);
    cli_close_archive(phrase_ctx.ar);
    memset(&phrase_ctx, 0, sizeof phrase_ctx);
}

void
cli_search_warn_behind(const char *prog, claw_archive_t *ar, claw_index_t *ix)
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

/* --limit or --offset: a whole number up to 100,000,000 (@text NULL: the
 * default stays). */
static bool
count_option(const char *prog, const char *name, const char *text, long *out)
{
    if (!text)
        return true;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > 100000000) {
        fprintf(stderr, "%s search: --%s wants a number, got '%s'\n", prog, name, text);
        return false;
    }
    *out = v;
    return true;
}

bool
cli_print_hit(const char *prog, claw_archive_t *ar, const claw_hit_t *hit, cli_hit_format_t how,
              bool relevance)
{
    /* What a hit shows is read from the store, the index holds none of it. */
    claw_record_t *r = NULL;
    if (claw_archive_get_summary(ar, hit->docid, &r)) {
        fprintf(stderr, "%s: %s\n", prog, claw_archive_error(ar));
        return false;
    }
    int64_t date = r->date ? r->date : r->arrival_ms / 1000;
    if (how == CLI_HIT_ID) {
        printf("%s\n", r->id);
    } else if (how == CLI_HIT_JSON) {
        GString *o = g_string_new(NULL);
        cli_hit_json(o, hit->docid, r);
        if (relevance)
            g_string_append_printf(o, ",\"relevance\":%.0f", hit->relevance);
        g_string_append(o, "}");
        printf("%s\n", o->str);
        g_string_free(o, TRUE);
    } else {
        char d[32];
        cli_fmt_time(d, sizeof d, date, false);
        char *from = cli_safe_text(r->from, 32), *subj = cli_safe_text(r->subject, 44);
        /* Pad by characters, not bytes. */
        printf("%-16s  %-10s  %s%*s  %s%*s  %s\n", d, r->action, from,
               (int)(32 - g_utf8_strlen(from, -1)), "", subj, (int)(44 - g_utf8_strlen(subj, -1)),
               "", r->id);
        g_free(from);
        g_free(subj);
    }
    claw_record_free(r);
    return true;
}

void
cli_hit_json(GString *o, uint64_t docid, const claw_record_t *r)
{
    int64_t date = r->date ? r->date : r->arrival_ms / 1000;
    char d[32], a[32];
    cli_fmt_time(d, sizeof d, date, true);
    cli_fmt_time(a, sizeof a, r->arrival_ms / 1000, true);
    g_string_append(o, "{\"id\":");
    cli_json_str(o, r->id);
    g_string_append_printf(o, ",\"docid\":%" PRIu64 ",\"date\":\"%s\",\"arrival\":\"%s\",\"from\":",
                           docid, d, a);
    cli_json_str(o, r->from);
    g_string_append(o, ",\"subject\":");
    cli_json_str(o, r->subject);
    g_string_append(o, ",\"action\":");
    cli_json_str(o, r->action);
    g_string_append_printf(o, ",\"score\":%g,\"size\":%" PRIu64, r->score, r->size);
}

int
claw_cmd_search(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false, count = false, explain = false, ids = false;
    const char *limit_text = NULL, *offset_text = NULL, *sort_text = NULL;
    const cli_option_t options[] = {{"json", 'j', &json, NULL},
                                    {"limit", 'l', NULL, &limit_text},
                                    {"offset", 'o', NULL, &offset_text},
                                    {"sort", 's', NULL, &sort_text},
                                    {"count", 'C', &count, NULL},
                                    {"explain", 'e', &explain, NULL},
                                    {"ids", 'i', &ids, NULL},
                                    {0}};
    int prc = cli_parse(prog,
                        "search [--json] [--limit N] [--offset N] [--sort date|relevance]\n"
                        "                 [--count] [--ids] [--explain] QUERY...\n"
                        "See claw(1), QUERY LANGUAGE.\n",
                        options, true, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    long limit = 50, offset = 0;
    if (!count_option(prog, "limit", limit_text, &limit) ||
        !count_option(prog, "offset", offset_text, &offset))
        return EX_USAGE;
    claw_sort_t sort = CLAW_SORT_DATE;
    if (sort_text && strcmp(sort_text, "relevance") == 0) {
        sort = CLAW_SORT_RELEVANCE;
    } else if (sort_text && strcmp(sort_text, "date") != 0) {
        fprintf(stderr, "%s search: --sort is date or relevance\n", prog);
        return EX_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "%s search: give a query (see claw(1), QUERY LANGUAGE)\n", prog);
        return EX_USAGE;
    }
    char *query = cli_join_args(argc - optind, argv + optind);
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
    claw_archive_t *ar = NULL;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, CLI_AUDITED, &ar, &rc);
    if (!ix) {
        g_free(query);
        return rc;
    }
    cli_search_warn_behind(prog, ar, ix);
    claw_hits_t *hits = NULL;
    char *err = NULL;
    claw_status_t st =
        claw_index_search(ix, query, sort, (size_t)offset, count ? 0 : (size_t)limit, &hits, &err);
    if (st) {
        fprintf(stderr, "%s search: %s\n", prog, err ? err : claw_status_to_string(st));
        free(err);
        cli_search_close(ix);
        g_free(query);
        return st == CLAW_STATUS_INVALID_ARGUMENT ? EX_DATAERR : EX_IOERR;
    }
    if (count) {
        printf("%" PRIu64 "\n", hits->estimated);
    } else if (!json && !ids && hits->n) {
        printf("%-16s  %-10s  %-32s  %-44s  %s\n", "DATE", "ACTION", "FROM", "SUBJECT", "ID");
    }
    for (size_t i = 0; !count && i < hits->n && !cli_stdout_closed(); i++)
        if (!cli_print_hit(prog, ar, &hits->hits[i],
                           ids ? CLI_HIT_ID : json ? CLI_HIT_JSON : CLI_HIT_TEXT,
                           sort == CLAW_SORT_RELEVANCE))
            rc = EX_IOERR;
    bool none = hits->estimated == 0;
    char *args = g_strdup_printf("query=%s offset=%ld limit=%ld%s", query, offset, limit,
                                 count ? " count" : "");
    char *result = g_strdup_printf("matches=%" PRIu64 " shown=%zu", hits->estimated,
                                   count ? 0 : hits->n);
    cli_audit_read(prog, ar, "search", args, result);
    g_free(args);
    g_free(result);
    if (!json && !ids && !count && hits->n && hits->estimated > (uint64_t)offset + hits->n)
        fprintf(stderr, "(%zu of about %" PRIu64 " shown; --limit, --offset for more)\n", hits->n,
                hits->estimated);
    claw_hits_free(hits);
    cli_search_close(ix);
    g_free(query);
    return cli_finish_output(prog, rc ? rc : none ? EXIT_NONE : 0);
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
    cli_fmt_time(d, sizeof d, r->date, true);
    cli_fmt_time(a, sizeof a, r->arrival_ms / 1000, true);
    g_string_append_printf(o, "{\"docid\":%" PRIu64 ",\"id\":\"%s\",\"sha256\":\"%s\",", r->docid,
                           r->id, r->sha256);
    g_string_append_printf(o, "\"date\":\"%s\",\"arrival\":\"%s\",\"size\":%" PRIu64 ",", d, a,
                           r->size);
    g_string_append(o, "\"message_id\":");
    cli_json_str(o, r->message_id);
    g_string_append(o, ",\"from\":");
    cli_json_str(o, r->from);
    g_string_append(o, ",\"from_name\":");
    cli_json_str(o, r->from_name);
    g_string_append(o, ",\"subject\":");
    cli_json_str(o, r->subject);
    g_string_append(o, ",\"action\":");
    cli_json_str(o, r->action);
    g_string_append_printf(o, ",\"score\":%g,\"rules\":", r->score);
    cli_json_split(o, r->rules, ",");
    g_string_append(o, ",\"verdict_source\":");
    cli_json_str(o, r->verdict_source);
    if (*r->dmarc) {
        g_string_append(o, ",\"dmarc\":");
        cli_json_str(o, r->dmarc);
        g_string_append(o, ",\"dmarc_policy\":");
        cli_json_str(o, *r->dmarc_policy ? r->dmarc_policy : NULL);
    }
    g_string_append_printf(o, ",\"state\":\"%s\"", r->quarantined ? "quarantined" : "stored");
    if (r->quarantined)
        g_string_append_printf(o, ",\"quarantine_plan\":%" PRIu64, r->quarantine_plan);
    g_string_append(o, ",\"deliveries\":[");
    for (size_t i = 0; i < r->n_deliveries; i++) {
        const claw_delivery_t *dl = &r->deliveries[i];
        char t[32];
        cli_fmt_time(t, sizeof t, dl->time_ms / 1000, true);
        g_string_append_printf(o, "%s{\"time\":\"%s\",\"source\":", i ? "," : "", t);
        cli_json_str(o, dl->source);
        g_string_append(o, ",\"mail_from\":");
        cli_json_str(o, dl->mail_from);
        g_string_append(o, ",\"rcpt\":[");
        for (size_t j = 0; j < dl->n_rcpt; j++) {
            if (j)
                g_string_append_c(o, ',');
            cli_json_str(o, dl->rcpt[j]);
        }
        g_string_append(o, "],\"client_ip\":");
        cli_json_str(o, dl->client_ip);
        g_string_append(o, ",\"helo\":");
        cli_json_str(o, dl->helo);
        g_string_append(o, ",\"queue_id\":");
        cli_json_str(o, dl->queue_id);
        g_string_append(o, ",\"mta_host\":");
        cli_json_str(o, dl->mta_host);
        g_string_append(o, "}");
    }
    g_string_append(o, "]}");
}

static void
record_text(const claw_record_t *r)
{
    char d[32], a[32];
    cli_fmt_time(d, sizeof d, r->date, true);
    cli_fmt_time(a, sizeof a, r->arrival_ms / 1000, true);
    char *from = cli_safe_text(r->from, 200), *name = cli_safe_text(r->from_name, 200),
         *subj = cli_safe_text(r->subject, 400), *mid = cli_safe_text(r->message_id, 400);
    printf("Id:         %s\nDocid:      %" PRIu64 "\nSHA-256:    %s\nArrived:    %s\n", r->id,
           r->docid, r->sha256, a);
    printf("Date:       %s\nFrom:       %s%s%s%s\nSubject:    %s\nMessage-ID: %s\n", d,
           *name ? name : "", *name ? " <" : "", from, *name ? ">" : "", subj, mid);
    printf("Size:       %" PRIu64 " bytes\nVerdict:    %s score=%g rules=%s (%s)\n", r->size,
           r->action, r->score, r->rules, r->verdict_source);
    if (*r->dmarc)
        printf("DMARC:      %s%s%s%s\n", r->dmarc, *r->dmarc_policy ? " (p=" : "", r->dmarc_policy,
               *r->dmarc_policy ? ")" : "");
    if (r->quarantined && r->quarantine_plan)
        printf("State:      quarantined by plan %" PRIu64 " (claw restore %s)\n",
               r->quarantine_plan, r->id);
    else if (r->quarantined)
        printf("State:      quarantined at reception (claw release %s)\n", r->id);
    for (size_t i = 0; i < r->n_deliveries; i++) {
        const claw_delivery_t *dl = &r->deliveries[i];
        char t[32];
        cli_fmt_time(t, sizeof t, dl->time_ms / 1000, true);
        char *mf = cli_safe_text(dl->mail_from, 200), *ip = cli_safe_text(dl->client_ip, 64),
             *helo = cli_safe_text(dl->helo, 200);
        char *qid = cli_safe_text(dl->queue_id, 64), *host = cli_safe_text(dl->mta_host, 200);
        printf("Delivery %zu: %s via %s from <%s> ip=%s helo=%s%s%s%s%s\n", i + 1, t,
               dl->source ? dl->source : "?", mf, *ip ? ip : "-", *helo ? helo : "-",
               *qid ? " queue-id=" : "", qid, *host ? " mta=" : "", host);
        g_free(qid);
        g_free(host);
        for (size_t j = 0; j < dl->n_rcpt; j++) {
            char *rc = cli_safe_text(dl->rcpt[j], 200);
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

typedef struct {
    bool json, gap;
} tomb_show_t;

/* What is left of an erased message: its tombstone. */
static void
show_tombstone(void *ctx, const claw_tombstone_t *t)
{
    tomb_show_t *ts = ctx;
    char a[32], e[32];
    cli_fmt_time(a, sizeof a, t->arrival_ms / 1000, true);
    cli_fmt_time(e, sizeof e, t->time, true);
    if (ts->json) {
        GString *o = g_string_new(NULL);
        g_string_append_printf(o, "{\"docid\":%" PRIu64 ",\"id\":\"%s\",\"sha256\":\"%s\","
                                  "\"state\":\"erased\",\"arrival\":\"%s\",\"size\":%" PRIu64
                                  ",\"message_id\":",
                               t->docid, t->id, t->sha256, a, t->size);
        cli_json_str(o, t->message_id);
        g_string_append(o, ",\"mail_from\":");
        cli_json_str(o, t->mail_from);
        g_string_append(o, ",\"rcpt\":");
        cli_json_split(o, t->rcpt, ",");
        g_string_append(o, ",\"action\":");
        cli_json_str(o, t->action);
        g_string_append_printf(o, ",\"erased\":{\"plan\":%" PRIu64 ",\"time\":\"%s\",\"by\":",
                               t->plan, e);
        cli_json_str(o, t->by);
        g_string_append(o, ",\"reason\":");
        cli_json_str(o, t->reason);
        printf("%s}}\n", o->str);
        g_string_free(o, TRUE);
        return;
    }
    char *mid = cli_safe_text(t->message_id, 400), *mf = cli_safe_text(t->mail_from, 200),
         *rcpt = cli_safe_text(t->rcpt, 1000), *reason = cli_safe_text(t->reason, 400);
    printf("%sId:         %s\nDocid:      %" PRIu64 "\nSHA-256:    %s\nArrived:    %s\n"
           "Message-ID: %s\nSize:       %" PRIu64 " bytes\nVerdict:    %s\n"
           "Envelope:   from <%s> to %s\n"
           "State:      erased by plan %" PRIu64 " at %s by %s%s%s (only this tombstone is left)\n",
           ts->gap ? "\n" : "", t->id, t->docid, t->sha256, a, mid, t->size, t->action, mf, rcpt,
           t->plan, e, t->by, *reason ? ": " : "", reason);
    g_free(mid);
    g_free(mf);
    g_free(rcpt);
    g_free(reason);
}

int
claw_cmd_show(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool as_raw = false, headers = false, json = false;
    const cli_option_t options[] = {{"raw", 'r', &as_raw, NULL},
                                    {"headers", 'H', &headers, NULL},
                                    {"json", 'j', &json, NULL},
                                    {0}};
    int rc = cli_parse(prog,
                       "show [--raw|--headers|--json] ID...\n"
                       "ID: an X-Clawback-Id, a message's SHA-256, or #DOCID.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    if (as_raw + headers + json > 1) {
        fprintf(stderr, "%s show: give one of --raw, --headers and --json\n", prog);
        return EX_USAGE;
    }
    int mode = as_raw ? 'r' : headers ? 'H' : json ? 'j' : 0;
    if (optind >= argc) {
        fprintf(stderr, "%s show: give an ID (X-Clawback-Id, SHA-256 or #docid)\n", prog);
        return EX_USAGE;
    }
    rc = 0;
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = cli_open_archive(prog, dir, CLI_AUDITED, cfg, &rc);
    g_free(dir);
    if (!ar)
        return rc;
    for (int i = optind; i < argc && !cli_stdout_closed(); i++) {
        char *args = g_strdup_printf("id=%s%s", argv[i], mode == 'r'   ? " raw"
                                                         : mode == 'H' ? " headers"
                                                                       : "");
        cli_audit_read(prog, ar, "show", args, "");
        g_free(args);
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
            if (st == CLAW_STATUS_NOT_FOUND && mode != 'r' && mode != 'H') {
                tomb_show_t ts = {mode == 'j', k || i > optind};
                if (claw_archive_tombstone(ar, docids[k], show_tombstone, &ts) == 0)
                    continue;
            }
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
    cli_close_archive(ar);
    return cli_finish_output(prog, rc);
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
    const char *mbox = NULL, *outdir = NULL;
    bool json = false;
    const cli_option_t options[] = {
        {"mbox", 'm', NULL, &mbox}, {"dir", 'd', NULL, &outdir}, {"json", 'j', &json, NULL}, {0}};
    int prc = cli_parse(prog, "export (--mbox FILE | --dir DIR) [--json] QUERY...\n", options,
                        true, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    if ((!mbox) == (!outdir) || optind >= argc) {
        fprintf(stderr, "%s export: give --mbox FILE or --dir DIR, and a query\n", prog);
        return EX_USAGE;
    }
    if (json && mbox && strcmp(mbox, "-") == 0) {
        fprintf(stderr, "%s export: --json and --mbox - would both write to stdout\n", prog);
        return EX_USAGE;
    }
    int rc = 0;
    claw_archive_t *ar = NULL;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, CLI_AUDITED, &ar, &rc);
    if (!ix)
        return rc;
    char *query = cli_join_args(argc - optind, argv + optind);
    FILE *f = NULL;
    if (mbox) {
        f = strcmp(mbox, "-") == 0 ? stdout : open_private(mbox);
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
    GString *ids = g_string_new(NULL); /* the exported ids, as JSON strings */
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
        /* Standard output's errors are cli_finish_output()'s to judge. */
        bool to_stdout = f == stdout;
        for (size_t i = 0; i < hits->n && !rc && !(to_stdout && cli_stdout_closed()); i++) {
            claw_record_t *r = NULL;
            char *raw = NULL;
            size_t len = 0;
            if (claw_archive_get(ar, hits->hits[i].docid, &r) ||
                claw_archive_raw(ar, hits->hits[i].docid, &raw, &len)) {
                fprintf(stderr, "%s export: %s\n", prog, claw_archive_error(ar));
                rc = EX_IOERR;
            } else if (f) {
                if (!write_mbox(f, r, raw, len) && !to_stdout) {
                    fprintf(stderr, "%s export: %s: %s\n", prog, mbox, strerror(errno));
                    rc = EX_IOERR;
                }
            } else {
                GString *name = g_string_new(r->id);
                g_string_append_c(name, '-');
                slug(name, r->subject);
                g_string_append(name, ".eml");
                char *path = g_build_filename(outdir, name->str, NULL);
                int fd = open_private_fd(path);
                if (fd < 0 || !write_all(fd, raw, len) || close(fd) != 0) {
                    fprintf(stderr, "%s export: %s: %s\n", prog, path, strerror(errno));
                    rc = EX_IOERR;
                }
                g_free(path);
                g_string_free(name, TRUE);
            }
            if (!rc) {
                exported++;
                if (exported > 1)
                    g_string_append_c(ids, ',');
                cli_json_str(ids, r->id);
            }
            free(raw);
            claw_record_free(r);
        }
        size_t n = hits->n;
        claw_hits_free(hits);
        if (n < 1000 || rc || (to_stdout && cli_stdout_closed()))
            break;
    }
    if (f && f != stdout && fclose(f) != 0 && !rc) {
        fprintf(stderr, "%s export: %s: %s\n", prog, mbox, strerror(errno));
        rc = EX_IOERR;
    }
    if (json) {
        GString *where = g_string_new(NULL);
        cli_json_str(where, mbox ? mbox : outdir);
        printf("{\"%s\":%s,\"exported\":%zu,\"ids\":[%s]}\n", mbox ? "mbox" : "dir",
               where->str, exported, ids->str);
        g_string_free(where, TRUE);
    } else if (!(f == stdout && cli_stdout_closed())) {
        fprintf(stderr, "%s export: %zu messages\n", prog, exported);
    }
    g_string_free(ids, TRUE);
    char *args = g_strdup_printf("query=%s to=%s", query, mbox ? mbox : outdir ? outdir : "-");
    char *result = g_strdup_printf("exported=%zu", exported);
    cli_audit_read(prog, ar, "export", args, result);
    g_free(args);
    g_free(result);
    rc = cli_finish_output(prog, rc);
out:
    g_free(query);
    cli_search_close(ix);
    return rc;
}

