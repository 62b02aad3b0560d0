/* hold.c - legal holds (claw-hold.h): records keyed by id (u64 BE) in the
 * "hold" database, in records.c's tagged form. There are few holds, so a
 * name is found by walking them all. Adding and releasing each append an
 * audit record in their own transaction.
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-hold.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { L_NAME = 1, L_QUERY, L_ADDRESS, L_REASON, L_BY, L_CREATED, L_RELEASED, L_RELEASED_BY };

#define NAME_MAX_LEN 64

/* A hold read back: the public part first, its strings in @strings. */
typedef struct {
    claw_hold_t pub;
    GStringChunk *strings;
} hold_read_t;

static void
hold_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    hold_read_t *r = ctx;
    claw_hold_t *h = &r->pub;
    const char *s = NULL;
    if (tag != L_CREATED && tag != L_RELEASED)
        s = g_string_chunk_insert_len(r->strings, p, (gssize)n);
    switch (tag) {
    case L_NAME: h->name = s; break;
    case L_QUERY: h->query = s; break;
    case L_ADDRESS: h->address = s; break;
    case L_REASON: h->reason = s; break;
    case L_BY: h->by = s; break;
    case L_CREATED: h->created = _claw_rec_num(p, n); break;
    case L_RELEASED: h->released = _claw_rec_num(p, n); break;
    case L_RELEASED_BY: h->released_by = s; break;
    default: break; /* a field of a later version */
    }
}

/* Read hold @id from @v into @r (its strings cleared first); false when
 * it is not a hold. */
static bool
read_hold(claw_archive_t *a, MDB_txn *txn, uint64_t id, const MDB_val *v, hold_read_t *r)
{
    memset(&r->pub, 0, sizeof r->pub);
    g_string_chunk_clear(r->strings);
    r->pub.id = id;
    return _claw_record_each(a, txn, v, hold_field, r) && r->pub.name &&
           (r->pub.query || r->pub.address);
}

static GByteArray *
hold_record(const claw_hold_t *h)
{
    GByteArray *rec = g_byte_array_new();
    _claw_rec_str(rec, L_NAME, h->name);
    _claw_rec_str(rec, L_QUERY, h->query);
    _claw_rec_str(rec, L_ADDRESS, h->address);
    _claw_rec_str(rec, L_REASON, h->reason);
    _claw_rec_str(rec, L_BY, h->by);
    _claw_rec_int(rec, L_CREATED, h->created);
    if (h->released) {
        _claw_rec_int(rec, L_RELEASED, h->released);
        _claw_rec_str(rec, L_RELEASED_BY, h->released_by);
    }
    return rec;
}

/* The hold in force named @name, or with the id @name when it is digits,
 * read into @r; 0, MDB_NOTFOUND, or an LMDB error. */
static int
find_in_force(claw_archive_t *a, MDB_txn *txn, const char *name, hold_read_t *r)
{
    char *end;
    uint64_t by_id = g_ascii_isdigit(name[0]) ? strtoull(name, &end, 10) : 0;
    if (by_id && *end)
        by_id = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, a->dbi[DB_HOLD], &c);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t id = k.mv_size == 8 ? _claw_get_be64(k.mv_data) : 0;
        if (!read_hold(a, txn, id, &v, r) || r->pub.released)
            continue;
        if (by_id ? id == by_id : !strcmp(r->pub.name, name))
            break;
    }
    mdb_cursor_close(c);
    return rc;
}

static bool
name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= NAME_MAX_LEN && !g_ascii_isdigit(name[0]) &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

typedef struct {
    claw_hold_t *hold;
    hold_read_t scratch;
    bool taken; /* a hold in force has the name */
} add_run_t;

static int
add_hold(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    add_run_t *run = ctx;
    claw_hold_t *h = run->hold;
    int rc = find_in_force(a, txn, h->name, &run->scratch);
    if (rc == 0) {
        run->taken = true;
        return MDB_KEYEXIST;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    h->id = _claw_last_key(txn, a->dbi[DB_HOLD]) + 1;
    unsigned char key[8];
    _claw_be64(key, h->id);
    GByteArray *rec = hold_record(h);
    MDB_val k = {8, key}, v = {rec->len, rec->data};
    rc = mdb_put(txn, a->dbi[DB_HOLD], &k, &v, MDB_APPEND);
    g_byte_array_free(rec, TRUE);
    if (rc == 0) {
        char *args = g_strdup_printf("name=%s %s=%s reason=%s", h->name,
                                     h->query ? "query" : "address",
                                     h->query ? h->query : h->address, h->reason ? h->reason : "");
        char *result = g_strdup_printf("hold=%" PRIu64, h->id);
        rc = _claw_audit_append(a, txn, h->by ? h->by : "-", "hold.add", args, result);
        g_free(args);
        g_free(result);
    }
    return rc;
}

claw_status_t
claw_hold_add(claw_archive_t *a, claw_hold_t *hold)
{
    if (!name_ok(hold->name)) {
        _claw_set_error(a, "hold name '%s': 1 to %d letters, digits, '.', '_' or '-', not "
                        "starting with a digit", hold->name ? hold->name : "", NAME_MAX_LEN);
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    if (!hold->query == !hold->address || (hold->query && !*hold->query) ||
        (hold->address && (!strchr(hold->address, '@') || strpbrk(hold->address, " \t\"\\()")))) {
        _claw_set_error(a, "a hold holds a query, or an address (with '@', without spaces, "
                        "quotes or brackets): one of them");
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    if (!a->have_holds) {
        _claw_set_error(a, "%s: this archive has no place for holds (open it for writing)", a->dir);
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    add_run_t run = {hold, {.strings = g_string_chunk_new(128)}, false};
    claw_status_t st = _claw_write(a, "add a hold", add_hold, &run);
    g_string_chunk_free(run.scratch.strings);
    if (run.taken) {
        _claw_set_error(a, "a hold named '%s' is in force already", hold->name);
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    return st;
}

typedef struct {
    const char *which, *by;
    int64_t now;
    hold_read_t r;
    bool missing;
} release_run_t;

static int
release_hold(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    release_run_t *run = ctx;
    int rc = find_in_force(a, txn, run->which, &run->r);
    if (rc == MDB_NOTFOUND)
        run->missing = true;
    if (rc)
        return rc;
    claw_hold_t *h = &run->r.pub;
    h->released = run->now;
    h->released_by = run->by;
    unsigned char key[8];
    _claw_be64(key, h->id);
    GByteArray *rec = hold_record(h);
    MDB_val k = {8, key}, v = {rec->len, rec->data};
    rc = mdb_put(txn, a->dbi[DB_HOLD], &k, &v, 0);
    g_byte_array_free(rec, TRUE);
    if (rc == 0) {
        char *args = g_strdup_printf("hold=%" PRIu64 " name=%s", h->id, h->name);
        rc = _claw_audit_append(a, txn, run->by ? run->by : "-", "hold.release", args, "released");
        g_free(args);
    }
    return rc;
}

claw_status_t
claw_hold_release(claw_archive_t *a, const char *which, const char *by, int64_t now, uint64_t *id)
{
    release_run_t run = {which, by, now, {.strings = g_string_chunk_new(128)}, false};
    claw_status_t st = a->have_holds ? _claw_write(a, "release a hold", release_hold, &run)
                                     : CLAW_STATUS_SUCCESS;
    if (!a->have_holds)
        run.missing = true;
    if (id)
        *id = run.r.pub.id;
    g_string_chunk_free(run.r.strings);
    if (run.missing) {
        _claw_set_error(a, "no hold in force named or numbered '%s'", which);
        return CLAW_STATUS_NOT_FOUND;
    }
    return st;
}

typedef struct {
    hold_read_t r;
    bool (*fn)(void *ctx, const claw_hold_t *hold);
    void *ctx;
} each_run_t;

static bool
each_hold(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx,
          claw_status_t *st)
{
    each_run_t *run = ctx;
    uint64_t id = k->mv_size == 8 ? _claw_get_be64(k->mv_data) : 0;
    if (!read_hold(a, txn, id, v, &run->r)) {
        _claw_set_error(a, "hold %" PRIu64 ": its record is damaged", id);
        *st = CLAW_STATUS_IO_ERROR;
        return false;
    }
    return run->fn(run->ctx, &run->r.pub);
}

claw_status_t
claw_hold_each(claw_archive_t *a, bool (*fn)(void *ctx, const claw_hold_t *hold), void *ctx)
{
    if (!a->have_holds)
        return CLAW_STATUS_SUCCESS; /* a store from before holds: none */
    each_run_t run = {{.strings = g_string_chunk_new(256)}, fn, ctx};
    claw_status_t st = _claw_walk(a, a->dbi[DB_HOLD], NULL, 0, "read the holds", each_hold, &run);
    g_string_chunk_free(run.r.strings);
    return st;
}

char *
claw_hold_query(const claw_hold_t *h)
{
    if (h->query)
        return g_strdup(h->query);
    /* Quoted: an address is one value to every field. */
    const char *a = h->address;
    return g_strdup_printf("from:\"%s\" OR to:\"%s\" OR cc:\"%s\" OR replyto:\"%s\" OR "
                           "rcpt:\"%s\" OR mailfrom:\"%s\"",
                           a, a, a, a, a, a);
}
