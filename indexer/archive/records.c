/* records.c - meta and envelope records: a tag byte, a varint length and
 * the bytes; numbers as zigzag varints. Written for a new message, read
 * back into a claw_record_t; once there is a records' dictionary they are
 * stored packed with it.
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-purge.h"

void
_claw_put_varint(GByteArray *r, uint64_t v)
{
    unsigned char b[10];
    int n = 0;
    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    g_byte_array_append(r, b, (guint)n);
}

/* A varint at *@p (before @end), *@p moved past it; false if malformed. */
static bool
get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

static uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t
unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

void
_claw_rec_add(GByteArray *r, unsigned tag, const void *s, size_t len)
{
    unsigned char t = (unsigned char)tag;
    g_byte_array_append(r, &t, 1);
    _claw_put_varint(r, len);
    g_byte_array_append(r, (const guint8 *)s, (guint)len);
}

void
_claw_rec_str(GByteArray *r, unsigned tag, const char *s)
{
    if (s && *s)
        _claw_rec_add(r, tag, s, strlen(s));
}

void
_claw_rec_int(GByteArray *r, unsigned tag, int64_t v)
{
    GByteArray *b = g_byte_array_sized_new(10);
    _claw_put_varint(b, zigzag(v));
    _claw_rec_add(r, tag, b->data, b->len);
    g_byte_array_unref(b);
}

static void
free_rcctx(gpointer c)
{
    ZSTD_freeCCtx(c);
}

static void
free_rdctx(gpointer c)
{
    ZSTD_freeDCtx(c);
}

/* Contexts for records, per thread: their frames' format is not the
 * messages'. */
static GPrivate rcctx_key = G_PRIVATE_INIT(free_rcctx);
static GPrivate rdctx_key = G_PRIVATE_INIT(free_rdctx);

/* @rec compressed with the records' dictionary when there is one and that
 * makes it smaller. Records are small and much alike (the same senders,
 * recipients, subjects, message-id domains): on the 100k benchmark set a
 * 64 KiB dictionary makes the meta records 0.68 of their size and the
 * envelope records 0.31. */
void
_claw_compress_record(claw_archive_t *a, GByteArray *rec)
{
    if (!a || !rec->len)
        return;
    g_mutex_lock(&a->dict_lock);
    const ZSTD_CDict *cd = _claw_cdict(a, a->rdict, a->rdict_id, RECORD_LEVEL, &a->rcdict,
                                       &a->rcdict_id, &a->rcdict_level);
    uint32_t id = a->rdict_id;
    g_mutex_unlock(&a->dict_lock);
    if (!cd)
        return;
    ZSTD_CCtx *c = g_private_get(&rcctx_key);
    if (!c) {
        if (!(c = ZSTD_createCCtx()))
            return;
        g_private_set(&rcctx_key, c);
    }
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless);
    ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0);
    ZSTD_CCtx_refCDict(c, cd);
    size_t bound = ZSTD_compressBound(rec->len);
    unsigned char *out = g_malloc(5 + bound);
    size_t n = ZSTD_compress2(c, out + 5, bound, rec->data, rec->len);
    ZSTD_CCtx_refCDict(c, NULL);
    if (!ZSTD_isError(n) && 5 + n < rec->len) {
        out[0] = RECORD_PACKED;
        _claw_be32(out + 1, id);
        g_byte_array_set_size(rec, 0);
        g_byte_array_append(rec, out, (guint)(5 + n));
    }
    g_free(out);
}

/* The record in @v as written: itself, or decompressed into *@buf
 * (g_free it). False if it is damaged. */
bool
_claw_record_plain(claw_archive_t *a, MDB_txn *txn, const MDB_val *v, MDB_val *plain, void **buf)
{
    *buf = NULL;
    *plain = *v;
    const unsigned char *p = v->mv_data;
    if (v->mv_size == 0 || p[0] != RECORD_PACKED)
        return true;
    if (v->mv_size < 5)
        return false;
    ZSTD_DDict *dd = _claw_archive_ddict(a, txn, _claw_get_be32(p + 1));
    ZSTD_frameHeader h;
    if (!dd || ZSTD_getFrameHeader_advanced(&h, p + 5, v->mv_size - 5,
                                            ZSTD_f_zstd1_magicless) != 0 ||
        h.frameContentSize > (64u << 20))
        return false;
    ZSTD_DCtx *dc = g_private_get(&rdctx_key);
    if (!dc) {
        if (!(dc = ZSTD_createDCtx()))
            return false;
        g_private_set(&rdctx_key, dc);
        ZSTD_DCtx_setParameter(dc, ZSTD_d_format, ZSTD_f_zstd1_magicless);
    }
    size_t n = (size_t)h.frameContentSize;
    *buf = g_malloc(n ? n : 1);
    size_t got = ZSTD_decompress_usingDDict(dc, *buf, n, p + 5, v->mv_size - 5, dd);
    if (ZSTD_isError(got) || got != n) {
        g_free(*buf);
        *buf = NULL;
        return false;
    }
    *plain = (MDB_val){n, *buf};
    return true;
}

/* Call @fn for each field of a record; false if it is malformed. */
static bool
rec_each(const void *data, size_t len, void (*fn)(void *ctx, unsigned tag, const char *s, size_t n),
         void *ctx)
{
    const unsigned char *p = data, *end = p + len;
    while (p < end) {
        unsigned tag = *p++;
        uint64_t n;
        if (!get_varint(&p, end, &n) || (uint64_t)(end - p) < n)
            return false;
        fn(ctx, tag, (const char *)p, (size_t)n);
        p += n;
    }
    return true;
}

/* rec_each() over the stored record @v, packed or not (record_plain); false
 * if it is damaged. */
bool
_claw_record_each(claw_archive_t *a, MDB_txn *txn, const MDB_val *v,
            void (*fn)(void *ctx, unsigned tag, const char *s, size_t n), void *ctx)
{
    MDB_val pl;
    void *buf;
    bool ok = _claw_record_plain(a, txn, v, &pl, &buf) && rec_each(pl.mv_data, pl.mv_size, fn, ctx);
    g_free(buf);
    return ok;
}

void
claw_record_free(claw_record_t *r)
{
    if (!r)
        return;
    if (r->priv) {
        g_string_chunk_free(r->priv->strings);
        if (r->priv->arrays)
            g_ptr_array_free(r->priv->arrays, TRUE);
        free(r->priv);
    }
    free(r->deliveries);
    free(r->text_parts);
    free(r->text_origins);
    free(r);
}

static const char *
chunk(GStringChunk *s, const char *p, size_t n)
{
    return g_string_chunk_insert_len(s, p, (gssize)n);
}

int64_t
_claw_rec_num(const char *p, size_t n)
{
    const unsigned char *q = (const unsigned char *)p;
    uint64_t v;
    return get_varint(&q, q + n, &v) ? unzigzag(v) : 0;
}

/* T_TEXTS (see text_origins_record) into @r; false if malformed. */
bool
_claw_read_text_origins(rec_ctx_t *c, const char *data, size_t len)
{
    claw_record_t *r = c->r;
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    uint64_t n;
    if (!get_varint(&p, end, &n) || n > len)
        return false;
    r->text_parts = calloc(n ? n : 1, sizeof *r->text_parts);
    r->text_origins = calloc(n ? n : 1, sizeof *r->text_origins);
    if (!r->text_parts || !r->text_origins)
        return false;
    for (uint64_t i = 0; i < n; i++) {
        claw_text_t *t = &r->text_parts[i];
        claw_text_origin_t *o = &r->text_origins[i];
        if (p >= end)
            return false;
        unsigned flags = *p++;
        const char *strs[2];
        if (!get_varint(&p, end, &o->offset) || !get_varint(&p, end, &o->length))
            return false;
        for (int k = 0; k < 2; k++) {
            uint64_t sl;
            if (!get_varint(&p, end, &sl) || (uint64_t)(end - p) < sl)
                return false;
            strs[k] = chunk(c->s, (const char *)p, (size_t)sl);
            p += sl;
        }
        o->known = 1;
        o->encoding = (claw_transfer_encoding_t)((flags >> 1) & 3);
        t->content_type = flags & 1 ? "text/html" : "text/plain";
        t->part = strs[0];
        t->charset = *strs[1] ? strs[1] : NULL;
        r->n_texts = (size_t)i + 1;
    }
    return p == end;
}

void
_claw_meta_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    rec_ctx_t *c = ctx;
    claw_record_t *r = c->r;
    switch (tag) {
    case T_SHA:
        if (n == 32) {
            static const char hex[] = "0123456789abcdef";
            for (size_t i = 0; i < 32; i++) {
                r->sha256[2 * i] = hex[(unsigned char)p[i] >> 4];
                r->sha256[2 * i + 1] = hex[(unsigned char)p[i] & 15];
            }
            r->sha256[64] = '\0';
        }
        break;
    case T_ID:
        if (n == CLAW_ID_SIZE - 1)
            memcpy(r->id, p, n);
        break;
    case T_ARRIVAL: r->arrival_ms = _claw_rec_num(p, n); break;
    case T_SIZE: r->size = (uint64_t)_claw_rec_num(p, n); break;
    case T_DATE: r->date = _claw_rec_num(p, n); break;
    case T_MSGID: r->message_id = chunk(c->s, p, n); break;
    case T_SUBJECT: r->subject = chunk(c->s, p, n); break;
    case T_FROM: r->from = chunk(c->s, p, n); break;
    case T_FROM_NAME: r->from_name = chunk(c->s, p, n); break;
    case T_ACTION: r->action = chunk(c->s, p, n); break;
    case T_SCORE: r->score = g_ascii_strtod(chunk(c->s, p, n), NULL); break;
    case T_RULES: r->rules = chunk(c->s, p, n); break;
    case T_VSOURCE: r->verdict_source = chunk(c->s, p, n); break;
    case T_DMARC: r->dmarc = chunk(c->s, p, n); break;
    case T_DMARC_POLICY: r->dmarc_policy = chunk(c->s, p, n); break;
    case T_TEXTS:
        if (c->texts && !r->text_parts)
            r->has_text_origins = _claw_read_text_origins(c, p, n);
        break;
    default: break;
    }
}

static void
env_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    rec_ctx_t *c = ctx;
    switch (tag) {
    case T_MAIL_FROM: c->d->mail_from = chunk(c->s, p, n); break;
    case T_RCPT: g_ptr_array_add(c->rcpt, (gpointer)chunk(c->s, p, n)); break;
    case T_IP: c->d->client_ip = chunk(c->s, p, n); break;
    case T_HELO: c->d->helo = chunk(c->s, p, n); break;
    case T_SOURCE: c->d->source = chunk(c->s, p, n); break;
    case T_TIME: c->d->time_ms = _claw_rec_num(p, n); break;
    case T_QUEUE_ID: c->d->queue_id = chunk(c->s, p, n); break;
    case T_MTA_HOST: c->d->mta_host = chunk(c->s, p, n); break;
    default: break;
    }
}


claw_status_t
_claw_get_meta(claw_archive_t *a, MDB_txn *txn, uint64_t docid, unsigned char dk[8], MDB_val *v)
{
    _claw_be64(dk, docid);
    MDB_val k = {8, dk};
    int rc = mdb_get(txn, a->dbi[DB_META], &k, v);
    if (rc == MDB_NOTFOUND) {
        _claw_set_error(a, "no message %" PRIu64 " in the archive", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    return rc ? _claw_mdb_status(a, rc, "read") : CLAW_STATUS_SUCCESS;
}

claw_status_t
_claw_get_record(claw_archive_t *a, MDB_txn *txn, uint64_t docid, unsigned what, claw_record_t **out)
{
    unsigned char dk[8];
    MDB_val v;
    claw_status_t st = _claw_get_meta(a, txn, docid, dk, &v);
    if (st)
        return st;
    claw_record_t *r = calloc(1, sizeof *r);
    r->priv = calloc(1, sizeof *r->priv);
    r->priv->strings = g_string_chunk_new(1024);
    r->docid = docid;
    r->message_id = r->subject = r->from = r->from_name = r->action = r->rules =
        r->verdict_source = r->dmarc = r->dmarc_policy = "";
    rec_ctx_t c = {r, r->priv->strings, NULL, NULL, (what & REC_TEXTS) != 0};
    if (!_claw_record_each(a, txn, &v, _claw_meta_field, &c)) {
        claw_record_free(r);
        _claw_set_error(a, "message %" PRIu64 ": damaged record", docid);
        return CLAW_STATUS_IO_ERROR;
    }
    int state;
    if (_claw_msg_state(a, txn, docid, &state, &r->quarantine_plan) == 0)
        r->quarantined = state == CLAW_MSG_QUARANTINED;
    if (!(what & REC_DELIVERIES)) {
        *out = r;
        return CLAW_STATUS_SUCCESS;
    }
    /* Deliveries: the env keys docid + n, in order. */
    GArray *ds = g_array_new(FALSE, TRUE, sizeof(claw_delivery_t));
    GPtrArray *lists = g_ptr_array_new();
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, a->dbi[DB_ENV], &cur) == 0) {
        unsigned char probe[12] = {0};
        memcpy(probe, dk, 8);
        MDB_val pk = {12, probe}, pv;
        for (int rc = mdb_cursor_get(cur, &pk, &pv, MDB_SET_RANGE);
             rc == 0 && pk.mv_size == 12 && memcmp(pk.mv_data, dk, 8) == 0;
             rc = mdb_cursor_get(cur, &pk, &pv, MDB_NEXT)) {
            claw_delivery_t d = {0};
            c.d = &d;
            c.rcpt = g_ptr_array_new();
            _claw_record_each(a, txn, &pv, env_field, &c);
            d.n_rcpt = c.rcpt->len;
            g_ptr_array_add(lists, c.rcpt);
            g_array_append_val(ds, d);
        }
        mdb_cursor_close(cur);
    }
    r->n_deliveries = ds->len;
    r->deliveries = calloc(ds->len ? ds->len : 1, sizeof(claw_delivery_t));
    r->priv->arrays = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < ds->len; i++) {
        claw_delivery_t *d = &g_array_index(ds, claw_delivery_t, i);
        GPtrArray *l = lists->pdata[i];
        d->rcpt = l->len ? (const char *const *)l->pdata : NULL;
        r->deliveries[i] = *d;
        g_ptr_array_add(r->priv->arrays, g_ptr_array_free(l, FALSE));
    }
    g_ptr_array_free(lists, TRUE);
    g_array_free(ds, TRUE);
    *out = r;
    return CLAW_STATUS_SUCCESS;
}

/* _claw_get_record() in a read transaction of its own. */
static claw_status_t
read_record(claw_archive_t *a, uint64_t docid, unsigned what, claw_record_t **out)
{
    *out = NULL;
    MDB_txn *txn;
    claw_status_t st = _claw_read_message_begin(a, docid, &txn);
    if (st)
        return st;
    st = _claw_get_record(a, txn, docid, what, out);
    _claw_read_end(a, txn);
    return st;
}

claw_status_t
claw_archive_get(claw_archive_t *a, uint64_t docid, claw_record_t **out)
{
    return read_record(a, docid, REC_DELIVERIES, out);
}

claw_status_t
claw_archive_get_summary(claw_archive_t *a, uint64_t docid, claw_record_t **out)
{
    return read_record(a, docid, 0, out);
}
