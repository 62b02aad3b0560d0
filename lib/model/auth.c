/* auth.c - authentication evidence and the Received chain.
 *
 * Authentication-Results (RFC 8601), ARC-Authentication-Results (RFC 8617),
 * Received-SPF (RFC 7208 9.1), DKIM-Signature tags (RFC 6376 3.5) and the
 * client IP of every Received hop. All of these are written by whoever
 * handled the message, including the attacker: this file only reads them;
 * which ones to trust is the classifier's decision.
 */
#include "build-config.h"

#include "claw-private.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AUTH_HEADERS 64
#define MAX_RECEIVED 128
#define MAX_DKIM 32
#define MAX_METHODS 32

/* Remove RFC 5322 comments (nested parentheses, with quoted-pairs) outside
 * quoted strings, replacing each by a space. */
static char *
strip_comments(const char *in)
{
    GString *out = g_string_sized_new(strlen(in));
    int depth = 0;
    bool quoted = false;
    for (const char *p = in; *p; p++) {
        if (*p == '\\' && p[1] && (depth || quoted)) {
            if (!depth)
                g_string_append_len(out, p, 2);
            p++;
            continue;
        }
        if (!depth && *p == '"')
            quoted = !quoted;
        if (!quoted) {
            if (*p == '(') {
                if (depth++ == 0)
                    g_string_append_c(out, ' ');
                continue;
            }
            if (*p == ')' && depth) {
                depth--;
                continue;
            }
        }
        if (!depth)
            g_string_append_c(out, (*p == '\r' || *p == '\n' || *p == '\t') ? ' ' : *p);
    }
    return g_string_free(out, FALSE);
}

/* Split @s on @sep outside quoted strings. */
static GPtrArray *
split_unquoted(const char *s, char sep)
{
    GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);
    bool quoted = false;
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == '"')
            quoted = !quoted;
        if (*p == '\0' || (*p == sep && !quoted)) {
            g_ptr_array_add(parts, g_strstrip(g_strndup(start, (gsize)(p - start))));
            if (!*p)
                break;
            start = p + 1;
        }
    }
    return parts;
}

/* Collapse runs of white space into one space. */
static char *
squeeze(const char *s)
{
    GString *out = g_string_new(NULL);
    bool space = false;
    for (; *s; s++) {
        if (g_ascii_isspace(*s)) {
            space = out->len > 0;
            continue;
        }
        if (space)
            g_string_append_c(out, ' ');
        space = false;
        g_string_append_c(out, *s);
    }
    return g_string_free(out, FALSE);
}

static void
add_result(claw_ctx_t *ctx, claw_auth_source_t source, unsigned instance, const char *authserv,
           GArray *methods)
{
    claw_auth_result_t r = {
        .source = source,
        .instance = instance,
        .authserv_id = authserv ? _claw_strdup(ctx, authserv) : NULL,
        .n_methods = methods->len,
        .methods = (const claw_auth_method_t *)methods->data,
    };
    g_ptr_array_add(ctx->method_arrays, methods);
    g_array_append_val(ctx->auth_results, r);
}

/* "method[/version]=result prop=value ...": @each with the method and the
 * result lower-cased, and the properties. */
static void
parse_method(const char *resinfo, claw_auth_each_fn each, void *data)
{
    char *s = squeeze(resinfo);
    char *eq = strchr(s, '=');
    char *space = strchr(s, ' ');
    if (!eq || (space && space < eq)) {
        g_free(s);
        return;
    }
    *eq = '\0';
    char *method = g_strstrip(s);
    char *slash = strchr(method, '/');
    if (slash)
        *slash = '\0';
    char *result = g_strstrip(eq + 1);
    char *rest = strchr(result, ' ');
    if (rest)
        *rest++ = '\0';
    char *lm = g_ascii_strdown(method, -1), *lr = g_ascii_strdown(result, -1);
    each(lm, lr, rest ? rest : "", data);
    g_free(lm);
    g_free(lr);
    g_free(s);
}

char *
_claw_auth_parse(const char *value, bool arc, unsigned *instance, claw_auth_each_fn each,
                 void *data)
{
    char *clean = strip_comments(value);
    GPtrArray *parts = split_unquoted(clean, ';');
    guint i = 0;

    *instance = 0;
    if (arc && i < parts->len) {
        const char *p = g_ptr_array_index(parts, i);
        if (g_ascii_strncasecmp(p, "i=", 2) == 0) {
            *instance = (unsigned)strtoul(p + 2, NULL, 10);
            i++;
        }
    }
    char *authserv = NULL;
    if (i < parts->len) {
        /* authserv-id [version] */
        char *first = squeeze(g_ptr_array_index(parts, i));
        char *sp = strchr(first, ' ');
        if (sp)
            *sp = '\0';
        authserv = g_ascii_strdown(first, -1);
        g_free(first);
        i++;
    }
    for (; i < parts->len; i++) {
        const char *p = g_ptr_array_index(parts, i);
        if (*p && g_ascii_strcasecmp(p, "none") != 0)
            parse_method(p, each, data);
    }
    g_ptr_array_free(parts, TRUE);
    g_free(clean);
    if (authserv && !*authserv)
        g_clear_pointer(&authserv, g_free);
    return authserv;
}

char *
_claw_auth_property(const char *properties, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = properties; p && *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len > n && p[n] == '=' && !g_ascii_strncasecmp(p, name, n)) {
            const char *v = p + n + 1;
            size_t vlen = len - n - 1;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"')
                v++, vlen -= 2;
            return g_strndup(v, vlen);
        }
        p += len;
    }
    return NULL;
}

typedef struct {
    claw_ctx_t *ctx;
    GArray *methods;
} methods_t;

static void
add_method(const char *method, const char *result, const char *props, void *data)
{
    methods_t *m = data;
    if (m->methods->len >= MAX_METHODS)
        return;
    claw_auth_method_t am = {
        .method = _claw_strndup_utf8(m->ctx, method, strlen(method)),
        .result = _claw_strndup_utf8(m->ctx, result, strlen(result)),
        .properties = _claw_strndup_utf8(m->ctx, props, strlen(props)),
    };
    g_array_append_val(m->methods, am);
}

static void
parse_auth_results(claw_ctx_t *ctx, claw_auth_source_t source, const char *value)
{
    methods_t m = {ctx, g_array_new(FALSE, TRUE, sizeof(claw_auth_method_t))};
    unsigned instance;
    char *authserv =
        _claw_auth_parse(value, source == CLAW_AUTH_ARC_RESULTS, &instance, add_method, &m);
    if (authserv)
        add_result(ctx, source, instance, authserv, m.methods);
    else
        g_array_free(m.methods, TRUE);
    g_free(authserv);
}

/* Received-SPF: result (comment) key=value; key=value ... */
static void
parse_received_spf(claw_ctx_t *ctx, const char *value)
{
    char *clean = strip_comments(value);
    char *s = squeeze(clean);
    char *rest = strchr(s, ' ');
    if (rest)
        *rest++ = '\0';
    GArray *methods = g_array_new(FALSE, TRUE, sizeof(claw_auth_method_t));
    if (*s) {
        char *lr = g_ascii_strdown(s, -1);
        GString *props = g_string_new(NULL);
        if (rest) {
            GPtrArray *kv = split_unquoted(rest, ';');
            for (guint i = 0; i < kv->len; i++) {
                const char *p = g_ptr_array_index(kv, i);
                if (!*p)
                    continue;
                if (props->len)
                    g_string_append_c(props, ' ');
                g_string_append(props, p);
            }
            g_ptr_array_free(kv, TRUE);
        }
        claw_auth_method_t am = {
            .method = "spf",
            .result = _claw_strndup_utf8(ctx, lr, strlen(lr)),
            .properties = _claw_strndup_utf8(ctx, props->str, props->len),
        };
        g_array_append_val(methods, am);
        g_string_free(props, TRUE);
        g_free(lr);
    }
    add_result(ctx, CLAW_AUTH_RECEIVED_SPF, 0, NULL, methods);
    g_free(s);
    g_free(clean);
}

static void
parse_dkim_signature(claw_ctx_t *ctx, const char *value)
{
    claw_dkim_signature_t sig = {0};
    GPtrArray *tags = split_unquoted(value, ';');
    for (guint i = 0; i < tags->len; i++) {
        char *t = g_ptr_array_index(tags, i);
        char *eq = strchr(t, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *name = g_strstrip(t);
        /* Tag values may be folded: white space inside them is ignored. */
        GString *v = g_string_new(NULL);
        for (const char *p = eq + 1; *p; p++)
            if (!g_ascii_isspace(*p))
                g_string_append_c(v, *p);
        if (strcmp(name, "d") == 0) {
            char *low = g_ascii_strdown(v->str, -1);
            sig.domain = _claw_strndup_utf8(ctx, low, strlen(low));
            g_free(low);
        } else if (strcmp(name, "s") == 0) {
            sig.selector = _claw_strndup_utf8(ctx, v->str, v->len);
        } else if (strcmp(name, "a") == 0) {
            sig.algorithm = _claw_strndup_utf8(ctx, v->str, v->len);
        }
        g_string_free(v, TRUE);
    }
    g_ptr_array_free(tags, TRUE);
    if (sig.domain || sig.selector)
        g_array_append_val(ctx->dkim, sig);
}

/* Canonical text of an IPv4 or IPv6 address in @s (brackets and an "IPv6:"
 * prefix allowed), or NULL. */
static char *
canonical_ip(const char *s, size_t len)
{
    char buf[64], out[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    while (len && (*s == '[' || *s == ' ')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ']' || s[len - 1] == ' ' || s[len - 1] == ',' ||
                   s[len - 1] == ';'))
        len--;
    if (len >= 5 && g_ascii_strncasecmp(s, "IPv6:", 5) == 0) {
        s += 5;
        len -= 5;
    }
    if (len == 0 || len >= sizeof buf)
        return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, bin) == 1)
        return g_strdup(inet_ntop(AF_INET, bin, out, sizeof out));
    if (inet_pton(AF_INET6, buf, bin) == 1)
        return g_strdup(inet_ntop(AF_INET6, bin, out, sizeof out));
    return NULL;
}

/* The words of @s: runs of characters other than white space. */
static GPtrArray *
words(const char *s)
{
    GPtrArray *w = g_ptr_array_new_with_free_func(g_free);
    while (*s) {
        while (*s && g_ascii_isspace(*s))
            s++;
        const char *start = s;
        while (*s && !g_ascii_isspace(*s))
            s++;
        if (s > start)
            g_ptr_array_add(w, g_strndup(start, (gsize)(s - start)));
    }
    return w;
}

/* Find the client IP and reverse-DNS name in the comment of a "from" clause:
 * "(rdns [ip])", "([ip] helo=x)", "(ip)", "(rdns. [ip])" and similar. */
static void
parse_from_comment(const char *comment, char **ip, char **rdns, char **helo)
{
    GPtrArray *w = words(comment);
    for (guint i = 0; i < w->len; i++) {
        const char *t = g_ptr_array_index(w, i);
        size_t n = strlen(t);
        if (!*ip) {
            char *c = canonical_ip(t, n);
            if (c) {
                *ip = c;
                continue;
            }
        }
        if (g_ascii_strncasecmp(t, "helo=", 5) == 0) {
            if (!*helo && t[5])
                *helo = g_strdup(t + 5);
            continue;
        }
        if (!*rdns && strchr(t, '.') && t[0] != '[' && !strchr(t, '=') && !strchr(t, '@') &&
            g_ascii_isalnum(t[0]))
            *rdns = g_strndup(t, t[n - 1] == '.' ? n - 1 : n);
    }
    g_ptr_array_free(w, TRUE);
}

static void
parse_received(claw_ctx_t *ctx, const char *value)
{
    claw_received_t r = {0};
    char *ip = NULL, *rdns = NULL, *helo = NULL, *from = NULL, *by = NULL, *with = NULL;
    GString *from_comment = g_string_new(NULL);

    /* The date follows the last ';' (no rule reads it). */
    const char *semi = strrchr(value, ';');
    if (semi && !ctx->verdict_only) {
        GDateTime *dt = g_mime_utils_header_decode_date(semi + 1);
        if (dt) {
            r.time = g_date_time_to_unix(dt);
            g_date_time_unref(dt);
        }
    }
    char *clauses = g_strndup(value, semi ? (gsize)(semi - value) : strlen(value));

    /* Walk the words, tracking which clause we are in; keep the text of
     * comments that belong to the "from" clause. */
    const char *p = clauses;
    enum { NONE, FROM, BY, WITH, OTHER } clause = NONE;
    while (*p) {
        while (*p && g_ascii_isspace(*p))
            p++;
        if (!*p)
            break;
        if (*p == '(') {
            int depth = 0;
            const char *start = p;
            do {
                if (*p == '\\' && p[1])
                    p++;
                else if (*p == '(')
                    depth++;
                else if (*p == ')')
                    depth--;
                p++;
            } while (*p && depth > 0);
            if (clause == FROM) {
                /* Without the parentheses themselves. */
                size_t inner = (size_t)(p - start - 1) - (depth == 0 ? 1 : 0);
                g_string_append_len(from_comment, start + 1, (gssize)inner);
                g_string_append_c(from_comment, ' ');
            }
            continue;
        }
        const char *word = p;
        while (*p && !g_ascii_isspace(*p) && *p != '(')
            p++;
        size_t n = (size_t)(p - word);
#define IS(w) (n == sizeof(w) - 1 && !g_ascii_strncasecmp(word, w, n))
        if (IS("from"))
            clause = FROM;
        else if (IS("by"))
            clause = BY;
        else if (IS("with"))
            clause = WITH;
        else if (IS("id") || IS("for") || IS("via"))
            clause = OTHER;
        else if (clause == FROM && !from)
            from = g_strndup(word, n);
        else if (clause == FROM) {
            g_string_append_len(from_comment, word, (gssize)n);
            g_string_append_c(from_comment, ' ');
        } else if (clause == BY && !by)
            by = g_strndup(word, n);
        else if (clause == WITH && !with)
            with = g_strndup(word, n);
#undef IS
    }

    parse_from_comment(from_comment->str, &ip, &rdns, &helo);
    if (from && !ip) {
        /* "from [1.2.3.4]" or "from 1.2.3.4" */
        ip = canonical_ip(from, strlen(from));
    }
    if (from) {
        char *fip = canonical_ip(from, strlen(from));
        if (fip && helo) {
            /* Exim: "from [ip] (helo=name)": the HELO is in the comment. */
            g_free(from);
            from = NULL;
        }
        g_free(fip);
    }
    r.from = from ? _claw_strndup_utf8(ctx, from, strlen(from))
                  : helo ? _claw_strndup_utf8(ctx, helo, strlen(helo)) : NULL;
    r.rdns = rdns ? _claw_strndup_utf8(ctx, rdns, strlen(rdns)) : NULL;
    r.ip = ip ? _claw_strdup(ctx, ip) : NULL;
    r.by = by ? _claw_strndup_utf8(ctx, by, strlen(by)) : NULL;
    r.with = with ? _claw_strndup_utf8(ctx, with, strlen(with)) : NULL;
    g_array_append_val(ctx->received, r);

    g_free(ip);
    g_free(rdns);
    g_free(helo);
    g_free(from);
    g_free(by);
    g_free(with);
    g_free(clauses);
    g_string_free(from_comment, TRUE);
}

static bool
name_is(const claw_raw_field_t *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && g_ascii_strncasecmp(f->name, name, n) == 0;
}

void
_claw_auth_extract(claw_ctx_t *ctx, const claw_raw_field_t *fields, size_t n)
{
    unsigned n_auth = 0;
    GString *v = g_string_new(NULL);

    for (size_t i = 0; i < n; i++) {
        const claw_raw_field_t *f = &fields[i];
        enum { NONE, AR, ARC, SPF, DKIM, RECEIVED } kind = NONE;
        if (name_is(f, "Received"))
            kind = ctx->received->len < MAX_RECEIVED ? RECEIVED : NONE;
        else if (name_is(f, "Authentication-Results"))
            kind = n_auth++ < MAX_AUTH_HEADERS ? AR : NONE;
        else if (name_is(f, "ARC-Authentication-Results"))
            kind = n_auth++ < MAX_AUTH_HEADERS ? ARC : NONE;
        else if (name_is(f, "Received-SPF"))
            kind = n_auth++ < MAX_AUTH_HEADERS ? SPF : NONE;
        else if (name_is(f, "DKIM-Signature"))
            kind = ctx->dkim->len < MAX_DKIM ? DKIM : NONE;
        if (kind == NONE)
            continue;

        /* Unfold (RFC 5322 2.2.3): line ends go, the white space stays. NUL
         * would end the C string early; it reads as a space. */
        g_string_truncate(v, 0);
        for (size_t k = 0; k < f->value_len; k++) {
            char c = f->value[k];
            if (c == '\r' || c == '\n')
                continue;
            g_string_append_c(v, c ? c : ' ');
        }
        char *value = g_strstrip(v->str);
        char *decoded = NULL;
        /* Encoded words, and raw 8-bit text in a legacy charset, are read the
         * way GMime reads any header value. */
        if (strstr(value, "=?") || !_claw_utf8_valid(value, strlen(value)))
            value = decoded = g_mime_utils_header_decode_text(NULL, value);

        switch (kind) {
        case AR:
            parse_auth_results(ctx, CLAW_AUTH_RESULTS, value);
            break;
        case ARC:
            parse_auth_results(ctx, CLAW_AUTH_ARC_RESULTS, value);
            break;
        case SPF:
            parse_received_spf(ctx, value);
            break;
        case DKIM:
            parse_dkim_signature(ctx, value);
            break;
        case RECEIVED:
            parse_received(ctx, value);
            break;
        case NONE:
            break;
        }
        g_free(decoded);
    }
    g_string_free(v, TRUE);
}
