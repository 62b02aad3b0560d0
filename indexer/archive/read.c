/* read.c - messages read back from the store: decompression (with the
 * dictionary a frame names), the raw message, the texts of a record, and
 * the lookups by id, hash and log sequence.
 */
#include "build-config.h"

#include "archive-private.h"

static void
free_dctx(gpointer c)
{
    ZSTD_freeDCtx(c);
}

static GPrivate dctx_key = G_PRIVATE_INIT(free_dctx);

/* This thread's decompression context, kept: making one costs more than
 * decompressing a typical message. */
static ZSTD_DCtx *
thread_dctx(void)
{
    ZSTD_DCtx *dc = g_private_get(&dctx_key);
    if (!dc && (dc = ZSTD_createDCtx()))
        g_private_set(&dctx_key, dc);
    return dc;
}

/* Dictionary @id for decompressing, read from the store once. */
ZSTD_DDict *
_claw_archive_ddict(claw_archive_t *a, MDB_txn *txn, uint32_t id)
{
    g_mutex_lock(&a->dict_lock);
    ZSTD_DDict *dd = g_hash_table_lookup(a->ddicts, GUINT_TO_POINTER(id));
    if (!dd) {
        unsigned char k4[4];
        _claw_be32(k4, id);
        MDB_val k = {4, k4}, v;
        if (mdb_get(txn, a->dbi[DB_DICT], &k, &v) == 0 &&
            (dd = ZSTD_createDDict(v.mv_data, v.mv_size)))
            g_hash_table_insert(a->ddicts, GUINT_TO_POINTER(id), dd);
    }
    g_mutex_unlock(&a->dict_lock);
    return dd;
}

claw_status_t
_claw_decompress(claw_archive_t *a, MDB_txn *txn, const MDB_val *v, char **data, size_t *len)
{
    if (v->mv_size < 8) {
        _claw_set_error(a, "damaged blob");
        return CLAW_STATUS_IO_ERROR;
    }
    uint64_t n = _claw_get_be64(v->mv_data);
    const char *src = (const char *)v->mv_data + 8;
    size_t srclen = v->mv_size - 8;
    unsigned id = ZSTD_getDictID_fromFrame(src, srclen);
    ZSTD_DDict *dd = NULL;
    if (id && !(dd = _claw_archive_ddict(a, txn, id))) {
        _claw_set_error(a, "damaged blob: zstd dictionary %u is missing", id);
        return CLAW_STATUS_IO_ERROR;
    }
    ZSTD_DCtx *dc = thread_dctx();
    if (!dc)
        return CLAW_STATUS_OUT_OF_MEMORY;
    if (n > (uint64_t)1 << 40) {
        _claw_set_error(a, "damaged blob: size %" PRIu64, n);
        return CLAW_STATUS_IO_ERROR;
    }
    char *buf = malloc(n + 1);
    if (!buf)
        return CLAW_STATUS_OUT_OF_MEMORY;
    size_t got = dd ? ZSTD_decompress_usingDDict(dc, buf, n, src, srclen, dd)
                    : ZSTD_decompressDCtx(dc, buf, n, src, srclen);
    if (ZSTD_isError(got) || got != n) {
        free(buf);
        _claw_set_error(a, "damaged blob: %s", ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size");
        return CLAW_STATUS_IO_ERROR;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
_claw_get_raw(claw_archive_t *a, MDB_txn *txn, uint64_t docid, char **data, size_t *len)
{
    unsigned char dk[8];
    MDB_val v;
    claw_status_t st = _claw_get_meta(a, txn, docid, dk, &v);
    if (st)
        return st;
    GByteArray *b;
    int rc = _claw_get_blob(a, txn, dk, &b);
    if (rc)
        return _claw_mdb_status(a, rc, "read the message");
    MDB_val bv = {b->len, b->data};
    st = _claw_decompress(a, txn, &bv, data, len);
    g_byte_array_unref(b);
    return st;
}

/* Decompression reads a stream from the pieces: what it has been given. */
typedef struct {
    claw_archive_t *a;
    MDB_txn *txn;
    size_t want;
    unsigned char head[8 + ZSTD_FRAMEHEADERSIZE_MAX]; /* raw size, frame header */
    size_t have;
    ZSTD_DCtx *dc;
    char *buf;
    ZSTD_outBuffer out;
    int rc;
} prefix_t;

static ZSTD_DCtx *thread_dctx(void);

/* Give zstd @n more bytes of the frame; false once there is enough or on
 * an error (in @p->rc). */
static bool
prefix_feed(prefix_t *p, const void *src, size_t n)
{
    ZSTD_inBuffer in = {src, n, 0};
    while (p->out.pos < p->want && in.pos < in.size) {
        size_t r = ZSTD_decompressStream(p->dc, &p->out, &in);
        if (ZSTD_isError(r)) {
            _claw_set_error(p->a, "damaged blob: %s", ZSTD_getErrorName(r));
            p->rc = MDB_CORRUPTED;
            return false;
        }
    }
    return p->out.pos < p->want;
}

/* The blob's raw size and frame header are in p->head: get ready. */
static bool
prefix_start(prefix_t *p)
{
    uint64_t size = _claw_get_be64(p->head);
    if (p->have < 8 || size > (uint64_t)1 << 40) {
        p->rc = MDB_CORRUPTED;
        return false;
    }
    p->want = (size_t)MIN((uint64_t)p->want, size);
    unsigned id = ZSTD_getDictID_fromFrame(p->head + 8, p->have - 8);
    ZSTD_DDict *dd = NULL;
    if (id && !(dd = _claw_archive_ddict(p->a, p->txn, id))) {
        _claw_set_error(p->a, "damaged blob: zstd dictionary %u is missing", id);
        p->rc = MDB_CORRUPTED;
        return false;
    }
    if (!(p->dc = thread_dctx()) || !(p->buf = malloc(size + 1))) {
        p->rc = ENOMEM;
        return false;
    }
    /* zstd writes into our buffer (it is the whole message's size and stays
     * put), not through a window of its own. */
    ZSTD_DCtx_reset(p->dc, ZSTD_reset_session_and_parameters);
    ZSTD_DCtx_setParameter(p->dc, ZSTD_d_stableOutBuffer, 1);
    ZSTD_DCtx_refDDict(p->dc, dd);
    p->out = (ZSTD_outBuffer){p->buf, size, 0};
    return prefix_feed(p, p->head + 8, p->have - 8);
}

/* The first @want bytes of message @dk (all of it when it is shorter),
 * decompressed straight from the stream's pieces on their LMDB pages: only
 * the pieces that hold them are read, and zstd stops once it has given
 * that much. */
/* One run of the frame for read_prefix: the raw size and frame header
 * first (they may span pieces), then zstd. False once it has enough. */
static bool
prefix_run(void *ctx, const claw_run_t *run)
{
    prefix_t *p = ctx;
    const unsigned char *d = run->p;
    size_t m = run->n;
    bool last = run->last;
    size_t pos = 0;
    if (!p->buf) {
        while (p->have < sizeof p->head && pos < m)
            p->head[p->have++] = d[pos++];
        if (p->have < sizeof p->head && !last)
            return true;
        if (!prefix_start(p))
            return false;
    }
    return prefix_feed(p, d + pos, m - pos);
}

static int
read_prefix(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8], size_t want, char **data,
            size_t *len)
{
    prefix_t p = {.a = a, .txn = txn, .want = want};
    size_t total;
    int rc = _claw_each_run(a, txn, dk, prefix_run, &p, &total);
    /* Done: zstd gave all that was wanted. Anything else (pieces missing,
     * the stream ending early, zstd's error) is damage. */
    if (rc == 0 && (!p.buf || p.rc || p.out.pos < p.want))
        rc = p.rc ? p.rc : MDB_CORRUPTED;
    if (p.dc)
        ZSTD_DCtx_reset(p.dc, ZSTD_reset_session_and_parameters);
    if (rc) {
        free(p.buf);
        return rc;
    }
    p.buf[p.want] = '\0';
    *data = p.buf;
    *len = p.want;
    return 0;
}

/* T_SUBJECT and, if @origins, T_TEXTS of a meta record. */
typedef struct {
    char *subject;
    bool want_origins;
    rec_ctx_t texts; /* T_TEXTS into texts.r */
} text_fields_t;

static void
text_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    text_fields_t *t = ctx;
    if (tag == T_SUBJECT && !t->subject)
        t->subject = g_strndup(p, n);
    else if (tag == T_TEXTS && t->want_origins && !t->texts.r->text_parts)
        t->texts.r->has_text_origins = _claw_read_text_origins(&t->texts, p, n);
}

claw_status_t
claw_archive_texts(claw_archive_t *a, claw_engine_t *engine, uint64_t docid, bool subject_only,
                   char **subject, claw_message_t **texts)
{
    *subject = NULL;
    *texts = NULL;
    MDB_txn *txn;
    claw_status_t st = _claw_read_message_begin(a, docid, &txn);
    if (st)
        return st;
    unsigned char dk[8];
    MDB_val v;
    claw_record_t r = {0};
    text_fields_t t = {.want_origins = !subject_only, .texts = {.r = &r}};
    char *raw = NULL;
    size_t len = 0;
    int rc;
    if ((st = _claw_get_meta(a, txn, docid, dk, &v)))
        goto out;
    if (!subject_only)
        t.texts.s = g_string_chunk_new(256);
    if (!_claw_record_each(a, txn, &v, text_field, &t)) {
        _claw_set_error(a, "message %" PRIu64 ": damaged record", docid);
        st = CLAW_STATUS_IO_ERROR;
        goto out;
    }
    if (subject_only)
        goto out;
    if (r.has_text_origins) {
        /* Only as far as the last text's content: mail puts its texts first
         * and its attachments after them. */
        size_t want = 0;
        for (size_t i = 0; i < r.n_texts; i++)
            want = MAX(want, (size_t)(r.text_origins[i].offset + r.text_origins[i].length));
        if ((rc = read_prefix(a, txn, dk, want, &raw, &len)))
            st = _claw_mdb_status(a, rc, "read the message");
        else
            st = claw_message_texts_from(engine, raw, len, r.text_parts, r.text_origins,
                                         r.n_texts, texts);
    } else {
        st = _claw_get_raw(a, txn, docid, &raw, &len);
        if (!st)
            st = claw_message_parse_text(engine, raw, len, texts);
    }
out:
    _claw_read_end(a, txn);
    free(raw);
    free(r.text_parts);
    free(r.text_origins);
    if (t.texts.s)
        g_string_chunk_free(t.texts.s);
    if (st) {
        g_free(t.subject);
    } else {
        *subject = t.subject ? t.subject : g_strdup("");
    }
    return st;
}

claw_status_t
claw_archive_raw(claw_archive_t *a, uint64_t docid, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    MDB_txn *txn;
    claw_status_t st = _claw_read_message_begin(a, docid, &txn);
    if (st)
        return st;
    st = _claw_get_raw(a, txn, docid, data, len);
    _claw_read_end(a, txn);
    return st;
}

claw_status_t
claw_archive_find_id(claw_archive_t *a, const char *id, uint64_t *docids, size_t max, size_t *n)
{
    *n = 0;
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    unsigned char h[32];
    MDB_val k = _claw_key_of(id, h), v;
    if (mdb_cursor_open(txn, a->dbi[DB_CID], &c) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0 && *n < max;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP))
            docids[(*n)++] = _claw_get_be64(v.mv_data);
        mdb_cursor_close(c);
    }
    _claw_read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_archive_find_sha(claw_archive_t *a, const char *hex, uint64_t *docid)
{
    if (strlen(hex) != 64 || !a->have_dbs)
        return CLAW_STATUS_NOT_FOUND;
    unsigned char sha[32];
    _claw_hex_to_bin(hex, sha, 32);
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    rc = _claw_sha_lookup(a, txn, sha, docid);
    _claw_read_end(a, txn);
    return rc == 0 ? CLAW_STATUS_SUCCESS : CLAW_STATUS_NOT_FOUND;
}

claw_status_t
claw_archive_log(claw_archive_t *a, uint64_t after, size_t max,
                 bool (*fn)(void *ctx, uint64_t seq, uint64_t docid), void *ctx)
{
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    unsigned char sk[8];
    _claw_be64(sk, after + 1);
    MDB_val k = {8, sk}, v;
    size_t done = 0;
    if ((rc = mdb_cursor_open(txn, a->dbi[DB_LOG], &c)) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && (!max || done < max);
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), done++)
            if (!fn(ctx, _claw_get_be64(k.mv_data), _claw_get_be64(v.mv_data)))
                break;
        mdb_cursor_close(c);
    }
    _claw_read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_archive_each(claw_archive_t *a, bool (*fn)(void *ctx, uint64_t docid, const char *sha_hex),
                  void *ctx)
{
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    MDB_val k, v;
    if (mdb_cursor_open(txn, a->dbi[DB_META], &c) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            claw_record_t r = {0};
            GStringChunk *s = g_string_chunk_new(256);
            rec_ctx_t rc2 = {&r, s, NULL, NULL, false};
            _claw_record_each(a, txn, &v, _claw_meta_field, &rc2);
            g_string_chunk_free(s);
            if (!fn(ctx, _claw_get_be64(k.mv_data), r.sha256))
                break;
        }
        mdb_cursor_close(c);
    }
    _claw_read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

/* Where this process maps the store (LMDB does not say unless the map is
 * fixed): the mapping of data.mdb's inode at offset 0. */
static bool
find_map(claw_archive_t *a, uintptr_t *start, uintptr_t *end)
{
    mdb_filehandle_t fd;
    struct stat sb;
    if (mdb_env_get_fd(a->env, &fd) != 0 || fstat(fd, &sb) != 0)
        return false;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %lu", &lo, &hi, &off, &ino) == 4 && off == 0 &&
            ino == (unsigned long)sb.st_ino) {
            *start = lo;
            *end = hi;
            found = true;
        }
    }
    fclose(f);
    return found;
}

void
claw_archive_release_pages(claw_archive_t *a)
{
    uintptr_t start, end;
    pthread_rwlock_rdlock(&a->resize); /* the map stays where it is */
    /* A shared file mapping, never written through (no MDB_WRITEMAP): the
     * pages' contents are the file's, whoever reads them next. */
    if (find_map(a, &start, &end))
        madvise((void *)start, end - start, MADV_DONTNEED);
    pthread_rwlock_unlock(&a->resize);
}
