/* clawd - the archive daemon: LMTP (RFC 2033) in, LMDB store and Xapian
 * index out.
 *
 * One libevent loop owns the network. A finished DATA goes to the ingest
 * pipeline (lib/ingest.c: worker threads parse, classify and compress; one
 * writer commits groups of messages to LMDB with sync on); only when the
 * commit is done does the session answer 250 for each recipient, so a
 * message the MTA saw accepted is on disk. Any failure answers 451 and the
 * MTA keeps the message. The indexer thread follows the store into Xapian.
 *
 * Signals: SIGHUP reloads the configuration (a bad file is logged and the
 * old one kept), SIGTERM and SIGINT stop accepting, let sessions finish the
 * transaction in hand, and exit once everything is stored and indexed.
 */
#include "build-config.h"

#include "claw-ingest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <getopt.h>
#include <grp.h>
#include <glib.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#define MAX_LINE 4096        /* a command line */
#define MAX_RCPT 1000        /* recipients per transaction */
#define IDLE_TIMEOUT 300     /* seconds, as RFC 5321 asks of servers */
#define DRAIN_TIMEOUT 60     /* seconds SIGTERM waits for sessions */

typedef struct server {
    struct event_base *base;
    claw_config_t *cfg;
    const char *config_path;
    bool log_stderr;         /* --stderr: whatever [log] sink says, also after HUP */
    char *archive_dir;
    claw_archive_t *archive;
    claw_indexer_t *indexer;
    claw_ingest_t *ingest;
    GPtrArray *listeners;    /* struct evconnlistener */
    char *socket_path;       /* to unlink at exit */
    GArray *allow;           /* claw_cidr_t, [clawd] allow at start */
    char hostname[256];
    uint64_t max_size;
    long max_sessions;
    long sessions;
    GHashTable *live;        /* session_t* */
    bool draining;
    struct event *done_ev;
    GMutex done_lock;
    GQueue done;             /* completed_t* from the writer thread */
    struct event *sig_term, *sig_int, *sig_hup, *drain_timer;
    uint64_t stored, failed;
} server_t;

typedef enum { S_CMD, S_DATA, S_WAIT, S_CLOSING } state_t;

typedef struct session {
    server_t *srv;
    struct bufferevent *bev;
    state_t state;
    int refs;
    bool closed;             /* the connection is gone */
    bool lhlo;
    char peer[64];
    char *mail_from;         /* NULL: no MAIL yet */
    GPtrArray *rcpt;
    claw_delivery_attrs_t xforward;
    GByteArray *data;        /* "\r\n" + the DATA bytes so far */
    size_t scan;             /* where to look for the end next */
    bool oversize;
} session_t;

typedef struct {
    session_t *s;
    claw_item_t *item;
    claw_status_t st;
    char *error;
} completed_t;

static void session_process(session_t *s);
static void session_unref(session_t *s);

/* ------------------------------------------------------------------------
 * Replies
 * --------------------------------------------------------------------- */

static void
reply(session_t *s, const char *fmt, ...) CLAW_PRINTF(2, 3);

static void
reply(session_t *s, const char *fmt, ...)
{
    if (s->closed)
        return;
    va_list ap;
    va_start(ap, fmt);
    struct evbuffer *out = bufferevent_get_output(s->bev);
    evbuffer_add_vprintf(out, fmt, ap);
    evbuffer_add(out, "\r\n", 2);
    va_end(ap);
}

static void
reset_transaction(session_t *s)
{
    g_free(s->mail_from);
    s->mail_from = NULL;
    g_ptr_array_set_size(s->rcpt, 0);
    if (s->data)
        g_byte_array_unref(s->data);
    s->data = NULL;
    s->scan = 0;
    s->oversize = false;
}

static void
session_close(session_t *s)
{
    if (s->closed)
        return;
    s->closed = true;
    bufferevent_free(s->bev);
    s->bev = NULL;
    s->srv->sessions--;
    g_hash_table_remove(s->srv->live, s);
    session_unref(s);
}

static void
session_unref(session_t *s)
{
    if (--s->refs > 0)
        return;
    reset_transaction(s);
    g_ptr_array_free(s->rcpt, TRUE);
    claw_delivery_attrs_clear(&s->xforward);
    g_free(s);
}

/* Close once everything written has gone out. */
static void
close_after_flush(session_t *s)
{
    s->state = S_CLOSING;
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        session_close(s);
    else
        bufferevent_disable(s->bev, EV_READ);
}

/* ------------------------------------------------------------------------
 * Commands
 * --------------------------------------------------------------------- */

/* The address inside "<...>" after "FROM:" or "TO:", and where the
 * parameters start. NULL when malformed. */
static char *
path_arg(const char *p, const char **params)
{
    while (*p == ' ')
        p++;
    if (*p != '<')
        return NULL;
    const char *e = strchr(p, '>');
    if (!e)
        return NULL;
    /* Control characters have no place in an address. */
    for (const char *q = p + 1; q < e; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            return NULL;
    *params = e + 1;
    return g_strndup(p + 1, (gsize)(e - p - 1));
}

/* xtext (RFC 3461) as XFORWARD sends it. */
static char *
xtext_decode(const char *s, size_t n)
{
    GString *o = g_string_new(NULL);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+' && i + 2 < n && g_ascii_isxdigit(s[i + 1]) && g_ascii_isxdigit(s[i + 2])) {
            g_string_append_c(o, (char)(g_ascii_xdigit_value(s[i + 1]) * 16 +
                                        g_ascii_xdigit_value(s[i + 2])));
            i += 2;
        } else {
            g_string_append_c(o, s[i]);
        }
    }
    return g_string_free(o, FALSE);
}

static void
cmd_xforward(session_t *s, const char *args)
{
    gchar **kv = g_strsplit(args, " ", 16);
    for (gchar **p = kv; *p; p++) {
        char *eq = strchr(*p, '=');
        if (!eq)
            continue;
        *eq = '\0';
        int attr = claw_delivery_attr_from_xforward(*p);
        if (attr >= 0) {
            char *v = xtext_decode(eq + 1, strlen(eq + 1));
            claw_delivery_attrs_set(&s->xforward, attr, v);
            g_free(v);
        }
    }
    g_strfreev(kv);
    reply(s, "250 2.0.0 Ok");
}

static void
start_data(session_t *s)
{
    s->data = g_byte_array_sized_new(65536);
    g_byte_array_append(s->data, (const guint8 *)"\r\n", 2);
    s->scan = 0;
    s->oversize = false;
    s->state = S_DATA;
    reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
command(session_t *s, char *line)
{
    server_t *srv = s->srv;
    char verb[16];
    size_t i = 0;
    while (line[i] && line[i] != ' ' && i < sizeof verb - 1) {
        verb[i] = g_ascii_toupper(line[i]);
        i++;
    }
    verb[i] = '\0';
    const char *args = line + i;
    while (*args == ' ')
        args++;

    if (!strcmp(verb, "LHLO")) {
        reset_transaction(s);
        s->lhlo = true;
        reply(s, "250-%s", srv->hostname);
        reply(s, "250-PIPELINING");
        reply(s, "250-ENHANCEDSTATUSCODES");
        reply(s, "250-8BITMIME");
        reply(s, "250-SMTPUTF8");
        reply(s, "250-XFORWARD NAME ADDR PROTO HELO SOURCE");
        reply(s, "250 SIZE %" PRIu64, srv->max_size);
    } else if (!strcmp(verb, "HELO") || !strcmp(verb, "EHLO")) {
        reply(s, "500 5.5.1 This is LMTP (RFC 2033): say LHLO");
    } else if (!strcmp(verb, "QUIT")) {
        reply(s, "221 2.0.0 Bye");
        close_after_flush(s);
    } else if (!strcmp(verb, "NOOP")) {
        reply(s, "250 2.0.0 Ok");
    } else if (!strcmp(verb, "RSET")) {
        reset_transaction(s);
        reply(s, "250 2.0.0 Ok");
    } else if (!strcmp(verb, "VRFY")) {
        reply(s, "252 2.5.0 Cannot verify, will archive");
    } else if (!s->lhlo) {
        reply(s, "503 5.5.1 Say LHLO first");
    } else if (!strcmp(verb, "XFORWARD")) {
        cmd_xforward(s, args);
    } else if (!strcmp(verb, "MAIL")) {
        const char *params;
        char *addr;
        if (s->mail_from) {
            reply(s, "503 5.5.1 MAIL already given");
        } else if (g_ascii_strncasecmp(args, "FROM:", 5) != 0 ||
                   !(addr = path_arg(args + 5, &params))) {
            reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        } else {
            const char *sz = strstr(params, "SIZE=");
            if (sz && g_ascii_strtoull(sz + 5, NULL, 10) > srv->max_size) {
                reply(s, "552 5.3.4 Message too big (limit %" PRIu64 " bytes)", srv->max_size);
                g_free(addr);
            } else {
                s->mail_from = addr;
                reply(s, "250 2.1.0 Ok");
            }
        }
    } else if (!strcmp(verb, "RCPT")) {
        const char *params;
        char *addr;
        if (!s->mail_from) {
            reply(s, "503 5.5.1 MAIL first");
        } else if (g_ascii_strncasecmp(args, "TO:", 3) != 0 ||
                   !(addr = path_arg(args + 3, &params)) || !*addr) {
            reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        } else if (s->rcpt->len >= MAX_RCPT) {
            reply(s, "452 4.5.3 Too many recipients");
            g_free(addr);
        } else {
            g_ptr_array_add(s->rcpt, addr);
            reply(s, "250 2.1.5 Ok");
        }
    } else if (!strcmp(verb, "DATA")) {
        if (!s->mail_from || !s->rcpt->len)
            reply(s, "503 5.5.1 %s first", s->mail_from ? "RCPT" : "MAIL");
        else
            start_data(s);
    } else {
        reply(s, "500 5.5.2 Unknown command");
    }
}

/* ------------------------------------------------------------------------
 * DATA
 * --------------------------------------------------------------------- */

/* The DATA bytes between the leading "\r\n" and the final "\r\n.\r\n",
 * dot-unstuffed and with CRLF made LF (how mailboxes store mail). */
static char *
unstuff(const guint8 *d, size_t n, size_t *out_len)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t w = 0;
    bool bol = true;
    for (size_t i = 0; i < n; i++) {
        if (bol && d[i] == '.') {
            bol = false;
            continue; /* a leading dot was doubled by the client */
        }
        bol = false;
        if (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n')
            continue;
        o[w++] = (char)d[i];
        if (d[i] == '\n')
            bol = true;
    }
    *out_len = w;
    return o;
}

static void
deliver(session_t *s, size_t end)
{
    server_t *srv = s->srv;
    if (s->oversize) {
        for (guint i = 0; i < s->rcpt->len; i++)
            reply(s, "552 5.3.4 Message too big (limit %" PRIu64 " bytes)", srv->max_size);
        reset_transaction(s);
        s->state = S_CMD;
        return;
    }
    size_t len;
    /* Skip our leading "\r\n"; keep the CRLF that ends the last line. */
    char *raw = end ? unstuff(s->data->data + 2, end, &len) : malloc(1);
    if (!end)
        len = 0;
    if (!raw) {
        for (guint i = 0; i < s->rcpt->len; i++)
            reply(s, "451 4.3.0 Out of memory");
        reset_transaction(s);
        s->state = S_CMD;
        return;
    }
    g_byte_array_unref(s->data);
    s->data = NULL;
    /* Journal copies from Postfix's recipient_bcc_maps carry the original
     * recipient in the address: NAME+LOCAL=DOMAIN@journal_domain. */
    const char *jd = claw_config_get(srv->cfg, "clawd", "journal_domain");
    GPtrArray *rcpt = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < s->rcpt->len; i++) {
        const char *r = s->rcpt->pdata[i], *at = strrchr(r, '@'), *plus = strchr(r, '+');
        const char *eq = plus ? strrchr(plus, '=') : NULL;
        if (jd && *jd && at && g_ascii_strcasecmp(at + 1, jd) == 0 && plus && eq && eq < at &&
            eq > plus + 1 && at > eq + 1)
            g_ptr_array_add(rcpt, g_strdup_printf("%.*s@%.*s", (int)(eq - plus - 1), plus + 1,
                                                  (int)(at - eq - 1), eq + 1));
        else
            g_ptr_array_add(rcpt, g_strdup(r));
    }
    claw_delivery_t d = {0};
    d.mail_from = s->mail_from;
    d.rcpt = (const char *const *)rcpt->pdata;
    d.n_rcpt = rcpt->len;
    claw_delivery_attrs_fill(&s->xforward, &d);
    d.source = "lmtp";
    d.time_ms = g_get_real_time() / 1000;
    s->state = S_WAIT;
    s->refs++;
    bufferevent_disable(s->bev, EV_READ);
    claw_ingest_submit(srv->ingest, raw, len, &d, s);
    g_ptr_array_free(rcpt, TRUE);
}

/* Take what arrived of the DATA; true when the message is complete. */
static bool
data_in(session_t *s, struct evbuffer *in)
{
    size_t avail = evbuffer_get_length(in);
    if (avail) {
        size_t old = s->data->len;
        if (!s->oversize && old + avail > s->srv->max_size + 64) {
            s->oversize = true;
        }
        if (s->oversize) {
            /* Keep only the tail that may hold the end marker. */
            size_t keep = old < 4 ? old : 4;
            memmove(s->data->data, s->data->data + old - keep, keep);
            g_byte_array_set_size(s->data, (guint)keep);
            s->scan = 0;
            old = keep;
        }
        g_byte_array_set_size(s->data, (guint)(old + avail));
        evbuffer_remove(in, s->data->data + old, avail);
    }
    const guint8 *d = s->data->data;
    size_t n = s->data->len;
    size_t from = s->scan;
    const guint8 *hit = n >= 5 ? memmem(d + from, n - from, "\r\n.\r\n", 5) : NULL;
    if (!hit) {
        s->scan = n >= 4 ? n - 4 : 0;
        return false;
    }
    size_t end = (size_t)(hit - d);      /* the CRLF before the dot */
    size_t after = end + 5;
    /* Bytes after the end marker are pipelined commands: give them back. */
    if (after < n)
        evbuffer_prepend(in, d + after, n - after);
    deliver(s, end);
    return true;
}

static void
session_process(session_t *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    while (!s->closed && (s->state == S_CMD || s->state == S_DATA)) {
        if (s->state == S_DATA) {
            if (!data_in(s, in))
                return;
            continue;
        }
        if (s->srv->draining) {
            reply(s, "421 4.3.2 Shutting down, come back later");
            close_after_flush(s);
            return;
        }
        size_t n;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) {
            if (evbuffer_get_length(in) > MAX_LINE) {
                reply(s, "500 5.5.6 Line too long");
                close_after_flush(s);
            }
            return;
        }
        if (n > MAX_LINE || memchr(line, '\0', n)) {
            reply(s, "500 5.5.6 Line too long or with NUL");
        } else {
            command(s, line);
        }
        free(line);
    }
}

/* ------------------------------------------------------------------------
 * Completion: the writer thread hands results to the loop
 * --------------------------------------------------------------------- */

static void
ingest_done(void *ctx, void *tag, claw_item_t *item, claw_status_t st, const char *error)
{
    server_t *srv = ctx;
    completed_t *c = g_new0(completed_t, 1);
    c->s = tag;
    c->item = item;
    c->st = st;
    c->error = g_strdup(error);
    g_mutex_lock(&srv->done_lock);
    g_queue_push_tail(&srv->done, c);
    g_mutex_unlock(&srv->done_lock);
    event_active(srv->done_ev, EV_READ, 0);
}

static void check_drained(server_t *srv);

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    server_t *srv = arg;
    for (;;) {
        g_mutex_lock(&srv->done_lock);
        completed_t *c = g_queue_pop_head(&srv->done);
        g_mutex_unlock(&srv->done_lock);
        if (!c)
            break;
        session_t *s = c->s;
        if (c->st || !c->item) {
            srv->failed++;
            claw_log(CLAW_LOG_ERROR, NULL, "%s: not stored, told 451: %s", s->peer,
                     c->error ? c->error : claw_status_to_string(c->st));
            for (guint i = 0; i < s->rcpt->len; i++)
                reply(s, "451 4.3.0 Archive unavailable, try again later");
        } else {
            srv->stored++;
            const char *how = claw_item_outcome(c->item) == CLAW_ITEM_DUPLICATE ? "already stored"
                               : claw_item_outcome(c->item) == CLAW_ITEM_NEW_DELIVERY
                                   ? "stored (another delivery)"
                                   : "stored";
            claw_log(CLAW_LOG_INFO, claw_item_id(c->item), "%s: %s as %" PRIu64 ", %u rcpt, %s",
                     s->peer, how, claw_item_docid(c->item), s->rcpt->len,
                     claw_item_action(c->item));
            for (guint i = 0; i < s->rcpt->len; i++)
                reply(s, "250 2.0.0 %s %s", claw_item_id(c->item), how);
        }
        claw_item_free(c->item);
        g_free(c->error);
        g_free(c);
        if (!s->closed) {
            reset_transaction(s);
            s->state = S_CMD;
            bufferevent_enable(s->bev, EV_READ);
            session_process(s);
        }
        session_unref(s);
    }
    if (srv->draining)
        check_drained(srv);
}

/* ------------------------------------------------------------------------
 * Connections
 * --------------------------------------------------------------------- */

static void
on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    session_process(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
    session_t *s = arg;
    if (s->state == S_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        session_close(s);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    session_t *s = arg;
    server_t *srv = s->srv;
    if (what & BEV_EVENT_TIMEOUT) {
        reply(s, "421 4.4.2 Idle too long");
        bufferevent_flush(s->bev, EV_WRITE, BEV_FINISHED);
    }
    /* A session that ends in the middle of DATA stored nothing; one that
     * ends while its message is committing leaves the MTA to retry: the
     * store recognises the same delivery and keeps it once. */
    session_close(s);
    if (srv->draining)
        check_drained(srv);
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
    srv->sessions++;
    g_hash_table_add(srv->live, s);
    bufferevent_setcb(bev, on_read, on_write, on_event, s);
    struct timeval tv = {IDLE_TIMEOUT, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (srv->draining || srv->sessions > srv->max_sessions) {
        reply(s, "421 4.3.2 %s", srv->draining ? "Shutting down" : "Too many sessions, try later");
        close_after_flush(s);
        return;
    }
    reply(s, "220 %s LMTP Clawback clawd %s ready", srv->hostname, claw_version());
}

/* ------------------------------------------------------------------------
 * Listening
 * --------------------------------------------------------------------- */

static bool
listen_unix(server_t *srv, const char *path, unsigned mode, const char *group)
{
    gid_t gid = (gid_t)-1;
    if (group && *group) {
        struct group *gr = getgrnam(group);
        if (!gr) {
            claw_log(CLAW_LOG_ERROR, NULL, "[clawd] socket_group: no group '%s'", group);
            return false;
        }
        gid = gr->gr_gid;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        claw_log(CLAW_LOG_ERROR, NULL, "socket path too long: %s", path);
        return false;
    }
    strcpy(sa.sun_path, path);
    /* A socket left by a clawd that died is removed; a live one is not. */
    int probe = socket(AF_UNIX, SOCK_STREAM, 0);
    if (probe >= 0) {
        if (connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(probe);
            claw_log(CLAW_LOG_ERROR, NULL, "%s: another clawd is listening there", path);
            return false;
        }
        close(probe);
    }
    unlink(path);
    char *dir = g_path_get_dirname(path);
    g_mkdir_with_parents(dir, 0755);
    g_free(dir);
    mode_t old = umask(0777 & ~mode);
    struct evconnlistener *l = evconnlistener_new_bind(
        srv->base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
        (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (!l) {
        claw_log(CLAW_LOG_ERROR, NULL, "%s: cannot listen: %s", path, strerror(errno));
        return false;
    }
    if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0) {
        claw_log(CLAW_LOG_ERROR, NULL, "%s: cannot give it group %s: %s", path, group,
                 strerror(errno));
        evconnlistener_free(l);
        return false;
    }
    chmod(path, mode);
    g_ptr_array_add(srv->listeners, l);
    srv->socket_path = g_strdup(path);
    claw_log(CLAW_LOG_NOTICE, NULL, "LMTP on %s", path);
    return true;
}

static bool
listen_tcp(server_t *srv, const char *spec)
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

/* ------------------------------------------------------------------------
 * Signals and shutdown
 * --------------------------------------------------------------------- */

static void
check_drained(server_t *srv)
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
    server_t *srv = arg;
    if (srv->draining)
        return;
    claw_log(CLAW_LOG_NOTICE, NULL, "%s: finishing %ld sessions, then exiting",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", srv->sessions);
    srv->draining = true;
    for (guint i = 0; i < srv->listeners->len; i++)
        evconnlistener_free(srv->listeners->pdata[i]);
    g_ptr_array_set_size(srv->listeners, 0);
    if (srv->socket_path)
        unlink(srv->socket_path);
    /* Idle sessions go now; busy ones after their transaction. */
    GList *all = g_hash_table_get_keys(srv->live);
    for (GList *l = all; l; l = l->next) {
        session_t *s = l->data;
        if (s->state == S_CMD && !s->mail_from) {
            reply(s, "421 4.3.2 Shutting down, come back later");
            close_after_flush(s);
        }
    }
    g_list_free(all);
    struct timeval tv = {DRAIN_TIMEOUT, 0};
    srv->drain_timer = evtimer_new(srv->base, on_drain_timeout, srv);
    evtimer_add(srv->drain_timer, &tv);
    check_drained(srv);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    server_t *srv = arg;
    claw_config_t *cfg = NULL;
    char *err = NULL;
    claw_status_t st = claw_config_load(srv->config_path, &cfg, &err);
    if (!st)
        st = claw_ingest_reload(srv->ingest, cfg, &err);
    if (st) {
        claw_log(CLAW_LOG_ERROR, NULL, "SIGHUP: keeping the old configuration: %s",
                 err ? err : claw_status_to_string(st));
        free(err);
        claw_config_destroy(cfg);
        return;
    }
    claw_config_destroy(srv->cfg);
    srv->cfg = cfg;
    claw_log_configure(cfg, "clawd", srv->log_stderr ? CLAW_LOG_FORCE_STDERR : CLAW_LOG_AS_CONFIGURED);
    claw_log(CLAW_LOG_NOTICE, NULL, "SIGHUP: reloaded %s", srv->config_path);
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
    bool check = false, to_stderr = false, explicit_config = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:a:s:l:nhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; explicit_config = true; break;
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
    claw_status_t st = !explicit_config && access(config_path, F_OK) != 0
                           ? claw_config_new(&srv.cfg)
                           : claw_config_load(config_path, &srv.cfg, &err);
    if (st) {
        fprintf(stderr, "clawd: %s\n", err ? err : claw_status_to_string(st));
        free(err);
        g_ptr_array_free(listens, TRUE);
        return EX_CONFIG;
    }
    if (check) {
        /* What claw --check-config runs too: the engine's checks (indicator
         * files included) and ours; listen and allow were checked loading. */
        st = claw_config_check(srv.cfg, &err);
        if (st)
            fprintf(stderr, "clawd: %s\n", err ? err : claw_status_to_string(st));
        else
            printf("%s: OK\n", config_path);
        free(err);
        claw_config_destroy(srv.cfg);
        g_ptr_array_free(listens, TRUE);
        return st ? EX_CONFIG : 0;
    }
    const claw_cidr_t *allow;
    size_t n_allow;
    srv.allow = g_array_new(FALSE, FALSE, sizeof(claw_cidr_t));
    if (claw_config_get_cidrs(srv.cfg, "clawd", "allow", &allow, &n_allow) == 0)
        g_array_append_vals(srv.allow, allow, (guint)n_allow);
    srv.log_stderr = to_stderr;
    claw_log_configure(srv.cfg, "clawd", to_stderr ? CLAW_LOG_FORCE_STDERR : CLAW_LOG_AS_CONFIGURED);
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    srv.base = event_base_new();
    srv.listeners = g_ptr_array_new();
    srv.live = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_mutex_init(&srv.done_lock);
    g_queue_init(&srv.done);
    if (gethostname(srv.hostname, sizeof srv.hostname - 1) != 0)
        strcpy(srv.hostname, "localhost");
    int64_t max_sessions;
    claw_config_get_size(srv.cfg, "limits", "max_message_bytes", &srv.max_size);
    claw_config_get_int(srv.cfg, "clawd", "max_sessions", &max_sessions);
    srv.max_sessions = (long)max_sessions;

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
        rc = EX_IOERR;
    }
    if (!rc && (st = claw_ingest_start(srv.archive, srv.cfg, srv.indexer, ingest_done, &srv,
                                       &srv.ingest, &err))) {
        claw_log(CLAW_LOG_ERROR, NULL, "%s", err ? err : claw_status_to_string(st));
        rc = EX_SOFTWARE;
    }
    srv.done_ev = event_new(srv.base, -1, 0, on_done, &srv);

    const char *path = sock ? sock : claw_config_get(srv.cfg, "clawd", "socket");
    bool ok = !rc;
    if (ok && path && *path)
        ok = listen_unix(&srv, path, 0660, claw_config_get(srv.cfg, "clawd", "socket_group"));
    const char *const *tcp;
    size_t n_tcp = 0;
    claw_config_get_list(srv.cfg, "clawd", "listen", &tcp, &n_tcp);
    for (size_t i = 0; ok && i < n_tcp; i++)
        ok = listen_tcp(&srv, tcp[i]);
    for (guint i = 0; ok && i < listens->len; i++)
        ok = listen_tcp(&srv, listens->pdata[i]);
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
        event_base_dispatch(srv.base);
    }
    /* Teardown in reverse: no new work, everything stored, then indexed. */
    for (guint i = 0; i < srv.listeners->len; i++)
        evconnlistener_free(srv.listeners->pdata[i]);
    if (srv.socket_path && !srv.draining)
        unlink(srv.socket_path);
    claw_ingest_stop(srv.ingest);
    if (srv.ingest)
        on_done(-1, 0, &srv); /* answer what the last commits finished */
    GList *all = g_hash_table_get_keys(srv.live);
    for (GList *l = all; l; l = l->next)
        session_close(l->data);
    g_list_free(all);
    claw_indexer_stop(srv.indexer);
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
    g_free(srv.socket_path);
    claw_config_destroy(srv.cfg);
    free(err);
    return rc;
}
