/* claw_exim.c - Clawback inside Exim: one shared object with two entries.
 *
 *   ${dlfunc{/usr/lib/clawback/claw_exim.so}{claw_scan}{...}}
 *       in acl_smtp_data: judges the message, stamps it, and returns a
 *       "key=value" verdict for the ACL (action, score, rules, id, reason);
 *   local_scan_path = /usr/lib/clawback/claw_exim.so
 *       Debian's dlopen'd local_scan (ABI 6.0): judges every message,
 *       including non-SMTP submissions, and applies the verdict itself.
 *
 * The judging happens in a scanner: a process started by the first message
 * that needs it (as Exim's user, detached), holding one engine and a pool of
 * worker processes that accept requests on a Unix socket in Exim's spool
 * directory. A receiving process only reads clawback.conf (for [mta] and to
 * catch errors), sends the envelope and header lines with the spool data
 * file's descriptor, and waits until its deadline. So no receiving process
 * builds an engine or forks, and a hang or a crash costs a worker (killed by
 * its own timer, replaced by the scanner), never Exim's process. Anything
 * that stops a verdict becomes the configured outcome: a temporary failure
 * (451) unless [mta] on_failure = accept, always with a line in Exim's main
 * log.
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
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
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

/* The configuration as this process last read it. */
static struct {
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

/* The configuration, re-read when the file changed. A file that cannot be
 * read or has an error gives NULL and *@why, even with an older one at
 * hand: mail must not be judged by a policy the admin has replaced, so it
 * waits (451) until the file is fixed, unless [mta] on_failure = accept was
 * last seen. Parsing is cheap; the engine lives in the scanner. */
static claw_config_t *
config_for(const char *path, char **why)
{
    struct stat st;
    *why = NULL;
    if (stat(path, &st) != 0) {
        *why = g_strdup_printf("configuration %s: %s", path, strerror(errno));
        return NULL;
    }
    if (plugin.config && plugin.path && !strcmp(plugin.path, path) && same_file(&st, &plugin.st))
        return plugin.config;
    claw_config_t *cfg = NULL;
    char *err = NULL;
    claw_status_t s = claw_config_load(path, &cfg, &err);
    if (s != CLAW_STATUS_SUCCESS) {
        *why = g_strdup_printf("%s", err ? err : claw_status_to_string(s));
        free(err);
        claw_config_destroy(cfg);
        return NULL;
    }
    claw_config_destroy(plugin.config);
    g_free(plugin.path);
    plugin.config = cfg;
    plugin.path = g_strdup(path);
    plugin.st = st;
    return cfg;
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

/* ------------------------------------------------------------------------
 * Talking to the scanner
 * --------------------------------------------------------------------- */

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
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* A request: u32 length, then NUL-terminated fields (the test fault, the
 * deadline in ms, client IP, HELO, sender, DMARC, SPF, DKIM, the number of
 * recipients, the recipients), then the header lines as Exim holds them. */
enum { REQ_FIELDS = 9 };

static GString *
request(const claw_config_t *cfg, const char *const *kv, int n_kv)
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
    char deadline[32];
    snprintf(deadline, sizeof deadline, "%" PRId64, cfg->mta_deadline_ms);
    GString *r = g_string_new(NULL);
    uint32_t len = 0;
    g_string_append_len(r, (const char *)&len, sizeof len);
    const char *fields[] = {cfg->mta_test_fault ? cfg->mta_test_fault : "none",
                            deadline,
                            sender_host_address ? (const char *)sender_host_address : "",
                            helo ? helo : "",
                            sender_address ? (const char *)sender_address : "",
                            dmarc,
                            spf,
                            dkim};
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

/* Send @req with @data_fd alongside. */
static bool
send_request(int sock, const GString *req, int data_fd, int64_t end)
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
        if (!wait_fd(sock, POLLOUT, end))
            return false;
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    } while (n < 0 && (errno == EINTR || errno == EAGAIN));
    if (n != (ssize_t)sizeof(uint32_t))
        return false;
    return write_full(sock, req->str + sizeof(uint32_t), req->len - sizeof(uint32_t), end);
}

/* The scanner's socket: in Exim's spool directory, so each Exim instance
 * has its own and only Exim's user can reach it. */
static bool
scanner_address(struct sockaddr_un *sa, char **why)
{
    char *spool = (char *)expand_string((uschar *)"$spool_directory");
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (!spool || !*spool ||
        snprintf(sa->sun_path, sizeof sa->sun_path, "%s/clawback-scanner.sock", spool) >=
            (int)sizeof sa->sun_path) {
        *why = g_strdup_printf("no room for the scanner's socket under %s", spool ? spool : "?");
        return false;
    }
    return true;
}

static int
scanner_connect(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void __attribute__((noreturn)) scanner_main(const char *sock_path, const char *cfg_path);

/* Start a scanner, detached (it outlives this connection). Two receiving
 * processes may both try; the scanner's lock lets one through. */
static void
scanner_spawn(const char *sock_path, const char *cfg_path)
{
    pid_t a = fork();
    if (a == 0) {
        setsid();
        if (fork() == 0)
            scanner_main(sock_path, cfg_path);
        _exit(0);
    }
    if (a > 0)
        while (waitpid(a, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* Judge the message whose spool data file is open as @data_fd. Returns
 * true with *@r filled, or false with *@why (g_free it). */
static bool
scan(int data_fd, const char *cfg_arg, const char *const *kv, int n_kv, result_t *r, char **why)
{
    claw_log_set_sink(log_to_exim, NULL);
    const char *cfg_path = config_path(cfg_arg);
    claw_config_t *cfg = config_for(cfg_path, why);
    if (!cfg)
        return false;
    int64_t deadline = cfg->mta_deadline_ms;
    int64_t end = now_ms() + deadline;
    struct sockaddr_un sa;
    if (!scanner_address(&sa, why))
        return false;
    int sock = scanner_connect(&sa);
    if (sock < 0) {
        scanner_spawn(sa.sun_path, cfg_path);
        for (int64_t wait = 2; sock < 0 && now_ms() < end; wait = MIN(wait * 2, 50)) {
            struct timespec ts = {0, (long)wait * 1000000};
            nanosleep(&ts, NULL);
            sock = scanner_connect(&sa);
        }
        if (sock < 0) {
            *why = g_strdup_printf("the scanner did not start (%s); see syslog", sa.sun_path);
            return false;
        }
    }
    GString *req = request(cfg, kv, n_kv);
    bool ok = send_request(sock, req, data_fd, end) && read_full(sock, r, sizeof *r, end);
    g_string_free(req, TRUE);
    close(sock);
    if (ok) {
        r->action[sizeof r->action - 1] = r->line[sizeof r->line - 1] = '\0';
        r->reason[sizeof r->reason - 1] = r->rules[sizeof r->rules - 1] = '\0';
    } else if (now_ms() >= end) {
        *why = g_strdup_printf("deadline of %" PRId64 " ms passed", deadline);
    } else {
        *why = g_strdup("scanner failed");
    }
    return ok;
}

/* ------------------------------------------------------------------------
 * The scanner
 * --------------------------------------------------------------------- */

static volatile sig_atomic_t scanner_stop;

static void
on_stop(int sig)
{
    (void)sig;
    scanner_stop = 1;
}

/* An engine for @path, with the parser's own time limit well inside the
 * deadline, so a slow message normally ends with a verdict (UNSCANNABLE). */
static claw_engine_t *
scanner_engine(const char *path, struct stat *st)
{
    claw_config_t *cfg = NULL;
    claw_engine_t *eng = NULL;
    char *err = NULL;
    if (stat(path, st) != 0)
        memset(st, 0, sizeof *st);
    claw_status_t s = claw_config_load(path, &cfg, &err);
    if (s == CLAW_STATUS_SUCCESS && cfg->limits.max_time_ms > cfg->mta_deadline_ms * 3 / 4) {
        char v[32];
        snprintf(v, sizeof v, "%" PRId64, MAX(cfg->mta_deadline_ms * 3 / 4, 1));
        s = claw_config_set(cfg, "limits", "max_time", v, &err);
    }
    if (s == CLAW_STATUS_SUCCESS)
        s = claw_engine_new(cfg, &eng, &err);
    if (s != CLAW_STATUS_SUCCESS)
        claw_log(CLAW_LOG_ERROR, NULL, "cannot build the engine: %s",
                 err ? err : claw_status_to_string(s));
    else
        warm_up(eng);
    free(err);
    claw_config_destroy(cfg);
    return eng;
}

/* Read one request with the descriptor that came with it. */
static char *
receive_request(int sock, size_t *len, int *data_fd)
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
    if (got != (ssize_t)sizeof n || n > 512u * 1024 * 1024)
        return NULL;
    *data_fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(data_fd, CMSG_DATA(c), sizeof(int));
    char *req = g_malloc(n + 1);
    if (*data_fd < 0 || !read_full(sock, req, n, -1)) {
        if (*data_fd >= 0)
            close(*data_fd);
        g_free(req);
        return NULL;
    }
    req[n] = '\0';
    *len = n;
    return req;
}

/* In a worker: judge one request. @data_fd holds the spool data file. */
static void
worker_scan(claw_engine_t *engine, const char *const *f, const char *p, const char *end,
            int data_fd, result_t *r)
{
    int n_rcpt = atoi(f[8]);
    const char **rcpt = g_new0(const char *, (size_t)MAX(n_rcpt, 0) + 1);
    int k = 0;
    for (; k < n_rcpt && p < end; k++) {
        rcpt[k] = p;
        const char *z = memchr(p, '\0', (size_t)(end - p));
        p = z ? z + 1 : end;
    }
    claw_envelope_t env = {
        .client_ip = *f[2] ? f[2] : NULL,
        .helo = *f[3] ? f[3] : NULL,
        .mail_from = f[4],
        .dmarc = *f[5] ? f[5] : NULL,
        .spf = *f[6] ? f[6] : NULL,
        .dkim = *f[7] ? f[7] : NULL,
        .rcpt = rcpt,
        .n_rcpt = (size_t)k,
    };
    /* The message as the MTA will deliver it: the header lines, a blank
     * line, and the body from the spool data file (LF line ends). Past the
     * size limit the rest is not needed: the parser marks the message
     * unscannable at its own limit. */
    size_t max = (size_t)engine->config->limits.max_message_bytes + 1;
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

/* A worker: one request per connection, each under its own timer (the
 * request's deadline and a little more: SIGALRM's default action ends a
 * worker that is late, and the scanner starts another). Retires after
 * many requests, so nothing it gathers grows without bound. */
static void __attribute__((noreturn))
worker_main(claw_engine_t *engine, int lfd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: accept returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGALRM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    for (int served = 0; served < 20000 && !scanner_stop; served++) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        struct timeval tv = {5, 0}; /* a client that sends nothing */
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        size_t len = 0;
        int data_fd = -1;
        char *req = receive_request(c, &len, &data_fd);
        if (req) {
            const char *f[REQ_FIELDS];
            const char *p = req, *end = req + len;
            for (int i = 0; i < REQ_FIELDS; i++) {
                f[i] = p;
                p = memchr(p, '\0', (size_t)(end - p));
                p = p ? p + 1 : end;
            }
            if (!strcmp(f[0], "internal"))
                _exit(70);
            long deadline = MAX(atol(f[1]), 10);
            struct itimerval it = {{0, 0}, {deadline / 1000 + 1, (deadline % 1000) * 1000}};
            setitimer(ITIMER_REAL, &it, NULL);
            if (!strcmp(f[0], "hang"))
                for (;;)
                    pause();
            result_t r;
            worker_scan(engine, f, p, end, data_fd, &r);
            struct itimerval off = {{0, 0}, {0, 0}};
            setitimer(ITIMER_REAL, &off, NULL);
            write_full(c, &r, sizeof r, -1);
            close(data_fd);
            g_free(req);
        }
        close(c);
    }
    _exit(0);
}

/* The scanner's first process: holds the lock, the socket and the engine,
 * keeps the workers going, rebuilds the engine when the configuration
 * changes (its workers are then replaced), and leaves when its socket is
 * removed or replaced, or on SIGTERM. Logs to syslog (mail). */
static void __attribute__((noreturn))
scanner_main(const char *sock_path, const char *cfg_path)
{
    /* Nothing of the receiving process: no descriptors (the SMTP connection
     * must close when Exim closes it), no signal handlers. */
    close_range(0, ~0U, 0);
    int null = open("/dev/null", O_RDWR);
    if (null == 0) {
        dup2(0, 1);
        dup2(0, 2);
    }
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    claw_log_use_syslog("clawback-scanner", LOG_MAIL);
    umask(077);

    char *lock_path = g_strconcat(sock_path, ".lock", NULL);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0)
        _exit(0); /* another one is starting or running */
    struct stat cst;
    claw_engine_t *engine = scanner_engine(cfg_path, &cst);
    if (!engine)
        _exit(1);

    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_strlcpy(sa.sun_path, sock_path, sizeof sa.sun_path);
    unlink(sock_path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 256) != 0) {
        claw_log(CLAW_LOG_ERROR, NULL, "cannot listen on %s: %s", sock_path, strerror(errno));
        _exit(1);
    }
    struct stat sst;
    stat(sock_path, &sst);
    char *pid_path = g_strconcat(sock_path, ".pid", NULL);
    FILE *pf = fopen(pid_path, "w");
    if (pf) {
        fprintf(pf, "%d\n", (int)getpid());
        fclose(pf);
    }
    struct sigaction sa_stop = {.sa_handler = on_stop};
    sigemptyset(&sa_stop.sa_mask);
    sigaction(SIGTERM, &sa_stop, NULL);
    sigaction(SIGINT, &sa_stop, NULL);

    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int n_workers = (int)CLAMP(n * 2, 2, 32);
    pid_t *workers = g_new0(pid_t, n_workers);
    claw_log(CLAW_LOG_NOTICE, NULL, "scanner %s up: %d workers, configuration %s",
             claw_version(), n_workers, cfg_path);
    while (!scanner_stop) {
        for (int i = 0; i < n_workers; i++) {
            if (workers[i] > 0)
                continue;
            claw_engine_refresh(engine);
            pid_t w = fork();
            if (w == 0)
                worker_main(engine, lfd);
            workers[i] = w > 0 ? w : 0;
        }
        struct timespec tick = {1, 0};
        nanosleep(&tick, NULL);
        int status;
        pid_t w;
        while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < n_workers; i++)
                if (workers[i] == w)
                    workers[i] = 0;
            if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
                claw_log(CLAW_LOG_WARNING, NULL, "worker %d ended by signal %d%s", (int)w,
                         WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (deadline)" : "");
        }
        /* Gone or replaced: someone else owns the name now. */
        struct stat now;
        if (stat(sock_path, &now) != 0 || now.st_ino != sst.st_ino || now.st_dev != sst.st_dev)
            break;
        struct stat c2;
        if (stat(cfg_path, &c2) == 0 && !same_file(&c2, &cst)) {
            claw_engine_t *fresh = scanner_engine(cfg_path, &cst);
            if (fresh) {
                claw_log(CLAW_LOG_NOTICE, NULL, "configuration %s reloaded", cfg_path);
                for (int i = 0; i < n_workers; i++)
                    if (workers[i] > 0)
                        kill(workers[i], SIGTERM);
                /* The workers hold their own copy; this one can go. */
                claw_engine_destroy(engine);
                engine = fresh;
            }
        }
    }
    for (int i = 0; i < n_workers; i++)
        if (workers[i] > 0)
            kill(workers[i], SIGTERM);
    struct stat now;
    if (stat(sock_path, &now) == 0 && now.st_ino == sst.st_ino)
        unlink(sock_path);
    unlink(pid_path);
    _exit(0);
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
