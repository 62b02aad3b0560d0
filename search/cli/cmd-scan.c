/* cmd-scan.c - the module for what parses mail (claw-mail.so): claw scan,
 * --check-config and --dump-config; and, for the archive module, the
 * parsing functions of libclaw (cli-model.h). */
#include "build-config.h"

#include "cli-model.h"
#include "cli-module.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#define EXIT_NOT_MESSAGE 1
#define EXIT_UNREADABLE 2

static const char *progname = "claw";

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
        {"envelope", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const cli_opts_t opts = {progname,
                             "scan [--config FILE] [--json] [--set SECTION.NAME=VALUE]... "
                             "[--envelope NAME=VALUE]... FILE... | -\n"
                             "Parse each message and print its model: a readable summary, or "
                             "one\nJSON object per line with --json. '-' reads one message "
                             "from stdin.\n"
                             "--envelope judges it as the MTA would with that SMTP session "
                             "(client_ip,\nhelo, mail_from, rcpt, spf, dkim, dmarc, authres), "
                             "DMARC included.\n",
                             "js:c:e:h", longopts};
    bool json = false, started = false;
    const char *config_path = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    /* --envelope as claw_scan_fields() takes it: names and values, NULL-ended. */
    const char **env = calloc((size_t)argc * 2 + 1, sizeof *env);
    int n_sets = 0, n_env = 0, c;

    if (!sets || !env) {
        free(sets);
        free(env);
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
        case 'e': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "%s: --envelope wants NAME=VALUE, got '%s'\n", progname, optarg);
                free(sets);
                free(env);
                return EX_USAGE;
            }
            *eq = '\0';
            env[n_env++] = optarg;
            env[n_env++] = eq + 1;
            break;
        }
        case 'h':
            free(sets);
            free(env);
            return 0;
        default:
            free(sets);
            free(env);
            return EX_USAGE;
        }
    }
    /* The file first, then each --set over it, whatever their order. */
    if (config_path) {
        claw_config_destroy(*cfgp);
        *cfgp = cli_setup(progname, config_path);
    }
    claw_config_t *cfg = *cfgp;
    for (int i = 0; i < n_sets; i++) {
        char *dot = strchr(sets[i], '.'), *eq = strchr(sets[i], '=');
        char *err = NULL;
        if (!dot || !eq || dot > eq) {
            fprintf(stderr, "%s: --set wants SECTION.NAME=VALUE, got '%s'\n", progname, sets[i]);
            free(sets);
            free(env);
            return EX_USAGE;
        }
        *dot = *eq = '\0';
        if (claw_config_set(cfg, sets[i], dot + 1, eq + 1, &err)) {
            fprintf(stderr, "%s: --set: %s\n", progname, err ? err : "invalid");
            free(err);
            free(sets);
            free(env);
            return EX_CONFIG;
        }
    }
    free(sets);
    if (optind >= argc) {
        fprintf(stderr, "%s scan: no input (give FILE... or - for stdin)\n", progname);
        free(env);
        return EX_USAGE;
    }

    claw_engine_t *engine = NULL;
    char *err = NULL;
    claw_status_t st = claw_engine_new(cfg, &engine, &err);
    if (st) {
        fprintf(stderr, "%s: %s\n", progname, err ? err : claw_status_to_string(st));
        free(err);
        free(env);
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
        claw_verdict_t *v = NULL;
        /* With an envelope, the MTA's one call; the verdict keeps the model. */
        st = n_env ? claw_scan_fields(engine, in.data, in.len, env, 0, &v)
                   : claw_message_parse(engine, in.data, in.len, &m);
        free_input(&in);
        if (st) {
            fprintf(stderr, "%s: %s: %s\n", progname, path, claw_status_to_string(st));
            status = st == CLAW_STATUS_INVALID_ARGUMENT ? EX_USAGE : EX_SOFTWARE;
            continue;
        }
        if (!n_env && claw_classify(engine, m, NULL, &v) != CLAW_STATUS_SUCCESS) {
            fprintf(stderr, "%s: %s: classification failed\n", progname, path);
            status = EX_SOFTWARE;
        }
        const claw_message_t *shown = m ? m : claw_verdict_message(v);
        char *out = NULL;
        st = json ? claw_message_to_json(shown, v, name, &out)
                  : claw_message_to_text(shown, v, name, &out);
        if (st == 0) {
            fputs(out, stdout);
            if (json)
                fputc('\n', stdout);
        }
        free(out);
        if (!shown->is_message && status == 0)
            status = EXIT_NOT_MESSAGE;
        claw_verdict_destroy(v);
        claw_message_destroy(m);
    }
    free(env);
    claw_engine_destroy(engine);
    return cli_finish_output(progname, status);
}


/* --check-config FILE: loading, then what every program that reads it
 * checks. */
static int
check_config(const char *path)
{
    claw_config_t *cfg = NULL;
    char *err = NULL;
    claw_status_t st = claw_config_load(path, &cfg, &err);
    if (!st)
        st = claw_config_check(cfg, &err);
    if (st) {
        claw_config_destroy(cfg);
        fprintf(stderr, "%s\n", err ? err : claw_status_to_string(st));
        free(err);
        return EX_CONFIG;
    }
    claw_config_destroy(cfg);
    printf("%s: OK\n", path);
    return 0;
}

int claw_cli_run(const claw_cli_call_t *call) CLAW_PUBLIC_MODULE;

int
claw_cli_run(const claw_cli_call_t *call)
{
    progname = call->prog;
    if (strcmp(call->command, "--check-config") == 0)
        return check_config(call->argv[0]);
    claw_config_t *cfg = cli_setup(call->prog, call->config_path);
    int rc;
    if (strcmp(call->command, "--dump-config") == 0) {
        claw_config_write(cfg, stdout);
        rc = cli_finish_output(progname, 0);
    } else {
        rc = cmd_scan(&cfg, call->argc, call->argv);
    }
    claw_config_destroy(cfg);
    return rc;
}

/* The parsing functions the archive module calls through cli-model.c. */
static void
model_setup(const claw_config_t *cfg)
{
    cli_apply_log_config(cfg);
}

const cli_model_t claw_cli_model CLAW_PUBLIC_MODULE = {
    .setup = model_setup,
    .engine_new = claw_engine_new,
    .engine_destroy = claw_engine_destroy,
    .message_parse = claw_message_parse,
    .message_parse_text = claw_message_parse_text,
    .message_texts_from = claw_message_texts_from,
    .text_words = claw_text_words,
    .message_destroy = claw_message_destroy,
    .scan_buffer = claw_scan_buffer,
    .verdict_message = claw_verdict_message,
    .verdict_destroy = claw_verdict_destroy,
    .id_new = claw_id_new,
    .url_normalise = claw_url_normalise,
    .host_normalise = claw_host_normalise,
    .ioc_normalise = claw_ioc_normalise,
    .ioc_types = claw_ioc_types,
    .message_locate_ioc = claw_message_locate_ioc,
    .free = claw_free,
    .sha256 = SHA256,
};
