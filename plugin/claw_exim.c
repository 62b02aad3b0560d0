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
#include <sys/prctl.h>
#include <sys/socket.h>
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

/* One throwaway scan in this process, so the one-time set-up of the
 * libraries (OpenSSL reads its configuration on first use, GMime and ICU
 * build tables) is done once per connection and not again in every child. */
static void
warm_up(claw_engine_t *engine)
{
    static const char msg[] = "From: a@b.example\nTo: c@d.example\nSubject: warm-up\n"
                              "Content-Type: multipart/mixed; boundary=x\n\n--x\n"
                              "Content-Type: text/html; charset=windows-1252\n\n"
                              "<a href=\"http://e.example/\">f\xe9</a>\n--x\n"
                              "Content-Type: application/octet-stream\n"
                              "Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n--x--\n";
    claw_verdict_t *v = NULL;
    if (claw_scan_buffer(engine, msg, sizeof msg - 1, NULL, &v) == CLAW_STATUS_SUCCESS)
        claw_verdict_destroy(v);
}

/* Make sure the engine matches the configuration file: built on first use,
 * rebuilt when the file changed. A file that cannot be read or has an error
 * gives NULL and *@why, even with an older engine at hand: mail must not be
 * judged by a policy the admin has replaced, so it waits (451) until the
 * file is fixed, unless [mta] on_failure = accept was last seen. */
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
            warm_up(eng);
            return eng;
        }
        *why = g_strdup_printf("%s", err ? err : claw_status_to_string(s));
        free(err);
        claw_config_destroy(cfg);
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

/* On load: the engine for the default configuration, warmed up. Loaded
 * lazily by ${dlfunc} or local_scan this happens in each connection's
 * process; preloaded in Exim's daemon (perl_startup, see
 * conf/exim/clawback-main.conf) it happens once, and every connection
 * inherits the engine with the fork. A configuration that cannot be read
 * now is simply tried again with the first message. */
static void __attribute__((constructor))
preload(void)
{
    char *why = NULL;
    claw_log_set_sink(log_to_exim, NULL);
    engine_for(config_path(NULL), &why);
    g_free(why);
}

/* ------------------------------------------------------------------------
 * Scanning in a helper process
 *
 * The first message of a connection forks a helper from this process: it
 * shares the engine (copy-on-write) and then judges every message of the
 * connection, so later messages cost neither a fork nor the page copies a
 * fresh child makes. Per message the parent sends a request (the envelope
 * and Exim's header lines, with the spool data file's descriptor passed
 * along) and waits, until the deadline, for a result_t. A helper that is
 * late is killed, one that dies is reaped; the next message starts another.
 * The helper also dies with its parent (PR_SET_PDEATHSIG) or when the
 * socket closes.
 * --------------------------------------------------------------------- */

static struct {
    pid_t pid;
    int sock;
} helper = {0, -1};

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until @fd is ready for @events or the deadline @end (ms) passes. */
static bool
wait_fd(int fd, short events, int64_t end)
{
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)MIN(left, 1000));
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

/* Read exactly @len bytes; false on EOF, error or deadline (@end < 0: none). */
static bool
read_full(int fd, void *buf, size_t len, int64_t end)
{
    char *p = buf;
    while (len) {
        if (end >= 0 && !wait_fd(fd, POLLIN, end))
            return false;
        ssize_t n = read(fd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool
write_full(int fd, const void *buf, size_t len, int64_t end)
{
    const char *p = buf;
    while (len) {
        if (end >= 0 && !wait_fd(fd, POLLOUT, end))
            return false;
        ssize_t n = write(fd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* A request: u32 length, then NUL-terminated fields (client IP, HELO,
 * sender, DMARC, SPF, DKIM, the number of recipients, the recipients),
 * then the header lines as Exim holds them. */
static GString *
request(const char *const *kv, int n_kv)
{
    const char *dmarc = "", *spf = "", *dkim = "";
    for (int i = 0; i < n_kv; i++) {
        const char *a = kv[i];
        if (!strncmp(a, "dmarc=", 6))
            dmarc = a + 6;
        else if (!strncmp(a, "spf=", 4))
            spf = a + 4;
        else if (!strncmp(a, "dkim=", 5))
            dkim = a + 5;
    }
    const char *helo = (const char *)expand_string((uschar *)"$sender_helo_name");
    GString *r = g_string_new(NULL);
    uint32_t len = 0;
    g_string_append_len(r, (const char *)&len, sizeof len);
    const char *fields[] = {sender_host_address ? (const char *)sender_host_address : "",
                            helo ? helo : "", sender_address ? (const char *)sender_address : "",
                            dmarc, spf, dkim};
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++)
        g_string_append_len(r, fields[i], (gssize)strlen(fields[i]) + 1);
    g_string_append_printf(r, "%d", recipients_count);
    g_string_append_c(r, '\0');
    for (int i = 0; i < recipients_count; i++)
        g_string_append_len(r, (const char *)recipients_list[i].address,
                            (gssize)strlen((const char *)recipients_list[i].address) + 1);
    for (header_line *h = header_list; h; h = h->next)
        if (h->type != '*' && h->text)
            g_string_append_len(r, (const char *)h->text, h->slen);
    len = (uint32_t)(r->len - sizeof len);
    memcpy(r->str, &len, sizeof len);
    return r;
}

/* In the helper: judge one request. @data_fd holds the spool data file. */
static void
helper_scan(claw_engine_t *engine, const char *req, size_t len, int data_fd, result_t *r)
{
    const claw_config_t *cfg = plugin.config;
    const char *f[7];
    const char *p = req, *end = req + len;
    for (int i = 0; i < 7; i++) {
        f[i] = p;
        p = memchr(p, '\0', (size_t)(end - p));
        p = p ? p + 1 : end;
    }
    int n_rcpt = atoi(f[6]);
    const char **rcpt = g_new0(const char *, (size_t)MAX(n_rcpt, 0) + 1);
    int k = 0;
    for (; k < n_rcpt && p < end; k++) {
        rcpt[k] = p;
        const char *z = memchr(p, '\0', (size_t)(end - p));
        p = z ? z + 1 : end;
    }
    claw_envelope_t env = {
        .client_ip = *f[0] ? f[0] : NULL,
        .helo = *f[1] ? f[1] : NULL,
        .mail_from = f[2],
        .dmarc = *f[3] ? f[3] : NULL,
        .spf = *f[4] ? f[4] : NULL,
        .dkim = *f[5] ? f[5] : NULL,
        .rcpt = rcpt,
        .n_rcpt = (size_t)k,
    };
    /* The message as the MTA will deliver it: the header lines, a blank
     * line, and the body from the spool data file (LF line ends). Past the
     * size limit the rest is not needed: the parser marks the message
     * unscannable at its own limit. */
    size_t max = (size_t)cfg->limits.max_message_bytes + 1;
    GString *m = g_string_sized_new(64 * 1024);
    g_string_append_len(m, p, end - p);
    g_string_append_c(m, '\n');
    char buf[64 * 1024];
    for (off_t off = SPOOL_DATA_START_OFFSET;;) {
        ssize_t n = pread(data_fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (m->len < max)
            g_string_append_len(m, buf, MIN((size_t)n, max - m->len));
        off += n;
    }

    claw_verdict_t *v = NULL;
    if (claw_scan_buffer(engine, m->str, m->len, &env, &v) != CLAW_STATUS_SUCCESS)
        _exit(71);
    memset(r, 0, sizeof *r);
    r->score = v->score;
    g_strlcpy(r->action, claw_action_to_string(v->action), sizeof r->action);
    claw_verdict_format(v, r->line, sizeof r->line);
    claw_verdict_reason(v, r->reason, sizeof r->reason);
    for (size_t i = 0; i < v->n_rules; i++) {
        size_t l = strlen(r->rules);
        snprintf(r->rules + l, sizeof r->rules - l, "%s%s", i ? ", " : "", v->rules[i].rule);
    }
    claw_verdict_destroy(v);
    g_string_free(m, TRUE);
    g_free(rcpt);
}

/* Read one request with the descriptor that came with it. */
static char *
helper_receive(int sock, size_t *len, int *data_fd)
{
    uint32_t n;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &n, .iov_len = sizeof n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    ssize_t got;
    do
        got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof n)
        return NULL;
    *data_fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(data_fd, CMSG_DATA(c), sizeof(int));
    char *req = g_malloc(n + 1);
    if (*data_fd < 0 || !read_full(sock, req, n, -1)) {
        g_free(req);
        return NULL;
    }
    req[n] = '\0';
    *len = n;
    return req;
}

static void __attribute__((noreturn))
helper_main(claw_engine_t *engine, int sock)
{
    const claw_config_t *cfg = plugin.config;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Keep none of Exim's descriptors: the SMTP connection must close when
     * Exim closes it, and spool files are Exim's business. */
    if (sock != 3) {
        dup2(sock, 3);
        sock = 3;
    }
    close_range(4, ~0U, 0);
    int null = open("/dev/null", O_RDWR);
    for (int i = 0; null >= 0 && i < 3; i++)
        if (null != i)
            dup2(null, i);
    if (null > 2)
        close(null);
    signal(SIGALRM, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    claw_log_set_sink(NULL, NULL); /* Exim's log belongs to the parent */
    for (;;) {
        size_t len = 0;
        int data_fd = -1;
        char *req = helper_receive(sock, &len, &data_fd);
        if (!req)
            _exit(0); /* the parent has gone, or closed us */
        if (cfg->mta_test_fault && !strcmp(cfg->mta_test_fault, "internal"))
            _exit(70);
        if (cfg->mta_test_fault && !strcmp(cfg->mta_test_fault, "hang"))
            for (;;)
                pause();
        result_t r;
        helper_scan(engine, req, len, data_fd, &r);
        close(data_fd);
        g_free(req);
        if (!write_full(sock, &r, sizeof r, -1))
            _exit(72);
    }
}

/* Stop the helper (late, dead, or holding an old engine). */
static char *
helper_stop(bool kill_it)
{
    char *how = NULL;
    if (helper.sock >= 0)
        close(helper.sock);
    helper.sock = -1;
    if (helper.pid > 0) {
        if (kill_it)
            kill(helper.pid, SIGKILL);
        int status = 0;
        pid_t w;
        while ((w = waitpid(helper.pid, &status, 0)) < 0 && errno == EINTR)
            ;
        if (w == helper.pid && WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
            how = g_strdup_printf("scanner died of signal %d", WTERMSIG(status));
        else if (w == helper.pid && WIFEXITED(status) && WEXITSTATUS(status) != 0)
            how = g_strdup_printf("scanner failed (internal error %d)", WEXITSTATUS(status));
    }
    helper.pid = 0;
    return how;
}

static bool
helper_start(claw_engine_t *engine, char **why)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        *why = g_strdup_printf("socketpair: %s", strerror(errno));
        return false;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        helper_main(engine, sv[1]);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        *why = g_strdup_printf("fork: %s", strerror(errno));
        return false;
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    helper.pid = pid;
    helper.sock = sv[0];
    return true;
}

/* Send the request and the data descriptor. */
static bool
helper_send(const GString *req, int data_fd, int64_t end)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {.iov_base = req->str, .iov_len = sizeof(uint32_t)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &data_fd, sizeof(int));
    ssize_t n;
    do {
        if (!wait_fd(helper.sock, POLLOUT, end))
            return false;
        n = sendmsg(helper.sock, &mh, MSG_NOSIGNAL);
    } while (n < 0 && (errno == EINTR || errno == EAGAIN));
    if (n != (ssize_t)sizeof(uint32_t))
        return false;
    return write_full(helper.sock, req->str + sizeof(uint32_t), req->len - sizeof(uint32_t), end);
}

/* Judge the message whose spool data file is open as @data_fd. Returns
 * true with *@r filled, or false with *@why (g_free it). */
static bool
scan(int data_fd, const char *cfg_arg, const char *const *kv, int n_kv, result_t *r, char **why)
{
    claw_log_set_sink(log_to_exim, NULL);
    claw_engine_t *before = plugin.engine;
    claw_engine_t *engine = engine_for(config_path(cfg_arg), why);
    if (!engine)
        return false;
    if (engine != before && helper.pid > 0)
        g_free(helper_stop(true)); /* it holds the old engine */
    int64_t deadline = plugin.config->mta_deadline_ms;
    int64_t end = now_ms() + deadline;
    /* SIGPIPE from a dead helper must not kill Exim's process. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);

    bool ok = false;
    if (helper.pid <= 0) {
        claw_engine_refresh(engine); /* here, so the helper starts with fresh indicators */
        if (!helper_start(engine, why)) {
            sigaction(SIGPIPE, &old_pipe, NULL);
            return false;
        }
    }
    GString *req = request(kv, n_kv);
    if (helper_send(req, data_fd, end) && read_full(helper.sock, r, sizeof *r, end)) {
        ok = true;
        r->action[sizeof r->action - 1] = r->line[sizeof r->line - 1] = '\0';
        r->reason[sizeof r->reason - 1] = r->rules[sizeof r->rules - 1] = '\0';
    } else {
        bool late = now_ms() >= end;
        char *how = helper_stop(true);
        if (late)
            *why = g_strdup_printf("deadline of %" PRId64 " ms passed", deadline);
        else
            *why = how ? g_strdup(how) : g_strdup("scanner failed");
        g_free(how);
    }
    g_string_free(req, TRUE);
    sigaction(SIGPIPE, &old_pipe, NULL);
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
