/* claw-scanner - judges messages for the Exim plugin (claw_exim.so).
 *
 *   claw-scanner --socket PATH --config FILE
 *
 * Started by the plugin, detached, as Exim's user, the first time a message
 * needs it; not normally started by hand. It holds one engine and a pool of
 * worker processes that accept requests on the Unix socket PATH (in Exim's
 * spool directory): the envelope and header lines, with the spool data
 * file's descriptor (see scan-proto.h). Each request runs under its own
 * timer, so a late or crashed worker costs that one message (the plugin
 * defers it) and is replaced. The engine is rebuilt when FILE changes; a
 * request made after the file changed and stopped loading is answered with
 * the error. It leaves when PATH is removed or replaced, or on SIGTERM, and
 * logs to syslog (ident clawback-scanner, [log] level and facility; mail
 * until the configuration is read).
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "claw.h"
#include "scan-proto.h"

/* Where the message starts in Exim's -D spool file, after the line with its
 * id (local_scan.h's SPOOL_DATA_START_OFFSET). */
#define SPOOL_DATA_START_OFFSET 19

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
    if (claw_scan_fields(engine, msg, sizeof msg - 1, NULL, CLAW_SCAN_VERDICT_ONLY, &v) ==
        CLAW_STATUS_SUCCESS)
        claw_verdict_destroy(v);
}

/* An error if @path changed since @st and no longer loads; NULL otherwise. */
static char *
config_error(const char *path, const struct stat *st)
{
    struct stat now;
    if (stat(path, &now) != 0)
        memset(&now, 0, sizeof now); /* none: the loader says whether it may be */
    if (proto_same_file(&now, st))
        return NULL;
    claw_config_t *cfg = NULL;
    char *err = NULL;
    claw_status_t s = claw_config_load(path, &cfg, &err);
    claw_config_destroy(cfg);
    if (s == CLAW_STATUS_SUCCESS)
        return NULL;
    char *why = g_strdup(err ? err : claw_status_to_string(s));
    free(err);
    return why;
}

static volatile sig_atomic_t scanner_stop;

static void
on_stop(int sig)
{
    (void)sig;
    scanner_stop = 1;
}

/* Hold the duration @section.@name of @cfg to at most @most ms. */
static claw_status_t
cap_ms(claw_config_t *cfg, const char *section, const char *name, int64_t most, char **err)
{
    int64_t v = 0;
    if (claw_config_get_duration_ms(cfg, section, name, &v) != 0 || v <= most)
        return CLAW_STATUS_SUCCESS;
    char text[32];
    snprintf(text, sizeof text, "%" PRId64 "ms", most);
    return claw_config_set(cfg, section, name, text, err);
}

/* An engine for @path, with the parser's own time limit well inside the
 * deadline, so a slow message normally ends with a verdict (UNSCANNABLE).
 * *@max_read is how much of a message the engine reads ([limits]
 * max_message_bytes and one byte more, to see it is over). */
static claw_engine_t *
scanner_engine(const char *path, struct stat *st, size_t *max_read)
{
    claw_config_t *cfg = NULL;
    claw_engine_t *eng = NULL;
    char *err = NULL;
    struct stat now;
    if (stat(path, &now) != 0)
        memset(&now, 0, sizeof now);
    claw_status_t s = claw_config_load(path, &cfg, &err);
    int64_t deadline = 0;
    uint64_t max_bytes = 0;
    if (s == CLAW_STATUS_SUCCESS) {
        /* [log] level and facility, as every program takes them; always to
         * syslog, or where there is none to its stderr: the plugin opens
         * that on claw-scanner.log beside the socket. */
        claw_log_configure(cfg, "clawback-scanner", CLAW_LOG_FORCE_SYSLOG);
        claw_config_get_duration_ms(cfg, "mta", "deadline", &deadline);
        claw_config_get_size(cfg, "limits", "max_message_bytes", &max_bytes);
    }
    /* A slow message ends with a verdict (UNSCANNABLE), and DMARC's
     * lookups with temperror, well inside the deadline. */
    if (s == CLAW_STATUS_SUCCESS)
        s = cap_ms(cfg, "limits", "max_time", MAX(deadline * 3 / 4, 1), &err);
    if (s == CLAW_STATUS_SUCCESS)
        s = cap_ms(cfg, "dmarc", "timeout", MAX(deadline / 2, 10), &err);
    if (s == CLAW_STATUS_SUCCESS)
        s = claw_engine_new(cfg, &eng, &err);
    /* @st only moves on success: the workers compare the file with it and
     * answer requests with the error while the file does not load. */
    if (s != CLAW_STATUS_SUCCESS) {
        claw_log(CLAW_LOG_ERROR, NULL, "cannot build the engine: %s",
                 err ? err : claw_status_to_string(s));
    } else {
        /* The indicators are re-read here, in the first process, not by
         * each worker inside a message's deadline (see the main loop). */
        claw_engine_refresh_manually(eng);
        warm_up(eng);
        *st = now;
        *max_read = (size_t)MIN(max_bytes, (uint64_t)SIZE_MAX - 1) + 1;
    }
    free(err);
    claw_config_destroy(cfg);
    return eng;
}

/* In a worker: judge one request. @f are the request's fields, @p to @end
 * its recipients and header lines; @data_fd holds the spool data file. */
static void
worker_scan(claw_engine_t *engine, size_t max_read, const char *const *f, const char *p,
            const char *end, int data_fd, scan_result_t *r)
{
    /* The envelope as claw_scan_fields() takes it: the fields' names with
     * the request's values, then the recipients. */
    static const struct {
        int field;
        const char *name;
    } named[] = {{3, "client_ip"}, {4, "helo"}, {5, "mail_from"},
                 {6, "dmarc"},     {7, "spf"},  {8, "dkim"}, {9, "authres"}};
    int n_rcpt = MAX(atoi(f[10]), 0);
    GPtrArray *env = g_ptr_array_new();
    for (size_t i = 0; i < G_N_ELEMENTS(named); i++) {
        g_ptr_array_add(env, (gpointer)named[i].name);
        g_ptr_array_add(env, (gpointer)f[named[i].field]);
    }
    for (int k = 0; k < n_rcpt && p < end; k++) {
        g_ptr_array_add(env, (gpointer) "rcpt");
        g_ptr_array_add(env, (gpointer)p);
        const char *z = memchr(p, '\0', (size_t)(end - p));
        p = z ? z + 1 : end;
    }
    g_ptr_array_add(env, NULL);
    /* The message as the MTA will deliver it: the header lines, a blank
     * line, and the body from the spool data file (LF line ends). Past the
     * size limit the rest is not needed: the parser marks the message
     * unscannable at its own limit. */
    size_t max = max_read;
    size_t head = (size_t)(end - p) + 1;
    struct stat st;
    size_t body = fstat(data_fd, &st) == 0 && st.st_size > SPOOL_DATA_START_OFFSET
                      ? (size_t)st.st_size - SPOOL_DATA_START_OFFSET
                      : 0;
    /* Read straight into its place; a file that grew meanwhile is read on
     * into a bigger buffer. */
    GString *m = g_string_sized_new(MIN(head + body, max) + 1);
    g_string_append_len(m, p, end - p);
    g_string_append_c(m, '\n');
    for (off_t off = SPOOL_DATA_START_OFFSET; m->len < max;) {
        if (m->allocated_len - m->len < 2) {
            size_t keep = m->len;
            g_string_set_size(m, keep + 64 * 1024);
            g_string_truncate(m, keep);
        }
        size_t room = MIN(m->allocated_len - m->len - 1, max - m->len);
        ssize_t n = pread(data_fd, m->str + m->len, room, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        m->len += (size_t)n;
        m->str[m->len] = '\0';
        off += n;
    }

    claw_verdict_t *v = NULL;
    if (claw_scan_fields(engine, m->str, m->len, (const char *const *)env->pdata,
                         CLAW_SCAN_VERDICT_ONLY, &v) != CLAW_STATUS_SUCCESS)
        _exit(71);
    memset(r, 0, sizeof *r);
    g_strlcpy(r->action, claw_action_to_string(claw_verdict_action(v)), sizeof r->action);
    claw_verdict_format(v, r->line, sizeof r->line);
    claw_verdict_reason(v, r->reason, sizeof r->reason);
    claw_verdict_header(v, r->verdict, sizeof r->verdict);
    claw_verdict_rules_header(v, r->rules, sizeof r->rules);
    claw_verdict_destroy(v);
    g_string_free(m, TRUE);
    g_ptr_array_free(env, TRUE);
}

/* A worker: one request per connection, each under its own timer (the
 * request's deadline and a little more: SIGALRM's default action ends a
 * worker that is late, and the scanner starts another). Retires after
 * many requests, so nothing it gathers grows without bound. */
static void __attribute__((noreturn))
worker_main(claw_engine_t *engine, size_t max_read, int lfd, const struct stat *cfg_st)
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
        char *req = proto_recv_request(c, 512u * 1024 * 1024, &len, &data_fd);
        if (req) {
            const char *f[REQ_FIELDS];
            const char *p = req, *end = req + len;
            for (int i = 0; i < REQ_FIELDS; i++) {
                f[i] = p;
                p = memchr(p, '\0', (size_t)(end - p));
                p = p ? p + 1 : end;
            }
            if (!strcmp(f[1], "internal"))
                _exit(70);
            long deadline = MAX(atol(f[2]), 10);
            struct itimerval it = {{0, 0}, {deadline / 1000 + 1, (deadline % 1000) * 1000}};
            setitimer(ITIMER_REAL, &it, NULL);
            if (!strcmp(f[1], "hang"))
                for (;;)
                    pause();
            scan_result_t r;
            char *err = config_error(f[0], cfg_st);
            if (err) {
                /* The file changed and no longer loads: no verdict under a
                 * policy the admin has replaced. */
                memset(&r, 0, sizeof r);
                g_strlcpy(r.action, "error", sizeof r.action);
                g_strlcpy(r.reason, err, sizeof r.reason);
                g_free(err);
            } else {
                worker_scan(engine, max_read, f, p, end, data_fd, &r);
            }
            struct itimerval off = {{0, 0}, {0, 0}};
            setitimer(ITIMER_REAL, &off, NULL);
            proto_write(c, &r, sizeof r, -1);
            close(data_fd);
            free(req);
        }
        close(c);
    }
    _exit(0);
}

/* The scanner's first process: holds the lock, the socket and the engine,
 * keeps the workers going, rebuilds the engine when the configuration
 * changes (its workers are then replaced), and leaves when its socket is
 * removed or replaced, or on SIGTERM. Logs to syslog (mail). */
/* The workers hold the engine they were forked with. Each is told to end
 * after the request it is serving and forgotten (waitpid reaps it later),
 * so that the loop forks their successors, with the engine as it is now, at
 * once: judging never pauses for a change of indicators. */
static void
retire_workers(pid_t *workers, int n)
{
    for (int i = 0; i < n; i++)
        if (workers[i] > 0) {
            kill(workers[i], SIGTERM);
            workers[i] = 0;
        }
}

static int
scanner_main(const char *sock_path, const char *cfg_path)
{
    /* Nothing of the receiving process: no descriptors but the standard
     * three (the SMTP connection must close when Exim closes it; the
     * plugin gives 0 and 1 on /dev/null, 2 on claw-scanner.log), no signal
     * handlers. Any of the three not open is /dev/null. */
    close_range(3, ~0U, 0);
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
            break;
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
    size_t max_read = 0;
    claw_engine_t *engine = scanner_engine(cfg_path, &cst, &max_read);
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
    struct stat failed;
    memset(&failed, 0, sizeof failed);
    claw_log(CLAW_LOG_NOTICE, NULL, "scanner %s up: %d workers, configuration %s",
             claw_version(), n_workers, cfg_path);
    while (!scanner_stop) {
        for (int i = 0; i < n_workers; i++) {
            if (workers[i] > 0)
                continue;
            pid_t w = fork();
            if (w == 0)
                worker_main(engine, max_read, lfd, &cst);
            workers[i] = w > 0 ? w : 0;
        }
        /* Ten looks a second (a few stat calls): an indicator published
         * (claw ioc) is in force within a tenth of a second of its file
         * being written, plus the time to read the set, which the workers
         * go on judging with the old one meanwhile. */
        struct timespec tick = {0, 100 * 1000 * 1000};
        nanosleep(&tick, NULL);
        if (claw_engine_refresh(engine))
            retire_workers(workers, n_workers);
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
        if (stat(cfg_path, &c2) == 0 && !proto_same_file(&c2, &cst) &&
            !proto_same_file(&c2, &failed)) {
            claw_engine_t *fresh = scanner_engine(cfg_path, &cst, &max_read);
            if (fresh) {
                claw_log(CLAW_LOG_NOTICE, NULL, "configuration %s reloaded", cfg_path);
                retire_workers(workers, n_workers);
                /* The workers hold their own copy; this one can go. */
                claw_engine_destroy(engine);
                engine = fresh;
            } else {
                failed = c2; /* logged once; tried again when it changes */
            }
        }
    }
    retire_workers(workers, n_workers);
    struct stat now;
    if (stat(sock_path, &now) == 0 && now.st_ino == sst.st_ino)
        unlink(sock_path);
    unlink(pid_path);
    _exit(0);
}
int
main(int argc, char **argv)
{
    const char *sock = NULL, *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
            sock = argv[++i];
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: claw-scanner --socket PATH --config FILE\n"
                   "Judges messages for claw_exim.so, which starts it.\n");
            return 0;
        } else {
            fprintf(stderr, "claw-scanner: unknown argument '%s' (try --help)\n", argv[i]);
            return 64;
        }
    }
    if (!sock || !config) {
        fprintf(stderr, "usage: claw-scanner --socket PATH --config FILE\n");
        return 64;
    }
    return scanner_main(sock, config);
}
