/* prepare.c - an item made ready outside the write lock, on a worker
 * thread: the message parsed and judged (or the MTA's verdict read back),
 * compressed, its record and envelope written, its index document built.
 * store.c commits what this makes.
 */
#include "build-config.h"

#include "archive-private.h"

static void
free_cctx(gpointer c)
{
    ZSTD_freeCCtx(c);
}

/* One compression context per thread, kept: creating one costs more than
 * compressing a typical message. */
static GPrivate cctx_key = G_PRIVATE_INIT(free_cctx);

/* The newest dictionary ready for level @level, or NULL if there is none
 * yet. It stays valid until the archive is closed. */
static const ZSTD_CDict *
archive_cdict(claw_archive_t *a, int level)
{
    g_mutex_lock(&a->dict_lock);
    const ZSTD_CDict *cd =
        _claw_cdict(a, a->dict, a->dict_id, level, &a->cdict, &a->cdict_id, &a->cdict_level);
    g_mutex_unlock(&a->dict_lock);
    return cd;
}

/* @raw as the stored blob: its size (u64 BE), then a zstd frame, made with
 * @dict when there is one (the frame names it). */
static bool
compress_into(GByteArray *out, const char *raw, size_t len, int level, const ZSTD_CDict *dict)
{
    ZSTD_CCtx *c = g_private_get(&cctx_key);
    if (!c) {
        c = ZSTD_createCCtx();
        if (!c)
            return false;
        g_private_set(&cctx_key, c);
    }
    size_t bound = ZSTD_compressBound(len);
    unsigned char size[8];
    _claw_be64(size, len);
    g_byte_array_set_size(out, (guint)(8 + bound));
    memcpy(out->data, size, 8);
    size_t n = dict ? ZSTD_compress_usingCDict(c, out->data + 8, bound, raw, len, dict)
                    : ZSTD_compressCCtx(c, out->data + 8, bound, raw, len, level);
    if (ZSTD_isError(n))
        return false;
    g_byte_array_set_size(out, (guint)(8 + n));
    return true;
}

/* The header block of @raw: fields with their values unfolded, to @fn. */
static size_t
header_block_end(const char *raw, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (raw[i] != '\n')
            continue;
        if (i + 1 < len && raw[i + 1] == '\n')
            return i + 1;
        if (i + 2 < len && raw[i + 1] == '\r' && raw[i + 2] == '\n')
            return i + 1;
    }
    return len;
}

/* The value of the last header @name in the header block (unfolded,
 * trimmed), or NULL. */
static char *
header_value(const char *raw, size_t hlen, const char *name)
{
    size_t nl = strlen(name);
    char *found = NULL;
    for (size_t i = 0; i < hlen;) {
        size_t eol = i;
        while (eol < hlen && raw[eol] != '\n')
            eol++;
        if (eol - i > nl && g_ascii_strncasecmp(raw + i, name, nl) == 0 && raw[i + nl] == ':') {
            GString *v = g_string_new(NULL);
            size_t j = i + nl + 1;
            for (;;) {
                /* Unfolded: each line without its line end, CR included. */
                size_t end = eol > j && raw[eol - 1] == '\r' ? eol - 1 : eol;
                g_string_append_len(v, raw + j, (gssize)(end - j));
                if (eol + 1 < hlen && (raw[eol + 1] == ' ' || raw[eol + 1] == '\t')) {
                    j = eol + 1;
                    for (eol = j; eol < hlen && raw[eol] != '\n'; eol++)
                        ;
                    continue;
                }
                break;
            }
            g_free(found);
            found = g_strstrip(g_string_free(v, FALSE));
        }
        i = eol + 1;
    }
    return found;
}

/* @raw without the X-Clawback-Envelope-* fields (an MTA adds them for us,
 * so the archived copy equals the delivered one), or NULL when it has
 * none: then @raw itself is the copy to keep, and a message of many
 * megabytes is not copied to strip nothing. */
static GByteArray *
strip_envelope_headers(const char *raw, size_t len, size_t hlen)
{
    static const char pfx[] = "X-Clawback-Envelope-";
    GByteArray *out = NULL;
    size_t i = 0;
    while (i < hlen) {
        size_t eol = i;
        while (eol < hlen && raw[eol] != '\n')
            eol++;
        /* The field with its folded continuation lines. */
        size_t end = eol < hlen ? eol + 1 : eol;
        while (end < hlen && (raw[end] == ' ' || raw[end] == '\t')) {
            while (end < hlen && raw[end] != '\n')
                end++;
            if (end < hlen)
                end++;
        }
        bool envelope =
            end - i > sizeof pfx - 1 && g_ascii_strncasecmp(raw + i, pfx, sizeof pfx - 1) == 0;
        if (envelope && !out) {
            out = g_byte_array_sized_new((guint)len);
            g_byte_array_append(out, (const guint8 *)raw, (guint)i);
        } else if (!envelope && out) {
            g_byte_array_append(out, (const guint8 *)raw + i, (guint)(end - i));
        }
        i = end;
    }
    if (out)
        g_byte_array_append(out, (const guint8 *)raw + hlen, (guint)(len - hlen));
    return out;
}

static bool
valid_id(const char *s)
{
    if (!s || strlen(s) != CLAW_ID_SIZE - 1)
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", *p))
            return false;
    return true;
}

void
_claw_hex_to_bin(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
}

static void
envelope_record(GByteArray *r, const claw_delivery_t *d, bool with_time)
{
    _claw_rec_add(r, T_MAIL_FROM, d->mail_from ? d->mail_from : "",
            d->mail_from ? strlen(d->mail_from) : 0);
    for (size_t i = 0; i < d->n_rcpt; i++)
        _claw_rec_str(r, T_RCPT, d->rcpt[i]);
    _claw_rec_str(r, T_IP, d->client_ip);
    _claw_rec_str(r, T_HELO, d->helo);
    if (with_time) {
        _claw_rec_str(r, T_SOURCE, d->source);
        _claw_rec_int(r, T_TIME, d->time_ms);
        _claw_rec_str(r, T_QUEUE_ID, d->queue_id);
        _claw_rec_str(r, T_MTA_HOST, d->mta_host);
    }
}

/* Where the message's texts came from (T_TEXTS), so that a phrase check
 * can decode them again without parsing the message: a count, then per
 * text a byte (bit 0 HTML, bits 1-2 the transfer encoding), the content's
 * offset and length, and the part and charset as strings. Only for a
 * parse that hit no limit, with every origin known: the texts are then
 * exactly those the parse gave (claw_message_texts_from()). */
static void
text_origins_record(GByteArray *r, const claw_message_t *m)
{
    /* Test-only: CLAW_TEST_NO_TEXT_ORIGINS=1 stores none, so that phrases
     * are checked the long way (a parse of the whole message). */
    static int off = -1;
    if (off < 0)
        off = getenv("CLAW_TEST_NO_TEXT_ORIGINS") != NULL;
    if (off || m->unscannable || !m->text_origins)
        return;
    for (size_t i = 0; i < m->n_texts; i++)
        if (!m->text_origins[i].known)
            return;
    GByteArray *b = g_byte_array_new();
    _claw_put_varint(b, m->n_texts);
    for (size_t i = 0; i < m->n_texts; i++) {
        const claw_text_t *t = &m->texts[i];
        const claw_text_origin_t *o = &m->text_origins[i];
        unsigned char flags = (unsigned char)((t->content_type &&
                                               !strcmp(t->content_type, "text/html")) |
                                              ((unsigned)o->encoding & 3) << 1);
        g_byte_array_append(b, &flags, 1);
        _claw_put_varint(b, o->offset);
        _claw_put_varint(b, o->length);
        const char *strs[2] = {t->part ? t->part : "", t->charset ? t->charset : ""};
        for (int k = 0; k < 2; k++) {
            _claw_put_varint(b, strlen(strs[k]));
            g_byte_array_append(b, (const guint8 *)strs[k], (guint)strlen(strs[k]));
        }
    }
    _claw_rec_add(r, T_TEXTS, b->data, b->len);
    g_byte_array_unref(b);
}

/* What the MTA wrote into the message for the archive: the Clawback id,
 * its verdict, and the envelope attributes it could not give in the
 * protocol (X-Clawback-Envelope-*, taken out of the stored copy, so that
 * the archive keeps the message as it was delivered). */
typedef struct {
    GByteArray *clean; /* a copy without the X-Clawback-Envelope-* fields, or NULL */
    const char *data;  /* the message to keep: @clean's bytes, or the raw message */
    size_t len;
    char *id, *verdict, *rules; /* g_malloc'd, NULL when absent */
    claw_delivery_attrs_t attrs;
} mta_fields_t;

static void
mta_fields_read(mta_fields_t *f, const char *raw, size_t len, bool trusted)
{
    f->data = raw;
    f->len = len;
    if (!trusted) {
        /* Anyone can write these fields: from a writer that did not
         * authenticate they are the message's own text, kept and unused. */
        return;
    }
    size_t hlen = header_block_end(raw, len);
    for (int a = 0; a < CLAW_DELIVERY_N_ATTRS; a++) {
        char *v = header_value(raw, hlen, claw_delivery_attr_header(a));
        claw_delivery_attrs_set(&f->attrs, a, v);
        g_free(v);
    }
    f->clean = strip_envelope_headers(raw, len, hlen);
    f->data = f->clean ? (const char *)f->clean->data : raw;
    f->len = f->clean ? f->clean->len : len;
    hlen = header_block_end(f->data, f->len);
    f->id = header_value(f->data, hlen, CLAW_HEADER_ID);
    f->verdict = header_value(f->data, hlen, CLAW_HEADER_VERDICT);
    f->rules = header_value(f->data, hlen, CLAW_HEADER_RULES);
}

static void
mta_fields_clear(mta_fields_t *f)
{
    if (f->clean)
        g_byte_array_unref(f->clean);
    g_free(f->id);
    g_free(f->verdict);
    g_free(f->rules);
    claw_delivery_attrs_clear(&f->attrs);
}

/* The MTA's verdict when the message carries one, read with the codec the
 * plugins wrote it with, and the message parsed; our own verdict
 * otherwise (mail imported from before Clawback, an MTA without the
 * plugin, a message it let through unscanned, or header text that is not a
 * verdict), whose parse the verdict keeps. *@source says which. */
static claw_status_t
judge(claw_engine_t *engine, const char *data, size_t len, const mta_fields_t *f,
      claw_verdict_t **verdict, claw_message_t **msg, const char **source)
{
    if (f->verdict && claw_verdict_parse_header(f->verdict, f->rules, verdict) == CLAW_STATUS_SUCCESS) {
        *source = "mta";
        return claw_message_parse(engine, data, len, msg);
    }
    *source = "archive";
    claw_status_t st = claw_scan_buffer(engine, data, len, NULL, verdict);
    if (st == CLAW_STATUS_SUCCESS)
        *msg = (claw_message_t *)claw_verdict_message(*verdict);
    return st;
}

/* The rules of @v as the record keeps them, "RULE_A,RULE_B", cut before
 * the first name that does not fit in @size. */
static void
rules_list(const claw_verdict_t *v, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < claw_verdict_n_rules(v); i++) {
        int n = snprintf(buf + o, size - o, "%s%s", o ? "," : "", claw_verdict_rule_name(v, i));
        if (n < 0 || (size_t)n >= size - o) {
            buf[o] = '\0';
            break;
        }
        o += (size_t)n;
    }
}

/* The record of a new message, made once from its model and verdict:
 * the store writes it (meta_record) and the index document is built from
 * it. Its strings point into @msg, @it, @rules and @source. */
static void
record_of(claw_record_t *rec, const claw_item_t *it, const claw_message_t *msg,
          const claw_verdict_t *verdict, const char *rules, const char *source,
          claw_delivery_t *d)
{
    const claw_address_t *from = NULL;
    for (size_t i = 0; i < msg->n_addresses && !from; i++)
        if (msg->addresses[i].field == CLAW_FIELD_FROM)
            from = &msg->addresses[i];
    memcpy(rec->sha256, it->sha_hex, 65);
    memcpy(rec->id, it->id, CLAW_ID_SIZE);
    rec->arrival_ms = d->time_ms;
    rec->size = it->raw_size;
    rec->date = msg->date_unix;
    rec->message_id = msg->message_id ? msg->message_id : "";
    rec->subject = msg->subject ? msg->subject : "";
    rec->from = from && from->address ? from->address : "";
    rec->from_name = from && from->name ? from->name : "";
    rec->action = it->action;
    rec->score = claw_verdict_score(verdict);
    rec->rules = rules;
    rec->verdict_source = source;
    rec->dmarc = claw_verdict_dmarc(verdict) ? claw_verdict_dmarc(verdict) : "";
    rec->dmarc_policy = claw_verdict_dmarc_policy(verdict) ? claw_verdict_dmarc_policy(verdict) : "";
    rec->n_deliveries = 1;
    rec->deliveries = d;
}

/* The meta record (T_*) of @rec, whose message has hash @sha, and where
 * @msg's texts are. Empty strings are left out, as reading them back gives
 * "" for what is absent. */
static void
meta_record(GByteArray *r, const claw_record_t *rec, const unsigned char sha[32],
            const claw_message_t *msg)
{
    _claw_rec_add(r, T_SHA, sha, 32);
    _claw_rec_str(r, T_ID, rec->id);
    _claw_rec_int(r, T_ARRIVAL, rec->arrival_ms);
    _claw_rec_int(r, T_SIZE, (int64_t)rec->size);
    _claw_rec_int(r, T_DATE, rec->date);
    _claw_rec_str(r, T_MSGID, rec->message_id);
    _claw_rec_str(r, T_SUBJECT, rec->subject);
    _claw_rec_str(r, T_FROM, rec->from);
    _claw_rec_str(r, T_FROM_NAME, rec->from_name);
    _claw_rec_str(r, T_ACTION, rec->action);
    char sbuf[G_ASCII_DTOSTR_BUF_SIZE];
    _claw_rec_str(r, T_SCORE, g_ascii_dtostr(sbuf, sizeof sbuf, rec->score));
    _claw_rec_str(r, T_RULES, rec->rules);
    _claw_rec_str(r, T_VSOURCE, rec->verdict_source);
    _claw_rec_str(r, T_DMARC, rec->dmarc);
    _claw_rec_str(r, T_DMARC_POLICY, rec->dmarc_policy);
    text_origins_record(r, msg);
}

claw_status_t
claw_item_prepare(claw_engine_t *engine, const claw_prepare_options_t *opt, const char *raw,
                  size_t len, const claw_delivery_t *delivery, claw_item_t **out)
{
    *out = NULL;
    claw_item_t *it = calloc(1, sizeof *it);
    if (!it)
        return CLAW_STATUS_OUT_OF_MEMORY;
    claw_verdict_t *verdict = NULL;
    claw_message_t *msg = NULL;
    mta_fields_t f = {0};
    mta_fields_read(&f, raw, len, delivery->trusted);
    const char *data = f.data;
    size_t dlen = f.len;

    /* What the MTA said in the protocol wins over what it wrote in the
     * message. */
    claw_delivery_t d = *delivery;
    claw_delivery_attrs_fill(&f.attrs, &d);

    const char *source;
    claw_status_t st = judge(engine, data, dlen, &f, &verdict, &msg, &source);
    if (st)
        goto fail;
    snprintf(it->action, sizeof it->action, "%s",
             claw_action_to_string(claw_verdict_action(verdict)));
    char rules[1024];
    rules_list(verdict, rules, sizeof rules);
    if (valid_id(f.id))
        memcpy(it->id, f.id, CLAW_ID_SIZE);
    else
        claw_id_new(it->id);
    memcpy(it->sha_hex, msg->sha256, 65);
    _claw_hex_to_bin(it->sha_hex, it->sha, 32);
    it->raw_size = dlen;

    it->blob = g_byte_array_new();
    if (!compress_into(it->blob, data, dlen, opt->zstd_level,
                       opt->archive ? archive_cdict(opt->archive, opt->zstd_level) : NULL)) {
        st = CLAW_STATUS_DEPENDENCY_ERROR;
        goto fail;
    }
    claw_record_t rec = {0};
    record_of(&rec, it, msg, verdict, rules, source, &d);
    /* Withheld from its recipients by the MTA: quarantined from the start,
     * its document too. */
    it->withheld = rec.quarantined = d.withheld && !strcmp(d.withheld, "yes");
    it->message_id = g_strdup(rec.message_id);
    it->queue_id = g_strdup(d.queue_id);
    it->meta = g_byte_array_new();
    meta_record(it->meta, &rec, it->sha, msg);
    it->env = g_byte_array_new();
    envelope_record(it->env, &d, true);
    it->envid = g_byte_array_new();
    envelope_record(it->envid, &d, false);
    /* The index document, built now from the model we already have. */
    st = CLAW_STATUS_OUT_OF_MEMORY;
    it->doc = claw_doc_build(msg, &rec, data, dlen, opt);
    if (!it->doc)
        goto fail;
    /* The index document was built from them: now pack them. */
    _claw_compress_record(opt->archive, it->meta);
    _claw_compress_record(opt->archive, it->env);

    st = CLAW_STATUS_SUCCESS;
    *out = it;
    it = NULL;
fail:
    /* @msg is the verdict's own when the archive judged the message. */
    if (msg != claw_verdict_message(verdict))
        claw_message_destroy(msg);
    claw_verdict_destroy(verdict);
    mta_fields_clear(&f);
    claw_item_free(it);
    return st;
}

void
claw_item_free(claw_item_t *it)
{
    if (!it)
        return;
    if (it->blob)
        g_byte_array_unref(it->blob);
    if (it->meta)
        g_byte_array_unref(it->meta);
    if (it->env)
        g_byte_array_unref(it->env);
    if (it->envid)
        g_byte_array_unref(it->envid);
    g_free(it->message_id);
    g_free(it->queue_id);
    claw_doc_free(it->doc);
    free(it);
}

claw_item_outcome_t
claw_item_outcome(const claw_item_t *it)
{
    return it->outcome;
}

uint64_t
claw_item_docid(const claw_item_t *it)
{
    return it->docid;
}

uint64_t
claw_item_seq(const claw_item_t *it)
{
    return it->seq;
}

const char *
claw_item_id(const claw_item_t *it)
{
    return it->id;
}

const char *
claw_item_action(const claw_item_t *it)
{
    return it->action;
}

const char *
claw_item_message_id(const claw_item_t *it)
{
    return it->message_id ? it->message_id : "";
}

const char *
claw_item_queue_id(const claw_item_t *it)
{
    return it->queue_id ? it->queue_id : "";
}

claw_doc_t *
claw_item_take_doc(claw_item_t *it)
{
    claw_doc_t *d = it->doc;
    it->doc = NULL;
    return d;
}
