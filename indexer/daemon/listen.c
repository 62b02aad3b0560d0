/* listen.c - where clawd listens: its Unix socket (mode and group) and
 * TCP addresses with the [clawd] allow-list, and the events of a
 * connection (readable, written, closed) that drive its session.
 */
#include "build-config.h"

#include "clawd.h"

/* ------------------------------------------------------------------------
 * Connections
 * --------------------------------------------------------------------- */

static void
on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    clawd_session_process(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
    session_t *s = arg;
    if (s->state == S_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            clawd_session_close(s);
    } else if (s->out_paused) {
        clawd_session_resume(s);
    }
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    session_t *s = arg;
    server_t *srv = s->srv;
    if (what & BEV_EVENT_CONNECTED) {
        /* The STARTTLS handshake is done. */
        clawd_tls_established(s);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        clawd_reply(s, "421 4.4.2 Idle too long");
        bufferevent_flush(s->bev, EV_WRITE, BEV_FINISHED);
    }
    /* A session that ends in the middle of DATA stored nothing; one that
     * ends while its message is committing leaves the MTA to retry: the
     * store recognises the same delivery and keeps it once. */
    clawd_session_close(s);
    if (srv->draining)
        clawd_check_drained(srv);
}

void
clawd_session_watch(session_t *s)
{
    bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
    struct timeval tv = {IDLE_TIMEOUT, 0};
    bufferevent_set_timeouts(s->bev, &tv, &tv);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static bool
allowed(server_t *srv, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_UNIX)
        return true;
    const unsigned char *a;
    if (sa->sa_family == AF_INET)
        a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    else
        return false;
    for (guint i = 0; i < srv->allow->len; i++)
        if (claw_cidr_contains(&g_array_index(srv->allow, claw_cidr_t, i), sa->sa_family, a))
            return true;
    return false;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l, (void)salen;
    server_t *srv = arg;
    char peer[64] = "local";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, peer, sizeof peer);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, peer, sizeof peer);
    if (!allowed(srv, sa)) {
        static const char no[] = "554 5.7.1 Not allowed to use this archive\r\n";
        if (write(fd, no, sizeof no - 1) < 0) {
            /* nothing to do: the connection closes anyway */
        }
        claw_log(CLAW_LOG_WARNING, NULL, "refused a connection from %s (not in [clawd] allow)",
                 peer);
        evutil_closesocket(fd);
        return;
    }
    struct bufferevent *bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    session_t *s = g_new0(session_t, 1);
    s->srv = srv;
    s->bev = bev;
    s->refs = 1;
    s->rcpt = g_ptr_array_new_with_free_func(g_free);
    snprintf(s->peer, sizeof s->peer, "%s", peer);
    /* The Unix socket's file mode and group say who connects; a TCP peer
     * proves it with a client certificate after STARTTLS (tls.c). */
    s->tcp = sa->sa_family != AF_UNIX;
    s->trusted = !s->tcp;
    srv->sessions++;
    g_hash_table_add(srv->live, s);
    clawd_session_watch(s);
    if (srv->draining || srv->sessions > srv->max_sessions) {
        clawd_reply(s, "421 4.3.2 %s", srv->draining ? "Shutting down" : "Too many sessions, try later");
        clawd_close_after_flush(s);
        return;
    }
    clawd_reply(s, "220 %s LMTP Clawback clawd %s ready", srv->hostname, claw_version());
}

/* ------------------------------------------------------------------------
 * Listening
 * --------------------------------------------------------------------- */

void
clawd_socket_remove(server_t *srv)
{
    if (!srv->socket_path)
        return;
    claw_unlink_socket(srv->socket_path, &srv->socket_made);
    g_free(srv->socket_path);
    srv->socket_path = NULL;
}

bool
clawd_listen_unix(server_t *srv, const char *path, unsigned mode, const char *group)
{
    claw_listen_result_t why;
    int fd = claw_listen_unix(path, mode, group, &why, &srv->socket_made);
    switch (why) {
    case CLAW_LISTEN_OK:
        break;
    case CLAW_LISTEN_TOO_LONG:
        claw_log(CLAW_LOG_ERROR, NULL, "socket path too long: %s", path);
        return false;
    case CLAW_LISTEN_NO_GROUP:
        claw_log(CLAW_LOG_ERROR, NULL, "[clawd] socket_group: no group '%s'", group);
        return false;
    case CLAW_LISTEN_NOT_SOCKET:
        claw_log(CLAW_LOG_ERROR, NULL,
                 "%s exists and is not a socket; clawd will not replace it (choose another "
                 "[clawd] socket or --socket)",
                 path);
        return false;
    case CLAW_LISTEN_IN_USE:
        claw_log(CLAW_LOG_ERROR, NULL, "%s: another clawd is listening there", path);
        return false;
    case CLAW_LISTEN_ERROR:
        claw_log(CLAW_LOG_ERROR, NULL, "%s: cannot listen: %s", path, strerror(errno));
        return false;
    }
    evutil_make_socket_nonblocking(fd);
    struct evconnlistener *l = evconnlistener_new(
        srv->base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!l) {
        claw_log(CLAW_LOG_ERROR, NULL, "%s: cannot listen: %s", path, strerror(errno));
        claw_unlink_socket(path, &srv->socket_made);
        close(fd);
        return false;
    }
    g_ptr_array_add(srv->listeners, l);
    srv->socket_path = g_strdup(path);
    claw_log(CLAW_LOG_NOTICE, NULL, "LMTP on %s", path);
    return true;
}

bool
clawd_listen_tcp(server_t *srv, const char *spec)
{
    struct sockaddr_storage ss;
    size_t len;
    if (claw_endpoint_parse(spec, &ss, &len) != CLAW_STATUS_SUCCESS) {
        claw_log(CLAW_LOG_ERROR, NULL, "'%s' is not ADDRESS:PORT", spec);
        return false;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        srv->base, on_accept, srv,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 128,
        (struct sockaddr *)&ss, (int)len);
    if (!l) {
        claw_log(CLAW_LOG_ERROR, NULL, "%s: cannot listen: %s", spec, strerror(errno));
        return false;
    }
    g_ptr_array_add(srv->listeners, l);
    claw_log(CLAW_LOG_NOTICE, NULL, "LMTP on %s", spec);
    return true;
}
