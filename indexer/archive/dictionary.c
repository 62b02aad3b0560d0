/* dictionary.c - the compression dictionaries.
 *
 * Mail is many small documents with much in common (header names, MTA
 * and list boilerplate), which zstd alone cannot share between messages.
 * Once the store holds dict_after messages, a thread trains a dictionary
 * on them; later messages are compressed with it and each frame names its
 * dictionary. Dictionaries are never removed.
 *
 * A large dictionary pays: an organisation's mail repeats whole blocks
 * (signatures, disclaimers, list footers, newsletter templates), and the
 * dictionary is what lets one message refer to another's. On the TREC ham
 * (messages 4,000 to 11,000, trained on the first 1,000) the compressed
 * mail is 0.277 of the raw with zstd's usual 110 KiB, 0.236 with 1 MiB and
 * 0.228 with 2 MiB, at the same speed; past that it hardly moves. It is a
 * quarter of the samples at most: fastCover needs more samples than it
 * keeps.
 */
#include "build-config.h"

#include "archive-private.h"

#define DICT_BYTES_MAX (2u << 20)
#define DICT_BYTES_MIN (4u << 10)
#define DICT_SAMPLES 4000
#define DICT_SAMPLE_MAX (32 * 1024)      /* of each message */
#define DICT_SAMPLES_TOTAL (24u << 20)

/* A record as a sample for the records' dictionary, unless it is packed
 * already. */
static void
add_sample(GByteArray *samples, GArray *sizes, const MDB_val *v)
{
    if (v->mv_size && *(const unsigned char *)v->mv_data != RECORD_PACKED) {
        g_byte_array_append(samples, v->mv_data, (guint)v->mv_size);
        g_array_append_val(sizes, v->mv_size);
    }
}

static gpointer
train_main(gpointer data)
{
    claw_archive_t *a = data;
    GByteArray *samples = g_byte_array_new(), *rsamples = g_byte_array_new();
    GArray *sizes = g_array_new(FALSE, FALSE, sizeof(size_t));
    GArray *rsizes = g_array_new(FALSE, FALSE, sizeof(size_t));
    void *dict = NULL, *rdict = NULL;
    const char *why = NULL;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = _claw_read_begin(a, &txn);
    if (rc == 0) {
        /* The messages and their records (meta and envelopes), which are
         * all stored as written so far. */
        if (mdb_cursor_open(txn, a->dbi[DB_META], &c) == 0) {
            MDB_val k, v;
            for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
                 rc == 0 && sizes->len < DICT_SAMPLES && samples->len < DICT_SAMPLES_TOTAL;
                 rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
                char *raw;
                size_t len;
                if (k.mv_size == 8 &&
                    _claw_get_raw(a, txn, _claw_get_be64(k.mv_data), &raw, &len) == CLAW_STATUS_SUCCESS) {
                    size_t n = len < DICT_SAMPLE_MAX ? len : DICT_SAMPLE_MAX;
                    g_byte_array_append(samples, (const guint8 *)raw, (guint)n);
                    g_array_append_val(sizes, n);
                    free(raw);
                }
                add_sample(rsamples, rsizes, &v);
            }
            mdb_cursor_close(c);
        }
        if (mdb_cursor_open(txn, a->dbi[DB_ENV], &c) == 0) {
            MDB_val k, v;
            for (int e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0 && rsizes->len < 2 * DICT_SAMPLES;
                 e = mdb_cursor_get(c, &k, &v, MDB_NEXT))
                add_sample(rsamples, rsizes, &v);
            mdb_cursor_close(c);
        }
        _claw_read_end(a, txn);
    }
    /* The records' dictionary: small, as they are. */
    size_t rn = 0;
    if (rsamples->len >= 8192 && rsizes->len >= 16) {
        ZDICT_fastCover_params_t rp = {.k = 200, .d = 8, .f = 20, .accel = 1, .splitPoint = 1.0};
        rp.zParams.compressionLevel = RECORD_LEVEL;
        size_t rcap = MIN(RDICT_BYTES, rsamples->len / 4);
        rdict = g_malloc(rcap);
        rn = ZDICT_trainFromBuffer_fastCover(rdict, rcap, rsamples->data,
                                             (size_t *)rsizes->data, rsizes->len, rp);
        if (ZDICT_isError(rn)) {
            claw_log(CLAW_LOG_WARNING, NULL, "%s/store: no dictionary for records (%s)", a->dir,
                     ZDICT_getErrorName(rn));
            rn = 0;
        }
    }
    /* fastCover with fixed parameters: a tenth of a second for 1,000
     * messages, within 1% of what searching for the best ones gives. */
    ZDICT_fastCover_params_t p = {.k = 1000, .d = 8, .f = 20, .accel = 1, .splitPoint = 1.0};
    p.zParams.compressionLevel = a->dict_level;
    size_t cap = MIN(DICT_BYTES_MAX, MAX(samples->len / 4, DICT_BYTES_MIN));
    dict = g_malloc(cap);
    size_t n = ZDICT_trainFromBuffer_fastCover(dict, cap, samples->data, (size_t *)sizes->data,
                                               sizes->len, p);
    if (ZDICT_isError(n)) {
        why = ZDICT_getErrorName(n);
        goto out;
    }
    uint32_t id = ZDICT_getDictID(dict, n);
    uint32_t rid = rn ? ZDICT_getDictID(rdict, rn) : 0;
    unsigned char k4[4], rk4[4];
    _claw_be32(k4, id);
    _claw_be32(rk4, rid);
    /* A write transaction of its own, beside the writer's (LMDB takes
     * turns); the map must not be resized while it is open. */
    pthread_rwlock_rdlock(&a->resize);
    rc = mdb_txn_begin(a->env, NULL, 0, &txn);
    if (rc == 0) {
        MDB_val k = {4, "dict"}, v;
        if (mdb_get(txn, a->dbi[DB_INFO], &k, &v) == 0) {
            mdb_txn_abort(txn); /* another process made one first: use it */
        } else {
            MDB_val dk = {4, k4}, dv = {n, dict}, rk = {5, "rdict"}, rdk = {4, rk4},
                    rdv = {rn, rdict}, rv = {4, rk4};
            v = (MDB_val){4, k4};
            if ((rc = mdb_put(txn, a->dbi[DB_DICT], &dk, &dv, MDB_NOOVERWRITE)) ||
                (rc = mdb_put(txn, a->dbi[DB_INFO], &k, &v, 0)) ||
                (rn && rid != id &&
                 ((rc = mdb_put(txn, a->dbi[DB_DICT], &rdk, &rdv, MDB_NOOVERWRITE)) ||
                  (rc = mdb_put(txn, a->dbi[DB_INFO], &rk, &rv, 0)))))
                mdb_txn_abort(txn);
            else
                rc = mdb_txn_commit(txn);
        }
    }
    pthread_rwlock_unlock(&a->resize);
    if (rc == 0 && (rc = _claw_read_begin(a, &txn)) == 0) {
        rc = _claw_load_dict(a, txn);
        _claw_read_end(a, txn);
    }
    if (rc)
        why = mdb_strerror(rc);
    else
        claw_log(CLAW_LOG_INFO, NULL,
                 "%s/store: compressing with dictionary %u, trained on %u messages, and "
                 "records with %u",
                 a->dir, id, sizes->len, rid);
out:
    if (why)
        claw_log(CLAW_LOG_WARNING, NULL,
                 "%s/store: no compression dictionary from %u messages (%s); messages are "
                 "compressed one by one",
                 a->dir, sizes->len, why);
    g_free(dict);
    g_free(rdict);
    g_byte_array_unref(samples);
    g_byte_array_unref(rsamples);
    g_array_free(sizes, TRUE);
    g_array_free(rsizes, TRUE);
    return NULL;
}

/* After a commit: train a dictionary once the store is large enough. */
void
_claw_maybe_train(claw_archive_t *a, uint64_t messages)
{
    g_mutex_lock(&a->dict_lock);
    bool go = a->dict_after && messages >= a->dict_after && !a->dict && !a->training;
    if (go)
        a->training = true; /* once per process: a failure is not retried */
    bool wait = a->bulk;
    g_mutex_unlock(&a->dict_lock);
    if (go && wait)
        train_main(a);
    else if (go)
        a->trainer = g_thread_try_new("claw-dict", train_main, a, NULL);
}

void
claw_archive_set_bulk(claw_archive_t *a, bool bulk)
{
    g_mutex_lock(&a->dict_lock);
    a->bulk = bulk;
    g_mutex_unlock(&a->dict_lock);
}

void
claw_archive_set_dictionary(claw_archive_t *a, uint64_t after, int level)
{
    g_mutex_lock(&a->dict_lock);
    a->dict_after = after;
    a->dict_level = level;
    g_mutex_unlock(&a->dict_lock);
}

uint32_t
claw_archive_dictionary(claw_archive_t *a)
{
    g_mutex_lock(&a->dict_lock);
    uint32_t id = a->dict_id;
    g_mutex_unlock(&a->dict_lock);
    return id;
}
