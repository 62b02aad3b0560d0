/* archive.c - the LMDB store: raw messages, metadata, envelopes, the log.
 *
 * The layout is in claw-archive.h. LMDB runs with its safe defaults: every
 * commit is synced (no MDB_NOSYNC, MDB_NOMETASYNC or MDB_WRITEMAP), so a
 * message whose transaction committed survives a crash of the process or
 * the machine.
 */
#include "build-config.h"

#include "claw-archive.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <lmdb.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#define ZDICT_STATIC_LINKING_ONLY /* ZDICT_trainFromBuffer_fastCover */
#include <zdict.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_d_stableOutBuffer */
#include <zstd.h>

/* Tags of the records: a tag byte, the length as a varint (LEB128), the
 * bytes. Numbers are zigzag varints; the SHA-256 is its 32 bytes. */
enum {
    T_SHA = 1,
    T_ID,
    T_ARRIVAL,
    T_SIZE,
    T_DATE,
    T_MSGID,
    T_SUBJECT,
    T_FROM,
    T_FROM_NAME,
    T_ACTION,
    T_SCORE,
    T_RULES,
    T_VSOURCE,
    T_TEXTS, /* where each text came from (claw_text_origin_t), when known */
    T_MAIL_FROM = 20,
    T_RCPT,
    T_IP,
    T_HELO,
    T_SOURCE,
    T_TIME
};

enum {
    DB_BLOB,
    DB_LOC,
    DB_SHA,
    DB_META,
    DB_ENV,
    DB_CID,
    DB_LOG,
    DB_INFO,
    DB_DICT,
    N_DBS
};
static const char *const db_names[N_DBS] = {"blob", "loc", "sha",  "meta", "env",
                                            "cid",  "log", "info", "dict"};

/* The layout this code reads and writes (info key "format"). */
#define FORMAT "3"

/* A meta or envelope record compressed with the records' dictionary
 * starts with this byte (no tag has it), then the dictionary's id (u32 BE)
 * and a zstd frame without magic number or dictionary id. */
#define RECORD_PACKED 0xFFu
#define RECORD_LEVEL 5
#define RDICT_BYTES (64u << 10)

struct claw_archive {
    MDB_env *env;
    MDB_dbi dbi[N_DBS];
    bool have_dbs;
    bool read_only;
    char *dir;
    char error[512];
    /* Readers hold it shared, a map resize exclusively: LMDB resizes only
     * with no transaction open in the process. */
    pthread_rwlock_t resize;
    unsigned commits; /* by this process */

    /* zstd dictionaries: the newest compresses, any decompresses. */
    GMutex dict_lock;
    uint64_t dict_after;    /* train one after this many messages; 0: never */
    int dict_level;         /* the zstd level it is tuned for */
    uint32_t dict_id;       /* the newest, 0: none yet */
    GBytes *dict;           /* its bytes */
    ZSTD_CDict *cdict;      /* dictionary cdict_id at cdict_level */
    uint32_t cdict_id;
    int cdict_level;
    GPtrArray *old_cdicts;  /* replaced, maybe still in use: freed at close */
    GHashTable *ddicts;     /* dictionary id -> ZSTD_DDict */
    /* The records' dictionary (meta and envelope records, see
     * compress_record), trained with the messages' one. */
    uint32_t rdict_id;      /* 0: none yet */
    ZSTD_CDict *rcdict;
    GThread *trainer;
    bool training;          /* trainer running, or it failed: no retry */
    bool bulk;              /* train in the writer's thread, which waits */
};

struct claw_item {
    unsigned char sha[32];
    char sha_hex[65];
    GByteArray *blob;  /* u64 raw size (BE) + zstd frame */
    GByteArray *meta;  /* record */
    GByteArray *env;   /* envelope record: envid, then source and time */
    GByteArray *envid; /* what makes a delivery the same one (no time) */
    uint64_t raw_size;
    char id[CLAW_ID_SIZE];
    char action[16];
    claw_doc_t *doc;
    claw_item_outcome_t outcome;
    uint64_t docid, seq;
};

struct claw_record_private {
    GStringChunk *strings;
    GPtrArray *arrays; /* the deliveries' recipient lists */
};

static void
set_error(claw_archive_t *a, const char *fmt, ...) CLAW_PRINTF(2, 3);
static claw_status_t get_raw(claw_archive_t *a, MDB_txn *txn, uint64_t docid, char **data,
                             size_t *len);

static void
set_error(claw_archive_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof a->error, fmt, ap);
    va_end(ap);
}

static void
free_cdict(gpointer d)
{
    ZSTD_freeCDict(d);
}

static void
free_ddict(gpointer d)
{
    ZSTD_freeDDict(d);
}

const char *
claw_archive_error(const claw_archive_t *a)
{
    return a ? a->error : "no archive";
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

static claw_status_t
mdb_status(claw_archive_t *a, int rc, const char *what)
{
    set_error(a, "%s/store: %s: %s", a->dir, what, mdb_strerror(rc));
    if (rc == ENOMEM)
        return CLAW_STATUS_OUT_OF_MEMORY;
    return CLAW_STATUS_IO_ERROR;
}

/* Big-endian numbers of @n bytes: keys sort as the numbers do. */
static void
be_put(unsigned char *out, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

static uint64_t
be_get(const void *p, int n)
{
    const unsigned char *b = p;
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

static void
be64(unsigned char out[8], uint64_t v)
{
    be_put(out, v, 8);
}

static uint64_t
get_be64(const void *p)
{
    return be_get(p, 8);
}

static void
be32(unsigned char out[4], uint32_t v)
{
    be_put(out, v, 4);
}

static uint32_t
get_be32(const void *p)
{
    return (uint32_t)be_get(p, 4);
}

/* ------------------------------------------------------------------------
 * Records
 * --------------------------------------------------------------------- */

static void
put_varint(GByteArray *r, uint64_t v)
{
    unsigned char b[10];
    int n = 0;
    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    g_byte_array_append(r, b, (guint)n);
}

/* A varint at *@p (before @end), *@p moved past it; false if malformed. */
static bool
get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

static uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t
unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void
rec_add(GByteArray *r, unsigned tag, const void *s, size_t len)
{
    unsigned char t = (unsigned char)tag;
    g_byte_array_append(r, &t, 1);
    put_varint(r, len);
    g_byte_array_append(r, (const guint8 *)s, (guint)len);
}

static void
rec_str(GByteArray *r, unsigned tag, const char *s)
{
    if (s && *s)
        rec_add(r, tag, s, strlen(s));
}

static void
rec_int(GByteArray *r, unsigned tag, int64_t v)
{
    GByteArray *b = g_byte_array_sized_new(10);
    put_varint(b, zigzag(v));
    rec_add(r, tag, b->data, b->len);
    g_byte_array_unref(b);
}

static ZSTD_DDict *archive_ddict(claw_archive_t *a, MDB_txn *txn, uint32_t id);

static void
free_rcctx(gpointer c)
{
    ZSTD_freeCCtx(c);
}

static void
free_rdctx(gpointer c)
{
    ZSTD_freeDCtx(c);
}

/* Contexts for records, per thread: their frames' format is not the
 * messages'. */
static GPrivate rcctx_key = G_PRIVATE_INIT(free_rcctx);
static GPrivate rdctx_key = G_PRIVATE_INIT(free_rdctx);

/* @rec compressed with the records' dictionary when there is one and that
 * makes it smaller. Records are small and much alike (the same senders,
 * recipients, subjects, message-id domains): on the 100k benchmark set a
 * 64 KiB dictionary makes the meta records 0.68 of their size and the
 * envelope records 0.31. */
static void
compress_record(claw_archive_t *a, GByteArray *rec)
{
    if (!a || !rec->len)
        return;
    g_mutex_lock(&a->dict_lock);
    const ZSTD_CDict *cd = a->rcdict;
    uint32_t id = a->rdict_id;
    g_mutex_unlock(&a->dict_lock);
    if (!cd)
        return;
    ZSTD_CCtx *c = g_private_get(&rcctx_key);
    if (!c) {
        if (!(c = ZSTD_createCCtx()))
            return;
        g_private_set(&rcctx_key, c);
    }
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless);
    ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0);
    ZSTD_CCtx_refCDict(c, cd);
    size_t bound = ZSTD_compressBound(rec->len);
    unsigned char *out = g_malloc(5 + bound);
    size_t n = ZSTD_compress2(c, out + 5, bound, rec->data, rec->len);
    ZSTD_CCtx_refCDict(c, NULL);
    if (!ZSTD_isError(n) && 5 + n < rec->len) {
        out[0] = RECORD_PACKED;
        be32(out + 1, id);
        g_byte_array_set_size(rec, 0);
        g_byte_array_append(rec, out, (guint)(5 + n));
    }
    g_free(out);
}

/* The record in @v as written: itself, or decompressed into *@buf
 * (g_free it). False if it is damaged. */
static bool
record_plain(claw_archive_t *a, MDB_txn *txn, const MDB_val *v, MDB_val *plain, void **buf)
{
    *buf = NULL;
    *plain = *v;
    const unsigned char *p = v->mv_data;
    if (v->mv_size == 0 || p[0] != RECORD_PACKED)
        return true;
    if (v->mv_size < 5)
        return false;
    ZSTD_DDict *dd = archive_ddict(a, txn, get_be32(p + 1));
    ZSTD_frameHeader h;
    if (!dd || ZSTD_getFrameHeader_advanced(&h, p + 5, v->mv_size - 5,
                                            ZSTD_f_zstd1_magicless) != 0 ||
        h.frameContentSize > (64u << 20))
        return false;
    ZSTD_DCtx *dc = g_private_get(&rdctx_key);
    if (!dc) {
        if (!(dc = ZSTD_createDCtx()))
            return false;
        g_private_set(&rdctx_key, dc);
        ZSTD_DCtx_setParameter(dc, ZSTD_d_format, ZSTD_f_zstd1_magicless);
    }
    size_t n = (size_t)h.frameContentSize;
    *buf = g_malloc(n ? n : 1);
    size_t got = ZSTD_decompress_usingDDict(dc, *buf, n, p + 5, v->mv_size - 5, dd);
    if (ZSTD_isError(got) || got != n) {
        g_free(*buf);
        *buf = NULL;
        return false;
    }
    *plain = (MDB_val){n, *buf};
    return true;
}

/* Call @fn for each field of a record; false if it is malformed. */
static bool
rec_each(const void *data, size_t len, void (*fn)(void *ctx, unsigned tag, const char *s, size_t n),
         void *ctx)
{
    const unsigned char *p = data, *end = p + len;
    while (p < end) {
        unsigned tag = *p++;
        uint64_t n;
        if (!get_varint(&p, end, &n) || (uint64_t)(end - p) < n)
            return false;
        fn(ctx, tag, (const char *)p, (size_t)n);
        p += n;
    }
    return true;
}

/* rec_each() over the stored record @v, packed or not (record_plain); false
 * if it is damaged. */
static bool
record_each(claw_archive_t *a, MDB_txn *txn, const MDB_val *v,
            void (*fn)(void *ctx, unsigned tag, const char *s, size_t n), void *ctx)
{
    MDB_val pl;
    void *buf;
    bool ok = record_plain(a, txn, v, &pl, &buf) && rec_each(pl.mv_data, pl.mv_size, fn, ctx);
    g_free(buf);
    return ok;
}

/* ------------------------------------------------------------------------
 * Opening
 * --------------------------------------------------------------------- */

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
    *id = get_be32(v.mv_data);
    k = (MDB_val){4, v.mv_data};
    rc = mdb_get(txn, a->dbi[DB_DICT], &k, dict);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* The newest dictionary and the records' one, if the store has them, for
 * compressing. A read-only archive compresses nothing: it only notes their
 * ids (for stats), and a search is spared building a compression
 * dictionary, which took a third of its instructions. */
static int
load_dict(claw_archive_t *a, MDB_txn *txn)
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
        ZSTD_CDict *cd = ZSTD_createCDict(v.mv_data, v.mv_size, RECORD_LEVEL);
        if (cd) {
            if (a->rcdict)
                g_ptr_array_add(a->old_cdicts, a->rcdict);
            a->rcdict = cd;
            a->rdict_id = id;
        }
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
    for (int i = 0; i < N_DBS; i++) {
        unsigned flags = a->read_only ? 0 : MDB_CREATE;
        if (i == DB_CID || i == DB_SHA)
            flags |= MDB_DUPSORT | MDB_DUPFIXED;
        rc = mdb_dbi_open(txn, db_names[i], flags, &a->dbi[i]);
        if (rc)
            break;
    }
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
        rc = load_dict(a, txn);
    if (rc) {
        mdb_txn_abort(txn);
        if (rc == MDB_VERSION_MISMATCH)
            set_error(a, "%s/store: written by another version of Clawback (store format %s "
                      "expected); import the mail into a new archive", a->dir, FORMAT);
        return rc == MDB_NOTFOUND && a->read_only ? 0 : rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc == 0)
        a->have_dbs = true;
    return rc;
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
    a->old_cdicts = g_ptr_array_new_with_free_func(free_cdict);
    a->ddicts = g_hash_table_new_full(NULL, NULL, NULL, free_ddict);
    a->dir = strdup(dir);
    a->read_only = flags & CLAW_ARCHIVE_READ_ONLY;
    claw_status_t st = CLAW_STATUS_IO_ERROR;
    char *path = g_build_filename(dir, "store", NULL);
    int rc;

    if (!a->read_only) {
        if (g_mkdir_with_parents(path, 0750) != 0) {
            set_error(a, "%s: %s", path, strerror(errno));
            goto fail;
        }
    } else if (access(path, F_OK) != 0) {
        set_error(a, "%s: no archive here (%s)", dir, strerror(errno));
        st = CLAW_STATUS_NOT_FOUND;
        goto fail;
    }
    if ((rc = mdb_env_create(&a->env)) || (rc = mdb_env_set_maxdbs(a->env, N_DBS + 2)) ||
        (rc = mdb_env_set_maxreaders(a->env, 1022))) {
        st = mdb_status(a, rc, "create");
        goto fail;
    }
    /* The map only grows: the larger of what is configured and what the
     * file already holds (mdb_env_open keeps the file's size if larger). */
    if (!a->read_only && map_size && (rc = mdb_env_set_mapsize(a->env, map_size))) {
        st = mdb_status(a, rc, "set map size");
        goto fail;
    }
    rc = mdb_env_open(a->env, path, MDB_NOTLS | (a->read_only ? MDB_RDONLY : 0), 0640);
    if (rc) {
        st = mdb_status(a, rc, "open");
        goto fail;
    }
    /* Reader slots of processes that died (kill -9) would pin old pages. */
    int dead = 0;
    mdb_reader_check(a->env, &dead);
    if ((rc = open_dbs(a))) {
        if (rc == MDB_VERSION_MISMATCH)
            st = CLAW_STATUS_INVALID_ARGUMENT; /* open_dbs said why */
        else
            st = mdb_status(a, rc, "open databases");
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
    g_ptr_array_free(a->old_cdicts, TRUE);
    g_hash_table_destroy(a->ddicts);
    g_mutex_clear(&a->dict_lock);
    free(a->dir);
    free(a);
}

/* A read transaction, following a map that another process grew. */
static int
read_begin(claw_archive_t *a, MDB_txn **txn)
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

static void
read_end(claw_archive_t *a, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&a->resize);
}

/* ------------------------------------------------------------------------
 * Items
 * --------------------------------------------------------------------- */

static void
free_cctx(gpointer c)
{
    ZSTD_freeCCtx(c);
}

/* One compression context per thread, kept: creating one costs more than
 * compressing a typical message. */
static GPrivate cctx_key = G_PRIVATE_INIT(free_cctx);

/* The newest dictionary ready for level @level, or NULL if there is none
 * yet. It stays valid until the archive is closed. */
static const ZSTD_CDict *
archive_cdict(claw_archive_t *a, int level)
{
    g_mutex_lock(&a->dict_lock);
    if (a->dict && (!a->cdict || a->cdict_id != a->dict_id || a->cdict_level != level)) {
        gsize n;
        const void *d = g_bytes_get_data(a->dict, &n);
        ZSTD_CDict *cd = ZSTD_createCDict(d, n, level);
        if (cd) {
            if (a->cdict)
                g_ptr_array_add(a->old_cdicts, a->cdict);
            a->cdict = cd;
            a->cdict_id = a->dict_id;
            a->cdict_level = level;
        }
    }
    const ZSTD_CDict *cd = a->cdict && a->cdict_id == a->dict_id ? a->cdict : NULL;
    g_mutex_unlock(&a->dict_lock);
    return cd;
}

/* @raw as the stored blob: its size (u64 BE), then a zstd frame, made with
 * @dict when there is one (the frame names it). */
static bool
compress_into(GByteArray *out, const char *raw, size_t len, int level, const ZSTD_CDict *dict)
{
    ZSTD_CCtx *c = g_private_get(&cctx_key);
    if (!c) {
        c = ZSTD_createCCtx();
        if (!c)
            return false;
        g_private_set(&cctx_key, c);
    }
    size_t bound = ZSTD_compressBound(len);
    unsigned char size[8];
    be64(size, len);
    g_byte_array_set_size(out, (guint)(8 + bound));
    memcpy(out->data, size, 8);
    size_t n = dict ? ZSTD_compress_usingCDict(c, out->data + 8, bound, raw, len, dict)
                    : ZSTD_compressCCtx(c, out->data + 8, bound, raw, len, level);
    if (ZSTD_isError(n))
        return false;
    g_byte_array_set_size(out, (guint)(8 + n));
    return true;
}

/* The header block of @raw: fields with their values unfolded, to @fn. */
static size_t
header_block_end(const char *raw, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (raw[i] != '\n')
            continue;
        if (i + 1 < len && raw[i + 1] == '\n')
            return i + 1;
        if (i + 2 < len && raw[i + 1] == '\r' && raw[i + 2] == '\n')
            return i + 1;
    }
    return len;
}

/* The value of the last header @name in the header block (unfolded,
 * trimmed), or NULL. */
static char *
header_value(const char *raw, size_t hlen, const char *name)
{
    size_t nl = strlen(name);
    char *found = NULL;
    for (size_t i = 0; i < hlen;) {
        size_t eol = i;
        while (eol < hlen && raw[eol] != '\n')
            eol++;
        if (eol - i > nl && g_ascii_strncasecmp(raw + i, name, nl) == 0 && raw[i + nl] == ':') {
            GString *v = g_string_new(NULL);
            size_t j = i + nl + 1;
            for (;;) {
                g_string_append_len(v, raw + j, (gssize)(eol - j));
                if (eol + 1 < hlen && (raw[eol + 1] == ' ' || raw[eol + 1] == '\t')) {
                    j = eol + 1;
                    for (eol = j; eol < hlen && raw[eol] != '\n'; eol++)
                        ;
                    continue;
                }
                break;
            }
            g_free(found);
            found = g_strstrip(g_string_free(v, FALSE));
        }
        i = eol + 1;
    }
    return found;
}

/* @raw without the X-Clawback-Envelope-* fields (an MTA adds them for us,
 * so the archived copy equals the delivered one), in @out. */
static void
strip_envelope_headers(const char *raw, size_t len, size_t hlen, GByteArray *out)
{
    static const char pfx[] = "X-Clawback-Envelope-";
    size_t i = 0;
    while (i < hlen) {
        size_t eol = i;
        while (eol < hlen && raw[eol] != '\n')
            eol++;
        /* The field with its folded continuation lines. */
        size_t end = eol < hlen ? eol + 1 : eol;
        while (end < hlen && (raw[end] == ' ' || raw[end] == '\t')) {
            while (end < hlen && raw[end] != '\n')
                end++;
            if (end < hlen)
                end++;
        }
        if (!(end - i > sizeof pfx - 1 && g_ascii_strncasecmp(raw + i, pfx, sizeof pfx - 1) == 0))
            g_byte_array_append(out, (const guint8 *)raw + i, (guint)(end - i));
        i = end;
    }
    g_byte_array_append(out, (const guint8 *)raw + hlen, (guint)(len - hlen));
}

static bool
valid_id(const char *s)
{
    if (!s || strlen(s) != CLAW_ID_SIZE - 1)
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", *p))
            return false;
    return true;
}

static void
hex_to_bin(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
}

static void
envelope_record(GByteArray *r, const claw_delivery_t *d, bool with_time)
{
    rec_add(r, T_MAIL_FROM, d->mail_from ? d->mail_from : "",
            d->mail_from ? strlen(d->mail_from) : 0);
    for (size_t i = 0; i < d->n_rcpt; i++)
        rec_str(r, T_RCPT, d->rcpt[i]);
    rec_str(r, T_IP, d->client_ip);
    rec_str(r, T_HELO, d->helo);
    if (with_time) {
        rec_str(r, T_SOURCE, d->source);
        rec_int(r, T_TIME, d->time_ms);
    }
}

/* Where the message's texts came from (T_TEXTS), so that a phrase check
 * can decode them again without parsing the message: a count, then per
 * text a byte (bit 0 HTML, bits 1-2 the transfer encoding), the content's
 * offset and length, and the part and charset as strings. Only for a
 * parse that hit no limit, with every origin known: the texts are then
 * exactly those the parse gave (claw_message_texts_from()). */
static void
text_origins_record(GByteArray *r, const claw_message_t *m)
{
    /* Test-only: CLAW_TEST_NO_TEXT_ORIGINS=1 stores none, so that phrases
     * are checked the long way (a parse of the whole message). */
    static int off = -1;
    if (off < 0)
        off = getenv("CLAW_TEST_NO_TEXT_ORIGINS") != NULL;
    if (off || m->unscannable || !m->text_origins)
        return;
    for (size_t i = 0; i < m->n_texts; i++)
        if (!m->text_origins[i].known)
            return;
    GByteArray *b = g_byte_array_new();
    put_varint(b, m->n_texts);
    for (size_t i = 0; i < m->n_texts; i++) {
        const claw_text_t *t = &m->texts[i];
        const claw_text_origin_t *o = &m->text_origins[i];
        unsigned char flags = (unsigned char)((t->content_type &&
                                               !strcmp(t->content_type, "text/html")) |
                                              ((unsigned)o->encoding & 3) << 1);
        g_byte_array_append(b, &flags, 1);
        put_varint(b, o->offset);
        put_varint(b, o->length);
        const char *strs[2] = {t->part ? t->part : "", t->charset ? t->charset : ""};
        for (int k = 0; k < 2; k++) {
            put_varint(b, strlen(strs[k]));
            g_byte_array_append(b, (const guint8 *)strs[k], (guint)strlen(strs[k]));
        }
    }
    rec_add(r, T_TEXTS, b->data, b->len);
    g_byte_array_unref(b);
}

claw_status_t
claw_item_prepare(claw_engine_t *engine, const claw_prepare_options_t *opt, const char *raw,
                  size_t len, const claw_delivery_t *delivery, claw_item_t **out)
{
    *out = NULL;
    claw_item_t *it = calloc(1, sizeof *it);
    if (!it)
        return CLAW_STATUS_OUT_OF_MEMORY;
    claw_status_t st = CLAW_STATUS_OUT_OF_MEMORY;
    claw_verdict_t *verdict = NULL;
    claw_message_t *msg = NULL;
    char *vid = NULL, *vverdict = NULL, *vrules = NULL;
    claw_delivery_attrs_t from_headers = {0};

    size_t hlen = header_block_end(raw, len);
    for (int a = 0; a < CLAW_DELIVERY_N_ATTRS; a++) {
        char *v = header_value(raw, hlen, claw_delivery_attr_header(a));
        claw_delivery_attrs_set(&from_headers, a, v);
        g_free(v);
    }
    GByteArray *clean = g_byte_array_sized_new((guint)len);
    strip_envelope_headers(raw, len, hlen, clean);
    const char *data = (const char *)clean->data;
    size_t dlen = clean->len;
    hlen = header_block_end(data, dlen);
    vid = header_value(data, hlen, CLAW_HEADER_ID);
    vverdict = header_value(data, hlen, CLAW_HEADER_VERDICT);
    vrules = header_value(data, hlen, CLAW_HEADER_RULES);

    /* What the MTA said in the protocol wins over what it wrote in the
     * message. */
    claw_delivery_t d = *delivery;
    claw_delivery_attrs_fill(&from_headers, &d);

    /* The MTA's verdict when the message carries one, read with the codec
     * the plugins wrote it with; our own otherwise (mail imported from
     * before Clawback, an MTA without the plugin, a message it let through
     * unscanned, or header text that is not a verdict). */
    const char *vsource = "mta";
    if (vverdict && claw_verdict_parse_header(vverdict, vrules, &verdict) == CLAW_STATUS_SUCCESS) {
        st = claw_message_parse(engine, data, dlen, &msg);
    } else {
        vsource = "archive";
        st = claw_scan_buffer(engine, data, dlen, NULL, &verdict);
        if (st == CLAW_STATUS_SUCCESS)
            msg = (claw_message_t *)claw_verdict_message(verdict);
    }
    if (st)
        goto fail;
    snprintf(it->action, sizeof it->action, "%s",
             claw_action_to_string(claw_verdict_action(verdict)));
    double score = claw_verdict_score(verdict);
    char rules[1024] = "";
    size_t o = 0;
    for (size_t i = 0; i < claw_verdict_n_rules(verdict); i++) {
        int n = snprintf(rules + o, sizeof rules - o, "%s%s", o ? "," : "",
                         claw_verdict_rule_name(verdict, i));
        if (n < 0 || (size_t)n >= sizeof rules - o) {
            rules[o] = '\0';
            break;
        }
        o += (size_t)n;
    }
    if (valid_id(vid))
        memcpy(it->id, vid, CLAW_ID_SIZE);
    else
        claw_id_new(it->id);

    memcpy(it->sha_hex, msg->sha256, 65);
    hex_to_bin(it->sha_hex, it->sha, 32);
    it->raw_size = dlen;

    it->blob = g_byte_array_new();
    if (!compress_into(it->blob, data, dlen, opt->zstd_level,
                       opt->archive ? archive_cdict(opt->archive, opt->zstd_level) : NULL)) {
        st = CLAW_STATUS_DEPENDENCY_ERROR;
        goto fail;
    }
    const claw_address_t *from = NULL;
    for (size_t i = 0; i < msg->n_addresses; i++)
        if (msg->addresses[i].field == CLAW_FIELD_FROM) {
            from = &msg->addresses[i];
            break;
        }
    it->meta = g_byte_array_new();
    rec_add(it->meta, T_SHA, it->sha, 32);
    rec_str(it->meta, T_ID, it->id);
    rec_int(it->meta, T_ARRIVAL, d.time_ms);
    rec_int(it->meta, T_SIZE, (int64_t)dlen);
    rec_int(it->meta, T_DATE, msg->date_unix);
    rec_str(it->meta, T_MSGID, msg->message_id);
    rec_str(it->meta, T_SUBJECT, msg->subject);
    if (from) {
        rec_str(it->meta, T_FROM, from->address);
        rec_str(it->meta, T_FROM_NAME, from->name);
    }
    rec_str(it->meta, T_ACTION, it->action);
    char sbuf[G_ASCII_DTOSTR_BUF_SIZE];
    rec_str(it->meta, T_SCORE, g_ascii_dtostr(sbuf, sizeof sbuf, score));
    rec_str(it->meta, T_RULES, rules);
    rec_str(it->meta, T_VSOURCE, vsource);
    text_origins_record(it->meta, msg);

    it->env = g_byte_array_new();
    envelope_record(it->env, &d, true);
    it->envid = g_byte_array_new();
    envelope_record(it->envid, &d, false);

    /* The index document, built now from the model we already have. */
    claw_record_t rec = {0};
    memcpy(rec.sha256, it->sha_hex, 65);
    memcpy(rec.id, it->id, CLAW_ID_SIZE);
    rec.arrival_ms = d.time_ms;
    rec.size = dlen;
    rec.date = msg->date_unix;
    rec.message_id = msg->message_id ? msg->message_id : "";
    rec.subject = msg->subject ? msg->subject : "";
    rec.from = from && from->address ? from->address : "";
    rec.from_name = from && from->name ? from->name : "";
    rec.action = it->action;
    rec.score = score;
    rec.rules = rules;
    rec.verdict_source = vsource;
    rec.n_deliveries = 1;
    rec.deliveries = &d;
    it->doc = claw_doc_build(msg, &rec, data, dlen, opt);
    if (!it->doc)
        goto fail;
    /* The index document was built from them: now pack them. */
    compress_record(opt->archive, it->meta);
    compress_record(opt->archive, it->env);

    st = CLAW_STATUS_SUCCESS;
    *out = it;
    it = NULL;
fail:
    /* @msg is the verdict's own when the archive judged the message. */
    if (msg != claw_verdict_message(verdict))
        claw_message_destroy(msg);
    claw_verdict_destroy(verdict);
    g_byte_array_unref(clean);
    g_free(vid);
    g_free(vverdict);
    g_free(vrules);
    claw_delivery_attrs_clear(&from_headers);
    claw_item_free(it);
    return st;
}

void
claw_item_free(claw_item_t *it)
{
    if (!it)
        return;
    if (it->blob)
        g_byte_array_unref(it->blob);
    if (it->meta)
        g_byte_array_unref(it->meta);
    if (it->env)
        g_byte_array_unref(it->env);
    if (it->envid)
        g_byte_array_unref(it->envid);
    claw_doc_free(it->doc);
    free(it);
}

claw_item_outcome_t
claw_item_outcome(const claw_item_t *it)
{
    return it->outcome;
}

uint64_t
claw_item_docid(const claw_item_t *it)
{
    return it->docid;
}

uint64_t
claw_item_seq(const claw_item_t *it)
{
    return it->seq;
}

const char *
claw_item_id(const claw_item_t *it)
{
    return it->id;
}

const char *
claw_item_action(const claw_item_t *it)
{
    return it->action;
}

claw_doc_t *
claw_item_take_doc(claw_item_t *it)
{
    claw_doc_t *d = it->doc;
    it->doc = NULL;
    return d;
}

/* ------------------------------------------------------------------------
 * Storing
 * --------------------------------------------------------------------- */

static uint64_t
last_key(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t last = 0;
    if (mdb_cursor_open(txn, dbi, &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size >= 8)
            last = get_be64(k.mv_data);
        mdb_cursor_close(c);
    }
    return last;
}

/* Keys longer than LMDB's limit (511 bytes) are replaced by their hash. */
static MDB_val
key_of(const char *s, unsigned char hash[32])
{
    size_t n = strlen(s);
    if (n <= 64)
        return (MDB_val){n, (void *)s};
    SHA256((const unsigned char *)s, n, hash);
    return (MDB_val){32, hash};
}

/* The info key counting stored messages with verdict @action. */
static char *
action_key(char buf[32], const char *action)
{
    snprintf(buf, 32, "action:%s", action);
    return buf;
}

/* The info counter @name (0 if there is none). */
static uint64_t
info_get(MDB_txn *txn, MDB_dbi dbi, const char *name)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8)
        return get_be64(v.mv_data);
    return 0;
}

static int
info_add(MDB_txn *txn, MDB_dbi dbi, const char *name, int64_t delta)
{
    unsigned char b[8];
    be64(b, info_get(txn, dbi, name) + (uint64_t)delta);
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
        end = get_be64(k.mv_data) * PIECE + v.mv_size;
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
        be64(key, next);
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
    be64(loc, end);
    be32(loc + 8, blob->len);
    k = (MDB_val){8, (void *)dk};
    v = (MDB_val){12, loc};
    return mdb_put(txn, a->dbi[DB_LOC], &k, &v, MDB_APPEND);
}

/* Call @fn on message @dk's compressed bytes in order, as they lie on the
 * stream's pieces (pointers into LMDB's pages, valid in @txn), until it
 * returns false or they end (@last on the final run). *@total is their
 * length. MDB_CORRUPTED when a piece is missing or short. */
static int
each_run(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8],
         bool (*fn)(void *ctx, const unsigned char *p, size_t n, bool last), void *ctx,
         size_t *total)
{
    MDB_val k = {8, (void *)dk}, v;
    int rc = mdb_get(txn, a->dbi[DB_LOC], &k, &v);
    if (rc)
        return rc;
    if (v.mv_size != 12)
        return MDB_CORRUPTED;
    uint64_t off = get_be64(v.mv_data);
    size_t left = get_be32((const unsigned char *)v.mv_data + 8);
    *total = left;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, a->dbi[DB_BLOB], &c)))
        return rc;
    unsigned char key[8];
    uint64_t n = off / PIECE;
    be64(key, n);
    k = (MDB_val){8, key};
    size_t skip = off % PIECE;
    for (MDB_cursor_op op = MDB_SET_KEY; left; op = MDB_NEXT, skip = 0) {
        if ((rc = mdb_cursor_get(c, &k, &v, op)))
            break;
        if (k.mv_size != 8 || get_be64(k.mv_data) != n++ || v.mv_size <= skip) {
            rc = MDB_CORRUPTED; /* a missing or short piece */
            break;
        }
        size_t m = MIN(v.mv_size - skip, left);
        left -= m;
        if (!fn(ctx, (const unsigned char *)v.mv_data + skip, m, left == 0))
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

static bool
append_run(void *ctx, const unsigned char *p, size_t n, bool last)
{
    (void)last;
    g_byte_array_append(ctx, p, (guint)n);
    return true;
}

/* Message @dk's compressed bytes from the stream (g_byte_array_unref). */
static int
get_blob(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8], GByteArray **out)
{
    GByteArray *b = g_byte_array_new();
    size_t len = 0;
    int rc = each_run(a, txn, dk, append_run, b, &len);
    if (rc == 0 && b->len != len)
        rc = MDB_CORRUPTED;
    if (rc) {
        g_byte_array_unref(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* T_SHA of a meta record. */
static void
sha_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    if (tag == T_SHA && n == 32)
        memcpy(ctx, p, 32);
}

/* The message whose raw bytes hash to @sha. The sha table is keyed by the
 * hash's first 8 bytes (each entry is a third of what the whole hash would
 * take) with the docids that share them as duplicates; the meta record of
 * each candidate holds the whole hash. */
static int
sha_lookup(claw_archive_t *a, MDB_txn *txn, const unsigned char sha[32], uint64_t *docid)
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
        unsigned char full[32] = {0};
        if (mdb_get(txn, a->dbi[DB_META], &mk, &mv) == 0) {
            record_each(a, txn, &mv, sha_field, full);
            if (memcmp(full, sha, 32) == 0) {
                *docid = get_be64(v.mv_data);
                break;
            }
        }
    }
    mdb_cursor_close(c);
    return rc;
}

static int
store_one(claw_archive_t *a, MDB_txn *txn, claw_item_t *it, uint64_t *next_docid,
          uint64_t *next_seq)
{
    MDB_val k, v;
    unsigned char dk[8], sk[8];
    uint64_t docid = 0;
    int rc = sha_lookup(a, txn, it->sha, &docid);
    bool is_new = rc == MDB_NOTFOUND;
    if (rc && !is_new)
        return rc;
    if (is_new)
        docid = (*next_docid)++;
    be64(dk, docid);

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
            n = get_be32((const unsigned char *)pk.mv_data + 8) + 1;
            MDB_val pl;
            void *buf;
            if (!record_plain(a, txn, &pv, &pl, &buf)) {
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
        k = key_of(it->id, h);
        v = (MDB_val){8, dk};
        if ((rc = mdb_put(txn, a->dbi[DB_CID], &k, &v, 0)) && rc != MDB_KEYEXIST)
            return rc;
        if ((rc = info_add(txn, a->dbi[DB_INFO], "raw_bytes", (int64_t)it->raw_size)) ||
            (rc = info_add(txn, a->dbi[DB_INFO], "stored_bytes", (int64_t)it->blob->len)))
            return rc;
        char an[32];
        if ((rc = info_add(txn, a->dbi[DB_INFO], action_key(an, it->action), 1)))
            return rc;
    }
    /* The delivery: after the last one of this message. */
    unsigned char ekey[12];
    memcpy(ekey, dk, 8);
    be32(ekey + 8, n);
    k = (MDB_val){12, ekey};
    v = (MDB_val){it->env->len, it->env->data};
    if ((rc = mdb_put(txn, a->dbi[DB_ENV], &k, &v, is_new ? MDB_APPEND : 0)))
        return rc;

    uint64_t seq = (*next_seq)++;
    be64(sk, seq);
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
static void
test_crash(const char *when, unsigned commits_done)
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

/* ------------------------------------------------------------------------
 * The compression dictionary
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
 * --------------------------------------------------------------------- */

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
    int rc = read_begin(a, &txn);
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
                    get_raw(a, txn, get_be64(k.mv_data), &raw, &len) == CLAW_STATUS_SUCCESS) {
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
        read_end(a, txn);
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
    be32(k4, id);
    be32(rk4, rid);
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
    if (rc == 0 && (rc = read_begin(a, &txn)) == 0) {
        rc = load_dict(a, txn);
        read_end(a, txn);
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
static void
maybe_train(claw_archive_t *a, uint64_t messages)
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

claw_status_t
claw_archive_store(claw_archive_t *a, claw_item_t *const *items, size_t n)
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
            return mdb_status(a, rc, "begin");
        uint64_t next_docid = last_key(txn, a->dbi[DB_META]) + 1;
        uint64_t next_seq = last_key(txn, a->dbi[DB_LOG]) + 1;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = store_one(a, txn, items[i], &next_docid, &next_seq);
        if (rc == 0) {
            test_crash("before", a->commits);
            rc = mdb_txn_commit(txn);
            if (rc == 0) {
                test_crash("after", a->commits++);
                maybe_train(a, next_docid - 1);
                return CLAW_STATUS_SUCCESS;
            }
        } else {
            mdb_txn_abort(txn);
        }
        for (size_t i = 0; i < n; i++)
            items[i]->outcome = CLAW_ITEM_PENDING;
        if (rc != MDB_MAP_FULL || attempt >= 8)
            return mdb_status(a, rc, "store");
        /* Grow the map (doubling, at least 64 MiB more) and try again. */
        MDB_envinfo info;
        mdb_env_info(a->env, &info);
        size_t grow = info.me_mapsize < (64u << 20) ? (64u << 20) : info.me_mapsize;
        pthread_rwlock_wrlock(&a->resize);
        rc = mdb_env_set_mapsize(a->env, info.me_mapsize + grow);
        pthread_rwlock_unlock(&a->resize);
        if (rc)
            return mdb_status(a, rc, "grow the map");
    }
}

/* ------------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------- */

void
claw_record_free(claw_record_t *r)
{
    if (!r)
        return;
    if (r->priv) {
        g_string_chunk_free(r->priv->strings);
        if (r->priv->arrays)
            g_ptr_array_free(r->priv->arrays, TRUE);
        free(r->priv);
    }
    free(r->deliveries);
    free(r->text_parts);
    free(r->text_origins);
    free(r);
}

typedef struct {
    claw_record_t *r;
    GStringChunk *s;
    claw_delivery_t *d;
    GPtrArray *rcpt; /* per delivery, NULL-terminated later */
    bool texts;      /* read T_TEXTS too */
} rec_ctx_t;

static const char *
chunk(GStringChunk *s, const char *p, size_t n)
{
    return g_string_chunk_insert_len(s, p, (gssize)n);
}

static int64_t
num(const char *p, size_t n)
{
    const unsigned char *q = (const unsigned char *)p;
    uint64_t v;
    return get_varint(&q, q + n, &v) ? unzigzag(v) : 0;
}

/* T_TEXTS (see text_origins_record) into @r; false if malformed. */
static bool
read_text_origins(rec_ctx_t *c, const char *data, size_t len)
{
    claw_record_t *r = c->r;
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    uint64_t n;
    if (!get_varint(&p, end, &n) || n > len)
        return false;
    r->text_parts = calloc(n ? n : 1, sizeof *r->text_parts);
    r->text_origins = calloc(n ? n : 1, sizeof *r->text_origins);
    if (!r->text_parts || !r->text_origins)
        return false;
    for (uint64_t i = 0; i < n; i++) {
        claw_text_t *t = &r->text_parts[i];
        claw_text_origin_t *o = &r->text_origins[i];
        if (p >= end)
            return false;
        unsigned flags = *p++;
        const char *strs[2];
        if (!get_varint(&p, end, &o->offset) || !get_varint(&p, end, &o->length))
            return false;
        for (int k = 0; k < 2; k++) {
            uint64_t sl;
            if (!get_varint(&p, end, &sl) || (uint64_t)(end - p) < sl)
                return false;
            strs[k] = chunk(c->s, (const char *)p, (size_t)sl);
            p += sl;
        }
        o->known = 1;
        o->encoding = (claw_transfer_encoding_t)((flags >> 1) & 3);
        t->content_type = flags & 1 ? "text/html" : "text/plain";
        t->part = strs[0];
        t->charset = *strs[1] ? strs[1] : NULL;
        r->n_texts = (size_t)i + 1;
    }
    return p == end;
}

static void
meta_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    rec_ctx_t *c = ctx;
    claw_record_t *r = c->r;
    switch (tag) {
    case T_SHA:
        if (n == 32) {
            static const char hex[] = "0123456789abcdef";
            for (size_t i = 0; i < 32; i++) {
                r->sha256[2 * i] = hex[(unsigned char)p[i] >> 4];
                r->sha256[2 * i + 1] = hex[(unsigned char)p[i] & 15];
            }
            r->sha256[64] = '\0';
        }
        break;
    case T_ID:
        if (n == CLAW_ID_SIZE - 1)
            memcpy(r->id, p, n);
        break;
    case T_ARRIVAL: r->arrival_ms = num(p, n); break;
    case T_SIZE: r->size = (uint64_t)num(p, n); break;
    case T_DATE: r->date = num(p, n); break;
    case T_MSGID: r->message_id = chunk(c->s, p, n); break;
    case T_SUBJECT: r->subject = chunk(c->s, p, n); break;
    case T_FROM: r->from = chunk(c->s, p, n); break;
    case T_FROM_NAME: r->from_name = chunk(c->s, p, n); break;
    case T_ACTION: r->action = chunk(c->s, p, n); break;
    case T_SCORE: r->score = g_ascii_strtod(chunk(c->s, p, n), NULL); break;
    case T_RULES: r->rules = chunk(c->s, p, n); break;
    case T_VSOURCE: r->verdict_source = chunk(c->s, p, n); break;
    case T_TEXTS:
        if (c->texts && !r->text_parts)
            r->has_text_origins = read_text_origins(c, p, n);
        break;
    default: break;
    }
}

static void
env_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    rec_ctx_t *c = ctx;
    switch (tag) {
    case T_MAIL_FROM: c->d->mail_from = chunk(c->s, p, n); break;
    case T_RCPT: g_ptr_array_add(c->rcpt, (gpointer)chunk(c->s, p, n)); break;
    case T_IP: c->d->client_ip = chunk(c->s, p, n); break;
    case T_HELO: c->d->helo = chunk(c->s, p, n); break;
    case T_SOURCE: c->d->source = chunk(c->s, p, n); break;
    case T_TIME: c->d->time_ms = num(p, n); break;
    default: break;
    }
}

#define REC_DELIVERIES 0x1u
#define REC_TEXTS 0x2u

static claw_status_t
get_record(claw_archive_t *a, MDB_txn *txn, uint64_t docid, unsigned what, claw_record_t **out)
{
    unsigned char dk[8];
    be64(dk, docid);
    MDB_val k = {8, dk}, v;
    int rc = mdb_get(txn, a->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        set_error(a, "no message %" PRIu64 " in the archive", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    if (rc)
        return mdb_status(a, rc, "read");
    claw_record_t *r = calloc(1, sizeof *r);
    r->priv = calloc(1, sizeof *r->priv);
    r->priv->strings = g_string_chunk_new(1024);
    r->docid = docid;
    r->message_id = r->subject = r->from = r->from_name = r->action = r->rules =
        r->verdict_source = "";
    rec_ctx_t c = {r, r->priv->strings, NULL, NULL, (what & REC_TEXTS) != 0};
    if (!record_each(a, txn, &v, meta_field, &c)) {
        claw_record_free(r);
        set_error(a, "message %" PRIu64 ": damaged record", docid);
        return CLAW_STATUS_IO_ERROR;
    }
    if (!(what & REC_DELIVERIES)) {
        *out = r;
        return CLAW_STATUS_SUCCESS;
    }
    /* Deliveries: the env keys docid + n, in order. */
    GArray *ds = g_array_new(FALSE, TRUE, sizeof(claw_delivery_t));
    GPtrArray *lists = g_ptr_array_new();
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, a->dbi[DB_ENV], &cur) == 0) {
        unsigned char probe[12] = {0};
        memcpy(probe, dk, 8);
        MDB_val pk = {12, probe}, pv;
        for (rc = mdb_cursor_get(cur, &pk, &pv, MDB_SET_RANGE);
             rc == 0 && pk.mv_size == 12 && memcmp(pk.mv_data, dk, 8) == 0;
             rc = mdb_cursor_get(cur, &pk, &pv, MDB_NEXT)) {
            claw_delivery_t d = {0};
            c.d = &d;
            c.rcpt = g_ptr_array_new();
            record_each(a, txn, &pv, env_field, &c);
            d.n_rcpt = c.rcpt->len;
            g_ptr_array_add(lists, c.rcpt);
            g_array_append_val(ds, d);
        }
        mdb_cursor_close(cur);
    }
    r->n_deliveries = ds->len;
    r->deliveries = calloc(ds->len ? ds->len : 1, sizeof(claw_delivery_t));
    r->priv->arrays = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < ds->len; i++) {
        claw_delivery_t *d = &g_array_index(ds, claw_delivery_t, i);
        GPtrArray *l = lists->pdata[i];
        d->rcpt = l->len ? (const char *const *)l->pdata : NULL;
        r->deliveries[i] = *d;
        g_ptr_array_add(r->priv->arrays, g_ptr_array_free(l, FALSE));
    }
    g_ptr_array_free(lists, TRUE);
    g_array_free(ds, TRUE);
    *out = r;
    return CLAW_STATUS_SUCCESS;
}

/* get_record() in a read transaction of its own. */
static claw_status_t
read_record(claw_archive_t *a, uint64_t docid, unsigned what, claw_record_t **out)
{
    *out = NULL;
    if (!a->have_dbs) {
        set_error(a, "no message %" PRIu64 " in the archive", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    MDB_txn *txn;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    claw_status_t st = get_record(a, txn, docid, what, out);
    read_end(a, txn);
    return st;
}

claw_status_t
claw_archive_get(claw_archive_t *a, uint64_t docid, claw_record_t **out)
{
    return read_record(a, docid, REC_DELIVERIES, out);
}

claw_status_t
claw_archive_get_summary(claw_archive_t *a, uint64_t docid, claw_record_t **out)
{
    return read_record(a, docid, 0, out);
}

static void
free_dctx(gpointer c)
{
    ZSTD_freeDCtx(c);
}

static GPrivate dctx_key = G_PRIVATE_INIT(free_dctx);

/* This thread's decompression context, kept: making one costs more than
 * decompressing a typical message. */
static ZSTD_DCtx *
thread_dctx(void)
{
    ZSTD_DCtx *dc = g_private_get(&dctx_key);
    if (!dc && (dc = ZSTD_createDCtx()))
        g_private_set(&dctx_key, dc);
    return dc;
}

/* Dictionary @id for decompressing, read from the store once. */
static ZSTD_DDict *
archive_ddict(claw_archive_t *a, MDB_txn *txn, uint32_t id)
{
    g_mutex_lock(&a->dict_lock);
    ZSTD_DDict *dd = g_hash_table_lookup(a->ddicts, GUINT_TO_POINTER(id));
    if (!dd) {
        unsigned char k4[4];
        be32(k4, id);
        MDB_val k = {4, k4}, v;
        if (mdb_get(txn, a->dbi[DB_DICT], &k, &v) == 0 &&
            (dd = ZSTD_createDDict(v.mv_data, v.mv_size)))
            g_hash_table_insert(a->ddicts, GUINT_TO_POINTER(id), dd);
    }
    g_mutex_unlock(&a->dict_lock);
    return dd;
}

static claw_status_t
decompress(claw_archive_t *a, MDB_txn *txn, const MDB_val *v, char **data, size_t *len)
{
    if (v->mv_size < 8) {
        set_error(a, "damaged blob");
        return CLAW_STATUS_IO_ERROR;
    }
    uint64_t n = get_be64(v->mv_data);
    const char *src = (const char *)v->mv_data + 8;
    size_t srclen = v->mv_size - 8;
    unsigned id = ZSTD_getDictID_fromFrame(src, srclen);
    ZSTD_DDict *dd = NULL;
    if (id && !(dd = archive_ddict(a, txn, id))) {
        set_error(a, "damaged blob: zstd dictionary %u is missing", id);
        return CLAW_STATUS_IO_ERROR;
    }
    ZSTD_DCtx *dc = thread_dctx();
    if (!dc)
        return CLAW_STATUS_OUT_OF_MEMORY;
    if (n > (uint64_t)1 << 40) {
        set_error(a, "damaged blob: size %" PRIu64, n);
        return CLAW_STATUS_IO_ERROR;
    }
    char *buf = malloc(n + 1);
    if (!buf)
        return CLAW_STATUS_OUT_OF_MEMORY;
    size_t got = dd ? ZSTD_decompress_usingDDict(dc, buf, n, src, srclen, dd)
                    : ZSTD_decompressDCtx(dc, buf, n, src, srclen);
    if (ZSTD_isError(got) || got != n) {
        free(buf);
        set_error(a, "damaged blob: %s", ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size");
        return CLAW_STATUS_IO_ERROR;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return CLAW_STATUS_SUCCESS;
}

static claw_status_t
get_raw(claw_archive_t *a, MDB_txn *txn, uint64_t docid, char **data, size_t *len)
{
    unsigned char dk[8];
    be64(dk, docid);
    MDB_val k = {8, dk}, v;
    int rc = mdb_get(txn, a->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        set_error(a, "no message %" PRIu64 " in the archive", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    if (rc)
        return mdb_status(a, rc, "read");
    GByteArray *b;
    rc = get_blob(a, txn, dk, &b);
    if (rc)
        return mdb_status(a, rc, "read the message");
    MDB_val bv = {b->len, b->data};
    claw_status_t st = decompress(a, txn, &bv, data, len);
    g_byte_array_unref(b);
    return st;
}

/* Decompression reads a stream from the pieces: what it has been given. */
typedef struct {
    claw_archive_t *a;
    MDB_txn *txn;
    size_t want;
    unsigned char head[8 + ZSTD_FRAMEHEADERSIZE_MAX]; /* raw size, frame header */
    size_t have;
    ZSTD_DCtx *dc;
    char *buf;
    ZSTD_outBuffer out;
    int rc;
} prefix_t;

static ZSTD_DCtx *thread_dctx(void);

/* Give zstd @n more bytes of the frame; false once there is enough or on
 * an error (in @p->rc). */
static bool
prefix_feed(prefix_t *p, const void *src, size_t n)
{
    ZSTD_inBuffer in = {src, n, 0};
    while (p->out.pos < p->want && in.pos < in.size) {
        size_t r = ZSTD_decompressStream(p->dc, &p->out, &in);
        if (ZSTD_isError(r)) {
            set_error(p->a, "damaged blob: %s", ZSTD_getErrorName(r));
            p->rc = MDB_CORRUPTED;
            return false;
        }
    }
    return p->out.pos < p->want;
}

/* The blob's raw size and frame header are in p->head: get ready. */
static bool
prefix_start(prefix_t *p)
{
    uint64_t size = get_be64(p->head);
    if (p->have < 8 || size > (uint64_t)1 << 40) {
        p->rc = MDB_CORRUPTED;
        return false;
    }
    p->want = (size_t)MIN((uint64_t)p->want, size);
    unsigned id = ZSTD_getDictID_fromFrame(p->head + 8, p->have - 8);
    ZSTD_DDict *dd = NULL;
    if (id && !(dd = archive_ddict(p->a, p->txn, id))) {
        set_error(p->a, "damaged blob: zstd dictionary %u is missing", id);
        p->rc = MDB_CORRUPTED;
        return false;
    }
    if (!(p->dc = thread_dctx()) || !(p->buf = malloc(size + 1))) {
        p->rc = ENOMEM;
        return false;
    }
    /* zstd writes into our buffer (it is the whole message's size and stays
     * put), not through a window of its own. */
    ZSTD_DCtx_reset(p->dc, ZSTD_reset_session_and_parameters);
    ZSTD_DCtx_setParameter(p->dc, ZSTD_d_stableOutBuffer, 1);
    ZSTD_DCtx_refDDict(p->dc, dd);
    p->out = (ZSTD_outBuffer){p->buf, size, 0};
    return prefix_feed(p, p->head + 8, p->have - 8);
}

/* The first @want bytes of message @dk (all of it when it is shorter),
 * decompressed straight from the stream's pieces on their LMDB pages: only
 * the pieces that hold them are read, and zstd stops once it has given
 * that much. */
/* One run of the frame for read_prefix: the raw size and frame header
 * first (they may span pieces), then zstd. False once it has enough. */
static bool
prefix_run(void *ctx, const unsigned char *d, size_t m, bool last)
{
    prefix_t *p = ctx;
    size_t pos = 0;
    if (!p->buf) {
        while (p->have < sizeof p->head && pos < m)
            p->head[p->have++] = d[pos++];
        if (p->have < sizeof p->head && !last)
            return true;
        if (!prefix_start(p))
            return false;
    }
    return prefix_feed(p, d + pos, m - pos);
}

static int
read_prefix(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8], size_t want, char **data,
            size_t *len)
{
    prefix_t p = {.a = a, .txn = txn, .want = want};
    size_t total;
    int rc = each_run(a, txn, dk, prefix_run, &p, &total);
    /* Done: zstd gave all that was wanted. Anything else (pieces missing,
     * the stream ending early, zstd's error) is damage. */
    if (rc == 0 && (!p.buf || p.rc || p.out.pos < p.want))
        rc = p.rc ? p.rc : MDB_CORRUPTED;
    if (p.dc)
        ZSTD_DCtx_reset(p.dc, ZSTD_reset_session_and_parameters);
    if (rc) {
        free(p.buf);
        return rc;
    }
    p.buf[p.want] = '\0';
    *data = p.buf;
    *len = p.want;
    return 0;
}

/* T_SUBJECT and, if @origins, T_TEXTS of a meta record. */
typedef struct {
    char *subject;
    bool want_origins;
    rec_ctx_t texts; /* T_TEXTS into texts.r */
} text_fields_t;

static void
text_field(void *ctx, unsigned tag, const char *p, size_t n)
{
    text_fields_t *t = ctx;
    if (tag == T_SUBJECT && !t->subject)
        t->subject = g_strndup(p, n);
    else if (tag == T_TEXTS && t->want_origins && !t->texts.r->text_parts)
        t->texts.r->has_text_origins = read_text_origins(&t->texts, p, n);
}

claw_status_t
claw_archive_texts(claw_archive_t *a, claw_engine_t *engine, uint64_t docid, bool subject_only,
                   char **subject, claw_message_t **texts)
{
    *subject = NULL;
    *texts = NULL;
    if (!a->have_dbs) {
        set_error(a, "no message %" PRIu64 " in the archive", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    MDB_txn *txn;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    unsigned char dk[8];
    be64(dk, docid);
    MDB_val k = {8, dk}, v;
    claw_record_t r = {0};
    text_fields_t t = {.want_origins = !subject_only, .texts = {.r = &r}};
    char *raw = NULL;
    size_t len = 0;
    claw_status_t st = CLAW_STATUS_SUCCESS;
    rc = mdb_get(txn, a->dbi[DB_META], &k, &v);
    if (rc) {
        if (rc == MDB_NOTFOUND)
            set_error(a, "no message %" PRIu64 " in the archive", docid);
        st = rc == MDB_NOTFOUND ? CLAW_STATUS_NOT_FOUND : mdb_status(a, rc, "read");
        goto out;
    }
    if (!subject_only)
        t.texts.s = g_string_chunk_new(256);
    if (!record_each(a, txn, &v, text_field, &t)) {
        set_error(a, "message %" PRIu64 ": damaged record", docid);
        st = CLAW_STATUS_IO_ERROR;
        goto out;
    }
    if (subject_only)
        goto out;
    if (r.has_text_origins) {
        /* Only as far as the last text's content: mail puts its texts first
         * and its attachments after them. */
        size_t want = 0;
        for (size_t i = 0; i < r.n_texts; i++)
            want = MAX(want, (size_t)(r.text_origins[i].offset + r.text_origins[i].length));
        if ((rc = read_prefix(a, txn, dk, want, &raw, &len)))
            st = mdb_status(a, rc, "read the message");
        else
            st = claw_message_texts_from(engine, raw, len, r.text_parts, r.text_origins,
                                         r.n_texts, texts);
    } else {
        st = get_raw(a, txn, docid, &raw, &len);
        if (!st)
            st = claw_message_parse_text(engine, raw, len, texts);
    }
out:
    read_end(a, txn);
    free(raw);
    free(r.text_parts);
    free(r.text_origins);
    if (t.texts.s)
        g_string_chunk_free(t.texts.s);
    if (st) {
        g_free(t.subject);
    } else {
        *subject = t.subject ? t.subject : g_strdup("");
    }
    return st;
}

claw_status_t
claw_archive_raw(claw_archive_t *a, uint64_t docid, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!a->have_dbs) {
        set_error(a, "no message %" PRIu64 " in the archive", docid);
        return CLAW_STATUS_NOT_FOUND;
    }
    MDB_txn *txn;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    claw_status_t st = get_raw(a, txn, docid, data, len);
    read_end(a, txn);
    return st;
}

claw_status_t
claw_archive_find_id(claw_archive_t *a, const char *id, uint64_t *docids, size_t max, size_t *n)
{
    *n = 0;
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    unsigned char h[32];
    MDB_val k = key_of(id, h), v;
    if (mdb_cursor_open(txn, a->dbi[DB_CID], &c) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0 && *n < max;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP))
            docids[(*n)++] = get_be64(v.mv_data);
        mdb_cursor_close(c);
    }
    read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_archive_find_sha(claw_archive_t *a, const char *hex, uint64_t *docid)
{
    if (strlen(hex) != 64 || !a->have_dbs)
        return CLAW_STATUS_NOT_FOUND;
    unsigned char sha[32];
    hex_to_bin(hex, sha, 32);
    MDB_txn *txn;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    rc = sha_lookup(a, txn, sha, docid);
    read_end(a, txn);
    return rc == 0 ? CLAW_STATUS_SUCCESS : CLAW_STATUS_NOT_FOUND;
}

claw_status_t
claw_archive_log(claw_archive_t *a, uint64_t after, size_t max,
                 bool (*fn)(void *ctx, uint64_t seq, uint64_t docid), void *ctx)
{
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    unsigned char sk[8];
    be64(sk, after + 1);
    MDB_val k = {8, sk}, v;
    size_t done = 0;
    if ((rc = mdb_cursor_open(txn, a->dbi[DB_LOG], &c)) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && (!max || done < max);
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), done++)
            if (!fn(ctx, get_be64(k.mv_data), get_be64(v.mv_data)))
                break;
        mdb_cursor_close(c);
    }
    read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_archive_each(claw_archive_t *a, bool (*fn)(void *ctx, uint64_t docid, const char *sha_hex),
                  void *ctx)
{
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    MDB_val k, v;
    if (mdb_cursor_open(txn, a->dbi[DB_META], &c) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            claw_record_t r = {0};
            GStringChunk *s = g_string_chunk_new(256);
            rec_ctx_t rc2 = {&r, s, NULL, NULL, false};
            record_each(a, txn, &v, meta_field, &rc2);
            g_string_chunk_free(s);
            if (!fn(ctx, get_be64(k.mv_data), r.sha256))
                break;
        }
        mdb_cursor_close(c);
    }
    read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

/* Where this process maps the store (LMDB does not say unless the map is
 * fixed): the mapping of data.mdb's inode at offset 0. */
static bool
find_map(claw_archive_t *a, uintptr_t *start, uintptr_t *end)
{
    mdb_filehandle_t fd;
    struct stat sb;
    if (mdb_env_get_fd(a->env, &fd) != 0 || fstat(fd, &sb) != 0)
        return false;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %lu", &lo, &hi, &off, &ino) == 4 && off == 0 &&
            ino == (unsigned long)sb.st_ino) {
            *start = lo;
            *end = hi;
            found = true;
        }
    }
    fclose(f);
    return found;
}

void
claw_archive_release_pages(claw_archive_t *a)
{
    uintptr_t start, end;
    pthread_rwlock_rdlock(&a->resize); /* the map stays where it is */
    /* A shared file mapping, never written through (no MDB_WRITEMAP): the
     * pages' contents are the file's, whoever reads them next. */
    if (find_map(a, &start, &end))
        madvise((void *)start, end - start, MADV_DONTNEED);
    pthread_rwlock_unlock(&a->resize);
}

claw_status_t
claw_archive_stats(claw_archive_t *a, claw_archive_stats_t *s)
{
    memset(s, 0, sizeof *s);
    MDB_envinfo info;
    mdb_env_info(a->env, &info);
    s->map_size = info.me_mapsize;
    char *path = g_build_filename(a->dir, "store", "data.mdb", NULL);
    struct stat st;
    if (stat(path, &st) == 0)
        s->file_bytes = (uint64_t)st.st_blocks * 512;
    g_free(path);
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    MDB_stat ms;
    if (mdb_stat(txn, a->dbi[DB_META], &ms) == 0)
        s->messages = ms.ms_entries;
    s->blobs = s->messages;
    if (mdb_stat(txn, a->dbi[DB_ENV], &ms) == 0)
        s->deliveries = ms.ms_entries;
    s->last_seq = last_key(txn, a->dbi[DB_LOG]);
    s->last_docid = last_key(txn, a->dbi[DB_META]);
    s->raw_bytes = info_get(txn, a->dbi[DB_INFO], "raw_bytes");
    s->stored_bytes = info_get(txn, a->dbi[DB_INFO], "stored_bytes");
    MDB_val rk = {5, "rdict"}, rv;
    if (mdb_get(txn, a->dbi[DB_INFO], &rk, &rv) == 0 && rv.mv_size == 4)
        s->record_dictionary = get_be32(rv.mv_data);
    /* Counted at store time: stats stay O(1) (claw search asks them). */
    for (int i = 0; i < 4; i++) {
        char an[32];
        s->by_action[i] =
            info_get(txn, a->dbi[DB_INFO], action_key(an, claw_action_to_string((claw_action_t)i)));
    }
    read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_archive_verify(claw_archive_t *a, bool deep, void (*fn)(void *ctx, const char *problem),
                    void *ctx, uint64_t *n_problems)
{
    *n_problems = 0;
    if (!a->have_dbs)
        return CLAW_STATUS_SUCCESS;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    char msg[1024];
#define PROBLEM(...)                                                                              \
    do {                                                                                          \
        snprintf(msg, sizeof msg, __VA_ARGS__);                                                   \
        fn(ctx, msg);                                                                             \
        (*n_problems)++;                                                                          \
    } while (0)
    MDB_val k, v;
    GHashTable *logged = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    GArray *docs = g_array_new(FALSE, FALSE, sizeof(gint64));
    /* The log: every docid it names is stored; every stored one is named. */
    if (mdb_cursor_open(txn, a->dbi[DB_LOG], &c) == 0) {
        uint64_t prev = 0;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            uint64_t seq = get_be64(k.mv_data);
            if (seq <= prev)
                PROBLEM("log: sequence %" PRIu64 " after %" PRIu64, seq, prev);
            prev = seq;
            gint64 *d = g_new(gint64, 1);
            *d = (gint64)get_be64(v.mv_data);
            g_array_append_val(docs, *d);
            g_hash_table_add(logged, d);
        }
        mdb_cursor_close(c);
    }
    uint64_t n_meta = 0, by_action[4] = {0};
    if (mdb_cursor_open(txn, a->dbi[DB_META], &c) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            n_meta++;
            gint64 docid = (gint64)get_be64(k.mv_data);
            claw_record_t r = {0};
            GStringChunk *sc = g_string_chunk_new(256);
            rec_ctx_t rc2 = {&r, sc, NULL, NULL, false};
            if (!record_each(a, txn, &v, meta_field, &rc2) || !r.sha256[0])
                PROBLEM("message %" PRId64 ": damaged record", docid);
            for (int i = 0; i < 4; i++)
                if (r.action && !strcmp(r.action, claw_action_to_string((claw_action_t)i)))
                    by_action[i]++;
            g_string_chunk_free(sc);
            if (!g_hash_table_contains(logged, &docid))
                PROBLEM("message %" PRId64 ": not in the log", docid);
            unsigned char sha[32];
            hex_to_bin(r.sha256, sha, 32);
            uint64_t back = 0;
            if (sha_lookup(a, txn, sha, &back) != 0 || (gint64)back != docid)
                PROBLEM("message %" PRId64 ": its hash does not lead back to it", docid);
            GByteArray *blob = NULL;
            unsigned char dk[8];
            be64(dk, (uint64_t)docid);
            if (get_blob(a, txn, dk, &blob) != 0) {
                PROBLEM("message %" PRId64 ": raw message missing", docid);
            } else if (deep) {
                char *data;
                size_t len;
                MDB_val bv = {blob->len, blob->data};
                if (decompress(a, txn, &bv, &data, &len) != CLAW_STATUS_SUCCESS) {
                    PROBLEM("message %" PRId64 ": %s", docid, a->error);
                } else {
                    unsigned char h[32];
                    SHA256((unsigned char *)data, len, h);
                    if (memcmp(h, sha, 32) != 0)
                        PROBLEM("message %" PRId64 ": raw message does not match its hash",
                                docid);
                    free(data);
                }
            }
            if (blob)
                g_byte_array_unref(blob);
        }
        mdb_cursor_close(c);
    }
    for (guint i = 0; i < docs->len; i++) {
        unsigned char dk[8];
        be64(dk, (uint64_t)g_array_index(docs, gint64, i));
        MDB_val mk = {8, dk}, mv;
        if (mdb_get(txn, a->dbi[DB_META], &mk, &mv) != 0)
            PROBLEM("log names message %" PRId64 ", which is not stored",
                    g_array_index(docs, gint64, i));
    }
    for (int i = 0; i < 4; i++) {
        char an[32];
        action_key(an, claw_action_to_string((claw_action_t)i));
        uint64_t counted = info_get(txn, a->dbi[DB_INFO], an);
        if (counted != by_action[i])
            PROBLEM("%s: %" PRIu64 " messages counted, %" PRIu64 " stored", an, counted,
                    by_action[i]);
    }
#undef PROBLEM
    g_hash_table_destroy(logged);
    g_array_free(docs, TRUE);
    read_end(a, txn);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_archive_doc(claw_archive_t *a, claw_engine_t *engine, const claw_prepare_options_t *opt,
                 uint64_t docid, claw_doc_t **doc)
{
    *doc = NULL;
    if (!a->have_dbs)
        return CLAW_STATUS_NOT_FOUND;
    MDB_txn *txn;
    int rc = read_begin(a, &txn);
    if (rc)
        return mdb_status(a, rc, "begin");
    claw_record_t *r = NULL;
    char *raw = NULL;
    size_t len = 0;
    claw_status_t st = get_record(a, txn, docid, REC_DELIVERIES, &r);
    if (!st)
        st = get_raw(a, txn, docid, &raw, &len);
    read_end(a, txn);
    claw_message_t *msg = NULL;
    if (!st)
        st = claw_message_parse(engine, raw, len, &msg);
    if (!st) {
        *doc = claw_doc_build(msg, r, raw, len, opt);
        if (!*doc)
            st = CLAW_STATUS_OUT_OF_MEMORY;
    }
    claw_message_destroy(msg);
    free(raw);
    claw_record_free(r);
    return st;
}
