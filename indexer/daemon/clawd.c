/* clawd - the archive daemon: LMTP (RFC 2033) in, LMDB store and Xapian
 * index out.
 *
 * One libevent loop owns the network (listen.c). A finished DATA (lmtp.c)
 * goes to the ingest pipeline (indexer/archive/ingest.c: worker threads
 * parse, classify and compress; one writer commits groups of messages to
 * LMDB with sync on); only when the commit is done does the session answer
 * 250 for each recipient, so a message the MTA saw accepted is on disk. Any failure answers 451 and the
 * MTA keeps the message. The indexer thread follows the store into Xapian.
 *
 * Signals: SIGHUP reloads the configuration (a bad file is logged and the
 * old one kept), SIGTERM and SIGINT stop accepting, let sessions finish the
 * transaction in hand, and exit once everything is stored and indexed.
 *
 * Under systemd (Type=notify, $NOTIFY_SOCKET set) clawd says READY=1 once
 * it listens, RELOADING=1 and READY=1 around a reload, STOPPING=1 when it
 * begins to drain; elsewhere sd_notify() does nothing.
 */
#include "build-config.h"

#include "clawd.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <systemd/sd-daemon.h>

/* ------------------------------------------------------------------------
 * Signals and shutdown
 * --------------------------------------------------------------------- */

void
clawd_check_drained(server_t *srv)
{
    g_mutex_lock(&srv->done_lock);
    bool pending = !g_queue_is_empty(&srv->done);
    g_mutex_unlock(&srv->done_lock);
    if (srv->sessions == 0 && !pending)
        event_base_loopexit(srv->base, NULL);
}

static void
on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    server_t *srv = arg;
    claw_log(CLAW_LOG_WARNING, NULL, "%ld sessions still open after %d s; closing them",
             srv->sessions, DRAIN_TIMEOUT);
    event_base_loopexit(srv->base, NULL);
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    clawd_stop(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

void
clawd_stop(server_t *srv, const char *why)
{
    if (srv->draining)
        return;
    claw_log(CLAW_LOG_NOTICE, NULL, "%s: finishing %ld sessions, then exiting", why,
             srv->sessions);
    sd_notify(0, "STOPPING=1");
    srv->draining = true;
    for (guint i = 0; i < srv->listeners->len; i++)
        evconnlistener_free(srv->listeners->pdata[i]);
    g_ptr_array_set_size(srv->listeners, 0);
    clawd_socket_remove(srv);
    /* Idle sessions go now; busy ones after their transaction. */
    GList *all = g_hash_table_get_keys(srv->live);
    for (GList *l = all; l; l = l->next) {
        session_t *s = l->data;
        if (s->state == S_CMD && !s->mail_from) {
            clawd_reply(s, "421 4.3.2 Shutting down, come back later");
            clawd_close_after_flush(s);
        }
    }
    g_list_free(all);
    struct timeval tv = {DRAIN_TIMEOUT, 0};
    srv->drain_timer = evtimer_new(srv->base, on_drain_timeout, srv);
    evtimer_add(srv->drain_timer, &tv);
    clawd_check_drained(srv);
}

/* What the event loop reads of the configuration, at start and on HUP:
 * the limits and who may connect. (Where clawd listens is fixed at start.) */
static void
apply_limits(server_t *srv)
{
    int64_t max_sessions = 0;
    const claw_cidr_t *allow;
    size_t n_allow = 0;
    claw_config_get_size(srv->cfg, "limits", "max_message_bytes", &srv->max_size);
    /* A smaller budget applies to what sessions take from then on; what
     * they hold already is given back as before. */
    claw_config_get_size(srv->cfg, "clawd", "memory_budget", &srv->budget);
    /* A message the whole budget cannot hold would never be taken. */
    srv->max_size = MIN(srv->max_size, srv->budget);
    claw_config_get_int(srv->cfg, "clawd", "max_sessions", &max_sessions);
    srv->max_sessions = (long)max_sessions;
    g_array_set_size(srv->allow, 0);
    if (claw_config_get_cidrs(srv->cfg, "clawd", "allow", &allow, &n_allow) == 0)
        g_array_append_vals(srv->allow, allow, (guint)n_allow);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    server_t *srv = arg;
    claw_config_t *cfg = NULL;
    char *err = NULL;
    sd_notify(0, "RELOADING=1");
    claw_status_t st = claw_config_load(srv->config_path, &cfg, &err);
    if (!st)
        st = claw_ingest_reload(srv->ingest, cfg, &err);
    if (st) {
        claw_log(CLAW_LOG_ERROR, NULL, "SIGHUP: keeping the old configuration: %s",
                 err ? err : claw_status_to_string(st));
        free(err);
        claw_config_destroy(cfg);
        sd_notify(0, "READY=1\nSTATUS=reload refused: the old configuration is kept");
        return;
    }
    clawd_puller_stop(srv->puller);
    claw_config_destroy(srv->cfg);
    srv->cfg = cfg;
    apply_limits(srv);
    srv->puller = clawd_puller_start(srv);
    claw_log_configure(cfg, "clawd", srv->log_stderr ? CLAW_LOG_FORCE_STDERR : CLAW_LOG_AS_CONFIGURED);
    claw_log(CLAW_LOG_NOTICE, NULL, "SIGHUP: reloaded %s", srv->config_path);
    sd_notify(0, "READY=1\nSTATUS=reloaded");
}

/* ------------------------------------------------------------------------
 * main
 * --------------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(f,
            "Usage: clawd [-c FILE] [--archive DIR] [--socket PATH] [--listen ADDR:PORT]...\n"
            "             [--stderr]\n"
            "       clawd --check-config [-c FILE]\n"
            "\n"
            "The Clawback archive daemon: LMTP in, LMDB store and Xapian index out.\n"
            "\n"
            "  -c, --config FILE    configuration (default %s)\n"
            "  -a, --archive DIR    the archive (default: [archive] path)\n"
            "  -s, --socket PATH    LMTP on this Unix socket (default: [clawd] socket)\n"
            "  -l, --listen A:P     LMTP on this TCP address too (repeatable)\n"
            "  -n, --check-config   check the configuration and exit\n"
            "      --stderr         log to stderr whatever [log] sink says\n"
            "  -h, --help           this help\n"
            "  -V, --version        the version\n"
            "\n"
            "Signals: HUP reloads the configuration, TERM and INT drain and exit.\n"
            "Exit status: 0 after a clean stop, 64 usage, 70 internal error, 71 cannot listen,\n"
            "74 archive error, 78 configuration error.\n",
            CLAW_DEFAULT_CONFIG);
}

/* A configuration error before anything is opened: said on stderr, as
 * logging is not set up yet. */
static int
config_failed(claw_status_t st, char *err)
{
    fprintf(stderr, "clawd: %s\n", err ? err : claw_status_to_string(st));
    free(err);
    return EX_CONFIG;
}

/* Leave main before the archive is opened: free what it has made. */
static int
exit_early(server_t *srv, claw_engine_t *engine, GPtrArray *listens, int rc)
{
    if (srv->allow)
        g_array_free(srv->allow, TRUE);
    claw_engine_destroy(engine);
    claw_config_destroy(srv->cfg);
    g_ptr_array_free(listens, TRUE);
    return rc;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"archive", required_argument, NULL, 'a'},
        {"socket", required_argument, NULL, 's'}, {"listen", required_argument, NULL, 'l'},
        {"check-config", no_argument, NULL, 'n'}, {"stderr", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = CLAW_DEFAULT_CONFIG, *archive = NULL, *sock = NULL;
    GPtrArray *listens = g_ptr_array_new();
    bool check = false, to_stderr = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:a:s:l:nhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'a': archive = optarg; break;
        case 's': sock = optarg; break;
        case 'l': g_ptr_array_add(listens, optarg); break;
        case 'n': check = true; break;
        case 'E': to_stderr = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("clawd (Clawback) %s\n", claw_version()); return 0;
        default: usage(stderr); return EX_USAGE;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return EX_USAGE;
    }
    server_t srv = {0};
    srv.config_path = config_path;
    char *err = NULL;
    claw_status_t st = claw_config_load(config_path, &srv.cfg, &err);
    if (st)
        return exit_early(&srv, NULL, listens, config_failed(st, err));
    if (check) {
        /* What claw --check-config runs too: the engine's checks (indicator
         * files included) and ours; listen and allow were checked loading. */
        st = claw_config_check(srv.cfg, &err);
        if (!st)
            printf("%s: OK\n", config_path);
        return exit_early(&srv, NULL, listens, st ? config_failed(st, err) : 0);
    }
    /* The engine's checks (policy, indicator and relay files) fail here as
     * a configuration error, before anything is opened. (The rest of what
     * --check-config runs, socket and listen, is checked where they are
     * used, after the command line.) The engine is kept until exit: the
     * last engine's end shuts GMime down, and setting it up again after
     * that leaks. */
    claw_engine_t *checked = NULL;
    st = claw_engine_new(srv.cfg, &checked, &err);
    if (st)
        return exit_early(&srv, NULL, listens, config_failed(st, err));
    srv.allow = g_array_new(FALSE, FALSE, sizeof(claw_cidr_t));
    apply_limits(&srv);
    srv.log_stderr = to_stderr;
    claw_log_configure(srv.cfg, "clawd", to_stderr ? CLAW_LOG_FORCE_STDERR : CLAW_LOG_AS_CONFIGURED);
    const char *const *tcp;
    size_t n_tcp = 0;
    claw_config_get_list(srv.cfg, "clawd", "listen", &tcp, &n_tcp);
    if ((n_tcp || listens->len) && !clawd_tls_setup(&srv))
        return exit_early(&srv, checked, listens, EX_CONFIG);
    signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
    /* Messages and their parse come and go in blocks of megabytes: have
     * each one mapped and unmapped on its own, so what one message used
     * goes back to the system when it is stored. glibc would otherwise
     * raise this threshold to the largest block freed (up to 32 MiB) and
     * keep such blocks in its heaps, where they add up. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    evthread_use_pthreads();
    srv.base = event_base_new();
    srv.listeners = g_ptr_array_new();
    srv.live = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_mutex_init(&srv.done_lock);
    g_queue_init(&srv.done);
    if (gethostname(srv.hostname, sizeof srv.hostname - 1) != 0)
        strcpy(srv.hostname, "localhost");

    srv.archive_dir = g_strdup(archive ? archive : claw_config_get(srv.cfg, "archive", "path"));
    claw_archive_settings_t set;
    claw_archive_settings_read(srv.cfg, &set);
    st = claw_archive_open(srv.archive_dir, 0, set.map_size, &srv.archive, &err);
    claw_archive_settings_clear(&set);
    int rc = 0;
    if (st) {
        claw_log(CLAW_LOG_ERROR, NULL, "%s", err ? err : claw_status_to_string(st));
        rc = EX_IOERR;
    }
    if (!rc && (st = claw_indexer_start(srv.archive, srv.cfg, NULL, false, &srv.indexer, &err))) {
        claw_log(CLAW_LOG_ERROR, NULL, "index: %s", err ? err : claw_status_to_string(st));
        rc = st == CLAW_STATUS_CONFIG_ERROR ? EX_CONFIG : EX_IOERR;
    }
    if (!rc && (st = claw_ingest_start(srv.archive, srv.cfg, srv.indexer, clawd_ingest_done, &srv,
                                       &srv.ingest, &err))) {
        claw_log(CLAW_LOG_ERROR, NULL, "%s", err ? err : claw_status_to_string(st));
        rc = EX_SOFTWARE;
    }
    srv.done_ev = event_new(srv.base, -1, 0, clawd_on_done, &srv);

    const char *path = sock ? sock : claw_config_get(srv.cfg, "clawd", "socket");
    bool ok = !rc;
    if (ok && path && *path)
        ok = clawd_listen_unix(&srv, path, 0660, claw_config_get(srv.cfg, "clawd", "socket_group"));
    for (size_t i = 0; ok && i < n_tcp; i++)
        ok = clawd_listen_tcp(&srv, tcp[i]);
    for (guint i = 0; ok && i < listens->len; i++)
        ok = clawd_listen_tcp(&srv, listens->pdata[i]);
    if (ok && srv.listeners->len == 0) {
        claw_log(CLAW_LOG_ERROR, NULL, "nothing to listen on: set [clawd] socket or listen");
        ok = false;
    }
    if (!ok) {
        rc = rc ? rc : EX_OSERR;
    } else {
        srv.sig_term = evsignal_new(srv.base, SIGTERM, on_stop, &srv);
        srv.sig_int = evsignal_new(srv.base, SIGINT, on_stop, &srv);
        srv.sig_hup = evsignal_new(srv.base, SIGHUP, on_hup, &srv);
        event_add(srv.sig_term, NULL);
        event_add(srv.sig_int, NULL);
        event_add(srv.sig_hup, NULL);
        claw_log(CLAW_LOG_NOTICE, NULL, "clawd %s: archive %s, index at %" PRIu64,
                 claw_version(), srv.archive_dir, claw_indexer_indexed(srv.indexer));
        srv.audit_head = clawd_audit_head_start(&srv); /* first: the log as clawd found it */
        srv.publisher = clawd_publisher_start(&srv);
        srv.hunter = clawd_hunter_start(&srv);
        srv.puller = clawd_puller_start(&srv);
        sd_notifyf(0, "READY=1\nSTATUS=archive %s\nMAINPID=%lu", srv.archive_dir,
                   (unsigned long)getpid());
        event_base_dispatch(srv.base);
    }
    /* Teardown in reverse: no new work, everything stored, then indexed. */
    for (guint i = 0; i < srv.listeners->len; i++)
        evconnlistener_free(srv.listeners->pdata[i]);
    clawd_socket_remove(&srv);
    claw_ingest_stop(srv.ingest);
    if (srv.ingest)
        clawd_on_done(-1, 0, &srv); /* answer what the last commits finished */
    GList *all = g_hash_table_get_keys(srv.live);
    for (GList *l = all; l; l = l->next)
        clawd_session_close(l->data);
    g_list_free(all);
    clawd_puller_stop(srv.puller);
    clawd_hunter_stop(srv.hunter);
    claw_indexer_stop(srv.indexer);
    clawd_publisher_stop(srv.publisher);
    clawd_audit_head_stop(srv.audit_head);
    if (srv.archive)
        claw_log(CLAW_LOG_NOTICE, NULL,
                 "stopped: %" PRIu64 " messages stored in %u commits, %" PRIu64 " failed",
                 srv.stored, claw_archive_commits(srv.archive), srv.failed);
    claw_archive_close(srv.archive);
    if (srv.sig_term) {
        event_free(srv.sig_term);
        event_free(srv.sig_int);
        event_free(srv.sig_hup);
    }
    if (srv.drain_timer)
        event_free(srv.drain_timer);
    event_free(srv.done_ev);
    g_hash_table_destroy(srv.live);
    g_ptr_array_free(srv.listeners, TRUE);
    g_ptr_array_free(listens, TRUE);
    g_array_free(srv.allow, TRUE);
    event_base_free(srv.base);
    g_free(srv.archive_dir);
    claw_config_destroy(srv.cfg);
    claw_engine_destroy(checked);
    clawd_tls_free(&srv);
    free(err);
    return rc ? rc : srv.exit_code;
}
