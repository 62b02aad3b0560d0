/* audit.c - the audit log (claw-audit.h): records keyed by their number
 * (u64 BE) in the "audit" database, each a tagged record (records.c's
 * form, never compressed: its bytes are what is hashed) holding its
 * number, time, actor, action, arguments, result and the SHA-256 of the
 * record before it; the head, in info, is the count and the last record's
 * SHA-256. Appending reads the head and writes both in the caller's write
 * transaction.
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-audit.h"

#include <inttypes.h>
#include <openssl/sha.h>
#include <string.h>

#define AUDIT_HEAD "audit_head" /* info: count (u64 BE) + last SHA-256 */

enum { A_SEQ = 1, A_TIME, A_PREV, A_ACTOR, A_ACTION, A_ARGS, A_RESULT };

static void
hex(const unsigned char *bin, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", bin[i]);
}

/* The head in @txn: count and last hash (zeros when there is none). */
static void
get_head(claw_archive_t *a, MDB_txn *txn, uint64_t *count, unsigned char hash[32])
{
    MDB_val k = {strlen(AUDIT_HEAD), AUDIT_HEAD}, v;
    *count = 0;
    memset(hash, 0, 32);
    if (mdb_get(txn, a->dbi[DB_INFO], &k, &v) == 0 && v.mv_size == 40) {
        *count = _claw_get_be64(v.mv_data);
        memcpy(hash, (const unsigned char *)v.mv_data + 8, 32);
    }
}

int
_claw_audit_append(claw_archive_t *a, MDB_txn *txn, const char *actor, const char *action,
                   const char *args, const char *result)
{
    if (!a->have_audit)
        return MDB_NOTFOUND; /* a store from before the log: read-only */
    uint64_t count;
    unsigned char prev[32];
    get_head(a, txn, &count, prev);
    GByteArray *r = g_byte_array_new();
    _claw_rec_int(r, A_SEQ, (int64_t)(count + 1));
    _claw_rec_int(r, A_TIME, g_get_real_time());
    _claw_rec_add(r, A_PREV, prev, 32);
    _claw_rec_str(r, A_ACTOR, actor);
    _claw_rec_str(r, A_ACTION, action);
    _claw_rec_str(r, A_ARGS, args);
    _claw_rec_str(r, A_RESULT, result);
    unsigned char key[8], head[40];
    _claw_be64(key, count + 1);
    MDB_val k = {8, key}, v = {r->len, r->data};
    int rc = mdb_put(txn, a->dbi[DB_AUDIT], &k, &v, MDB_APPEND);
    if (!rc) {
        _claw_be64(head, count + 1);
        _claw_sha256(r->data, r->len, head + 8);
        MDB_val hk = {strlen(AUDIT_HEAD), AUDIT_HEAD}, hv = {40, head};
        rc = mdb_put(txn, a->dbi[DB_INFO], &hk, &hv, 0);
    }
    g_byte_array_free(r, TRUE);
    return rc;
}

typedef struct {
    const char *actor, *action, *args, *result;
} add_run_t;

static int
add_one(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    add_run_t *r = ctx;
    return _claw_audit_append(a, txn, r->actor, r->action, r->args, r->result);
}

claw_status_t
claw_audit_add(claw_archive_t *a, const char *actor, const char *action, const char *args,
               const char *result)
{
    add_run_t r = {actor, action, args, result};
    return _claw_write(a, "record in the audit log", add_one, &r);
}

/* A record read back: its fields point into @strings. */
typedef struct {
    claw_audit_t pub;
    bool has_seq, has_prev;
    GStringChunk *strings;
} audit_read_t;

static void
audit_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    audit_read_t *r = ctx;
    switch (tag) {
    case A_SEQ:
        r->pub.seq = (uint64_t)_claw_rec_num(p, n);
        r->has_seq = true;
        break;
    case A_TIME:
        r->pub.time_us = _claw_rec_num(p, n);
        break;
    case A_PREV:
        if (n == 32) {
            hex((const unsigned char *)p, r->pub.prev);
            r->has_prev = true;
        }
        break;
    case A_ACTOR:
        r->pub.actor = g_string_chunk_insert_len(r->strings, p, (gssize)n);
        break;
    case A_ACTION:
        r->pub.action = g_string_chunk_insert_len(r->strings, p, (gssize)n);
        break;
    case A_ARGS:
        r->pub.args = g_string_chunk_insert_len(r->strings, p, (gssize)n);
        break;
    case A_RESULT:
        r->pub.result = g_string_chunk_insert_len(r->strings, p, (gssize)n);
        break;
    default:
        break;
    }
}

/* Read the record in @v; false when it is not one. */
static bool
read_record(claw_archive_t *a, MDB_txn *txn, const MDB_val *v, audit_read_t *r)
{
    memset(&r->pub, 0, sizeof r->pub);
    r->has_seq = r->has_prev = false;
    g_string_chunk_clear(r->strings);
    r->pub.actor = r->pub.action = r->pub.args = r->pub.result = "";
    if (v->mv_size == 0 || ((const unsigned char *)v->mv_data)[0] == RECORD_PACKED ||
        !_claw_record_each(a, txn, v, audit_field, r) || !r->has_seq || !r->has_prev)
        return false;
    unsigned char h[32];
    _claw_sha256(v->mv_data, v->mv_size, h);
    hex(h, r->pub.hash);
    return true;
}

typedef struct {
    audit_read_t rec;
    bool (*fn)(void *ctx, const claw_audit_t *r);
    void *ctx;
} each_run_t;

static bool
each_record(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx,
            claw_status_t *st)
{
    each_run_t *run = ctx;
    if (!read_record(a, txn, v, &run->rec)) {
        _claw_set_error(a, "audit record %" PRIu64 ": damaged (claw audit verify)",
                        k->mv_size == 8 ? _claw_get_be64(k->mv_data) : 0);
        *st = CLAW_STATUS_IO_ERROR;
        return false;
    }
    return run->fn(run->ctx, &run->rec.pub);
}

static claw_status_t
walk(claw_archive_t *a, uint64_t from, bool (*fn)(claw_archive_t *, MDB_txn *, const MDB_val *,
                                                    const MDB_val *, void *, claw_status_t *),
     void *ctx)
{
    if (!a->have_audit)
        return CLAW_STATUS_SUCCESS; /* a store from before the log */
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "read the audit log");
    MDB_cursor *c;
    rc = mdb_cursor_open(txn, a->dbi[DB_AUDIT], &c);
    claw_status_t st = CLAW_STATUS_SUCCESS;
    if (!rc) {
        unsigned char key[8];
        _claw_be64(key, from);
        MDB_val k = {8, key}, v;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && !st;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
            if (!fn(a, txn, &k, &v, ctx, &st))
                break;
        mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    _claw_read_end(a, txn);
    if (rc)
        return _claw_mdb_status(a, rc, "read the audit log");
    return st;
}

claw_status_t
claw_audit_each(claw_archive_t *a, uint64_t from, bool (*fn)(void *ctx, const claw_audit_t *r),
                void *ctx)
{
    each_run_t run = {{.strings = g_string_chunk_new(256)}, fn, ctx};
    claw_status_t st = walk(a, from ? from : 1, each_record, &run);
    g_string_chunk_free(run.rec.strings);
    return st;
}

claw_status_t
claw_audit_head(claw_archive_t *a, uint64_t *count, char hash[65])
{
    unsigned char h[32];
    *count = 0;
    memset(h, 0, sizeof h);
    if (a->have_audit) {
        MDB_txn *txn;
        int rc = _claw_read_begin(a, &txn);
        if (rc)
            return _claw_mdb_status(a, rc, "read the audit log's head");
        get_head(a, txn, count, h);
        _claw_read_end(a, txn);
    }
    hex(h, hash);
    return CLAW_STATUS_SUCCESS;
}

typedef struct {
    audit_read_t rec;
    uint64_t expect;  /* the number the next record must have */
    char prev[65];    /* the hash it must name */
    char *bad;
    uint64_t bad_seq;
} verify_run_t;

static bool
verify_record(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx,
              claw_status_t *st)
{
    verify_run_t *run = ctx;
    uint64_t key = k->mv_size == 8 ? _claw_get_be64(k->mv_data) : 0;
    (void)st;
    if (key != run->expect) {
        run->bad_seq = run->expect;
        run->bad = key > run->expect
                       ? g_strdup_printf("record %" PRIu64 " is missing (the next is %" PRIu64 ")",
                                         run->expect, key)
                       : g_strdup_printf("a record keyed %" PRIu64 " where %" PRIu64
                                         " should be", key, run->expect);
        return false;
    }
    if (!read_record(a, txn, v, &run->rec)) {
        run->bad_seq = key;
        run->bad = g_strdup_printf("record %" PRIu64 " is damaged: not an audit record", key);
        return false;
    }
    if (run->rec.pub.seq != key) {
        run->bad_seq = key;
        run->bad = g_strdup_printf("record %" PRIu64 " says it is record %" PRIu64
                                   ": moved, replaced or put in", key, run->rec.pub.seq);
        return false;
    }
    if (strcmp(run->rec.pub.prev, run->prev)) {
        /* The record before was changed, or this one's link to it, or one
         * was put between them: the chain breaks here either way. */
        run->bad_seq = key > 1 ? key - 1 : key;
        run->bad = key > 1 ? g_strdup_printf("record %" PRIu64 " was changed, or what follows it "
                                             "(record %" PRIu64 " does not name its hash)",
                                             key - 1, key)
                           : g_strdup_printf("record 1 names a record before it");
        return false;
    }
    memcpy(run->prev, run->rec.pub.hash, sizeof run->prev);
    run->expect++;
    return true;
}

claw_status_t
claw_audit_verify(claw_archive_t *a, uint64_t *count, char **bad, uint64_t *bad_seq)
{
    *bad = NULL;
    *bad_seq = 0;
    *count = 0;
    verify_run_t run = {{.strings = g_string_chunk_new(256)}, 1, {0}, NULL, 0};
    memset(run.prev, '0', 64);
    claw_status_t st = walk(a, 1, verify_record, &run);
    g_string_chunk_free(run.rec.strings);
    if (st) {
        g_free(run.bad);
        return st;
    }
    uint64_t n = run.expect - 1, head_n;
    char head[65];
    if (!run.bad && (st = claw_audit_head(a, &head_n, head)))
        return st;
    if (!run.bad && (head_n != n || strcmp(head, run.prev))) {
        run.bad_seq = n < head_n ? n + 1 : n > head_n ? head_n + 1 : n;
        run.bad = n < head_n ? g_strdup_printf("the records from %" PRIu64 " on are gone (the "
                                               "head counts %" PRIu64 ")",
                                               n + 1, head_n)
                  : n > head_n ? g_strdup_printf("records after %" PRIu64 " were added outside "
                                                 "the log (the head counts %" PRIu64 ")",
                                                 head_n, head_n)
                               : g_strdup_printf("record %" PRIu64 " (the last) was changed: "
                                                 "the head names another hash", n);
    }
    *count = n;
    if (run.bad) {
        *bad = run.bad;
        *bad_seq = run.bad_seq;
        return CLAW_STATUS_IO_ERROR;
    }
    return CLAW_STATUS_SUCCESS;
}
