/* takeback.c - what a purge plan does to the archive's own copy of a
 * message (claw-purge.h): quarantine it, put it back, or erase it and
 * leave a tombstone. Each runs inside the transaction that marks the
 * plan's journal entry, so the store and the journal never disagree.
 *
 * The "state" database holds, by docid, a record for each message that is
 * not simply stored: quarantined (the plan, who, when) or erased (its
 * tombstone). Each change also appends the docid to the store's log, so
 * the indexer makes the message's document again: with the term
 * XSTATEquarantined, or empty once erased (see claw_archive_doc()).
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-purge.h"

#include <time.h>

enum {
    S_STATE = 1, /* 'q' quarantined, 'd' erased */
    S_PLAN,
    S_BY,
    S_TIME,
    S_REASON,
    S_SHA,       /* erased: the tombstone */
    S_ID,
    S_MSGID,
    S_MAIL_FROM,
    S_RCPT,
    S_ARRIVAL,
    S_SIZE,
    S_ACTION,
    S_RELEASING  /* quarantined at reception: a release begun at this time */
};

/* The compressed messages' stream is cut in pieces of this size
 * (store.c's PIECE). */
#define PIECE 2022

typedef struct {
    claw_tombstone_t t;
    char state;
    int64_t releasing;
    GStringChunk *s;
} state_read_t;

static void
state_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    state_read_t *r = ctx;
    const char *s = NULL;
    switch (tag) {
    case S_BY:
    case S_REASON:
    case S_MSGID:
    case S_MAIL_FROM:
    case S_RCPT:
    case S_ACTION: s = g_string_chunk_insert_len(r->s, p, (gssize)n); break;
    default: break;
    }
    switch (tag) {
    case S_STATE: r->state = n == 1 ? p[0] : 0; break;
    case S_PLAN: r->t.plan = (uint64_t)_claw_rec_num(p, n); break;
    case S_BY: r->t.by = s; break;
    case S_TIME: r->t.time = _claw_rec_num(p, n); break;
    case S_REASON: r->t.reason = s; break;
    case S_SHA:
        if (n == 64) {
            memcpy(r->t.sha256, p, 64);
            r->t.sha256[64] = 0;
        }
        break;
    case S_ID:
        if (n < CLAW_ID_SIZE) {
            memcpy(r->t.id, p, n);
            r->t.id[n] = 0;
        }
        break;
    case S_MSGID: r->t.message_id = s; break;
    case S_MAIL_FROM: r->t.mail_from = s; break;
    case S_RCPT: r->t.rcpt = s; break;
    case S_ARRIVAL: r->t.arrival_ms = _claw_rec_num(p, n); break;
    case S_SIZE: r->t.size = (uint64_t)_claw_rec_num(p, n); break;
    case S_ACTION: r->t.action = s; break;
    case S_RELEASING: r->releasing = _claw_rec_num(p, n); break;
    default: break;
    }
}

/* Read @docid's state record into @r; MDB_NOTFOUND when it has none. */
static int
read_state(claw_archive_t *a, MDB_txn *txn, uint64_t docid, state_read_t *r)
{
    unsigned char dk[8];
    _claw_be64(dk, docid);
    MDB_val k = {8, dk}, v;
    int rc = mdb_get(txn, a->dbi[DB_STATE], &k, &v);
    if (rc)
        return rc;
    memset(&r->t, 0, sizeof r->t);
    r->t.docid = docid;
    r->state = 0;
    r->releasing = 0;
    r->t.message_id = r->t.mail_from = r->t.rcpt = r->t.action = r->t.reason = r->t.by = "";
    if (!_claw_record_each(a, txn, &v, state_field, r) || (r->state != 'q' && r->state != 'd'))
        return MDB_CORRUPTED;
    return 0;
}

int
_claw_msg_state(claw_archive_t *a, MDB_txn *txn, uint64_t docid, int *state, uint64_t *plan)
{
    *state = CLAW_MSG_ABSENT;
    if (plan)
        *plan = 0;
    if (a->have_purge) {
        state_read_t r = {.s = g_string_chunk_new(256)};
        int rc = read_state(a, txn, docid, &r);
        g_string_chunk_free(r.s);
        if (rc == 0) {
            *state = r.state == 'q' ? CLAW_MSG_QUARANTINED : CLAW_MSG_ERASED;
            if (plan)
                *plan = r.t.plan;
            return 0;
        }
        if (rc != MDB_NOTFOUND)
            return rc;
    }
    unsigned char dk[8];
    _claw_be64(dk, docid);
    MDB_val k = {8, dk}, v;
    int rc = mdb_get(txn, a->dbi[DB_META], &k, &v);
    if (rc == 0)
        *state = CLAW_MSG_STORED;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Append @docid to the store's log: the indexer makes its document again. */
static int
log_change(claw_archive_t *a, MDB_txn *txn, uint64_t docid)
{
    unsigned char sk[8], dk[8];
    _claw_be64(sk, _claw_last_key(txn, a->dbi[DB_LOG]) + 1);
    _claw_be64(dk, docid);
    MDB_val k = {8, sk}, v = {8, dk};
    return mdb_put(txn, a->dbi[DB_LOG], &k, &v, MDB_APPEND);
}

static int
put_state(claw_archive_t *a, MDB_txn *txn, uint64_t docid, GByteArray *rec)
{
    unsigned char dk[8];
    _claw_be64(dk, docid);
    MDB_val k = {8, dk}, v = {rec->len, rec->data};
    int rc = mdb_put(txn, a->dbi[DB_STATE], &k, &v, 0);
    g_byte_array_free(rec, TRUE);
    return rc;
}

static bool
note_run(void *ctx, const claw_run_t *run)
{
    g_array_append_val((GArray *)ctx, *run);
    return true;
}

/* Overwrite message @dk's bytes on the stream with zeros, piece by piece,
 * and drop its place: what is left of it in the store's live pages. */
static int
zero_blob(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8], uint64_t *stored)
{
    /* Where its runs lie first (the walk reads LMDB's pages), then each
     * piece written again with the run zeroed. */
    GArray *runs = g_array_new(FALSE, FALSE, sizeof(claw_run_t));
    size_t total = 0;
    int rc = _claw_each_run(a, txn, dk, note_run, runs, &total);
    *stored = total;
    unsigned char buf[PIECE];
    for (guint i = 0; i < runs->len && rc == 0; i++) {
        const claw_run_t *run = &g_array_index(runs, claw_run_t, i);
        unsigned char key[8];
        _claw_be64(key, run->piece);
        MDB_val pk = {8, key}, pv;
        if ((rc = mdb_get(txn, a->dbi[DB_BLOB], &pk, &pv)))
            break;
        if (pv.mv_size > PIECE || pv.mv_size < run->from + run->n) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(buf, pv.mv_data, pv.mv_size);
        memset(buf + run->from, 0, run->n);
        MDB_val nv = {pv.mv_size, buf};
        rc = mdb_put(txn, a->dbi[DB_BLOB], &pk, &nv, 0);
    }
    g_array_free(runs, TRUE);
    MDB_val k = {8, (void *)dk};
    if (rc == 0)
        rc = mdb_del(txn, a->dbi[DB_LOC], &k, NULL);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* Remove message @r's records and its hash key (its blob already zeroed). */
static int
drop_records(claw_archive_t *a, MDB_txn *txn, const claw_record_t *r, const unsigned char dk[8])
{
    MDB_val k = {8, (void *)dk};
    int rc = mdb_del(txn, a->dbi[DB_META], &k, NULL);
    MDB_cursor *c;
    if (rc == 0 && (rc = mdb_cursor_open(txn, a->dbi[DB_ENV], &c)) == 0) {
        unsigned char probe[12] = {0};
        memcpy(probe, dk, 8);
        MDB_val ek = {12, probe}, ev;
        for (rc = mdb_cursor_get(c, &ek, &ev, MDB_SET_RANGE);
             rc == 0 && ek.mv_size == 12 && memcmp(ek.mv_data, dk, 8) == 0;
             rc = mdb_cursor_get(c, &ek, &ev, MDB_NEXT))
            if ((rc = mdb_cursor_del(c, 0)))
                break;
        mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    unsigned char sha[32];
    _claw_hex_to_bin(r->sha256, sha, 32);
    MDB_val sk = {8, sha}, sv = {8, (void *)dk};
    if (rc == 0 && (rc = mdb_del(txn, a->dbi[DB_SHA], &sk, &sv)) == MDB_NOTFOUND)
        rc = 0;
    /* The id stays, leading to the tombstone (claw show ID). */
    return rc;
}

static GByteArray *
tombstone_record(const claw_record_t *r, uint64_t plan, const char *by, const char *reason,
                 int64_t now)
{
    GByteArray *rec = g_byte_array_new();
    _claw_rec_str(rec, S_STATE, "d");
    _claw_rec_int(rec, S_PLAN, (int64_t)plan);
    _claw_rec_str(rec, S_BY, by);
    _claw_rec_int(rec, S_TIME, now);
    _claw_rec_str(rec, S_REASON, reason);
    _claw_rec_str(rec, S_SHA, r->sha256);
    _claw_rec_str(rec, S_ID, r->id);
    _claw_rec_str(rec, S_MSGID, r->message_id);
    GString *rcpt = g_string_new(NULL);
    for (size_t i = 0; i < r->n_deliveries; i++)
        for (size_t j = 0; j < r->deliveries[i].n_rcpt; j++)
            g_string_append_printf(rcpt, "%s%s", rcpt->len ? "," : "",
                                   r->deliveries[i].rcpt[j]);
    _claw_rec_str(rec, S_MAIL_FROM, r->n_deliveries ? r->deliveries[0].mail_from : "");
    _claw_rec_str(rec, S_RCPT, rcpt->str);
    g_string_free(rcpt, TRUE);
    _claw_rec_int(rec, S_ARRIVAL, r->arrival_ms);
    _claw_rec_int(rec, S_SIZE, (int64_t)r->size);
    _claw_rec_str(rec, S_ACTION, r->action);
    return rec;
}

static int
erase(claw_archive_t *a, MDB_txn *txn, uint64_t docid, uint64_t plan, const char *by,
      const char *reason, int64_t now)
{
    claw_record_t *r = NULL;
    claw_status_t st = _claw_get_record(a, txn, docid, REC_DELIVERIES, &r);
    if (st)
        return MDB_CORRUPTED;
    unsigned char dk[8];
    _claw_be64(dk, docid);
    uint64_t stored = 0;
    int rc = zero_blob(a, txn, dk, &stored);
    if (rc == 0)
        rc = drop_records(a, txn, r, dk);
    char an[32];
    if (rc == 0)
        rc = _claw_info_add(txn, a->dbi[DB_INFO], "raw_bytes", -(int64_t)r->size);
    if (rc == 0)
        rc = _claw_info_add(txn, a->dbi[DB_INFO], "stored_bytes", -(int64_t)stored);
    if (rc == 0 && *r->action)
        rc = _claw_info_add(txn, a->dbi[DB_INFO], _claw_action_key(an, r->action), -1);
    if (rc == 0)
        rc = put_state(a, txn, docid, tombstone_record(r, plan, by, reason, now));
    claw_record_free(r);
    return rc;
}

int
_claw_takeback(claw_archive_t *a, MDB_txn *txn, int action, uint64_t docid, uint64_t plan,
               const char *by, const char *reason, int64_t now, int *status, char **detail)
{
    *detail = NULL;
    if (!a->have_purge)
        return EINVAL;
    int state;
    uint64_t by_plan;
    int rc = _claw_msg_state(a, txn, docid, &state, &by_plan);
    if (rc)
        return rc;
    *status = CLAW_COPY_DONE;
    if (state == CLAW_MSG_ABSENT || state == CLAW_MSG_ERASED) {
        *status = CLAW_COPY_GONE;
        *detail = g_strdup(state == CLAW_MSG_ERASED ? "erased already" : "not in the archive");
        return 0;
    }
    switch ((claw_plan_action_t)action) {
    case CLAW_PLAN_QUARANTINE:
        if (state == CLAW_MSG_QUARANTINED) {
            *detail = g_strdup_printf("quarantined already (plan %" PRIu64 ")", by_plan);
            return 0;
        } else {
            GByteArray *rec = g_byte_array_new();
            _claw_rec_str(rec, S_STATE, "q");
            _claw_rec_int(rec, S_PLAN, (int64_t)plan);
            _claw_rec_str(rec, S_BY, by);
            _claw_rec_int(rec, S_TIME, now);
            _claw_rec_str(rec, S_REASON, reason);
            rc = put_state(a, txn, docid, rec);
        }
        break;
    case CLAW_PLAN_RESTORE:
        if (state != CLAW_MSG_QUARANTINED) {
            *detail = g_strdup("in view already");
            return 0;
        } else {
            unsigned char dk[8];
            _claw_be64(dk, docid);
            MDB_val k = {8, dk};
            rc = mdb_del(txn, a->dbi[DB_STATE], &k, NULL);
        }
        break;
    case CLAW_PLAN_DELETE: rc = erase(a, txn, docid, plan, by, reason, now); break;
    default: return EINVAL;
    }
    if (rc == 0)
        rc = log_change(a, txn, docid);
    return rc;
}

claw_status_t
claw_archive_msg_state(claw_archive_t *a, uint64_t docid, claw_msg_state_t *state, uint64_t *plan)
{
    *state = CLAW_MSG_ABSENT;
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    int s;
    rc = _claw_msg_state(a, txn, docid, &s, plan);
    _claw_read_end(a, txn);
    *state = (claw_msg_state_t)s;
    return rc ? _claw_mdb_status(a, rc, "read a message's state") : CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_archive_tombstone(claw_archive_t *a, uint64_t docid,
                       void (*fn)(void *ctx, const claw_tombstone_t *t), void *ctx)
{
    if (!a->have_purge) {
        _claw_set_error(a, "message %" PRIu64 ": no tombstone", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    state_read_t r = {.s = g_string_chunk_new(512)};
    rc = read_state(a, txn, docid, &r);
    if (rc == 0 && r.state == 'd')
        fn(ctx, &r.t);
    _claw_read_end(a, txn);
    g_string_chunk_free(r.s);
    if (rc == MDB_NOTFOUND || (rc == 0 && r.state != 'd')) {
        _claw_set_error(a, "message %" PRIu64 ": no tombstone", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    return rc ? _claw_mdb_status(a, rc, "read a tombstone") : CLAW_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------
 * Quarantine at reception, and its release
 * --------------------------------------------------------------------- */

static GByteArray *
reception_record(int64_t now, int64_t releasing)
{
    GByteArray *rec = g_byte_array_new();
    _claw_rec_str(rec, S_STATE, "q");
    _claw_rec_int(rec, S_PLAN, 0);
    _claw_rec_str(rec, S_BY, "mta");
    _claw_rec_int(rec, S_TIME, now);
    _claw_rec_str(rec, S_REASON, "quarantined at reception");
    if (releasing)
        _claw_rec_int(rec, S_RELEASING, releasing);
    return rec;
}

int
_claw_quarantine_at_reception(claw_archive_t *a, MDB_txn *txn, uint64_t docid, int64_t now)
{
    if (!a->have_purge)
        return 0; /* a store from before plans: read-only, never here */
    return put_state(a, txn, docid, reception_record(now, 0));
}

typedef struct {
    uint64_t docid;
    const char *by, *detail;
    bool again;
    claw_release_step_t step;
    int64_t now;
    char why[256];
    state_read_t r;
} release_run_t;

static int
release_step(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    release_run_t *run = ctx;
    run->why[0] = 0;
    int rc = read_state(a, txn, run->docid, &run->r);
    if (rc == MDB_NOTFOUND || (rc == 0 && (run->r.state != 'q' || run->r.t.plan != 0))) {
        snprintf(run->why, sizeof run->why,
                 rc == MDB_NOTFOUND ? "not quarantined (released already, or never)"
                 : run->r.state == 'd' ? "erased"
                                       : "quarantined by plan %" PRIu64 ", not at reception: "
                                         "claw restore puts it back",
                 run->r.t.plan);
        return EINVAL;
    }
    if (rc)
        return rc;
    char args[96];
    snprintf(args, sizeof args, "docid=%" PRIu64, run->docid);
    if (run->step == CLAW_RELEASE_ABORT) { /* the MTA did not take it: as before */
        rc = put_state(a, txn, run->docid, reception_record(run->r.t.time, 0));
        if (rc == 0)
            rc = _claw_audit_append(a, txn, run->by, "release.abort", args, run->detail);
        return rc;
    }
    if (run->step == CLAW_RELEASE_BEGIN) {
        if (run->r.releasing && !run->again) {
            char when[32];
            time_t t = (time_t)run->r.releasing;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            snprintf(run->why, sizeof run->why,
                     "a release of it was cut short at %s: it may have reached its recipients "
                     "(see the MTA's log); --again delivers it again", when);
            return EEXIST;
        }
        rc = put_state(a, txn, run->docid, reception_record(run->r.t.time, run->now));
        if (rc == 0)
            rc = _claw_audit_append(a, txn, run->by, "release.begin", args, "handing to the MTA");
        return rc;
    }
    unsigned char dk[8];
    _claw_be64(dk, run->docid);
    MDB_val k = {8, dk};
    if ((rc = mdb_del(txn, a->dbi[DB_STATE], &k, NULL)) == 0 &&
        (rc = log_change(a, txn, run->docid)) == 0)
        rc = _claw_audit_append(a, txn, run->by, "release", args, run->detail);
    return rc;
}

claw_status_t
claw_archive_release(claw_archive_t *a, uint64_t docid, const char *by, claw_release_step_t step,
                     bool again, const char *detail)
{
    if (!a->have_purge) {
        _claw_set_error(a, "message %" PRIu64 ": not quarantined", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    release_run_t run = {.docid = docid, .by = by ? by : "-", .detail = detail ? detail : "",
                         .again = again, .step = step, .now = time(NULL),
                         .r = {.s = g_string_chunk_new(256)}};
    claw_status_t st = _claw_write(a, "release", release_step, &run);
    g_string_chunk_free(run.r.s);
    if (run.why[0]) {
        _claw_set_error(a, "message %" PRIu64 ": %s", docid, run.why);
        return strstr(run.why, "cut short") ? CLAW_STATUS_IO_ERROR : CLAW_STATUS_INVALID_ARGUMENT;
    }
    return st;
}
