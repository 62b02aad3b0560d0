/* archive-private.h - shared between the archive library's own files
 * (indexer/archive/); never installed. The layout of the store is in
 * claw-archive.h; this is how the code holds it:
 *   archive.c     the handle: open, close, errors, LMDB's map
 *   records.c     meta and envelope records: tags, varints, packing
 *   prepare.c     an item made ready outside the write lock: parse,
 *                 classify, compress, the record and the index document
 *   store.c       items committed to LMDB (the group commit)
 *   dictionary.c  the zstd dictionaries, trained from the store
 *   read.c        messages and their texts read back
 *   verify.c      counts and claw check's verification
 */
#ifndef CLAW_ARCHIVE_PRIVATE_H
#define CLAW_ARCHIVE_PRIVATE_H

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
    T_DMARC, /* Clawback's own DMARC result at arrival, and the policy */
    T_DMARC_POLICY,
    T_MAIL_FROM = 20,
    T_RCPT,
    T_IP,
    T_HELO,
    T_SOURCE,
    T_TIME,
    T_QUEUE_ID, /* after the time: not part of what makes a delivery the same */
    T_MTA_HOST  /* nor this */
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
    DB_IOC,      /* indicators by id (ioc.c) */
    DB_IOC_KEY,  /* "type:value" -> id */
    DB_HUNT,     /* hunts by id (hunt.c) */
    DB_HUNT_HIT, /* hunt id, docid -> where the indicator is in the message */
    DB_AUDIT,    /* the audit log by record number (audit.c) */
    DB_HOLD,     /* legal holds by id (hold.c) */
    DB_STATE,    /* docid -> quarantined or erased (tombstone) (takeback.c) */
    DB_PLAN,     /* purge plans by id (plan.c) */
    DB_COPY,     /* plan id + copy number (u32 BE) -> the copy's journal entry */
    N_DBS
};
static const char *const db_names[N_DBS] = {"blob", "loc",     "sha",  "meta",    "env",
                                            "cid",  "log",     "info", "dict",    "ioc",
                                            "ioc_key", "hunt", "hunt_hit", "audit", "hold",
                                            "state", "plan", "copy"};
/* The first database an archive written before it may lack (read-only,
 * such an archive reads as having none of them). */
#define DB_FIRST_ADDED DB_IOC

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
    bool have_iocs; /* DB_IOC, DB_IOC_KEY, DB_HUNT and DB_HUNT_HIT are open */
    bool have_audit; /* DB_AUDIT is open */
    bool have_holds; /* DB_HOLD is open */
    bool have_purge; /* DB_STATE, DB_PLAN and DB_COPY are open */
    bool read_only;
    char *dir;
    char error[512];
    /* Readers hold it shared, a map resize exclusively: LMDB resizes only
     * with no transaction open in the process. */
    pthread_rwlock_t resize;
    unsigned commits; /* by this process */
    int panicked;     /* LMDB said MDB_PANIC (g_atomic): see claw_archive_broken() */

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
    GBytes *rdict;          /* its bytes (writable archives) */
    ZSTD_CDict *rcdict;     /* built from them at the first record compressed: */
    uint32_t rcdict_id;     /* a search that opens the store only to audit */
    int rcdict_level;       /* its read should not build one */
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
    bool withheld; /* the MTA quarantined it at reception: stored quarantined */
    char *message_id, *queue_id; /* for the log line (g_free) */
};

struct claw_record_private {
    GStringChunk *strings;
    GPtrArray *arrays; /* the deliveries' recipient lists */
};

/* A record being read back (records.c): _claw_get_record() reads the
 * deliveries and the texts' origins only when asked. */
#define REC_DELIVERIES 0x1u
#define REC_TEXTS 0x2u

typedef struct {
    claw_record_t *r;
    GStringChunk *s;
    claw_delivery_t *d;
    GPtrArray *rcpt; /* per delivery, NULL-terminated later */
    bool texts;      /* read T_TEXTS too */
} rec_ctx_t;

/* The handle and its helpers (archive.c) */
void _claw_set_error(claw_archive_t *a, const char *fmt, ...) CLAW_PRINTF(2, 3);
void _claw_free_cdict(gpointer d);
void _claw_free_ddict(gpointer d);
claw_status_t _claw_mdb_status(claw_archive_t *a, int rc, const char *what);
void _claw_be_put(unsigned char *out, uint64_t v, int n);
uint64_t _claw_be_get(const void *p, int n);
void _claw_be64(unsigned char out[8], uint64_t v);
/* The SHA-256 of @n bytes, with GLib's: a command that reads the archive
 * (claw search, with its audit record) need not load OpenSSL for it. */
void _claw_sha256(const void *data, size_t n, unsigned char out[32]);
uint64_t _claw_get_be64(const void *p);
void _claw_be32(unsigned char out[4], uint32_t v);
uint32_t _claw_get_be32(const void *p);

/* Run @fn in a write transaction, committed when @fn returns 0; when the
 * map is full it is grown and @fn runs again in a new transaction (up to 8
 * times), so @fn must start from its context afresh each time. Fails with
 * the handle's error saying "@what: ..." (archive.c) */
claw_status_t _claw_write(claw_archive_t *a, const char *what,
                          int (*fn)(claw_archive_t *a, MDB_txn *txn, void *ctx), void *ctx);

/* In a read transaction, call @fn with each key of @dbi (and its value)
 * from @from (@from_len bytes) while the keys start with it, or with all
 * when @from_len is 0; @fn stops the walk by returning false, and fails
 * it by setting *@st. An LMDB error says "@what: ..." (archive.c) */
claw_status_t _claw_walk(claw_archive_t *a, MDB_dbi dbi, const unsigned char *from,
                         size_t from_len, const char *what,
                         bool (*fn)(claw_archive_t *a, MDB_txn *txn, const MDB_val *k,
                                    const MDB_val *v, void *ctx, claw_status_t *st),
                         void *ctx);

/* Append a record to the audit log in @txn, the change's own (audit.c):
 * an LMDB error code. */
int _claw_audit_append(claw_archive_t *a, MDB_txn *txn, const char *actor, const char *action,
                       const char *args, const char *result);

/* The archive's copy in a plan's step (takeback.c): quarantine, restore
 * or erase message @docid in @txn; *@status is the copy's end (DONE, GONE)
 * and *@detail (g_free) says more. An LMDB error code. */
int _claw_takeback(claw_archive_t *a, MDB_txn *txn, int action, uint64_t docid, uint64_t plan,
                   const char *by, const char *reason, int64_t now, int *status, char **detail);
/* Message @docid's state (a claw_msg_state_t) in @txn, and the plan that
 * quarantined or erased it. */
int _claw_msg_state(claw_archive_t *a, MDB_txn *txn, uint64_t docid, int *state, uint64_t *plan);
/* Message @docid, stored now, quarantined at reception by the MTA (no
 * plan: claw release delivers it), in @txn. */
int _claw_quarantine_at_reception(claw_archive_t *a, MDB_txn *txn, uint64_t docid, int64_t now);

/* Records: writing and reading meta and envelope records (records.c) */
void _claw_put_varint(GByteArray *r, uint64_t v);
void _claw_rec_add(GByteArray *r, unsigned tag, const void *s, size_t len);
void _claw_rec_str(GByteArray *r, unsigned tag, const char *s);
void _claw_rec_int(GByteArray *r, unsigned tag, int64_t v);
/* A field written by _claw_rec_int() (0 if malformed). */
int64_t _claw_rec_num(const char *p, size_t n);
void _claw_compress_record(claw_archive_t *a, GByteArray *rec);
bool _claw_record_plain(claw_archive_t *a, MDB_txn *txn, const MDB_val *v, MDB_val *plain, void **buf);
bool _claw_record_each(claw_archive_t *a, MDB_txn *txn, const MDB_val *v, 
    void (*fn)(void *ctx, unsigned tag, const char *s, size_t n), void *ctx);
/* Message @docid's meta record in @v (valid until @txn ends) and its key in
 * @dk; NOT_FOUND, with the handle's error saying so, when there is none. */
claw_status_t _claw_get_meta(claw_archive_t *a, MDB_txn *txn, uint64_t docid, unsigned char dk[8],
                             MDB_val *v);
/* The record_each() reader of a meta record into a rec_ctx_t. */
void _claw_meta_field(void *ctx, unsigned tag, const char *p, size_t n);
bool _claw_read_text_origins(rec_ctx_t *c, const char *data, size_t len);
claw_status_t _claw_get_record(claw_archive_t *a, MDB_txn *txn, uint64_t docid, unsigned what, claw_record_t **out);

/* Opening (archive.c) */
int _claw_load_dict(claw_archive_t *a, MDB_txn *txn);
/* The compression dictionary of @bytes (dictionary @id) at @level, built
 * into *@cd (with *@cd_id, *@cd_level) unless it is there already; the one
 * it replaces is kept until close, as a compression may still use it.
 * NULL while there is no dictionary. Called with dict_lock held. */
const ZSTD_CDict *_claw_cdict(claw_archive_t *a, GBytes *bytes, uint32_t id, int level,
                              ZSTD_CDict **cd, uint32_t *cd_id, int *cd_level);
int _claw_read_begin(claw_archive_t *a, MDB_txn **txn);
claw_status_t _claw_read_message_begin(claw_archive_t *a, uint64_t docid, MDB_txn **txn);
void _claw_read_end(claw_archive_t *a, MDB_txn *txn);

/* Preparing an item outside the write lock (prepare.c) */
void _claw_hex_to_bin(const char *hex, unsigned char *out, size_t n);

/* Storing (store.c) */
uint64_t _claw_last_key(MDB_txn *txn, MDB_dbi dbi);
MDB_val _claw_key_of(const char *s, unsigned char hash[32]);
char * _claw_action_key(char buf[32], const char *action);
uint64_t _claw_info_get(MDB_txn *txn, MDB_dbi dbi, const char *name);
/* Add @delta to the info counter @name. */
int _claw_info_add(MDB_txn *txn, MDB_dbi dbi, const char *name, int64_t delta);
/* One run of a message's compressed bytes: @n bytes at @p, which lie at
 * @from in the stream's piece number @piece. */
typedef struct claw_run {
    uint64_t piece;
    size_t from;
    const unsigned char *p;
    size_t n;
    bool last;
} claw_run_t;
/* Call @fn on message @dk's compressed bytes in order, as they lie on the
 * stream's pieces (pointers into LMDB's pages, valid in @txn), until it
 * returns false or they end (last on the final run). *@total is their
 * length. MDB_CORRUPTED when a piece is missing or short. */
int _claw_each_run(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8],
                   bool (*fn)(void *ctx, const claw_run_t *run), void *ctx, size_t *total);
int _claw_get_blob(claw_archive_t *a, MDB_txn *txn, const unsigned char dk[8], GByteArray **out);
int _claw_sha_lookup(claw_archive_t *a, MDB_txn *txn, const unsigned char sha[32], uint64_t *docid);
int _claw_store_one(claw_archive_t *a, MDB_txn *txn, claw_item_t *it, uint64_t *next_docid, 
    uint64_t *next_seq);
void _claw_test_crash(const char *when, unsigned commits_done);

/* The compression dictionaries (dictionary.c): after a commit, train them
 * once the store is large enough. */
void _claw_maybe_train(claw_archive_t *a, uint64_t messages);

/* Reading messages back (read.c) */
ZSTD_DDict * _claw_archive_ddict(claw_archive_t *a, MDB_txn *txn, uint32_t id);
claw_status_t _claw_decompress(claw_archive_t *a, MDB_txn *txn, const MDB_val *v, char **data, size_t *len);
claw_status_t _claw_get_raw(claw_archive_t *a, MDB_txn *txn, uint64_t docid, char **data, size_t *len);

#endif /* CLAW_ARCHIVE_PRIVATE_H */
