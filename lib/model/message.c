/* message.c - parse one message with GMime and build its model.
 *
 * The order of work: a cheap pre-scan of the raw bytes (NULs, bare CRs, long
 * lines, header size, how many boundary-like lines there are), then GMime,
 * then one walk over the MIME tree that decodes each part once. Every loop is
 * bounded by a limit from [limits] and by the message's deadline; hitting one
 * records a LIMIT_* anomaly, which makes the message unscannable rather than
 * clean.
 */
#include "build-config.h"

#include "claw-private.h"

#include <errno.h>
#include <iconv.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* How many anomalies of one code are kept with their detail; further ones
 * only bump the count in the last kept detail. */
#define ANOMALY_REPEATS 8
#define MAX_ADDRESSES 10000

/* ------------------------------------------------------------------------
 * Per-message helpers shared with the other files
 * --------------------------------------------------------------------- */

const char *
_claw_strdup(claw_ctx_t *ctx, const char *s)
{
    return s ? _claw_strndup(ctx, s, strlen(s)) : NULL;
}

const char *
_claw_strndup(claw_ctx_t *ctx, const char *s, size_t len)
{
    if (!s)
        return NULL;
    ctx->memory += len + 1;
    return g_string_chunk_insert_len(ctx->strings, s, (gssize)len);
}

bool
_claw_utf8_valid(const char *s, size_t len)
{
    /* Mail text is mostly ASCII: check eight bytes at a time for a high bit
     * and leave only the rest to GLib's validator. */
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull)
            break;
    }
    while (i < len && !((unsigned char)s[i] & 0x80))
        i++;
    return i == len || g_utf8_validate(s + i, (gssize)(len - i), NULL);
}

const char *
_claw_strndup_utf8(claw_ctx_t *ctx, const char *s, size_t len)
{
    if (!s)
        return NULL;
    if (_claw_utf8_valid(s, len) && !memchr(s, '\0', len))
        return _claw_strndup(ctx, s, len);
    char *valid = _claw_utf8_dup(s, len);
    const char *out = _claw_strdup(ctx, valid);
    g_free(valid);
    return out;
}

char *
_claw_utf8_dup(const char *s, size_t len)
{
    /* Invalid bytes become U+FFFD; the result is read as a C string, so
     * nothing after a NUL survives. */
    return g_utf8_make_valid(s, (gssize)len);
}

bool
_claw_has_anomaly(const claw_ctx_t *ctx, claw_anomaly_code_t code)
{
    return (ctx->anomaly_seen[code / 64] >> (code % 64)) & 1;
}

void
_claw_anomaly(claw_ctx_t *ctx, claw_anomaly_code_t code, const char *part, const char *fmt, ...)
{
    unsigned kept = 0;
    claw_anomaly_t *last = NULL;

    for (guint i = 0; i < ctx->anomalies->len; i++) {
        claw_anomaly_t *a = &g_array_index(ctx->anomalies, claw_anomaly_t, i);
        if (a->code == code) {
            kept++;
            last = a;
        }
    }
    ctx->anomaly_seen[code / 64] |= (uint64_t)1 << (code % 64);
    if (kept >= ANOMALY_REPEATS) {
        /* Keep the list short: the last kept entry says how many more. */
        const char *more = strstr(last->detail, " (+");
        unsigned n = more ? (unsigned)strtoul(more + 3, NULL, 10) + 1 : 1;
        size_t base = more ? (size_t)(more - last->detail) : strlen(last->detail);
        char *d = g_strdup_printf("%.*s (+%u more)", (int)base, last->detail, n);
        last->detail = _claw_strdup(ctx, d);
        g_free(d);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    claw_anomaly_t a = {
        .code = code,
        .detail = _claw_strndup_utf8(ctx, detail, strlen(detail)),
        .part = _claw_strdup(ctx, part),
    };
    g_free(detail);
    g_array_append_val(ctx->anomalies, a);
}

bool
_claw_out_of_time(claw_ctx_t *ctx)
{
    struct timespec now;
    if (ctx->out_of_time)
        return true;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > ctx->deadline.tv_sec ||
        (now.tv_sec == ctx->deadline.tv_sec && now.tv_nsec >= ctx->deadline.tv_nsec)) {
        ctx->out_of_time = true;
        _claw_anomaly(ctx, CLAW_ANOM_LIMIT_TIME, NULL, "stopped after %" G_GINT64_FORMAT " ms",
                      ctx->limits->max_time_ms);
        return true;
    }
    return false;
}

bool
_claw_charge_memory(claw_ctx_t *ctx, uint64_t bytes)
{
    if (ctx->memory + bytes > (uint64_t)ctx->limits->max_memory_bytes) {
        if (!_claw_has_anomaly(ctx, CLAW_ANOM_LIMIT_MEMORY))
            _claw_anomaly(ctx, CLAW_ANOM_LIMIT_MEMORY, NULL, "over %" G_GINT64_FORMAT " bytes",
                          ctx->limits->max_memory_bytes);
        return false;
    }
    ctx->memory += bytes;
    return true;
}

void
_claw_sha256_hex(const void *data, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    static EVP_MD *md;
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    /* Fetch the implementation once: an implicit fetch on every call costs
     * more than hashing a small message. */
    if (g_once_init_enter(&md)) {
        EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA2-256", NULL);
        g_once_init_leave(&md, fetched);
    }
    if (!md || !EVP_Digest(data, len, out, &n, md, NULL) || n != 32) {
        /* Without libcrypto's SHA-256 there is still GLib's. */
        GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
        g_checksum_update(c, data, (gssize)len);
        g_strlcpy(hex, g_checksum_get_string(c), 65);
        g_checksum_free(c);
        return;
    }
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[out[i] >> 4];
        hex[2 * i + 1] = digits[out[i] & 15];
    }
    hex[64] = '\0';
}

/* ------------------------------------------------------------------------
 * Pre-scan of the raw bytes
 * --------------------------------------------------------------------- */

typedef struct {
    size_t nul, bare_cr, long_lines, longest;
    size_t header_bytes;   /* up to the first empty line */
    size_t dash_lines;     /* lines starting with "--" */
    size_t cut;            /* parse only this many bytes (parts limit) */
} prescan_t;

static void
prescan(claw_ctx_t *ctx, const char *data, size_t len, prescan_t *ps)
{
    const char *p = data, *end = data + len;
    bool in_headers = true;
    /* Each MIME part needs a boundary line, and a closing one ends each
     * multipart: more than twice the part limit means GMime would build more
     * parts than we will ever look at, so it is only given the bytes before. */
    size_t dash_cap = 2 * (size_t)ctx->limits->max_parts + 16;

    memset(ps, 0, sizeof *ps);
    ps->cut = len;
    ps->nul = len - strnlen(data, len) ? 1 : 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        size_t content = n && p[n - 1] == '\r' ? n - 1 : n;

        if (content > 998) {
            ps->long_lines++;
            if (content > ps->longest)
                ps->longest = content;
        }
        if (memchr(p, '\r', content))
            ps->bare_cr++;
        if (in_headers) {
            if (content == 0) {
                in_headers = false;
                ps->header_bytes = (size_t)(eol - data);
            }
        }
        if (n >= 2 && p[0] == '-' && p[1] == '-' && ++ps->dash_lines == dash_cap &&
            ps->cut == len)
            ps->cut = (size_t)(p - data);
        p = nl ? nl + 1 : end;
    }
    if (in_headers)
        ps->header_bytes = len;
    if (ps->nul) {
        size_t count = 0;
        for (const char *q = data; (q = memchr(q, '\0', (size_t)(end - q))); q++)
            count++;
        ps->nul = count;
    }
}

/* ------------------------------------------------------------------------
 * GMime parser warnings become anomalies
 * --------------------------------------------------------------------- */

/* GMime reads a copy of the message without some header fields (see
 * split_header_block): turn an offset in that copy back into one in the
 * message. */
typedef struct {
    size_t orig, out, len;
} segment_t;

static gint64
original_offset(const claw_ctx_t *ctx, gint64 offset)
{
    if (offset < 0 || !ctx->segments)
        return offset;
    const segment_t *sg = NULL;
    for (guint i = 0; i < ctx->segments->len; i++) {
        sg = &g_array_index(ctx->segments, segment_t, i);
        if ((size_t)offset >= sg->out && (size_t)offset < sg->out + sg->len)
            return (gint64)(sg->orig + ((size_t)offset - sg->out));
    }
    /* At (or past) the end of GMime's input: the end of the last piece. */
    if (sg && (size_t)offset >= sg->out)
        return (gint64)(sg->orig + ((size_t)offset - sg->out));
    return offset;
}

static void
on_parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
    claw_ctx_t *ctx = data;
    claw_anomaly_code_t c;

    offset = original_offset(ctx, offset);

    switch (code) {
    case GMIME_WARN_DUPLICATED_HEADER: c = CLAW_ANOM_GMIME_DUPLICATED_HEADER; break;
    case GMIME_WARN_DUPLICATED_PARAMETER: c = CLAW_ANOM_GMIME_DUPLICATED_PARAMETER; break;
    case GMIME_WARN_UNENCODED_8BIT_HEADER: c = CLAW_ANOM_GMIME_UNENCODED_8BIT_HEADER; break;
    case GMIME_WARN_INVALID_CONTENT_TYPE: c = CLAW_ANOM_GMIME_INVALID_CONTENT_TYPE; break;
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
        c = CLAW_ANOM_GMIME_INVALID_RFC2047_HEADER_VALUE;
        break;
    case GMIME_WARN_MALFORMED_MULTIPART: c = CLAW_ANOM_GMIME_MALFORMED_MULTIPART; break;
    case GMIME_WARN_TRUNCATED_MESSAGE: c = CLAW_ANOM_GMIME_TRUNCATED_MESSAGE; break;
    case GMIME_WARN_MALFORMED_MESSAGE: c = CLAW_ANOM_GMIME_MALFORMED_MESSAGE; break;
    case GMIME_CRIT_INVALID_HEADER_NAME: c = CLAW_ANOM_GMIME_INVALID_HEADER_NAME; break;
    case GMIME_CRIT_CONFLICTING_HEADER: c = CLAW_ANOM_GMIME_CONFLICTING_HEADER; break;
    case GMIME_CRIT_CONFLICTING_PARAMETER: c = CLAW_ANOM_GMIME_CONFLICTING_PARAMETER; break;
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        c = CLAW_ANOM_GMIME_MULTIPART_WITHOUT_BOUNDARY;
        break;
    case GMIME_WARN_INVALID_PARAMETER: c = CLAW_ANOM_GMIME_INVALID_PARAMETER; break;
    case GMIME_WARN_INVALID_ADDRESS_LIST: c = CLAW_ANOM_GMIME_INVALID_ADDRESS_LIST; break;
    case GMIME_CRIT_NESTING_OVERFLOW: c = CLAW_ANOM_GMIME_NESTING_OVERFLOW; break;
    case GMIME_WARN_PART_WITHOUT_CONTENT: c = CLAW_ANOM_GMIME_PART_WITHOUT_CONTENT; break;
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        c = CLAW_ANOM_GMIME_PART_WITHOUT_HEADERS_OR_CONTENT;
        break;
    default:
        c = CLAW_ANOM_GMIME_MALFORMED_MESSAGE;
        break;
    }
    /* @item may be a header name or value from the message; the detail is
     * escaped wherever it is written out. Long items are cut. */
    if (item)
        _claw_anomaly(ctx, c, NULL, "at byte %" G_GINT64_FORMAT ": %.200s", offset, item);
    else
        _claw_anomaly(ctx, c, NULL, "at byte %" G_GINT64_FORMAT, offset);
}

/* ------------------------------------------------------------------------
 * Headers: identity, duplicates, addresses
 * --------------------------------------------------------------------- */

static bool
has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            return true;
    return false;
}

static const char *
header_text(claw_ctx_t *ctx, const char *what, const char *value)
{
    if (!value)
        return NULL;
    if (has_control_chars(value))
        _claw_anomaly(ctx, CLAW_ANOM_HEADER_CONTROL_CHARS, NULL,
                      "%s decodes to text with control characters", what);
    return _claw_strndup_utf8(ctx, value, strlen(value));
}

static const char *const once_only[] = {
    "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID",
    "In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    "Return-Path",
};

static void
check_duplicates(claw_ctx_t *ctx, GMimeHeaderList *headers)
{
    int n = g_mime_header_list_get_count(headers);
    unsigned count[G_N_ELEMENTS(once_only)] = {0};
    const char *first[G_N_ELEMENTS(once_only)] = {NULL};
    bool differ[G_N_ELEMENTS(once_only)] = {false};

    for (int i = 0; i < n; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
        const char *name = g_mime_header_get_name(h);
        if (!name || !strchr("FfSsRrTtCcBbDdMmIi", name[0]))
            continue;
        for (size_t k = 0; k < G_N_ELEMENTS(once_only); k++) {
            if (g_ascii_strcasecmp(name, once_only[k]) != 0)
                continue;
            const char *raw = g_mime_header_get_raw_value(h);
            if (count[k]++ == 0) {
                first[k] = raw;
            } else if (!differ[k]) {
                char *a = g_strstrip(g_strdup(first[k] ? first[k] : ""));
                char *b = g_strstrip(g_strdup(raw ? raw : ""));
                differ[k] = strcmp(a, b) != 0;
                g_free(a);
                g_free(b);
            }
            break;
        }
    }
    for (size_t k = 0; k < G_N_ELEMENTS(once_only); k++) {
        if (count[k] < 2)
            continue;
        _claw_anomaly(ctx, differ[k] ? CLAW_ANOM_CONFLICTING_HEADER : CLAW_ANOM_DUPLICATE_HEADER,
                      NULL, "header '%s' appears %u times%s", once_only[k], count[k],
                      differ[k] ? " with different values" : "");
    }
}

static void
add_address(claw_ctx_t *ctx, claw_address_field_t field, InternetAddress *ia)
{
    if (ctx->addresses->len >= MAX_ADDRESSES) {
        if (!_claw_has_anomaly(ctx, CLAW_ANOM_LIMIT_ADDRESSES))
            _claw_anomaly(ctx, CLAW_ANOM_LIMIT_ADDRESSES, NULL, "more than %d addresses",
                          MAX_ADDRESSES);
        return;
    }
    if (INTERNET_ADDRESS_IS_GROUP(ia)) {
        InternetAddressList *members = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia));
        int n = members ? internet_address_list_length(members) : 0;
        for (int i = 0; i < n; i++)
            add_address(ctx, field, internet_address_list_get_address(members, i));
        return;
    }
    if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
        return;
    InternetAddressMailbox *mb = INTERNET_ADDRESS_MAILBOX(ia);
    const char *addr = internet_address_mailbox_get_addr(mb);
    const char *name = internet_address_get_name(ia);
    claw_address_t a = {.field = field};

    if (name && *name)
        a.name = header_text(ctx, "a display name", name);
    a.address = _claw_strndup_utf8(ctx, addr ? addr : "", addr ? strlen(addr) : 0);
    const char *at = strrchr(a.address, '@');
    if (at) {
        a.local = _claw_strndup(ctx, a.address, (size_t)(at - a.address));
        if (at[1])
            _claw_domain_init(ctx, &a.domain, at + 1, strlen(at + 1));
    }
    g_array_append_val(ctx->addresses, a);
}

static void
add_address_list(claw_ctx_t *ctx, claw_address_field_t field, InternetAddressList *list)
{
    int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; i++)
        add_address(ctx, field, internet_address_list_get_address(list, i));
}

static void
extract_headers(claw_ctx_t *ctx, claw_message_t *m, GMimeMessage *gm, GMimeParserOptions *opts)
{
    GMimeObject *obj = GMIME_OBJECT(gm);
    GMimeHeaderList *headers = g_mime_object_get_header_list(obj);
    static const struct {
        claw_address_field_t field;
        GMimeAddressType type;
    } lists[] = {
        {CLAW_FIELD_FROM, GMIME_ADDRESS_TYPE_FROM},
        {CLAW_FIELD_SENDER, GMIME_ADDRESS_TYPE_SENDER},
        {CLAW_FIELD_REPLY_TO, GMIME_ADDRESS_TYPE_REPLY_TO},
        {CLAW_FIELD_TO, GMIME_ADDRESS_TYPE_TO},
        {CLAW_FIELD_CC, GMIME_ADDRESS_TYPE_CC},
        {CLAW_FIELD_BCC, GMIME_ADDRESS_TYPE_BCC},
    };

    m->subject = header_text(ctx, "Subject", g_mime_message_get_subject(gm));
    if (ctx->text_only)
        return;
    const char *mid = g_mime_message_get_message_id(gm);
    if (mid)
        m->message_id = header_text(ctx, "Message-ID", mid);
    const char *date = g_mime_object_get_header(obj, "Date");
    if (date) {
        m->date = _claw_strndup_utf8(ctx, date, strlen(date));
        GDateTime *dt = g_mime_message_get_date(gm);
        if (dt)
            m->date_unix = g_date_time_to_unix(dt);
    }

    check_duplicates(ctx, headers);

    for (size_t i = 0; i < G_N_ELEMENTS(lists); i++) {
        add_address_list(ctx, lists[i].field, g_mime_message_get_addresses(gm, lists[i].type));
        if (lists[i].field == CLAW_FIELD_REPLY_TO) {
            const char *rp = g_mime_object_get_header(obj, "Return-Path");
            if (rp) {
                InternetAddressList *l = internet_address_list_parse(opts, rp);
                int n = l ? internet_address_list_length(l) : 0;
                if (l) {
                    add_address_list(ctx, CLAW_FIELD_RETURN_PATH, l);
                    g_object_unref(l);
                }
                /* "Return-Path: <>" (a bounce) parses to nothing: keep it. */
                if (n == 0) {
                    claw_address_t a = {.field = CLAW_FIELD_RETURN_PATH, .address = ""};
                    g_array_append_val(ctx->addresses, a);
                }
            }
        }
    }
    if (!ctx->text_only)
        _claw_auth_extract(ctx, (const claw_raw_field_t *)ctx->fields->data, ctx->fields->len);
}

/* ------------------------------------------------------------------------
 * The MIME walk
 * --------------------------------------------------------------------- */

/* Decode the transfer encoding of @part into a new byte array, within the
 * decoded-bytes budget. Returns NULL (and records why) when over budget. */
static GByteArray *
decode_part(claw_ctx_t *ctx, GMimePart *part, const char *path)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (!w)
        return g_byte_array_new();
    GMimeStream *src = g_mime_data_wrapper_get_stream(w);
    gint64 encoded = src ? g_mime_stream_length(src) : 0;
    if (encoded < 0)
        encoded = 0;
    /* Decoded size never exceeds encoded size for base64, QP, uuencode,
     * 7bit, 8bit and binary, so the check can happen before any work. */
    if (ctx->decoded_bytes + (uint64_t)encoded > (uint64_t)ctx->limits->max_decoded_bytes) {
        _claw_anomaly(ctx, CLAW_ANOM_LIMIT_DECODED_BYTES, path,
                      "part of %" G_GINT64_FORMAT " encoded bytes would pass %" G_GINT64_FORMAT
                      " decoded bytes",
                      encoded, ctx->limits->max_decoded_bytes);
        return NULL;
    }
    if (!_claw_charge_memory(ctx, (uint64_t)encoded))
        return NULL;
    GMimeStream *mem = g_mime_stream_mem_new();
    GByteArray *out = NULL;
    if (g_mime_data_wrapper_write_to_stream(w, mem) < 0) {
        _claw_anomaly(ctx, CLAW_ANOM_DECODE_ERROR, path, "could not decode %s content",
                      g_mime_content_encoding_to_string(g_mime_data_wrapper_get_encoding(w)));
        out = g_byte_array_new();
    } else {
        /* Keep the stream's own array rather than copying it. */
        out = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
        g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    }
    g_object_unref(mem);
    ctx->decoded_bytes += out->len;
    ctx->memory -= (uint64_t)encoded;
    return out;
}

static bool
is_utf8_name(const char *cs)
{
    return !cs || !g_ascii_strcasecmp(cs, "utf-8") || !g_ascii_strcasecmp(cs, "utf8") ||
           !g_ascii_strcasecmp(cs, "us-ascii") || !g_ascii_strcasecmp(cs, "ascii");
}

/* Windows-1252's 0x80..0x9F (0 where undefined: those read as Latin-1). */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

/* The two single-byte charsets of most non-UTF-8 mail, converted without
 * an iconv handle (opening one costs more than converting a message).
 * ISO-8859-1 is read as Windows-1252, as browsers and mail clients do. */
static bool
is_latin1_name(const char *cs)
{
    return cs && (!g_ascii_strcasecmp(cs, "iso-8859-1") || !g_ascii_strcasecmp(cs, "latin1") ||
                  !g_ascii_strcasecmp(cs, "windows-1252") || !g_ascii_strcasecmp(cs, "cp1252") ||
                  !g_ascii_strcasecmp(cs, "iso8859-1") || !g_ascii_strcasecmp(cs, "iso_8859-1"));
}

static void
cp1252_to_utf8(const guint8 *data, size_t len, GString *out)
{
    for (size_t i = 0; i < len; i++) {
        guint8 c = data[i];
        if (c < 0x80)
            g_string_append_c(out, (char)c);
        else if (c < 0xA0 && cp1252_high[c - 0x80])
            g_string_append_unichar(out, cp1252_high[c - 0x80]);
        else
            g_string_append_unichar(out, c);
    }
}

/* The engine's iconv descriptor from @charset to UTF-8, opened once per
 * charset (iconv_open looks up and may load a gconv module each time). */
static iconv_t
engine_iconv(claw_engine_t *e, const char *charset)
{
    gpointer cd;
    char *key = g_ascii_strdown(charset, -1);
    if (g_hash_table_lookup_extended(e->iconv, key, NULL, &cd)) {
        g_free(key);
        return (iconv_t)cd;
    }
    /* GMime knows the aliases mail uses (ks_c_5601-1987, x-sjis, ...). */
    iconv_t c = iconv_open("UTF-8", g_mime_charset_iconv_name(charset));
    g_hash_table_insert(e->iconv, key, (gpointer)c);
    return c;
}

/* Convert with iconv; undecodable bytes become U+FFFD. False if the
 * charset is unknown. */
static bool
convert_with_iconv(claw_ctx_t *ctx, const char *charset, const guint8 *data, size_t len,
                   GString *out)
{
    iconv_t cd = engine_iconv(ctx->engine, charset);
    if (cd == (iconv_t)-1)
        return false;
    iconv(cd, NULL, NULL, NULL, NULL); /* back to the initial state */
    char *in = (char *)data;
    size_t inleft = len;
    char buf[4096];
    while (inleft > 0) {
        char *o = buf;
        size_t oleft = sizeof buf;
        size_t rc = iconv(cd, &in, &inleft, &o, &oleft);
        g_string_append_len(out, buf, (gssize)(sizeof buf - oleft));
        if (rc != (size_t)-1)
            break;
        if (errno == E2BIG)
            continue;
        /* EILSEQ, or EINVAL (incomplete at the end): one byte is lost. */
        g_string_append(out, "\xEF\xBF\xBD");
        in++;
        inleft--;
        iconv(cd, NULL, NULL, NULL, NULL);
    }
    /* Flush any shift state (ISO-2022-JP). */
    char *o = buf;
    size_t oleft = sizeof buf;
    iconv(cd, NULL, NULL, &o, &oleft);
    g_string_append_len(out, buf, (gssize)(sizeof buf - oleft));
    return true;
}

/* Convert @len bytes in @charset to UTF-8 into @out. */
static void
to_utf8(claw_ctx_t *ctx, const char *path, const char *charset, const guint8 *data, size_t len,
        GString *out)
{
    if (is_latin1_name(charset)) {
        cp1252_to_utf8(data, len, out);
        return;
    }
    if (!is_utf8_name(charset)) {
        if (convert_with_iconv(ctx, charset, data, len, out))
            return;
        _claw_anomaly(ctx, CLAW_ANOM_CHARSET_UNKNOWN, path, "unknown charset '%.64s'", charset);
    }
    if (_claw_utf8_valid((const char *)data, len)) {
        g_string_append_len(out, (const char *)data, (gssize)len);
        return;
    }
    /* Declared UTF-8 or ASCII but it is not: real mail that does this is
     * nearly always Windows-1252, which GMime's charset filter reads. */
    if (charset && !g_ascii_strcasecmp(charset, "utf-8"))
        _claw_anomaly(ctx, CLAW_ANOM_INVALID_UTF8, path, "text declared UTF-8 is not");
    cp1252_to_utf8(data, len, out);
}

static void
add_text(claw_ctx_t *ctx, const char *path, const char *type, const char *charset,
         const char *str, size_t full_len, const claw_text_origin_t *origin)
{
    uint64_t room = (uint64_t)ctx->limits->max_text_bytes - ctx->text_bytes;
    size_t len = full_len;
    if (len > room) {
        _claw_anomaly(ctx, CLAW_ANOM_LIMIT_TEXT_BYTES, path,
                      "text past %" G_GINT64_FORMAT " bytes not examined",
                      ctx->limits->max_text_bytes);
        len = (size_t)room;
        /* Cut on a character boundary. */
        while (len > 0 && ((unsigned char)str[len] & 0xC0) == 0x80)
            len--;
    }
    if (len == 0 && full_len != 0)
        return;
    ctx->text_bytes += len;
    claw_text_t t = {
        .part = _claw_strdup(ctx, path),
        .content_type = _claw_strdup(ctx, type),
        .charset = charset ? _claw_strndup_utf8(ctx, charset, strlen(charset)) : NULL,
    };
    /* to_utf8() and the HTML renderer give valid UTF-8; only NUL, which
     * UTF-8 allows and C strings do not, may need taking out. */
    t.text = memchr(str, '\0', len) ? _claw_strndup_utf8(ctx, str, len)
                                           : _claw_strndup(ctx, str, len);
    t.length = strlen(t.text);
    g_array_append_val(ctx->texts, t);
    g_array_append_val(ctx->origins, *origin);
    /* Rendered HTML too: a mail client turns "www.example.com" in visible
     * text into a link whether or not the sender wrote an <a>. */
    if (!ctx->text_only)
        _claw_urls_from_text(ctx, t.text, t.length, t.part, CLAW_URL_TEXT);
}

static void walk(claw_ctx_t *ctx, GMimeObject *obj, const char *path, unsigned depth,
                 claw_message_t *m);

/* The text of a text/plain or text/html part from its decoded @content:
 * converted to UTF-8, HTML rendered. */
static void
make_text(claw_ctx_t *ctx, const char *path, bool is_html, const char *charset,
          const guint8 *content, size_t len, const claw_text_origin_t *origin)
{
    GString *utf8 = NULL;
    const char *text = (const char *)content;
    size_t text_len = len;
    /* UTF-8 or ASCII that is valid is used as decoded, without a copy. */
    if (!text || !is_utf8_name(charset) || !_claw_utf8_valid(text, text_len)) {
        utf8 = g_string_sized_new(len + 1);
        to_utf8(ctx, path, charset, content, len, utf8);
        text = utf8->str;
        text_len = utf8->len;
    }
    if (is_html) {
        GString *rendered = g_string_sized_new(text_len / 2 + 1);
        _claw_html_render(ctx, text, text_len, rendered, path, false);
        add_text(ctx, path, "text/html", charset, rendered->str, rendered->len, origin);
        g_string_free(rendered, TRUE);
    } else {
        add_text(ctx, path, "text/plain", charset, text, text_len, origin);
    }
    if (utf8)
        g_string_free(utf8, TRUE);
}

static claw_transfer_encoding_t
transfer_encoding(GMimeContentEncoding e)
{
    switch (e) {
    case GMIME_CONTENT_ENCODING_BASE64: return CLAW_TRANSFER_BASE64;
    case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE: return CLAW_TRANSFER_QUOTED_PRINTABLE;
    case GMIME_CONTENT_ENCODING_UUENCODE: return CLAW_TRANSFER_UUENCODE;
    default: return CLAW_TRANSFER_NONE;
    }
}

static GMimeContentEncoding
gmime_encoding(claw_transfer_encoding_t e)
{
    switch (e) {
    case CLAW_TRANSFER_BASE64: return GMIME_CONTENT_ENCODING_BASE64;
    case CLAW_TRANSFER_QUOTED_PRINTABLE: return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    case CLAW_TRANSFER_UUENCODE: return GMIME_CONTENT_ENCODING_UUENCODE;
    default: return GMIME_CONTENT_ENCODING_DEFAULT;
    }
}

/* Where @part's content is in the bytes given to the parser: GMime keeps
 * it as a window on its own input, which is our copy of the message with
 * some header fields left out (segments map it back). Unknown when the
 * content is anything else, or the window does not map to one run of the
 * message. */
static claw_text_origin_t
text_origin(const claw_ctx_t *ctx, GMimePart *part)
{
    claw_text_origin_t o = {0};
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *src = w ? g_mime_data_wrapper_get_stream(w) : NULL;
    if (!src || !GMIME_IS_STREAM_MEM(src) || GMIME_STREAM_MEM(src)->buffer != ctx->input ||
        src->bound_start < 0 || src->bound_end < src->bound_start ||
        (guint64)src->bound_end > ctx->input->len)
        return o;
    gint64 start = original_offset(ctx, src->bound_start);
    gint64 end = original_offset(ctx, src->bound_end);
    if (end - start != src->bound_end - src->bound_start)
        return o;
    o.known = 1;
    o.offset = ctx->skipped + (uint64_t)start;
    o.length = (uint64_t)(end - start);
    o.encoding = transfer_encoding(g_mime_data_wrapper_get_encoding(w));
    return o;
}

static void
walk_leaf(claw_ctx_t *ctx, GMimePart *part, const char *path)
{
    GMimeObject *obj = GMIME_OBJECT(part);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    char *type = ct ? g_mime_content_type_get_mime_type(ct) : g_strdup("text/plain");
    const char *filename = g_mime_part_get_filename(part);
    GMimeContentDisposition *cd = g_mime_object_get_content_disposition(obj);
    const char *disposition = cd ? g_mime_content_disposition_get_disposition(cd) : NULL;
    bool is_attachment = (disposition && !g_ascii_strcasecmp(disposition, "attachment")) ||
                         (filename && *filename);
    bool is_plain = !g_ascii_strcasecmp(type, "text/plain");
    bool is_html = !g_ascii_strcasecmp(type, "text/html");

    if (ctx->skip_non_text && !((is_plain || is_html) && !is_attachment)) {
        g_free(type);
        return;
    }
    GByteArray *content = decode_part(ctx, part, path);
    if (!content) {
        /* Over budget: the part is listed but could not be examined. */
        claw_attachment_t a = {
            .part = _claw_strdup(ctx, path),
            .filename = filename ? _claw_strndup_utf8(ctx, filename, strlen(filename)) : NULL,
            .declared_type = _claw_strdup(ctx, type),
            .detected_type = NULL,
            .flags = CLAW_ATT_TRUNCATED,
        };
        g_array_append_val(ctx->attachments, a);
        g_free(type);
        return;
    }

    if ((is_plain || is_html) && !is_attachment) {
        const char *charset = g_mime_object_get_content_type_parameter(obj, "charset");
        claw_text_origin_t origin = text_origin(ctx, part);
        make_text(ctx, path, is_html, charset, content->data, content->len, &origin);
    } else if (!ctx->text_only) {
        unsigned flags = 0;
        if (!is_attachment)
            flags |= CLAW_ATT_INLINE;
        _claw_attachment_add(ctx, path, filename, type, disposition, content->data, content->len,
                             0, flags);
    }
    g_byte_array_free(content, TRUE);
    g_free(type);
}

static void
walk_message_part(claw_ctx_t *ctx, GMimeMessagePart *mp, const char *path, unsigned depth,
                  claw_message_t *m)
{
    GMimeMessage *inner = g_mime_message_part_get_message(mp);
    if (!inner)
        return;
    /* The attached message is listed as an attachment (with the hash of its
     * bytes as GMime writes them back) and then walked like the outer one. */
    if (!ctx->text_only) {
        GMimeStream *mem = g_mime_stream_mem_new();
        GMimeFormatOptions *fo = g_mime_format_options_new();
        g_mime_object_write_to_stream(GMIME_OBJECT(inner), fo, mem);
        g_mime_format_options_free(fo);
        GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
        claw_attachment_t a = {
            .part = _claw_strdup(ctx, path),
            .declared_type = "message/rfc822",
            .detected_type = "message/rfc822",
            .size = ba->len,
            .flags = CLAW_ATT_MESSAGE,
        };
        const char *subject = g_mime_message_get_subject(inner);
        if (subject)
            a.filename = header_text(ctx, "an attached message's Subject", subject);
        _claw_sha256_hex(ba->data, ba->len, a.sha256);
        g_array_append_val(ctx->attachments, a);
        g_object_unref(mem);
    }

    GMimeObject *body = g_mime_message_get_mime_part(inner);
    if (body)
        walk(ctx, body, path, depth + 1, m);
}

static void
walk(claw_ctx_t *ctx, GMimeObject *obj, const char *path, unsigned depth, claw_message_t *m)
{
    if (_claw_out_of_time(ctx))
        return;
    if (depth > (unsigned)ctx->limits->max_depth) {
        if (!_claw_has_anomaly(ctx, CLAW_ANOM_LIMIT_DEPTH))
            _claw_anomaly(ctx, CLAW_ANOM_LIMIT_DEPTH, path,
                          "MIME nesting deeper than %" G_GINT64_FORMAT " not walked",
                          ctx->limits->max_depth);
        return;
    }
    if (ctx->parts >= (unsigned)ctx->limits->max_parts) {
        if (!_claw_has_anomaly(ctx, CLAW_ANOM_LIMIT_PARTS))
            _claw_anomaly(ctx, CLAW_ANOM_LIMIT_PARTS, path,
                          "more than %" G_GINT64_FORMAT " MIME parts",
                          ctx->limits->max_parts);
        return;
    }
    ctx->parts++;
    if (depth > m->max_depth)
        m->max_depth = depth;

    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n; i++) {
            char *child = *path ? g_strdup_printf("%s.%d", path, i + 1)
                                : g_strdup_printf("%d", i + 1);
            walk(ctx, g_mime_multipart_get_part(mp, i), child, depth + 1, m);
            g_free(child);
            if (ctx->out_of_time || _claw_has_anomaly(ctx, CLAW_ANOM_LIMIT_PARTS))
                break;
        }
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        walk_message_part(ctx, GMIME_MESSAGE_PART(obj), *path ? path : "1", depth, m);
    } else if (GMIME_IS_PART(obj)) {
        walk_leaf(ctx, GMIME_PART(obj), *path ? path : "1");
    }
    /* GMimeMessagePartial and anything else is not content we can read. */
}

/* ------------------------------------------------------------------------
 * Entry points
 * --------------------------------------------------------------------- */

static void
finish(claw_message_t *m, claw_ctx_t *ctx)
{
    m->n_addresses = ctx->addresses->len;
    m->addresses = (const claw_address_t *)ctx->addresses->data;
    m->n_auth_results = ctx->auth_results->len;
    m->auth_results = (const claw_auth_result_t *)ctx->auth_results->data;
    m->n_dkim_signatures = ctx->dkim->len;
    m->dkim_signatures = (const claw_dkim_signature_t *)ctx->dkim->data;
    m->n_received = ctx->received->len;
    m->received = (const claw_received_t *)ctx->received->data;
    m->n_texts = ctx->texts->len;
    m->texts = (const claw_text_t *)ctx->texts->data;
    m->text_origins = ctx->origins ? (const claw_text_origin_t *)ctx->origins->data : NULL;
    m->n_urls = ctx->urls->len;
    m->urls = (const claw_url_t *)ctx->urls->data;
    m->n_attachments = ctx->attachments->len;
    m->attachments = (const claw_attachment_t *)ctx->attachments->data;
    m->n_anomalies = ctx->anomalies->len;
    m->anomalies = (const claw_anomaly_t *)ctx->anomalies->data;
    m->n_parts = ctx->parts;
    for (size_t i = 0; i < m->n_anomalies; i++)
        if (claw_anomaly_code_is_limit(m->anomalies[i].code))
            m->unscannable = 1;
}

/* Header fields GMime itself needs: it parses addresses, dates, ids and the
 * MIME fields, checks the RFC 5322 once-only fields for repeats, and the
 * model reads Subject, Return-Path and these through GMime. */
static bool
gmime_needs_field(const char *name, size_t n)
{
    static const char *const names[] = {
        "Subject", "MIME-Version", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Date",
        "Message-ID", "In-Reply-To", "References", "Return-Path",
    };
    /* The same for every kind of parse, the texts-only one included: which
     * of these fields GMime sees can change the MIME tree it builds of a
     * malformed message (a fuzzed message's part lost its
     * Content-Transfer-Encoding when To and Reply-To were there), and the
     * texts must be the full parse's. */
    if ((n >= 8 && !g_ascii_strncasecmp(name, "Content-", 8)) ||
        (n >= 7 && !g_ascii_strncasecmp(name, "Resent-", 7)))
        return true;
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (strlen(names[i]) == n && !g_ascii_strncasecmp(name, names[i], n))
            return true;
    return false;
}

static void
append_segment(claw_ctx_t *ctx, GByteArray *out, const char *data, size_t orig, size_t len)
{
    if (len == 0)
        return;
    segment_t *last = ctx->segments->len
                          ? &g_array_index(ctx->segments, segment_t, ctx->segments->len - 1)
                          : NULL;
    if (last && last->orig + last->len == orig) {
        last->len += len;
    } else {
        segment_t sg = {.orig = orig, .out = out->len, .len = len};
        g_array_append_val(ctx->segments, sg);
    }
    g_byte_array_append(out, (const guint8 *)data + orig, (guint)len);
}

/* Record every field of the top-level header block in ctx->fields and give
 * GMime a copy of the message without the plain trace fields.
 *
 * Why: with a warning callback installed GMime 3.2 decodes the value of
 * every header it adds to a message (to report invalid RFC 2047 words),
 * which on mail with long Received, ARC, DKIM and X- chains is a third of its
 * parse time. A field that GMime does not use and whose bytes are 7-bit, with
 * no NUL, no lone CR and no "=?", cannot give a GMime warning, so it is read
 * by our own code (auth.c) straight from the message instead. Everything
 * else, including anything malformed, still goes to GMime, so its warnings
 * are the same; their offsets are mapped back (original_offset). A parse
 * for texts or for the verdict alone gives GMime the same fields, those of
 * them that are not plain with their values blanked (see below). */
static GByteArray *
split_header_block(claw_ctx_t *ctx, const char *data, size_t len)
{
    GByteArray *out = g_byte_array_sized_new((guint)len + 1);
    size_t p = 0;

    while (p < len) {
        const char *nl = memchr(data + p, '\n', len - p);
        size_t line_end = nl ? (size_t)(nl - data) + 1 : len;
        size_t content = line_end - p - (nl ? 1 : 0);
        if (content > 0 && data[p + content - 1] == '\r')
            content--;
        if (content == 0)
            break; /* the empty line: the body follows */
        /* The field: this line and its continuation lines. */
        size_t f_end = line_end;
        while (f_end < len && (data[f_end] == ' ' || data[f_end] == '\t')) {
            const char *n2 = memchr(data + f_end, '\n', len - f_end);
            f_end = n2 ? (size_t)(n2 - data) + 1 : len;
        }
        /* A well-formed name: printable ASCII up to the colon. */
        size_t name = 0;
        while (p + name < f_end && data[p + name] > ' ' && data[p + name] < 127 &&
               data[p + name] != ':')
            name++;
        bool well_formed = name > 0 && p + name < f_end && data[p + name] == ':';
        if (well_formed) {
            size_t vstart = p + name + 1, vend = f_end;
            if (vend > vstart && data[vend - 1] == '\n')
                vend--;
            if (vend > vstart && data[vend - 1] == '\r')
                vend--;
            claw_raw_field_t f = {data + p, name, data + vstart, vend - vstart};
            g_array_append_val(ctx->fields, f);
        }
        /* The first field always stays: GMime treats a malformed line as
         * fatal only when no field came before it. */
        bool plain = well_formed && f_end < len && ctx->fields->len > 1 &&
                     !gmime_needs_field(data + p, name);
        bool droppable = plain;
        for (size_t k = p; plain && k < f_end; k++) {
            unsigned char c = (unsigned char)data[k];
            if (c >= 0x80 || c == 0 || (c == '\r' && (k + 1 >= f_end || data[k + 1] != '\n')) ||
                (c == '=' && k + 1 < f_end && data[k + 1] == '?'))
                plain = false;
        }
        if (!plain)
            append_segment(ctx, out, data, p, f_end - p);
        /* Texts only, or the verdict alone: such a field that is not plain
         * goes to GMime blanked, its value's bytes spaces but for the line
         * ends. What GMime could say of it (8-bit bytes, a bad encoded word)
         * is an anomaly no rule reads (classify.c counts only the ambiguous
         * and the limit ones), and decoding long encoded fields such as
         * X-Microsoft-Antispam-Message-Info for it was an eighth of a
         * verdict's time. It is not left out: GMime's tree of a malformed
         * message can depend on where its read buffer ends, that is on how
         * many bytes came before, so every parse gives it the same number of
         * bytes and lines. */
        if (!plain && droppable && (ctx->text_only || ctx->verdict_only)) {
            guint8 *b = out->data + out->len - (f_end - p);
            for (size_t k = name + 1; k < f_end - p; k++)
                if (b[k] != '\n' && b[k] != '\r')
                    b[k] = ' ';
        }
        p = f_end;
    }
    append_segment(ctx, out, data, p, len - p);
    return out;
}

/* Does the buffer start like a mail message or mbox entry at all? GMime
 * accepts almost anything as "a message with no headers"; a message needs at
 * least one well-formed header field before the body. */
static bool
starts_with_header(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && i < 256 && p[i] != ':' && p[i] > ' ' && p[i] < 127)
        i++;
    size_t name = i;
    /* RFC 5322 4.5.3 (obsolete syntax): white space before the colon. */
    while (i < len && i < 256 && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return name > 0 && i < len && p[i] == ':';
}

static void
parse_into(claw_ctx_t *ctx, claw_message_t *m, const char *data, size_t len)
{
    const claw_limits_t *lim = ctx->limits;
    const char *given = data;
    prescan_t ps;

    if (len == 0) {
        _claw_anomaly(ctx, CLAW_ANOM_EMPTY, NULL, "no bytes");
        _claw_anomaly(ctx, CLAW_ANOM_NOT_A_MESSAGE, NULL, "empty input");
        return;
    }
    if (len > (uint64_t)lim->max_message_bytes) {
        _claw_anomaly(ctx, CLAW_ANOM_LIMIT_MESSAGE_BYTES, NULL,
                      "%zu bytes; only the first %" G_GINT64_FORMAT " are parsed", len,
                      lim->max_message_bytes);
        len = (size_t)lim->max_message_bytes;
    }

    /* A byte-order mark, or blank lines of spaces before the first header
     * (seen in real exports), hide the message from GMime: step over them. */
    {
        size_t skip = 0;
        if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
            skip = 3;
        for (;;) {
            size_t j = skip;
            while (j < len && (data[j] == ' ' || data[j] == '\t' || data[j] == '\r'))
                j++;
            if (j < len && data[j] == '\n' && j < 64 * 1024)
                skip = j + 1;
            else
                break;
        }
        if (skip) {
            _claw_anomaly(ctx, CLAW_ANOM_LEADING_JUNK, NULL,
                          "%zu bytes of byte-order mark or blank lines before the headers",
                          skip);
            data += skip;
            len -= skip;
        }
    }

    /* An mbox "From " separator line is not a header: step over it. Not to
     * be confused with an obsolete "From   :" header field. */
    if (len > 5 && memcmp(data, "From ", 5) == 0 && !starts_with_header(data, len)) {
        const char *nl = memchr(data, '\n', len);
        size_t skip = nl ? (size_t)(nl - data) + 1 : len;
        _claw_anomaly(ctx, CLAW_ANOM_MBOX_FROM_LINE, NULL, "began with an mbox From_ line");
        data += skip;
        len -= skip;
    }

    ctx->skipped = (size_t)(data - given);
    prescan(ctx, data, len, &ps);
    if (ps.nul)
        _claw_anomaly(ctx, CLAW_ANOM_NUL_BYTES, NULL, "%zu NUL bytes", ps.nul);
    if (ps.bare_cr)
        _claw_anomaly(ctx, CLAW_ANOM_BARE_CR, NULL, "%zu lines with a bare CR", ps.bare_cr);
    if (ps.long_lines)
        _claw_anomaly(ctx, CLAW_ANOM_LONG_LINE, NULL,
                      "%zu lines over 998 bytes, the longest %zu", ps.long_lines, ps.longest);
    if (ps.header_bytes > (uint64_t)lim->max_header_bytes)
        _claw_anomaly(ctx, CLAW_ANOM_LIMIT_HEADER_BYTES, NULL,
                      "header block of %zu bytes exceeds %" G_GINT64_FORMAT, ps.header_bytes,
                      lim->max_header_bytes);
    if (ps.cut < len) {
        _claw_anomaly(ctx, CLAW_ANOM_LIMIT_PARTS, NULL,
                      "%zu boundary lines, more than %" G_GINT64_FORMAT
                      " parts can use; bytes after %zu not parsed",
                      ps.dash_lines, lim->max_parts, ps.cut);
        len = ps.cut;
    }

    if (!starts_with_header(data, len)) {
        _claw_anomaly(ctx, CLAW_ANOM_NOT_A_MESSAGE, NULL,
                      "does not begin with a header field");
        return;
    }

    /* Headers past the limit are not handed to GMime: it would build every
     * one of them. GMime gets the whole header lines that fit, ended by an
     * empty line, and no body; the limit anomaly says the rest was not read. */
    size_t gmime_len = len;
    if (ps.header_bytes > (uint64_t)lim->max_header_bytes) {
        gmime_len = (size_t)lim->max_header_bytes;
        while (gmime_len > 0 && data[gmime_len - 1] != '\n')
            gmime_len--;
    }
    GByteArray *input = split_header_block(ctx, data, gmime_len);
    if (gmime_len < len) {
        /* Headers cut at the limit: end them, and give GMime no body. */
        g_byte_array_append(input, (const guint8 *)"\n\n", gmime_len ? 1 : 2);
    }
    ctx->input = input;
    GMimeStream *stream = g_mime_stream_mem_new_with_byte_array(input);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeParserOptions *opts = ctx->engine->parser_options;
    /* Texts only: no anomalies, so no warnings, which spares GMime decoding
     * every header value it adds to look for them. */
    g_mime_parser_options_set_warning_callback(opts, ctx->text_only ? NULL : on_parser_warning,
                                               ctx);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    GMimeMessage *gm = g_mime_parser_construct_message(parser, opts);
    g_object_unref(parser);
    g_object_unref(stream);

    if (!gm) {
        ctx->input = NULL;
        _claw_anomaly(ctx, CLAW_ANOM_NOT_A_MESSAGE, NULL, "GMime found no message");
        return;
    }
    /* GMime files Content-* fields under the top MIME part, so a message
     * whose only header is Content-Type has an empty message header list. */
    GMimeObject *body = g_mime_message_get_mime_part(gm);
    int n_headers = g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(gm))) +
                    (int)ctx->fields->len;
    if (body)
        n_headers += g_mime_header_list_get_count(g_mime_object_get_header_list(body));
    if (n_headers == 0) {
        _claw_anomaly(ctx, CLAW_ANOM_NO_HEADERS, NULL, "no header fields");
        _claw_anomaly(ctx, CLAW_ANOM_NOT_A_MESSAGE, NULL, "no header fields");
    } else {
        m->is_message = 1;
        extract_headers(ctx, m, gm, opts);
    }
    if (body && m->is_message)
        walk(ctx, body, "", 0, m);
    g_object_unref(gm);
    ctx->input = NULL;
}

/* An empty model and its parse state, the clock started. */
static claw_message_t *
new_message(claw_engine_t *engine, bool text_only)
{
    claw_message_t *m = calloc(1, sizeof *m);
    claw_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!m || !ctx) {
        free(m);
        free(ctx);
        return NULL;
    }
    m->priv = ctx;
    ctx->engine = engine;
    ctx->text_only = text_only;
    ctx->limits = &engine->config->limits;
    ctx->strings = g_string_chunk_new(4096);
    ctx->addresses = g_array_new(FALSE, TRUE, sizeof(claw_address_t));
    ctx->auth_results = g_array_new(FALSE, TRUE, sizeof(claw_auth_result_t));
    ctx->dkim = g_array_new(FALSE, TRUE, sizeof(claw_dkim_signature_t));
    ctx->received = g_array_new(FALSE, TRUE, sizeof(claw_received_t));
    ctx->texts = g_array_new(FALSE, TRUE, sizeof(claw_text_t));
    ctx->urls = g_array_new(FALSE, TRUE, sizeof(claw_url_t));
    ctx->attachments = g_array_new(FALSE, TRUE, sizeof(claw_attachment_t));
    ctx->anomalies = g_array_new(FALSE, TRUE, sizeof(claw_anomaly_t));
    ctx->method_arrays = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
    ctx->fields = g_array_new(FALSE, FALSE, sizeof(claw_raw_field_t));
    ctx->segments = g_array_new(FALSE, FALSE, sizeof(segment_t));
    ctx->origins = g_array_new(FALSE, TRUE, sizeof(claw_text_origin_t));

    clock_gettime(CLOCK_MONOTONIC, &ctx->deadline);
    int64_t ms = ctx->limits->max_time_ms;
    ctx->deadline.tv_sec += ms / 1000;
    ctx->deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (ctx->deadline.tv_nsec >= 1000000000L) {
        ctx->deadline.tv_sec++;
        ctx->deadline.tv_nsec -= 1000000000L;
    }

    return m;
}

/* What a parse is for. */
enum { PARSE_FULL, PARSE_TEXT, PARSE_VERDICT };

static claw_status_t
parse(claw_engine_t *engine, const char *data, size_t len, int kind, claw_message_t **out)
{
    if (!engine || !out || (!data && len))
        return CLAW_STATUS_INVALID_ARGUMENT;
    *out = NULL;

    bool text_only = kind == PARSE_TEXT;
    claw_message_t *m = new_message(engine, text_only);
    if (!m)
        return CLAW_STATUS_OUT_OF_MEMORY;
    claw_ctx_t *ctx = m->priv;
    ctx->verdict_only = kind == PARSE_VERDICT;

    /* Texts only: parts that give no text need not be decoded, as long as
     * decoding them could not have used up the decoded-bytes budget that
     * a full parse would spend on them before a later text part. No part
     * decodes to more than its encoded bytes, and those are at most the
     * message (plus the two bytes that end cut headers). */
    ctx->skip_non_text = text_only && (uint64_t)len + 2 <= (uint64_t)ctx->limits->max_decoded_bytes;
    m->size = len;
    if (kind == PARSE_FULL)
        _claw_sha256_hex(data ? data : "", len, m->sha256);
    parse_into(ctx, m, data ? data : "", len);
    g_array_set_size(ctx->fields, 0); /* it points into @data */
    finish(m, ctx);
    *out = m;
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_message_parse(claw_engine_t *engine, const char *data, size_t len, claw_message_t **out)
{
    return parse(engine, data, len, PARSE_FULL, out);
}

claw_status_t
claw_message_parse_text(claw_engine_t *engine, const char *data, size_t len,
                        claw_message_t **out)
{
    return parse(engine, data, len, PARSE_TEXT, out);
}

claw_status_t
_claw_message_parse_verdict(claw_engine_t *engine, const char *data, size_t len,
                            claw_message_t **out)
{
    return parse(engine, data, len, PARSE_VERDICT, out);
}

claw_status_t
claw_message_texts_from(claw_engine_t *engine, const char *data, size_t len,
                        const claw_text_t *texts, const claw_text_origin_t *origins, size_t n,
                        claw_message_t **out)
{
    if (!engine || !out || (!data && len) || (n && (!texts || !origins)))
        return CLAW_STATUS_INVALID_ARGUMENT;
    *out = NULL;
    for (size_t i = 0; i < n; i++)
        if (!origins[i].known || origins[i].offset > len ||
            origins[i].length > len - origins[i].offset)
            return CLAW_STATUS_INVALID_ARGUMENT;
    claw_message_t *m = new_message(engine, true);
    if (!m)
        return CLAW_STATUS_OUT_OF_MEMORY;
    claw_ctx_t *ctx = m->priv;
    m->is_message = 1;
    m->size = len;
    for (size_t i = 0; i < n; i++) {
        const guint8 *bytes = (const guint8 *)data + origins[i].offset;
        size_t blen = (size_t)origins[i].length;
        const char *type = texts[i].content_type ? texts[i].content_type : "text/plain";
        bool html = !g_ascii_strcasecmp(type, "text/html");
        const char *path = texts[i].part ? texts[i].part : "1";
        if (origins[i].encoding == CLAW_TRANSFER_NONE) {
            /* GMime copies such content as it is. */
            make_text(ctx, path, html, texts[i].charset, bytes, blen, &origins[i]);
            continue;
        }
        /* The content decoded as GMime decodes a part's (a data wrapper
         * with its transfer encoding), from a copy of the same bytes. */
        GByteArray *raw = g_byte_array_sized_new((guint)blen);
        g_byte_array_append(raw, bytes, (guint)blen);
        GMimeStream *src = g_mime_stream_mem_new_with_byte_array(raw);
        GMimeDataWrapper *w =
            g_mime_data_wrapper_new_with_stream(src, gmime_encoding(origins[i].encoding));
        GMimeStream *mem = g_mime_stream_mem_new();
        g_mime_data_wrapper_write_to_stream(w, mem);
        GByteArray *content = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
        make_text(ctx, path, html, texts[i].charset, content->data, content->len, &origins[i]);
        g_object_unref(mem);
        g_object_unref(w);
        g_object_unref(src);
    }
    finish(m, ctx);
    m->text_origins = NULL;
    *out = m;
    return CLAW_STATUS_SUCCESS;
}

int
claw_message_has_anomaly(const claw_message_t *m, claw_anomaly_code_t code)
{
    if (!m || (unsigned)code >= CLAW_ANOM_LAST)
        return 0;
    return _claw_has_anomaly(m->priv, code);
}

void
claw_message_destroy(claw_message_t *m)
{
    if (!m)
        return;
    claw_ctx_t *ctx = m->priv;
    if (ctx) {
        if (ctx->url_seen)
            g_hash_table_destroy(ctx->url_seen);
        _claw_url_buffers_free(&ctx->url_buffers);
        if (ctx->domains)
            g_hash_table_destroy(ctx->domains);
        g_ptr_array_free(ctx->method_arrays, TRUE);
        g_array_free(ctx->fields, TRUE);
        g_array_free(ctx->segments, TRUE);
        g_array_free(ctx->origins, TRUE);
        g_array_free(ctx->addresses, TRUE);
        g_array_free(ctx->auth_results, TRUE);
        g_array_free(ctx->dkim, TRUE);
        g_array_free(ctx->received, TRUE);
        g_array_free(ctx->texts, TRUE);
        g_array_free(ctx->urls, TRUE);
        g_array_free(ctx->attachments, TRUE);
        g_array_free(ctx->anomalies, TRUE);
        g_string_chunk_free(ctx->strings);
        free(ctx);
    }
    free(m);
}
