/* hunt.c - hunts (claw-ioc.h): every archived message that holds an
 * indicator, asked of the index as exact terms (no query language between:
 * a value is looked up in the form terms.c wrote it), each message parsed
 * again to say where in it the indicator is; and the records that keep
 * them: a hunt in DB_HUNT under its id (8 bytes, big-endian), tagged fields
 * as an indicator's record is; each message it found in DB_HUNT_HIT under
 * the hunt's id and the message's docid (16 bytes), so that a hunt's hits
 * are one range of keys, by docid.
 *
 * Where each type of indicator is looked for:
 *   url         the links' normalised URLs (XURL)
 *   host        the links' hosts (XHOST)
 *   domain      the links under it (XDOM: terms.c writes a link's host and
 *               each domain above it to its registrable one; XHOST), and
 *               the addresses of From/Sender, Reply-To and the envelope
 *               sender at it or under it (XF, XRT, XE: terms.c writes each
 *               address's domain and its parents)
 *   ip          the client's and the Received hops' IPs (XIP) and links to
 *               an IP (XHOST); a range: each such IP of the index in it
 *   sender      the addresses of From/Sender, Reply-To, the envelope sender
 *   sha256      attachments, archive members, the whole message (XSHA)
 *   message-id  the Message-ID (XMID)
 * claw_message_locate_ioc() (libclaw) looks in the same places of the
 * parsed message.
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-ioc.h"

#include <errno.h>

#include <inttypes.h>
#include <string.h>

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
    if (rc == 0) {
        char *args = g_strdup_printf("indicator=%" PRIu64 " %s:%s", h->ioc_id, h->type, h->value);
        char *result = g_strdup_printf("hunt=%" PRIu64 " matches=%" PRIu64, h->id, h->matches);
        rc = _claw_audit_append(a, txn, h->by ? h->by : "-", "hunt", args, result);
        g_free(args);
        g_free(result);
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

typedef struct {
    claw_hunt_run_t *const *runs;
    size_t n;
} record_runs_t;

static int
record_runs(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    record_runs_t *rr = ctx;
    int rc = 0;
    for (size_t i = 0; i < rr->n && !rc; i++) {
        claw_hunt_run_t *r = rr->runs[i];
        record_run_t one = {&r->hunt, r->docids, (const char *const *)r->wheres, r->n};
        rc = record_hunt(a, txn, &one);
    }
    return rc;
}

claw_status_t
claw_hunt_record_runs(claw_archive_t *a, claw_hunt_run_t *const *runs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!runs[i]->hunt.type || !runs[i]->hunt.value)
            return CLAW_STATUS_INVALID_ARGUMENT;
    record_runs_t rr = {runs, n};
    return n ? _claw_write(a, "record hunts", record_runs, &rr) : CLAW_STATUS_SUCCESS;
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

/* ------------------------------------------------------------------------
 * Running a hunt
 * --------------------------------------------------------------------- */

/* The most terms one range may become: a /8 over an archive that has seen
 * every address in it is refused rather than asked. */
#define RANGE_MAX_TERMS 100000

typedef struct {
    claw_cidr_t cidr;
    size_t prefix_len;
    GPtrArray *terms;
    bool too_many;
} range_run_t;

/* A term of the index (XIP... or XHOST...) whose value is an IP address in
 * the range. */
static bool
in_range(void *ctx, const char *term)
{
    range_run_t *r = ctx;
    if (claw_cidr_contains_text(&r->cidr, term + r->prefix_len)) {
        if (r->terms->len >= RANGE_MAX_TERMS) {
            r->too_many = true;
            return false;
        }
        g_ptr_array_add(r->terms, g_strdup(term));
    }
    return true;
}

static void
add_term(GPtrArray *terms, const char *prefix, const char *value)
{
    g_ptr_array_add(terms, claw_term(prefix, value, strlen(value)));
}

/* The index terms that an indicator of @type and (normalised) @value
 * matches, into @terms; false with *@why if they cannot be listed. */
static bool
hunt_terms(claw_index_t *ix, const char *type, const char *value, GPtrArray *terms,
           const char **why)
{
    static const char *const senders[] = {"XF", "XRT", "XE"};
    if (!strcmp(type, "url")) {
        add_term(terms, "XURL", value);
    } else if (!strcmp(type, "host")) {
        add_term(terms, "XHOST", value);
    } else if (!strcmp(type, "domain")) {
        add_term(terms, "XDOM", value);
        add_term(terms, "XHOST", value);
        for (size_t i = 0; i < G_N_ELEMENTS(senders); i++)
            add_term(terms, senders[i], value);
    } else if (!strcmp(type, "sender")) {
        for (size_t i = 0; i < G_N_ELEMENTS(senders); i++)
            add_term(terms, senders[i], value);
    } else if (!strcmp(type, "sha256")) {
        add_term(terms, "XSHA", value);
    } else if (!strcmp(type, "message-id")) {
        add_term(terms, "XMID", value);
    } else if (!strcmp(type, "ip") && !strchr(value, '/')) {
        add_term(terms, "XIP", value);
        add_term(terms, "XHOST", value);
    } else if (!strcmp(type, "ip")) {
        range_run_t r = {.terms = terms};
        if (claw_cidr_parse(value, &r.cidr) != CLAW_STATUS_SUCCESS) {
            *why = "not a CIDR range";
            return false;
        }
        for (const char *p = "XIP"; p; p = strcmp(p, "XIP") ? NULL : "XHOST") {
            r.prefix_len = strlen(p);
            if (claw_index_each_term(ix, p, in_range, &r) != CLAW_STATUS_SUCCESS) {
                *why = claw_index_error(ix);
                return false;
            }
        }
        if (r.too_many) {
            *why = "the range holds more than 100,000 addresses seen in the archive: hunt "
                   "narrower ranges";
            return false;
        }
    } else {
        *why = "not a type of indicator";
        return false;
    }
    return true;
}

typedef struct {
    GString *out;
    GHashTable *seen;
} places_t;

static void
add_place(void *ctx, const char *where)
{
    places_t *c = ctx;
    if (!g_hash_table_add(c->seen, g_strdup(where)))
        return;
    if (c->out->len)
        g_string_append_c(c->out, '\n');
    g_string_append(c->out, where);
}

char *
claw_hunt_where(const claw_message_t *m, const claw_record_t *r, const char *type,
                const char *value)
{
    GString *out = g_string_new(NULL);
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    /* Each place once, whichever delivery's envelope it was seen with. */
    places_t c = {out, seen};
    for (size_t i = 0; i <= r->n_deliveries; i++) {
        claw_envelope_t env = {0};
        if (i < r->n_deliveries) {
            env.mail_from = r->deliveries[i].mail_from;
            env.client_ip = r->deliveries[i].client_ip;
            env.helo = r->deliveries[i].helo;
        }
        claw_message_locate_ioc(m, i < r->n_deliveries ? &env : NULL, type, value, add_place,
                                &c);
    }
    g_hash_table_destroy(seen);
    return g_string_free(out, FALSE);
}

/* Where the indicator is in message @docid: each place on a line (the
 * message, then each delivery's envelope), or a line saying the index found
 * it where the model does not (an index written by another version). */
static char *
where_in(claw_archive_t *ar, claw_engine_t *engine, uint64_t docid, const char *type,
         const char *value)
{
    GString *out = g_string_new(NULL);
    char *raw;
    size_t len;
    claw_record_t *r;
    claw_message_t *m;
    if (claw_archive_parse(ar, engine, docid, &m, &r, &raw, &len)) {
        g_string_append_printf(out, "(the message could not be read and parsed: %s)",
                               claw_archive_error(ar));
    } else {
        char *w = claw_hunt_where(m, r, type, value);
        g_string_append(out, *w ? w : "(found by the index, not placed in the parsed message)");
        g_free(w);
    }
    claw_message_destroy(m);
    claw_record_free(r);
    free(raw);
    return g_string_free(out, FALSE);
}

bool
claw_ioc_query_terms(void *ctx, const char *id, char ***terms, char **why)
{
    const claw_ioc_query_t *q = ctx;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(id, &end, 10);
    if (!g_ascii_isdigit(id[0]) || *end || errno || !n) {
        *why = strdup("expected an indicator's id (claw ioc list)");
        return false;
    }
    claw_ioc_t *c = NULL;
    if (claw_ioc_get(q->archive, n, &c) != CLAW_STATUS_SUCCESS) {
        *why = strdup(claw_archive_error(q->archive));
        return false;
    }
    GPtrArray *list = g_ptr_array_new();
    const char *said = NULL;
    bool ok = hunt_terms(q->index, c->type, c->value, list, &said);
    claw_ioc_free(c);
    if (!ok) {
        for (guint i = 0; i < list->len; i++)
            free(list->pdata[i]);
        g_ptr_array_free(list, TRUE);
        *why = strdup(said);
        return false;
    }
    /* The caller frees with free(): copy out of GLib's array. */
    char **out = calloc(list->len + 1, sizeof *out);
    for (guint i = 0; out && i < list->len; i++)
        out[i] = list->pdata[i];
    if (!out)
        for (guint i = 0; i < list->len; i++)
            free(list->pdata[i]);
    g_ptr_array_free(list, TRUE);
    *terms = out;
    if (!out)
        *why = strdup("out of memory");
    return out != NULL;
}

claw_status_t
claw_hunt_run(claw_archive_t *ar, claw_index_t *ix, claw_engine_t *engine, uint64_t ioc_id,
              const char *type, const char *value, const char *by, bool record,
              claw_hunt_run_t **out, char **error)
{
    *out = NULL;
    if (error)
        *error = NULL;
    GPtrArray *terms = g_ptr_array_new_with_free_func(g_free);
    const char *why = NULL;
    if (!hunt_terms(ix, type, value, terms, &why)) {
        if (error)
            *error = g_strdup_printf("%s:%s: %s", type, value, why);
        g_ptr_array_free(terms, TRUE);
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    claw_hunt_run_t *run = g_new0(claw_hunt_run_t, 1);
    run->hunt = (claw_hunt_t){.ioc_id = ioc_id, .type = type, .value = value, .by = by,
                              .started = g_get_real_time() / G_USEC_PER_SEC};
    claw_hits_t *hits = NULL;
    claw_status_t st = CLAW_STATUS_SUCCESS;
    if (terms->len)
        st = claw_index_search_terms(ix, (const char *const *)terms->pdata, terms->len,
                                     CLAW_SORT_DATE, 0, CLAW_HITS_ALL, &hits, error);
    g_ptr_array_free(terms, TRUE);
    if (st) {
        g_free(run);
        return st;
    }
    run->n = hits ? hits->n : 0;
    run->hunt.matches = hits ? hits->estimated : 0;
    run->docids = g_new0(uint64_t, run->n ? run->n : 1);
    run->wheres = g_new0(char *, run->n ? run->n : 1);
    for (size_t k = 0; k < run->n; k++) {
        run->docids[k] = hits->hits[k].docid;
        if (engine)
            run->wheres[k] = where_in(ar, engine, run->docids[k], type, value);
    }
    claw_hits_free(hits);
    run->hunt.finished = g_get_real_time() / G_USEC_PER_SEC;
    if (record && (st = claw_hunt_record(ar, &run->hunt, run->docids,
                                         (const char *const *)run->wheres, run->n))) {
        if (error)
            *error = g_strdup(claw_archive_error(ar));
        claw_hunt_run_free(run);
        return st;
    }
    *out = run;
    return CLAW_STATUS_SUCCESS;
}

void
claw_hunt_run_free(claw_hunt_run_t *run)
{
    if (!run)
        return;
    for (size_t k = 0; k < run->n; k++)
        g_free(run->wheres[k]);
    g_free(run->wheres);
    g_free(run->docids);
    g_free(run);
}
