/* dns.c - the judge's DNS: TXT lookups (DMARC records) that end at a
 * deadline, and a cache of their answers per engine.
 *
 * c-ares rather than glibc's res_query(): a lookup inside the MTA must end
 * at a deadline counted in milliseconds and be abandoned cleanly there
 * (res_query counts whole seconds per try and per server, and cannot be
 * cancelled), and it must go to the servers [dmarc] resolvers names (the
 * test suite's stub listens on a port of its own) or else to the host's
 * (/etc/resolv.conf, which c-ares reads as the C library does). */
#include "build-config.h"

#include "judge/judge.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <poll.h>
#include <string.h>

/* Entries kept at most; a full cache first drops what has expired, then
 * everything (a flood of new names must not grow the MTA's memory). */
#define CACHE_MAX 10000
/* A temporary failure is remembered this long at most: enough to spare a
 * failing server one query per message, short enough to recover soon. */
#define TEMP_TTL_US (30 * G_USEC_PER_SEC)

typedef struct {
    gint64 expires_us;
    claw_dns_status_t status;
    char **txt; /* FOUND: the records */
    char *why;  /* TEMP: why */
} entry_t;

struct claw_dns_cache {
    GMutex lock;
    GHashTable *entries; /* lower-case name -> entry_t */
};

static void
entry_free(gpointer p)
{
    entry_t *en = p;
    g_strfreev(en->txt);
    g_free(en->why);
    g_free(en);
}

claw_dns_cache_t *
_claw_dns_cache_new(void)
{
    claw_dns_cache_t *c = g_new0(claw_dns_cache_t, 1);
    g_mutex_init(&c->lock);
    c->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, entry_free);
    return c;
}

void
_claw_dns_cache_free(claw_dns_cache_t *c)
{
    if (!c)
        return;
    g_hash_table_destroy(c->entries);
    g_mutex_clear(&c->lock);
    g_free(c);
}

static gpointer
init_ares(gpointer unused)
{
    (void)unused;
    return GINT_TO_POINTER(ares_library_init(ARES_LIB_INIT_ALL));
}

/* The servers of [dmarc] resolvers as c-ares reads them ("A,B:53,[v6]:53"),
 * or NULL for the host's own. */
static char *
servers_csv(const claw_config_t *config)
{
    const char *const *list;
    size_t n = 0;
    if (claw_config_get_list(config, "dmarc", "resolvers", &list, &n) != 0 || n == 0)
        return NULL;
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < n; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", list[i]);
    return g_string_free(s, FALSE);
}

/* A channel to the configured servers, each try at most @try_ms. */
static int
open_channel(const claw_config_t *config, int try_ms, ares_channel *ch, char **why)
{
    static GOnce once = G_ONCE_INIT;
    int rc = GPOINTER_TO_INT(g_once(&once, init_ares, NULL));
    if (rc != ARES_SUCCESS) {
        *why = g_strdup_printf("c-ares: %s", ares_strerror(rc));
        return rc;
    }
    struct ares_options o = {.timeout = MAX(try_ms, 10), .tries = 2};
    rc = ares_init_options(ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) {
        *why = g_strdup_printf("c-ares: %s", ares_strerror(rc));
        return rc;
    }
    char *csv = servers_csv(config);
    if (csv) {
        rc = ares_set_servers_ports_csv(*ch, csv);
        if (rc != ARES_SUCCESS) {
            *why = g_strdup_printf("[dmarc] resolvers '%s': %s", csv, ares_strerror(rc));
            ares_destroy(*ch);
        }
        g_free(csv);
    }
    return rc;
}

claw_status_t
_claw_dns_check_config(const claw_config_t *config, char **error)
{
    /* Only what [dmarc] resolvers names is checked, and only when it names
     * something: the host's resolver is asked (and its faults said, as
     * temperror) when a message needs it, not at every engine's start. */
    char *csv = servers_csv(config);
    bool named = csv != NULL;
    g_free(csv);
    if (!named)
        return CLAW_STATUS_SUCCESS;
    ares_channel ch;
    char *why = NULL;
    if (open_channel(config, 1000, &ch, &why) != ARES_SUCCESS) {
        if (error)
            *error = _claw_config_error(config, "dmarc", "resolvers", "%s", why);
        g_free(why);
        return CLAW_STATUS_CONFIG_ERROR;
    }
    ares_destroy(ch);
    return CLAW_STATUS_SUCCESS;
}

typedef struct {
    bool done;
    int status;
    unsigned char *answer; /* a copy of the answer's bytes */
    int len;
} query_t;

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    query_t *q = arg;
    q->done = true;
    q->status = status;
    if (status == ARES_SUCCESS && abuf && alen > 0) {
        q->answer = g_memdup2(abuf, (gsize)alen);
        q->len = alen;
    }
}

/* Run @ch until its query is answered or @deadline_us passes. */
static void
run_until(ares_channel ch, query_t *q, gint64 deadline_us)
{
    while (!q->done) {
        gint64 left_us = deadline_us - g_get_monotonic_time();
        if (left_us <= 0) {
            ares_cancel(ch); /* calls on_answer with ARES_ECANCELLED */
            q->status = ARES_ETIMEOUT;
            return;
        }
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        nfds_t n = 0;
        /* The bits as c-ares lays them out, read unsigned: its own
         * ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit. */
        unsigned ubits = (unsigned)bits;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            short ev = (short)((ubits & (1u << i) ? POLLIN : 0) |
                               (ubits & (1u << (i + ARES_GETSOCK_MAXNUM)) ? POLLOUT : 0));
            if (ev)
                pfd[n++] = (struct pollfd){.fd = socks[i], .events = ev};
        }
        struct timeval most = {.tv_sec = left_us / G_USEC_PER_SEC,
                               .tv_usec = left_us % G_USEC_PER_SEC},
                       tv;
        struct timeval *t = ares_timeout(ch, &most, &tv);
        int ms = (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
        int ready = poll(pfd, n, ms);
        if (ready <= 0) {
            /* Nothing to read: let c-ares retry or give up on its tries. */
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (nfds_t i = 0; i < n && !q->done; i++)
            if (pfd[i].revents)
                ares_process_fd(ch,
                                pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd
                                                                              : ARES_SOCKET_BAD,
                                pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
    }
}

claw_dns_status_t
_claw_dns_query(const claw_config_t *config, const char *name, int type, gint64 deadline_us,
                unsigned char **answer, int *len, char **why)
{
    *answer = NULL;
    *len = 0;
    *why = NULL;
    gint64 left_ms = (deadline_us - g_get_monotonic_time()) / 1000;
    if (left_ms <= 0) {
        *why = g_strdup("no time left");
        return CLAW_DNS_TEMP;
    }
    ares_channel ch;
    /* Two tries per server within the time left. */
    if (open_channel(config, (int)MAX(left_ms / 2, 10), &ch, why) != ARES_SUCCESS)
        return CLAW_DNS_TEMP;
    query_t q = {0};
    ares_query(ch, name, ns_c_in, type, on_answer, &q);
    run_until(ch, &q, deadline_us);
    ares_destroy(ch);
    switch (q.status) {
    case ARES_SUCCESS:
        *answer = q.answer;
        *len = q.len;
        return CLAW_DNS_FOUND;
    case ARES_ENODATA:   /* the name is there, without records of the type */
    case ARES_ENOTFOUND: /* NXDOMAIN */
        g_free(q.answer);
        return CLAW_DNS_NONE;
    default: /* SERVFAIL, REFUSED, timeouts */
        g_free(q.answer);
        *why = g_strdup(ares_strerror(q.status));
        return CLAW_DNS_TEMP;
    }
}

/* The TXT records of an answer, each record's strings joined (RFC 7208 3.3
 * and RFC 7489 6.6.3 read them so), NULL-ended; NULL when it has none. */
char **
_claw_dns_txt_records(const unsigned char *answer, int len)
{
    struct ares_txt_ext *txt = NULL;
    if (ares_parse_txt_reply_ext(answer, len, &txt) != ARES_SUCCESS)
        return NULL;
    GPtrArray *out = g_ptr_array_new();
    GString *rec = NULL;
    for (struct ares_txt_ext *t = txt; t; t = t->next) {
        if (t->record_start && rec)
            g_ptr_array_add(out, g_string_free(rec, FALSE)), rec = NULL;
        if (!rec)
            rec = g_string_new(NULL);
        g_string_append_len(rec, (const char *)t->txt, (gssize)t->length);
    }
    if (rec)
        g_ptr_array_add(out, g_string_free(rec, FALSE));
    ares_free_data(txt);
    if (!out->len) {
        g_ptr_array_free(out, TRUE);
        return NULL;
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

/* Ask the servers for @name's TXT records. */
static claw_dns_status_t
lookup(const claw_config_t *config, const char *name, gint64 deadline_us, char ***txt,
       char **why)
{
    unsigned char *answer;
    int len;
    claw_dns_status_t st = _claw_dns_query(config, name, ns_t_txt, deadline_us, &answer, &len, why);
    if (st == CLAW_DNS_FOUND) {
        *txt = _claw_dns_txt_records(answer, len);
        st = *txt ? CLAW_DNS_FOUND : CLAW_DNS_NONE;
    }
    g_free(answer);
    return st;
}

claw_dns_status_t
_claw_dns_txt(claw_engine_t *e, const char *name, gint64 deadline_us, char ***txt, char **why)
{
    *txt = NULL;
    *why = NULL;
    char *key = g_ascii_strdown(name, -1);
    gint64 now = g_get_monotonic_time();
    claw_dns_cache_t *c = e->dns;
    g_mutex_lock(&c->lock);
    entry_t *en = g_hash_table_lookup(c->entries, key);
    if (en && en->expires_us > now) {
        claw_dns_status_t st = en->status;
        *txt = g_strdupv(en->txt);
        *why = g_strdup(en->why);
        g_mutex_unlock(&c->lock);
        g_free(key);
        return st;
    }
    g_mutex_unlock(&c->lock);

    claw_dns_status_t st = lookup(e->config, key, deadline_us, txt, why);

    gint64 ttl_us = e->config->dmarc_cache_ttl_ms * 1000;
    if (st == CLAW_DNS_TEMP)
        ttl_us = MIN(ttl_us, TEMP_TTL_US);
    if (ttl_us <= 0) {
        g_free(key);
        return st;
    }
    en = g_new0(entry_t, 1);
    en->expires_us = g_get_monotonic_time() + ttl_us;
    en->status = st;
    en->txt = g_strdupv(*txt);
    en->why = g_strdup(*why);
    g_mutex_lock(&c->lock);
    if (g_hash_table_size(c->entries) >= CACHE_MAX) {
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, c->entries);
        while (g_hash_table_iter_next(&it, &k, &v))
            if (((entry_t *)v)->expires_us <= now)
                g_hash_table_iter_remove(&it);
        if (g_hash_table_size(c->entries) >= CACHE_MAX)
            g_hash_table_remove_all(c->entries);
    }
    g_hash_table_replace(c->entries, key, en);
    g_mutex_unlock(&c->lock);
    return st;
}
