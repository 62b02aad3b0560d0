/* ioc.c - the indicator store (claw-ioc.h): one record per indicator in
 * DB_IOC under its id (8 bytes, big-endian), and its "type:value" in
 * DB_IOC_KEY pointing at that id, so that adding it again finds it. A
 * record is tagged fields, as the messages' records are (records.c).
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-ioc.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    I_TYPE = 1,
    I_VALUE,
    I_GIVEN,
    I_ACTION,
    I_SOURCE,
    I_REASON,
    I_ADDED_BY,
    I_ADDED,
    I_UPDATED,
    I_VALID_FROM,
    I_VALID_UNTIL,
    I_REVOKED,
    I_REVOKED_BY,
    I_CONFIDENCE
};

/* The info counter of changes to the indicators (claw_ioc_changes). */
#define IOC_CHANGES "ioc_changes"

uint64_t
claw_ioc_changes(claw_archive_t *a)
{
    MDB_txn *txn;
    if (_claw_read_begin(a, &txn))
        return 0;
    uint64_t n = _claw_info_get(txn, a->dbi[DB_INFO], IOC_CHANGES);
    _claw_read_end(a, txn);
    return n;
}

bool
claw_ioc_action_known(const char *action)
{
    for (const char *const *a = claw_ioc_actions(); action && *a; a++)
        if (!strcmp(action, *a))
            return true;
    return false;
}

bool
claw_ioc_active(const claw_ioc_t *ioc, int64_t now)
{
    return !ioc->revoked && (!ioc->valid_from || ioc->valid_from <= now) &&
           (!ioc->valid_until || now < ioc->valid_until);
}

/* A record read back: the public part first, its strings in @strings. */
typedef struct {
    claw_ioc_t pub;
    GStringChunk *strings;
} ioc_read_t;

void
claw_ioc_free(claw_ioc_t *ioc)
{
    if (!ioc)
        return;
    g_string_chunk_free(((ioc_read_t *)ioc)->strings);
    g_free(ioc);
}

static void
put_str(GByteArray *r, unsigned tag, const char *s)
{
    if (s)
        _claw_rec_str(r, tag, s);
}

static GByteArray *
ioc_record(const claw_ioc_t *c)
{
    GByteArray *r = g_byte_array_new();
    put_str(r, I_TYPE, c->type);
    put_str(r, I_VALUE, c->value);
    put_str(r, I_GIVEN, c->given);
    put_str(r, I_ACTION, c->action);
    put_str(r, I_SOURCE, c->source);
    put_str(r, I_REASON, c->reason);
    put_str(r, I_ADDED_BY, c->added_by);
    _claw_rec_int(r, I_ADDED, c->added);
    _claw_rec_int(r, I_UPDATED, c->updated);
    _claw_rec_int(r, I_VALID_FROM, c->valid_from);
    _claw_rec_int(r, I_VALID_UNTIL, c->valid_until);
    _claw_rec_int(r, I_REVOKED, c->revoked);
    put_str(r, I_REVOKED_BY, c->revoked_by);
    _claw_rec_int(r, I_CONFIDENCE, c->confidence);
    return r;
}

static void
ioc_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    ioc_read_t *r = ctx;
    claw_ioc_t *c = &r->pub;
    const char **s = NULL;
    int64_t *i = NULL;
    switch (tag) {
    case I_TYPE: s = &c->type; break;
    case I_VALUE: s = &c->value; break;
    case I_GIVEN: s = &c->given; break;
    case I_ACTION: s = &c->action; break;
    case I_SOURCE: s = &c->source; break;
    case I_REASON: s = &c->reason; break;
    case I_ADDED_BY: s = &c->added_by; break;
    case I_REVOKED_BY: s = &c->revoked_by; break;
    case I_ADDED: i = &c->added; break;
    case I_UPDATED: i = &c->updated; break;
    case I_VALID_FROM: i = &c->valid_from; break;
    case I_VALID_UNTIL: i = &c->valid_until; break;
    case I_REVOKED: i = &c->revoked; break;
    case I_CONFIDENCE: c->confidence = (int)_claw_rec_num(p, n); return;
    default: return; /* a field of a later version */
    }
    if (s)
        *s = g_string_chunk_insert_len(r->strings, p, (gssize)n);
    else
        *i = _claw_rec_num(p, n);
}

/* The record under @v (of indicator @id) into a new ioc_read_t, or NULL if
 * it is damaged (no type or value). */
static ioc_read_t *
read_ioc(claw_archive_t *a, MDB_txn *txn, uint64_t id, const MDB_val *v)
{
    ioc_read_t *r = g_new0(ioc_read_t, 1);
    r->strings = g_string_chunk_new(256);
    r->pub.id = id;
    r->pub.confidence = -1;
    if (!_claw_record_each(a, txn, v, ioc_field, r) || !r->pub.type || !r->pub.value) {
        claw_ioc_free(&r->pub);
        return NULL;
    }
    return r;
}

/* DB_IOC_KEY's key for @type and @value: "type:value" in @buf (a long one
 * hashed into @hash, as _claw_key_of does). */
static MDB_val
key_of(const char *type, const char *value, GString *buf, unsigned char hash[32])
{
    g_string_printf(buf, "%s:%s", type, value);
    return _claw_key_of(buf->str, hash);
}

static bool
same_str(const char *x, const char *y)
{
    return x == y || (x && y && !strcmp(x, y));
}

/* Do @x and @y say the same (all but when they were updated)? */
static bool
same_ioc(const claw_ioc_t *x, const claw_ioc_t *y)
{
    return same_str(x->given, y->given) && same_str(x->action, y->action) &&
           same_str(x->source, y->source) && same_str(x->reason, y->reason) &&
           x->valid_from == y->valid_from && x->valid_until == y->valid_until &&
           x->revoked == y->revoked && x->confidence == y->confidence;
}

/* Write @c's record under its id, and its key @k pointing at it. */
static int
put_record(claw_archive_t *a, MDB_txn *txn, const claw_ioc_t *c, MDB_val *k)
{
    unsigned char idk[8];
    _claw_be64(idk, c->id);
    GByteArray *rec = ioc_record(c);
    MDB_val ik = {8, idk}, rv = {rec->len, rec->data}, iv = {8, idk};
    int rc = mdb_put(txn, a->dbi[DB_IOC], &ik, &rv, 0);
    if (!rc)
        rc = mdb_put(txn, a->dbi[DB_IOC_KEY], k, &iv, 0);
    g_byte_array_free(rec, TRUE);
    return rc;
}

typedef struct {
    claw_ioc_t *const *iocs;
    size_t n;
    int64_t now;
    claw_ioc_put_counts_t counts;
} put_run_t;

static int
put_iocs(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    put_run_t *run = ctx;
    run->counts = (claw_ioc_put_counts_t){0, 0, 0, 0};
    uint64_t next = _claw_last_key(txn, a->dbi[DB_IOC]) + 1;
    GString *kb = g_string_new(NULL);
    int rc = 0;
    /* The same indicator twice in one batch (a feed's event adds it, a
     * later one deletes it): the last word stands, alone, so that pulling
     * the same feed again changes nothing. */
    GHashTable *last = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; i < run->n; i++)
        g_hash_table_insert(last, g_strconcat(run->iocs[i]->type, ":", run->iocs[i]->value, NULL),
                            GSIZE_TO_POINTER(i + 1));
    for (size_t i = 0; i < run->n && rc == 0; i++) {
        g_string_printf(kb, "%s:%s", run->iocs[i]->type, run->iocs[i]->value);
        if (GPOINTER_TO_SIZE(g_hash_table_lookup(last, kb->str)) != i + 1)
            continue;
        claw_ioc_t c = *run->iocs[i];
        unsigned char hash[32], idk[8];
        MDB_val k = key_of(c.type, c.value, kb, hash), v;
        ioc_read_t *old = NULL;
        rc = mdb_get(txn, a->dbi[DB_IOC_KEY], &k, &v);
        if (rc == 0 && v.mv_size == 8) {
            c.id = _claw_get_be64(v.mv_data);
            _claw_be64(idk, c.id);
            MDB_val ik = {8, idk}, iv;
            if (mdb_get(txn, a->dbi[DB_IOC], &ik, &iv) == 0)
                old = read_ioc(a, txn, c.id, &iv);
        } else if (rc != 0 && rc != MDB_NOTFOUND) {
            break;
        }
        rc = 0;
        /* A feed speaks for its own indicators only: its deletion does not
         * revoke one that came from elsewhere, and pulling it again does
         * not undo a revocation made by someone else (an analyst's). */
        bool feed = c.source && g_str_has_prefix(c.source, "feed:");
        if (old && feed &&
            (c.revoked ? !same_str(old->pub.source, c.source)
                       : old->pub.revoked && !same_str(old->pub.revoked_by, c.source))) {
            run->counts.unchanged++;
            run->iocs[i]->id = old->pub.id;
            claw_ioc_free(&old->pub);
            continue;
        }
        if (c.revoked) {
            /* Revoked by its source (a feed's deleted attribute): one not
             * there is not made, one revoked already stays as it was. */
            if (old && !old->pub.revoked) {
                old->pub.revoked = run->now;
                old->pub.revoked_by = c.revoked_by ? c.revoked_by : c.source;
                old->pub.updated = run->now;
                rc = put_record(a, txn, &old->pub, &k);
                run->counts.revoked++;
            }
            run->iocs[i]->id = old ? old->pub.id : 0;
            if (old)
                claw_ioc_free(&old->pub);
            continue;
        }
        const claw_ioc_t *was = old ? &old->pub : &(claw_ioc_t){.action = "block"};
        if (old) {
            c.added = was->added;
            c.added_by = was->added_by;
        } else {
            c.id = next++;
            c.added = run->now;
            run->counts.added++;
        }
        c.action = c.action ? c.action : was->action;
        c.source = c.source ? c.source : was->source;
        c.reason = c.reason ? c.reason : was->reason;
        c.valid_from = c.valid_from == CLAW_IOC_KEEP ? was->valid_from : c.valid_from;
        c.valid_until = c.valid_until == CLAW_IOC_KEEP ? was->valid_until : c.valid_until;
        c.confidence = c.confidence == CLAW_IOC_KEEP_CONFIDENCE
                           ? (old ? was->confidence : -1)
                           : c.confidence;
        c.revoked = 0;
        c.revoked_by = NULL;
        /* The same again (a feed pulled every hour) is no change: not
         * written, not hunted again, not published again. */
        if (old && same_ioc(&c, was)) {
            run->counts.unchanged++;
        } else {
            c.updated = run->now;
            run->counts.updated += old != NULL;
            rc = put_record(a, txn, &c, &k);
        }
        if (old)
            claw_ioc_free(&old->pub);
        run->iocs[i]->id = c.id;
    }
    /* Each earlier one has the id of the one that stood. */
    for (size_t i = 0; i < run->n && rc == 0; i++) {
        g_string_printf(kb, "%s:%s", run->iocs[i]->type, run->iocs[i]->value);
        size_t stood = GPOINTER_TO_SIZE(g_hash_table_lookup(last, kb->str)) - 1;
        run->iocs[i]->id = run->iocs[stood]->id;
    }
    g_hash_table_destroy(last);
    g_string_free(kb, TRUE);
    bool changed = run->counts.added || run->counts.updated || run->counts.revoked;
    /* Recorded when something changed: a feed pulled again to no effect
     * did nothing to the archive. */
    if (rc == 0 && changed) {
        const claw_ioc_t *first = run->iocs[0];
        const claw_ioc_put_counts_t *n = &run->counts;
        char *args = g_strdup_printf("indicators=%zu source=%s first=%s:%s", run->n,
                                     first->source ? first->source : "-", first->type,
                                     first->value);
        char *result = g_strdup_printf("added=%zu updated=%zu revoked=%zu unchanged=%zu",
                                       n->added, n->updated, n->revoked, n->unchanged);
        rc = _claw_audit_append(a, txn, first->added_by ? first->added_by : "-", "ioc.put", args,
                                result);
        g_free(args);
        g_free(result);
    }
    return rc || !changed ? rc : _claw_info_add(txn, a->dbi[DB_INFO], IOC_CHANGES, 1);
}

static claw_status_t
need_iocs(claw_archive_t *a)
{
    if (a->have_iocs)
        return CLAW_STATUS_SUCCESS;
    _claw_set_error(a, "%s: this archive has no indicators yet", a->dir);
    return CLAW_STATUS_NOT_FOUND;
}

claw_status_t
claw_ioc_put(claw_archive_t *a, claw_ioc_t *const *iocs, size_t n, int64_t now,
             claw_ioc_put_counts_t *counts)
{
    for (size_t i = 0; i < n; i++)
        if (!iocs[i]->type || !iocs[i]->value || !*iocs[i]->value ||
            (iocs[i]->action && !claw_ioc_action_known(iocs[i]->action)))
            return CLAW_STATUS_INVALID_ARGUMENT;
    put_run_t run = {iocs, n, now, {0, 0, 0, 0}};
    claw_status_t st = _claw_write(a, "add indicators", put_iocs, &run);
    if (!st && counts)
        *counts = run.counts;
    return st;
}

typedef struct {
    uint64_t id;
    const char *by;
    int64_t now;
} revoke_run_t;

static int
revoke_ioc(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    revoke_run_t *run = ctx;
    unsigned char idk[8];
    _claw_be64(idk, run->id);
    MDB_val k = {8, idk}, v;
    int rc = mdb_get(txn, a->dbi[DB_IOC], &k, &v);
    if (rc)
        return rc;
    ioc_read_t *r = read_ioc(a, txn, run->id, &v);
    if (!r)
        return MDB_CORRUPTED;
    bool was_revoked = r->pub.revoked != 0;
    if (!was_revoked) {
        r->pub.revoked = run->now;
        r->pub.revoked_by = run->by;
        r->pub.updated = run->now;
        GByteArray *rec = ioc_record(&r->pub);
        MDB_val rv = {rec->len, rec->data};
        rc = mdb_put(txn, a->dbi[DB_IOC], &k, &rv, 0);
        g_byte_array_free(rec, TRUE);
        if (!rc)
            rc = _claw_info_add(txn, a->dbi[DB_INFO], IOC_CHANGES, 1);
        char args[96];
        snprintf(args, sizeof args, "id=%" PRIu64 " %s:%s", run->id, r->pub.type, r->pub.value);
        if (!rc)
            rc = _claw_audit_append(a, txn, run->by ? run->by : "-", "ioc.revoke", args, "revoked");
    }
    claw_ioc_free(&r->pub);
    return rc;
}

claw_status_t
claw_ioc_revoke(claw_archive_t *a, uint64_t id, const char *by, int64_t now)
{
    claw_ioc_t *there;
    claw_status_t st = claw_ioc_get(a, id, &there); /* NOT_FOUND says so */
    if (st)
        return st;
    claw_ioc_free(there);
    revoke_run_t run = {id, by, now};
    return _claw_write(a, "revoke an indicator", revoke_ioc, &run);
}

claw_status_t
claw_ioc_find(claw_archive_t *a, const char *type, const char *value, uint64_t *id)
{
    claw_status_t st = need_iocs(a);
    if (st)
        return st;
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "read");
    GString *kb = g_string_new(NULL);
    unsigned char hash[32];
    MDB_val k = key_of(type, value, kb, hash), v;
    rc = mdb_get(txn, a->dbi[DB_IOC_KEY], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        *id = _claw_get_be64(v.mv_data);
    _claw_read_end(a, txn);
    g_string_free(kb, TRUE);
    if (rc == MDB_NOTFOUND) {
        _claw_set_error(a, "no indicator %s:%s", type, value);
        return CLAW_STATUS_NOT_FOUND;
    }
    return rc ? _claw_mdb_status(a, rc, "find an indicator") : CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_ioc_get(claw_archive_t *a, uint64_t id, claw_ioc_t **out)
{
    *out = NULL;
    claw_status_t st = need_iocs(a);
    if (st)
        return st;
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "read");
    unsigned char idk[8];
    _claw_be64(idk, id);
    MDB_val k = {8, idk}, v;
    rc = mdb_get(txn, a->dbi[DB_IOC], &k, &v);
    ioc_read_t *r = rc == 0 ? read_ioc(a, txn, id, &v) : NULL;
    _claw_read_end(a, txn);
    if (rc == MDB_NOTFOUND) {
        _claw_set_error(a, "no indicator %" PRIu64, id);
        return CLAW_STATUS_NOT_FOUND;
    }
    if (rc)
        return _claw_mdb_status(a, rc, "read an indicator");
    if (!r) {
        _claw_set_error(a, "indicator %" PRIu64 ": its record is damaged", id);
        return CLAW_STATUS_IO_ERROR;
    }
    *out = &r->pub;
    return CLAW_STATUS_SUCCESS;
}

typedef struct {
    bool (*fn)(void *ctx, const claw_ioc_t *ioc);
    void *ctx;
} each_run_t;

static bool
each_ioc(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx,
         claw_status_t *st)
{
    each_run_t *run = ctx;
    uint64_t id = k->mv_size == 8 ? _claw_get_be64(k->mv_data) : 0;
    ioc_read_t *r = read_ioc(a, txn, id, v);
    if (!r) {
        _claw_set_error(a, "indicator %" PRIu64 ": its record is damaged", id);
        *st = CLAW_STATUS_IO_ERROR;
        return false;
    }
    bool more = run->fn(run->ctx, &r->pub);
    claw_ioc_free(&r->pub);
    return more;
}

claw_status_t
claw_ioc_each(claw_archive_t *a, bool (*fn)(void *ctx, const claw_ioc_t *ioc), void *ctx)
{
    if (!a->have_iocs)
        return CLAW_STATUS_SUCCESS; /* none yet */
    each_run_t run = {fn, ctx};
    return _claw_walk(a, a->dbi[DB_IOC], NULL, 0, "read the indicators", each_ioc, &run);
}

typedef struct {
    FILE *f;
    int64_t now, next;
    size_t count;
} publish_run_t;

static bool
publish_one(void *ctx, const claw_ioc_t *c)
{
    publish_run_t *p = ctx;
    for (int64_t t = 0, i = 0; i < 2; i++) {
        t = i ? c->valid_until : c->valid_from;
        if (!c->revoked && t > p->now && (!p->next || t < p->next))
            p->next = t;
    }
    /* The MTA does what an indicator in its set asks (a line without an
     * action blocks); those only to be hunted stay out of it. A line holds
     * one value: one with a line break cannot be written (the normaliser
     * never gives one). */
    if (!claw_ioc_active(c, p->now) || !strcmp(c->action, "hunt") ||
        strpbrk(c->value, "\r\n"))
        return true;
    fprintf(p->f, "%s%s%s:%s\n", strcmp(c->action, "block") ? c->action : "",
            strcmp(c->action, "block") ? " " : "", c->type, c->value);
    p->count++;
    return true;
}

claw_status_t
claw_ioc_publish(claw_archive_t *a, const char *path, int64_t now, size_t *count,
                 int64_t *next_change)
{
    char *dir = g_path_get_dirname(path);
    char *tmp = g_strconcat(path, ".new", NULL);
    claw_status_t st = CLAW_STATUS_IO_ERROR;
    publish_run_t p = {NULL, now, 0, 0};
    char *lock = NULL;
    int lock_fd = -1;
    /* The MTA reads it: readable by all, as the [ioc] files are. */
    if (g_mkdir_with_parents(dir, 0755) != 0) {
        _claw_set_error(a, "%s: %s", dir, g_strerror(errno));
        goto out;
    }
    /* One publisher at a time, each reading the store after the one
     * before renamed: the last file written is never older than the last
     * change committed before it began. */
    lock = g_strconcat(path, ".lock", NULL);
    lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
        _claw_set_error(a, "%s: %s", lock, g_strerror(errno));
        goto out;
    }
    if (!(p.f = fopen(tmp, "w"))) {
        _claw_set_error(a, "%s: %s", tmp, g_strerror(errno));
        goto out;
    }
    fchmod(fileno(p.f), 0644);
    fprintf(p.f, "# The archive's indicators in force, written by Clawback (claw ioc): do not "
                 "edit.\n");
    st = claw_ioc_each(a, publish_one, &p);
    if (st)
        goto out;
    if (fflush(p.f) != 0 || fsync(fileno(p.f)) != 0 || ferror(p.f)) {
        _claw_set_error(a, "%s: %s", tmp, g_strerror(errno));
        st = CLAW_STATUS_IO_ERROR;
        goto out;
    }
    fclose(p.f);
    p.f = NULL;
    if (rename(tmp, path) != 0) {
        _claw_set_error(a, "%s: %s", path, g_strerror(errno));
        st = CLAW_STATUS_IO_ERROR;
        goto out;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (count)
        *count = p.count;
    if (next_change)
        *next_change = p.next;
    st = CLAW_STATUS_SUCCESS;
out:
    if (p.f) {
        fclose(p.f);
        unlink(tmp);
    }
    if (lock_fd >= 0)
        close(lock_fd); /* and the lock with it */
    g_free(lock);
    g_free(dir);
    g_free(tmp);
    return st;
}
