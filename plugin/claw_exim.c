/* claw_exim.c - Clawback inside Exim: one shared object with two entries.
 *
 *   ${dlfunc{/usr/lib/clawback/claw_exim.so}{claw_scan}{...}}
 *       in acl_smtp_data: judges the message, stamps it, and returns a
 *       "key=value" verdict for the ACL (action, score, rules, id, reason);
 *   local_scan_path = /usr/lib/clawback/claw_exim.so
 *       Debian's dlopen'd local_scan (ABI 6.0): judges every message,
 *       including non-SMTP submissions, and applies the verdict itself.
 *
 * Each scan runs in a forked child with its own deadline, so a hang or a
 * crash in the parser costs the child, never the Exim process receiving the
 * message. The parent keeps the engine for the life of the connection and
 * rebuilds it when the configuration file changes. Anything that stops a
 * verdict becomes the configured outcome: a temporary failure (451) unless
 * [mta] on_failure = accept, always with a line in Exim's main log.
 *
 * local_scan.h defines OK, FAIL, BOOL and friends: it is included here
 * only, and libclaw's headers never see it.
 */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "claw-private.h"

#define DLFUNC_IMPL
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <local_scan.h>
#pragma GCC diagnostic pop

#ifndef CLAW_EXIM_CONFIG
#define CLAW_EXIM_CONFIG "/etc/clawback/clawback.conf"
#endif

#define EXPORT __attribute__((visibility("default")))

/* The parts of a verdict the child sends back to the parent. */
typedef struct {
    char action[16];
    char line[1024];   /* claw_verdict_format() */
    char reason[400];  /* claw_verdict_reason() */
    char rules[800];   /* "A, B" for X-Clawback-Rules */
    double score;
} result_t;

/* The connection's engine and what it was built from. */
static struct {
    claw_engine_t *engine;
    claw_config_t *config;
    char *path;
    struct stat st; /* of @path when it was read */
    time_t last_error_log;
} plugin;

/* The message last stamped, so the dlfunc and local_scan together, or a
 * dlfunc expanded twice, stamp it once. */
static char stamped_id[MESSAGE_ID_LENGTH + 1];

static const char *
config_path(const char *arg)
{
    if (arg && *arg)
        return arg;
    const char *env = getenv("CLAWBACK_CONFIG");
    return env && *env ? env : CLAW_EXIM_CONFIG;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* libclaw's log lines go to Exim's main log. */
static void
log_to_exim(void *ctx, claw_log_level_t level, const char *id, const char *line)
{
    (void)ctx;
    (void)id;
    if (level <= CLAW_LOG_WARNING)
        log_write(0, LOG_MAIN, "clawback: %s", line);
}

/* Make sure the engine matches the configuration file: built on first use,
 * rebuilt when the file changed. A failed rebuild keeps the old engine (and
 * says so); with no engine at all the caller gets NULL and *@why. */
static claw_engine_t *
engine_for(const char *path, char **why)
{
    struct stat st;
    *why = NULL;
    if (plugin.engine && plugin.path && !strcmp(plugin.path, path) && stat(path, &st) == 0 &&
        same_file(&st, &plugin.st))
        return plugin.engine;

    if (stat(path, &st) != 0) {
        *why = g_strdup_printf("configuration %s: %s", path, strerror(errno));
    } else {
        claw_config_t *cfg = NULL;
        claw_engine_t *eng = NULL;
        char *err = NULL;
        claw_status_t s = claw_config_load(path, &cfg, &err);
        /* The parser's own time limit ends a slow message with a verdict
         * (UNSCANNABLE); it must come well before the deadline, which ends
         * it with none. */
        if (s == CLAW_STATUS_SUCCESS &&
            cfg->limits.max_time_ms > cfg->mta_deadline_ms * 3 / 4) {
            char v[32];
            snprintf(v, sizeof v, "%" PRId64, MAX(cfg->mta_deadline_ms * 3 / 4, 1));
            s = claw_config_set(cfg, "limits", "max_time", v, &err);
        }
        if (s == CLAW_STATUS_SUCCESS)
            s = claw_engine_new(cfg, &eng, &err);
        if (s == CLAW_STATUS_SUCCESS) {
            /* The first load in a connection is routine; a reload is news. */
            if (plugin.engine)
                log_write(0, LOG_MAIN, "clawback: configuration %s reloaded", path);
            claw_engine_destroy(plugin.engine);
            claw_config_destroy(plugin.config);
            g_free(plugin.path);
            plugin.engine = eng;
            plugin.config = cfg;
            plugin.path = g_strdup(path);
            plugin.st = st;
            return eng;
        }
        *why = g_strdup_printf("%s", err ? err : claw_status_to_string(s));
        free(err);
        claw_config_destroy(cfg);
    }
    if (plugin.engine) {
        time_t now = time(NULL);
        if (now != plugin.last_error_log)
            log_write(0, LOG_MAIN, "clawback: keeping the previous configuration: %s", *why);
        plugin.last_error_log = now;
        g_free(*why);
        *why = NULL;
        return plugin.engine;
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Reading the message
 * --------------------------------------------------------------------- */

/* The fd this process already holds on the -D spool file of @id. Exim does
 * not export it, and opening the file ourselves then closing it would drop
 * Exim's lock on it (POSIX close semantics), so we find it by inode. */
static int
find_data_fd(const char *id)
{
    char *spool = (char *)expand_string((uschar *)"$spool_directory");
    if (!spool || !*spool || strlen(id) < 6)
        return -1;
    char *paths[2] = {g_strdup_printf("%s/input/%s-D", spool, id),
                      g_strdup_printf("%s/input/%c/%s-D", spool, id[5], id)};
    struct stat want;
    bool found = false;
    for (int i = 0; i < 2 && !found; i++)
        found = stat(paths[i], &want) == 0;
    g_free(paths[0]);
    g_free(paths[1]);
    if (!found)
        return -1;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int fd = -1;
    struct dirent *de;
    while (fd < 0 && (de = readdir(d))) {
        char *end;
        long n = strtol(de->d_name, &end, 10);
        struct stat st;
        if (*end || end == de->d_name || n == dirfd(d))
            continue;
        if (fstat((int)n, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            fd = (int)n;
    }
    closedir(d);
    return fd;
}

/* The message as the MTA will deliver it: Exim's header lines (deleted ones
 * left out) and the body from the spool's data file, LF line ends. */
static GString *
read_message(int data_fd, size_t max)
{
    GString *m = g_string_sized_new(64 * 1024);
    for (header_line *h = header_list; h; h = h->next)
        if (h->type != '*' && h->text)
            g_string_append_len(m, (const char *)h->text, h->slen);
    g_string_append_c(m, '\n');
    char buf[64 * 1024];
    off_t off = SPOOL_DATA_START_OFFSET;
    for (;;) {
        ssize_t n = pread(data_fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Past the size limit the rest is not needed: the parser marks the
         * message unscannable at its own limit. */
        if (m->len < max)
            g_string_append_len(m, buf, MIN((size_t)n, max - m->len));
        off += n;
    }
    return m;
}

/* ------------------------------------------------------------------------
 * Scanning in a child
 * --------------------------------------------------------------------- */

static char *
expand_var(const char *name)
{
    char *v = (char *)expand_string((uschar *)name);
    return v && *v ? v : NULL;
}

/* In the child: read, judge, write the result to @out, exit. */
static void __attribute__((noreturn))
child_scan(claw_engine_t *engine, int data_fd, int out, const char *const *kv, int n_kv)
{
    const claw_config_t *cfg = plugin.config;
    if (cfg && cfg->mta_test_fault && !strcmp(cfg->mta_test_fault, "internal"))
        _exit(70);
    if (cfg && cfg->mta_test_fault && !strcmp(cfg->mta_test_fault, "hang"))
        for (;;)
            pause();

    GString *msg = read_message(data_fd, (size_t)cfg->limits.max_message_bytes + 1);

    const char **rcpt = g_new0(const char *, recipients_count + 1);
    for (int i = 0; i < recipients_count; i++)
        rcpt[i] = (const char *)recipients_list[i].address;
    claw_envelope_t env = {
        .client_ip = (const char *)sender_host_address,
        .helo = expand_var("$sender_helo_name"),
        .mail_from = sender_address ? (const char *)sender_address : "",
        .rcpt = rcpt,
        .n_rcpt = (size_t)recipients_count,
    };
    /* What the ACL passes: dmarc=..., spf=..., dkim=... */
    for (int i = 0; i < n_kv; i++) {
        const char *a = kv[i];
        if (!strncmp(a, "dmarc=", 6) && a[6])
            env.dmarc = a + 6;
        else if (!strncmp(a, "spf=", 4) && a[4])
            env.spf = a + 4;
        else if (!strncmp(a, "dkim=", 5) && a[5])
            env.dkim = a + 5;
    }

    claw_verdict_t *v = NULL;
    if (claw_scan_buffer(engine, msg->str, msg->len, &env, &v) != CLAW_STATUS_SUCCESS)
        _exit(71);
    result_t r = {.score = v->score};
    g_strlcpy(r.action, claw_action_to_string(v->action), sizeof r.action);
    claw_verdict_format(v, r.line, sizeof r.line);
    claw_verdict_reason(v, r.reason, sizeof r.reason);
    for (size_t i = 0; i < v->n_rules; i++) {
        size_t l = strlen(r.rules);
        snprintf(r.rules + l, sizeof r.rules - l, "%s%s", i ? ", " : "", v->rules[i].rule);
    }
    const char *p = (const char *)&r;
    size_t left = sizeof r;
    while (left) {
        ssize_t n = write(out, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(72);
        p += n;
        left -= (size_t)n;
    }
    _exit(0);
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Judge the message held in @data_fd. Returns true with *@r filled, or
 * false with *@why (g_free it). */
static bool
scan(int data_fd, const char *cfg_arg, const char *const *kv, int n_kv, result_t *r, char **why)
{
    claw_log_set_sink(log_to_exim, NULL);
    claw_engine_t *engine = engine_for(config_path(cfg_arg), why);
    if (!engine)
        return false;
    int64_t deadline = plugin.config->mta_deadline_ms;
    claw_engine_refresh(engine); /* here, not in the child, so a reload sticks */

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        *why = g_strdup_printf("pipe: %s", strerror(errno));
        return false;
    }
    /* Exim may ignore SIGCHLD; we need to reap our own child. */
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGCHLD, &dfl, &old);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        signal(SIGALRM, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        child_scan(engine, data_fd, pfd[1], kv, n_kv);
    }
    close(pfd[1]);
    bool ok = false;
    if (pid < 0) {
        *why = g_strdup_printf("fork: %s", strerror(errno));
        close(pfd[0]);
        sigaction(SIGCHLD, &old, NULL);
        return false;
    }

    size_t got = 0;
    int64_t end = now_ms() + deadline;
    bool late = false;
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0) {
            late = true;
            break;
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int n = poll(&p, 1, (int)MIN(left, 1000));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        ssize_t k = read(pfd[0], (char *)r + got, sizeof *r - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got == sizeof *r)
            break;
    }
    close(pfd[0]);
    if (late)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGCHLD, &old, NULL);

    if (late)
        *why = g_strdup_printf("deadline of %" PRId64 " ms passed", deadline);
    else if (WIFSIGNALED(status))
        *why = g_strdup_printf("scanner died of signal %d", WTERMSIG(status));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != sizeof *r)
        *why = g_strdup_printf("scanner failed (internal error %d)",
                               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    else
        ok = true;
    if (ok) {
        r->action[sizeof r->action - 1] = r->line[sizeof r->line - 1] = '\0';
        r->reason[sizeof r->reason - 1] = r->rules[sizeof r->rules - 1] = '\0';
    }
    return ok;
}

static bool
fail_open(void)
{
    return plugin.config && plugin.config->mta_on_failure &&
           !strcmp(plugin.config->mta_on_failure, "accept");
}

/* Remove X-Clawback-* headers that came with the message and add ours.
 * @r is NULL for a message that was not scanned. Once per message. */
static void
stamp(const char *id, const result_t *r, const char *why)
{
    if (message_id && !strcmp(stamped_id, (const char *)message_id))
        return;
    if (message_id)
        g_strlcpy(stamped_id, (const char *)message_id, sizeof stamped_id);
    header_remove(0, (const uschar *)"X-Clawback-Id");
    header_remove(0, (const uschar *)"X-Clawback-Verdict");
    header_remove(0, (const uschar *)"X-Clawback-Rules");
    header_add(' ', "X-Clawback-Id: %s\n", id);
    if (r) {
        header_add(' ', "X-Clawback-Verdict: %s; score=%g\n", r->action, r->score);
        if (r->rules[0])
            header_add(' ', "X-Clawback-Rules: %s\n", r->rules);
    } else {
        header_add(' ', "X-Clawback-Verdict: unscanned; reason=\"%s\"\n", why);
    }
}

/* @s made safe inside "..." for ${extract} and a header: printable ASCII,
 * '"' and '\' escaped, at most @max bytes of input. */
static char *
quoted(const char *s, size_t max)
{
    GString *q = g_string_new(NULL);
    for (size_t i = 0; s && s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            g_string_append_c(q, '\\');
        g_string_append_c(q, c >= 0x20 && c < 0x7f ? (char)c : '?');
    }
    return g_string_free(q, FALSE);
}

/* ------------------------------------------------------------------------
 * ${dlfunc{claw_exim.so}{claw_scan}{ARG}...}
 *
 * Arguments, all optional: config=FILE, dmarc=RESULT, spf=RESULT,
 * dkim=RESULT (as the ACL knows them). Returns OK and
 *   action=tag score=6 rules=A,B id=01J... reason="A: ..."
 * or, when the message could not be judged, DEFER (the ACL gives 451) or,
 * with [mta] on_failure = accept, OK and "action=accept ... unscanned=yes".
 * --------------------------------------------------------------------- */

EXPORT int claw_scan(uschar **yield, int argc, uschar *argv[]);

EXPORT int
claw_scan(uschar **yield, int argc, uschar *argv[])
{
    const char *cfg = NULL;
    for (int i = 0; i < argc; i++)
        if (!strncmp((const char *)argv[i], "config=", 7))
            cfg = (const char *)argv[i] + 7;
    char id[CLAW_ID_SIZE];
    claw_id_new(id);
    char *why = NULL;
    result_t r;
    int fd = message_id ? find_data_fd((const char *)message_id) : -1;
    bool ok = false;
    if (fd < 0)
        why = g_strdup("the message's spool data file is not open in this process "
                       "(call claw_scan from acl_smtp_data)");
    else
        ok = scan(fd, cfg, (const char *const *)argv, argc, &r, &why);

    if (ok) {
        stamp(id, &r, NULL);
        char *reason = quoted(r.reason, sizeof r.reason);
        *yield = (uschar *)string_sprintf("%s id=%s reason=\"%s\"", r.line, id, reason);
        g_free(reason);
        return OK;
    }
    char *q = quoted(why, 300);
    g_free(why);
    if (fail_open()) {
        log_write(0, LOG_MAIN, "clawback: message not scanned, accepted (on_failure=accept): %s",
                  q);
        stamp(id, NULL, q);
        *yield = (uschar *)string_sprintf(
            "action=accept score=0 rules= id=%s unscanned=yes reason=\"%s\"", id, q);
        g_free(q);
        return OK;
    }
    log_write(0, LOG_MAIN, "clawback: message not scanned, deferred: %s", q);
    *yield = (uschar *)string_sprintf("clawback: %s", q);
    g_free(q);
    return DEFER;
}

/* ------------------------------------------------------------------------
 * local_scan_path (Debian's dlopen'd local_scan, ABI 6.0)
 * --------------------------------------------------------------------- */

EXPORT int local_scan_version_major(void);
EXPORT int local_scan_version_minor(void);
EXPORT int local_scan(int fd, uschar **return_text);

EXPORT int
local_scan_version_major(void)
{
    return LOCAL_SCAN_ABI_VERSION_MAJOR;
}

EXPORT int
local_scan_version_minor(void)
{
    return 0;
}

EXPORT int
local_scan(int fd, uschar **return_text)
{
    char id[CLAW_ID_SIZE];
    claw_id_new(id);
    char *why = NULL;
    result_t r;
    if (!scan(fd, NULL, NULL, 0, &r, &why)) {
        char *q = quoted(why, 300);
        g_free(why);
        if (fail_open()) {
            log_write(0, LOG_MAIN,
                      "clawback: message not scanned, accepted (on_failure=accept): %s", q);
            stamp(id, NULL, q);
            g_free(q);
            return LOCAL_SCAN_ACCEPT;
        }
        log_write(0, LOG_MAIN, "clawback: message not scanned, deferred: %s", q);
        *return_text = (uschar *)string_copy((const uschar *)"clawback: message not scanned, try again later");
        g_free(q);
        return LOCAL_SCAN_TEMPREJECT;
    }
    stamp(id, &r, NULL);
    if (!strcmp(r.action, "reject")) {
        char *reason = quoted(r.reason, sizeof r.reason);
        *return_text = (uschar *)string_sprintf("rejected by policy: %s", reason);
        log_write(0, LOG_MAIN, "clawback: %s id=%s rejected: %s", r.line, id, reason);
        g_free(reason);
        return LOCAL_SCAN_REJECT;
    }
    if (!strcmp(r.action, "quarantine")) {
        log_write(0, LOG_MAIN, "clawback: %s id=%s quarantined (frozen)", r.line, id);
        return LOCAL_SCAN_ACCEPT_FREEZE;
    }
    return LOCAL_SCAN_ACCEPT;
}
