/* lmtp.c - an LMTP session (RFC 2033): LHLO, MAIL, RCPT, XFORWARD and
 * DATA read from the connection, the message handed to the ingest
 * pipeline, and one reply per recipient once it is committed: 250 only
 * when the message is on disk, 451 for any failure (the MTA keeps it).
 */
#include "build-config.h"

#include "clawd.h"

static void session_unref(session_t *s);

/* ------------------------------------------------------------------------
 * Replies
 * --------------------------------------------------------------------- */

void
clawd_reply(session_t *s, const char *fmt, ...)
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

/* Free what is left of the message being received and give back what it
 * held of the budget: all of it, also once the pipeline has taken the bytes
 * (they stay counted until the replies, as the item being stored holds
 * about as much). */
static void
message_free(session_t *s)
{
    free(s->msg);
    s->msg = NULL;
    s->srv->held -= s->len;
    s->len = s->cap = 0;
}

static void
reset_transaction(session_t *s)
{
    g_free(s->mail_from);
    s->mail_from = NULL;
    g_ptr_array_set_size(s->rcpt, 0);
    message_free(s);
    s->refusal = REFUSE_NONE;
}

void
clawd_session_close(session_t *s)
{
    if (s->closed)
        return;
    s->closed = true;
    bufferevent_free(s->bev);
    s->bev = NULL;
    server_t *srv = s->srv;
    srv->sessions--;
    g_hash_table_remove(srv->live, s);
    session_unref(s);
    /* However it closed (the client, a 421 flushed, an error), the last
     * session of a draining clawd ends the loop. */
    if (srv->draining)
        clawd_check_drained(srv);
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
void
clawd_close_after_flush(session_t *s)
{
    s->state = S_CLOSING;
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        clawd_session_close(s);
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
    clawd_reply(s, "250 2.0.0 Ok");
}

static void
start_data(session_t *s)
{
    server_t *srv = s->srv;
    if (srv->held + DATA_ROOM > srv->budget) {
        claw_log(CLAW_LOG_WARNING, NULL,
                 "%s: DATA told 452: the memory budget is spent (%" PRIu64 " of %" PRIu64
                 " bytes held)",
                 s->peer, srv->held, srv->budget);
        clawd_reply(s, "452 4.3.1 Insufficient system storage: clawd's memory budget is in use, "
                       "try again later");
        return;
    }
    s->len = 0;
    s->dstate = D_BOL;
    s->bare_lf = false;
    s->refusal = REFUSE_NONE;
    s->state = S_DATA;
    clawd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
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
        clawd_reply(s, "250-%s", srv->hostname);
        clawd_reply(s, "250-PIPELINING");
        clawd_reply(s, "250-ENHANCEDSTATUSCODES");
        clawd_reply(s, "250-8BITMIME");
        clawd_reply(s, "250-SMTPUTF8");
        if (s->trusted)
            clawd_reply(s, "250-XFORWARD NAME ADDR PROTO HELO SOURCE IDENT");
        if (clawd_tls_offered(s))
            clawd_reply(s, "250-STARTTLS");
        clawd_reply(s, "250 SIZE %" PRIu64, srv->max_size);
    } else if (!strcmp(verb, "HELO") || !strcmp(verb, "EHLO")) {
        clawd_reply(s, "500 5.5.1 This is LMTP (RFC 2033): say LHLO");
    } else if (!strcmp(verb, "QUIT")) {
        clawd_reply(s, "221 2.0.0 Bye");
        clawd_close_after_flush(s);
    } else if (!strcmp(verb, "NOOP")) {
        clawd_reply(s, "250 2.0.0 Ok");
    } else if (!strcmp(verb, "RSET")) {
        reset_transaction(s);
        clawd_reply(s, "250 2.0.0 Ok");
    } else if (!strcmp(verb, "VRFY")) {
        clawd_reply(s, "252 2.5.0 Cannot verify, will archive");
    } else if (!s->lhlo) {
        clawd_reply(s, "503 5.5.1 Say LHLO first");
    } else if (!strcmp(verb, "STARTTLS")) {
        if (!clawd_tls_offered(s)) {
            clawd_reply(s, "502 5.5.1 STARTTLS is not offered here");
        } else if (*args || s->mail_from) {
            clawd_reply(s, *args ? "501 5.5.4 STARTTLS takes no arguments"
                                 : "503 5.5.1 STARTTLS inside a transaction");
        } else {
            clawd_reply(s, "220 2.0.0 Ready to start TLS");
            if (!clawd_tls_start(s)) {
                clawd_reply(s, "454 4.7.0 TLS not available now");
                clawd_close_after_flush(s);
            }
        }
    } else if (!strcmp(verb, "XFORWARD")) {
        /* As Postfix's smtpd_authorized_xforward_hosts: only a writer that
         * authenticated may say where the mail came from. */
        if (s->trusted)
            cmd_xforward(s, args);
        else
            clawd_reply(s, "550 5.7.0 XFORWARD is for authenticated MTAs only");
    } else if (!strcmp(verb, "MAIL")) {
        const char *params;
        char *addr;
        if (s->tcp && srv->tcp_auth && !s->trusted) {
            clawd_reply(s, s->tls_on ? "530 5.7.0 A client certificate signed by [clawd] "
                                       "tls_client_ca is required"
                                     : "530 5.7.0 Must issue a STARTTLS command first");
        } else if (s->mail_from) {
            clawd_reply(s, "503 5.5.1 MAIL already given");
        } else if (g_ascii_strncasecmp(args, "FROM:", 5) != 0 ||
                   !(addr = path_arg(args + 5, &params))) {
            clawd_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        } else {
            const char *sz = strstr(params, "SIZE=");
            if (sz && g_ascii_strtoull(sz + 5, NULL, 10) > srv->max_size) {
                clawd_reply(s, "552 5.3.4 Message too big (limit %" PRIu64 " bytes)", srv->max_size);
                g_free(addr);
            } else {
                s->mail_from = addr;
                clawd_reply(s, "250 2.1.0 Ok");
            }
        }
    } else if (!strcmp(verb, "RCPT")) {
        const char *params;
        char *addr;
        if (!s->mail_from) {
            clawd_reply(s, "503 5.5.1 MAIL first");
        } else if (g_ascii_strncasecmp(args, "TO:", 3) != 0 ||
                   !(addr = path_arg(args + 3, &params)) || !*addr) {
            clawd_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        } else if (s->rcpt->len >= MAX_RCPT) {
            clawd_reply(s, "452 4.5.3 Too many recipients");
            g_free(addr);
        } else {
            g_ptr_array_add(s->rcpt, addr);
            clawd_reply(s, "250 2.1.5 Ok");
        }
    } else if (!strcmp(verb, "DATA")) {
        if (!s->mail_from || !s->rcpt->len)
            clawd_reply(s, "503 5.5.1 %s first", s->mail_from ? "RCPT" : "MAIL");
        else
            start_data(s);
    } else {
        clawd_reply(s, "500 5.5.2 Unknown command");
    }
}

/* ------------------------------------------------------------------------
 * DATA
 * --------------------------------------------------------------------- */

/* Room for @need bytes of message: the buffer grows by half (a large one
 * is moved by the kernel's page tables, not copied, and pages never
 * written are never resident). */
static bool
message_grow(session_t *s, size_t need)
{
    size_t cap = s->cap ? s->cap : 65536;
    while (cap < need)
        cap += cap / 2;
    char *m = realloc(s->msg, cap);
    if (!m)
        return false;
    s->msg = m;
    s->cap = cap;
    return true;
}

/* Keep @n more bytes of the message, unless it is refused already; refuse
 * it (dropping what it held) when they would pass the size limit or the
 * memory budget, or cannot be allocated. */
static void
message_keep(session_t *s, const void *p, size_t n)
{
    server_t *srv = s->srv;
    if (s->refusal || !n)
        return;
    refusal_t why = s->len + n > srv->max_size  ? REFUSE_SIZE
                    : srv->held + n > srv->budget ? REFUSE_BUDGET
                    : s->len + n > s->cap && !message_grow(s, s->len + n) ? REFUSE_MEMORY
                                                                           : REFUSE_NONE;
    if (why) {
        if (why == REFUSE_BUDGET)
            claw_log(CLAW_LOG_WARNING, NULL,
                     "%s: message dropped at %zu bytes: the memory budget is spent (%" PRIu64
                     " of %" PRIu64 " bytes held); it will be told 452",
                     s->peer, s->len, srv->held, srv->budget);
        s->refusal = why;
        message_free(s);
        return;
    }
    memcpy(s->msg + s->len, p, n);
    s->len += n;
    srv->held += n;
}

typedef enum { END_NONE, END_CRLF, END_BARE_LF } data_end_t;

/* Read @n bytes of DATA into the message as they come: a dot doubled at
 * the start of a line is made single, CRLF is made LF (a bare CR or LF is
 * kept as it is), and the end is found. The end is "\r\n.\r\n" only (RFC
 * 5321 4.1.1.4); a "." line with a bare LF on either side ("\n.\n",
 * "\r\n.\n", "\n.\r\n") is what a client that ends lines with LF means as
 * the end, and is reported as END_BARE_LF. Returns the bytes used: up to
 * and including the end, when there is one (*@end). */
static size_t
data_scan(session_t *s, const unsigned char *p, size_t n, data_end_t *end)
{
    size_t i = 0;
    *end = END_NONE;
    while (i < n && !*end) {
        switch (s->dstate) {
        case D_BOL:
            if (p[i] == '.') {
                s->dstate = D_DOT;
                i++;
            } else {
                s->dstate = D_LINE;
            }
            break;
        case D_LINE: {
            size_t run = i;
            while (run < n && p[run] != '\r' && p[run] != '\n')
                run++;
            message_keep(s, p + i, run - i);
            i = run;
            if (i == n)
                break;
            if (p[i] == '\r') {
                s->dstate = D_CR;
            } else {
                message_keep(s, "\n", 1);
                s->bare_lf = true;
                s->dstate = D_BOL;
            }
            i++;
            break;
        }
        case D_CR:
            if (p[i] == '\n') {
                message_keep(s, "\n", 1);
                s->bare_lf = false;
                s->dstate = D_BOL;
                i++;
            } else {
                message_keep(s, "\r", 1); /* a bare CR, kept */
                s->dstate = D_LINE;
            }
            break;
        case D_DOT: /* the doubled dot is dropped: what follows is the line */
            if (p[i] == '\r') {
                s->dstate = D_DOT_CR;
                i++;
            } else if (p[i] == '\n') {
                *end = END_BARE_LF;
                i++;
            } else {
                s->dstate = D_LINE;
            }
            break;
        case D_DOT_CR:
            if (p[i] == '\n') {
                *end = s->bare_lf ? END_BARE_LF : END_CRLF;
                i++;
            } else {
                message_keep(s, "\r", 1);
                s->dstate = D_LINE;
            }
            break;
        }
    }
    return i;
}

/* Tell each recipient why their message was not taken. */
static void
refuse_message(session_t *s)
{
    server_t *srv = s->srv;
    for (guint i = 0; i < s->rcpt->len; i++) {
        switch (s->refusal) {
        case REFUSE_SIZE:
            clawd_reply(s, "552 5.3.4 Message too big (limit %" PRIu64 " bytes)", srv->max_size);
            break;
        case REFUSE_BUDGET:
            clawd_reply(s, "452 4.3.1 Insufficient system storage: clawd's memory budget ran "
                           "out during this message, try again later");
            break;
        case REFUSE_MEMORY:
        case REFUSE_NONE:
            clawd_reply(s, "451 4.3.0 Out of memory");
            break;
        }
    }
    reset_transaction(s);
    s->state = S_CMD;
}

/* A message ended by a "." line with a bare LF is refused, and the
 * connection closed: the client and clawd disagree on where the message
 * ends, so what follows cannot be trusted as commands (the "SMTP
 * smuggling" of CVE-2023-51764: a sender's MTA that takes "\n.\n" for
 * text would let it forge a second message here). A client that ends its
 * lines with LF gets this answer at once, not the idle timeout; an MTA
 * (Postfix, Exim) always sends CRLF and dot-stuffs such a line. */
static void
refuse_bare_lf(session_t *s)
{
    claw_log(CLAW_LOG_WARNING, NULL,
             "%s: a message ended by a bare LF (\"\\n.\\n\"), refused; closing the session",
             s->peer);
    for (guint i = 0; i < s->rcpt->len; i++)
        clawd_reply(s, "554 5.6.0 Message refused: its end had a bare LF, lines must end with "
                       "CRLF (RFC 5321 2.3.8)");
    clawd_reply(s, "421 4.5.0 Closing: bare LF in DATA");
    reset_transaction(s);
    clawd_close_after_flush(s);
}

static void
deliver(session_t *s)
{
    server_t *srv = s->srv;
    /* The pipeline takes the buffer; its bytes stay counted in the budget
     * (s->len) until the replies. */
    char *raw = s->msg ? s->msg : malloc(1);
    size_t len = s->len;
    s->msg = NULL;
    s->cap = 0;
    if (!raw) {
        s->refusal = REFUSE_MEMORY;
        refuse_message(s);
        return;
    }
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
    d.trusted = s->trusted;
    d.time_ms = g_get_real_time() / 1000;
    s->state = S_WAIT;
    s->refs++;
    bufferevent_disable(s->bev, EV_READ);
    claw_ingest_submit(srv->ingest, raw, len, &d, s);
    g_ptr_array_free(rcpt, TRUE);
}

/* Take what arrived of the DATA; true when the message is complete and
 * handed on (or refused). What follows its end stays in @in: pipelined
 * commands. */
static bool
data_in(session_t *s, struct evbuffer *in)
{
    data_end_t end = END_NONE;
    while (!end && evbuffer_get_length(in)) {
        struct evbuffer_iovec v[8];
        int k = evbuffer_peek(in, -1, NULL, v, 8);
        size_t used = 0;
        for (int i = 0; i < k && i < 8 && !end; i++)
            used += data_scan(s, v[i].iov_base, v[i].iov_len, &end);
        evbuffer_drain(in, used);
    }
    if (end == END_BARE_LF)
        refuse_bare_lf(s);
    else if (end && s->refusal)
        refuse_message(s);
    else if (end)
        deliver(s);
    return end != END_NONE;
}

static void
process(session_t *s)
{
    while (!s->closed && (s->state == S_CMD || s->state == S_DATA)) {
        /* Read each time: STARTTLS puts a new bufferevent in s->bev. */
        struct evbuffer *in = bufferevent_get_input(s->bev);
        if (s->state == S_DATA) {
            if (!data_in(s, in))
                return;
            continue;
        }
        if (s->srv->draining) {
            clawd_reply(s, "421 4.3.2 Shutting down, come back later");
            clawd_close_after_flush(s);
            return;
        }
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) >= MAX_OUTPUT) {
            /* A client that pipelines commands without reading the
             * replies: no more of them until it has read these. */
            s->out_paused = true;
            bufferevent_disable(s->bev, EV_READ);
            bufferevent_setwatermark(s->bev, EV_WRITE, MAX_OUTPUT / 4, 0);
            return;
        }
        size_t n;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) {
            if (evbuffer_get_length(in) > MAX_LINE) {
                clawd_reply(s, "500 5.5.6 Line too long");
                clawd_close_after_flush(s);
            }
            return;
        }
        if (n > MAX_LINE || memchr(line, '\0', n)) {
            clawd_reply(s, "500 5.5.6 Line too long or with NUL");
        } else {
            command(s, line);
        }
        free(line);
    }
}

void
clawd_session_process(session_t *s)
{
    /* A command may close the session (QUIT, an error, a reply that went
     * out at once): it must outlive the loop that reads s->closed. */
    s->refs++;
    process(s);
    session_unref(s);
}

/* Most of what was queued has gone out: read the commands a paused
 * session holds back. */
void
clawd_session_resume(session_t *s)
{
    if (!s->out_paused || s->closed)
        return;
    s->out_paused = false;
    bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
    bufferevent_enable(s->bev, EV_READ);
    clawd_session_process(s);
}

/* ------------------------------------------------------------------------
 * Completion: the writer thread hands results to the loop
 * --------------------------------------------------------------------- */

void
clawd_ingest_done(void *ctx, void *tag, claw_item_t *item, claw_status_t st, const char *error)
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

void
clawd_on_done(evutil_socket_t fd, short what, void *arg)
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
                clawd_reply(s, "451 4.3.0 Archive unavailable, try again later");
            if (claw_archive_broken(srv->archive) && !srv->draining) {
                /* LMDB refuses every write until the store is opened
                 * again: end, for the supervisor to start clawd again. */
                claw_log(CLAW_LOG_ERROR, NULL,
                         "the store cannot be written until it is opened again: exiting "
                         "with 75 to be restarted");
                srv->exit_code = EX_TEMPFAIL;
                clawd_stop(srv, "store broken");
            }
        } else {
            srv->stored++;
            const char *how = claw_item_outcome(c->item) == CLAW_ITEM_DUPLICATE ? "already stored"
                               : claw_item_outcome(c->item) == CLAW_ITEM_NEW_DELIVERY
                                   ? "stored (another delivery)"
                                   : "stored";
            const char *result = claw_item_outcome(c->item) == CLAW_ITEM_DUPLICATE ? "duplicate"
                                 : claw_item_outcome(c->item) == CLAW_ITEM_NEW_DELIVERY
                                     ? "another-delivery"
                                     : "stored";
            /* One line a message, at the default level, with the ids an
             * admin follows it by: ours, the MTA's, the Message-ID (in its
             * brackets, as the MTA logs it). */
            const char *mid = claw_item_message_id(c->item);
            claw_log(CLAW_LOG_NOTICE, NULL,
                     "message id=%s queue_id=%s message-id=%s%s%s docid=%" PRIu64
                     " rcpt=%u action=%s result=%s peer=%s",
                     claw_item_id(c->item), *claw_item_queue_id(c->item)
                         ? claw_item_queue_id(c->item) : "-",
                     *mid ? "<" : "-", mid, *mid ? ">" : "",
                     claw_item_docid(c->item), s->rcpt->len, claw_item_action(c->item), result,
                     s->peer);
            for (guint i = 0; i < s->rcpt->len; i++)
                clawd_reply(s, "250 2.0.0 %s %s", claw_item_id(c->item), how);
        }
        claw_item_free(c->item);
        g_free(c->error);
        g_free(c);
        if (!s->closed) {
            reset_transaction(s);
            s->state = S_CMD;
            bufferevent_enable(s->bev, EV_READ);
            clawd_session_process(s);
        }
        session_unref(s);
    }
    if (srv->draining)
        clawd_check_drained(srv);
}
