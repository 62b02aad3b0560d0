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

/* The forms of one host name, before the Public Suffix List is asked. */
typedef struct {
    char *ascii;    /* lowercase A-labels, the canonical IP, or (invalid) the name as written */
    char *unicode;  /* lowercase U-labels; NULL when the same as ascii */
    unsigned flags; /* CLAW_DOMAIN_IP, _IDN, _INVALID, _MIXED_SCRIPT */
} host_forms_t;

static void
host_forms_free(host_forms_t *f)
{
    g_free(f->ascii);
    g_free(f->unicode);
}

/* @name (lower case, @n bytes) as the canonical text of an IPv4 or IPv6
 * address, in brackets or not; NULL if it is no address. */
static char *
ip_literal(const char *name, size_t n)
{
    unsigned char bin[16];
    char out[INET6_ADDRSTRLEN];
    char *unbracketed = NULL;
    const char *h = name;
    if (h[0] == '[' && n > 2 && h[n - 1] == ']')
        h = unbracketed = g_strndup(name + 1, n - 2);
    char *ip = NULL;
    if (inet_pton(AF_INET, h, bin) == 1)
        ip = g_strdup(inet_ntop(AF_INET, bin, out, sizeof out));
    else if (inet_pton(AF_INET6, h, bin) == 1)
        ip = g_strdup(inet_ntop(AF_INET6, bin, out, sizeof out));
    g_free(unbracketed);
    return ip;
}

/* A name that is not plain ASCII, mapped by UTS #46 as browsers do
 * (nontransitional, then transitional), into @f. */
static void
idna_forms(const char *lower, host_forms_t *f)
{
    char *ascii = NULL, *unicode = NULL;
    int rc = idn2_lookup_u8((const uint8_t *)lower, (uint8_t **)&ascii,
                            IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK)
        rc = idn2_lookup_u8((const uint8_t *)lower, (uint8_t **)&ascii,
                            IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
    if (rc == IDN2_OK) {
        f->ascii = g_strdup(ascii);
    } else {
        /* Not a valid IDNA name (underscores, invalid labels): keep it as
         * written, which is what an investigator needs to search for. */
        f->flags |= CLAW_DOMAIN_INVALID;
        f->ascii = g_strdup(lower);
    }
    free(ascii);
    if (idn2_to_unicode_8z8z(f->ascii, &unicode, 0) == IDN2_OK) {
        f->unicode = g_utf8_make_valid(unicode, -1);
        free(unicode);
    }
    if (f->unicode && strcmp(f->ascii, f->unicode) != 0) {
        f->flags |= CLAW_DOMAIN_IDN;
        if (mixed_script(f->unicode))
            f->flags |= CLAW_DOMAIN_MIXED_SCRIPT;
    } else {
        g_free(f->unicode);
        f->unicode = NULL;
    }
}

/* The forms of the host name of @len bytes at @host: any case, A-labels
 * or UTF-8, an IP address in brackets or not. One final dot is dropped.
 * Release with host_forms_free(). */
static void
host_forms(const char *host, size_t len, host_forms_t *f)
{
    memset(f, 0, sizeof *f);
    char *key = g_strndup(host, len);
    /* Lower-case (ASCII here; idn2 folds the rest) and drop one final dot. */
    char *lower = g_utf8_make_valid(key, -1);
    g_free(key);
    for (char *p = lower; *p; p++)
        *p = g_ascii_tolower(*p);
    size_t n = strlen(lower);
    if (n > 1 && lower[n - 1] == '.')
        lower[--n] = '\0';

    f->ascii = ip_literal(lower, n);
    if (f->ascii) {
        f->flags |= CLAW_DOMAIN_IP;
    } else if (is_plain_ascii_host(lower)) {
        /* The common case needs no IDNA mapping: letters, digits, hyphens
         * and dots, no A-labels. */
        f->ascii = g_strdup(lower);
    } else {
        idna_forms(lower, f);
    }
    g_free(lower);
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

    host_forms_t f;
    host_forms(host, len, &f);
    d->flags = f.flags;
    d->ascii = _claw_strdup(ctx, f.ascii);
    d->unicode = f.unicode ? _claw_strdup(ctx, f.unicode) : d->ascii;
    if (!(f.flags & CLAW_DOMAIN_IP)) {
        const char *reg = psl_registrable_domain(ctx->engine->psl, d->ascii);
        if (reg)
            d->registrable = _claw_strdup(ctx, reg);
    }
    host_forms_free(&f);

    claw_domain_t *copy = g_new(claw_domain_t, 1);
    *copy = *d;
    g_hash_table_insert(ctx->domains, g_strndup(host, len), copy);
}

/* ------------------------------------------------------------------------
 * Reading one URL
 *
 * In steps, each its own function, that the model (_claw_url_add) and
 * claw_url_normalise() both take, so a link in a message, an indicator and
 * an archive query for it come out the same: clean the string as a browser
 * does (url_clean), cut it into its parts (url_split), make its host a name
 * (url_host_name, then host_forms), and write the normal form (url_write).
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

/* A scheme's default port, which a browser drops ("https://host:443/" is
 * "https://host/"); -1 for a scheme without one. */
static int
default_port(const char *scheme)
{
    static const struct {
        const char *scheme;
        int port;
    } ports[] = {{"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443}, {"ftp", 21}};
    for (size_t i = 0; i < G_N_ELEMENTS(ports); i++)
        if (!strcmp(scheme, ports[i].scheme))
            return ports[i].port;
    return -1;
}

/* One URL cut into its parts. The spans point into the cleaned string. */
typedef struct {
    char scheme[32];      /* lower case, without ':' */
    unsigned flags;       /* CLAW_URL_NO_SCHEME and CLAW_URL_BACKSLASH, as found */
    bool special;         /* http(s), ftp, ws(s), file: backslashes are slashes */
    bool hierarchical;    /* scheme://authority/... rather than scheme:opaque */
    const char *userinfo; /* before the authority's last '@'; NULL when none */
    size_t userinfo_len;
    const char *host;     /* as written: may be percent-encoded, IPv6 in brackets */
    size_t host_len;
    int port;             /* 0: none, not a port number, or the scheme's default */
    const char *rest;     /* path, query and fragment as written */
    size_t rest_len;
} url_parts_t;

/* @raw as a browser takes it, into @out: leading and trailing C0 controls
 * and spaces dropped, tabs and newlines anywhere removed, cut at
 * MAX_RAW_URL bytes. */
static void
url_clean(const char *raw, size_t len, GString *out)
{
    while (len && (unsigned char)raw[0] <= ' ') {
        raw++;
        len--;
    }
    while (len && (unsigned char)raw[len - 1] <= ' ')
        len--;
    for (size_t i = 0; i < len && out->len < MAX_RAW_URL; i++)
        if (raw[i] != '\t' && raw[i] != '\n' && raw[i] != '\r')
            g_string_append_c(out, raw[i]);
}

size_t
_claw_url_scheme_length(const char *s, size_t len)
{
    size_t n = 0;
    if (n < len && g_ascii_isalpha(s[n])) {
        while (n < len && (g_ascii_isalnum(s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.'))
            n++;
    }
    return n < len && s[n] == ':' ? n : 0;
}

/* The scheme at *@p, lower-cased into @u, and *@p moved past its ':'.
 * "www." without a scheme is http. False for a relative reference. */
static bool
url_scheme(const char **p, const char *end, url_parts_t *u)
{
    const char *s = *p;
    size_t scheme = _claw_url_scheme_length(s, (size_t)(end - s));
    if (scheme) {
        const char *q = s + scheme;
        size_t n = MIN(scheme, sizeof u->scheme - 1);
        for (size_t i = 0; i < n; i++)
            u->scheme[i] = g_ascii_tolower(s[i]);
        u->scheme[n] = '\0';
        *p = q + 1;
        return true;
    }
    if (end - s > 4 && g_ascii_strncasecmp(s, "www.", 4) == 0) {
        strcpy(u->scheme, "http");
        u->flags |= CLAW_URL_NO_SCHEME;
        return true;
    }
    return false;
}

/* The port written from @p to @end: 0 unless it is a number up to 65535
 * other than @scheme's default. */
static int
url_port(const char *p, const char *end, const char *scheme)
{
    int port = 0;
    if (p >= end)
        return 0;
    for (const char *r = p; r < end; r++) {
        if (!g_ascii_isdigit(*r) || port > 65535)
            return 0;
        port = port * 10 + (*r - '0');
    }
    return port <= 65535 && port != default_port(scheme) ? port : 0;
}

/* The authority that starts at @p: userinfo, host and port into @u.
 * Returns where the path begins. */
static const char *
url_authority(const char *p, const char *end, url_parts_t *u)
{
    /* Any run of slashes and backslashes introduces the authority. */
    while (p < end && (*p == '/' || *p == '\\')) {
        if (*p == '\\')
            u->flags |= CLAW_URL_BACKSLASH;
        p++;
    }
    const char *auth = p;
    while (p < end && *p != '/' && *p != '?' && *p != '#' && !(u->special && *p == '\\'))
        p++;
    const char *auth_end = p;
    /* userinfo: up to the last '@' of the authority. */
    const char *at = NULL;
    for (const char *r = auth; r < auth_end; r++)
        if (*r == '@')
            at = r;
    const char *host = auth;
    if (at) {
        u->userinfo = auth;
        u->userinfo_len = (size_t)(at - auth);
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
    u->host = host;
    u->host_len = (size_t)(host_end - host);
    if (host_end < auth_end && *host_end == ':')
        u->port = url_port(host_end + 1, auth_end, u->scheme);
    return p;
}

/* The cleaned URL of @len bytes at @s cut into @u. False for what goes
 * nowhere new: relative references and fragments, and cid: and mid:,
 * which point at other parts of the same message. */
static bool
url_split(const char *s, size_t len, url_parts_t *u)
{
    const char *p = s, *end = s + len;
    memset(u, 0, sizeof *u);
    if (!url_scheme(&p, end, u) || !strcmp(u->scheme, "cid") || !strcmp(u->scheme, "mid"))
        return false;
    u->special = is_special_scheme(u->scheme) || (u->flags & CLAW_URL_NO_SCHEME);
    u->hierarchical = u->special || (p + 1 < end && p[0] == '/' && p[1] == '/');
    if (u->hierarchical)
        p = url_authority(p, end, u);
    u->rest = p;
    u->rest_len = (size_t)(end - p);
    return true;
}

/* The host name of @len bytes at @host as the domain functions take it:
 * percent-decoded into @buf, or, when it is a number in any of the forms a
 * browser reads as IPv4, its dotted quad in @v4. Adds CLAW_URL_HOST_ENCODED,
 * CLAW_URL_IP_HOST and CLAW_URL_IP_OBFUSCATED to *@flags. Returns the name
 * (in @buf or @v4) and its length in *@n, 0 for an empty host. */
static const char *
url_host_name(const char *host, size_t len, GString *buf, char v4[16], unsigned *flags,
              size_t *n)
{
    if (memchr(host, '%', len)) {
        *flags |= CLAW_URL_HOST_ENCODED;
        percent_decode(buf, host, len);
        /* A browser refuses a host that decodes to a forbidden code point
         * (WHATWG URL): "x%00.evil.example" must not become the host "x",
         * which would hide evil.example from indicators and search. Such a
         * host stays as written, and invalid. */
        for (size_t i = 0; i < buf->len; i++) {
            unsigned char c = (unsigned char)buf->str[i];
            if (c < 0x21 || c == 0x7f || strchr("#%/:<>?@[\\]^|", c)) {
                g_string_truncate(buf, 0);
                g_string_append_len(buf, host, (gssize)len);
                *flags |= CLAW_URL_INVALID_HOST;
                break;
            }
        }
    } else {
        g_string_append_len(buf, host, (gssize)len);
    }
    bool obfuscated = false;
    if (buf->len && parse_ipv4(buf->str, v4, &obfuscated)) {
        *flags |= CLAW_URL_IP_HOST | (obfuscated ? CLAW_URL_IP_OBFUSCATED : 0);
        *n = strlen(v4);
        return v4;
    }
    *n = buf->len;
    return buf->str;
}

/* The path, query and fragment of @u into @out as a browser sends them:
 * backslashes are slashes after a special scheme. */
static void
url_rest(const url_parts_t *u, GString *out)
{
    for (size_t i = 0; i < u->rest_len; i++)
        g_string_append_c(out, (u->special && u->rest[i] == '\\') ? '/' : u->rest[i]);
}

/* The normal form of @u into @out: scheme://host[:port] and @rest ("/"
 * when empty), or scheme:@rest. @host is the host's ASCII form (NULL for
 * none), @host_flags its CLAW_DOMAIN_* flags. */
static void
url_write(GString *out, const url_parts_t *u, const char *host, unsigned host_flags,
          const GString *rest)
{
    g_string_append(out, u->scheme);
    if (u->hierarchical) {
        g_string_append(out, "://");
        if (host) {
            bool v6 = (host_flags & CLAW_DOMAIN_IP) && strchr(host, ':');
            g_string_append_printf(out, v6 ? "[%s]" : "%s", host);
        }
        if (u->port)
            g_string_append_printf(out, ":%d", u->port);
        if (rest->len == 0)
            g_string_append_c(out, '/');
    } else {
        g_string_append_c(out, ':');
    }
    g_string_append_len(out, rest->str, (gssize)rest->len);
}

/* ------------------------------------------------------------------------
 * Recording a message's URLs
 * --------------------------------------------------------------------- */

/* @b emptied; made on first use. */
static GString *
emptied(GString **b)
{
    if (!*b)
        *b = g_string_sized_new(256);
    g_string_truncate(*b, 0);
    return *b;
}

void
_claw_url_buffers_free(claw_url_buffers_t *b)
{
    GString *all[] = {b->cleaned, b->seen_key, b->host, b->rest, b->path, b->normalised};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        if (all[i])
            g_string_free(all[i], TRUE);
    memset(b, 0, sizeof *b);
}

/* Has the message listed this link already? The same link with the same
 * text is listed once per message part and source. */
static bool
url_seen(claw_ctx_t *ctx, const GString *cleaned, const char *part, claw_url_source_t source,
         const char *link_text)
{
    GString *k = emptied(&ctx->url_buffers.seen_key);
    g_string_append_c(k, (char)('0' + source));
    g_string_append_len(k, cleaned->str, (gssize)cleaned->len);
    g_string_append_c(k, '\x1f');
    if (link_text)
        g_string_append(k, link_text);
    g_string_append_c(k, '\x1f');
    if (part)
        g_string_append(k, part);
    if (!ctx->url_seen)
        ctx->url_seen = g_hash_table_new(g_str_hash, g_str_equal);
    return g_hash_table_contains(ctx->url_seen, k->str);
}

/* Room for one more URL under [limits] max_urls? The first URL past it is
 * recorded as an anomaly. */
static bool
url_room_left(claw_ctx_t *ctx, const char *part)
{
    if (ctx->urls->len < (guint)ctx->limits->max_urls)
        return true;
    if (!_claw_has_anomaly(ctx, CLAW_ANOM_LIMIT_URLS))
        _claw_anomaly(ctx, CLAW_ANOM_LIMIT_URLS, part,
                      "more than %" G_GINT64_FORMAT " distinct URLs", ctx->limits->max_urls);
    return false;
}

/* The visible text of a link, cut at MAX_LINK_TEXT bytes on a character
 * boundary. */
static const char *
url_link_text(claw_ctx_t *ctx, const char *link_text)
{
    size_t n = strlen(link_text);
    if (n > MAX_LINK_TEXT) {
        n = MAX_LINK_TEXT;
        while (n && ((unsigned char)link_text[n] & 0xC0) == 0x80)
            n--;
    }
    return _claw_strndup_utf8(ctx, link_text, n);
}

/* The userinfo of @parts into @u, percent-decoded and flagged. */
static void
url_record_userinfo(claw_ctx_t *ctx, const url_parts_t *parts, claw_url_t *u)
{
    GString *ui = g_string_new(NULL);
    percent_decode(ui, parts->userinfo, parts->userinfo_len);
    u->userinfo = _claw_strndup_utf8(ctx, ui->str, ui->len);
    u->flags |= CLAW_URL_USERINFO;
    /* "http://paypal.com@evil.example/": the part a reader sees first is
     * not where the link goes. */
    const char *last_at = strrchr(ui->str, '@');
    const char *user_start = last_at ? last_at + 1 : ui->str;
    char *user = g_strndup(user_start, strcspn(user_start, ":"));
    if (looks_like_host(user))
        u->flags |= CLAW_URL_USERINFO_HOSTLIKE;
    g_free(user);
    g_string_free(ui, TRUE);
}

/* The host of @parts into @u->host, and what it says into @u->flags. */
static void
url_record_host(claw_ctx_t *ctx, const url_parts_t *parts, claw_url_t *u)
{
    char v4[16];
    size_t n;
    const char *name = url_host_name(parts->host, parts->host_len,
                                     emptied(&ctx->url_buffers.host), v4, &u->flags, &n);
    if (n == 0)
        return;
    _claw_domain_init(ctx, &u->host, name, n);
    if (u->host.flags & CLAW_DOMAIN_IP)
        u->flags |= CLAW_URL_IP_HOST;
    if (u->host.flags & CLAW_DOMAIN_IDN)
        u->flags |= CLAW_URL_IDN;
    if (u->host.flags & CLAW_DOMAIN_INVALID)
        u->flags |= CLAW_URL_INVALID_HOST;
}

/* The domain of a mailto: link's first address into @u->host. */
static void
url_record_mailto(claw_ctx_t *ctx, const url_parts_t *parts, claw_url_t *u)
{
    const char *end = parts->rest + parts->rest_len;
    const char *at = memchr(parts->rest, '@', parts->rest_len);
    if (!at)
        return;
    const char *dend = at + 1;
    while (dend < end && *dend != '?' && *dend != '&' && *dend != ',')
        dend++;
    _claw_domain_init(ctx, &u->host, at + 1, (size_t)(dend - at - 1));
}

/* Add the URL @parts of @cleaned to the message. */
static void
url_record(claw_ctx_t *ctx, const url_parts_t *parts, const GString *cleaned, const char *part,
           claw_url_source_t source, const char *link_text)
{
    claw_url_buffers_t *b = &ctx->url_buffers;
    claw_url_t u = {.source = source, .flags = parts->flags, .port = parts->port};
    u.raw = _claw_strndup_utf8(ctx, cleaned->str, cleaned->len);
    u.scheme = _claw_strndup_utf8(ctx, parts->scheme, strlen(parts->scheme));
    u.part = _claw_strdup(ctx, part);
    if (link_text)
        u.link_text = url_link_text(ctx, link_text);
    if (parts->userinfo)
        url_record_userinfo(ctx, parts, &u);
    if (parts->hierarchical)
        url_record_host(ctx, parts, &u);
    else if (!strcmp(u.scheme, "mailto"))
        url_record_mailto(ctx, parts, &u);

    GString *rest = emptied(&b->rest);
    url_rest(parts, rest);
    if (memchr(rest->str, '%', rest->len)) {
        GString *path = emptied(&b->path);
        percent_decode(path, rest->str, rest->len);
        u.path = _claw_strndup_utf8(ctx, path->str, path->len);
    } else {
        u.path = _claw_strndup_utf8(ctx, rest->str, rest->len);
    }
    GString *normalised = emptied(&b->normalised);
    url_write(normalised, parts, u.host.ascii, u.host.flags, rest);
    u.url = _claw_strndup_utf8(ctx, normalised->str, normalised->len);
    g_array_append_val(ctx->urls, u);
}

void
_claw_url_add(claw_ctx_t *ctx, const char *raw, size_t len, const char *part,
              claw_url_source_t source, const char *link_text)
{
    if (ctx->text_only)
        return;
    GString *cleaned = emptied(&ctx->url_buffers.cleaned);
    url_clean(raw, len, cleaned);
    url_parts_t parts;
    if (!url_split(cleaned->str, cleaned->len, &parts))
        return;
    if (url_seen(ctx, cleaned, part, source, link_text) || !url_room_left(ctx, part))
        return;
    /* The key lives as long as the message, in its string chunk. */
    const GString *key = ctx->url_buffers.seen_key;
    g_hash_table_add(ctx->url_seen, (gpointer)_claw_strndup(ctx, key->str, key->len));
    url_record(ctx, &parts, cleaned, part, source, link_text);
}

/* ------------------------------------------------------------------------
 * The public normaliser: the same steps without a message
 * --------------------------------------------------------------------- */

/* A malloc'd copy of @s made valid UTF-8 as the model stores its strings,
 * for claw_free(); NULL when out of memory. */
static char *
public_copy(const char *s, size_t len)
{
    char *valid = _claw_utf8_dup(s, len);
    char *out = strdup(valid);
    g_free(valid);
    return out;
}

/* The host forms of @len bytes at @host as written in a URL; false when
 * there is no host. */
static bool
public_host_forms(const char *host, size_t len, host_forms_t *f)
{
    GString *buf = g_string_new(NULL);
    char v4[16];
    size_t n;
    unsigned flags = 0;
    const char *name = url_host_name(host, len, buf, v4, &flags, &n);
    if (n)
        host_forms(name, n, f);
    g_string_free(buf, TRUE);
    return n != 0;
}

/* What both public functions begin with: *@out NULL, and @raw cleaned
 * into a new string; NULL (an invalid argument) for a NULL @raw or @out. */
static GString *
public_begin(const char *raw, size_t len, char **out)
{
    if (out)
        *out = NULL;
    if (!raw || !out)
        return NULL;
    GString *cleaned = g_string_new(NULL);
    url_clean(raw, len, cleaned);
    return cleaned;
}

claw_status_t
claw_url_normalise(const char *raw, size_t len, char **out)
{
    GString *cleaned = public_begin(raw, len, out);
    if (!cleaned)
        return CLAW_STATUS_INVALID_ARGUMENT;
    claw_status_t status = CLAW_STATUS_INVALID_ARGUMENT;
    GString *rest = g_string_new(NULL), *normalised = g_string_new(NULL);
    host_forms_t host = {0};
    url_parts_t parts;
    if (!url_split(cleaned->str, cleaned->len, &parts))
        goto done;
    if (parts.hierarchical)
        public_host_forms(parts.host, parts.host_len, &host);
    url_rest(&parts, rest);
    url_write(normalised, &parts, host.ascii, host.flags, rest);
    *out = public_copy(normalised->str, normalised->len);
    status = *out ? CLAW_STATUS_SUCCESS : CLAW_STATUS_OUT_OF_MEMORY;
done:
    host_forms_free(&host);
    g_string_free(cleaned, TRUE);
    g_string_free(rest, TRUE);
    g_string_free(normalised, TRUE);
    return status;
}

claw_status_t
claw_host_normalise(const char *raw, size_t len, char **out)
{
    GString *cleaned = public_begin(raw, len, out);
    if (!cleaned)
        return CLAW_STATUS_INVALID_ARGUMENT;
    claw_status_t status = CLAW_STATUS_INVALID_ARGUMENT;
    host_forms_t host = {0};
    /* What a URL's host can never hold: the characters that end it, and a
     * ':' that is not inside an IPv6 address. */
    if (strpbrk(cleaned->str, "/\\?#@") || memchr(cleaned->str, '\0', cleaned->len))
        goto done;
    if (!public_host_forms(cleaned->str, cleaned->len, &host))
        goto done;
    if (strchr(host.ascii, ':') && !(host.flags & CLAW_DOMAIN_IP))
        goto done;
    *out = strdup(host.ascii);
    status = *out ? CLAW_STATUS_SUCCESS : CLAW_STATUS_OUT_OF_MEMORY;
done:
    host_forms_free(&host);
    g_string_free(cleaned, TRUE);
    return status;
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
