/* cmd-purge.c - claw purge (plan, run, status, list, approve, cancel) and
 * claw restore: taking mail back through the store's plans and journal
 * (claw-purge.h). The mail a plan names is asked of the index here, once;
 * the plan then holds the exact copies, and a run touches those alone.
 */
#include "build-config.h"

#include "claw-ioc.h"
#include "claw-purge.h"
#include "claw-targets.h"
#include "claw_xapian.h"
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * What the plan names
 * --------------------------------------------------------------------- */

static bool
add_hit(void *ctx, uint64_t docid, const char *where)
{
    (void)where;
    g_array_append_val((GArray *)ctx, docid);
    return true;
}

/* The messages the holds in force keep, or NULL having said why. */
static GHashTable *
held_messages(const char *prog, claw_archive_t *ar, claw_index_t *ix)
{
    char *why = NULL;
    GHashTable *held = claw_select_held(ar, ix, &why);
    if (!held) {
        fprintf(stderr, "%s: %s\n", prog, why);
        g_free(why);
    }
    return held;
}

/* ------------------------------------------------------------------------
 * Showing plans and copies
 * --------------------------------------------------------------------- */

static void
plan_json(GString *o, const claw_plan_t *p)
{
    char created[40], expires[40] = "", approved[40] = "";
    cli_fmt_time(created, sizeof created, p->created, true);
    g_string_append_printf(o, "{\"plan\":%" PRIu64 ",\"action\":\"%s\",\"state\":\"%s\",",
                           p->id, claw_plan_action_name(p->action), claw_plan_state_name(p->state));
    g_string_append(o, "\"source\":");
    cli_json_str(o, p->source);
    g_string_append(o, ",\"reason\":");
    cli_json_str(o, p->reason);
    g_string_append(o, ",\"by\":");
    cli_json_str(o, p->by);
    g_string_append(o, ",\"created\":");
    cli_json_str(o, created);
    if (p->expires) {
        cli_fmt_time(expires, sizeof expires, p->expires, true);
        g_string_append(o, ",\"expires\":");
        cli_json_str(o, expires);
    }
    if (p->approved) {
        cli_fmt_time(approved, sizeof approved, p->approved, true);
        g_string_append(o, ",\"approved_by\":");
        cli_json_str(o, p->approved_by);
        g_string_append(o, ",\"approved\":");
        cli_json_str(o, approved);
    }
    if (p->restores)
        g_string_append_printf(o, ",\"restores\":%" PRIu64, p->restores);
    g_string_append_printf(o, ",\"copies\":%" PRIu64 ",\"by_status\":{", p->n_copies);
    for (int i = 0; i < CLAW_COPY_N_STATUS; i++)
        g_string_append_printf(o, "%s\"%s\":%" PRIu64, i ? "," : "",
                               claw_copy_status_name((claw_copy_status_t)i), p->count[i]);
    g_string_append(o, "}}");
}

static void
plan_text(GString *o, const claw_plan_t *p)
{
    char created[40];
    cli_fmt_time(created, sizeof created, p->created, true);
    char *source = cli_safe_text(p->source, 200);
    g_string_append_printf(o, "plan %" PRIu64 ": %s %s, %" PRIu64 " copies, %s by %s at %s\n",
                           p->id, claw_plan_action_name(p->action), source, p->n_copies,
                           claw_plan_state_name(p->state), p->by, created);
    g_free(source);
    if (p->state == CLAW_PLAN_AWAITING) {
        char expires[40];
        cli_fmt_time(expires, sizeof expires, p->expires, true);
        g_string_append_printf(o, "  awaits approval by another user (claw purge approve %" PRIu64
                                  ") before %s\n", p->id, expires);
    }
    if (p->reason && *p->reason) {
        char *reason = cli_safe_text(p->reason, 400);
        g_string_append_printf(o, "  reason: %s\n", reason);
        g_free(reason);
    }
    if (p->approved)
        g_string_append_printf(o, "  approved by %s\n", p->approved_by);
    if (p->n_copies) {
        g_string_append(o, " ");
        for (int i = 0; i < CLAW_COPY_N_STATUS; i++)
            if (p->count[i])
                g_string_append_printf(o, " %s=%" PRIu64,
                                       claw_copy_status_name((claw_copy_status_t)i), p->count[i]);
        g_string_append(o, "\n");
    }
}

typedef struct {
    bool json, first;
    long show; /* copies listed; -1: all */
    long shown;
    GString *out;
    GHashTable *by_target, *by_rcpt; /* name -> count */
} copies_run_t;

static void
count_in(GHashTable *t, const char *k)
{
    gpointer v = g_hash_table_lookup(t, k);
    g_hash_table_insert(t, g_strdup(k), GSIZE_TO_POINTER(GPOINTER_TO_SIZE(v) + 1));
}

static bool
show_copy(void *ctx, const claw_copy_t *c)
{
    copies_run_t *run = ctx;
    count_in(run->by_target, claw_target_name(c->target));
    if (*c->recipient)
        count_in(run->by_rcpt, c->recipient);
    if (run->show >= 0 && run->shown >= run->show)
        return true;
    run->shown++;
    GString *o = run->out;
    if (run->json) {
        g_string_append_printf(o, "%s{\"copy\":%u,\"docid\":%" PRIu64 ",\"target\":\"%s\","
                                  "\"status\":\"%s\",\"id\":",
                               run->first ? "" : ",", c->n, c->docid, claw_target_name(c->target),
                               claw_copy_status_name(c->status));
        cli_json_str(o, c->id);
        g_string_append(o, ",\"recipient\":");
        cli_json_str(o, c->recipient);
        g_string_append(o, ",\"where\":");
        cli_json_str(o, c->where);
        g_string_append(o, ",\"detail\":");
        cli_json_str(o, c->detail);
        g_string_append(o, ",\"hold\":");
        cli_json_str(o, c->hold);
        g_string_append(o, "}");
    } else {
        char *where = cli_safe_text(c->where, 200), *detail = cli_safe_text(c->detail, 200);
        g_string_append_printf(o, "%u\t%s\t%s\t%s\t%s\t%s\t%s%s%s\n", c->n,
                               claw_copy_status_name(c->status), claw_target_name(c->target),
                               c->id, *c->recipient ? c->recipient : "-", where, detail,
                               *c->hold ? " hold=" : "", c->hold);
        g_free(where);
        g_free(detail);
    }
    run->first = false;
    return !cli_stdout_closed();
}

static void
counts_json(GString *o, const char *name, GHashTable *t)
{
    g_string_append_printf(o, ",\"%s\":{", name);
    GList *keys = g_list_sort(g_hash_table_get_keys(t), (GCompareFunc)strcmp);
    for (GList *k = keys; k; k = k->next) {
        cli_json_str(o, k->data);
        g_string_append_printf(o, ":%zu%s", GPOINTER_TO_SIZE(g_hash_table_lookup(t, k->data)),
                               k->next ? "," : "");
    }
    g_list_free(keys);
    g_string_append(o, "}");
}

static void
counts_text(GString *o, const char *name, GHashTable *t)
{
    if (!g_hash_table_size(t))
        return;
    g_string_append_printf(o, "  %s:", name);
    GList *keys = g_list_sort(g_hash_table_get_keys(t), (GCompareFunc)strcmp);
    for (GList *k = keys; k; k = k->next)
        g_string_append_printf(o, " %s=%zu", (char *)k->data,
                               GPOINTER_TO_SIZE(g_hash_table_lookup(t, k->data)));
    g_list_free(keys);
    g_string_append(o, "\n");
}

int
cli_purge_print(const char *prog, claw_archive_t *ar, uint64_t id, bool json, long show)
{
    claw_plan_t p;
    claw_status_t st = claw_plan_get(ar, id, &p);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, claw_archive_error(ar));
        return st == CLAW_STATUS_NOT_FOUND ? 1 : EX_IOERR;
    }
    copies_run_t run = {json, true, show, 0, g_string_new(NULL),
                        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL)};
    GString *list = run.out;
    st = claw_plan_copies(ar, id, show_copy, &run);
    GString *o = g_string_new(NULL);
    if (json) {
        plan_json(o, &p);
        g_string_truncate(o, o->len - 1);
        counts_json(o, "by_target", run.by_target);
        counts_json(o, "by_recipient", run.by_rcpt);
        g_string_append_printf(o, ",\"list\":[%s]}\n", list->str);
    } else {
        plan_text(o, &p);
        counts_text(o, "by target", run.by_target);
        counts_text(o, "by recipient", run.by_rcpt);
        if (list->len)
            g_string_append_printf(o, "copy\tstatus\ttarget\tid\trecipient\twhere\tdetail\n%s",
                                   list->str);
        if (show && run.shown < (long)p.n_copies)
            g_string_append_printf(o, "(%" PRIu64 " more: --show all)\n",
                                   p.n_copies - (uint64_t)run.shown);
    }
    fputs(o->str, stdout);
    g_string_free(o, TRUE);
    g_string_free(list, TRUE);
    g_hash_table_destroy(run.by_target);
    g_hash_table_destroy(run.by_rcpt);
    claw_plan_clear(&p);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, claw_archive_error(ar));
        return EX_IOERR;
    }
    return 0;
}

static bool
plan_id_of(const char *prog, const char *text, uint64_t *id)
{
    char *end;
    *id = text && g_ascii_isdigit(text[0]) ? g_ascii_strtoull(text, &end, 10) : 0;
    if (!*id || *end) {
        fprintf(stderr, "%s: '%s' is not a plan number\n", prog, text ? text : "");
        return false;
    }
    return true;
}

bool
cli_show_count(const char *prog, const char *text, long *show)
{
    if (!text)
        return true;
    if (!strcmp(text, "all")) {
        *show = -1;
        return true;
    }
    char *end;
    *show = strtol(text, &end, 10);
    if (*end || end == text || *show < 0) {
        fprintf(stderr, "%s: --show wants a count or 'all', got '%s'\n", prog, text);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------
 * claw purge plan
 * --------------------------------------------------------------------- */

/* The targets [purge] configures, into @t: 0 or EX_CONFIG (said). */
static int
targets_open(const char *prog, claw_config_t *cfg, const char *archive, claw_targets_t *t)
{
    char *dir = cli_archive_dir(cfg, archive), *err = NULL;
    bool ok = claw_targets_open(cfg, dir, t, &err);
    g_free(dir);
    if (!ok) {
        fprintf(stderr, "%s: %s\n", prog, err);
        g_free(err);
    }
    return ok ? 0 : EX_CONFIG;
}

/* --targets: archive, maildir, dovecot, or mailbox (every mailbox target
 * configured). */
static bool
targets_of(const char *prog, const char *text, bool want[CLAW_TARGET_N])
{
    memset(want, 0, CLAW_TARGET_N * sizeof want[0]);
    char **parts = g_strsplit(text, ",", -1);
    bool ok = true;
    for (char **t = parts; *t && ok; t++) {
        const char *name = g_strstrip(*t);
        int i = claw_target_from_name(name);
        if (!strcmp(name, "mailbox")) {
            want[CLAW_TARGET_MAILDIR] = want[CLAW_TARGET_DOVECOT] = true;
        } else if (i < 0) {
            fprintf(stderr, "%s: unknown target '%s' (archive, mailbox, maildir, dovecot, queue)\n",
                    prog, name);
            ok = false;
        } else {
            want[i] = true;
        }
    }
    g_strfreev(parts);
    return ok;
}

static int
purge_plan(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const char *hunt = NULL, *ioc = NULL, *action_text = "quarantine", *targets_text = "archive",
               *reason = "", *show_text = NULL;
    const cli_option_t options[] = {{"hunt", 'H', NULL, &hunt},
                                    {"ioc", 'i', NULL, &ioc},
                                    {"action", 'a', NULL, &action_text},
                                    {"targets", 't', NULL, &targets_text},
                                    {"reason", 'r', NULL, &reason},
                                    {"show", 's', NULL, &show_text},
                                    {"json", 'j', &json, NULL},
                                    {0}};
    int rc = cli_parse(prog,
                       "purge plan (--hunt ID | --ioc ID | QUERY...) [--action quarantine|delete]\n"
                       "       [--targets archive,mailbox,queue] [--reason TEXT] [--show N|all] "
                       "[--json]\n"
                       "Make a plan: the exact copies the mail named will lose, counted by\n"
                       "target and recipient, and what legal holds keep from a delete. Nothing\n"
                       "is touched: this is the dry run; claw purge run PLAN does it. A plan\n"
                       "over [purge] approval_threshold copies awaits a second person.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    int named = (hunt != NULL) + (ioc != NULL) + (optind < argc);
    int action = claw_plan_action_from_name(action_text);
    bool want[CLAW_TARGET_N];
    long show = 20;
    if (named != 1) {
        fprintf(stderr, "%s: purge plan: one of --hunt ID, --ioc ID or a QUERY (try --help)\n",
                prog);
        return EX_USAGE;
    }
    if (action != CLAW_PLAN_QUARANTINE && action != CLAW_PLAN_DELETE) {
        fprintf(stderr, "%s: purge plan: --action quarantine or delete (restore: claw restore)\n",
                prog);
        return EX_USAGE;
    }
    if (!targets_of(prog, targets_text, want) || !cli_show_count(prog, show_text, &show))
        return EX_USAGE;
    claw_targets_t targets;
    if ((rc = targets_open(prog, cfg, archive, &targets)))
        return rc;
    bool explicit_maildir = strstr(targets_text, "maildir") != NULL;
    bool explicit_dovecot = strstr(targets_text, "dovecot") != NULL;
    if (want[CLAW_TARGET_QUEUE] && !targets.exim) {
        fprintf(stderr, "%s: purge plan: --targets queue, but [purge] exim does not say how to "
                        "run Exim\n", prog);
        claw_targets_close(&targets);
        return EX_CONFIG;
    }
    if ((explicit_maildir && !targets.maildir) || (explicit_dovecot && !targets.dovecot) ||
        ((want[CLAW_TARGET_MAILDIR] || want[CLAW_TARGET_DOVECOT]) && !targets.maildir &&
         !targets.dovecot)) {
        fprintf(stderr, "%s: purge plan: --targets %s, but [purge] does not say where the "
                        "mailboxes are (maildir, doveadm)\n", prog, targets_text);
        claw_targets_close(&targets);
        return EX_CONFIG;
    }
    claw_archive_t *ar = NULL;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, true, &ar, &rc);
    if (!ix) {
        claw_targets_close(&targets);
        return rc;
    }
    cli_search_warn_behind(prog, ar, ix);
    GArray *docids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    char *source = NULL;
    if (hunt) {
        uint64_t h = 0;
        if (!plan_id_of(prog, hunt, &h)) {
            rc = EX_USAGE;
        } else if (claw_hunt_each_hit(ar, h, add_hit, docids) != CLAW_STATUS_SUCCESS) {
            fprintf(stderr, "%s: purge plan: %s\n", prog, claw_archive_error(ar));
            rc = EX_DATAERR;
        }
        source = g_strdup_printf("hunt:%s", hunt);
    } else {
        char *q = ioc ? g_strdup_printf("ioc:%s", ioc) : cli_join_args(argc - optind, argv + optind);
        char *why = NULL;
        if (!claw_select_query(ix, q, docids, &why)) {
            fprintf(stderr, "%s: purge plan: %s\n", prog, why);
            g_free(why);
            rc = EX_DATAERR;
        }
        source = ioc ? g_strdup_printf("ioc:%s", ioc) : g_strdup_printf("query:%s", q);
        g_free(q);
    }
    GHashTable *held = NULL;
    if (!rc && action == CLAW_PLAN_DELETE && !(held = held_messages(prog, ar, ix)))
        rc = EX_TEMPFAIL;
    if (!rc) {
        claw_select_unique(docids);
        GArray *items = g_array_new(FALSE, TRUE, sizeof(claw_plan_item_t));
        GStringChunk *strings = g_string_chunk_new(4096);
        char *why = NULL;
        if (!claw_targets_plan(&targets, ar, want, (const uint64_t *)docids->data, docids->len,
                               held ? claw_select_held_check : NULL, held, items, strings,
                               &why)) {
            fprintf(stderr, "%s: purge plan: %s: no plan made\n", prog, why);
            g_free(why);
            rc = EX_TEMPFAIL; /* a mailbox that cannot be asked */
        }
        char by[128];
        cli_whoami(by, sizeof by);
        int64_t threshold = 0, expiry_ms = 0;
        claw_config_get_int(cfg, "purge", "approval_threshold", &threshold);
        claw_config_get_duration_ms(cfg, "purge", "approval_expiry", &expiry_ms);
        claw_plan_t p = {.action = (claw_plan_action_t)action, .source = source,
                         .reason = reason, .by = by, .created = time(NULL)};
        claw_status_t st = rc ? CLAW_STATUS_SUCCESS
                              : claw_plan_make(ar, &p, (claw_plan_item_t *)items->data,
                                               items->len, (uint64_t)threshold, expiry_ms / 1000);
        g_array_free(items, TRUE);
        g_string_chunk_free(strings);
        if (st) {
            fprintf(stderr, "%s: purge plan: %s\n", prog, claw_archive_error(ar));
            rc = EX_IOERR;
        } else if (!rc) {
            rc = cli_purge_print(prog, ar, p.id, json, show);
        }
    }
    if (held)
        g_hash_table_destroy(held);
    g_array_free(docids, TRUE);
    g_free(source);
    cli_search_close(ix);
    claw_targets_close(&targets);
    return cli_finish_output(prog, rc);
}

/* ------------------------------------------------------------------------
 * claw purge run, claw restore
 * --------------------------------------------------------------------- */

typedef struct {
    bool tty;
    gint64 start;
} run_progress_t;

static void
run_progress(void *ctx, const claw_plan_t *p, uint64_t done)
{
    run_progress_t *rp = ctx;
    if (!rp->tty)
        return;
    uint64_t finished = p->n_copies - p->count[CLAW_COPY_PLANNED] - p->count[CLAW_COPY_STARTED];
    char what[64];
    snprintf(what, sizeof what, "%" PRIu64 " failed", p->count[CLAW_COPY_FAILED]);
    cli_progress_bar((size_t)finished, (size_t)p->n_copies, rp->start, done, what, false);
}

int
cli_purge_run(const char *prog, claw_config_t *cfg, const char *archive, uint64_t id, bool json)
{
    int rc = 0;
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = NULL;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, true, &ar, &rc);
    if (!ix) {
        g_free(dir);
        return rc;
    }
    claw_plan_t p;
    claw_status_t st = claw_plan_get(ar, id, &p);
    GHashTable *held = NULL;
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, claw_archive_error(ar));
        rc = st == CLAW_STATUS_NOT_FOUND ? 1 : EX_IOERR;
    } else if (p.action == CLAW_PLAN_DELETE && !(held = held_messages(prog, ar, ix))) {
        rc = EX_TEMPFAIL; /* holds that cannot be asked: delete nothing */
    }
    claw_plan_clear(&p);
    claw_targets_t targets = {0};
    if (!rc)
        rc = targets_open(prog, cfg, archive, &targets);
    if (!rc) {
        char by[128];
        cli_whoami(by, sizeof by);
        run_progress_t rp = {isatty(STDERR_FILENO), g_get_monotonic_time()};
        claw_plan_run_options_t opt = {.by = by, .held = held ? claw_select_held_check : NULL,
                                       .held_ctx = held, .progress = run_progress,
                                       .progress_ctx = &rp};
        claw_targets_for_run(&targets, &opt);
        st = claw_plan_run(ar, id, &opt, &p);
        if (rp.tty)
            fputc('\n', stderr);
        if (st) {
            fprintf(stderr, "%s: purge run: %s\n", prog, claw_archive_error(ar));
            rc = st == CLAW_STATUS_INVALID_ARGUMENT ? EX_DATAERR
                 : st == CLAW_STATUS_NOT_FOUND      ? 1
                                                    : EX_TEMPFAIL;
        } else {
            int irc = cli_index_catch_up(prog, cfg, ar, true);
            rc = p.state == CLAW_PLAN_DONE ? irc : EX_TEMPFAIL;
            if (p.state != CLAW_PLAN_DONE)
                fprintf(stderr, "%s: purge run: %" PRIu64 " copies failed: run it again\n", prog,
                        p.count[CLAW_COPY_FAILED]);
        }
        claw_plan_clear(&p);
    }
    if (held)
        g_hash_table_destroy(held);
    claw_targets_close(&targets);
    int prc = rc == 0 || rc == EX_TEMPFAIL ? cli_purge_print(prog, ar, id, json, 0) : 0;
    cli_search_close(ix);
    g_free(dir);
    return cli_finish_output(prog, rc ? rc : prc);
}

static int
purge_run(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog,
                       "purge run PLAN [--json]\n"
                       "Do what plan PLAN lists, copy by copy, each step in the journal; a run\n"
                       "cut short (a crash, kill -9) is finished by running it again. 0 when\n"
                       "every copy is finished, 75 when some failed (run it again), 65 for a\n"
                       "plan awaiting approval, expired or cancelled.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    uint64_t id;
    if (optind + 1 != argc || !plan_id_of(prog, argv[optind], &id))
        return EX_USAGE;
    return cli_purge_run(prog, cfg, archive, id, json);
}

typedef struct {
    GArray *items; /* claw_plan_item_t */
    GStringChunk *s;
    uint64_t only;  /* just this docid, or 0 */
} restore_items_t;

static bool
restorable(void *ctx, const claw_copy_t *c)
{
    restore_items_t *r = ctx;
    if (c->status != CLAW_COPY_DONE || (r->only && c->docid != r->only))
        return true;
    claw_plan_item_t it = {.docid = c->docid,
                           .target = c->target,
                           .recipient = g_string_chunk_insert(r->s, c->recipient),
                           .where = g_string_chunk_insert(r->s, c->where),
                           .from = g_string_chunk_insert(r->s, c->detail)};
    g_array_append_val(r->items, it);
    return true;
}

int
claw_cmd_restore(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const char *reason = "";
    const cli_option_t options[] = {{"reason", 'r', NULL, &reason}, {"json", 'j', &json, NULL},
                                    {0}};
    int rc = cli_parse(prog,
                       "restore PLAN|ID [--reason TEXT] [--json]\n"
                       "Put back what quarantine plan PLAN took, copy for copy, or every copy\n"
                       "of the message with X-Clawback-Id ID that a plan quarantined: a restore\n"
                       "plan, made and run at once. Erased copies cannot come back.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s: restore: one PLAN or message ID (try --help)\n", prog);
        return EX_USAGE;
    }
    const char *what = argv[optind];
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (!ar)
        return rc;
    uint64_t plan = 0, docid = 0;
    char *end;
    if (g_ascii_isdigit(what[0]) && (plan = g_ascii_strtoull(what, &end, 10)) && !*end) {
        /* a plan number */
    } else {
        size_t n = 0;
        claw_msg_state_t state = CLAW_MSG_ABSENT;
        plan = 0;
        claw_archive_find_id(ar, what, &docid, 1, &n);
        if (n)
            claw_archive_msg_state(ar, docid, &state, &plan);
        if (!n || state != CLAW_MSG_QUARANTINED || !plan) {
            fprintf(stderr, "%s: restore: %s: %s\n", prog, what,
                    !n                               ? "no message with this id (or a plan number)"
                    : state != CLAW_MSG_QUARANTINED ? "not quarantined"
                                                     : "quarantined at reception: claw release "
                                                       "delivers it");
            claw_archive_close(ar);
            return 1;
        }
    }
    claw_plan_t q;
    claw_status_t st = claw_plan_get(ar, plan, &q);
    if (st || q.action != CLAW_PLAN_QUARANTINE) {
        fprintf(stderr, "%s: restore: %s\n", prog,
                st ? claw_archive_error(ar) : "only a quarantine can be restored");
        claw_plan_clear(&q);
        claw_archive_close(ar);
        return st == CLAW_STATUS_NOT_FOUND ? 1 : EX_DATAERR;
    }
    restore_items_t ri = {g_array_new(FALSE, TRUE, sizeof(claw_plan_item_t)),
                          g_string_chunk_new(4096), docid};
    st = claw_plan_copies(ar, plan, restorable, &ri);
    char by[128];
    cli_whoami(by, sizeof by);
    char *source = g_strdup_printf("plan:%" PRIu64 "%s%s", plan, docid ? " id:" : "",
                                   docid ? what : "");
    claw_plan_t p = {.action = CLAW_PLAN_RESTORE, .source = source, .reason = reason, .by = by,
                     .created = time(NULL), .restores = plan};
    if (!st)
        st = claw_plan_make(ar, &p, (claw_plan_item_t *)ri.items->data, ri.items->len,
                            UINT64_MAX, 0);
    if (st) {
        fprintf(stderr, "%s: restore: %s\n", prog, claw_archive_error(ar));
        rc = EX_IOERR;
    }
    g_free(source);
    g_array_free(ri.items, TRUE);
    g_string_chunk_free(ri.s);
    claw_plan_clear(&q);
    claw_archive_close(ar);
    return rc ? rc : cli_purge_run(prog, cfg, archive, p.id, json);
}

/* ------------------------------------------------------------------------
 * status, list, approve, cancel
 * --------------------------------------------------------------------- */

static int
purge_status(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const char *show_text = NULL;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {"show", 's', NULL, &show_text},
                                    {0}};
    int rc = cli_parse(prog,
                       "purge status PLAN [--show N|all] [--json]\n"
                       "A plan: its state, its copies counted by status, target and recipient,\n"
                       "and its first N copies (20) with where each went.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    uint64_t id;
    long show = 20;
    if (optind + 1 != argc || !plan_id_of(prog, argv[optind], &id) ||
        !cli_show_count(prog, show_text, &show))
        return EX_USAGE;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, false, &rc);
    if (!ar)
        return rc;
    rc = cli_purge_print(prog, ar, id, json, show);
    claw_archive_close(ar);
    return cli_finish_output(prog, rc);
}

typedef struct {
    bool json, first;
    GString *out;
} list_run_t;

static bool
list_one(void *ctx, const claw_plan_t *p)
{
    list_run_t *run = ctx;
    if (run->json) {
        g_string_append(run->out, run->first ? "" : ",");
        plan_json(run->out, p);
    } else {
        plan_text(run->out, p);
    }
    run->first = false;
    return true;
}

static int
purge_list(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog, "purge list [--json]\nEvery plan, newest first.\n", options, false,
                       argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, false, &rc);
    if (!ar)
        return rc;
    list_run_t run = {json, true, g_string_new(json ? "[" : "")};
    if (claw_plan_each(ar, list_one, &run) != CLAW_STATUS_SUCCESS) {
        fprintf(stderr, "%s: purge list: %s\n", prog, claw_archive_error(ar));
        rc = EX_IOERR;
    } else {
        if (json)
            g_string_append(run.out, "]\n");
        fputs(run.out->str, stdout);
    }
    g_string_free(run.out, TRUE);
    claw_archive_close(ar);
    return cli_finish_output(prog, rc);
}

static int
purge_decide(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv,
             bool approve)
{
    const cli_option_t options[] = {{0}};
    int rc = cli_parse(prog,
                       approve ? "purge approve PLAN\n"
                                 "Approve a plan awaiting a second person: you, not its maker.\n"
                               : "purge cancel PLAN\nCancel a plan not begun.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    uint64_t id;
    if (optind + 1 != argc || !plan_id_of(prog, argv[optind], &id))
        return EX_USAGE;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (!ar)
        return rc;
    char by[128];
    cli_whoami(by, sizeof by);
    claw_status_t st = approve ? claw_plan_approve(ar, id, by, time(NULL))
                               : claw_plan_cancel(ar, id, by, time(NULL));
    if (st) {
        fprintf(stderr, "%s: purge %s: %s\n", prog, approve ? "approve" : "cancel",
                claw_archive_error(ar));
        rc = st == CLAW_STATUS_NOT_FOUND ? 1 : st == CLAW_STATUS_INVALID_ARGUMENT ? EX_NOPERM
                                                                                  : EX_IOERR;
    } else {
        printf("plan %" PRIu64 " %s by %s\n", id, approve ? "approved" : "cancelled", by);
    }
    claw_archive_close(ar);
    return cli_finish_output(prog, rc);
}

int
claw_cmd_purge(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(sub, "plan"))
        return purge_plan(prog, cfg, archive, argc - 1, argv + 1);
    if (!strcmp(sub, "run"))
        return purge_run(prog, cfg, archive, argc - 1, argv + 1);
    if (!strcmp(sub, "status"))
        return purge_status(prog, cfg, archive, argc - 1, argv + 1);
    if (!strcmp(sub, "list"))
        return purge_list(prog, cfg, archive, argc - 1, argv + 1);
    if (!strcmp(sub, "approve") || !strcmp(sub, "cancel"))
        return purge_decide(prog, cfg, archive, argc - 1, argv + 1, !strcmp(sub, "approve"));
    bool help = !strcmp(sub, "--help");
    fprintf(help ? stdout : stderr,
            "Usage: %s purge plan (--hunt ID | --ioc ID | QUERY...) [--action quarantine|delete]\n"
            "                [--targets archive,mailbox,queue] [--reason TEXT] [--show N|all] [--json]\n"
            "       %s purge run PLAN | status PLAN | list | approve PLAN | cancel PLAN\n"
            "Take mail back: a plan is the dry run, its run does exactly what it lists.\n",
            prog, prog);
    return help ? 0 : EX_USAGE;
}
