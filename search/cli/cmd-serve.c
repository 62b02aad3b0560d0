/* cmd-serve.c - claw serve: the query service (the wire and why: query-
 * wire.h), and the entry of the module that holds it (claw-serve.so: the
 * archive module's libraries and libsystemd, which a search should not
 * load).
 *
 *   claw serve [--socket PATH] [--workers N] [--group NAME]
 *
 * A parent and N worker processes, like a pre-forking web server: the
 * parent makes the socket (or takes it from systemd's socket activation),
 * starts the workers, starts a new one when one ends, and stops them on
 * SIGTERM; SIGHUP reads the configuration again and replaces them. Each
 * worker accepts one connection at a time and runs its command with the
 * client's descriptors as standard output and error: a client that reads
 * slowly holds up its worker alone. A worker opens the archive for each
 * request, as `claw search` does, so it sees what was committed a moment
 * ago; what it keeps warm is the loaded and relocated libraries. It ends
 * after CLAW_SERVE_REQUESTS requests (the parent starts another), so
 * nothing one request leaves behind can grow without bound. */
#include "build-config.h"

#include "cli-model.h"
#include "cli-module.h"
#include "cli.h"
#include "query-wire.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

int claw_cli_run(const claw_cli_call_t *call) CLAW_PUBLIC_MODULE;

#define CLAW_SERVE_REQUESTS 1000
#define CLAW_SERVE_MAX_WORKERS 64
/* A client has this long to send its request; the service this long to
 * send the status back. */
#define CLAW_SERVE_TIMEOUT_S 10

static volatile sig_atomic_t got_term, got_hup, got_chld;

static void
on_signal(int sig)
{
    if (sig == SIGTERM || sig == SIGINT)
        got_term = 1;
    else if (sig == SIGHUP)
        got_hup = 1;
    else if (sig == SIGCHLD)
        got_chld = 1;
}

/* Our handlers, without SA_RESTART: a worker blocked in accept() sees
 * SIGTERM as EINTR and ends. */
static void
catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
}

/* ---- a worker: one request ---------------------------------------------- */

typedef struct {
    claw_config_t *cfg;
    const char *prog;
    int own_out, own_err; /* the service's own standard output and error */
} worker_t;

typedef struct {
    struct ucred peer;
    int out, err; /* the client's, or -1 */
    char *buf;    /* the request's bytes */
    size_t len;
    char *argv[CLAW_QUERY_MAX_ARGS + 1];
    int argc;
} request_t;

/* Give the reads on @c what is left until @deadline (g_get_monotonic_time());
 * false once nothing is. */
static bool
time_left(int c, gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();
    struct timeval tv = {.tv_sec = left / G_USEC_PER_SEC, .tv_usec = left % G_USEC_PER_SEC};
    return left > 0 && setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0;
}

/* Read the request: its first bytes with the descriptors, then the rest
 * until the client shuts its side, all of it within CLAW_SERVE_TIMEOUT_S
 * (not each piece: a client sending a byte at a time holds its worker no
 * longer). Returns NULL, or why it is refused. */
static const char *
read_request(int c, request_t *r)
{
    gint64 deadline = g_get_monotonic_time() + CLAW_SERVE_TIMEOUT_S * G_USEC_PER_SEC;
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(2 * sizeof(int))];
    } control;
    r->buf = g_malloc(CLAW_QUERY_MAX_REQUEST + 1);
    struct iovec iov = {.iov_base = r->buf, .iov_len = CLAW_QUERY_MAX_REQUEST + 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof control.bytes};
    ssize_t n;
    do {
        if (!time_left(c, deadline))
            return "no request in time";
        n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return errno == EAGAIN ? "no request in time" : "no request";
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (r->out < 0)
                r->out = fd;
            else if (r->err < 0)
                r->err = fd;
            else
                close(fd); /* more than asked for */
        }
    }
    if ((msg.msg_flags & MSG_CTRUNC) || r->out < 0 || r->err < 0)
        return "a request must pass two descriptors (standard output and error)";
    r->len = (size_t)n;
    while (r->len <= CLAW_QUERY_MAX_REQUEST) {
        if (!time_left(c, deadline))
            return "the request did not end in time";
        n = read(c, r->buf + r->len, CLAW_QUERY_MAX_REQUEST + 1 - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? "the request did not end in time" : "the request broke off";
        if (n == 0)
            break;
        r->len += (size_t)n;
    }
    if (r->len > CLAW_QUERY_MAX_REQUEST)
        return "the request is too long";

    /* The magic, then NUL-ended arguments, the command first. */
    size_t m = sizeof CLAW_QUERY_MAGIC - 1;
    if (r->len < m || memcmp(r->buf, CLAW_QUERY_MAGIC, m) != 0)
        return "not a claw query (another version of claw?)";
    if (r->len == m || r->buf[r->len - 1] != '\0')
        return "the request's arguments are not NUL-ended";
    for (size_t at = m; at < r->len; at += strlen(r->buf + at) + 1) {
        if (r->argc == CLAW_QUERY_MAX_ARGS)
            return "too many arguments";
        r->argv[r->argc++] = r->buf + at;
    }
    r->argv[r->argc] = NULL;
    return NULL;
}

/* Make @out and @err this process's standard output and error, what was
 * written to the ones before flushed to them first. */
static void
use_std(int out, int err)
{
    fflush(stdout);
    fflush(stderr);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    clearerr(stdout);
    clearerr(stderr);
}

/* Run the request's command with the client's descriptors as standard
 * output and error; then take ours back. */
static int
run_request(worker_t *w, request_t *r)
{
    claw_cli_cmd_fn *fn = strcmp(r->argv[0], "search") == 0 ? claw_cmd_search
                          : strcmp(r->argv[0], "show") == 0 ? claw_cmd_show
                                                            : NULL;
    use_std(r->out, r->err);
    int rc;
    if (!fn) {
        fprintf(stderr, "%s serve: '%s' is not served here (search and show are)\n", w->prog,
                r->argv[0]);
        rc = EX_USAGE;
    } else {
        cli_set_caller((long)r->peer.uid);
        rc = fn(w->prog, w->cfg, NULL, r->argc, r->argv);
        cli_set_caller(-1);
    }
    use_std(w->own_out, w->own_err);
    return rc;
}

static void
serve_one(worker_t *w, int c)
{
    gint64 t0 = g_get_monotonic_time();
    struct timeval tv = {.tv_sec = CLAW_SERVE_TIMEOUT_S}; /* for the answer */
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    request_t r = {.out = -1, .err = -1};
    socklen_t len = sizeof r.peer;
    const char *refused = NULL;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &r.peer, &len) != 0)
        refused = "no peer credentials";
    else
        refused = read_request(c, &r);

    int rc;
    if (refused) {
        /* Said on the client's standard error when it passed one. */
        if (r.err >= 0)
            dprintf(r.err, "%s serve: request refused: %s\n", w->prog, refused);
        rc = EX_PROTOCOL;
    } else {
        rc = run_request(w, &r);
    }

    char user[128];
    cli_user_name(r.peer.uid, user, sizeof user);
    double ms = (double)(g_get_monotonic_time() - t0) / 1e3;
    if (refused)
        claw_log(CLAW_LOG_WARNING, NULL, "query refused pid=%ld uid=%u user=%s reason=\"%s\"",
                 (long)r.peer.pid, (unsigned)r.peer.uid, user, refused);
    else
        claw_log(CLAW_LOG_NOTICE, NULL,
                 "query pid=%ld uid=%u user=%s command=%s args=%d status=%d ms=%.1f",
                 (long)r.peer.pid, (unsigned)r.peer.uid, user, r.argv[0], r.argc - 1, rc, ms);

    char answer[32];
    int n = snprintf(answer, sizeof answer, "status %d\n", rc);
    if (send(c, answer, (size_t)n, MSG_NOSIGNAL) != n)
        claw_log(CLAW_LOG_INFO, NULL, "query pid=%ld: the client left before its answer",
                 (long)r.peer.pid);
    if (r.out >= 0)
        close(r.out);
    if (r.err >= 0)
        close(r.err);
    g_free(r.buf);
}

static void G_GNUC_NORETURN
worker_main(worker_t *w, int lfd)
{
    /* The parent's handlers stay; its children are not ours. */
    signal(SIGCHLD, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    cli_keep_archives();
    w->own_out = dup(STDOUT_FILENO);
    w->own_err = dup(STDERR_FILENO);
    for (int served = 0; served < CLAW_SERVE_REQUESTS && !got_term;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno != EINTR && errno != ECONNABORTED) {
                claw_log(CLAW_LOG_WARNING, NULL, "query accept: %s", strerror(errno));
                sleep(1); /* out of descriptors, say: do not spin */
            }
            continue;
        }
        serve_one(w, c);
        close(c);
        served++;
    }
    _exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

typedef struct {
    const char *prog;
    const char *config_path;
    claw_config_t *cfg;
    int lfd;
    int nworkers;
    pid_t workers[CLAW_SERVE_MAX_WORKERS];
    time_t started[CLAW_SERVE_MAX_WORKERS];
} server_t;

/* A worker in slot @i. The parent runs with its signals blocked outside
 * sigsuspend(); a worker takes them as they come. */
static void
start_worker(server_t *s, int i)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* A worker does not outlive the service (killed, or crashed):
         * SIGTERM when the parent goes, or now if it went already. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        worker_t w = {.cfg = s->cfg, .prog = s->prog};
        worker_main(&w, s->lfd);
    }
    if (pid < 0)
        claw_log(CLAW_LOG_ERROR, NULL, "query worker: fork: %s", strerror(errno));
    s->workers[i] = pid > 0 ? pid : 0;
    s->started[i] = time(NULL);
}

/* The socket at @path, 0660 and of group @group (0600 without one). A
 * live service there is an error; a stale socket is replaced. */
static int
make_socket(const char *prog, const char *path, const char *group, struct stat *made)
{
    claw_listen_result_t why;
    int fd = claw_listen_unix(path, *group ? 0660 : 0600, group, &why, made);
    switch (why) {
    case CLAW_LISTEN_OK:
        break;
    case CLAW_LISTEN_TOO_LONG:
        fprintf(stderr, "%s serve: %s: path too long for a socket\n", prog, path);
        break;
    case CLAW_LISTEN_NO_GROUP:
        fprintf(stderr, "%s serve: no group '%s' (--group NAME, or --group '' for the owner "
                        "alone)\n",
                prog, group);
        break;
    case CLAW_LISTEN_NOT_SOCKET:
        fprintf(stderr, "%s serve: %s exists and is not a socket; it is left alone\n", prog,
                path);
        break;
    case CLAW_LISTEN_IN_USE:
        fprintf(stderr, "%s serve: %s: another service answers there\n", prog, path);
        break;
    case CLAW_LISTEN_ERROR:
        fprintf(stderr, "%s serve: %s: %s\n", prog, path, strerror(errno));
        break;
    }
    return fd;
}

/* Wait for every worker, sending SIGTERM first. */
static void
stop_workers(server_t *s)
{
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i] > 0)
            kill(s->workers[i], SIGTERM);
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i] > 0)
            waitpid(s->workers[i], NULL, 0);
}

/* Start again each worker that ended, not more than once a second each. */
static void
reap_workers(server_t *s)
{
    pid_t pid;
    int status;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < s->nworkers; i++) {
            if (s->workers[i] != pid)
                continue;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                claw_log(CLAW_LOG_WARNING, NULL, "query worker pid=%ld ended: %s %d",
                         (long)pid, WIFEXITED(status) ? "status" : "signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            if (time(NULL) - s->started[i] < 1)
                sleep(1);
            start_worker(s, i);
        }
    }
}

/* SIGHUP: the configuration again; a bad one is logged and the old kept. */
static void
reload(server_t *s)
{
    sd_notify(0, "RELOADING=1");
    claw_config_t *cfg = NULL;
    char *err = NULL;
    claw_status_t st = claw_config_load(s->config_path, &cfg, &err);
    if (st) {
        claw_log(CLAW_LOG_ERROR, NULL, "reload refused, the old configuration is kept: %s",
                 err ? err : claw_status_to_string(st));
        free(err);
        sd_notify(0, "READY=1\nSTATUS=reload refused: the old configuration is kept");
        return;
    }
    stop_workers(s);
    claw_config_destroy(s->cfg);
    s->cfg = cfg;
    cli_apply_log_config(cfg);
    for (int i = 0; i < s->nworkers; i++)
        start_worker(s, i);
    sd_notify(0, "READY=1\nSTATUS=reloaded");
}

static int
serve(server_t *s, const char *path, const struct stat *made)
{
    catch_signals();
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < s->nworkers; i++)
        start_worker(s, i);
    claw_log(CLAW_LOG_NOTICE, NULL, "query service socket=%s workers=%d", path, s->nworkers);
    sd_notifyf(0, "READY=1\nSTATUS=answering on %s\nMAINPID=%lu", path,
               (unsigned long)getpid());
    while (!got_term) {
        sigsuspend(&old);
        if (got_chld) {
            got_chld = 0;
            reap_workers(s);
        }
        if (got_hup) {
            got_hup = 0;
            reload(s);
        }
    }
    sd_notify(0, "STOPPING=1");
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    stop_workers(s);
    if (made)
        claw_unlink_socket(path, made);
    claw_log(CLAW_LOG_NOTICE, NULL, "query service stopped");
    return 0;
}

/* Serve until SIGTERM with *@cfg, which a reload replaces. */
static int
claw_cmd_serve(const char *prog, claw_config_t **cfg, const char *config_path, int argc,
               char **argv)
{
    const char *path = claw_query_socket(), *group = "clawback-read", *workers_text = "4";
    const cli_option_t options[] = {{"socket", 's', NULL, &path},
                                    {"workers", 'w', NULL, &workers_text},
                                    {"group", 'g', NULL, &group},
                                    {0}};
    int rc = cli_parse(prog,
                       "serve [--socket PATH] [--workers N] [--group NAME]\n"
                       "Answer `claw search` and `claw show` for the members of NAME (default\n"
                       "clawback-read) on PATH (default " CLAW_QUERY_SOCKET_DEFAULT "), with N\n"
                       "worker processes (default 4).\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    char *end;
    long workers = strtol(workers_text, &end, 10);
    if (*end || workers < 1 || workers > CLAW_SERVE_MAX_WORKERS) {
        fprintf(stderr, "%s serve: --workers is 1 to %d\n", prog, CLAW_SERVE_MAX_WORKERS);
        return EX_USAGE;
    }

    server_t s = {.prog = prog, .config_path = config_path, .cfg = *cfg, .lfd = -1,
                  .nworkers = (int)workers};
    /* Under systemd's socket unit (clawback-query.socket) the socket is
     * made, owned and opened already. */
    struct stat made;
    bool own_socket = false;
    if (sd_listen_fds(1) == 1 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0))
        s.lfd = SD_LISTEN_FDS_START;
    else if ((s.lfd = make_socket(prog, path, group, &made)) >= 0)
        own_socket = true;
    else
        return EX_UNAVAILABLE;
    rc = serve(&s, path, own_socket ? &made : NULL);
    close(s.lfd);
    *cfg = s.cfg;
    return rc;
}

int
claw_cli_run(const claw_cli_call_t *call)
{
    if (strcmp(call->command, "serve") != 0) {
        fprintf(stderr, "%s: unknown command '%s' (try --help)\n", call->prog, call->command);
        return EX_USAGE;
    }
    if (call->archive) {
        fprintf(stderr, "%s serve: the service answers for [archive] path; give --config\n",
                call->prog);
        return EX_USAGE;
    }
    cli_model_set_module_dir(call->module_dir);
    claw_config_t *cfg = cli_setup(call->prog, call->config_path);
    int rc = claw_cmd_serve(call->prog, &cfg, call->config_path, call->argc, call->argv);
    claw_config_destroy(cfg);
    return rc;
}
