/* feed.c - a batch of indicators being read (claw-feed.h): making one from
 * a value as given, the type of a bare value, times, and what was passed
 * over. Every reader and `claw ioc add` make indicators here.
 */
#include "build-config.h"

#include "claw-feed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
claw_feed_batch_init(claw_feed_batch_t *b, const claw_feed_defaults_t *defaults)
{
    *b = (claw_feed_batch_t){0};
    if (defaults)
        b->defaults = *defaults;
    else
        b->defaults = (claw_feed_defaults_t){.valid_from = CLAW_IOC_KEEP,
                                             .valid_until = CLAW_IOC_KEEP,
                                             .confidence = CLAW_IOC_KEEP_CONFIDENCE};
    b->iocs = g_ptr_array_new_with_free_func(g_free);
    b->strings = g_string_chunk_new(64 * 1024);
    b->skipped = g_hash_table_new(g_str_hash, g_str_equal);
}

void
claw_feed_batch_clear(claw_feed_batch_t *b)
{
    if (b->iocs)
        g_ptr_array_free(b->iocs, TRUE);
    if (b->strings)
        g_string_chunk_free(b->strings);
    if (b->skipped)
        g_hash_table_destroy(b->skipped);
    *b = (claw_feed_batch_t){0};
}

const char *
claw_feed_str(claw_feed_batch_t *b, const char *s)
{
    return s ? g_string_chunk_insert_const(b->strings, s) : NULL;
}

const char *
claw_feed_text(claw_feed_batch_t *b, const char *text, size_t max)
{
    size_t n = strlen(text);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 character */
    }
    char *line = g_utf8_make_valid(text, (gssize)n);
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    const char *kept = claw_feed_str(b, line);
    g_free(line);
    return kept;
}

void
claw_feed_skip(claw_feed_batch_t *b, const char *reason)
{
    const char *key = claw_feed_str(b, reason);
    gpointer n = g_hash_table_lookup(b->skipped, key);
    g_hash_table_insert(b->skipped, (gpointer)key, GUINT_TO_POINTER(GPOINTER_TO_UINT(n) + 1));
    b->n_skipped++;
}

bool
claw_feed_type_known(const char *t, size_t n)
{
    for (const char *const *k = claw_ioc_types(); *k; k++)
        if (strlen(*k) == n && !g_ascii_strncasecmp(*k, t, n))
            return true;
    return false;
}

const char *
claw_feed_guess_type(const char *v)
{
    char *key = NULL;
    if (claw_ioc_normalise("ip", v, &key, NULL) == CLAW_STATUS_SUCCESS) {
        claw_free(key);
        return "ip";
    }
    if (claw_ioc_normalise("sha256", v, &key, NULL) == CLAW_STATUS_SUCCESS) {
        claw_free(key);
        return "sha256";
    }
    if (strstr(v, "://"))
        return "url";
    if (v[0] == '<')
        return "message-id";
    if (strchr(v, '@'))
        return "sender";
    return "domain";
}

bool
claw_feed_parse_time(const char *s, int64_t now, int64_t *out)
{
    if (!s || !*s || !strcmp(s, "never")) {
        *out = 0;
        return true;
    }
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (end != s && n >= 0 && !errno && end[0] && !end[1] && !strchr("-:T", *end)) {
        int64_t unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600
                     : *end == 'd' ? 86400 : *end == 'w' ? 7 * 86400 : 0;
        if (!unit || n > INT64_MAX / unit - now)
            return false;
        *out = now + n * unit;
        return true;
    }
    /* A date alone is its midnight; a time without a zone is UTC. */
    char *full = strchr(s, 'T') || strchr(s, ' ') ? g_strdup(s) : g_strconcat(s, "T00:00:00", NULL);
    GTimeZone *utc = g_time_zone_new_utc();
    GDateTime *t = g_date_time_new_from_iso8601(g_strdelimit(full, " ", 'T'), utc);
    g_time_zone_unref(utc);
    g_free(full);
    if (!t)
        return false;
    *out = g_date_time_to_unix(t);
    g_date_time_unref(t);
    return true;
}

bool
claw_feed_parse_past(const char *s, int64_t now, int64_t *out)
{
    size_t n = strlen(s);
    bool span = n >= 2 && strchr("smhdw", s[n - 1]) && strspn(s, "0123456789") == n - 1;
    int64_t t;
    if (!claw_feed_parse_time(s, 0, &t) || !t)
        return false;
    *out = span ? now - t : t;
    return true;
}

claw_ioc_t *
claw_feed_add(claw_feed_batch_t *b, const char *type, const char *raw, const char **why)
{
    const char *value = raw, *colon = strchr(raw, ':');
    char tbuf[16];
    size_t tn = colon ? (size_t)(colon - raw) : 0;
    if (!type)
        type = b->defaults.type;
    if (!type && colon && tn < sizeof tbuf && claw_feed_type_known(raw, tn)) {
        for (size_t i = 0; i < tn; i++)
            tbuf[i] = g_ascii_tolower(raw[i]);
        tbuf[tn] = '\0';
        type = tbuf;
        value = colon + 1;
    }
    if (!type)
        type = claw_feed_guess_type(value);
    if (strpbrk(value, "\r\n")) {
        *why = "holds a line break";
        return NULL;
    }
    char *key = NULL;
    const char *said = NULL;
    if (claw_ioc_normalise(type, value, &key, &said) != CLAW_STATUS_SUCCESS) {
        *why = said ? said : "not an indicator";
        return NULL;
    }
    claw_ioc_t *c = g_new0(claw_ioc_t, 1);
    const claw_feed_defaults_t *d = &b->defaults;
    char *lower = g_ascii_strdown(type, -1);
    c->type = claw_feed_str(b, lower);
    g_free(lower);
    c->value = g_string_chunk_insert(b->strings, key);
    c->given = strcmp(key, value) ? g_string_chunk_insert(b->strings, value) : NULL;
    claw_free(key);
    c->action = d->action;
    c->source = d->source;
    c->reason = d->reason;
    c->added_by = d->added_by;
    c->valid_from = d->valid_from;
    c->valid_until = d->valid_until;
    c->confidence = d->confidence;
    g_ptr_array_add(b->iocs, c);
    return c;
}
