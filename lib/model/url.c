/* url.c - finding URLs in text and normalising them; domain names.
 *
 * Normalisation follows what a browser does with the same string (WHATWG
 * URL): leading/trailing control characters and spaces are dropped, tabs and
 * newlines inside removed, backslashes read as slashes, any number of slashes
 * after a special scheme accepted, the host percent-decoded, mapped by UTS #46
 * (libidn2) and, if it is all numbers, read as IPv4 in decimal, octal or hex
 * with one to four parts. That is how the tricks work, so it is how we read.
 */
#include "build-config.h"

#include "claw-private.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RAW_URL 2048    /* longer candidates are cut (data: URLs) */
#define MAX_LINK_TEXT 256

/* ------------------------------------------------------------------------
 * Domains
 * --------------------------------------------------------------------- */

static bool
mixed_script(const char *u)
{
    bool latin = false, other = false;
    for (const char *p = u; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c < 0x80) {
            if (g_ascii_isalpha((int)c))
                latin = true;
        } else {
            GUnicodeScript s = g_unichar_get_script(c);
            if (s == G_UNICODE_SCRIPT_LATIN)
                latin = true;
            else if (s != G_UNICODE_SCRIPT_COMMON && s != G_UNICODE_SCRIPT_INHERITED)
                other = true;
        }
    }
    return latin && other;
}

static bool
is_plain_ascii_host(const char *h)
{
    if (!*h || *h == '.' || *h == '-')
        return false;
    for (const char *p = h; *p; p++) {
        if (!(g_ascii_isalnum(*p) || *p == '.' || (*p == '-' && p[1] != '.' && p[1])))
            return false;
        if ((p == h || p[-1] == '.') && p[0] == 'x' && p[1] == 'n' && p[2] == '-' && p[3] == '-')
            return false;
        if (*p == '.' && (p[1] == '.' || p[1] == '-'))
            return false;
    }
    return true;
}

void
_claw_domain_init(claw_ctx_t *ctx, claw_domain_t *d, const char *host, size_t len)
{
    memset(d, 0, sizeof *d);
    if (len == 0)
        return;
    if (!ctx->domains)
        ctx->domains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    char stack[256];
    const char *lookup = host;
    if (len < sizeof stack) {
        memcpy(stack, host, len);
        stack[len] = '\0';
        lookup = stack;
    }
    claw_domain_t *cached = lookup == stack ? g_hash_table_lookup(ctx->domains, stack) : NULL;
    if (cached) {
        *d = *cached;
        return;
    }
    char *key = g_strndup(host, len);

    /* Lower-case (ASCII here; idn2 folds the rest) and drop one final dot. */
    char *lower = g_utf8_make_valid(key, -1);
    for (char *p = lower; *p; p++)
        *p = g_ascii_tolower(*p);
    size_t n = strlen(lower);
    if (n > 1 && lower[n - 1] == '.')
        lower[--n] = '\0';

    char *ip = NULL;
    {
        unsigned char bin[16];
        char out[INET6_ADDRSTRLEN];
        const char *h = lower;
        char *unbr = NULL;
        if (h[0] == '[' && n > 2 && h[n - 1] == ']')
            h = unbr = g_strndup(lower + 1, n - 2);
        if (inet_pton(AF_INET, h, bin) == 1)
            ip = g_strdup(inet_ntop(AF_INET, bin, out, sizeof out));
        else if (inet_pton(AF_INET6, h, bin) == 1)
            ip = g_strdup(inet_ntop(AF_INET6, bin, out, sizeof out));
        g_free(unbr);
    }
    if (ip) {
        d->ascii = d->unicode = _claw_strdup(ctx, ip);
        d->flags |= CLAW_DOMAIN_IP;
        g_free(ip);
    } else if (is_plain_ascii_host(lower)) {
        /* The common case needs no IDNA mapping: letters, digits, hyphens
         * and dots, no A-labels. */
        d->ascii = d->unicode = _claw_strdup(ctx, lower);
        const char *reg = psl_registrable_domain(ctx->engine->psl, d->ascii);
        if (reg)
            d->registrable = _claw_strdup(ctx, reg);
    } else {
        char *ascii = NULL, *unicode = NULL;
        int rc = idn2_lookup_u8((const uint8_t *)lower, (uint8_t **)&ascii,
                                IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (rc != IDN2_OK)
            rc = idn2_lookup_u8((const uint8_t *)lower, (uint8_t **)&ascii,
                                IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
        if (rc != IDN2_OK) {
            /* Not a valid IDNA name (underscores, invalid labels): keep it as
             * written, which is what an investigator needs to search for. */
            d->flags |= CLAW_DOMAIN_INVALID;
            ascii = strdup(lower);
        }
        if (idn2_to_unicode_8z8z(ascii, &unicode, 0) != IDN2_OK)
            unicode = strdup(ascii);
        d->ascii = _claw_strdup(ctx, ascii);
        d->unicode = _claw_strndup_utf8(ctx, unicode, strlen(unicode));
        if (strcmp(d->ascii, d->unicode) != 0) {
            d->flags |= CLAW_DOMAIN_IDN;
            if (mixed_script(d->unicode))
                d->flags |= CLAW_DOMAIN_MIXED_SCRIPT;
        }
        const char *reg = psl_registrable_domain(ctx->engine->psl, d->ascii);
        if (reg)
            d->registrable = _claw_strdup(ctx, reg);
        free(ascii);
        free(unicode);
    }
    g_free(lower);

    claw_domain_t *copy = g_new(claw_domain_t, 1);
    *copy = *d;
    g_hash_table_insert(ctx->domains, key, copy);
}

/* ------------------------------------------------------------------------
 * Normalising one URL
 * --------------------------------------------------------------------- */

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void
percent_decode(GString *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < len && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
            (l = hexval((unsigned char)s[i + 2])) >= 0) {
            g_string_append_c(out, (char)(h * 16 + l));
            i += 2;
        } else {
            g_string_append_c(out, s[i]);
        }
    }
}

/* One IPv4 part: decimal, 0-prefixed octal or 0x-prefixed hex. */
static bool
ipv4_part(const char *s, size_t len, uint64_t *v, bool *unusual)
{
    int base = 10;
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
        *unusual = true;
    } else if (len >= 2 && s[0] == '0') {
        base = 8;
        s++;
        len--;
        *unusual = true;
    }
    if (len == 0) {
        *v = 0;
        return true;
    }
    if (len > 20)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int d = hexval((unsigned char)s[i]);
        if (d < 0 || d >= base)
            return false;
        n = n * (uint64_t)base + (uint64_t)d;
        if (n > 0xFFFFFFFFull)
            return false;
    }
    *v = n;
    return true;
}

/* WHATWG IPv4 parser: 1-4 numeric parts, the last filling the remaining
 * bytes. Returns true and the canonical dotted quad if @host is one. */
static bool
parse_ipv4(const char *host, char out[16], bool *obfuscated)
{
    uint64_t parts[4];
    int n = 0;
    bool unusual = false;
    const char *p = host;
    size_t hl = strlen(host);
    if (hl && host[hl - 1] == '.')
        hl--;
    if (hl == 0)
        return false;
    while (p < host + hl) {
        const char *dot = memchr(p, '.', (size_t)(host + hl - p));
        size_t len = dot ? (size_t)(dot - p) : (size_t)(host + hl - p);
        if (n == 4 || len == 0 || !ipv4_part(p, len, &parts[n], &unusual))
            return false;
        n++;
        p += len + (dot ? 1 : 0);
        if (!dot)
            break;
    }
    if (n == 0)
        return false;
    for (int i = 0; i < n - 1; i++)
        if (parts[i] > 255)
            return false;
    if (parts[n - 1] >= (1ull << (8 * (5 - n))))
        return false;
    uint64_t v = parts[n - 1];
    for (int i = 0; i < n - 1; i++)
        v += parts[i] << (8 * (3 - i));
    g_snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(v >> 24) & 255, (unsigned)(v >> 16) & 255,
               (unsigned)(v >> 8) & 255, (unsigned)v & 255);
    *obfuscated = unusual || n != 4;
    return true;
}

static bool
is_special_scheme(const char *s)
{
    return !strcmp(s, "http") || !strcmp(s, "https") || !strcmp(s, "ftp") ||
           !strcmp(s, "ws") || !strcmp(s, "wss") || !strcmp(s, "file");
}

static bool
looks_like_host(const char *s)
{
    bool dot = false, alpha = false;
    for (; *s; s++) {
        if (*s == '.')
            dot = true;
        else if (g_ascii_isalpha(*s))
            alpha = true;
        else if (!g_ascii_isdigit(*s) && *s != '-' && (unsigned char)*s < 0x80)
            return false;
    }
    return dot && alpha;
}

/* One of the message's reusable buffers, emptied. */
static GString *
scratch(claw_ctx_t *ctx, unsigned i)
{
    if (!ctx->scratch[i])
        ctx->scratch[i] = g_string_sized_new(256);
    g_string_truncate(ctx->scratch[i], 0);
    return ctx->scratch[i];
}

void
_claw_url_add(claw_ctx_t *ctx, const char *raw, size_t len, const char *part,
              claw_url_source_t source, const char *link_text)
{
    if (ctx->text_only)
        return;
    /* Browsers strip leading and trailing C0 controls and spaces, and remove
     * tabs and newlines anywhere. */
    while (len && (unsigned char)raw[0] <= ' ') {
        raw++;
        len--;
    }
    while (len && (unsigned char)raw[len - 1] <= ' ')
        len--;
    if (len == 0)
        return;
    GString *s = scratch(ctx, 0);
    for (size_t i = 0; i < len && s->len < MAX_RAW_URL; i++)
        if (raw[i] != '\t' && raw[i] != '\n' && raw[i] != '\r')
            g_string_append_c(s, raw[i]);

    claw_url_t u = {.source = source, .port = 0};
    const char *p = s->str, *end = s->str + s->len;

    /* Scheme. */
    const char *q = p;
    if (g_ascii_isalpha(*q)) {
        while (q < end && (g_ascii_isalnum(*q) || *q == '+' || *q == '-' || *q == '.'))
            q++;
    }
    char scheme[32];
    if (q < end && *q == ':' && q > p) {
        size_t n = MIN((size_t)(q - p), sizeof scheme - 1);
        for (size_t i = 0; i < n; i++)
            scheme[i] = g_ascii_tolower(p[i]);
        scheme[n] = '\0';
        p = q + 1;
    } else if (s->len > 4 && g_ascii_strncasecmp(p, "www.", 4) == 0) {
        strcpy(scheme, "http");
        u.flags |= CLAW_URL_NO_SCHEME;
    } else {
        /* Relative references and fragments go nowhere new. */
        return;
    }
    if (!strcmp(scheme, "cid") || !strcmp(scheme, "mid")) {
        /* References to other parts of the same message. */
        return;
    }

    /* Dedupe: the same link with the same text, once per message part. */
    GString *k = scratch(ctx, 1);
    g_string_append_c(k, (char)('0' + source));
    g_string_append_len(k, s->str, (gssize)s->len);
    g_string_append_c(k, '\x1f');
    if (link_text)
        g_string_append(k, link_text);
    g_string_append_c(k, '\x1f');
    if (part)
        g_string_append(k, part);
    if (!ctx->url_seen)
        ctx->url_seen = g_hash_table_new(g_str_hash, g_str_equal);
    if (g_hash_table_contains(ctx->url_seen, k->str))
        return;
    if (ctx->urls->len >= (guint)ctx->limits->max_urls) {
        if (!_claw_has_anomaly(ctx, CLAW_ANOM_LIMIT_URLS))
            _claw_anomaly(ctx, CLAW_ANOM_LIMIT_URLS, part,
                          "more than %" G_GINT64_FORMAT " distinct URLs",
                          ctx->limits->max_urls);
        return;
    }
    /* The key lives as long as the message, in its string chunk. */
    g_hash_table_add(ctx->url_seen, (gpointer)_claw_strndup(ctx, k->str, k->len));

    u.raw = _claw_strndup_utf8(ctx, s->str, s->len);
    u.scheme = _claw_strndup_utf8(ctx, scheme, strlen(scheme));
    u.part = _claw_strdup(ctx, part);
    if (link_text) {
        size_t tl = strlen(link_text);
        if (tl > MAX_LINK_TEXT) {
            tl = MAX_LINK_TEXT;
            while (tl && ((unsigned char)link_text[tl] & 0xC0) == 0x80)
                tl--;
        }
        u.link_text = _claw_strndup_utf8(ctx, link_text, tl);
    }

    GString *norm = scratch(ctx, 2);
    g_string_append(norm, u.scheme);
    bool special = is_special_scheme(scheme) || (u.flags & CLAW_URL_NO_SCHEME);
    bool hierarchical = special || (p + 1 < end && p[0] == '/' && p[1] == '/');
    if (hierarchical) {
        /* Any run of slashes and backslashes introduces the authority. */
        while (p < end && (*p == '/' || *p == '\\')) {
            if (*p == '\\')
                u.flags |= CLAW_URL_BACKSLASH;
            p++;
        }
        const char *auth = p;
        while (p < end && *p != '/' && *p != '?' && *p != '#' && !(special && *p == '\\'))
            p++;
        const char *auth_end = p;
        /* userinfo: up to the last '@' of the authority. */
        const char *at = NULL;
        for (const char *r = auth; r < auth_end; r++)
            if (*r == '@')
                at = r;
        const char *host = auth;
        if (at) {
            GString *ui = g_string_new(NULL);
            percent_decode(ui, auth, (size_t)(at - auth));
            u.userinfo = _claw_strndup_utf8(ctx, ui->str, ui->len);
            u.flags |= CLAW_URL_USERINFO;
            /* "http://paypal.com@evil.example/": the part a reader sees first
             * is not where the link goes. */
            const char *last_at = strrchr(ui->str, '@');
            const char *user_start = last_at ? last_at + 1 : ui->str;
            char *user = g_strndup(user_start, strcspn(user_start, ":"));
            if (looks_like_host(user))
                u.flags |= CLAW_URL_USERINFO_HOSTLIKE;
            g_free(user);
            g_string_free(ui, TRUE);
            host = at + 1;
        }
        /* host[:port]; IPv6 in brackets. */
        const char *host_end = auth_end;
        if (host < auth_end && *host == '[') {
            const char *close = memchr(host, ']', (size_t)(auth_end - host));
            if (close)
                host_end = close + 1;
        } else {
            const char *colon = NULL;
            for (const char *r = host; r < auth_end; r++)
                if (*r == ':')
                    colon = r;
            if (colon)
                host_end = colon;
        }
        if (host_end < auth_end && *host_end == ':') {
            const char *port = host_end + 1;
            int pn = 0;
            bool ok = port < auth_end;
            for (const char *r = port; r < auth_end; r++) {
                if (!g_ascii_isdigit(*r) || pn > 65535) {
                    ok = false;
                    break;
                }
                pn = pn * 10 + (*r - '0');
            }
            if (ok && pn <= 65535)
                u.port = pn;
        }
        GString *h = scratch(ctx, 3);
        if (memchr(host, '%', (size_t)(host_end - host))) {
            u.flags |= CLAW_URL_HOST_ENCODED;
            percent_decode(h, host, (size_t)(host_end - host));
        } else {
            g_string_append_len(h, host, host_end - host);
        }
        if (h->len) {
            char v4[16];
            bool obf = false;
            char *low = g_ascii_strdown(h->str, (gssize)h->len);
            if (parse_ipv4(low, v4, &obf)) {
                _claw_domain_init(ctx, &u.host, v4, strlen(v4));
                u.flags |= CLAW_URL_IP_HOST;
                if (obf)
                    u.flags |= CLAW_URL_IP_OBFUSCATED;
            } else {
                _claw_domain_init(ctx, &u.host, h->str, h->len);
                if (u.host.flags & CLAW_DOMAIN_IP)
                    u.flags |= CLAW_URL_IP_HOST;
                if (u.host.flags & CLAW_DOMAIN_IDN)
                    u.flags |= CLAW_URL_IDN;
                if (u.host.flags & CLAW_DOMAIN_INVALID)
                    u.flags |= CLAW_URL_INVALID_HOST;
            }
            g_free(low);
        }
        g_string_append(norm, "://");
        if (u.host.ascii) {
            bool v6 = (u.host.flags & CLAW_DOMAIN_IP) && strchr(u.host.ascii, ':');
            g_string_append_printf(norm, v6 ? "[%s]" : "%s", u.host.ascii);
        }
        if (u.port)
            g_string_append_printf(norm, ":%d", u.port);
        if (p >= end)
            g_string_append_c(norm, '/');
    } else {
        g_string_append_c(norm, ':');
        if (!strcmp(u.scheme, "mailto")) {
            const char *at = memchr(p, '@', (size_t)(end - p));
            if (at) {
                const char *dend = at + 1;
                while (dend < end && *dend != '?' && *dend != '&' && *dend != ',')
                    dend++;
                _claw_domain_init(ctx, &u.host, at + 1, (size_t)(dend - at - 1));
            }
        }
    }
    /* The rest: path, query and fragment. */
    GString *rest = scratch(ctx, 4);
    for (const char *r = p; r < end; r++)
        g_string_append_c(rest, (special && *r == '\\') ? '/' : *r);
    g_string_append_len(norm, rest->str, (gssize)rest->len);
    if (memchr(rest->str, '%', rest->len)) {
        GString *decoded = scratch(ctx, 5);
        percent_decode(decoded, rest->str, rest->len);
        u.path = _claw_strndup_utf8(ctx, decoded->str, decoded->len);
    } else {
        u.path = _claw_strndup_utf8(ctx, rest->str, rest->len);
    }
    u.url = _claw_strndup_utf8(ctx, norm->str, norm->len);
    g_array_append_val(ctx->urls, u);
}

/* ------------------------------------------------------------------------
 * Finding URLs in plain text
 * --------------------------------------------------------------------- */

static bool
url_char(unsigned char c)
{
    return c > ' ' && c != '<' && c != '>' && c != '"' && c != '`' && c != 0x7f &&
           c != '{' && c != '}' && c != '|' && c != '^';
}

static size_t
trim_url_end(const char *s, size_t len)
{
    /* Trailing punctuation belongs to the sentence, and a closing bracket
     * only to the URL if the URL opened one. */
    while (len) {
        char c = s[len - 1];
        if (strchr(".,;:!?'*", c)) {
            len--;
            continue;
        }
        if (c == ')' || c == ']') {
            char open = c == ')' ? '(' : '[';
            int bal = 0;
            for (size_t i = 0; i < len; i++)
                bal += s[i] == open ? 1 : s[i] == c ? -1 : 0;
            if (bal < 0) {
                len--;
                continue;
            }
        }
        break;
    }
    return len;
}

void
_claw_urls_from_text(claw_ctx_t *ctx, const char *text, size_t len, const char *part,
                     claw_url_source_t source)
{
    const char *p = text, *end = text + len;
    unsigned checks = 0;

    while (p < end) {
        if ((++checks & 255) == 0 && _claw_out_of_time(ctx))
            return;
        if (_claw_has_anomaly(ctx, CLAW_ANOM_LIMIT_URLS))
            return;
        /* Find the next "://" or "www." (at a word start). */
        const char *hit = NULL, *start = NULL;
        for (const char *r = p; r + 3 < end; r++) {
            if (r[0] == ':' && r[1] == '/' && r[2] == '/') {
                const char *b = r;
                while (b > p && (g_ascii_isalnum(b[-1]) || b[-1] == '+' || b[-1] == '-' ||
                                 b[-1] == '.'))
                    b--;
                while (b < r && !g_ascii_isalpha(*b))
                    b++;
                if (b < r) {
                    hit = r;
                    start = b;
                    break;
                }
            } else if ((r[0] == 'w' || r[0] == 'W') && r + 4 < end &&
                       g_ascii_strncasecmp(r, "www.", 4) == 0 &&
                       (r == text || !(g_ascii_isalnum(r[-1]) || r[-1] == '.' ||
                                       r[-1] == '/' || r[-1] == '@' || r[-1] == '-')) &&
                       g_ascii_isalnum(r[4])) {
                hit = r;
                start = r;
                break;
            }
        }
        if (!hit)
            return;
        const char *e = hit;
        while (e < end && url_char((unsigned char)*e))
            e++;
        size_t n = trim_url_end(start, (size_t)(e - start));
        /* Need something after the scheme. */
        if (n > (size_t)(hit - start) + 3 || start == hit)
            _claw_url_add(ctx, start, n, part, source, NULL);
        p = e > hit ? e : hit + 1;
    }
}
