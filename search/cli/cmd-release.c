/* cmd-release.c - claw release: a message the MTA quarantined at reception
 * (withheld from its recipients and delivered to the archive alone)
 * delivered to its original recipients through Exim, once, and logged:
 * to syslog (facility mail, "claw-release: id=... rcpt=... by=...", where
 * an admin and a SIEM read the MTA's own log) and in the audit log.
 *
 * Once: the archive notes the release begun before Exim is given the
 * message and done after (claw_archive_release()); a release found begun
 * and never ended is refused without --again, because Exim may have taken
 * it. Exim is given the stored bytes with an X-Clawback-Release field,
 * which the shipped journal router honours only on a local submission (so
 * the released copy is not archived a second time).
 */
#include "build-config.h"

#include "claw-purge.h"
#include "claw-targets.h"
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

/* Hand @raw (with @extra, a header field, before it) to @command
 * (exim and its first arguments) for @sender and @rcpts: exim's exit
 * status, or -1 when it could not be run; its first line of complaint in
 * *@said (g_free). */
static int
submit(const char *command, const char *sender, GPtrArray *rcpts, const char *extra,
       const char *raw, size_t len, char **said)
{
    GPtrArray *args = g_ptr_array_new();
    /* -oi: a line of a single dot is text; -f: the original sender. */
    g_ptr_array_add(args, "-oi");
    g_ptr_array_add(args, "-f");
    g_ptr_array_add(args, (gpointer)(*sender ? sender : "<>"));
    g_ptr_array_add(args, "--");
    for (guint i = 0; i < rcpts->len; i++)
        g_ptr_array_add(args, rcpts->pdata[i]);
    g_ptr_array_add(args, NULL);
    GString *input = g_string_new(extra);
    g_string_append_len(input, raw, (gssize)len);
    int rc = claw_command_run(command, (const char *const *)args->pdata, input->str, input->len,
                              NULL, said);
    g_string_free(input, TRUE);
    g_ptr_array_free(args, TRUE);
    return rc;
}

int
claw_cmd_release(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool again = false, json = false;
    const cli_option_t options[] = {{"again", 'a', &again, NULL}, {"json", 'j', &json, NULL},
                                    {0}};
    int rc = cli_parse(prog,
                       "release [--again] [--json] ID\n"
                       "Deliver a message the MTA quarantined at reception (X-Clawback-Id ID) to\n"
                       "its original recipients through Exim ([purge] exim), once; logged to\n"
                       "syslog (mail) and the audit log. 1: no such message; 65: not quarantined\n"
                       "at reception; 75: Exim did not take it, or a release of it was cut short\n"
                       "(--again delivers it again).\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    rc = 0;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s: release: one message ID (try --help)\n", prog);
        return EX_USAGE;
    }
    const char *id = argv[optind];
    const char *exim = claw_config_get(cfg, "purge", "exim");
    if (!exim || !*exim) {
        fprintf(stderr, "%s: release: [purge] exim does not say how to run Exim\n", prog);
        return EX_CONFIG;
    }
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, CLI_WRITE, &rc);
    if (!ar)
        return rc;
    uint64_t docid = 0;
    size_t n = 0;
    claw_archive_find_id(ar, id, &docid, 1, &n);
    claw_record_t *r = NULL;
    char *raw = NULL;
    size_t len = 0;
    char by[128];
    cli_whoami(by, sizeof by);
    if (!n || claw_archive_get(ar, docid, &r) || claw_archive_raw(ar, docid, &raw, &len)) {
        fprintf(stderr, "%s: release: %s: no such message in the archive\n", prog, id);
        rc = 1;
        goto out;
    }
    /* Every original recipient, once; the first delivery's sender. */
    GPtrArray *rcpts = g_ptr_array_new();
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; i < r->n_deliveries; i++)
        for (size_t j = 0; j < r->deliveries[i].n_rcpt; j++)
            if (g_hash_table_add(seen, (gpointer)r->deliveries[i].rcpt[j]))
                g_ptr_array_add(rcpts, (gpointer)r->deliveries[i].rcpt[j]);
    g_hash_table_destroy(seen);
    const char *sender = r->n_deliveries && r->deliveries[0].mail_from ? r->deliveries[0].mail_from
                                                                        : "";
    GString *to = g_string_new(NULL);
    for (guint i = 0; i < rcpts->len; i++)
        g_string_append_printf(to, "%s%s", i ? "," : "", (char *)rcpts->pdata[i]);
    claw_status_t st = rcpts->len ? claw_archive_release(ar, docid, by, CLAW_RELEASE_BEGIN, again, "")
                                  : CLAW_STATUS_INVALID_ARGUMENT;
    if (!rcpts->len) {
        fprintf(stderr, "%s: release: %s: the archive knows no recipient of it\n", prog, id);
        rc = EX_DATAERR;
    } else if (st) {
        fprintf(stderr, "%s: release: %s\n", prog, claw_archive_error(ar));
        rc = st == CLAW_STATUS_IO_ERROR ? EX_TEMPFAIL : EX_DATAERR;
    } else {
        char *extra = g_strdup_printf("X-Clawback-Release: %s by %s\n", id, by);
        char *said = NULL;
        int erc = submit(exim, sender, rcpts, extra, raw, len, &said);
        char *detail = g_strdup_printf("to=%s exim=%d%s%s", to->str, erc,
                                       said && *said ? " said=" : "", said ? said : "");
        st = claw_archive_release(ar, docid, by, erc == 0 ? CLAW_RELEASE_DONE : CLAW_RELEASE_ABORT,
                                  false, detail);
        if (erc != 0) {
            fprintf(stderr, "%s: release: %s: Exim did not take it (exit %d%s%s): still "
                            "quarantined\n", prog, id, erc, said && *said ? ": " : "",
                    said ? said : "");
            rc = EX_TEMPFAIL;
        } else if (st) {
            /* Exim has it; the archive could not note it: say so loudly. */
            fprintf(stderr, "%s: release: %s: handed to Exim, but the archive could not note "
                            "it (%s): do not release it again\n", prog, id, claw_archive_error(ar));
            rc = EX_IOERR;
        }
        if (erc == 0) {
            openlog("claw-release", LOG_PID, LOG_MAIL);
            syslog(LOG_NOTICE, "id=%s mail_from=<%s> rcpt=%s by=%s", id, sender, to->str, by);
            closelog();
            if (json) {
                GString *o = g_string_new("{\"id\":");
                cli_json_str(o, id);
                g_string_append(o, ",\"released\":true,\"mail_from\":");
                cli_json_str(o, sender);
                g_string_append(o, ",\"rcpt\":");
                cli_json_split(o, to->str, ",");
                g_string_append(o, ",\"by\":");
                cli_json_str(o, by);
                printf("%s}\n", o->str);
                g_string_free(o, TRUE);
            } else {
                printf("released %s to %s (by %s)\n", id, to->str, by);
            }
        }
        g_free(detail);
        g_free(said);
        g_free(extra);
    }
    g_string_free(to, TRUE);
    g_ptr_array_free(rcpts, TRUE);
out:
    free(raw);
    claw_record_free(r);
    claw_archive_close(ar);
    return cli_finish_output(prog, rc);
}
