/* cli-common.c - what claw's commands share: option parsing with --help
 * and usage errors, safe text, JSON strings, times, and the end of output
 * (a closed pipe is not an error). */
#include "build-config.h"

#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

void
cli_usage(const cli_opts_t *o, FILE *out)
{
    fprintf(out, "Usage: %s %s", o->prog, o->usage);
}

int
cli_next_opt(const cli_opts_t *o, int argc, char **argv, bool *started)
{
    if (!*started) {
        /* glibc restarts its scan (and forgets the dispatcher's) only at 0. */
        optind = 0;
        *started = true;
    }
    opterr = 0; /* getopt would name the command, not the program */
    int c = getopt_long(argc, argv, o->shortopts, o->longopts, NULL);
    if (c == 'h') {
        cli_usage(o, stdout);
    } else if (c == '?' || c == ':') {
        fprintf(stderr, "%s %s: unknown option, or one without its value: '%s'\n", o->prog,
                argv[0], argv[optind - 1 > 0 ? optind - 1 : 0]);
        cli_usage(o, stderr);
        c = '?';
    }
    return c;
}

int
cli_parse(const char *prog, const char *usage, const cli_option_t *options, bool takes_args,
          int argc, char **argv)
{
    size_t n = 0;
    while (options[n].name)
        n++;
    struct option *longopts = g_new0(struct option, n + 2);
    GString *shortopts = g_string_new(NULL);
    /* An option without a letter is long only: getopt gives it 256 + i. */
#define CODE(i) (options[i].letter ? options[i].letter : 256 + (int)(i))
    for (size_t i = 0; i < n; i++) {
        longopts[i] = (struct option){options[i].name,
                                      options[i].value ? required_argument : no_argument, NULL,
                                      CODE(i)};
        if (!options[i].letter)
            continue;
        g_string_append_c(shortopts, (char)options[i].letter);
        if (options[i].value)
            g_string_append_c(shortopts, ':');
    }
    longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
    g_string_append_c(shortopts, 'h');
    const cli_opts_t o = {prog, usage, shortopts->str, longopts};
    bool started = false;
    int c, rc = CLI_GO_ON;
    while (rc == CLI_GO_ON && (c = cli_next_opt(&o, argc, argv, &started)) != -1) {
        if (c == 'h') {
            rc = 0;
        } else if (c == '?') {
            rc = EX_USAGE;
        } else {
            for (size_t i = 0; i < n; i++) {
                if (CODE(i) != c)
                    continue;
                if (options[i].value)
                    *options[i].value = optarg;
                else
                    *options[i].flag = true;
            }
        }
    }
#undef CODE
    if (rc == CLI_GO_ON && !takes_args && !cli_no_more_args(&o, argc, argv))
        rc = EX_USAGE;
    g_string_free(shortopts, TRUE);
    g_free(longopts);
    return rc;
}

bool
cli_no_more_args(const cli_opts_t *o, int argc, char **argv)
{
    if (optind >= argc)
        return true;
    fprintf(stderr, "%s %s: takes no arguments, got '%s'\n", o->prog, argv[0], argv[optind]);
    cli_usage(o, stderr);
    return false;
}

char *
cli_safe_text(const char *s, size_t max)
{
    GString *o = g_string_new(NULL);
    const char *p = s ? s : "";
    if (!g_utf8_validate(p, -1, NULL))
        p = "(invalid UTF-8)";
    size_t n = 0;
    for (; *p && n < max; p = g_utf8_next_char(p), n++) {
        gunichar c = g_utf8_get_char(p);
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || (c >= 0x202a && c <= 0x202e) ||
            (c >= 0x2066 && c <= 0x2069))
            g_string_append_c(o, '?');
        else
            g_string_append_unichar(o, c);
    }
    if (*p && n >= max && o->len >= 3) {
        g_string_truncate(o, (gsize)(g_utf8_offset_to_pointer(o->str, (glong)max - 1) - o->str));
        g_string_append(o, "…");
    }
    return g_string_free(o, FALSE);
}

void
cli_json_str(GString *o, const char *s)
{
    char *q = claw_json_quote(s ? s : "");
    g_string_append(o, q);
    free(q);
}

void
cli_fmt_time(char *buf, size_t n, int64_t t, bool seconds)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, n, seconds ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M", &tm);
}

char *
cli_join_args(int argc, char **argv)
{
    GString *q = g_string_new(NULL);
    for (int i = 0; i < argc; i++) {
        if (i)
            g_string_append_c(q, ' ');
        g_string_append(q, argv[i]);
    }
    return g_string_free(q, FALSE);
}

bool
cli_stdout_closed(void)
{
    return ferror(stdout) != 0;
}

/* Has the reader of a pipe on standard output gone? (poll says POLLERR on
 * a pipe's write end once no one can read it.) */
static bool
reader_gone(void)
{
    struct pollfd p = {.fd = STDOUT_FILENO, .events = 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

int
cli_finish_output(const char *prog, int rc)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    if (errno == EPIPE || reader_gone())
        return rc; /* the reader has what it wanted: not an error */
    fprintf(stderr, "%s: writing output: %s\n", prog, strerror(errno ? errno : EIO));
    return EX_IOERR;
}

/* The user a query service runs the command for; -1: this process's. */
static long caller = -1;

void
cli_set_caller(long uid)
{
    caller = uid;
}

void
cli_user_name(uid_t uid, char *out, size_t n)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(out, n, "%s", res->pw_name);
    else
        snprintf(out, n, "uid %u", (unsigned)uid);
}

void
cli_whoami(char *out, size_t n)
{
    cli_user_name(caller >= 0 ? (uid_t)caller : getuid(), out, n);
}

void
cli_json_split(GString *o, const char *s, const char *sep)
{
    g_string_append_c(o, '[');
    if (s && *s) {
        gchar **parts = g_strsplit(s, sep, -1);
        for (gchar **p = parts; *p; p++) {
            if (p != parts)
                g_string_append_c(o, ',');
            cli_json_str(o, *p);
        }
        g_strfreev(parts);
    }
    g_string_append_c(o, ']');
}

void
cli_progress_bar(size_t done, size_t total, gint64 start, uint64_t counted, const char *what,
                 bool final)
{
    double secs = (double)(g_get_monotonic_time() - start) / 1e6;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100, bar = pct / 4;
    fprintf(stderr, "\r[%.*s%*s] %3d%%  %zu of %zu  %s  %.0f/s ", bar,
            "=========================", 25 - bar, "", pct, done, total, what ? what : "",
            secs > 0 ? (double)counted / secs : 0.0);
    if (final)
        fputc('\n', stderr);
}
