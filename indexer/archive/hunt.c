/* hunt.c - hunt records (claw-ioc.h): a hunt in DB_HUNT under its id (8
 * bytes, big-endian), a record of tagged fields as an indicator's is; each
 * message it found in DB_HUNT_HIT under the hunt's id and the message's
 * docid (16 bytes), so a hunt's hits are one range of keys, by docid.
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-ioc.h"

#include <inttypes.h>

enum { H_IOC = 1, H_TYPE, H_VALUE, H_BY, H_STARTED, H_FINISHED, H_MATCHES };

/* A hunt read back: the public part first, its strings in @strings. */
typedef struct {
    claw_hunt_t pub;
    GStringChunk *strings;
} hunt_read_t;

void
claw_hunt_free(claw_hunt_t *hunt)
{
    if (!hunt)
        return;
    g_string_chunk_free(((hunt_read_t *)hunt)->strings);
    g_free(hunt);
}

static void
hunt_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    hunt_read_t *r = ctx;
    claw_hunt_t *h = &r->pub;
    switch (tag) {
    case H_IOC: h->ioc_id = (uint64_t)_claw_rec_num(p, n); break;
    case H_TYPE: h->type = g_string_chunk_insert_len(r->strings, p, (gssize)n); break;
    case H_VALUE: h->value = g_string_chunk_insert_len(r->strings, p, (gssize)n); break;
    case H_BY: h->by = g_string_chunk_insert_len(r->strings, p, (gssize)n); break;
    case H_STARTED: h->started = _claw_rec_num(p, n); break;
    case H_FINISHED: h->finished = _claw_rec_num(p, n); break;
    case H_MATCHES: h->matches = (uint64_t)_claw_rec_num(p, n); break;
    default: break; /* a field of a later version */
    }
}

static hunt_read_t *
read_hunt(claw_archive_t *a, MDB_txn *txn, uint64_t id, const MDB_val *v)
{
    hunt_read_t *r = g_new0(hunt_read_t, 1);
    r->strings = g_string_chunk_new(128);
    r->pub.id = id;
    if (!_claw_record_each(a, txn, v, hunt_field, r) || !r->pub.type || !r->pub.value) {
        claw_hunt_free(&r->pub);
        return NULL;
    }
    return r;
}

typedef struct {
    claw_hunt_t *hunt;
    const uint64_t *docids;
    const char *const *wheres;
    size_t n;
} record_run_t;

static int
record_hunt(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    record_run_t *run = ctx;
    claw_hunt_t *h = run->hunt;
    h->id = _claw_last_key(txn, a->dbi[DB_HUNT]) + 1;
    GByteArray *rec = g_byte_array_new();
    _claw_rec_int(rec, H_IOC, (int64_t)h->ioc_id);
    _claw_rec_str(rec, H_TYPE, h->type);
    _claw_rec_str(rec, H_VALUE, h->value);
    if (h->by)
        _claw_rec_str(rec, H_BY, h->by);
    _claw_rec_int(rec, H_STARTED, h->started);
    _claw_rec_int(rec, H_FINISHED, h->finished);
    _claw_rec_int(rec, H_MATCHES, (int64_t)h->matches);
    unsigned char key[16];
    _claw_be64(key, h->id);
    MDB_val k = {8, key}, v = {rec->len, rec->data};
    int rc = mdb_put(txn, a->dbi[DB_HUNT], &k, &v, MDB_APPEND);
    g_byte_array_free(rec, TRUE);
    for (size_t i = 0; i < run->n && rc == 0; i++) {
        _claw_be64(key + 8, run->docids[i]);
        const char *where = run->wheres && run->wheres[i] ? run->wheres[i] : "";
        MDB_val hk = {16, key}, hv = {strlen(where), (void *)where};
        rc = mdb_put(txn, a->dbi[DB_HUNT_HIT], &hk, &hv, 0);
    }
    return rc;
}

claw_status_t
claw_hunt_record(claw_archive_t *a, claw_hunt_t *hunt, const uint64_t *docids,
                 const char *const *wheres, size_t n)
{
    if (!hunt->type || !hunt->value)
        return CLAW_STATUS_INVALID_ARGUMENT;
    record_run_t run = {hunt, docids, wheres, n};
    return _claw_write(a, "record a hunt", record_hunt, &run);
}

static claw_status_t
no_hunts(claw_archive_t *a, uint64_t id)
{
    _claw_set_error(a, "no hunt %" PRIu64, id);
    return CLAW_STATUS_NOT_FOUND;
}

claw_status_t
claw_hunt_get(claw_archive_t *a, uint64_t id, claw_hunt_t **out)
{
    *out = NULL;
    if (!a->have_iocs)
        return no_hunts(a, id);
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "read");
    unsigned char key[8];
    _claw_be64(key, id);
    MDB_val k = {8, key}, v;
    rc = mdb_get(txn, a->dbi[DB_HUNT], &k, &v);
    hunt_read_t *r = rc == 0 ? read_hunt(a, txn, id, &v) : NULL;
    _claw_read_end(a, txn);
    if (rc == MDB_NOTFOUND)
        return no_hunts(a, id);
    if (rc)
        return _claw_mdb_status(a, rc, "read a hunt");
    if (!r) {
        _claw_set_error(a, "hunt %" PRIu64 ": its record is damaged", id);
        return CLAW_STATUS_IO_ERROR;
    }
    *out = &r->pub;
    return CLAW_STATUS_SUCCESS;
}

typedef struct {
    bool (*fn)(void *ctx, const claw_hunt_t *hunt);
    bool (*hit)(void *ctx, uint64_t docid, const char *where);
    void *ctx;
    GString *where;
} each_run_t;

static bool
each_hunt(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx,
          claw_status_t *st)
{
    each_run_t *run = ctx;
    uint64_t id = k->mv_size == 8 ? _claw_get_be64(k->mv_data) : 0;
    hunt_read_t *r = read_hunt(a, txn, id, v);
    if (!r) {
        _claw_set_error(a, "hunt %" PRIu64 ": its record is damaged", id);
        *st = CLAW_STATUS_IO_ERROR;
        return false;
    }
    bool more = run->fn(run->ctx, &r->pub);
    claw_hunt_free(&r->pub);
    return more;
}

claw_status_t
claw_hunt_each(claw_archive_t *a, bool (*fn)(void *ctx, const claw_hunt_t *hunt), void *ctx)
{
    if (!a->have_iocs)
        return CLAW_STATUS_SUCCESS; /* none yet */
    each_run_t run = {.fn = fn, .ctx = ctx};
    return _claw_walk(a, a->dbi[DB_HUNT], NULL, 0, "read the hunts", each_hunt, &run);
}

static bool
each_hit(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx,
         claw_status_t *st)
{
    (void)a, (void)txn, (void)st;
    each_run_t *run = ctx;
    if (k->mv_size != 16)
        return true;
    g_string_truncate(run->where, 0);
    g_string_append_len(run->where, v->mv_data, (gssize)v->mv_size);
    return run->hit(run->ctx, _claw_get_be64((const unsigned char *)k->mv_data + 8),
                    run->where->str);
}

claw_status_t
claw_hunt_each_hit(claw_archive_t *a, uint64_t id,
                   bool (*fn)(void *ctx, uint64_t docid, const char *where), void *ctx)
{
    if (!a->have_iocs)
        return no_hunts(a, id);
    unsigned char key[8];
    _claw_be64(key, id);
    each_run_t run = {.hit = fn, .ctx = ctx, .where = g_string_new(NULL)};
    claw_status_t st = _claw_walk(a, a->dbi[DB_HUNT_HIT], key, 8, "read a hunt", each_hit, &run);
    g_string_free(run.where, TRUE);
    return st;
}
