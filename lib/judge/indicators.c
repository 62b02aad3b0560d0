/* indicators.c - [ioc]: indicator files of TYPE:VALUE lines, read into
 * hash sets in the form the detectors compare in (URLs and hosts through
 * the model's own normaliser), and read again when they change, at most
 * once a second, keeping the last good set when a file stops loading.
 */
#include "build-config.h"

#include "judge/judge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    char *path;
    struct stat st; /* as last read */
} ioc_file_t;

/* The types, as claw.h lists them; the first IOC_LAST are the ones the
 * detectors apply (judge.h's ioc_t, in its order). */
static const char *const ioc_names[] = {"url",  "host",       "domain", "sender",
                                        "sha256", "ip",       "message-id", NULL};

const char *const *
claw_ioc_types(void)
{
    return ioc_names;
}

/* What an indicator asks of the verdict: at least this action ("hunt":
 * nothing; the MTA leaves it out). A line without an action blocks. */
static claw_action_t
ioc_verdict(const char *action)
{
    return !action || !strcmp(action, "block") ? CLAW_ACTION_REJECT
           : !strcmp(action, "quarantine")     ? CLAW_ACTION_QUARANTINE
           : !strcmp(action, "tag")            ? CLAW_ACTION_TAG
                                               : CLAW_ACTION_ACCEPT;
}

/* An IP address or a CIDR range in canonical text: the address as
 * inet_ntop writes it, and a prefix shorter than the address with the host
 * bits cleared ("10.1.2.3/8" is "10.0.0.0/8"; "/32" is dropped). */
static char *
ip_key(const char *value)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(value, '/');
    size_t n = slash ? (size_t)(slash - value) : strlen(value);
    if (n == 0 || n >= sizeof addr)
        return NULL;
    memcpy(addr, value, n);
    addr[n] = '\0';
    unsigned char bin[16];
    int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(fam, addr, bin) != 1)
        return NULL;
    unsigned bits = fam == AF_INET ? 32 : 128, prefix = bits;
    if (slash) {
        char *end;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (!g_ascii_isdigit(slash[1]) || *end || p > bits)
            return NULL;
        prefix = (unsigned)p;
        for (unsigned i = prefix; i < bits; i++)
            bin[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    }
    char canon[INET6_ADDRSTRLEN];
    inet_ntop(fam, bin, canon, sizeof canon);
    return prefix == bits ? g_strdup(canon) : g_strdup_printf("%s/%u", canon, prefix);
}

static bool
is_sha256(const char *v)
{
    size_t n = 0;
    for (; v[n]; n++)
        if (!g_ascii_isxdigit(v[n]))
            return false;
    return n == 64;
}

/* Is @h (normalised: lower case, IDNs as xn--) what a host name can be:
 * labels of letters, digits, '-' and '_' between single dots, or an IP
 * address? A feed's "domain" that is a phrase or a path is refused, not
 * kept as an indicator that can never match. */
static bool
host_name_like(const char *h)
{
    if (!*h || *h == '.' || strstr(h, ".."))
        return false;
    if (h[0] == '[' || strchr(h, ':')) /* an IPv6 literal */
        return strspn(h, "[]0123456789abcdef:.") == strlen(h);
    return strspn(h, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == strlen(h);
}

/* @value of an indicator of type @t (an index of ioc_names) in the form
 * messages' values are compared in, g_malloc'd; NULL with *@why when it
 * cannot be one of its type. URLs and host names as the model writes the
 * ones it finds (one normaliser for both, so "url:http://EX%41MPLE.org/"
 * matches a link to http://example.org/), IP addresses and ranges
 * canonical, the rest lower-cased. */
static char *
ioc_key(int t, const char *value, const char **why)
{
    char *normal = NULL;
    switch (t) {
    case IOC_URL:
        /* Feeds write many URLs without their scheme ("example.com/x"): a
         * browser reads those as http, and so does the model a link in
         * text. */
        if (claw_url_normalise(value, strlen(value), &normal) != CLAW_STATUS_SUCCESS &&
            g_ascii_isalnum(value[0]) && !_claw_url_scheme_length(value, strlen(value))) {
            char *with = g_strconcat("http://", value, NULL);
            claw_url_normalise(with, strlen(with), &normal);
            g_free(with);
        }
        *why = "not an absolute URL";
        break;
    case IOC_HOST:
    case IOC_DOMAIN:
        claw_host_normalise(value, strlen(value), &normal);
        *why = "not a host name";
        if (normal && !host_name_like(normal)) {
            claw_free(normal);
            return NULL;
        }
        break;
    case IOC_IP: {
        char *k = ip_key(value);
        *why = "not an IP address or a CIDR range";
        return k;
    }
    case IOC_SHA256:
        *why = "not 64 hexadecimal digits";
        return is_sha256(value) ? g_ascii_strdown(value, -1) : NULL;
    case IOC_SENDER:
        *why = "not a mail address";
        return strchr(value, '@') && !strpbrk(value, " \t<>,") ? g_ascii_strdown(value, -1) : NULL;
    default: { /* message-id: as the model keeps it, without its brackets */
        size_t n = strlen(value);
        if (n >= 2 && value[0] == '<' && value[n - 1] == '>')
            value++, n -= 2;
        *why = "not a Message-ID";
        return n && !memchr(value, ' ', n) ? g_ascii_strdown(value, (gssize)n) : NULL;
    }
    }
    /* The sets free their keys with g_free(). */
    char *key = normal ? g_strdup(normal) : NULL;
    claw_free(normal);
    return key;
}

claw_status_t
claw_ioc_normalise(const char *type, const char *value, char **key, const char **why)
{
    static const char *no_why;
    why = why ? why : &no_why;
    *why = NULL;
    if (!key || !type || !value)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *key = NULL;
    int t = 0;
    while (ioc_names[t] && g_ascii_strcasecmp(type, ioc_names[t]))
        t++;
    if (!ioc_names[t]) {
        *why = "not a type of indicator";
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    char *k = ioc_key(t, value, why);
    if (!k)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *why = NULL;
    *key = strdup(k);
    g_free(k);
    return *key ? CLAW_STATUS_SUCCESS : CLAW_STATUS_OUT_OF_MEMORY;
}

static claw_status_t
load_ioc_file(claw_iocs_t *io, const char *path, char **error)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (error)
            *error = g_strdup_printf("[ioc] %s: %s", path, g_strerror(errno));
        return CLAW_STATUS_IO_ERROR;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0, unapplied = 0;
    ssize_t got;
    while ((got = _claw_read_line(f, &line, &cap, CLAW_CONFIG_LINE_MAX)) >= 0) {
        lineno++;
        const char *action;
        char *s = claw_ioc_file_line(line, &action);
        if (!*s)
            continue;
        char *colon = strchr(s, ':');
        int type = -1;
        if (colon) {
            *colon = '\0';
            for (int t = 0; ioc_names[t]; t++)
                if (!g_ascii_strcasecmp(g_strstrip(s), ioc_names[t]))
                    type = t;
        }
        char *value = colon ? g_strstrip(colon + 1) : NULL;
        if (type < 0 || !value || !*value) {
            if (error)
                *error = g_strdup_printf("%s:%u: expected TYPE:VALUE with TYPE one of url, "
                                         "host, domain, sender, sha256, ip, message-id",
                                         path, lineno);
            free(line);
            fclose(f);
            return CLAW_STATUS_CONFIG_ERROR;
        }
        const char *why;
        char *key = ioc_key(type, value, &why);
        if (!key) {
            /* A value that can never match (a relative URL, a host with a
             * port) is one bad line of a feed: it is left out, loudly, and
             * the rest of the file still protects; a line that is not
             * TYPE:VALUE at all is an error above. */
            claw_log(CLAW_LOG_WARNING, NULL, "%s:%u: %s: '%s' is %s: left out", path, lineno,
                     ioc_names[type], value, why);
            continue;
        }
        /* Message-IDs and IP ranges are hunted in the archive; the
         * detectors do not look for them (yet), nor for what asks only to
         * be hunted. */
        claw_action_t asks = ioc_verdict(action);
        if (type >= IOC_LAST || (type == IOC_IP && strchr(key, '/')) ||
            asks == CLAW_ACTION_ACCEPT) {
            g_free(key);
            unapplied++;
            continue;
        }
        /* The same value twice asks for the stronger action. */
        gpointer had = g_hash_table_lookup(io->set[type], key);
        if (!had)
            io->count++;
        if (GPOINTER_TO_INT(had) < (int)asks)
            g_hash_table_insert(io->set[type], key, GINT_TO_POINTER(asks));
        else
            g_free(key);
    }
    if (unapplied)
        claw_log(CLAW_LOG_INFO, NULL,
                 "%s: %u indicators (Message-IDs, IP ranges, hunt only) are for hunting in the "
                 "archive; the verdict does not look for them",
                 path, unapplied);
    claw_status_t st = CLAW_STATUS_SUCCESS;
    if (got == -2 || ferror(f)) {
        if (error)
            *error = got == -2 ? g_strdup_printf("%s:%u: a line longer than %u bytes: not an "
                                                 "indicator file",
                                                 path, lineno + 1, CLAW_CONFIG_LINE_MAX)
                               : g_strdup_printf("%s: read error: %s", path, g_strerror(errno));
        st = got == -2 ? CLAW_STATUS_CONFIG_ERROR : CLAW_STATUS_IO_ERROR;
    }
    free(line);
    fclose(f);
    return st;
}

void
_claw_iocs_free(claw_iocs_t *io)
{
    if (!io)
        return;
    for (int t = 0; t < IOC_LAST; t++)
        g_hash_table_destroy(io->set[t]);
    for (guint i = 0; i < io->files->len; i++)
        g_free(g_array_index(io->files, ioc_file_t, i).path);
    g_array_free(io->files, TRUE);
    g_free(io);
}

claw_status_t
_claw_iocs_new(const claw_config_t *config, claw_iocs_t **out, char **error)
{
    claw_iocs_t *io = g_new0(claw_iocs_t, 1);
    for (int t = 0; t < IOC_LAST; t++)
        io->set[t] = _claw_word_set();
    io->files = g_array_new(FALSE, TRUE, sizeof(ioc_file_t));
    char **paths = g_strsplit_set(config->ioc_files ? config->ioc_files : "", ", \t", -1);
    for (char **p = paths; *p; p++) {
        if (!**p)
            continue;
        ioc_file_t f = {.path = g_strdup(*p)};
        stat(f.path, &f.st);
        g_array_append_val(io->files, f);
        claw_status_t st = load_ioc_file(io, *p, error);
        if (st) {
            g_strfreev(paths);
            _claw_iocs_free(io);
            return st;
        }
    }
    g_strfreev(paths);
    /* The archive's active set, as clawd and claw publish it: none yet
     * (no indicator added, or no archive) reads as empty, and is looked
     * for again at each refresh. */
    char *published = claw_ioc_published_path(config, NULL);
    if (published) {
        ioc_file_t f = {.path = g_strdup(published)};
        bool there = stat(f.path, &f.st) == 0;
        g_array_append_val(io->files, f);
        claw_status_t st = there ? load_ioc_file(io, published, error) : CLAW_STATUS_SUCCESS;
        free(published);
        if (st) {
            _claw_iocs_free(io);
            return st;
        }
    }
    io->checked_us = g_get_monotonic_time();
    *out = io;
    return CLAW_STATUS_SUCCESS;
}

/* Re-read the indicator files if one changed (at most once a second
 * unless @now_ok); true if the set was replaced. A file that cannot be
 * read now keeps the indicators already loaded, and the failure is logged:
 * losing a blocklist silently would be worse. So does a file that was
 * there and is gone (its indicators would go with it). */
bool
_claw_iocs_refresh(claw_engine_t *e, bool now_ok)
{
    claw_iocs_t *io = e->iocs;
    gint64 now = g_get_monotonic_time();
    if (!io || io->files->len == 0 || (!now_ok && now - io->checked_us < G_USEC_PER_SEC))
        return false;
    io->checked_us = now;
    bool changed = false, gone = false;
    for (guint i = 0; i < io->files->len; i++) {
        ioc_file_t *f = &g_array_index(io->files, ioc_file_t, i);
        struct stat st;
        if (stat(f->path, &st) != 0) {
            gone = gone || f->st.st_ino != 0;
            continue;
        }
        if (st.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
            st.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec || st.st_size != f->st.st_size ||
            st.st_ino != f->st.st_ino)
            changed = true;
    }
    if (!changed)
        return false;
    claw_iocs_t *fresh = NULL;
    char *err = NULL;
    if (gone || _claw_iocs_new(e->config, &fresh, &err) != CLAW_STATUS_SUCCESS) {
        claw_log(CLAW_LOG_ERROR, NULL, "indicators not reloaded, keeping the old set: %s",
                 gone ? "an indicator file that was read is gone" : err ? err : "error");
        g_free(err);
        for (guint i = 0; i < io->files->len; i++) {
            ioc_file_t *f = &g_array_index(io->files, ioc_file_t, i);
            struct stat st;
            if (stat(f->path, &st) == 0) /* a gone one keeps its old stamp */
                f->st = st;
        }
        return false;
    }
    claw_log(CLAW_LOG_NOTICE, NULL, "indicators reloaded: %zu entries", fresh->count);
    _claw_iocs_free(io);
    e->iocs = fresh;
    return true;
}

int
claw_engine_refresh(claw_engine_t *engine)
{
    return engine && _claw_iocs_refresh(engine, true);
}

void
claw_engine_refresh_manually(claw_engine_t *engine)
{
    if (engine)
        engine->manual_refresh = true;
}

claw_action_t
_claw_ioc_asks(const claw_iocs_t *io, ioc_t type, const char *key)
{
    return io && key ? (claw_action_t)GPOINTER_TO_INT(g_hash_table_lookup(io->set[type], key))
                     : CLAW_ACTION_ACCEPT;
}

claw_action_t
_claw_ioc_domain_asks(const claw_iocs_t *io, const char *host)
{
    claw_action_t asks = _claw_ioc_asks(io, IOC_HOST, host);
    for (const char *p = host; p && *p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
        asks = MAX(asks, _claw_ioc_asks(io, IOC_DOMAIN, p));
    return asks;
}
