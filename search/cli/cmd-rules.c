/* cmd-rules.c - claw hunt --rules: the current rules run again over old
 * mail. A newly protected domain, a new VIP, a new weight or indicator
 * changes what the engine would say of a message already archived: this
 * judges each stored message again, as the MTA would now (its raw bytes and
 * the envelope it came with), and lists those whose verdict would now be
 * worse than the one it got, with the rules that fire now.
 *
 * Messages are taken in docid order, so a run can be resumed: every
 * CHECKPOINT_EVERY messages (and at the end) the store notes how far it got
 * under a key made of the run's question (the configuration, --since,
 * --query); `--resume` goes on from there when the question is the same.
 */
#include "build-config.h"

#include "claw-audit.h"
#include "claw-config.h"
#include "claw-feed.h"
#include "claw-ioc.h"
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define CHECKPOINT_EVERY 500
#define AT_KEY "rules_hunt_at"         /* the last docid judged */
#define QUESTION_KEY "rules_hunt_question" /* the question it was judged for */

typedef struct {
    const char *prog;
    claw_archive_t *ar;
    claw_engine_t *engine;
    bool json, progress;
    int64_t since;
    GArray *docids; /* uint64_t, ascending */
    uint64_t judged, worse, failed;
    long limit;
    GString *out;
} rules_run_t;

static int
rank(claw_action_t a)
{
    return (int)a; /* accept < tag < quarantine < reject */
}

static bool
collect(void *ctx, uint64_t docid, const char *sha)
{
    (void)sha;
    g_array_append_val((GArray *)ctx, docid);
    return true;
}

static gint
by_docid(gconstpointer a, gconstpointer b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* What the run asks, as a number: the effective configuration (the file
 * and any --set, written out as --dump-config does) and the options that
 * choose the messages. Another question starts over. */
static uint64_t
question_of(const claw_config_t *cfg, const char *since, const char *query)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        claw_config_write(cfg, f);
        fprintf(f, "\n--since %s\n--query %s\n", since ? since : "", query ? query : "");
        fclose(f);
    }
    guint8 d[32];
    gsize dn = sizeof d;
    GChecksum *h = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(h, (const guchar *)(text ? text : ""), (gssize)len);
    g_checksum_get_digest(h, d, &dn);
    g_checksum_free(h);
    free(text);
    uint64_t q = 0;
    for (int i = 0; i < 8; i++)
        q = q << 8 | d[i];
    return q | 1; /* never 0, which the store gives for "none" */
}

/* Print message @r, judged again as @v, worse than it was. */
static void
report(rules_run_t *run, const claw_record_t *r, const claw_verdict_t *v)
{
    claw_action_t now = claw_verdict_action(v);
    GString *o = run->out;
    g_string_truncate(o, 0);
    if (run->json) {
        cli_hit_json(o, r->docid, r);
        g_string_append(o, ",\"now\":{\"action\":");
        cli_json_str(o, claw_action_to_string(now));
        g_string_append_printf(o, ",\"score\":%g,\"rules\":[", claw_verdict_score(v));
        for (size_t i = 0; i < claw_verdict_n_rules(v); i++) {
            g_string_append(o, i ? ",{\"rule\":" : "{\"rule\":");
            cli_json_str(o, claw_verdict_rule_name(v, i));
            g_string_append_printf(o, ",\"score\":%g,\"detail\":", claw_verdict_rule_score(v, i));
            const char *d = claw_verdict_rule_detail(v, i);
            cli_json_str(o, d ? d : "");
            g_string_append(o, "}");
        }
        g_string_append(o, "]}}\n");
    } else {
        char when[40];
        cli_fmt_time(when, sizeof when, r->date ? r->date : r->arrival_ms / 1000, false);
        char *from = cli_safe_text(r->from ? r->from : "", 40);
        char *subject = cli_safe_text(r->subject ? r->subject : "", 60);
        g_string_append_printf(o, "%s  %-10s -> %-10s %6.1f  %s  %s  %s\n", when,
                               r->action ? r->action : "-", claw_action_to_string(now),
                               claw_verdict_score(v), from, subject, r->id);
        for (size_t i = 0; i < claw_verdict_n_rules(v); i++) {
            const char *name = claw_verdict_rule_name(v, i), *d = claw_verdict_rule_detail(v, i);
            bool is_new = !r->rules || !strstr(r->rules, name);
            char *detail = cli_safe_text(d ? d : "", 200);
            g_string_append_printf(o, "    %s%s (%+.1f): %s\n", name, is_new ? " [new]" : "",
                                   claw_verdict_rule_score(v, i), detail);
            g_free(detail);
        }
        g_free(from);
        g_free(subject);
    }
    fputs(o->str, stdout);
}

/* Judge message @docid again; false if it could not be read. */
static bool
judge(rules_run_t *run, uint64_t docid)
{
    claw_record_t *r = NULL;
    char *raw = NULL;
    size_t len = 0;
    if (claw_archive_get(run->ar, docid, &r) != CLAW_STATUS_SUCCESS)
        return false;
    if (run->since && (r->date ? r->date : r->arrival_ms / 1000) < run->since) {
        claw_record_free(r);
        return true;
    }
    if (claw_archive_raw(run->ar, docid, &raw, &len) != CLAW_STATUS_SUCCESS) {
        claw_record_free(r);
        return false;
    }
    /* As the MTA saw it: the first delivery's envelope. */
    claw_envelope_t env = {0};
    if (r->n_deliveries) {
        const claw_delivery_t *d = &r->deliveries[0];
        env = (claw_envelope_t){.client_ip = d->client_ip, .helo = d->helo,
                                .mail_from = d->mail_from, .rcpt = d->rcpt,
                                .n_rcpt = d->n_rcpt};
    }
    claw_verdict_t *v = NULL;
    bool ok = claw_scan_buffer(run->engine, raw, len, &env, &v) == CLAW_STATUS_SUCCESS;
    claw_action_t was = CLAW_ACTION_ACCEPT;
    if (ok) {
        run->judged++;
        if (r->action)
            claw_action_from_string(r->action, &was);
        if (rank(claw_verdict_action(v)) > rank(was) &&
            (++run->worse <= (uint64_t)run->limit || run->limit == 0))
            report(run, r, v);
    }
    claw_verdict_destroy(v);
    free(raw);
    claw_record_free(r);
    return ok;
}

static void
progress(const rules_run_t *run, size_t done, gint64 start, bool final)
{
    if (!run->progress)
        return;
    char worse[48];
    snprintf(worse, sizeof worse, "%" PRIu64 " worse", run->worse);
    cli_progress_bar(done, run->docids->len, start, run->judged, worse, final);
}

static bool
count_of(const char *s, long *out)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*end || end == s || n < 0)
        return false;
    *out = n;
    return true;
}

static const char usage[] =
    "hunt --rules [--since WHEN] [--query Q] [--resume] [--batch N] [--limit N] [--json]\n"
    "Run the current rules over archived mail (a newly protected domain, a new VIP, a new\n"
    "weight or indicator) and list the messages whose verdict would now be worse than the\n"
    "one they got, with the rules that fire now ([new]: not among the ones they had).\n"
    "Each message is judged from its raw bytes with the envelope it came with, as the MTA\n"
    "would. --since: messages dated from WHEN (2026-11-01, 90d); --query: those a search\n"
    "finds. The run notes how far it got in the store: --resume goes on from there, for the\n"
    "same configuration and options; --batch N judges N messages and stops (a long run in\n"
    "parts). --limit N lists the first N. Exit 1 if no verdict would be worse.\n";

int
claw_cmd_hunt_rules(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                    char **argv)
{
    bool rules = false, resume = false, json = false;
    const char *since = NULL, *query = NULL, *limit_text = NULL, *batch_text = NULL;
    const cli_option_t options[] = {{"rules", 0, &rules, NULL},
                                    {"since", 0, NULL, &since},
                                    {"query", 'q', NULL, &query},
                                    {"resume", 0, &resume, NULL},
                                    {"limit", 'l', NULL, &limit_text},
                                    {"batch", 0, NULL, &batch_text},
                                    {"json", 'j', &json, NULL},
                                    {0}};
    int rc = cli_parse(prog, usage, options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rules_run_t run = {.prog = prog, .json = json, .progress = isatty(STDERR_FILENO)};
    long batch = 0;
    if ((limit_text && !count_of(limit_text, &run.limit)) ||
        (batch_text && !count_of(batch_text, &batch))) {
        fprintf(stderr, "%s hunt: --%s %s: expected a count (0: all)\n", prog,
                limit_text && !count_of(limit_text, &run.limit) ? "limit" : "batch",
                limit_text && !count_of(limit_text, &run.limit) ? limit_text : batch_text);
        return EX_USAGE;
    }
    if (since && !claw_feed_parse_past(since, g_get_real_time() / G_USEC_PER_SEC, &run.since)) {
        fprintf(stderr, "%s hunt: --since %s: expected a date (2026-11-01) or a span back "
                        "(90d, 2w, 12h)\n", prog, since);
        return EX_USAGE;
    }
    run.docids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    claw_index_t *ix = NULL;
    rc = 0;
    if (query) {
        ix = cli_search_open(prog, cfg, archive, true, &run.ar, &rc);
        claw_hits_t *hits = NULL;
        char *err = NULL;
        if (ix && claw_index_search(ix, query, CLAW_SORT_DATE, 0, CLAW_HITS_ALL, &hits, &err)) {
            fprintf(stderr, "%s hunt: --query: %s\n", prog, err ? err : "the search failed");
            rc = EX_DATAERR;
        }
        for (size_t i = 0; hits && i < hits->n; i++)
            g_array_append_val(run.docids, hits->hits[i].docid);
        claw_hits_free(hits);
        free(err);
    } else if ((run.ar = cli_open_archive_for(prog, cfg, archive, true, &rc)) &&
               claw_archive_each(run.ar, collect, run.docids)) {
        fprintf(stderr, "%s hunt: %s\n", prog, claw_archive_error(run.ar));
        rc = EX_IOERR;
    }
    char *err = NULL;
    /* DMARC is not judged again: today's DNS is not the one at arrival, and
     * the store keeps no SPF or DKIM results to align (the record keeps the
     * MTA's DMARC result instead). */
    claw_config_set(cfg, "dmarc", "evaluate", "no", NULL);
    if (!rc && claw_engine_new(cfg, &run.engine, &err) != CLAW_STATUS_SUCCESS) {
        fprintf(stderr, "%s hunt: %s\n", prog, err ? err : "no engine");
        rc = EX_CONFIG;
    }
    free(err);
    if (rc) {
        if (ix)
            cli_search_close(ix);
        else
            claw_archive_close(run.ar);
        g_array_free(run.docids, TRUE);
        return rc;
    }
    g_array_sort(run.docids, by_docid);
    uint64_t question = question_of(cfg, since, query), after = 0;
    if (resume && claw_archive_info_get(run.ar, QUESTION_KEY) == question)
        after = claw_archive_info_get(run.ar, AT_KEY);
    else if (resume)
        fprintf(stderr, "%s hunt: nothing to resume for this configuration and these options: "
                        "from the start\n", prog);
    size_t i = 0;
    while (i < run.docids->len && g_array_index(run.docids, uint64_t, i) <= after)
        i++;
    if (after)
        fprintf(stderr, "%s hunt: resuming after message %" PRIu64 " (%zu of %u done)\n", prog,
                after, i, run.docids->len);
    claw_archive_info_set(run.ar, QUESTION_KEY, question);
    run.out = g_string_new(NULL);
    gint64 start = g_get_monotonic_time(), shown = 0;
    size_t stop = batch && i + (size_t)batch < run.docids->len ? i + (size_t)batch
                                                                : run.docids->len;
    for (; i < stop && !cli_stdout_closed(); i++) {
        uint64_t docid = g_array_index(run.docids, uint64_t, i);
        if (!judge(&run, docid)) {
            run.failed++;
            fprintf(stderr, "%s hunt: message %" PRIu64 " not judged: %s\n", prog, docid,
                    claw_archive_error(run.ar));
        }
        if ((i + 1) % CHECKPOINT_EVERY == 0)
            claw_archive_info_set(run.ar, AT_KEY, docid);
        if (g_get_monotonic_time() - shown > 200000) {
            progress(&run, i + 1, start, false);
            shown = g_get_monotonic_time();
        }
    }
    /* All judged: the next --resume has nothing to go on from. */
    if (i == run.docids->len)
        claw_archive_info_set(run.ar, AT_KEY, UINT64_MAX);
    else if (i > 0)
        claw_archive_info_set(run.ar, AT_KEY, g_array_index(run.docids, uint64_t, i - 1));
    progress(&run, i, start, true);
    fprintf(stderr, "%" PRIu64 " judged again, %" PRIu64 " would now be worse%s\n", run.judged,
            run.worse, run.failed ? ", some not read (above)" : "");
    if (i < run.docids->len)
        fprintf(stderr, "%s hunt: stopped after message %" PRIu64 ", %zu to go: claw hunt --rules "
                        "--resume (with the same options) goes on\n", prog,
                g_array_index(run.docids, uint64_t, i - 1), run.docids->len - i);
    g_string_free(run.out, TRUE);
    char by[128];
    cli_whoami(by, sizeof by);
    char *args = g_strdup_printf("since=%s query=%s batch=%ld resume=%s", since ? since : "-",
                                 query ? query : "-", batch, resume ? "yes" : "no");
    char *result = g_strdup_printf("judged=%" PRIu64 " worse=%" PRIu64 " failed=%" PRIu64
                                   " to_go=%zu", run.judged, run.worse, run.failed,
                                   run.docids->len - i);
    bool audited = claw_audit_add(run.ar, by, "hunt.rules", args, result) == CLAW_STATUS_SUCCESS;
    if (!audited)
        fprintf(stderr, "%s hunt: %s\n", prog, claw_archive_error(run.ar));
    g_free(args);
    g_free(result);
    claw_engine_destroy(run.engine);
    if (ix)
        cli_search_close(ix);
    else
        claw_archive_close(run.ar);
    g_array_free(run.docids, TRUE);
    rc = run.failed || !audited ? EX_IOERR : run.worse ? 0 : EXIT_NONE;
    return cli_finish_output(prog, rc);
}
