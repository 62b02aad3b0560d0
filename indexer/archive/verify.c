/* verify.c - the archive's counts (claw stats) and its verification
 * (claw check): every record, piece and key read back and cross-checked.
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-purge.h"

claw_status_t
claw_archive_stats(claw_archive_t *a, claw_archive_stats_t *s)
{
    memset(s, 0, sizeof *s);
    MDB_envinfo info;
    mdb_env_info(a->env, &info);
    s->map_size = info.me_mapsize;
    char *path = g_build_filename(a->dir, "store", "data.mdb", NULL);
    struct stat st;
    if (stat(path, &st) == 0)
        s->file_bytes = (uint64_t)st.st_blocks * 512;
    g_free(path);
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    MDB_stat ms;
    if (mdb_stat(txn, a->dbi[DB_META], &ms) == 0)
        s->messages = ms.ms_entries;
    s->blobs = s->messages;
    if (mdb_stat(txn, a->dbi[DB_ENV], &ms) == 0)
        s->deliveries = ms.ms_entries;
    s->last_seq = _claw_last_key(txn, a->dbi[DB_LOG]);
    s->last_docid = _claw_last_key(txn, a->dbi[DB_META]);
    s->raw_bytes = _claw_info_get(txn, a->dbi[DB_INFO], "raw_bytes");
    s->stored_bytes = _claw_info_get(txn, a->dbi[DB_INFO], "stored_bytes");
    MDB_val rk = {5, "rdict"}, rv;
    if (mdb_get(txn, a->dbi[DB_INFO], &rk, &rv) == 0 && rv.mv_size == 4)
        s->record_dictionary = _claw_get_be32(rv.mv_data);
    /* Counted at store time: stats stay O(1) (claw search asks them). */
    for (int i = 0; i < 4; i++) {
        char an[32];
        s->by_action[i] =
            _claw_info_get(txn, a->dbi[DB_INFO], _claw_action_key(an, claw_action_to_string((claw_action_t)i)));
    }
    _claw_read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

/* The ids: each X-Clawback-Id names one message. Two records under one id
 * are what a forged id makes (a writer that wrote a victim's id into its
 * own message); claw show would give both. */
static void
check_ids(claw_archive_t *a, MDB_txn *txn, void (*fn)(void *ctx, const char *problem), void *ctx,
          uint64_t *n_problems)
{
    MDB_cursor *c;
    MDB_val k, v;
    if (mdb_cursor_open(txn, a->dbi[DB_CID], &c) != 0)
        return;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
        size_t n = 0;
        if (mdb_cursor_count(c, &n) != 0 || n < 2)
            continue;
        claw_record_t *r = NULL;
        uint64_t first = _claw_get_be64(v.mv_data);
        GString *docids = g_string_new(NULL);
        MDB_val dk = k, dv;
        for (int r2 = mdb_cursor_get(c, &dk, &dv, MDB_GET_CURRENT); r2 == 0;
             r2 = mdb_cursor_get(c, &dk, &dv, MDB_NEXT_DUP))
            g_string_append_printf(docids, "%s%" PRIu64, docids->len ? ", " : "",
                                   _claw_get_be64(dv.mv_data));
        _claw_get_record(a, txn, first, 0, &r);
        char msg[1024];
        snprintf(msg, sizeof msg, "id %s: claimed by %zu messages (%s)", r ? r->id : "?",
                 (size_t)n, docids->str);
        fn(ctx, msg);
        (*n_problems)++;
        claw_record_free(r);
        g_string_free(docids, TRUE);
    }
    mdb_cursor_close(c);
}

claw_status_t
claw_archive_verify(claw_archive_t *a, bool deep, void (*fn)(void *ctx, const char *problem),
                    void *ctx, uint64_t *n_problems)
{
    *n_problems = 0;
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    char msg[1024];
#define PROBLEM(...)                                                                              \
    do {                                                                                          \
        snprintf(msg, sizeof msg, __VA_ARGS__);                                                   \
        fn(ctx, msg);                                                                             \
        (*n_problems)++;                                                                          \
    } while (0)
    MDB_val k, v;
    GHashTable *logged = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    GArray *docs = g_array_new(FALSE, FALSE, sizeof(gint64));
    /* The log: every docid it names is stored; every stored one is named. */
    if (mdb_cursor_open(txn, a->dbi[DB_LOG], &c) == 0) {
        uint64_t prev = 0;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            uint64_t seq = _claw_get_be64(k.mv_data);
            if (seq <= prev)
                PROBLEM("log: sequence %" PRIu64 " after %" PRIu64, seq, prev);
            prev = seq;
            gint64 *d = g_new(gint64, 1);
            *d = (gint64)_claw_get_be64(v.mv_data);
            g_array_append_val(docs, *d);
            g_hash_table_add(logged, d);
        }
        mdb_cursor_close(c);
    }
    uint64_t n_meta = 0, by_action[4] = {0};
    if (mdb_cursor_open(txn, a->dbi[DB_META], &c) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            n_meta++;
            gint64 docid = (gint64)_claw_get_be64(k.mv_data);
            claw_record_t r = {0};
            GStringChunk *sc = g_string_chunk_new(256);
            rec_ctx_t rc2 = {&r, sc, NULL, NULL, false};
            if (!_claw_record_each(a, txn, &v, _claw_meta_field, &rc2) || !r.sha256[0])
                PROBLEM("message %" PRId64 ": damaged record", docid);
            for (int i = 0; i < 4; i++)
                if (r.action && !strcmp(r.action, claw_action_to_string((claw_action_t)i)))
                    by_action[i]++;
            g_string_chunk_free(sc);
            if (!g_hash_table_contains(logged, &docid))
                PROBLEM("message %" PRId64 ": not in the log", docid);
            unsigned char sha[32];
            _claw_hex_to_bin(r.sha256, sha, 32);
            uint64_t back = 0;
            if (_claw_sha_lookup(a, txn, sha, &back) != 0 || (gint64)back != docid)
                PROBLEM("message %" PRId64 ": its hash does not lead back to it", docid);
            GByteArray *blob = NULL;
            unsigned char dk[8];
            _claw_be64(dk, (uint64_t)docid);
            if (_claw_get_blob(a, txn, dk, &blob) != 0) {
                PROBLEM("message %" PRId64 ": raw message missing", docid);
            } else if (deep) {
                char *data;
                size_t len;
                MDB_val bv = {blob->len, blob->data};
                if (_claw_decompress(a, txn, &bv, &data, &len) != CLAW_STATUS_SUCCESS) {
                    PROBLEM("message %" PRId64 ": %s", docid, a->error);
                } else {
                    unsigned char h[32];
                    SHA256((unsigned char *)data, len, h);
                    if (memcmp(h, sha, 32) != 0)
                        PROBLEM("message %" PRId64 ": raw message does not match its hash",
                                docid);
                    free(data);
                }
            }
            if (blob)
                g_byte_array_unref(blob);
        }
        mdb_cursor_close(c);
    }
    for (guint i = 0; i < docs->len; i++) {
        unsigned char dk[8];
        _claw_be64(dk, (uint64_t)g_array_index(docs, gint64, i));
        MDB_val mk = {8, dk}, mv;
        int state = CLAW_MSG_ABSENT;
        _claw_msg_state(a, txn, (uint64_t)g_array_index(docs, gint64, i), &state, NULL);
        if (mdb_get(txn, a->dbi[DB_META], &mk, &mv) != 0 && state != CLAW_MSG_ERASED)
            PROBLEM("log names message %" PRId64 ", which is not stored",
                    g_array_index(docs, gint64, i));
    }
    for (int i = 0; i < 4; i++) {
        char an[32];
        _claw_action_key(an, claw_action_to_string((claw_action_t)i));
        uint64_t counted = _claw_info_get(txn, a->dbi[DB_INFO], an);
        if (counted != by_action[i])
            PROBLEM("%s: %" PRIu64 " messages counted, %" PRIu64 " stored", an, counted,
                    by_action[i]);
    }
#undef PROBLEM
    check_ids(a, txn, fn, ctx, n_problems);
    g_hash_table_destroy(logged);
    g_array_free(docs, TRUE);
    _claw_read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_archive_parse(claw_archive_t *a, claw_engine_t *engine, uint64_t docid, claw_message_t **msg,
                   claw_record_t **rec, char **raw, size_t *len)
{
    *msg = NULL;
    *rec = NULL;
    *raw = NULL;
    *len = 0;
    if (!a->have_dbs)
        return CLAW_STATUS_NOT_FOUND;
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    claw_status_t st = _claw_get_record(a, txn, docid, REC_DELIVERIES, rec);
    if (!st)
        st = _claw_get_raw(a, txn, docid, raw, len);
    _claw_read_end(a, txn);
    if (!st && (st = claw_message_parse(engine, *raw, *len, msg)))
        _claw_set_error(a, "message %" PRIu64 ": cannot be parsed (%s)", docid,
                        claw_status_to_string(st));
    if (st) {
        claw_record_free(*rec);
        *rec = NULL;
        free(*raw);
        *raw = NULL;
        *len = 0;
    }
    return st;
}

claw_status_t
claw_archive_doc(claw_archive_t *a, claw_engine_t *engine, const claw_prepare_options_t *opt,
                 uint64_t docid, claw_doc_t **doc)
{
    *doc = NULL;
    claw_record_t *r;
    claw_message_t *msg;
    char *raw;
    size_t len;
    claw_status_t st = claw_archive_parse(a, engine, docid, &msg, &r, &raw, &len);
    claw_msg_state_t state;
    if (st == CLAW_STATUS_NOT_FOUND && !claw_archive_msg_state(a, docid, &state, NULL) &&
        state == CLAW_MSG_ERASED) { /* its document is emptied */
        *doc = claw_doc_empty();
        return *doc ? CLAW_STATUS_SUCCESS : CLAW_STATUS_OUT_OF_MEMORY;
    }
    if (!st) {
        *doc = claw_doc_build(msg, r, raw, len, opt);
        if (!*doc)
            st = CLAW_STATUS_OUT_OF_MEMORY;
    }
    claw_message_destroy(msg);
    free(raw);
    claw_record_free(r);
    return st;
}
