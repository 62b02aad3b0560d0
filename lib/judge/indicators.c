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

static const char *const ioc_names[IOC_LAST] = {"url", "host", "domain", "sender", "sha256", "ip"};

typedef struct {
    char *path;
    struct stat st; /* as last read */
} ioc_file_t;

/* @value of an indicator of @type in the form the detectors compare it in:
 * URLs and host names as the model writes the ones it finds (one
 * normaliser for both, so "url:http://EX%41MPLE.org/" matches a link to
 * http://example.org/), IP addresses canonical, the rest lower-cased.
 * NULL when @value cannot be one of its type. */
static char *
ioc_key(ioc_t type, const char *value)
{
    char *normal = NULL;
    switch (type) {
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
        break;
    case IOC_HOST:
    case IOC_DOMAIN:
        claw_host_normalise(value, strlen(value), &normal);
        break;
    default:
        return g_ascii_strdown(value, -1);
    }
    /* The sets free their keys with g_free(). */
    char *key = g_strdup(normal);
    claw_free(normal);
    return key;
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
    unsigned lineno = 0;
    ssize_t got;
    while ((got = _claw_read_line(f, &line, &cap, CLAW_CONFIG_LINE_MAX)) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = g_strstrip(line);
        if (!*s)
            continue;
        char *colon = strchr(s, ':');
        int type = -1;
        if (colon) {
            *colon = '\0';
            for (int t = 0; t < IOC_LAST; t++)
                if (!g_ascii_strcasecmp(g_strstrip(s), ioc_names[t]))
                    type = t;
        }
        char *value = colon ? g_strstrip(colon + 1) : NULL;
        if (type < 0 || !value || !*value) {
            if (error)
                *error = g_strdup_printf("%s:%u: expected TYPE:VALUE with TYPE one of url, "
                                         "host, domain, sender, sha256, ip",
                                         path, lineno);
            free(line);
            fclose(f);
            return CLAW_STATUS_CONFIG_ERROR;
        }
        char *key = ioc_key(type, value);
        if (!key) {
            /* A value that can never match (a relative URL, a host with a
             * port) is one bad line of a feed: it is left out, loudly, and
             * the rest of the file still protects; a line that is not
             * TYPE:VALUE at all is an error above. */
            claw_log(CLAW_LOG_WARNING, NULL, "%s:%u: %s: '%s' is not %s: left out", path, lineno,
                     ioc_names[type], value,
                     type == IOC_URL ? "an absolute URL" : "a host name");
            continue;
        }
        if (type == IOC_IP) {
            unsigned char bin[16];
            char canon[INET6_ADDRSTRLEN];
            int fam = strchr(key, ':') ? AF_INET6 : AF_INET;
            if (inet_pton(fam, key, bin) == 1) {
                g_free(key);
                key = g_strdup(inet_ntop(fam, bin, canon, sizeof canon));
            }
        }
        if (g_hash_table_add(io->set[type], key))
            io->count++;
    }
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
    io->checked_us = g_get_monotonic_time();
    *out = io;
    return CLAW_STATUS_SUCCESS;
}

/* Re-read the indicator files if one changed, at most once a second. A
 * file that cannot be read now keeps the indicators already loaded, and
 * the failure is logged: losing a blocklist silently would be worse. */
void
_claw_iocs_refresh(claw_engine_t *e)
{
    claw_iocs_t *io = e->iocs;
    gint64 now = g_get_monotonic_time();
    if (!io || io->files->len == 0 || now - io->checked_us < G_USEC_PER_SEC)
        return;
    io->checked_us = now;
    bool changed = false;
    for (guint i = 0; i < io->files->len; i++) {
        ioc_file_t *f = &g_array_index(io->files, ioc_file_t, i);
        struct stat st;
        if (stat(f->path, &st) == 0 &&
            (st.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
             st.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec || st.st_size != f->st.st_size ||
             st.st_ino != f->st.st_ino))
            changed = true;
    }
    if (!changed)
        return;
    claw_iocs_t *fresh = NULL;
    char *err = NULL;
    if (_claw_iocs_new(e->config, &fresh, &err) != CLAW_STATUS_SUCCESS) {
        claw_log(CLAW_LOG_ERROR, NULL, "indicators not reloaded, keeping the old set: %s",
                 err ? err : "error");
        g_free(err);
        for (guint i = 0; i < io->files->len; i++)
            stat(g_array_index(io->files, ioc_file_t, i).path,
                 &g_array_index(io->files, ioc_file_t, i).st);
        return;
    }
    claw_log(CLAW_LOG_NOTICE, NULL, "indicators reloaded: %zu entries", fresh->count);
    _claw_iocs_free(io);
    e->iocs = fresh;
}

void
claw_engine_refresh(claw_engine_t *engine)
{
    if (engine)
        _claw_iocs_refresh(engine);
}

bool
_claw_ioc_domain_match(const claw_iocs_t *io, const char *host)
{
    return io && (g_hash_table_contains(io->set[IOC_HOST], host) ||
                  _claw_in_domain_set(io->set[IOC_DOMAIN], host));
}
