/* claw - the investigator's command-line tool.
 *
 *   claw [--config FILE] scan [--config FILE] [--json] [--set S.N=VALUE]... FILE... | -
 *   claw [--config FILE] [--archive DIR] import|search|show|export|stats|check|reindex ...
 *   claw --check-config FILE
 *   claw --dump-config [--config FILE]
 *
 * Exit status: claw(1), EXIT STATUS (sysexits.h style).
 */
#include "build-config.h"

#include "claw.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#define EXIT_NOT_MESSAGE 1
#define EXIT_UNREADABLE 2

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

static claw_config_t *
load_config(const char *path, bool explicit_path)
{
    claw_config_t *cfg = NULL;
    char *err = NULL;
    claw_status_t st;

    if (!explicit_path && access(path, F_OK) != 0) {
        st = claw_config_new(&cfg);
    } else {
        st = claw_config_load(path, &cfg, &err);
    }
    if (st) {
        fprintf(stderr, "%s: %s\n", progname, err ? err : claw_status_to_string(st));
        free(err);
        exit(st == CLAW_STATUS_CONFIG_ERROR || st == CLAW_STATUS_IO_ERROR ? EX_CONFIG
                                                                         : EX_SOFTWARE);
    }
    return cfg;
}

static void
apply_log_config(const claw_config_t *cfg)
{
    claw_log_level_t level;
    if (claw_log_level_from_string(claw_config_get(cfg, "log", "level"), &level) == 0)
        claw_log_set_level(level);
    if (strcmp(claw_config_get(cfg, "log", "sink"), "syslog") == 0) {
        static const struct {
            const char *name;
            int facility;
        } fac[] = {{"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
                   {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
                   {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
                   {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
        int facility = LOG_MAIL;
        for (size_t i = 0; i < sizeof fac / sizeof fac[0]; i++)
            if (strcmp(fac[i].name, claw_config_get(cfg, "log", "facility")) == 0)
                facility = fac[i].facility;
        claw_log_use_syslog("claw", facility);
    }
}

/* Read a whole input. Regular files are mapped (no copy, whatever the
 * size); pipes are read into memory. */
typedef struct {
    char *data;
    size_t len;
    bool mapped;
} input_t;

static int
read_input(const char *path, input_t *in)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    memset(in, 0, sizeof *in);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            in->data = p;
            in->len = (size_t)st.st_size;
            in->mapped = true;
            if (fd != STDIN_FILENO)
                close(fd);
            return 0;
        }
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (fd != STDIN_FILENO)
            close(fd);
        errno = EISDIR;
        return -1;
    }
    size_t cap = 65536;
    in->data = malloc(cap);
    for (;;) {
        if (!in->data)
            break;
        if (in->len == cap) {
            char *bigger = realloc(in->data, cap * 2);
            if (!bigger) {
                free(in->data);
                in->data = NULL;
                errno = ENOMEM;
                break;
            }
            in->data = bigger;
            cap *= 2;
        }
        ssize_t got = read(fd, in->data + in->len, cap - in->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free(in->data);
            in->data = NULL;
            break;
        }
        if (got == 0)
            break;
        in->len += (size_t)got;
    }
    int saved = errno;
    if (fd != STDIN_FILENO)
        close(fd);
    errno = saved;
    return in->data ? 0 : -1;
}

static void
free_input(input_t *in)
{
    if (in->mapped)
        munmap(in->data, in->len);
    else
        free(in->data);
}

static int
cmd_scan(claw_config_t **cfgp, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"set", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const cli_opts_t opts = {progname,
                             "scan [--config FILE] [--json] [--set SECTION.NAME=VALUE]... "
                             "FILE... | -\n"
                             "Parse each message and print its model: a readable summary, or "
                             "one\nJSON object per line with --json. '-' reads one message "
                             "from stdin.\n",
                             "js:c:h", longopts};
    bool json = false, started = false;
    const char *config_path = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, c;

    if (!sets) {
        fprintf(stderr, "%s: out of memory\n", progname);
        return EX_OSERR;
    }

    while ((c = cli_next_opt(&opts, argc, argv, &started)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 's':
            if (optarg) /* always, for a required argument */
                sets[n_sets++] = optarg;
            break;
        case 'h':
            free(sets);
            return 0;
        default:
            free(sets);
            return EX_USAGE;
        }
    }
    /* The file first, then each --set over it, whatever their order. */
    if (config_path) {
        claw_config_destroy(*cfgp);
        *cfgp = load_config(config_path, true);
        apply_log_config(*cfgp);
    }
    claw_config_t *cfg = *cfgp;
    for (int i = 0; i < n_sets; i++) {
        char *dot = strchr(sets[i], '.'), *eq = strchr(sets[i], '=');
        char *err = NULL;
        if (!dot || !eq || dot > eq) {
            fprintf(stderr, "%s: --set wants SECTION.NAME=VALUE, got '%s'\n", progname, sets[i]);
            free(sets);
            return EX_USAGE;
        }
        *dot = *eq = '\0';
        if (claw_config_set(cfg, sets[i], dot + 1, eq + 1, &err)) {
            fprintf(stderr, "%s: --set: %s\n", progname, err ? err : "invalid");
            free(err);
            free(sets);
            return EX_CONFIG;
        }
    }
    free(sets);
    if (optind >= argc) {
        fprintf(stderr, "%s scan: no input (give FILE... or - for stdin)\n", progname);
        return EX_USAGE;
    }

    claw_engine_t *engine = NULL;
    char *err = NULL;
    claw_status_t st = claw_engine_new(cfg, &engine, &err);
    if (st) {
        fprintf(stderr, "%s: %s\n", progname, err ? err : claw_status_to_string(st));
        free(err);
        return EX_SOFTWARE;
    }

    int status = 0;
    for (int i = optind; i < argc && !cli_stdout_closed(); i++) {
        const char *path = argv[i];
        const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
        input_t in;
        if (read_input(path, &in) != 0) {
            fprintf(stderr, "%s: %s: %s\n", progname, path, strerror(errno));
            if (status == 0 || status == EXIT_NOT_MESSAGE)
                status = EXIT_UNREADABLE;
            continue;
        }
        claw_message_t *m = NULL;
        st = claw_message_parse(engine, in.data, in.len, &m);
        free_input(&in);
        if (st) {
            fprintf(stderr, "%s: %s: %s\n", progname, path, claw_status_to_string(st));
            status = EX_SOFTWARE;
            continue;
        }
        claw_verdict_t *v = NULL;
        if (claw_classify(engine, m, NULL, &v) != CLAW_STATUS_SUCCESS) {
            fprintf(stderr, "%s: %s: classification failed\n", progname, path);
            status = EX_SOFTWARE;
        }
        char *out = NULL;
        st = json ? claw_message_to_json(m, v, name, &out)
                  : claw_message_to_text(m, v, name, &out);
        claw_verdict_destroy(v);
        if (st == 0) {
            fputs(out, stdout);
            if (json)
                fputc('\n', stdout);
        }
        free(out);
        if (!m->is_message && status == 0)
            status = EXIT_NOT_MESSAGE;
        claw_message_destroy(m);
    }
    claw_engine_destroy(engine);
    return cli_finish_output(progname, status);
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
    const char *config_path = CLAW_DEFAULT_CONFIG;
    const char *archive = NULL;
    bool explicit_config = false, dump = false;
    int c;

    /* A reader that closes the pipe early (claw search | head) shows as
     * EPIPE on a write, which cli_finish_output() takes as the end of
     * output, not as an error, rather than a death by SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (argv[0] && strrchr(argv[0], '/'))
        progname = strrchr(argv[0], '/') + 1;
    else if (argv[0])
        progname = argv[0];

    /* Options before the command only: "+" stops at the first non-option. */
    while ((c = getopt_long(argc, argv, "+c:a:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            explicit_config = true;
            break;
        case 'a':
            archive = optarg;
            break;
        case 'C': {
            claw_config_t *cfg = NULL;
            char *err = NULL;
            claw_status_t st = claw_config_load(optarg, &cfg, &err);
            if (st) {
                fprintf(stderr, "%s\n", err ? err : claw_status_to_string(st));
                free(err);
                return EX_CONFIG;
            }
            claw_config_destroy(cfg);
            printf("%s: OK\n", optarg);
            return 0;
        }
        case 'D':
            dump = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("claw (Clawback) %s\n", claw_version());
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    claw_config_t *cfg = load_config(config_path, explicit_config);
    apply_log_config(cfg);
    int rc;
    if (dump) {
        claw_config_write(cfg, stdout);
        rc = 0;
    } else if (optind >= argc) {
        usage(stderr);
        rc = EX_USAGE;
    } else if (strcmp(argv[optind], "scan") == 0) {
        rc = cmd_scan(&cfg, argc - optind, argv + optind);
    } else {
        static const struct {
            const char *name;
            claw_cli_cmd_fn *fn;
        } cmds[] = {{"import", claw_cmd_import}, {"search", claw_cmd_search},
                    {"show", claw_cmd_show},     {"export", claw_cmd_export},
                    {"stats", claw_cmd_stats},   {"check", claw_cmd_check},
                    {"reindex", claw_cmd_reindex}};
        rc = -1;
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            if (strcmp(argv[optind], cmds[i].name) == 0)
                rc = cmds[i].fn(progname, cfg, archive, argc - optind, argv + optind);
        if (rc == -1) {
            fprintf(stderr, "%s: unknown command '%s' (try --help)\n", progname, argv[optind]);
            rc = EX_USAGE;
        }
    }
    claw_config_destroy(cfg);
    return rc;
}
