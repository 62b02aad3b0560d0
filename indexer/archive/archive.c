/* archive.c - the archive's handle: opening the store (LMDB) and its
 * index directory, closing, errors, and the helpers every file of the
 * archive library uses (archive-private.h says which file does what).
 *
 * The layout is in claw-archive.h. LMDB runs with its safe defaults: every
 * commit is synced (no MDB_NOSYNC, MDB_NOMETASYNC or MDB_WRITEMAP), so a
 * message whose transaction committed survives a crash of the process or
 * the machine.
 */
#include "build-config.h"

#include "archive-private.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void
_claw_set_error(claw_archive_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof a->error, fmt, ap);
    va_end(ap);
}

void
_claw_free_cdict(gpointer d)
{
    ZSTD_freeCDict(d);
}

void
_claw_free_ddict(gpointer d)
{
    ZSTD_freeDDict(d);
}

const char *
claw_archive_error(const claw_archive_t *a)
{
    return a ? a->error : "no archive";
}

bool
claw_archive_broken(const claw_archive_t *a)
{
    return g_atomic_int_get(&a->panicked) != 0;
}

unsigned
claw_archive_commits(const claw_archive_t *a)
{
    return a->commits;
}

const char *
claw_archive_dir(const claw_archive_t *a)
{
    return a->dir;
}

claw_status_t
_claw_mdb_status(claw_archive_t *a, int rc, const char *what)
{
    _claw_set_error(a, "%s/store: %s: %s", a->dir, what, mdb_strerror(rc));
    if (rc == MDB_PANIC)
        g_atomic_int_set(&a->panicked, 1);
    if (rc == ENOMEM)
        return CLAW_STATUS_OUT_OF_MEMORY;
    return CLAW_STATUS_IO_ERROR;
}

/* Big-endian numbers of @n bytes: keys sort as the numbers do. */
void
_claw_be_put(unsigned char *out, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

uint64_t
_claw_be_get(const void *p, int n)
{
    const unsigned char *b = p;
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

void
_claw_be64(unsigned char out[8], uint64_t v)
{
    _claw_be_put(out, v, 8);
}

uint64_t
_claw_get_be64(const void *p)
{
    return _claw_be_get(p, 8);
}

void
_claw_be32(unsigned char out[4], uint32_t v)
{
    _claw_be_put(out, v, 4);
}

uint32_t
_claw_get_be32(const void *p)
{
    return (uint32_t)_claw_be_get(p, 4);
}

/* The dictionary the info key @name names: its id and bytes (in @txn);
 * MDB_NOTFOUND when there is none yet. */
static int
named_dict(claw_archive_t *a, MDB_txn *txn, const char *name, uint32_t *id, MDB_val *dict)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, a->dbi[DB_INFO], &k, &v);
    if (rc)
        return rc;
    if (v.mv_size != 4)
        return MDB_CORRUPTED;
    *id = _claw_get_be32(v.mv_data);
    k = (MDB_val){4, v.mv_data};
    rc = mdb_get(txn, a->dbi[DB_DICT], &k, dict);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* The newest dictionary and the records' one, if the store has them, for
 * compressing. A read-only archive compresses nothing: it only notes their
 * ids (for stats). A writable one keeps their bytes; the compression
 * dictionaries are built when first used (building one took a third of a
 * search's instructions, and a search opens the store writable to audit
 * its read). */
int
_claw_load_dict(claw_archive_t *a, MDB_txn *txn)
{
    uint32_t id;
    MDB_val v;
    int rc = named_dict(a, txn, "rdict", &id, &v);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (a->read_only) {
        a->rdict_id = rc == 0 ? id : 0;
        rc = named_dict(a, txn, "dict", &id, &v);
        a->dict_id = rc == 0 ? id : 0;
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    g_mutex_lock(&a->dict_lock);
    if (rc == 0 && a->rdict_id != id) {
        if (a->rdict)
            g_bytes_unref(a->rdict);
        a->rdict = g_bytes_new(v.mv_data, v.mv_size);
        a->rdict_id = id;
    }
    g_mutex_unlock(&a->dict_lock);
    rc = named_dict(a, txn, "dict", &id, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    g_mutex_lock(&a->dict_lock);
    if (a->dict_id != id) {
        if (a->dict)
            g_bytes_unref(a->dict);
        a->dict = g_bytes_new(v.mv_data, v.mv_size);
        a->dict_id = id;
    }
    g_mutex_unlock(&a->dict_lock);
    return 0;
}

const ZSTD_CDict *
_claw_cdict(claw_archive_t *a, GBytes *bytes, uint32_t id, int level, ZSTD_CDict **cd,
            uint32_t *cd_id, int *cd_level)
{
    if (bytes && (!*cd || *cd_id != id || *cd_level != level)) {
        gsize n;
        const void *d = g_bytes_get_data(bytes, &n);
        ZSTD_CDict *made = ZSTD_createCDict(d, n, level);
        if (made) {
            if (*cd)
                g_ptr_array_add(a->old_cdicts, *cd);
            *cd = made;
            *cd_id = id;
            *cd_level = level;
        }
    }
    return *cd && *cd_id == id ? *cd : NULL;
}

/* Open the named databases; in a read-only archive that was never written
 * they do not exist yet, which reads as empty. A store of another layout
 * is refused rather than misread. */
static int
open_dbs(claw_archive_t *a)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(a->env, NULL, a->read_only ? MDB_RDONLY : 0, &txn);
    if (rc)
        return rc;
    a->have_iocs = a->have_audit = a->have_holds = a->have_purge = true;
    for (int i = 0; i < N_DBS; i++) {
        unsigned flags = a->read_only ? 0 : MDB_CREATE;
        if (i == DB_CID || i == DB_SHA)
            flags |= MDB_DUPSORT | MDB_DUPFIXED;
        rc = mdb_dbi_open(txn, db_names[i], flags, &a->dbi[i]);
        if (rc == MDB_NOTFOUND && i >= DB_FIRST_ADDED) {
            /* read-only, written before they were */
            if (i == DB_AUDIT)
                a->have_audit = false;
            else if (i == DB_HOLD)
                a->have_holds = false;
            else if (i >= DB_STATE)
                a->have_purge = false;
            else
                a->have_iocs = false;
            rc = 0;
            continue;
        }
        if (rc)
            break;
    }
    if (rc)
        a->have_iocs = a->have_audit = a->have_holds = a->have_purge = false;
    if (rc == 0) {
        MDB_val k = {6, "format"}, v;
        rc = mdb_get(txn, a->dbi[DB_INFO], &k, &v);
        if (rc == MDB_NOTFOUND) {
            MDB_stat ms = {0};
            mdb_stat(txn, a->dbi[DB_META], &ms);
            if (ms.ms_entries) { /* from before the format was recorded */
                rc = MDB_VERSION_MISMATCH;
            } else if (!a->read_only) { /* a new store */
                v = (MDB_val){strlen(FORMAT), FORMAT};
                rc = mdb_put(txn, a->dbi[DB_INFO], &k, &v, 0);
            } /* else empty and read-only: reads as empty */
        } else if (rc == 0 &&
                   (v.mv_size != strlen(FORMAT) || memcmp(v.mv_data, FORMAT, v.mv_size))) {
            rc = MDB_VERSION_MISMATCH;
        }
    }
    if (rc == 0)
        rc = _claw_load_dict(a, txn);
    if (rc) {
        mdb_txn_abort(txn);
        if (rc == MDB_VERSION_MISMATCH)
            _claw_set_error(a, "%s/store: written by another version of Clawback (store format %s "
                      "expected); import the mail into a new archive", a->dir, FORMAT);
        return rc == MDB_NOTFOUND && a->read_only ? 0 : rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc == 0)
        a->have_dbs = true;
    return rc;
}

/* The store's LMDB environment, opened at @path; on failure *@st says
 * how and a->error why. */
static int
open_env(claw_archive_t *a, const char *path, uint64_t map_size, claw_status_t *st)
{
    int rc;
    if ((rc = mdb_env_create(&a->env)) || (rc = mdb_env_set_maxdbs(a->env, N_DBS + 2)) ||
        (rc = mdb_env_set_maxreaders(a->env, 1022))) {
        *st = _claw_mdb_status(a, rc, "create");
        return rc;
    }
    /* The map only grows: the larger of what is configured and what the
     * file already holds (mdb_env_open keeps the file's size if larger). */
    if (!a->read_only && map_size && (rc = mdb_env_set_mapsize(a->env, map_size))) {
        *st = _claw_mdb_status(a, rc, "set map size");
        return rc;
    }
    rc = mdb_env_open(a->env, path, MDB_NOTLS | (a->read_only ? MDB_RDONLY : 0), 0640);
    if (rc)
        *st = _claw_mdb_status(a, rc, "open");
    return rc;
}

/* Is the store at @path one whose making a full disk cut short? LMDB
 * writes its two meta pages when it makes data.mdb, and refuses a shorter
 * file from then on (MDB_INVALID), though such a file cannot hold a
 * commit. If no other process has the store open (LMDB's lock byte, which
 * every process that opens it holds, can be taken for writing), such a
 * data.mdb is removed, for LMDB to make again; true when it was. */
static bool
unmade_store(const char *path)
{
    char *data = g_build_filename(path, "data.mdb", NULL);
    char *lock = g_build_filename(path, "lock.mdb", NULL);
    struct stat sb;
    bool removed = false;
    if (stat(data, &sb) == 0 && sb.st_size < 2 * sysconf(_SC_PAGESIZE)) {
        int fd = open(lock, O_RDWR | O_CLOEXEC);
        struct flock only = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        if (fd >= 0 && fcntl(fd, F_SETLK, &only) == 0)
            removed = unlink(data) == 0;
        if (fd >= 0)
            close(fd); /* and the lock with it */
    }
    g_free(data);
    g_free(lock);
    return removed;
}

claw_status_t
claw_archive_open(const char *dir, unsigned flags, uint64_t map_size, claw_archive_t **out,
                  char **error)
{
    *out = NULL;
    if (error)
        *error = NULL;
    claw_archive_t *a = calloc(1, sizeof *a);
    if (!a)
        return CLAW_STATUS_OUT_OF_MEMORY;
    pthread_rwlock_init(&a->resize, NULL);
    g_mutex_init(&a->dict_lock);
    a->old_cdicts = g_ptr_array_new_with_free_func(_claw_free_cdict);
    a->ddicts = g_hash_table_new_full(NULL, NULL, NULL, _claw_free_ddict);
    a->dir = strdup(dir);
    a->read_only = flags & CLAW_ARCHIVE_READ_ONLY;
    claw_status_t st = CLAW_STATUS_IO_ERROR;
    char *path = g_build_filename(dir, "store", NULL);
    int rc;

    if (!a->read_only) {
        if (g_mkdir_with_parents(path, 0750) != 0) {
            _claw_set_error(a, "%s: %s", path, strerror(errno));
            goto fail;
        }
    } else if (access(path, F_OK) != 0) {
        _claw_set_error(a, "%s: no archive here (%s)", dir, strerror(errno));
        st = CLAW_STATUS_NOT_FOUND;
        goto fail;
    }
    rc = open_env(a, path, map_size, &st);
    if (rc == MDB_INVALID && !a->read_only && unmade_store(path)) {
        claw_log(CLAW_LOG_WARNING, NULL,
                 "%s: its making was cut short (data.mdb shorter than LMDB's two meta pages, "
                 "holding nothing): made again",
                 path);
        mdb_env_close(a->env);
        a->env = NULL;
        rc = open_env(a, path, map_size, &st);
    }
    if (rc)
        goto fail;
    /* Reader slots of processes that died (kill -9) would pin old pages. */
    int dead = 0;
    mdb_reader_check(a->env, &dead);
    if ((rc = open_dbs(a))) {
        if (rc == MDB_VERSION_MISMATCH)
            st = CLAW_STATUS_INVALID_ARGUMENT; /* open_dbs said why */
        else
            st = _claw_mdb_status(a, rc, "open databases");
        goto fail;
    }
    g_free(path);
    *out = a;
    return CLAW_STATUS_SUCCESS;

fail:
    if (error)
        *error = strdup(a->error);
    g_free(path);
    claw_archive_close(a);
    return st;
}

void
claw_archive_close(claw_archive_t *a)
{
    if (!a)
        return;
    if (a->trainer)
        g_thread_join(a->trainer);
    if (a->env)
        mdb_env_close(a->env);
    pthread_rwlock_destroy(&a->resize);
    if (a->dict)
        g_bytes_unref(a->dict);
    ZSTD_freeCDict(a->cdict);
    ZSTD_freeCDict(a->rcdict);
    if (a->rdict)
        g_bytes_unref(a->rdict);
    g_ptr_array_free(a->old_cdicts, TRUE);
    g_hash_table_destroy(a->ddicts);
    g_mutex_clear(&a->dict_lock);
    free(a->dir);
    free(a);
}

claw_status_t
_claw_write(claw_archive_t *a, const char *what,
            int (*fn)(claw_archive_t *a, MDB_txn *txn, void *ctx), void *ctx)
{
    if (a->read_only)
        return CLAW_STATUS_INVALID_ARGUMENT;
    for (int attempt = 0;; attempt++) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(a->env, NULL, 0, &txn);
        if (rc == MDB_MAP_RESIZED) { /* another process grew it */
            pthread_rwlock_wrlock(&a->resize);
            mdb_env_set_mapsize(a->env, 0);
            pthread_rwlock_unlock(&a->resize);
            rc = mdb_txn_begin(a->env, NULL, 0, &txn);
        }
        if (rc)
            return _claw_mdb_status(a, rc, "begin");
        rc = fn(a, txn, ctx);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc == 0)
            return CLAW_STATUS_SUCCESS;
        if (rc != MDB_MAP_FULL || attempt >= 8)
            return _claw_mdb_status(a, rc, what);
        /* Grow the map (doubling, at least 64 MiB more) and try again. */
        MDB_envinfo info;
        mdb_env_info(a->env, &info);
        size_t grow = info.me_mapsize < (64u << 20) ? (64u << 20) : info.me_mapsize;
        pthread_rwlock_wrlock(&a->resize);
        rc = mdb_env_set_mapsize(a->env, info.me_mapsize + grow);
        pthread_rwlock_unlock(&a->resize);
        if (rc)
            return _claw_mdb_status(a, rc, "grow the map");
    }
}

claw_status_t
_claw_walk(claw_archive_t *a, MDB_dbi dbi, const unsigned char *from, size_t from_len,
           const char *what,
           bool (*fn)(claw_archive_t *a, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                      void *ctx, claw_status_t *st),
           void *ctx)
{
    MDB_txn *txn;
    int rc = _claw_read_begin(a, &txn);
    if (rc)
        return _claw_mdb_status(a, rc, "read");
    MDB_cursor *cur;
    claw_status_t st = CLAW_STATUS_SUCCESS;
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) {
        _claw_read_end(a, txn);
        return _claw_mdb_status(a, rc, what);
    }
    MDB_val k = {from_len, (void *)from}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, from_len ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (from_len && (k.mv_size < from_len || memcmp(k.mv_data, from, from_len)))
            break;
        if (!fn(a, txn, &k, &v, ctx, &st))
            break;
    }
    if (!st && rc && rc != MDB_NOTFOUND)
        st = _claw_mdb_status(a, rc, what);
    mdb_cursor_close(cur);
    _claw_read_end(a, txn);
    return st;
}

void
_claw_sha256(const void *data, size_t n, unsigned char out[32])
{
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(c, data, (gssize)n);
    gsize len = 32;
    g_checksum_get_digest(c, out, &len);
    g_checksum_free(c);
}

uint64_t
claw_archive_info_get(claw_archive_t *a, const char *name)
{
    MDB_txn *txn;
    if (!a->have_dbs || _claw_read_begin(a, &txn))
        return 0;
    uint64_t v = _claw_info_get(txn, a->dbi[DB_INFO], name);
    _claw_read_end(a, txn);
    return v;
}

typedef struct {
    const char *name;
    uint64_t value;
} info_set_t;

static int
info_set(claw_archive_t *a, MDB_txn *txn, void *ctx)
{
    const info_set_t *i = ctx;
    unsigned char b[8];
    _claw_be64(b, i->value);
    MDB_val k = {strlen(i->name), (void *)i->name}, v = {8, b};
    return mdb_put(txn, a->dbi[DB_INFO], &k, &v, 0);
}

claw_status_t
claw_archive_info_set(claw_archive_t *a, const char *name, uint64_t value)
{
    info_set_t i = {name, value};
    return _claw_write(a, name, info_set, &i);
}

/* A read transaction, following a map that another process grew. */
int
_claw_read_begin(claw_archive_t *a, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&a->resize);
    int rc = mdb_txn_begin(a->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        pthread_rwlock_unlock(&a->resize);
        pthread_rwlock_wrlock(&a->resize);
        mdb_env_set_mapsize(a->env, 0);
        pthread_rwlock_unlock(&a->resize);
        pthread_rwlock_rdlock(&a->resize);
        rc = mdb_txn_begin(a->env, NULL, MDB_RDONLY, txn);
    }
    if (rc)
        pthread_rwlock_unlock(&a->resize);
    return rc;
}

/* A read transaction for reading message @docid: NOT_FOUND, with the
 * handle's error saying so, while the archive holds no message at all. */
claw_status_t
_claw_read_message_begin(claw_archive_t *a, uint64_t docid, MDB_txn **txn)
{
    if (!a->have_dbs) {
        _claw_set_error(a, "no message %" PRIu64 " in the archive", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    int rc = _claw_read_begin(a, txn);
    return rc ? _claw_mdb_status(a, rc, "begin") : CLAW_STATUS_SUCCESS;
}

void
_claw_read_end(claw_archive_t *a, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&a->resize);
}
