/* plan.c - purge plans and their journal (claw-purge.h).
 *
 * "plan" holds each plan by id (u64 BE): what it does, who made and
 * approved it, its state and its copies counted by status. "copy" holds
 * its copies under the plan id and their number (u32 BE): the journal.
 * Both are records.c's tagged records. Every change to a plan or a copy is
 * a transaction that also appends its audit record; the archive's own copy
 * changes in the same transaction as its journal entry (takeback.c).
 *
 * One run at a time per archive: a run holds an flock on
 * DIR/store/purge.lock, so two runs never race for a copy outside the
 * store (inside it LMDB's one writer is enough).
 */
#include "build-config.h"

#include "archive-private.h"
#include "claw-purge.h"

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

enum {
    P_ACTION = 1,
    P_STATE,
    P_SOURCE,
    P_REASON,
    P_BY,
    P_CREATED,
    P_EXPIRES,
    P_APPROVED_BY,
    P_APPROVED,
    P_RESTORES,
    P_N,
    P_FINISHED,
    P_COUNT = 32 /* + status: copies with it */
};

enum { C_DOCID = 1, C_TARGET, C_ID, C_RCPT, C_WHERE, C_STATUS, C_DETAIL, C_HOLD, C_FROM, C_TIME };

static const char *const action_names[CLAW_PLAN_N_ACTIONS] = {"quarantine", "delete", "restore"};
static const char *const target_names[CLAW_TARGET_N] = {"archive", "maildir", "dovecot",
                                                        "queue"};
static const char *const state_names[CLAW_PLAN_N_STATES] = {"awaiting-approval", "ready",
                                                            "running",           "done",
                                                            "expired",           "cancelled"};
static const char *const status_names[CLAW_COPY_N_STATUS] = {"planned", "started", "done",
                                                             "held",    "gone",    "failed"};

static int
name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

const char *
claw_plan_action_name(claw_plan_action_t a)
{
    return (unsigned)a < CLAW_PLAN_N_ACTIONS ? action_names[a] : "?";
}

int
claw_plan_action_from_name(const char *name)
{
    return name_index(action_names, CLAW_PLAN_N_ACTIONS, name);
}

const char *
claw_target_name(claw_target_t t)
{
    return (unsigned)t < CLAW_TARGET_N ? target_names[t] : "?";
}

int
claw_target_from_name(const char *name)
{
    return name_index(target_names, CLAW_TARGET_N, name);
}

const char *
claw_plan_state_name(claw_plan_state_t s)
{
    return (unsigned)s < CLAW_PLAN_N_STATES ? state_names[s] : "?";
}

const char *
claw_copy_status_name(claw_copy_status_t s)
{
    return (unsigned)s < CLAW_COPY_N_STATUS ? status_names[s] : "?";
}

/* ------------------------------------------------------------------------
 * Records
 * --------------------------------------------------------------------- */

static GByteArray *
plan_record(const claw_plan_t *p)
{
    GByteArray *r = g_byte_array_new();
    _claw_rec_int(r, P_ACTION, p->action);
    _claw_rec_int(r, P_STATE, p->state);
    _claw_rec_str(r, P_SOURCE, p->source);
    _claw_rec_str(r, P_REASON, p->reason);
    _claw_rec_str(r, P_BY, p->by);
    _claw_rec_int(r, P_CREATED, p->created);
    _claw_rec_int(r, P_EXPIRES, p->expires);
    _claw_rec_str(r, P_APPROVED_BY, p->approved_by);
    _claw_rec_int(r, P_APPROVED, p->approved);
    _claw_rec_int(r, P_RESTORES, (int64_t)p->restores);
    _claw_rec_int(r, P_N, (int64_t)p->n_copies);
    _claw_rec_int(r, P_FINISHED, p->finished);
    for (int i = 0; i < CLAW_COPY_N_STATUS; i++)
        _claw_rec_int(r, P_COUNT + (unsigned)i, (int64_t)p->count[i]);
    return r;
}

static void
plan_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    claw_plan_t *pl = ctx;
    GStringChunk *s = pl->strings;
    int64_t v = _claw_rec_num(p, n);
    switch (tag) {
    case P_ACTION: pl->action = (claw_plan_action_t)v; break;
    case P_STATE: pl->state = (claw_plan_state_t)v; break;
    case P_SOURCE: pl->source = g_string_chunk_insert_len(s, p, (gssize)n); break;
    case P_REASON: pl->reason = g_string_chunk_insert_len(s, p, (gssize)n); break;
    case P_BY: pl->by = g_string_chunk_insert_len(s, p, (gssize)n); break;
    case P_CREATED: pl->created = v; break;
    case P_EXPIRES: pl->expires = v; break;
    case P_APPROVED_BY: pl->approved_by = g_string_chunk_insert_len(s, p, (gssize)n); break;
    case P_APPROVED: pl->approved = v; break;
    case P_RESTORES: pl->restores = (uint64_t)v; break;
    case P_N: pl->n_copies = (uint64_t)v; break;
    case P_FINISHED: pl->finished = v; break;
    default:
        if (tag >= P_COUNT && tag < P_COUNT + CLAW_COPY_N_STATUS)
            pl->count[tag - P_COUNT] = (uint64_t)v;
        break;
    }
}

void
claw_plan_clear(claw_plan_t *p)
{
    if (p->strings)
        g_string_chunk_free(p->strings);
    memset(p, 0, sizeof *p);
}

/* Read plan @id into @p (cleared first; its strings kept); MDB_NOTFOUND. */
static int
read_plan(claw_archive_t *a, MDB_txn *txn, uint64_t id, claw_plan_t *p)
{
    unsigned char key[8];
    _claw_be64(key, id);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(txn, a->dbi[DB_PLAN], &k, &v);
    if (rc)
        return rc;
    claw_plan_clear(p);
    p->strings = g_string_chunk_new(256);
    p->id = id;
    p->source = p->reason = p->by = p->approved_by = "";
    if (!_claw_record_each(a, txn, &v, plan_field, p) ||
        (unsigned)p->action >= CLAW_PLAN_N_ACTIONS || (unsigned)p->state >= CLAW_PLAN_N_STATES)
        return MDB_CORRUPTED;
    if (p->state == CLAW_PLAN_AWAITING && p->expires && time(NULL) > p->expires)
        p->state = CLAW_PLAN_EXPIRED;
    return 0;
}

static int
write_plan(claw_archive_t *a, MDB_txn *txn, const claw_plan_t *p)
{
    unsigned char key[8];
    _claw_be64(key, p->id);
    GByteArray *rec = plan_record(p);
    MDB_val k = {8, key}, v = {rec->len, rec->data};
    int rc = mdb_put(txn, a->dbi[DB_PLAN], &k, &v, 0);
    g_byte_array_free(rec, TRUE);
    return rc;
}

static GByteArray *
copy_record(const claw_copy_t *c)
{
    GByteArray *r = g_byte_array_new();
    _claw_rec_int(r, C_DOCID, (int64_t)c->docid);
    _claw_rec_int(r, C_TARGET, c->target);
    _claw_rec_str(r, C_ID, c->id);
    _claw_rec_str(r, C_RCPT, c->recipient);
    _claw_rec_str(r, C_WHERE, c->where);
    _claw_rec_int(r, C_STATUS, c->status);
    _claw_rec_str(r, C_DETAIL, c->detail);
    _claw_rec_str(r, C_HOLD, c->hold);
    _claw_rec_str(r, C_FROM, c->from);
    _claw_rec_int(r, C_TIME, c->time);
    return r;
}

typedef struct {
    claw_copy_t c;
    GStringChunk *s;
} copy_read_t;

static void
copy_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    copy_read_t *r = ctx;
    claw_copy_t *c = &r->c;
    int64_t v = _claw_rec_num(p, n);
    const char **str = NULL;
    switch (tag) {
    case C_DOCID: c->docid = (uint64_t)v; break;
    case C_TARGET: c->target = (claw_target_t)v; break;
    case C_ID: str = &c->id; break;
    case C_RCPT: str = &c->recipient; break;
    case C_WHERE: str = &c->where; break;
    case C_STATUS: c->status = (claw_copy_status_t)v; break;
    case C_DETAIL: str = &c->detail; break;
    case C_HOLD: str = &c->hold; break;
    case C_FROM: str = &c->from; break;
    case C_TIME: c->time = v; break;
    default: break;
    }
    if (str)
        *str = g_string_chunk_insert_len(r->s, p, (gssize)n);
}

static bool
read_copy(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, copy_read_t *r)
{
    g_string_chunk_clear(r->s);
    memset(&r->c, 0, sizeof r->c);
    r->c.id = r->c.recipient = r->c.where = r->c.detail = r->c.hold = r->c.from = "";
    r->c.n = k->mv_size == 12 ? _claw_get_be32((const unsigned char *)k->mv_data + 8) : 0;
    r->c.plan = k->mv_size == 12 ? _claw_get_be64(k->mv_data) : 0;
    return k->mv_size == 12 && _claw_record_each(a, txn, v, copy_field, r) &&
           (unsigned)r->c.target < CLAW_TARGET_N && (unsigned)r->c.status < CLAW_COPY_N_STATUS;
}

static void
copy_key(unsigned char key[12], uint64_t plan, uint32_t n)
{
    _claw_be64(key, plan);
    _claw_be32(key + 8, n);
}

static int
write_copy(claw_archive_t *a, MDB_txn *txn, uint64_t plan, const claw_copy_t *c, unsigned flags)
{
    unsigned char key[12];
    copy_key(key, plan, c->n);
    GByteArray *rec = copy_record(c);
    MDB_val k = {12, key}, v = {rec->len, rec->data};
    int rc = mdb_put(txn, a->dbi[DB_COPY], &k, &v, flags);
    g_byte_array_free(rec, TRUE);
    return rc;
}

static claw_status_t
need_purge(claw_archive_t *a)
{
    if (a->have_purge)
        return CLAW_STATUS_SUCCESS;
    _claw_set_error(a, "%s: this archive has no place for purge plans (open it for writing)",
                    a->dir);
    return CLAW_STATUS_NOT_FOUND;
}

/* ------------------------------------------------------------------------
 * Making, reading, approving
 * --------------------------------------------------------------------- */

typedef struct {
    claw_plan_t *plan;
    const claw_plan_item_t *items;
    size_t n;
    uint64_t threshold;
    int64_t expiry;
} make_run_t;

/* The message's X-Clawback-Id, as the store has it ("" if erased). */
static void
message_id_of(claw_archive_t *a, MDB_txn *txn, uint64_t docid, char id[CLAW_ID_SIZE])
{
    id[0] = 0;
    claw_record_t *r = NULL;
    if (_claw_get_record(a, txn, docid, 0, &r) == CLAW_STATUS_SUCCESS) {
        g_strlcpy(id, r->id, CLAW_ID_SIZE);
        claw_record_free(r);
    }
}

static int
make_plan(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    make_run_t *m = ctx;
    claw_plan_t *p = m->plan;
    p->id = _claw_last_key(txn, a->dbi[DB_PLAN]) + 1;
    p->n_copies = m->n;
    memset(p->count, 0, sizeof p->count);
    p->state = m->n > m->threshold ? CLAW_PLAN_AWAITING : CLAW_PLAN_READY;
    p->expires = p->state == CLAW_PLAN_AWAITING ? p->created + m->expiry : 0;
    int rc = 0;
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        const claw_plan_item_t *it = &m->items[i];
        char id[CLAW_ID_SIZE];
        message_id_of(a, txn, it->docid, id);
        bool held = p->action == CLAW_PLAN_DELETE && it->hold && *it->hold;
        claw_copy_t c = {.n = (uint32_t)(i + 1),
                         .docid = it->docid,
                         .target = it->target,
                         .id = id,
                         .recipient = it->recipient ? it->recipient : "",
                         .where = it->where ? it->where : "",
                         .status = held ? CLAW_COPY_HELD : CLAW_COPY_PLANNED,
                         .detail = "",
                         .hold = held ? it->hold : "",
                         .from = it->from ? it->from : "",
                         .time = p->created};
        p->count[c.status]++;
        rc = write_copy(a, txn, p->id, &c, MDB_APPEND);
    }
    if (rc == 0)
        rc = write_plan(a, txn, p);
    if (rc == 0) {
        char *args = g_strdup_printf("action=%s source=%s reason=%s copies=%zu",
                                     claw_plan_action_name(p->action), p->source,
                                     p->reason ? p->reason : "", m->n);
        char *result = g_strdup_printf("plan=%" PRIu64 " state=%s held=%" PRIu64, p->id,
                                       claw_plan_state_name(p->state),
                                       p->count[CLAW_COPY_HELD]);
        rc = _claw_audit_append(a, txn, p->by, "purge.plan", args, result);
        g_free(args);
        g_free(result);
    }
    return rc;
}

claw_status_t
claw_plan_make(claw_archive_t *a, claw_plan_t *plan, const claw_plan_item_t *items, size_t n,
               uint64_t approval_threshold, int64_t expiry_s)
{
    claw_status_t st = need_purge(a);
    if (st)
        return st;
    if (n > UINT32_MAX) {
        _claw_set_error(a, "a plan holds at most %u copies", UINT32_MAX);
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    if (!plan->source)
        plan->source = "";
    if (!plan->by)
        plan->by = "-";
    make_run_t m = {plan, items, n, approval_threshold, expiry_s};
    return _claw_write(a, "make a plan", make_plan, &m);
}

claw_status_t
claw_plan_get(claw_archive_t *a, uint64_t id, claw_plan_t *plan)
{
    memset(plan, 0, sizeof *plan);
    claw_status_t st = need_purge(a);
    if (st)
        return st;
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "begin");
    rc = read_plan(a, txn, id, plan);
    _claw_read_end(a, txn);
    if (rc == MDB_NOTFOUND) {
        _claw_set_error(a, "no plan %" PRIu64, id);
        return CLAW_STATUS_NOT_FOUND;
    }
    return rc ? _claw_mdb_status(a, rc, "read a plan") : CLAW_STATUS_SUCCESS;
}

typedef struct {
    bool (*fn)(void *ctx, const claw_plan_t *plan);
    void *ctx;
    GArray *ids;
} each_plan_t;

static bool
collect_plan(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx,
             claw_status_t *st)
{
    (void)a, (void)txn, (void)v, (void)st;
    each_plan_t *e = ctx;
    uint64_t id = k->mv_size == 8 ? _claw_get_be64(k->mv_data) : 0;
    g_array_append_val(e->ids, id);
    return true;
}

claw_status_t
claw_plan_each(claw_archive_t *a, bool (*fn)(void *ctx, const claw_plan_t *plan), void *ctx)
{
    if (!a->have_purge)
        return CLAW_STATUS_SUCCESS;
    each_plan_t e = {fn, ctx, g_array_new(FALSE, FALSE, sizeof(uint64_t))};
    claw_status_t st = _claw_walk(a, a->dbi[DB_PLAN], NULL, 0, "read the plans", collect_plan, &e);
    for (guint i = e.ids->len; st == CLAW_STATUS_SUCCESS && i > 0; i--) {
        claw_plan_t p;
        st = claw_plan_get(a, g_array_index(e.ids, uint64_t, i - 1), &p);
        bool more = st == CLAW_STATUS_SUCCESS && fn(ctx, &p);
        claw_plan_clear(&p);
        if (!more)
            break;
    }
    g_array_free(e.ids, TRUE);
    return st;
}

typedef struct {
    bool (*fn)(void *ctx, const claw_copy_t *copy);
    void *ctx;
    copy_read_t r;
} each_copy_t;

static bool
each_copy(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx,
          claw_status_t *st)
{
    each_copy_t *e = ctx;
    if (!read_copy(a, txn, k, v, &e->r)) {
        _claw_set_error(a, "a copy's journal entry is damaged");
        *st = CLAW_STATUS_IO_ERROR;
        return false;
    }
    return e->fn(e->ctx, &e->r.c);
}

claw_status_t
claw_plan_copies(claw_archive_t *a, uint64_t id, bool (*fn)(void *ctx, const claw_copy_t *copy),
                 void *ctx)
{
    claw_status_t st = need_purge(a);
    if (st)
        return st;
    unsigned char key[8];
    _claw_be64(key, id);
    each_copy_t e = {fn, ctx, {.s = g_string_chunk_new(512)}};
    st = _claw_walk(a, a->dbi[DB_COPY], key, 8, "read a plan's copies", each_copy, &e);
    g_string_chunk_free(e.r.s);
    return st;
}

typedef struct {
    uint64_t id;
    const char *by;
    int64_t now;
    bool approve; /* else cancel */
    claw_plan_t p;
    char why[256];
} decide_run_t;

static int
decide_plan(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    decide_run_t *d = ctx;
    d->why[0] = 0;
    int rc = read_plan(a, txn, d->id, &d->p);
    if (rc == MDB_NOTFOUND)
        snprintf(d->why, sizeof d->why, "no plan %" PRIu64, d->id);
    if (rc)
        return rc;
    claw_plan_t *p = &d->p;
    if (d->approve && p->state != CLAW_PLAN_AWAITING)
        snprintf(d->why, sizeof d->why, "plan %" PRIu64 " is %s, not awaiting approval", d->id,
                 claw_plan_state_name(p->state));
    else if (d->approve && !strcmp(p->by, d->by))
        snprintf(d->why, sizeof d->why,
                 "plan %" PRIu64 " was made by %s: a second person must approve it", d->id,
                 p->by);
    else if (!d->approve && p->state != CLAW_PLAN_AWAITING && p->state != CLAW_PLAN_READY &&
             p->state != CLAW_PLAN_EXPIRED)
        snprintf(d->why, sizeof d->why, "plan %" PRIu64 " is %s: only a plan not begun can be "
                 "cancelled", d->id, claw_plan_state_name(p->state));
    if (d->why[0])
        return EINVAL;
    if (d->approve) {
        p->state = CLAW_PLAN_READY;
        p->approved_by = d->by;
        p->approved = d->now;
    } else {
        p->state = CLAW_PLAN_CANCELLED;
        p->finished = d->now;
    }
    rc = write_plan(a, txn, p);
    if (rc == 0) {
        char args[64];
        snprintf(args, sizeof args, "plan=%" PRIu64, d->id);
        rc = _claw_audit_append(a, txn, d->by, d->approve ? "purge.approve" : "purge.cancel", args,
                                d->approve ? "approved" : "cancelled");
    }
    return rc;
}

static claw_status_t
decide(claw_archive_t *a, uint64_t id, const char *by, int64_t now, bool approve)
{
    claw_status_t st = need_purge(a);
    if (st)
        return st;
    decide_run_t d = {id, by ? by : "-", now, approve, {0}, ""};
    st = _claw_write(a, approve ? "approve a plan" : "cancel a plan", decide_plan, &d);
    claw_plan_clear(&d.p);
    if (d.why[0]) {
        _claw_set_error(a, "%s", d.why);
        return strncmp(d.why, "no plan", 7) ? CLAW_STATUS_INVALID_ARGUMENT : CLAW_STATUS_NOT_FOUND;
    }
    return st;
}

claw_status_t
claw_plan_approve(claw_archive_t *a, uint64_t id, const char *by, int64_t now)
{
    return decide(a, id, by, now, true);
}

claw_status_t
claw_plan_cancel(claw_archive_t *a, uint64_t id, const char *by, int64_t now)
{
    return decide(a, id, by, now, false);
}

/* ------------------------------------------------------------------------
 * Running
 * --------------------------------------------------------------------- */

/* Test-only: CLAW_TEST_PURGE_CRASH=N ends the process (as kill -9 would)
 * right after the run's Nth step: a commit of the journal, or a target
 * outside the store having acted. */
static void
crash_point(void)
{
    static long at = -1, steps;
    if (at < 0) {
        const char *e = getenv("CLAW_TEST_PURGE_CRASH");
        at = e && *e ? strtol(e, NULL, 10) : 0;
    }
    if (at > 0 && ++steps == at)
        _exit(137);
}

/* How many copies one transaction takes: an archive copy is done in it,
 * with its journal entry and audit record, and one sync covers them; a
 * copy outside the store is marked started in it, and the batch's copies
 * are then given to their targets together and ended in one more. The
 * crash tests make it small (CLAW_TEST_PURGE_BATCH) for more steps. */
static uint32_t
batch_size(void)
{
    static uint32_t n;
    if (!n) {
        const char *e = getenv("CLAW_TEST_PURGE_BATCH");
        n = e && atoi(e) > 0 ? (uint32_t)atoi(e) : 256;
    }
    return n;
}

typedef struct {
    uint64_t id;
    const claw_plan_run_options_t *opt;
    claw_plan_t p;
    copy_read_t r;
    int64_t now;
    /* begin */
    char why[256];
    bool nothing; /* done already */
    /* a step */
    uint32_t next;   /* the first copy to look at */
    uint32_t done;   /* archive copies finished by this transaction */
    GArray *ext;     /* claw_copy_t: copies outside the store it marked started */
    GStringChunk *ext_s;
    bool more;       /* copies are left after this step */
    /* the external copies' ends */
    claw_copy_status_t *status;
    char **detail;
} run_t;

static int
begin_run(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    run_t *r = ctx;
    r->why[0] = 0;
    r->nothing = false;
    int rc = read_plan(a, txn, r->id, &r->p);
    if (rc == MDB_NOTFOUND)
        snprintf(r->why, sizeof r->why, "no plan %" PRIu64, r->id);
    if (rc)
        return rc;
    claw_plan_t *p = &r->p;
    switch (p->state) {
    case CLAW_PLAN_DONE: r->nothing = true; return EEXIST;
    case CLAW_PLAN_AWAITING:
        snprintf(r->why, sizeof r->why,
                 "plan %" PRIu64 " awaits approval by a second person (claw purge approve %"
                 PRIu64 ")", r->id, r->id);
        return EINVAL;
    case CLAW_PLAN_EXPIRED:
    case CLAW_PLAN_CANCELLED:
        snprintf(r->why, sizeof r->why, "plan %" PRIu64 " is %s: make it again", r->id,
                 claw_plan_state_name(p->state));
        return EINVAL;
    default: break;
    }
    bool resumed = p->state == CLAW_PLAN_RUNNING;
    p->state = CLAW_PLAN_RUNNING;
    if ((rc = write_plan(a, txn, p)))
        return rc;
    char args[64];
    snprintf(args, sizeof args, "plan=%" PRIu64, r->id);
    return _claw_audit_append(a, txn, r->opt->by, "purge.run", args,
                              resumed ? "resumed" : "begun");
}

/* Record @c's end (status, detail) in @txn with its audit record. */
static int
end_copy(claw_archive_t *a, MDB_txn *txn, run_t *r, claw_copy_t *c, claw_copy_status_t status,
         const char *detail, const char *hold)
{
    claw_plan_t *p = &r->p;
    if (p->count[c->status])
        p->count[c->status]--;
    c->status = status;
    c->detail = detail ? detail : "";
    if (hold)
        c->hold = hold;
    c->time = r->now;
    p->count[status]++;
    int rc = write_copy(a, txn, r->id, c, 0);
    if (rc)
        return rc;
    char *args = g_strdup_printf("plan=%" PRIu64 " copy=%u target=%s message=%s recipient=%s "
                                 "action=%s",
                                 r->id, c->n, claw_target_name(c->target), c->id, c->recipient,
                                 claw_plan_action_name(p->action));
    char *result = g_strdup_printf("status=%s%s%s%s%s", claw_copy_status_name(status),
                                   *c->detail ? " detail=" : "", c->detail,
                                   hold ? " hold=" : "", hold ? hold : "");
    rc = _claw_audit_append(a, txn, r->opt->by, "purge.step", args, result);
    g_free(args);
    g_free(result);
    return rc;
}

/* One transaction of the run: up to batch_size() copies, those in the
 * archive done, those outside the store marked started (r->ext). */
static int
step(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    run_t *r = ctx;
    r->done = 0;
    g_array_set_size(r->ext, 0);
    g_string_chunk_clear(r->ext_s);
    r->more = false;
    int rc = read_plan(a, txn, r->id, &r->p);
    if (rc)
        return rc;
    claw_plan_t *p = &r->p;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, a->dbi[DB_COPY], &cur)))
        return rc;
    unsigned char key[12];
    copy_key(key, r->id, r->next);
    MDB_val k = {12, key}, v;
    uint32_t last = r->next;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12 || _claw_get_be64(k.mv_data) != r->id)
            break;
        if (!read_copy(a, txn, &k, &v, &r->r)) {
            rc = MDB_CORRUPTED;
            break;
        }
        claw_copy_t *c = &r->r.c;
        last = c->n;
        if (c->status != CLAW_COPY_PLANNED && c->status != CLAW_COPY_STARTED &&
            c->status != CLAW_COPY_FAILED)
            continue;
        if (r->done + r->ext->len >= batch_size()) {
            r->more = true;
            break;
        }
        const char *hold = NULL;
        if (p->action == CLAW_PLAN_DELETE && r->opt->held)
            hold = r->opt->held(r->opt->held_ctx, c->docid);
        if (hold) {
            rc = end_copy(a, txn, r, c, CLAW_COPY_HELD, "", hold);
        } else if (c->target == CLAW_TARGET_ARCHIVE) {
            int status = CLAW_COPY_FAILED;
            char *detail = NULL;
            rc = _claw_takeback(a, txn, p->action, c->docid, r->id, r->opt->by, p->reason, r->now,
                                &status, &detail);
            if (rc == 0)
                rc = end_copy(a, txn, r, c, (claw_copy_status_t)status, detail, NULL);
            g_free(detail);
        } else {
            /* Outside the store: marked started here, acted on after the
             * commit, ended in a transaction of its own. */
            claw_copy_t e = *c; /* its status before this try (STARTED: a run was cut short at it) */
            e.id = g_string_chunk_insert(r->ext_s, c->id);
            e.recipient = g_string_chunk_insert(r->ext_s, c->recipient);
            e.where = g_string_chunk_insert(r->ext_s, c->where);
            e.from = g_string_chunk_insert(r->ext_s, c->from);
            e.detail = e.hold = "";
            g_array_append_val(r->ext, e);
            if (p->count[c->status])
                p->count[c->status]--;
            c->status = CLAW_COPY_STARTED;
            c->time = r->now;
            p->count[c->status]++;
            rc = write_copy(a, txn, r->id, c, 0);
            last = c->n + 1;
            if (rc)
                break;
            continue;
        }
        if (rc)
            break;
        r->done++;
        last = c->n + 1;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc)
        return rc;
    r->next = last;
    if (r->ext->len)
        r->more = true; /* a step after their ends finds the plan done */
    if (!r->more) {
        bool left = p->count[CLAW_COPY_PLANNED] || p->count[CLAW_COPY_STARTED] ||
                    p->count[CLAW_COPY_FAILED];
        if (!left) {
            p->state = CLAW_PLAN_DONE;
            p->finished = r->now;
        }
    }
    if ((rc = write_plan(a, txn, p)))
        return rc;
    if (p->state == CLAW_PLAN_DONE) {
        char args[64], result[256];
        snprintf(args, sizeof args, "plan=%" PRIu64, r->id);
        snprintf(result, sizeof result,
                 "done=%" PRIu64 " held=%" PRIu64 " gone=%" PRIu64 " failed=%" PRIu64,
                 p->count[CLAW_COPY_DONE], p->count[CLAW_COPY_HELD], p->count[CLAW_COPY_GONE],
                 p->count[CLAW_COPY_FAILED]);
        rc = _claw_audit_append(a, txn, r->opt->by, "purge.done", args, result);
    }
    return rc;
}

/* The ends of the external copies r->ext. */
static int
end_external(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    run_t *r = ctx;
    int rc = read_plan(a, txn, r->id, &r->p);
    for (guint i = 0; i < r->ext->len && !rc; i++) {
        unsigned char key[12];
        copy_key(key, r->id, g_array_index(r->ext, claw_copy_t, i).n);
        MDB_val k = {12, key}, v;
        if ((rc = mdb_get(txn, a->dbi[DB_COPY], &k, &v)))
            break;
        if (!read_copy(a, txn, &k, &v, &r->r))
            return MDB_CORRUPTED;
        rc = end_copy(a, txn, r, &r->r.c, r->status[i], r->detail[i], NULL);
    }
    return rc ? rc : write_plan(a, txn, &r->p);
}

/* Give each target its copies of r->ext: r->status and r->detail. */
static void
act_external(run_t *r)
{
    GArray *mine = g_array_new(FALSE, FALSE, sizeof(claw_copy_t));
    GArray *at = g_array_new(FALSE, FALSE, sizeof(guint));
    for (int target = 0; target < CLAW_TARGET_N; target++) {
        g_array_set_size(mine, 0);
        g_array_set_size(at, 0);
        for (guint i = 0; i < r->ext->len; i++)
            if (g_array_index(r->ext, claw_copy_t, i).target == (claw_target_t)target) {
                g_array_append_val(mine, g_array_index(r->ext, claw_copy_t, i));
                g_array_append_val(at, i);
            }
        if (!mine->len)
            continue;
        const claw_purge_target_t *t = r->opt->targets[target];
        claw_copy_status_t *status = g_new0(claw_copy_status_t, mine->len);
        char **detail = g_new0(char *, mine->len);
        const claw_copy_t *c = (const claw_copy_t *)mine->data;
        if (t && t->act_many) {
            t->act_many(t->ctx, r->p.action, c, mine->len, status, detail);
        } else {
            for (guint i = 0; i < mine->len; i++) {
                status[i] = t ? t->act(t->ctx, r->p.action, &c[i], &detail[i])
                              : CLAW_COPY_FAILED;
                if (i + 1 < mine->len)
                    crash_point(); /* between two copies of a batch */
            }
        }
        for (guint i = 0; i < mine->len; i++) {
            guint j = g_array_index(at, guint, i);
            r->status[j] = status[i];
            r->detail[j] = detail[i];
            if (!t && !detail[i])
                r->detail[j] = g_strdup_printf("no %s target is configured",
                                               claw_target_name((claw_target_t)target));
        }
        g_free(status);
        g_free(detail);
    }
    g_array_free(mine, TRUE);
    g_array_free(at, TRUE);
}

static int
lock_runs(claw_archive_t *a)
{
    char *path = g_build_filename(a->dir, "store", "purge.lock", NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    g_free(path);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -2;
    }
    return fd;
}

claw_status_t
claw_plan_run(claw_archive_t *a, uint64_t id, const claw_plan_run_options_t *opt,
              claw_plan_t *plan)
{
    memset(plan, 0, sizeof *plan);
    claw_status_t st = need_purge(a);
    if (st)
        return st;
    int lock = lock_runs(a);
    if (lock < 0) {
        _claw_set_error(a, lock == -2 ? "a plan is being run by another process: try again when "
                                        "it ends (claw purge status)"
                                      : "cannot lock %s/store/purge.lock: %s",
                        a->dir, g_strerror(errno));
        return CLAW_STATUS_IO_ERROR;
    }
    run_t r = {.id = id, .opt = opt, .now = (int64_t)time(NULL), .next = 1};
    r.r.s = g_string_chunk_new(512);
    r.ext_s = g_string_chunk_new(512);
    r.ext = g_array_new(FALSE, FALSE, sizeof(claw_copy_t));
    st = _claw_write(a, "begin a plan", begin_run, &r);
    if (r.nothing || r.why[0]) {
        st = r.nothing ? CLAW_STATUS_SUCCESS
                       : strncmp(r.why, "no plan", 7) ? CLAW_STATUS_INVALID_ARGUMENT
                                                      : CLAW_STATUS_NOT_FOUND;
        if (r.why[0])
            _claw_set_error(a, "%s", r.why);
    }
    bool go = st == CLAW_STATUS_SUCCESS && !r.nothing;
    if (go)
        crash_point();
    uint64_t finished = 0;
    while (go) {
        r.now = (int64_t)time(NULL);
        if ((st = _claw_write(a, "run a plan", step, &r)))
            break;
        crash_point();
        finished += r.done;
        if (r.ext->len) {
            r.status = g_new0(claw_copy_status_t, r.ext->len);
            r.detail = g_new0(char *, r.ext->len);
            act_external(&r);
            crash_point();
            r.now = (int64_t)time(NULL);
            st = _claw_write(a, "end copies", end_external, &r);
            for (guint i = 0; i < r.ext->len; i++)
                g_free(r.detail[i]);
            g_free(r.detail);
            g_free(r.status);
            r.detail = NULL;
            r.status = NULL;
            if (st)
                break;
            crash_point();
            finished += r.ext->len;
        }
        if (opt->progress)
            opt->progress(opt->progress_ctx, &r.p, finished);
        go = r.more;
    }
    close(lock);
    if (st == CLAW_STATUS_SUCCESS || r.nothing) {
        claw_status_t g = claw_plan_get(a, id, plan);
        if (!st)
            st = g;
    }
    claw_plan_clear(&r.p);
    g_string_chunk_free(r.r.s);
    g_string_chunk_free(r.ext_s);
    g_array_free(r.ext, TRUE);
    return st;
}
