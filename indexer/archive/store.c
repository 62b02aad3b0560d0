/* store.c - where a message is committed to LMDB: items prepared by
 * prepare.c go in one write transaction (the group commit), each stored
 * once by SHA-256 however often it is delivered, with its deliveries, the
 * id index and the change log the index follows.
 */
#include "build-config.h"

#include "archive-private.h"

#include <time.h>

uint64_t
_claw_last_key(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t last = 0;
    if (mdb_cursor_open(txn, dbi, &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size >= 8)
            last = _claw_get_be64(k.mv_data);
        mdb_cursor_close(c);
    }
    return last;
}

/* Keys longer than LMDB's limit (511 bytes) are replaced by their hash. */
MDB_val
_claw_key_of(const char *s, unsigned char hash[32])
{
    size_t n = strlen(s);
    if (n <= 64)
        return (MDB_val){n, (void *)s};
    SHA256((const unsigned char *)s, n, hash);
    return (MDB_val){32, hash};
}

/* The info key counting stored messages with verdict @action. */
char *
_claw_action_key(char buf[32], const char *action)
{
    snprintf(buf, 32, "action:%s", action);
    return buf;
}

/* The info counter @name (0 if there is none). */
uint64_t
_claw_info_get(MDB_txn *txn, MDB_dbi dbi, const char *name)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8)
        return _claw_get_be64(v.mv_data);
    return 0;
}

int
_claw_info_add(MDB_txn *txn, MDB_dbi dbi, const char *name, int64_t delta)
{
    unsigned char b[8];
    _claw_be64(b, _claw_info_get(txn, dbi, name) + (uint64_t)delta);
    MDB_val k = {strlen(name), (void *)name}, v = {8, b};
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* The compressed messages are one byte stream, cut into pieces keyed by
 * their number: two pieces fill a leaf page exactly (an 8-byte key and
 * 2022 bytes make LMDB's largest node that is not moved to an overflow
 * page), so the store holds the compressed bytes with almost no slack.
 * loc gives each message's offset and length in the stream. */
#define PIECE 2022

static int
put_blob(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8], const GByteArray *blob)
{
    /* Where the stream ends: the last piece's number and length. */
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, a->dbi[DB_BLOB], &c);
    if (rc)
        return rc;
    MDB_val k, v;
    uint64_t end = 0;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0 && (k.mv_size != 8 || v.mv_size > PIECE))
        rc = MDB_CORRUPTED;
    if (rc == 0)
        end = _claw_get_be64(k.mv_data) * PIECE + v.mv_size;
    else if (rc == MDB_NOTFOUND)
        rc = 0;
    /* A partial last piece is filled up in place (the cursor is on it),
     * then whole pieces are appended. Key and value are our own copies:
     * LMDB moves the page's nodes while it resizes one, and a key pointing
     * into the page would be copied over itself (ASan caught that). In
     * place, not deleted and appended again: that left pages 70% full. */
    unsigned char buf[PIECE];
    size_t have = 0;
    if (rc == 0 && end % PIECE) {
        have = v.mv_size;
        memcpy(buf, v.mv_data, have);
    }
    const unsigned char *p = blob->data;
    size_t left = blob->len;
    for (uint64_t next = end / PIECE; rc == 0 && left; next++, have = 0) {
        unsigned char key[8];
        _claw_be64(key, next);
        size_t take = PIECE - have < left ? PIECE - have : left;
        memcpy(buf + have, p, take);
        MDB_val nk = {8, key}, nv = {have + take, buf};
        rc = mdb_cursor_put(c, &nk, &nv, have ? MDB_CURRENT : MDB_APPEND);
        p += take;
        left -= take;
    }
    mdb_cursor_close(c);
    if (rc)
        return rc;
    unsigned char loc[12];
    _claw_be64(loc, end);
    _claw_be32(loc + 8, blob->len);
    k = (MDB_val){8, (void *)dk};
    v = (MDB_val){12, loc};
    return mdb_put(txn, a->dbi[DB_LOC], &k, &v, MDB_APPEND);
}

int
_claw_each_run(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8],
               bool (*fn)(void *ctx, const claw_run_t *run), void *ctx, size_t *total)
{
    MDB_val k = {8, (void *)dk}, v;
    int rc = mdb_get(txn, a->dbi[DB_LOC], &k, &v);
    if (rc)
        return rc;
    if (v.mv_size != 12)
        return MDB_CORRUPTED;
    uint64_t off = _claw_get_be64(v.mv_data);
    size_t left = _claw_get_be32((const unsigned char *)v.mv_data + 8);
    *total = left;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, a->dbi[DB_BLOB], &c)))
        return rc;
    unsigned char key[8];
    uint64_t n = off / PIECE;
    _claw_be64(key, n);
    k = (MDB_val){8, key};
    size_t skip = off % PIECE;
    for (MDB_cursor_op op = MDB_SET_KEY; left; op = MDB_NEXT, skip = 0) {
        if ((rc = mdb_cursor_get(c, &k, &v, op)))
            break;
        if (k.mv_size != 8 || _claw_get_be64(k.mv_data) != n++ || v.mv_size <= skip) {
            rc = MDB_CORRUPTED; /* a missing or short piece */
            break;
        }
        size_t m = MIN(v.mv_size - skip, left);
        left -= m;
        claw_run_t run = {n - 1, skip, (const unsigned char *)v.mv_data + skip, m, left == 0};
        if (!fn(ctx, &run))
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

static bool
append_run(void *ctx, const claw_run_t *run)
{
    g_byte_array_append(ctx, run->p, (guint)run->n);
    return true;
}

/* Message @dk's compressed bytes from the stream (g_byte_array_unref). */
int
_claw_get_blob(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8], GByteArray **out)
{
    GByteArray *b = g_byte_array_new();
    size_t len = 0;
    int rc = _claw_each_run(a, txn, dk, append_run, b, &len);
    if (rc == 0 && b->len != len)
        rc = MDB_CORRUPTED;
    if (rc) {
        g_byte_array_unref(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* What the lookup reads of a candidate's meta record. */
typedef struct {
    unsigned char sha[32];
    char id[CLAW_ID_SIZE];
} sha_id_t;

static void
sha_id_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    sha_id_t *f = ctx;
    if (tag == T_SHA && n == 32)
        memcpy(f->sha, p, 32);
    else if (tag == T_ID && n == CLAW_ID_SIZE - 1)
        memcpy(f->id, p, n);
}

/* The message whose raw bytes hash to @sha. The sha table is keyed by the
 * hash's first 8 bytes (each entry is a third of what the whole hash would
 * take) with the docids that share them as duplicates; the meta record of
 * each candidate holds the whole hash. With @id (CLAW_ID_SIZE bytes), also
 * the id the message was stored under. */
static int
sha_lookup(claw_archive_t *a, MDB_txn *txn, const unsigned char sha[32], uint64_t *docid,
           char *id)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, a->dbi[DB_SHA], &c);
    if (rc)
        return rc;
    MDB_val k = {8, (void *)sha}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
        if (v.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        MDB_val mk = {8, v.mv_data}, mv;
        sha_id_t f = {{0}, {0}};
        if (mdb_get(txn, a->dbi[DB_META], &mk, &mv) == 0) {
            _claw_record_each(a, txn, &mv, sha_id_field, &f);
            if (memcmp(f.sha, sha, 32) == 0) {
                *docid = _claw_get_be64(v.mv_data);
                if (id && f.id[0])
                    memcpy(id, f.id, CLAW_ID_SIZE);
                break;
            }
        }
    }
    mdb_cursor_close(c);
    return rc;
}

int
_claw_sha_lookup(claw_archive_t *a, MDB_txn *txn, const unsigned char sha[32], uint64_t *docid)
{
    return sha_lookup(a, txn, sha, docid, NULL);
}

int
_claw_store_one(claw_archive_t *a, MDB_txn *txn, claw_item_t *it, uint64_t *next_docid,
          uint64_t *next_seq)
{
    MDB_val k, v;
    unsigned char dk[8], sk[8];
    uint64_t docid = 0;
    /* A message stored before keeps the id it was stored under: the reply
     * names that one, not the id made for this copy. */
    int rc = sha_lookup(a, txn, it->sha, &docid, it->id);
    bool is_new = rc == MDB_NOTFOUND;
    if (rc && !is_new)
        return rc;
    if (is_new)
        docid = (*next_docid)++;
    _claw_be64(dk, docid);

    /* The deliveries of this message (docid + n) so far: is this one among
     * them (the MTA retrying after a lost 250)? An envelope record is the
     * delivery's identity (envid) followed by its source and time. A
     * message has a delivery or two, so they are simply read. */
    uint32_t n = 0;
    if (!is_new) {
        MDB_cursor *c;
        if ((rc = mdb_cursor_open(txn, a->dbi[DB_ENV], &c)))
            return rc;
        unsigned char probe[12] = {0};
        memcpy(probe, dk, 8);
        MDB_val pk = {12, probe}, pv;
        bool same = false;
        for (rc = mdb_cursor_get(c, &pk, &pv, MDB_SET_RANGE);
             rc == 0 && pk.mv_size == 12 && memcmp(pk.mv_data, dk, 8) == 0 && !same;
             rc = mdb_cursor_get(c, &pk, &pv, MDB_NEXT)) {
            n = _claw_get_be32((const unsigned char *)pk.mv_data + 8) + 1;
            MDB_val pl;
            void *buf;
            if (!_claw_record_plain(a, txn, &pv, &pl, &buf)) {
                rc = MDB_CORRUPTED;
                break;
            }
            const unsigned char *e = pl.mv_data;
            size_t el = it->envid->len;
            same = pl.mv_size >= el && memcmp(e, it->envid->data, el) == 0 &&
                   (pl.mv_size == el || e[el] == T_SOURCE || e[el] == T_TIME);
            g_free(buf);
        }
        mdb_cursor_close(c);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        if (same) {
            it->outcome = CLAW_ITEM_DUPLICATE;
            it->docid = docid;
            return 0;
        }
    }

    /* Keys that only grow (docids, pieces, the log) go in with MDB_APPEND:
     * LMDB then fills each page instead of splitting it in two. */
    if (is_new) {
        if ((rc = put_blob(a, txn, dk, it->blob)))
            return rc;
        k = (MDB_val){8, it->sha};
        v = (MDB_val){8, dk};
        if ((rc = mdb_put(txn, a->dbi[DB_SHA], &k, &v, 0)))
            return rc;
        k = (MDB_val){8, dk};
        v = (MDB_val){it->meta->len, it->meta->data};
        if ((rc = mdb_put(txn, a->dbi[DB_META], &k, &v, MDB_APPEND)))
            return rc;
        unsigned char h[32];
        k = _claw_key_of(it->id, h);
        v = (MDB_val){8, dk};
        if ((rc = mdb_put(txn, a->dbi[DB_CID], &k, &v, 0)) && rc != MDB_KEYEXIST)
            return rc;
        if ((rc = _claw_info_add(txn, a->dbi[DB_INFO], "raw_bytes", (int64_t)it->raw_size)) ||
            (rc = _claw_info_add(txn, a->dbi[DB_INFO], "stored_bytes", (int64_t)it->blob->len)))
            return rc;
        char an[32];
        if ((rc = _claw_info_add(txn, a->dbi[DB_INFO], _claw_action_key(an, it->action), 1)))
            return rc;
        if (it->withheld && (rc = _claw_quarantine_at_reception(a, txn, docid, time(NULL))))
            return rc;
    }
    /* The delivery: after the last one of this message. */
    unsigned char ekey[12];
    memcpy(ekey, dk, 8);
    _claw_be32(ekey + 8, n);
    k = (MDB_val){12, ekey};
    v = (MDB_val){it->env->len, it->env->data};
    if ((rc = mdb_put(txn, a->dbi[DB_ENV], &k, &v, is_new ? MDB_APPEND : 0)))
        return rc;

    uint64_t seq = (*next_seq)++;
    _claw_be64(sk, seq);
    k = (MDB_val){8, sk};
    v = (MDB_val){8, dk};
    if ((rc = mdb_put(txn, a->dbi[DB_LOG], &k, &v, MDB_APPEND)))
        return rc;
    it->outcome = is_new ? CLAW_ITEM_NEW : CLAW_ITEM_NEW_DELIVERY;
    it->docid = docid;
    it->seq = seq;
    return 0;
}

/* Test-only: CLAW_TEST_CRASH=before:N or after:N ends the process (as
 * kill -9 would) right before or right after its Nth commit, for the
 * crash-safety tests. */
void
_claw_test_crash(const char *when, unsigned commits_done)
{
    static int phase = -1; /* -1 unread, 0 off, 1 before, 2 after */
    static unsigned at;
    if (phase < 0) {
        const char *e = getenv("CLAW_TEST_CRASH");
        char w[8];
        phase = 0;
        if (e && sscanf(e, "%7[a-z]:%u", w, &at) == 2 && at > 0)
            phase = !strcmp(w, "before") ? 1 : !strcmp(w, "after") ? 2 : 0;
    }
    if (phase && commits_done + 1 == at && phase == (!strcmp(when, "before") ? 1 : 2))
        _exit(137);
}

typedef struct {
    claw_item_t *const *items;
    size_t n;
    uint64_t next_docid;
} store_run_t;

static int
store_items(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    store_run_t *r = ctx;
    for (size_t i = 0; i < r->n; i++)
        r->items[i]->outcome = CLAW_ITEM_PENDING; /* a try again after the map grew */
    /* After the last message ever stored: an erased one keeps its docid
     * (its tombstone, and the index's empty document, have it). */
    r->next_docid = _claw_last_key(txn, a->dbi[DB_META]) + 1;
    if (a->have_purge)
        r->next_docid = MAX(r->next_docid, _claw_last_key(txn, a->dbi[DB_STATE]) + 1);
    uint64_t next_seq = _claw_last_key(txn, a->dbi[DB_LOG]) + 1;
    int rc = 0;
    for (size_t i = 0; i < r->n && rc == 0; i++)
        rc = _claw_store_one(a, txn, r->items[i], &r->next_docid, &next_seq);
    if (rc == 0)
        _claw_test_crash("before", a->commits);
    return rc;
}

claw_status_t
claw_archive_store(claw_archive_t *a, claw_item_t *const *items, size_t n)
{
    store_run_t r = {items, n, 0};
    claw_status_t st = _claw_write(a, "store", store_items, &r);
    if (st) {
        for (size_t i = 0; i < n; i++)
            items[i]->outcome = CLAW_ITEM_PENDING;
        return st;
    }
    _claw_test_crash("after", a->commits++);
    _claw_maybe_train(a, r.next_docid - 1);
    return CLAW_STATUS_SUCCESS;
}
