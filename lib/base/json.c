/* json.c - the model written out: one line of JSON, or readable text.
 *
 * Both writers escape every message-derived string, so a message cannot add
 * a line, a field or a terminal escape of its own to the output.
 */
#include "build-config.h"

#include "claw-private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* If @p starts a character that must not reach output raw, return its code
 * point and its length in bytes; else 0. Those are the C0 controls, DEL,
 * the C1 controls (U+0085 NEL ends lines for some readers), U+2028/U+2029
 * (line ends in JavaScript) and the bidi controls LRM, RLM, LRE..RLO and
 * the isolates, which reorder what a terminal shows ("invoice<RLO>fdp.exe"
 * reads "invoiceexe.pdf"). */
static unsigned
unsafe_char(const unsigned char *p, size_t *len)
{
    *len = 1;
    if (*p < 0x20 || *p == 0x7f)
        return *p;
    if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
        *len = 2;
        return p[1];
    }
    if (p[0] == 0xE2 && p[1] == 0x80 &&
        (p[2] == 0x8E || p[2] == 0x8F || p[2] == 0xA8 || p[2] == 0xA9 ||
         (p[2] >= 0xAA && p[2] <= 0xAE))) {
        *len = 3;
        return 0x2000u | (p[2] - 0x80u);
    }
    if (p[0] == 0xE2 && p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9) {
        *len = 3;
        return 0x2040u | (p[2] - 0x80u);
    }
    return 0;
}

/* The length of the well-formed UTF-8 character at @p (NUL-terminated), or
 * 0 when the bytes there are not one. */
static size_t
utf8_length(const unsigned char *p)
{
    size_t n = (size_t)g_utf8_skip[*p];
    return g_utf8_get_char_validated((const char *)p, (gssize)n) < (gunichar)-2 ? n : 0;
}

/* Append @s with backslash, newline, CR, tab and every unsafe character
 * escaped, and with @json also the double quote. C0 controls and DEL are
 * \\u00XX in JSON and \\xXX in a text line. Bytes that are not UTF-8 are
 * U+FFFD in JSON (which must be UTF-8) and \\xXX in a text line. */
static void
escape(GString *out, const char *s, bool json)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n;
        unsigned c;
        switch (*p) {
        case '\\': g_string_append(out, "\\\\"); p++; continue;
        case '\n': g_string_append(out, "\\n"); p++; continue;
        case '\r': g_string_append(out, "\\r"); p++; continue;
        case '\t': g_string_append(out, "\\t"); p++; continue;
        case '"':
            g_string_append(out, json ? "\\\"" : "\"");
            p++;
            continue;
        default: break;
        }
        if ((c = unsafe_char(p, &n)) != 0 || *p < 0x20) {
            if (n == 1 && !json)
                g_string_append_printf(out, "\\x%02x", c);
            else
                g_string_append_printf(out, "\\u%04x", c);
            p += n;
        } else if (*p < 0x80) {
            g_string_append_c(out, (char)*p++);
        } else if ((n = utf8_length(p)) != 0) {
            g_string_append_len(out, (const char *)p, (gssize)n);
            p += n;
        } else {
            /* Not UTF-8 (an 8-bit envelope, a raw header): JSON must be
             * UTF-8, so U+FFFD there; the text line keeps the byte as \xNN. */
            if (json)
                g_string_append(out, "\\ufffd");
            else
                g_string_append_printf(out, "\\x%02x", *p);
            p++;
        }
    }
}

void
_claw_json_string(GString *out, const char *s)
{
    if (!s) {
        g_string_append(out, "null");
        return;
    }
    g_string_append_c(out, '"');
    escape(out, s, true);
    g_string_append_c(out, '"');
}

char *
claw_json_quote(const char *s)
{
    GString *out = g_string_sized_new(s ? strlen(s) + 2 : 4);
    _claw_json_string(out, s);
    return g_string_free(out, FALSE);
}

void
_claw_escape_line(GString *out, const char *s)
{
    escape(out, s, false);
}

/* ------------------------------------------------------------------------
 * JSON
 * --------------------------------------------------------------------- */

static void
key(GString *o, const char *k)
{
    if (o->len && o->str[o->len - 1] != '{' && o->str[o->len - 1] != '[')
        g_string_append_c(o, ',');
    _claw_json_string(o, k);
    g_string_append_c(o, ':');
}

static void
kv_str(GString *o, const char *k, const char *v)
{
    key(o, k);
    _claw_json_string(o, v);
}

static void
kv_int(GString *o, const char *k, int64_t v)
{
    key(o, k);
    g_string_append_printf(o, "%" PRId64, v);
}

static void
kv_double(GString *o, const char *k, double v)
{
    key(o, k);
    g_string_append_printf(o, "%g", v);
}

static void
kv_bool(GString *o, const char *k, bool v)
{
    key(o, k);
    g_string_append(o, v ? "true" : "false");
}

static void
open_item(GString *o)
{
    if (o->str[o->len - 1] != '[')
        g_string_append_c(o, ',');
    g_string_append_c(o, '{');
}

static void
flags_json(GString *o, const char *k, unsigned flags, const char *const *names, size_t n)
{
    key(o, k);
    g_string_append_c(o, '[');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (flags & (1u << i)) {
            if (!first)
                g_string_append_c(o, ',');
            _claw_json_string(o, names[i]);
            first = false;
        }
    }
    g_string_append_c(o, ']');
}

static const char *const domain_flag_names[] = {"idn", "invalid", "ip", "mixed-script"};
static const char *const url_flag_names[] = {
    "ip-host", "ip-obfuscated", "userinfo", "userinfo-hostlike", "idn",
    "host-encoded", "backslash", "no-scheme", "invalid-host",
};
static const char *const att_flag_names[] = {
    "inline", "archive", "encrypted", "macro", "rtf-object",
    "tnef", "truncated", "message", "ole-object", "html-form", "html-script",
};

static void
domain_json(GString *o, const claw_domain_t *d)
{
    kv_str(o, "domain", d->ascii);
    if (d->unicode && d->ascii && strcmp(d->unicode, d->ascii) != 0)
        kv_str(o, "domain_unicode", d->unicode);
    kv_str(o, "registrable", d->registrable);
    if (d->flags)
        flags_json(o, "domain_flags", d->flags, domain_flag_names,
                   G_N_ELEMENTS(domain_flag_names));
}

static const char *
auth_source_name(claw_auth_source_t s)
{
    switch (s) {
    case CLAW_AUTH_RESULTS: return "authentication-results";
    case CLAW_AUTH_ARC_RESULTS: return "arc-authentication-results";
    case CLAW_AUTH_RECEIVED_SPF: return "received-spf";
    }
    return "unknown";
}

claw_status_t
claw_message_to_json(const claw_message_t *m, const claw_verdict_t *v, const char *name,
                     char **json)
{
    if (!m || !json)
        return CLAW_STATUS_INVALID_ARGUMENT;
    GString *o = g_string_sized_new(4096);
    g_string_append_c(o, '{');
    if (name)
        kv_str(o, "file", name);
    if (v) {
        kv_str(o, "action", claw_action_to_string(v->action));
        kv_double(o, "score", v->score);
        key(o, "rules");
        g_string_append_c(o, '[');
        for (size_t i = 0; i < v->n_rules; i++) {
            open_item(o);
            kv_str(o, "rule", v->rules[i].rule);
            kv_double(o, "score", v->rules[i].score);
            kv_str(o, "detail", v->rules[i].detail);
            g_string_append_c(o, '}');
        }
        g_string_append_c(o, ']');
        if (v->dmarc.result) {
            key(o, "dmarc");
            g_string_append_c(o, '{');
            kv_str(o, "result", v->dmarc.result);
            kv_str(o, "policy", v->dmarc.policy);
            kv_str(o, "domain", v->dmarc.domain);
            kv_str(o, "detail", v->dmarc.detail);
            g_string_append_c(o, '}');
        }
    }
    kv_bool(o, "is_message", m->is_message);
    kv_bool(o, "unscannable", m->unscannable);
    kv_int(o, "size", (int64_t)m->size);
    kv_str(o, "sha256", m->sha256);
    kv_str(o, "message_id", m->message_id);
    kv_str(o, "date", m->date);
    key(o, "date_unix");
    if (m->date_unix)
        g_string_append_printf(o, "%" PRId64, m->date_unix);
    else
        g_string_append(o, "null");
    kv_str(o, "subject", m->subject);
    kv_int(o, "parts", m->n_parts);
    kv_int(o, "depth", m->max_depth);

    key(o, "addresses");
    g_string_append_c(o, '[');
    for (size_t i = 0; i < m->n_addresses; i++) {
        const claw_address_t *a = &m->addresses[i];
        open_item(o);
        kv_str(o, "field", claw_address_field_to_string(a->field));
        kv_str(o, "name", a->name);
        kv_str(o, "address", a->address);
        if (a->domain.ascii)
            domain_json(o, &a->domain);
        g_string_append_c(o, '}');
    }
    g_string_append_c(o, ']');

    key(o, "auth");
    g_string_append_c(o, '[');
    for (size_t i = 0; i < m->n_auth_results; i++) {
        const claw_auth_result_t *r = &m->auth_results[i];
        open_item(o);
        kv_str(o, "source", auth_source_name(r->source));
        if (r->source == CLAW_AUTH_ARC_RESULTS)
            kv_int(o, "instance", r->instance);
        kv_str(o, "authserv_id", r->authserv_id);
        key(o, "results");
        g_string_append_c(o, '[');
        for (size_t k = 0; k < r->n_methods; k++) {
            open_item(o);
            kv_str(o, "method", r->methods[k].method);
            kv_str(o, "result", r->methods[k].result);
            kv_str(o, "properties", r->methods[k].properties);
            g_string_append_c(o, '}');
        }
        g_string_append(o, "]}");
    }
    g_string_append_c(o, ']');

    key(o, "dkim_signatures");
    g_string_append_c(o, '[');
    for (size_t i = 0; i < m->n_dkim_signatures; i++) {
        open_item(o);
        kv_str(o, "d", m->dkim_signatures[i].domain);
        kv_str(o, "s", m->dkim_signatures[i].selector);
        kv_str(o, "a", m->dkim_signatures[i].algorithm);
        g_string_append_c(o, '}');
    }
    g_string_append_c(o, ']');

    key(o, "received");
    g_string_append_c(o, '[');
    for (size_t i = 0; i < m->n_received; i++) {
        const claw_received_t *r = &m->received[i];
        open_item(o);
        kv_str(o, "from", r->from);
        kv_str(o, "rdns", r->rdns);
        kv_str(o, "ip", r->ip);
        kv_str(o, "by", r->by);
        kv_str(o, "with", r->with);
        key(o, "time");
        if (r->time)
            g_string_append_printf(o, "%" PRId64, r->time);
        else
            g_string_append(o, "null");
        g_string_append_c(o, '}');
    }
    g_string_append_c(o, ']');

    key(o, "texts");
    g_string_append_c(o, '[');
    for (size_t i = 0; i < m->n_texts; i++) {
        const claw_text_t *t = &m->texts[i];
        open_item(o);
        kv_str(o, "part", t->part);
        kv_str(o, "type", t->content_type);
        kv_str(o, "charset", t->charset);
        kv_str(o, "text", t->text);
        g_string_append_c(o, '}');
    }
    g_string_append_c(o, ']');

    key(o, "urls");
    g_string_append_c(o, '[');
    for (size_t i = 0; i < m->n_urls; i++) {
        const claw_url_t *u = &m->urls[i];
        open_item(o);
        kv_str(o, "url", u->url);
        kv_str(o, "raw", u->raw);
        kv_str(o, "source", claw_url_source_to_string(u->source));
        kv_str(o, "part", u->part);
        kv_str(o, "scheme", u->scheme);
        if (u->host.ascii) {
            key(o, "host");
            g_string_append_c(o, '{');
            domain_json(o, &u->host);
            g_string_append_c(o, '}');
        }
        if (u->port)
            kv_int(o, "port", u->port);
        if (u->userinfo)
            kv_str(o, "userinfo", u->userinfo);
        if (u->link_text)
            kv_str(o, "link_text", u->link_text);
        if (u->flags)
            flags_json(o, "flags", u->flags, url_flag_names, G_N_ELEMENTS(url_flag_names));
        g_string_append_c(o, '}');
    }
    g_string_append_c(o, ']');

    key(o, "attachments");
    g_string_append_c(o, '[');
    for (size_t i = 0; i < m->n_attachments; i++) {
        const claw_attachment_t *a = &m->attachments[i];
        open_item(o);
        kv_str(o, "part", a->part);
        kv_str(o, "filename", a->filename);
        kv_str(o, "declared_type", a->declared_type);
        kv_str(o, "detected_type", a->detected_type);
        kv_int(o, "size", (int64_t)a->size);
        kv_str(o, "sha256", a->sha256[0] ? a->sha256 : NULL);
        kv_int(o, "depth", a->depth);
        flags_json(o, "flags", a->flags, att_flag_names, G_N_ELEMENTS(att_flag_names));
        g_string_append_c(o, '}');
    }
    g_string_append_c(o, ']');

    key(o, "anomalies");
    g_string_append_c(o, '[');
    for (size_t i = 0; i < m->n_anomalies; i++) {
        const claw_anomaly_t *a = &m->anomalies[i];
        open_item(o);
        kv_str(o, "code", claw_anomaly_code_to_string(a->code));
        kv_str(o, "detail", a->detail);
        if (a->part)
            kv_str(o, "part", a->part);
        if (claw_anomaly_code_is_limit(a->code))
            kv_bool(o, "limit", true);
        g_string_append_c(o, '}');
    }
    g_string_append(o, "]}");

    *json = strdup(o->str);
    g_string_free(o, TRUE);
    return *json ? CLAW_STATUS_SUCCESS : CLAW_STATUS_OUT_OF_MEMORY;
}

/* ------------------------------------------------------------------------
 * Readable text
 * --------------------------------------------------------------------- */

static void
line(GString *o, const char *label, const char *value)
{
    g_string_append_printf(o, "  %-12s ", label);
    _claw_escape_line(o, value ? value : "-");
    g_string_append_c(o, '\n');
}

static void
flag_words(GString *o, unsigned flags, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (flags & (1u << i))
            g_string_append_printf(o, " [%s]", names[i]);
}

claw_status_t
claw_message_to_text(const claw_message_t *m, const claw_verdict_t *verdict, const char *name,
                     char **text)
{
    if (!m || !text)
        return CLAW_STATUS_INVALID_ARGUMENT;
    GString *o = g_string_sized_new(2048);
    GString *v = g_string_new(NULL);

    g_string_append(o, "== ");
    _claw_escape_line(o, name ? name : "(message)");
    g_string_append_printf(o, " (%" PRIu64 " bytes)%s%s\n", m->size,
                           m->is_message ? "" : " NOT A MESSAGE",
                           m->unscannable ? " UNSCANNABLE" : "");
    if (verdict) {
        g_string_printf(v, "%s (score %g)", claw_action_to_string(verdict->action),
                        verdict->score);
        line(o, "verdict", v->str);
        for (size_t i = 0; i < verdict->n_rules; i++) {
            g_string_printf(v, "%s %+g: %s", verdict->rules[i].rule, verdict->rules[i].score,
                            verdict->rules[i].detail);
            line(o, "rule", v->str);
        }
        if (verdict->dmarc.result) {
            g_string_printf(v, "%s", verdict->dmarc.result);
            if (verdict->dmarc.policy)
                g_string_append_printf(v, " (p=%s)", verdict->dmarc.policy);
            if (verdict->dmarc.detail)
                g_string_append_printf(v, ": %s", verdict->dmarc.detail);
            line(o, "dmarc", v->str);
        }
    }
    line(o, "sha256", m->sha256);
    line(o, "message-id", m->message_id);
    line(o, "date", m->date);
    line(o, "subject", m->subject);
    for (size_t i = 0; i < m->n_addresses; i++) {
        const claw_address_t *a = &m->addresses[i];
        g_string_assign(v, "");
        if (a->name)
            g_string_append_printf(v, "\"%s\" ", a->name);
        g_string_append_printf(v, "<%s>", a->address);
        if (a->domain.registrable)
            g_string_append_printf(v, " org=%s", a->domain.registrable);
        if (a->domain.flags & CLAW_DOMAIN_IDN)
            g_string_append_printf(v, " unicode=%s", a->domain.unicode);
        line(o, claw_address_field_to_string(a->field), v->str);
    }
    for (size_t i = 0; i < m->n_auth_results; i++) {
        const claw_auth_result_t *r = &m->auth_results[i];
        g_string_assign(v, r->authserv_id ? r->authserv_id : "");
        for (size_t k = 0; k < r->n_methods; k++)
            g_string_append_printf(v, "%s%s=%s", v->len ? " " : "", r->methods[k].method,
                                   r->methods[k].result);
        line(o, r->source == CLAW_AUTH_RESULTS       ? "auth"
                : r->source == CLAW_AUTH_ARC_RESULTS ? "arc-auth"
                                                     : "received-spf",
             v->str);
    }
    for (size_t i = 0; i < m->n_dkim_signatures; i++) {
        g_string_printf(v, "d=%s s=%s",
                        m->dkim_signatures[i].domain ? m->dkim_signatures[i].domain : "-",
                        m->dkim_signatures[i].selector ? m->dkim_signatures[i].selector : "-");
        line(o, "dkim-sig", v->str);
    }
    for (size_t i = 0; i < m->n_received; i++) {
        const claw_received_t *r = &m->received[i];
        g_string_printf(v, "from %s [%s] by %s", r->from ? r->from : "-", r->ip ? r->ip : "-",
                        r->by ? r->by : "-");
        line(o, "received", v->str);
    }
    for (size_t i = 0; i < m->n_texts; i++) {
        const claw_text_t *t = &m->texts[i];
        g_string_printf(v, "%s %s, %zu bytes: ", t->part, t->content_type, t->length);
        size_t n = MIN(t->length, (size_t)72);
        while (n && n < t->length && ((unsigned char)t->text[n] & 0xC0) == 0x80)
            n--;
        g_string_append_len(v, t->text, (gssize)n);
        if (n < t->length)
            g_string_append(v, "...");
        line(o, "text", v->str);
    }
    for (size_t i = 0; i < m->n_urls; i++) {
        const claw_url_t *u = &m->urls[i];
        g_string_printf(v, "%s (%s)", u->url, claw_url_source_to_string(u->source));
        if (u->link_text)
            g_string_append_printf(v, " text=\"%s\"", u->link_text);
        flag_words(v, u->flags, url_flag_names, G_N_ELEMENTS(url_flag_names));
        line(o, "url", v->str);
    }
    for (size_t i = 0; i < m->n_attachments; i++) {
        const claw_attachment_t *a = &m->attachments[i];
        g_string_printf(v, "%s %*s%s %s (%s) %" PRIu64 " bytes sha256=%s", a->part,
                        (int)a->depth * 2, "", a->filename ? a->filename : "(no name)",
                        a->detected_type ? a->detected_type : "?",
                        a->declared_type ? a->declared_type : "-", a->size,
                        a->sha256[0] ? a->sha256 : "-");
        flag_words(v, a->flags, att_flag_names, G_N_ELEMENTS(att_flag_names));
        line(o, "attachment", v->str);
    }
    for (size_t i = 0; i < m->n_anomalies; i++) {
        const claw_anomaly_t *a = &m->anomalies[i];
        g_string_printf(v, "%s: %s", claw_anomaly_code_to_string(a->code), a->detail);
        if (a->part)
            g_string_append_printf(v, " (part %s)", a->part);
        line(o, "anomaly", v->str);
    }
    g_string_free(v, TRUE);
    *text = strdup(o->str);
    g_string_free(o, TRUE);
    return *text ? CLAW_STATUS_SUCCESS : CLAW_STATUS_OUT_OF_MEMORY;
}
