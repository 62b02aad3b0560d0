/* html.c - HTML to plain text, and the links in it.
 *
 * Why by hand: we need two things from HTML, the text a reader sees and the
 * links with their visible text, in one linear pass with no tree, no
 * recursion and no memory beyond the output. libxml2's HTML parser builds a
 * tree (memory proportional to the markup, which hostile mail makes huge) and
 * recovers from broken markup differently from browsers. The tokenizer below
 * follows the shape of the HTML5 tokenizer states that matter for this:
 * text, tags with attributes, comments, doctype/processing instructions and
 * raw-text elements (script, style) whose content is skipped.
 */
#include "build-config.h"

#include "claw-private.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ATTRS 64
#define MAX_TAG_NAME 32

typedef struct {
    const char *name; /* without its ';' */
    const char *utf8;
    int legacy;       /* HTML5 also reads it without the ';' (&amp, &copy) */
} entity_t;

/* All of HTML5's named references, sorted for bsearch: a link shown as
 * www.paypal&period;com reads as www.paypal.com to the person clicking. */
#include "html-entities.h"

/* The longest name (CounterClockwiseContourIntegral). */
#define MAX_ENTITY_NAME 32

static int
entity_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const entity_t *)elem)->name);
}

static const entity_t *
entity_find(const char *name)
{
    return bsearch(name, entities, G_N_ELEMENTS(entities), sizeof *entities, entity_cmp);
}

static void
append_unichar(GString *out, gunichar c)
{
    /* NUL, surrogates and out-of-range code points read as U+FFFD, as in
     * browsers. */
    if (c == 0 || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
        c = 0xFFFD;
    g_string_append_unichar(out, c);
}

size_t
_claw_html_entity(const char *s, size_t len, GString *out, bool in_attribute)
{
    if (len < 3 || s[0] != '&')
        return 0;
    if (s[1] == '#') {
        size_t i = 2;
        int base = 10;
        if (i < len && (s[i] == 'x' || s[i] == 'X')) {
            base = 16;
            i++;
        }
        size_t digits = i;
        uint64_t v = 0;
        while (i < len && i - digits < 10 &&
               (base == 16 ? g_ascii_isxdigit(s[i]) : g_ascii_isdigit(s[i]))) {
            v = v * (uint64_t)base + (uint64_t)g_ascii_xdigit_value(s[i]);
            i++;
        }
        if (i == digits)
            return 0;
        if (i < len && s[i] == ';')
            i++;
        append_unichar(out, v > 0x10FFFF ? 0xFFFD : (gunichar)v);
        return i;
    }
    /* A name, as HTML5 reads one: the whole name with its ';'; else the
     * longest legacy name it begins with (&copy2024 is (c)2024), except in
     * an attribute value when a letter, digit or '=' follows (?a=1&copy=2
     * is a URL's query, as browsers read it). */
    char name[MAX_ENTITY_NAME + 1];
    size_t n = 0;
    while (1 + n < len && n < MAX_ENTITY_NAME && g_ascii_isalnum(s[1 + n])) {
        name[n] = s[1 + n];
        n++;
    }
    name[n] = '\0';
    if (n == 0)
        return 0;
    const entity_t *e = entity_find(name);
    if (e && 1 + n < len && s[1 + n] == ';') {
        g_string_append(out, e->utf8);
        return n + 2;
    }
    for (size_t k = n; k >= 2; k--) {
        name[k] = '\0';
        e = entity_find(name);
        if (!e || !e->legacy)
            continue;
        char next = 1 + k < len ? s[1 + k] : '\0';
        if (in_attribute && (g_ascii_isalnum(next) || next == '='))
            return 0;
        g_string_append(out, e->utf8);
        return k + 1;
    }
    return 0;
}

/* Decode character references in a text run or (@in_attribute) an
 * attribute value. */
static void
decode_text(GString *out, const char *s, size_t len, bool in_attribute)
{
    for (size_t i = 0; i < len;) {
        if (s[i] == '&') {
            size_t used = _claw_html_entity(s + i, len - i, out, in_attribute);
            if (used) {
                i += used;
                continue;
            }
        }
        g_string_append_c(out, s[i]);
        i++;
    }
}

/* What the renderer needs to know of a tag. */
enum {
    TAG_BLOCK = 1 << 0,    /* starts a new line */
    TAG_CELL = 1 << 1,     /* separates by a space */
    TAG_RAW = 1 << 2,      /* raw text content: skipped */
    TAG_RAW_KEEP = 1 << 3, /* raw text content that a reader sees */
};
typedef enum {
    K_NONE, K_A, K_AREA, K_FORM, K_INPUT, K_META, K_MEDIA, K_IMG, K_SCRIPT, K_BACKGROUND
} tag_kind_t;

typedef struct {
    const char *name;
    unsigned flags;
    tag_kind_t kind;
} tag_t;

/* Sorted by name for bsearch. */
static const tag_t tags[] = {
    {"a", 0, K_A},
    {"address", TAG_BLOCK, K_NONE},
    {"area", 0, K_AREA},
    {"article", TAG_BLOCK, K_NONE},
    {"aside", TAG_BLOCK, K_NONE},
    {"audio", 0, K_MEDIA},
    {"blockquote", TAG_BLOCK, K_NONE},
    {"body", 0, K_BACKGROUND},
    {"br", TAG_BLOCK, K_NONE},
    {"button", 0, K_INPUT},
    {"center", TAG_BLOCK, K_NONE},
    {"dd", TAG_BLOCK, K_NONE},
    {"div", TAG_BLOCK, K_NONE},
    {"dl", TAG_BLOCK, K_NONE},
    {"dt", TAG_BLOCK, K_NONE},
    {"embed", 0, K_MEDIA},
    {"fieldset", TAG_BLOCK, K_NONE},
    {"figcaption", TAG_BLOCK, K_NONE},
    {"figure", TAG_BLOCK, K_NONE},
    {"footer", TAG_BLOCK, K_NONE},
    {"form", TAG_BLOCK, K_FORM},
    {"frame", 0, K_MEDIA},
    {"h1", TAG_BLOCK, K_NONE},
    {"h2", TAG_BLOCK, K_NONE},
    {"h3", TAG_BLOCK, K_NONE},
    {"h4", TAG_BLOCK, K_NONE},
    {"h5", TAG_BLOCK, K_NONE},
    {"h6", TAG_BLOCK, K_NONE},
    {"header", TAG_BLOCK, K_NONE},
    {"hr", TAG_BLOCK, K_NONE},
    {"iframe", 0, K_MEDIA},
    {"image", 0, K_MEDIA},
    {"img", 0, K_IMG},
    {"input", 0, K_INPUT},
    {"li", TAG_BLOCK, K_NONE},
    {"link", 0, K_BACKGROUND},
    {"main", TAG_BLOCK, K_NONE},
    {"meta", 0, K_META},
    {"nav", TAG_BLOCK, K_NONE},
    {"object", 0, K_MEDIA},
    {"ol", TAG_BLOCK, K_NONE},
    {"p", TAG_BLOCK, K_NONE},
    {"pre", TAG_BLOCK, K_NONE},
    {"script", TAG_RAW, K_SCRIPT},
    {"section", TAG_BLOCK, K_NONE},
    {"source", 0, K_MEDIA},
    {"style", TAG_RAW, K_NONE},
    {"table", TAG_BLOCK, K_BACKGROUND},
    {"tbody", TAG_BLOCK, K_NONE},
    {"td", TAG_CELL, K_BACKGROUND},
    {"textarea", TAG_RAW | TAG_RAW_KEEP, K_NONE},
    {"tfoot", TAG_BLOCK, K_NONE},
    {"th", TAG_CELL, K_NONE},
    {"thead", TAG_BLOCK, K_NONE},
    {"title", TAG_BLOCK | TAG_RAW | TAG_RAW_KEEP, K_NONE},
    {"tr", TAG_BLOCK, K_NONE},
    {"ul", TAG_BLOCK, K_NONE},
    {"use", 0, K_MEDIA},
    {"video", 0, K_MEDIA},
    {"xmp", TAG_RAW, K_NONE},
};

static const tag_t no_tag = {"", 0, K_NONE};

static int
tag_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const tag_t *)elem)->name);
}

static const tag_t *
lookup_tag(const char *name)
{
    const tag_t *t = bsearch(name, tags, G_N_ELEMENTS(tags), sizeof *tags, tag_cmp);
    return t ? t : &no_tag;
}

static inline char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

typedef struct {
    char name[MAX_TAG_NAME];
    const char *val[MAX_ATTRS];
    size_t vlen[MAX_ATTRS];
    char aname[MAX_ATTRS][MAX_TAG_NAME];
    int n;
    const tag_t *tag;
} attrs_t;

static const char *
attr(const attrs_t *a, const char *name, size_t *len)
{
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->aname[i], name) == 0) {
            *len = a->vlen[i];
            return a->val[i];
        }
    }
    return NULL;
}

/* Tokenise a start or end tag at @p (just after '<'). Returns the position
 * after '>' (or @end). */
static const char *
read_tag(const char *p, const char *end, attrs_t *a, bool *closing)
{
    a->n = 0;
    *closing = false;
    if (p < end && *p == '/') {
        *closing = true;
        p++;
    }
    size_t n = 0;
    while (p < end && !g_ascii_isspace(*p) && *p != '>' && *p != '/') {
        if (n < MAX_TAG_NAME - 1)
            a->name[n++] = lower(*p);
        p++;
    }
    a->name[n] = '\0';
    a->tag = lookup_tag(a->name);
    while (p < end && *p != '>') {
        while (p < end && (g_ascii_isspace(*p) || *p == '/'))
            p++;
        if (p >= end || *p == '>')
            break;
        const char *ns = p;
        while (p < end && !g_ascii_isspace(*p) && *p != '=' && *p != '>' &&
               !(*p == '/' && p + 1 < end && p[1] == '>'))
            p++;
        size_t nl = (size_t)(p - ns);
        while (p < end && g_ascii_isspace(*p))
            p++;
        const char *vs = NULL;
        size_t vl = 0;
        if (p < end && *p == '=') {
            p++;
            while (p < end && g_ascii_isspace(*p))
                p++;
            if (p < end && (*p == '"' || *p == '\'')) {
                char q = *p++;
                vs = p;
                const char *close = memchr(p, q, (size_t)(end - p));
                p = close ? close : end;
                vl = (size_t)(p - vs);
                if (p < end)
                    p++;
            } else {
                vs = p;
                while (p < end && !g_ascii_isspace(*p) && *p != '>')
                    p++;
                vl = (size_t)(p - vs);
            }
        }
        if (nl == 0) {
            p++;
            continue;
        }
        if (a->n < MAX_ATTRS) {
            size_t k = MIN(nl, (size_t)MAX_TAG_NAME - 1);
            for (size_t i = 0; i < k; i++)
                a->aname[a->n][i] = lower(ns[i]);
            a->aname[a->n][k] = '\0';
            a->val[a->n] = vs ? vs : "";
            a->vlen[a->n] = vs ? vl : 0;
            a->n++;
        }
    }
    return p < end ? p + 1 : end;
}

typedef struct {
    claw_ctx_t *ctx;
    GString *out;
    const char *part;
    bool from_attachment;
    bool space;            /* a space is pending before the next text */
    GString *link_href;    /* the open <a href>, or NULL */
    GString *link_text;
    GString *scratch;      /* reused for decoding character references */
    unsigned features;     /* CLAW_ATT_HTML_FORM, CLAW_ATT_HTML_SCRIPT */
} render_t;

static void
emit_text(render_t *r, const char *s, size_t len)
{
    /* Most runs hold no character reference: use them in place. */
    GString *dec = NULL;
    const char *t = s;
    size_t tl = len;
    if (memchr(s, '&', len)) {
        dec = r->scratch;
        g_string_truncate(dec, 0);
        decode_text(dec, s, len, false);
        t = dec->str;
        tl = dec->len;
    }
    for (size_t i = 0; i < tl;) {
        unsigned char c = (unsigned char)t[i];
        /* White space, NUL and U+00A0 (NBSP, white space to a reader) only
         * mark that a space is due before the next word. */
        if (c <= ' ' && (c == 0 || g_ascii_isspace(c))) {
            r->space = true;
            i++;
            continue;
        }
        if (c == 0xC2 && i + 1 < tl && (unsigned char)t[i + 1] == 0xA0) {
            r->space = true;
            i += 2;
            continue;
        }
        /* A word: everything up to the next space-like byte, appended whole. */
        size_t j = i + 1;
        while (j < tl) {
            unsigned char d = (unsigned char)t[j];
            if ((d <= ' ' && (d == 0 || g_ascii_isspace(d))) ||
                (d == 0xC2 && j + 1 < tl && (unsigned char)t[j + 1] == 0xA0))
                break;
            j++;
        }
        if (r->space && r->out->len && r->out->str[r->out->len - 1] != '\n')
            g_string_append_c(r->out, ' ');
        if (r->space && r->link_text && r->link_text->len)
            g_string_append_c(r->link_text, ' ');
        r->space = false;
        g_string_append_len(r->out, t + i, (gssize)(j - i));
        if (r->link_text && r->link_text->len < 1024)
            g_string_append_len(r->link_text, t + i, (gssize)MIN(j - i, 1024 - r->link_text->len));
        i = j;
    }
}

static void
newline(render_t *r)
{
    if (r->out->len && r->out->str[r->out->len - 1] != '\n')
        g_string_append_c(r->out, '\n');
    r->space = false;
}

/* Script that builds or moves to a payload: what HTML smuggling and
 * redirecting attachments do, and ordinary page scripts do not. */
static bool
payload_script(const char *s, size_t len)
{
    static const char *const words[] = {
        "atob(", "Blob(", "createObjectURL", "msSaveOrOpenBlob", "fromCharCode", "unescape(",
        "eval(", "document.write(", "location.href", "location.replace", "location.assign",
        "window.location", "document.location", ".location=", "location =", "location=",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
        if (g_strstr_len(s, (gssize)len, words[i]))
            return true;
    return false;
}

static void
add_link(render_t *r, const char *v, size_t vl, claw_url_source_t source, const char *text)
{
    claw_url_source_t src = r->from_attachment ? CLAW_URL_ATTACHMENT : source;
    while (vl && (unsigned char)*v <= ' ') {
        v++;
        vl--;
    }
    if (vl >= 11 && !g_ascii_strncasecmp(v, "javascript:", 11) && payload_script(v, vl))
        r->features |= CLAW_ATT_HTML_SCRIPT;
    if (!memchr(v, '&', vl)) {
        _claw_url_add(r->ctx, v, vl, r->part, src, text);
        return;
    }
    GString *dec = g_string_sized_new(vl);
    decode_text(dec, v, vl, true);
    _claw_url_add(r->ctx, dec->str, dec->len, r->part, src, text);
    g_string_free(dec, TRUE);
}

static void
close_link(render_t *r)
{
    if (!r->link_href)
        return;
    char *text = g_strstrip(g_strdup(r->link_text->str));
    add_link(r, r->link_href->str, r->link_href->len, CLAW_URL_HTML_HREF, *text ? text : NULL);
    g_free(text);
    g_string_free(r->link_href, TRUE);
    g_string_free(r->link_text, TRUE);
    r->link_href = r->link_text = NULL;
}

static void
meta_refresh(render_t *r, const attrs_t *a)
{
    size_t hl, vl;
    const char *he = attr(a, "http-equiv", &hl), *v;
    if (!he || hl != 7 || g_ascii_strncasecmp(he, "refresh", 7) || !(v = attr(a, "content", &vl)))
        return;
    /* content="5; url=https://..." */
    const char *u = memchr(v, '=', vl);
    if (!u)
        return;
    u++;
    size_t ul = vl - (size_t)(u - v);
    while (ul && (*u == ' ' || *u == '\'' || *u == '"')) {
        u++;
        ul--;
    }
    while (ul && (u[ul - 1] == '\'' || u[ul - 1] == '"'))
        ul--;
    add_link(r, u, ul, CLAW_URL_HTML_META, NULL);
}

static void
handle_tag(render_t *r, const attrs_t *a, bool closing)
{
    const tag_t *t = a->tag;
    const char *v;
    size_t vl;

    if (t->flags & TAG_BLOCK)
        newline(r);
    else if (t->flags & TAG_CELL)
        r->space = true;
    if (closing) {
        if (t->kind == K_A)
            close_link(r);
        return;
    }
    /* Event handlers (onload=, onclick=...) are scripts too. */
    for (int i = 0; i < a->n; i++)
        if (a->aname[i][0] == 'o' && a->aname[i][1] == 'n' && a->aname[i][2] &&
            payload_script(a->val[i], a->vlen[i]))
            r->features |= CLAW_ATT_HTML_SCRIPT;
    /* A form asking for a password is credential bait. */
    if (t->kind == K_INPUT && (v = attr(a, "type", &vl)) && vl == 8 &&
        !g_ascii_strncasecmp(v, "password", 8))
        r->features |= CLAW_ATT_HTML_FORM;
    switch (t->kind) {
    case K_A:
    case K_AREA:
        close_link(r);
        if ((v = attr(a, "href", &vl)) || (v = attr(a, "xlink:href", &vl))) {
            if (t->kind == K_AREA) {
                add_link(r, v, vl, CLAW_URL_HTML_HREF, NULL);
            } else {
                r->link_href = g_string_new_len(v, (gssize)vl);
                r->link_text = g_string_new(NULL);
            }
        }
        break;
    case K_FORM:
        if ((v = attr(a, "action", &vl)))
            add_link(r, v, vl, CLAW_URL_HTML_ACTION, NULL);
        break;
    case K_INPUT:
        if ((v = attr(a, "formaction", &vl)))
            add_link(r, v, vl, CLAW_URL_HTML_ACTION, NULL);
        if ((v = attr(a, "src", &vl)))
            add_link(r, v, vl, CLAW_URL_HTML_SRC, NULL);
        break;
    case K_META:
        meta_refresh(r, a);
        break;
    case K_MEDIA:
    case K_IMG:
    case K_SCRIPT:
        if ((v = attr(a, "src", &vl)) || (v = attr(a, "data", &vl)) ||
            (v = attr(a, "href", &vl)) || (v = attr(a, "xlink:href", &vl)))
            add_link(r, v, vl, CLAW_URL_HTML_SRC, NULL);
        if (t->kind == K_IMG && r->link_text && (v = attr(a, "alt", &vl)) && vl)
            emit_text(r, v, vl);
        break;
    case K_BACKGROUND:
        if ((v = attr(a, "href", &vl)) || (v = attr(a, "background", &vl)))
            add_link(r, v, vl, CLAW_URL_HTML_SRC, NULL);
        break;
    case K_NONE:
        break;
    }
}

/* Skip to the end of a raw-text element such as <script>: the first
 * "</name" (any case) followed by a non-name character. */
static const char *
skip_raw_text(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            return end;
        if (lt + 2 + n <= end && lt[1] == '/' && g_ascii_strncasecmp(lt + 2, name, n) == 0 &&
            (lt + 2 + n == end || !g_ascii_isalnum(lt[2 + n])))
            return lt;
        p = lt + 1;
    }
    return end;
}

unsigned
_claw_html_render(claw_ctx_t *ctx, const char *html, size_t len, GString *out, const char *part,
                  bool from_attachment)
{
    render_t r = {.ctx = ctx, .out = out, .part = part, .from_attachment = from_attachment,
                  .scratch = g_string_sized_new(256)};
    const char *p = html, *end = html + len;
    attrs_t *a = g_new(attrs_t, 1);
    unsigned n_tags = 0;

    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt) {
            emit_text(&r, p, (size_t)(end - p));
            break;
        }
        if (lt > p)
            emit_text(&r, p, (size_t)(lt - p));
        p = lt + 1;
        if ((++n_tags & 1023) == 0 && _claw_out_of_time(ctx))
            break;
        if (p + 2 < end && p[0] == '!' && p[1] == '-' && p[2] == '-') {
            const char *close = g_strstr_len(p + 3, end - p - 3, "-->");
            p = close ? close + 3 : end;
            continue;
        }
        if (p < end && (*p == '!' || *p == '?')) {
            if (end - p > 8 && !strncmp(p, "![CDATA[", 8)) {
                const char *close = g_strstr_len(p + 8, end - p - 8, "]]>");
                emit_text(&r, p + 8, (size_t)((close ? close : end) - p - 8));
                p = close ? close + 3 : end;
                continue;
            }
            const char *gt = memchr(p, '>', (size_t)(end - p));
            p = gt ? gt + 1 : end;
            continue;
        }
        if (p >= end || !(g_ascii_isalpha(*p) || (*p == '/' && p + 1 < end &&
                                                 g_ascii_isalpha(p[1])))) {
            emit_text(&r, "<", 1);
            continue;
        }
        bool closing;
        p = read_tag(p, end, a, &closing);
        handle_tag(&r, a, closing);
        if (!closing && (a->tag->flags & TAG_RAW)) {
            /* Raw text: a title is not body text either, but it is what the
             * browser shows in the tab, so it is kept on a line of its own. */
            const char *stop = skip_raw_text(p, end, a->name);
            /* Scripts in a mail body never run, but in an HTML or SVG
             * attachment they do, in the browser: where they send the
             * reader matters (HTML smuggling). */
            if (from_attachment && a->tag->kind == K_SCRIPT) {
                _claw_urls_from_text(ctx, p, (size_t)(stop - p), part, CLAW_URL_ATTACHMENT);
                if (payload_script(p, (size_t)(stop - p)))
                    r.features |= CLAW_ATT_HTML_SCRIPT;
            }
            if (a->tag->flags & TAG_RAW_KEEP) {
                emit_text(&r, p, (size_t)(stop - p));
                newline(&r);
            }
            p = stop;
        }
    }
    close_link(&r);
    g_string_free(r.scratch, TRUE);
    g_free(a);
    /* No trailing blank line. */
    while (out->len && (out->str[out->len - 1] == '\n' || out->str[out->len - 1] == ' '))
        g_string_truncate(out, out->len - 1);
    return r.features;
}
