/* cmd-retention.c - claw retention: the mail [retention] lets go of, as a
 * delete plan (the dry run, with what legal holds keep), and its run.
 * clawd makes and runs the same plan once a day; this is the look before,
 * and the run by hand. A retention plan is the rules' doing, not one
 * person's: it needs no second approval (the rules are the approval).
 */
#include "build-config.h"

#include "claw-feed.h"
#include "claw-purge.h"
#include "claw-targets.h"
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

int
claw_cmd_retention(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    bool run = !strcmp(sub, "run");
    if (!run && strcmp(sub, "plan")) {
        bool help = !strcmp(sub, "--help");
        fprintf(help ? stdout : stderr,
                "Usage: %s retention plan|run [--as-of DATE] [--show N|all] [--json]\n"
                "The mail [retention] lets go of, as a delete plan (plan: the dry run; run:\n"
                "made and run). clawd runs it daily by itself.\n",
                prog);
        return help ? 0 : EX_USAGE;
    }
    argc--, argv++;
    bool json = false;
    const char *as_of = NULL, *show_text = NULL;
    const cli_option_t options[] = {{"as-of", 'a', NULL, &as_of},
                                    {"show", 's', NULL, &show_text},
                                    {"json", 'j', &json, NULL},
                                    {0}};
    int rc = cli_parse(prog,
                       "retention plan|run [--as-of DATE] [--show N|all] [--json]\n"
                       "A delete plan of the mail [retention] lets go of now (or as of DATE,\n"
                       "2031-01-01 or 90d from now: what will go then), legal holds keeping what\n"
                       "they hold; plan shows it, run makes and runs it. Nothing due: no plan, 0.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    long show = 20;
    int64_t now = time(NULL), when = now;
    if (!cli_show_count(prog, show_text, &show))
        return EX_USAGE;
    if (as_of && (!claw_feed_parse_time(as_of, now, &when) || when <= 0)) {
        fprintf(stderr, "%s: retention: --as-of %s: expected a date (2031-01-01) or a span "
                        "from now (90d)\n", prog, as_of);
        return EX_USAGE;
    }
    if (!claw_config_retention(cfg, 0)) {
        printf("no [retention] rules: nothing is due\n");
        return cli_finish_output(prog, 0);
    }
    claw_archive_t *ar = NULL;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, true, &ar, &rc);
    if (!ix)
        return rc;
    cli_search_warn_behind(prog, ar, ix);
    GArray *docids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    GPtrArray *rules = g_ptr_array_new();
    char *why = NULL;
    GHashTable *held = NULL;
    uint64_t id = 0;
    if (!claw_retention_due(ix, cfg, when, docids, rules, &why) ||
        !(held = claw_select_held(ar, ix, &why))) {
        fprintf(stderr, "%s: retention: %s: no plan made\n", prog, why);
        g_free(why);
        rc = EX_DATAERR;
    } else if (docids->len) {
        GArray *items = g_array_new(FALSE, TRUE, sizeof(claw_plan_item_t));
        GHashTable *per_rule = g_hash_table_new(g_str_hash, g_str_equal);
        for (guint i = 0; i < docids->len; i++) {
            uint64_t d = g_array_index(docids, uint64_t, i);
            claw_plan_item_t it = {.docid = d, .target = CLAW_TARGET_ARCHIVE, .recipient = "",
                                   .where = "archive", .hold = g_hash_table_lookup(held, &d)};
            g_array_append_val(items, it);
            const char *r = rules->pdata[i];
            g_hash_table_insert(per_rule, (gpointer)r,
                                GSIZE_TO_POINTER(GPOINTER_TO_SIZE(g_hash_table_lookup(per_rule, r)) + 1));
        }
        GString *reason = g_string_new(NULL);
        char day[32];
        cli_fmt_time(day, sizeof day, when, false);
        g_string_append_printf(reason, "as of %s:", day);
        GList *names = g_list_sort(g_hash_table_get_keys(per_rule), (GCompareFunc)strcmp);
        for (GList *n = names; n; n = n->next)
            g_string_append_printf(reason, " %s=%zu", (char *)n->data,
                                   GPOINTER_TO_SIZE(g_hash_table_lookup(per_rule, n->data)));
        g_list_free(names);
        char by[128];
        cli_whoami(by, sizeof by);
        claw_plan_t p = {.action = CLAW_PLAN_DELETE, .source = "retention", .reason = reason->str,
                         .by = by, .created = now};
        if (claw_plan_make(ar, &p, (claw_plan_item_t *)items->data, items->len, UINT64_MAX, 0)) {
            fprintf(stderr, "%s: retention: %s\n", prog, claw_archive_error(ar));
            rc = EX_IOERR;
        } else {
            id = p.id;
        }
        g_string_free(reason, TRUE);
        g_hash_table_destroy(per_rule);
        g_array_free(items, TRUE);
    }
    if (held)
        g_hash_table_destroy(held);
    g_array_free(docids, TRUE);
    g_ptr_array_free(rules, TRUE);
    if (!rc && !id)
        printf("%s\n", json ? "{\"plan\":null}" : "retention: nothing is due");
    else if (!rc && !run)
        rc = cli_purge_print(prog, ar, id, json, show);
    cli_search_close(ix);
    if (!rc && id && run)
        rc = cli_purge_run(prog, cfg, archive, id, json);
    return cli_finish_output(prog, rc);
}
