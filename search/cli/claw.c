/* claw - the investigator's command-line tool: the dispatcher.
 *
 *   claw [--config FILE] scan [--config FILE] [--json] [--set S.N=VALUE]... FILE... | -
 *   claw [--config FILE] [--archive DIR] import|search|show|export|stats|check|reindex ...
 *   claw --check-config FILE
 *   claw --dump-config [--config FILE]
 *
 * This program reads the global options and runs the command from the
 * module that holds it (cli-module.h says why); it links libc alone, so
 * --help, --version and usage errors load nothing else.
 *
 * Exit status: claw(1), EXIT STATUS (sysexits.h style).
 */
#include "build-config.h"

#include "claw.h" /* CLAW_DEFAULT_CONFIG alone: no libclaw function */
#include "cli-module.h"
#include "query-wire.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static const char *progname = "claw";

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [--config FILE] COMMAND [OPTIONS] [ARGS]\n"
            "       %s --check-config FILE\n"
            "       %s --dump-config [--config FILE]\n"
            "\n"
            "Commands:\n"
            "  scan [--config FILE] [--json] [--set SECTION.NAME=VALUE]... FILE... | -\n"
            "        Parse each message and print its model: a readable summary, or one\n"
            "        JSON object per line with --json. '-' reads one message from stdin.\n"
            "  import [--quiet] [--json] [--no-index] PATH...\n"
            "        Store and index Maildirs, mbox files, messages and trees of them.\n"
            "  search [--json] [--ids] [--count] [--limit N] [--offset N]\n"
            "         [--sort date|relevance] [--explain] QUERY...\n"
            "        Search the archive (QUERY LANGUAGE in claw(1)); exit 1 if no match.\n"
            "  show [--raw|--headers|--json] ID...\n"
            "        One archived message: ID is its X-Clawback-Id, SHA-256 or #docid.\n"
            "  export (--mbox FILE | --dir DIR) [--json] QUERY...\n"
            "        Write the messages a query finds to an mbox file or a directory.\n"
            "  stats [--json]                 what the archive holds and its size\n"
            "  check [--deep] [--json]        store and index agree; xapian-check is clean\n"
            "  reindex [--catch-up] [--json]  rebuild the index from the store (or catch up)\n"
            "  ioc add|list|show|revoke|import ...\n"
            "        The archive's indicators, published for the MTA (claw ioc --help).\n"
            "  hunt [--json] [--count] [--limit N] ID|VALUE...\n"
            "        Every archived message that holds each indicator, of any age.\n"
            "  audit log|verify [--json]      the audit log, and its hash chain checked\n"
            "  hold add|list|release ...      legal holds: mail never to be deleted\n"
            "  purge plan|run|status|list|approve|cancel ...\n"
            "        Take mail back: a plan (the dry run), then its run, journaled.\n"
            "  restore PLAN|ID                put back what a plan quarantined\n"
            "  release ID                     deliver mail quarantined at reception, once\n"
            "  retention plan|run [--as-of DATE]\n"
            "        The mail [retention] lets go of, as a delete plan (clawd: daily).\n"
            "  compact                        the store without its free pages (clawd stopped)\n"
            "  serve [--socket PATH] [--workers N] [--group NAME]\n"
            "        Answer search and show for the members of NAME (clawback-read) on a\n"
            "        socket: searching without access to the archive, every read audited.\n"
            "  COMMAND --help                 the command's usage\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE        configuration file (default %s;\n"
            "                           built-in defaults if that does not exist)\n"
            "  -a, --archive DIR        the archive (default: [archive] path)\n"
            "      --check-config FILE  check FILE and report file:line: message\n"
            "      --dump-config        print the effective configuration, documented\n"
            "  -s, --set S.N=VALUE      override one option for this run\n"
            "  -j, --json               JSON output\n"
            "  -h, --help               this help\n"
            "  -V, --version            print the version\n"
            "\n"
            "Exit status: 0 success; 1 no match, not a message, problems found; 2 some\n"
            "input unreadable; 64 usage, 65 bad query, 66 no such input, 70 internal,\n"
            "74 I/O error, 78 config error (all in claw(1)).\n",
            progname, progname, progname, CLAW_DEFAULT_CONFIG);
}

/* Which module holds each command. */
static const struct {
    const char *command;
    const char *module;
} commands[] = {
    {"scan", CLAW_CLI_MAIL_MODULE},       {"--check-config", CLAW_CLI_MAIL_MODULE},
    {"--dump-config", CLAW_CLI_MAIL_MODULE}, {"import", CLAW_CLI_ARCHIVE_MODULE},
    {"search", CLAW_CLI_ARCHIVE_MODULE},  {"show", CLAW_CLI_ARCHIVE_MODULE},
    {"export", CLAW_CLI_ARCHIVE_MODULE},  {"stats", CLAW_CLI_ARCHIVE_MODULE},
    {"check", CLAW_CLI_ARCHIVE_MODULE},   {"reindex", CLAW_CLI_ARCHIVE_MODULE},
    {"ioc", CLAW_CLI_IOC_MODULE},     {"hunt", CLAW_CLI_ARCHIVE_MODULE},
    {"audit", CLAW_CLI_ARCHIVE_MODULE}, {"hold", CLAW_CLI_ARCHIVE_MODULE},
    {"purge", CLAW_CLI_ARCHIVE_MODULE}, {"restore", CLAW_CLI_ARCHIVE_MODULE},
    {"compact", CLAW_CLI_ARCHIVE_MODULE}, {"retention", CLAW_CLI_ARCHIVE_MODULE},
    {"release", CLAW_CLI_ARCHIVE_MODULE}, {"serve", CLAW_CLI_SERVE_MODULE},
};

/* Where the modules are: $CLAW_MODULE_DIR; else, for a claw run from the
 * build tree, the modules libtool built beside it in .libs/; else where
 * they are installed. */
static const char *
module_dir(char *buf, size_t size)
{
    const char *env = getenv("CLAW_MODULE_DIR");
    if (env && *env)
        return env;
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    char *slash = n > 0 ? memrchr(buf, '/', (size_t)n) : NULL;
    if (slash && (size_t)(slash - buf) + sizeof "/.libs/" CLAW_CLI_ARCHIVE_MODULE < size) {
        strcpy(slash, "/.libs/" CLAW_CLI_ARCHIVE_MODULE);
        if (access(buf, F_OK) == 0) {
            strrchr(buf, '/')[0] = '\0';
            return buf;
        }
    }
    return CLAW_MODULE_DIR;
}

/* Run @call's command from its module. */
static int
run_command(claw_cli_call_t *call)
{
    const char *module = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(call->command, commands[i].command) == 0)
            module = commands[i].module;
    if (!module) {
        fprintf(stderr, "%s: unknown command '%s' (try --help)\n", progname, call->command);
        return EX_USAGE;
    }
    char buf[PATH_MAX];
    const char *why = NULL;
    call->module_dir = module_dir(buf, sizeof buf);
    claw_cli_run_fn *run =
        (claw_cli_run_fn *)claw_cli_module_symbol(call->module_dir, module, CLAW_CLI_RUN, &why);
    if (!run) {
        fprintf(stderr, "%s: cannot load the part of claw that runs '%s': %s\n", progname,
                call->command, why ? why : "?");
        return EX_UNAVAILABLE;
    }
    return run(call);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"archive", required_argument, NULL, 'a'},
        {"check-config", required_argument, NULL, 'C'},
        {"dump-config", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    claw_cli_call_t call = {.config_path = CLAW_DEFAULT_CONFIG};
    char *check_config[2] = {NULL, NULL};
    bool explicit = false; /* --config or --archive given */
    int c;

    /* A reader that closes the pipe early (claw search | head) shows as
     * EPIPE on a write, which cli_finish_output() takes as the end of
     * output, not as an error, rather than a death by SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (argv[0] && strrchr(argv[0], '/'))
        progname = strrchr(argv[0], '/') + 1;
    else if (argv[0])
        progname = argv[0];
    call.prog = progname;

    /* Options before the command only: "+" stops at the first non-option. */
    while ((c = getopt_long(argc, argv, "+c:a:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            call.config_path = optarg;
            explicit = true;
            break;
        case 'a':
            call.archive = optarg;
            explicit = true;
            break;
        case 'C':
            call.command = "--check-config";
            check_config[0] = optarg;
            call.argc = 1;
            call.argv = check_config;
            return run_command(&call);
        case 'D':
            call.command = "--dump-config";
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("claw (Clawback) %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (!call.command && optind >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    if (!call.command) {
        call.command = argv[optind];
        call.argc = argc - optind;
        call.argv = argv + optind;
    }
    /* The system's archive is searched through the query service when one
     * runs (query-wire.h says why); a named configuration or archive is
     * read here. */
    if (!explicit && claw_query_served(call.command)) {
        const char *sock = claw_query_socket();
        int rc = claw_query_remote(progname, sock, call.argc, call.argv);
        if (rc >= 0)
            return rc;
        if (errno == EACCES)
            fprintf(stderr, "%s: note: %s: not allowed to ask the query service (its group, "
                            "clawback-read, may); reading the archive directly\n",
                    progname, sock);
    }
    return run_command(&call);
}
