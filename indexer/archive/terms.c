/* terms.c - what a message contributes to the search index.
 *
 * A lean term set: words of the subject and body text (no stemming, so no
 * second stemmed copy of each), and exact, lowercased boolean terms for
 * every structured field an investigator asks about. The prefixes are the
 * query language's fields (claw_xapian.cc has the table, claw.1 the
 * manual):
 *   XF from/sender   XT to   XC cc   XRT reply-to   XR envelope recipient
 *   XE envelope sender   S subject words   XA attachment name   XTYPE type
 *   XSHA sha256 (attachments, members, the message)   XURL url   XHOST host
 *   XDOM a link's host and the domains above it to its registrable one, an
 *   address's registrable domain   XIP ip   XHELO helo   XMID message-id
 *   XID Clawback id   XACT action   XRULE rule   XAUTH method=result
 *   XHDR<name>: a header the admin named
 */
#include "build-config.h"

#include "claw-archive.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORD 64  /* longer "words" are base64 or junk */
#define MAX_TERM 240 /* Xapian's limit is 245 bytes */

struct claw_doc {
    GString *terms; /* NUL-terminated terms, back to back */
    GArray *off;    /* size_t: where each term starts */
    GArray *pos;    /* uint32_t: its position, 0 for none */
    GArray *wdf;    /* uint32_t: how often (terms without a position) */
    GHashTable *seen; /* boolean terms already added */
    GHashTable *words; /* term -> 1 + its entry, for terms without a position */
    double values[CLAW_N_SLOTS];
};

/* One occurrence of a term. Terms without a position are counted in one
 * entry (Xapian then does one insertion per distinct term, not per word). */
static void
add_term(claw_doc_t *d, const char *t, size_t n, uint32_t pos)
{
    if (n == 0 || n > MAX_TERM)
        return;
    char key[MAX_TERM + 1];
    if (!pos) {
        memcpy(key, t, n);
        key[n] = '\0';
        guint i = GPOINTER_TO_UINT(g_hash_table_lookup(d->words, key));
        if (i) {
            g_array_index(d->wdf, uint32_t, i - 1)++;
            return;
        }
    }
    size_t o = d->terms->len;
    uint32_t one = 1;
    g_string_append_len(d->terms, t, (gssize)n);
    g_string_append_c(d->terms, '\0');
    g_array_append_val(d->off, o);
    g_array_append_val(d->pos, pos);
    g_array_append_val(d->wdf, one);
    if (!pos)
        g_hash_table_insert(d->words, g_strdup(key), GUINT_TO_POINTER(d->off->len));
}

char *
claw_term(const char *prefix, const char *s, size_t len)
{
    size_t pl = strlen(prefix);
    /* Trim white space; lowercase (ASCII, and UTF-8 through GLib). */
    while (len && g_ascii_isspace(*s))
        s++, len--;
    while (len && g_ascii_isspace(s[len - 1]))
        len--;
    char *low = NULL;
    bool ascii = true;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            ascii = false;
    if (ascii || !g_utf8_validate(s, (gssize)len, NULL)) {
        low = g_ascii_strdown(s, (gssize)len);
    } else {
        low = g_utf8_strdown(s, (gssize)len);
    }
    size_t ln = strlen(low);
    char *out;
    if (pl + ln <= MAX_TERM) {
        out = g_strconcat(prefix, low, NULL);
    } else {
        /* Too long for a term: its hash, marked with '#'. */
        gchar *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, low, (gssize)ln);
        h[32] = '\0';
        out = g_strconcat(prefix, "#", h, NULL);
        g_free(h);
    }
    g_free(low);
    return out;
}

static void
add_bool(claw_doc_t *d, const char *prefix, const char *s)
{
    if (!s || !*s)
        return;
    char *t = claw_term(prefix, s, strlen(s));
    if (strlen(t) > strlen(prefix) && !g_hash_table_contains(d->seen, t)) {
        add_term(d, t, strlen(t), 0);
        g_hash_table_add(d->seen, t);
    } else {
        g_free(t);
    }
}

bool
claw_word_char(const char *s, const char *end, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (*p < 0x80) {
        *n = 1;
        return g_ascii_isalnum(*p) || *p == '_';
    }
    gunichar c = g_utf8_get_char_validated(s, end - s);
    if (c == (gunichar)-1 || c == (gunichar)-2) {
        *n = 1;
        return false;
    }
    *n = (size_t)g_unichar_to_utf8(c, NULL);
    return g_unichar_isalnum(c) || g_unichar_ismark(c);
}

/* Scripts written without spaces between words: a run of them is cut by
 * libclaw's word break iterator (claw_text_words()), not kept whole. */
static bool
unspaced_script(gunichar c)
{
    switch (g_unichar_get_script(c)) {
    case G_UNICODE_SCRIPT_HAN:
    case G_UNICODE_SCRIPT_HIRAGANA:
    case G_UNICODE_SCRIPT_KATAKANA:
    case G_UNICODE_SCRIPT_THAI:
    case G_UNICODE_SCRIPT_LAO:
    case G_UNICODE_SCRIPT_KHMER:
    case G_UNICODE_SCRIPT_MYANMAR:
        return true;
    default:
        return false;
    }
}

typedef struct {
    void (*fn)(void *ctx, const char *w, size_t n);
    void *ctx;
} word_out_t;

/* One word to @o's function, lower case; a word too long for a term is
 * left out. */
static void
emit_word(void *ctx, const char *w, size_t wl)
{
    word_out_t *o = ctx;
    char buf[MAX_WORD + 1];
    if (wl > MAX_WORD)
        return;
    bool ascii = true;
    for (size_t i = 0; i < wl && ascii; i++)
        ascii = (unsigned char)w[i] < 0x80;
    if (ascii) {
        for (size_t i = 0; i < wl; i++)
            buf[i] = g_ascii_tolower(w[i]);
        o->fn(o->ctx, buf, wl);
        return;
    }
    char *low = g_utf8_strdown(w, (gssize)wl);
    size_t ll = strlen(low);
    if (ll <= MAX_WORD * 2)
        o->fn(o->ctx, low, ll);
    g_free(low);
}

void
claw_words(const char *s, size_t len, void (*fn)(void *ctx, const char *w, size_t n), void *ctx)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    word_out_t out = {fn, ctx};
    while (p < end) {
        size_t n;
        if (!claw_word_char((const char *)p, (const char *)end, &n)) {
            p += n;
            continue;
        }
        const unsigned char *w = p;
        bool unspaced = false;
        while (p < end && claw_word_char((const char *)p, (const char *)end, &n)) {
            if (*p >= 0x80 && !unspaced)
                unspaced = unspaced_script(g_utf8_get_char((const char *)p));
            p += n;
        }
        if (unspaced)
            claw_text_words((const char *)w, (size_t)(p - w), emit_word, &out);
        else
            emit_word(&out, (const char *)w, (size_t)(p - w));
    }
}

typedef struct {
    claw_doc_t *d;
    const char *prefix;
    size_t pl;
    uint32_t *pos; /* NULL: no positions */
    size_t budget; /* words left */
} words_ctx_t;

static void
word_cb(void *ctx, const char *w, size_t n)
{
    words_ctx_t *c = ctx;
    if (!c->budget)
        return;
    c->budget--;
    char t[MAX_TERM + 8];
    if (c->pl + n > MAX_TERM)
        return;
    memcpy(t, c->prefix, c->pl);
    memcpy(t + c->pl, w, n);
    add_term(c->d, t, c->pl + n, c->pos ? ++*c->pos : 0);
}

static void
add_words(claw_doc_t *d, const char *prefix, const char *s, size_t len, uint32_t *pos)
{
    if (!s)
        return;
    words_ctx_t c = {d, prefix, strlen(prefix), pos, 1u << 20};
    claw_words(s, len, word_cb, &c);
}

/* An address: whole, local part, domain and its parents down to the
 * registrable domain, and the display name's words. */
/* A link's host as XDOM terms: the host and each domain above it down to
 * its registrable domain (a.b.evil.example: a.b.evil.example,
 * b.evil.example, evil.example), so that domain:b.evil.example finds the
 * links under it, as a domain indicator asks. A host without a registrable
 * domain (an IP, an unknown suffix) is its own. */
static void
add_domains(claw_doc_t *d, const char *host, const char *registrable)
{
    if (!host || !registrable) {
        add_bool(d, "XDOM", registrable ? registrable : host);
        return;
    }
    size_t rl = strlen(registrable);
    for (const char *p = host; p; p = strchr(p, '.')) {
        if (*p == '.')
            p++;
        if (strlen(p) < rl)
            break;
        add_bool(d, "XDOM", p);
        if (strcmp(p, registrable) == 0)
            break;
    }
}

static void
add_address(claw_doc_t *d, const char *prefix, const char *name, const char *addr,
            const char *domain, const char *unicode, const char *registrable)
{
    add_bool(d, prefix, addr);
    if (addr) {
        const char *at = strrchr(addr, '@');
        if (at) {
            char *local = g_strndup(addr, (gsize)(at - addr));
            add_bool(d, prefix, local);
            g_free(local);
            if (!domain)
                domain = at + 1;
        }
    }
    if (domain) {
        for (const char *p = domain; p; p = strchr(p, '.')) {
            if (*p == '.')
                p++;
            add_bool(d, prefix, p);
            if (registrable ? strcmp(p, registrable) == 0 : strchr(p, '.') == NULL)
                break;
        }
        add_bool(d, "XDOM", registrable);
    }
    if (unicode && domain && strcmp(unicode, domain) != 0)
        add_bool(d, prefix, unicode);
    if (name)
        add_words(d, prefix, name, strlen(name), NULL);
}

static void
add_envelope_address(claw_doc_t *d, const char *prefix, const char *addr)
{
    if (!addr || !*addr)
        return;
    add_address(d, prefix, NULL, addr, NULL, NULL, NULL);
}

char *
claw_raw_header(const char *raw, size_t len, const char *name)
{
    size_t nl = strlen(name);
    GString *v = NULL;
    size_t i = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && raw[eol] != '\n')
            eol++;
        if (eol == i || (eol == i + 1 && raw[i] == '\r'))
            break; /* end of the header block */
        if (v && (raw[i] == ' ' || raw[i] == '\t')) {
            g_string_append_len(v, raw + i, (gssize)(eol - i));
        } else if (v) {
            break;
        } else if (eol - i > nl && g_ascii_strncasecmp(raw + i, name, nl) == 0 &&
                   raw[i + nl] == ':') {
            v = g_string_new(NULL);
            g_string_append_len(v, raw + i + nl + 1, (gssize)(eol - i - nl - 1));
        }
        i = eol + 1;
    }
    return v ? g_strstrip(g_string_free(v, FALSE)) : NULL;
}

static claw_doc_t *
doc_new(void)
{
    claw_doc_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->terms = g_string_sized_new(4096);
    d->off = g_array_sized_new(FALSE, FALSE, sizeof(size_t), 256);
    d->pos = g_array_sized_new(FALSE, FALSE, sizeof(uint32_t), 256);
    d->wdf = g_array_sized_new(FALSE, FALSE, sizeof(uint32_t), 256);
    d->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->words = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return d;
}

claw_doc_t *
claw_doc_empty(void)
{
    return doc_new();
}

claw_doc_t *
claw_doc_build(const claw_message_t *m, const claw_record_t *r, const char *raw, size_t raw_len,
               const claw_prepare_options_t *opt)
{
    claw_doc_t *d = doc_new();
    if (!d)
        return NULL;
    if (r->quarantined) /* hidden from search unless asked for */
        add_bool(d, "XSTATE", "quarantined");

    for (size_t i = 0; i < m->n_addresses; i++) {
        const claw_address_t *a = &m->addresses[i];
        const char *prefix = NULL;
        switch (a->field) {
        case CLAW_FIELD_FROM:
        case CLAW_FIELD_SENDER: prefix = "XF"; break;
        case CLAW_FIELD_TO: prefix = "XT"; break;
        case CLAW_FIELD_CC: prefix = "XC"; break;
        case CLAW_FIELD_BCC: prefix = "XR"; break;
        case CLAW_FIELD_REPLY_TO: prefix = "XRT"; break;
        case CLAW_FIELD_RETURN_PATH: prefix = "XE"; break;
        default: break;
        }
        if (prefix)
            add_address(d, prefix, a->name, a->address, a->domain.ascii, a->domain.unicode,
                        a->domain.registrable);
    }
    for (size_t i = 0; i < r->n_deliveries; i++) {
        const claw_delivery_t *dl = &r->deliveries[i];
        add_envelope_address(d, "XE", dl->mail_from);
        for (size_t j = 0; j < dl->n_rcpt; j++)
            add_envelope_address(d, "XR", dl->rcpt[j]);
        add_bool(d, "XIP", dl->client_ip);
        add_bool(d, "XHELO", dl->helo);
    }
    for (size_t i = 0; i < m->n_received; i++) {
        add_bool(d, "XIP", m->received[i].ip);
        add_bool(d, "XHELO", m->received[i].from);
    }

    uint32_t pos = 0, spos = 0;
    uint32_t *pp = opt->positions ? &pos : NULL;
    if (m->subject) {
        /* Without positions a subject's phrase is confirmed against the
         * subject in the store, as the body's is against the message. */
        add_words(d, "S", m->subject, strlen(m->subject), opt->positions ? &spos : NULL);
        add_words(d, "", m->subject, strlen(m->subject), pp);
        pos += 8; /* no phrase across the subject and the body */
    }
    size_t budget = opt->max_text_bytes ? opt->max_text_bytes : (size_t)1 << 20;
    for (size_t i = 0; i < m->n_texts && budget; i++) {
        size_t n = m->texts[i].length < budget ? m->texts[i].length : budget;
        add_words(d, "", m->texts[i].text, n, pp);
        budget -= n;
        pos += 8;
    }
    for (size_t i = 0; i < m->n_attachments; i++) {
        const claw_attachment_t *a = &m->attachments[i];
        if (a->filename) {
            /* Whole (tools/run.sh) and by base name (run.sh): a member of
             * an archive is named with its path, a zip made on Windows
             * with backslashes. */
            add_bool(d, "XA", a->filename);
            const char *base = a->filename;
            for (const char *p = a->filename; *p; p++)
                if (*p == '/' || *p == '\\')
                    base = p + 1;
            if (base != a->filename)
                add_bool(d, "XA", base);
            add_words(d, "XA", a->filename, strlen(a->filename), NULL);
            add_words(d, "", a->filename, strlen(a->filename), NULL);
        }
        add_bool(d, "XSHA", a->sha256);
        add_bool(d, "XTYPE", a->detected_type);
        add_bool(d, "XTYPE", a->declared_type);
    }
    add_bool(d, "XSHA", m->sha256);
    for (size_t i = 0; i < m->n_urls; i++) {
        const claw_url_t *u = &m->urls[i];
        add_bool(d, "XURL", u->url);
        add_bool(d, "XHOST", u->host.ascii);
        if (u->host.unicode && u->host.ascii && strcmp(u->host.unicode, u->host.ascii))
            add_bool(d, "XHOST", u->host.unicode);
        add_domains(d, u->host.ascii, u->host.registrable);
    }
    add_bool(d, "XMID", m->message_id);
    add_bool(d, "XID", r->id);
    add_bool(d, "XACT", r->action);
    if (r->rules && *r->rules) {
        gchar **rules = g_strsplit(r->rules, ",", -1);
        for (gchar **p = rules; *p; p++)
            add_bool(d, "XRULE", *p);
        g_strfreev(rules);
    }
    /* auth: finds what the site's own servers concluded (an
     * Authentication-Results field of a trusted authserv-id); whatever else
     * a message says of itself (any other authserv-id, Received-SPF) is a
     * claim, found by authclaim: only. */
    for (size_t i = 0; i < m->n_auth_results; i++) {
        const claw_auth_result_t *ar = &m->auth_results[i];
        bool trusted = false;
        for (size_t k = 0; ar->source == CLAW_AUTH_RESULTS && ar->authserv_id &&
                           k < opt->n_trusted_authserv && !trusted;
             k++)
            trusted = !strcmp(ar->authserv_id, opt->trusted_authserv[k]);
        for (size_t j = 0; j < ar->n_methods; j++) {
            char *t = g_strdup_printf("%s=%s", ar->methods[j].method, ar->methods[j].result);
            add_bool(d, trusted ? "XAUTH" : "XAUTHC", t);
            g_free(t);
        }
    }
    /* Clawback's own DMARC evaluation in the MTA is the site's own too. */
    if (r->dmarc && *r->dmarc) {
        char *t = g_strdup_printf("dmarc=%s", r->dmarc);
        add_bool(d, "XAUTH", t);
        g_free(t);
    }
    for (size_t i = 0; i < opt->n_index_headers; i++) {
        char *v = claw_raw_header(raw, raw_len, opt->index_headers[i]);
        if (v) {
            char *prefix = g_strdup_printf("XHDR%s:", opt->index_headers[i]);
            add_bool(d, prefix, v);
            add_words(d, prefix, v, strlen(v), NULL);
            g_free(prefix);
            g_free(v);
        }
    }

    int64_t arrival = r->arrival_ms / 1000;
    d->values[CLAW_SLOT_DATE] = (double)(r->date ? r->date : arrival);
    d->values[CLAW_SLOT_SIZE] = (double)r->size;
    d->values[CLAW_SLOT_ARRIVAL] = (double)arrival;
    g_hash_table_destroy(d->seen);
    d->seen = NULL;
    g_hash_table_destroy(d->words);
    d->words = NULL;
    return d;
}

void
claw_doc_free(claw_doc_t *d)
{
    if (!d)
        return;
    g_string_free(d->terms, TRUE);
    g_array_free(d->off, TRUE);
    g_array_free(d->pos, TRUE);
    g_array_free(d->wdf, TRUE);
    if (d->seen)
        g_hash_table_destroy(d->seen);
    if (d->words)
        g_hash_table_destroy(d->words);
    free(d);
}

size_t
claw_doc_n_terms(const claw_doc_t *d)
{
    return d->off->len;
}

const char *
claw_doc_term(const claw_doc_t *d, size_t i, uint32_t *pos, uint32_t *wdf)
{
    *pos = g_array_index(d->pos, uint32_t, i);
    *wdf = g_array_index(d->wdf, uint32_t, i);
    return d->terms->str + g_array_index(d->off, size_t, i);
}

double
claw_doc_value(const claw_doc_t *d, unsigned slot)
{
    return slot < CLAW_N_SLOTS ? d->values[slot] : 0;
}

