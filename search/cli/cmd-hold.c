/* cmd-hold.c - claw hold: legal holds (claw-hold.h) added, listed with
 * the messages each holds now (its query asked of the index), and
 * released. */
#include "build-config.h"

#include "claw-hold.h"
#include "claw_xapian.h"
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

/* The messages @hold holds now, or -1 with *@err (g_free) when its query
 * cannot be asked. */
static int64_t
held_now(claw_index_t *ix, const claw_hold_t *hold, char **err)
{
    char *q = claw_hold_query(hold);
    claw_hits_t *hits = NULL;
    char *why = NULL;
    claw_status_t st = claw_index_search(ix, q, CLAW_SORT_DATE, 0, 0, &hits, &why);
    g_free(q);
    if (st) {
        *err = g_strdup(why ? why : claw_status_to_string(st));
        free(why);
        return -1;
    }
    int64_t n = (int64_t)hits->estimated;
    claw_hits_free(hits);
    return n;
}

static int
hold_add(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const char *address = NULL, *reason = NULL;
    const cli_option_t options[] = {{"address", 'a', NULL, &address},
                                    {"reason", 'r', NULL, &reason},
                                    {"json", 'j', &json, NULL},
                                    {0}};
    int rc = cli_parse(prog,
                       "hold add NAME (QUERY... | --address A) [--reason TEXT] [--json]\n"
                       "Hold what a query finds (claw search's language), or every message from\n"
                       "or to an address, against deletion: a purge or retention may quarantine\n"
                       "it, never delete it. The query is asked now, and how many messages it\n"
                       "holds is said; one the index cannot ask adds nothing (65).\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    if (optind >= argc || (address && optind + 1 != argc) || (!address && optind + 1 >= argc)) {
        fprintf(stderr, "%s: hold add: a NAME, then a QUERY or --address A (try --help)\n", prog);
        return EX_USAGE;
    }
    char by[128];
    cli_whoami(by, sizeof by);
    char *query = address ? NULL : cli_join_args(argc - optind - 1, argv + optind + 1);
    char *lower = address ? g_ascii_strdown(address, -1) : NULL;
    claw_hold_t h = {.name = argv[optind], .query = query, .address = lower,
                     .reason = reason, .by = by, .created = time(NULL)};
    claw_archive_t *ar = NULL;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, true, &ar, &rc);
    if (!ix)
        goto out;
    char *err = NULL;
    int64_t n = held_now(ix, &h, &err);
    if (n < 0) {
        fprintf(stderr, "%s: hold add: %s: nothing added\n", prog, err);
        g_free(err);
        rc = EX_DATAERR;
    } else if (claw_hold_add(ar, &h) != CLAW_STATUS_SUCCESS) {
        fprintf(stderr, "%s: hold add: %s\n", prog, claw_archive_error(ar));
        rc = EX_DATAERR;
    } else if (json) {
        printf("{\"id\":%" PRIu64 ",\"held_now\":%" PRId64 "}\n", h.id, n);
    } else {
        printf("hold %" PRIu64 " (%s): %" PRId64 " messages held now\n", h.id, h.name, n);
    }
    cli_search_close(ix);
out:
    g_free(query);
    g_free(lower);
    return rc ? rc : cli_finish_output(prog, 0);
}

typedef struct {
    claw_index_t *ix;
    bool all, json, first;
    GString *out;
} list_run_t;

static bool
list_one(void *ctx, const claw_hold_t *h)
{
    list_run_t *run = ctx;
    if (h->released && !run->all)
        return true;
    char *err = NULL;
    int64_t n = h->released ? -1 : held_now(run->ix, h, &err);
    char created[40], released[40] = "";
    cli_fmt_time(created, sizeof created, h->created, true);
    if (h->released)
        cli_fmt_time(released, sizeof released, h->released, true);
    GString *o = run->out;
    if (run->json) {
        g_string_append(o, run->first ? "" : ",");
        g_string_append_printf(o, "{\"id\":%" PRIu64 ",\"name\":", h->id);
        cli_json_str(o, h->name);
        g_string_append(o, h->query ? ",\"query\":" : ",\"address\":");
        cli_json_str(o, h->query ? h->query : h->address);
        g_string_append(o, ",\"reason\":");
        cli_json_str(o, h->reason);
        g_string_append(o, ",\"by\":");
        cli_json_str(o, h->by);
        g_string_append(o, ",\"created\":");
        cli_json_str(o, created);
        g_string_append(o, ",\"released\":");
        if (h->released)
            cli_json_str(o, released);
        else
            g_string_append(o, "null");
        if (n >= 0)
            g_string_append_printf(o, ",\"held_now\":%" PRId64 "}", n);
        else
            g_string_append(o, ",\"held_now\":null}");
    } else {
        char count[32];
        snprintf(count, sizeof count, "%" PRId64, n);
        char *what = cli_safe_text(h->query ? h->query : h->address, 200);
        char *reason = cli_safe_text(h->reason ? h->reason : "", 200);
        g_string_append_printf(o, "%" PRIu64 "\t%s\t%s\t%s\t%s:%s\t%s\t%s\n", h->id, h->name,
                               h->released ? "released" : "in force", n >= 0 ? count : "-",
                               h->query ? "query" : "address", what, created, reason);
        g_free(what);
        g_free(reason);
    }
    if (err) {
        fprintf(stderr, "hold %" PRIu64 " (%s): its query cannot be asked now: %s\n", h->id,
                h->name, err);
        g_free(err);
    }
    run->first = false;
    return true;
}

static int
hold_list(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false, all = false;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {"all", 'A', &all, NULL}, {0}};
    int rc = cli_parse(prog,
                       "hold list [--all] [--json]\n"
                       "The holds in force (--all: released ones too): id, name, state, messages\n"
                       "held now, what it holds, when it was added, why; tab-separated.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    claw_archive_t *ar = NULL;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, false, &ar, &rc);
    if (!ix)
        return rc;
    list_run_t run = {ix, all, json, true, g_string_new(json ? "[" : "")};
    claw_status_t st = claw_hold_each(ar, list_one, &run);
    if (st) {
        fprintf(stderr, "%s: hold list: %s\n", prog, claw_archive_error(ar));
        rc = EX_IOERR;
    } else {
        if (json)
            g_string_append(run.out, "]\n");
        fputs(run.out->str, stdout);
    }
    g_string_free(run.out, TRUE);
    cli_search_close(ix);
    return rc ? rc : cli_finish_output(prog, 0);
}

static int
hold_release(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    const cli_option_t options[] = {{0}};
    int rc = cli_parse(prog,
                       "hold release NAME|ID\n"
                       "Release a hold in force: kept, marked with when and by whom; its mail may\n"
                       "be deleted again. 1 if there is no such hold in force.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s: hold release: one NAME or ID (try --help)\n", prog);
        return EX_USAGE;
    }
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (!ar)
        return rc;
    char by[128];
    cli_whoami(by, sizeof by);
    uint64_t id = 0;
    claw_status_t st = claw_hold_release(ar, argv[optind], by, time(NULL), &id);
    if (st) {
        fprintf(stderr, "%s: hold release: %s\n", prog, claw_archive_error(ar));
        rc = st == CLAW_STATUS_NOT_FOUND ? 1 : EX_IOERR;
    } else {
        printf("hold %" PRIu64 " released\n", id);
    }
    claw_archive_close(ar);
    return rc ? rc : cli_finish_output(prog, 0);
}

int
claw_cmd_hold(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "add"))
        return hold_add(prog, cfg, archive, argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "list"))
        return hold_list(prog, cfg, archive, argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "release"))
        return hold_release(prog, cfg, archive, argc - 1, argv + 1);
    bool help = argc > 1 && !strcmp(argv[1], "--help");
    fprintf(help ? stdout : stderr,
            "Usage: %s hold add NAME (QUERY... | --address A) [--reason TEXT] [--json]\n"
            "       %s hold list [--all] [--json] | hold release NAME|ID\n"
            "Legal holds: mail a purge or retention may quarantine, never delete.\n",
            prog, prog);
    return help ? 0 : EX_USAGE;
}
