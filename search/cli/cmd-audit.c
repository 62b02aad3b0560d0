/* cmd-audit.c - claw audit: the archive's audit log read (log) and its
 * chain checked (verify). See claw-audit.h. */
#include "build-config.h"

#include "claw-audit.h"
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

typedef struct {
    bool json;
    uint64_t left; /* records still to print; 0: no limit */
    bool limited;
} log_run_t;

static bool
print_record(void *ctx, const claw_audit_t *r)
{
    log_run_t *run = ctx;
    char when[40];
    cli_fmt_time(when, sizeof when, r->time_us / 1000000, true);
    if (run->json) {
        GString *o = g_string_new(NULL);
        g_string_append_printf(o, "{\"seq\":%" PRIu64 ",\"time\":", r->seq);
        cli_json_str(o, when);
        g_string_append(o, ",\"actor\":");
        cli_json_str(o, r->actor);
        g_string_append(o, ",\"action\":");
        cli_json_str(o, r->action);
        g_string_append(o, ",\"args\":");
        cli_json_str(o, r->args);
        g_string_append(o, ",\"result\":");
        cli_json_str(o, r->result);
        g_string_append_printf(o, ",\"prev\":\"%s\",\"hash\":\"%s\"}", r->prev, r->hash);
        puts(o->str);
        g_string_free(o, TRUE);
    } else {
        char *args = cli_safe_text(r->args, 2000), *result = cli_safe_text(r->result, 2000);
        char *actor = cli_safe_text(r->actor, 200);
        printf("%" PRIu64 "\t%s\t%s\t%s\t%s\t%s\n", r->seq, when, actor, r->action, args, result);
        g_free(args);
        g_free(result);
        g_free(actor);
    }
    return !cli_stdout_closed() && (!run->limited || --run->left > 0);
}

static int
audit_log(const char *prog, claw_archive_t *ar, int argc, char **argv)
{
    bool json = false;
    const char *from = NULL, *limit = NULL;
    const cli_option_t options[] = {
        {"json", 'j', &json, NULL}, {"from", 'f', NULL, &from}, {"limit", 'n', NULL, &limit}, {0}};
    int rc = cli_parse(prog,
                       "audit log [--from N] [--limit N] [--json]\n"
                       "The audit log, oldest first: number, time (UTC), actor, action, arguments,\n"
                       "result, tab-separated; --json one object a line, with each record's hash\n"
                       "and the one before's. --from N starts at record N.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    char *end;
    uint64_t first = from ? strtoull(from, &end, 10) : 1;
    uint64_t n = limit ? strtoull(limit, &end, 10) : 0;
    if ((from && (!*from || *end || first == 0)) || (limit && (!*limit || *end || n == 0))) {
        fprintf(stderr, "%s: audit log: --from and --limit take a number from 1\n", prog);
        return EX_USAGE;
    }
    log_run_t run = {json, n, limit != NULL};
    claw_status_t st = claw_audit_each(ar, first, print_record, &run);
    if (st) {
        fprintf(stderr, "%s: audit log: %s\n", prog, claw_archive_error(ar));
        return EX_DATAERR;
    }
    return cli_finish_output(prog, 0);
}

static int
audit_verify(const char *prog, claw_archive_t *ar, int argc, char **argv)
{
    bool json = false;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog,
                       "audit verify [--json]\n"
                       "Check the audit log's chain from its first record to the head: exit 0\n"
                       "when every record is there, in its place and unchanged; 1, naming the\n"
                       "first bad record, when one was edited, removed, reordered or inserted.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    uint64_t count = 0, bad_seq = 0;
    char *bad = NULL, head[65];
    claw_status_t st = claw_audit_verify(ar, &count, &bad, &bad_seq);
    if (st && !bad) {
        fprintf(stderr, "%s: audit verify: %s\n", prog, claw_archive_error(ar));
        return EX_IOERR;
    }
    if (!bad && claw_audit_head(ar, &count, head) != CLAW_STATUS_SUCCESS) {
        fprintf(stderr, "%s: audit verify: %s\n", prog, claw_archive_error(ar));
        return EX_IOERR;
    }
    if (json) {
        GString *o = g_string_new(NULL);
        if (bad) {
            g_string_append_printf(o, "{\"ok\":false,\"records_checked\":%" PRIu64
                                      ",\"first_bad\":%" PRIu64 ",\"why\":",
                                   count, bad_seq);
            cli_json_str(o, bad);
            g_string_append_c(o, '}');
        } else {
            g_string_append_printf(o, "{\"ok\":true,\"records\":%" PRIu64 ",\"head\":\"%s\"}",
                                   count, head);
        }
        puts(o->str);
        g_string_free(o, TRUE);
    } else if (bad) {
        printf("audit log: NOT intact: %s\n", bad);
    } else {
        printf("audit log: intact, %" PRIu64 " records, head %s\n", count, head);
    }
    g_free(bad);
    return cli_finish_output(prog, bad_seq ? 1 : 0);
}

int
claw_cmd_audit(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    static const char usage[] = "audit log [--from N] [--limit N] [--json] | audit verify [--json]\n"
                                "The archive's audit log: every change to indicators and every hunt\n"
                                "kept (and, as they come, plans and purges), recorded with who, what\n"
                                "and when in the change's own transaction, in a hash chain that\n"
                                "verify checks.\n";
    if (argc < 2 || (strcmp(argv[1], "log") && strcmp(argv[1], "verify"))) {
        bool help = argc >= 2 && !strcmp(argv[1], "--help");
        fprintf(help ? stdout : stderr, "Usage: %s %s", prog, usage);
        return help ? 0 : EX_USAGE;
    }
    bool verify = !strcmp(argv[1], "verify");
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help"))
            return verify ? audit_verify(prog, NULL, argc - 1, argv + 1)
                          : audit_log(prog, NULL, argc - 1, argv + 1);
    int rc = 0;
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = cli_open_archive(prog, dir, false, cfg, &rc);
    g_free(dir);
    if (!ar)
        return rc;
    rc = verify ? audit_verify(prog, ar, argc - 1, argv + 1) : audit_log(prog, ar, argc - 1, argv + 1);
    claw_archive_close(ar);
    return rc;
}
