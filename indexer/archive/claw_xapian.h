/* claw_xapian.h - the search index, behind a C interface.
 *
 * claw_xapian.cc is the only file that includes <xapian.h>; no exception
 * crosses into C: every entry point catches Xapian::Error (and
 * std::bad_alloc) and returns a status, with the text in the handle's last
 * error.
 *
 * The index is derived from the store: document ids are the store's docids
 * and the metadata key "last_seq" is the store log position it holds,
 * committed together with the documents.
 */
#ifndef CLAW_XAPIAN_H
#define CLAW_XAPIAN_H

#include "claw-archive.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct claw_index claw_index_t;

#define CLAW_INDEX_WRITE 0x1u  /**< open for writing (takes Xapian's lock) */
#define CLAW_INDEX_CREATE 0x2u /**< ...and create it if missing */
#define CLAW_INDEX_FRESH 0x4u  /**< ...replacing any index already there */
/** ...and a shard Xapian finds damaged (a commit torn by a full disk) is
 * replaced by an empty one, which the indexer fills again from the store:
 * claw_index_repaired() then says why. */
#define CLAW_INDEX_REPAIR 0x8u
/* With CLAW_INDEX_WRITE: make the shard again, empty, without trying to
 * open it (a write on it found damaged blocks: claw_index_damaged()). */
#define CLAW_INDEX_REBUILD 0x10u

/** Open the index in @dir for searching: all its shards as one database.
 * CLAW_STATUS_NOT_FOUND when there is none. *@error is malloc'd. */
claw_status_t claw_index_open(const char *dir, unsigned flags, claw_index_t **index,
                              char **error);
/** Open shard @shard of @n_shards for writing (CLAW_INDEX_WRITE, with
 * CREATE or FRESH as wanted); the count is fixed when the index is
 * created. IO_ERROR with "locked" in *@error when another process writes
 * it. */
claw_status_t claw_index_open_shard(const char *dir, unsigned flags, unsigned shard,
                                    unsigned n_shards, claw_index_t **index, char **error);
unsigned claw_index_n_shards(const claw_index_t *index);
/** Whether a write on @ix found its blocks damaged (Xapian's
 * DatabaseCorruptError, a torn commit's "EOF reading block"): reopening
 * it would meet them again, so it is made again (CLAW_INDEX_REBUILD). */
bool claw_index_damaged(const claw_index_t *ix);
/** Whether a failed write on @ix left Xapian holding a file number it has
 * already closed (a version file a full disk cut short). Closing @ix then
 * leaves its database allocated rather than let Xapian close that number
 * again; claw_index_leaked() counts how many were left so in this process. */
bool claw_index_stale(const claw_index_t *ix);
unsigned claw_index_leaked(void);
/** A shard opened with CLAW_INDEX_REPAIR: what was wrong with the damaged
 * shard it replaced, or NULL when it was sound. */
const char *claw_index_repaired(const claw_index_t *index);

/** Writing: record whether body word positions are kept (the searcher
 * needs to know how to answer phrases). */
void claw_index_set_positions(claw_index_t *index, bool positions);

/** Does each stored message @docids[i] (of @k) hold @words in a row (in
 * its body text or subject when @prefix is "", in its subject alone when
 * "S")? The answers go to @ok[i].
 * A batch lets the checker work on several messages at once. */
typedef void (*claw_phrase_check_t)(void *ctx, const uint64_t *docids, size_t k,
                                    const char *prefix, const char *const *words, size_t n,
                                    bool *ok);
/** Searching an index without body positions: phrases are confirmed with
 * @fn (without one they match documents holding all their words). */
void claw_index_set_phrase_check(claw_index_t *index, claw_phrase_check_t fn, void *ctx);
/** Commits (when writable) and closes; NULL is a no-op. */
void claw_index_close(claw_index_t *index);
const char *claw_index_error(const claw_index_t *index);

/** The store log position the index holds (0 when empty); for a whole
 * index, its slowest shard's. */
claw_status_t claw_index_last_seq(claw_index_t *index, uint64_t *seq);
/** Index store document @docid, which must belong to this shard. */
claw_status_t claw_index_replace(claw_index_t *index, uint64_t docid, const claw_doc_t *doc);
/** Make what was added durable and record @seq as caught up to. */
claw_status_t claw_index_commit(claw_index_t *index, uint64_t seq);
/** A writable shard: commit with @seq, then replace it with a compacted
 * copy of itself (it stays open for writing). */
claw_status_t claw_index_compact(claw_index_t *index, uint64_t seq);
/** Documents in the shard (or index), and how many it had when last
 * compacted (summed over the shards). */
claw_status_t claw_index_compacted(claw_index_t *index, uint64_t *docs, uint64_t *compacted);
/** Remove a directory tree (an index or a copy of one); missing is fine. */
void claw_index_remove_tree(const char *path);
/** Documents in the index and the highest docid. */
claw_status_t claw_index_count(claw_index_t *index, uint64_t *n, uint64_t *last_docid);
/** Is @docid in the index? */
claw_status_t claw_index_has(claw_index_t *index, uint64_t docid, bool *has);
/** Call @fn for every docid in the index, in order. */
claw_status_t claw_index_each(claw_index_t *index, bool (*fn)(void *ctx, uint64_t docid),
                              void *ctx);
/** Re-open a read-only index at its latest revision. */
claw_status_t claw_index_reopen(claw_index_t *index);
/** A read-only index: does a writer (clawd, claw import or reindex) hold
 * one of its shards now? */
bool claw_index_writing(claw_index_t *index);

typedef enum claw_sort { CLAW_SORT_DATE = 0, CLAW_SORT_RELEVANCE } claw_sort_t;

/** A match. What it shows (id, date, from, subject, verdict) is in the
 * store: claw_archive_get_summary(). */
typedef struct claw_hit {
    uint64_t docid;
    double relevance; /**< percent, 0-100 */
} claw_hit_t;

typedef struct claw_hits {
    size_t n;
    claw_hit_t *hits;
    uint64_t estimated; /**< matches in all, estimated */
} claw_hits_t;

/** A limit that asks for every match (half of SIZE_MAX: offset + limit
 * cannot wrap). */
#define CLAW_HITS_ALL (SIZE_MAX / 2)

/** Run @query (the language in claw(1)); @limit hits from @offset (0: the
 * exact count alone, in estimated; CLAW_HITS_ALL: all of them). A query
 * that is malformed, too long, too deeply nested, names an unknown field or
 * has a wildcard that expands too far gives INVALID_ARGUMENT, with the
 * reason in *@error (malloc'd); never a hang. */
claw_status_t claw_index_search(claw_index_t *index, const char *query, claw_sort_t sort,
                                size_t offset, size_t limit, claw_hits_t **hits, char **error);
void claw_hits_free(claw_hits_t *hits);
/** Whether claw_index_search() gives quarantined messages too (a hold's
 * question, a purge plan's); otherwise only a query naming state: does. */
void claw_index_show_quarantined(claw_index_t *index, bool show);

/** The messages that hold any of the @n exact terms @terms (each with its
 * prefix, as claw_term() writes it), as claw_index_search() gives them,
 * with an exact count in estimated: a hunt's question, asked without the
 * query language. */
claw_status_t claw_index_search_terms(claw_index_t *index, const char *const *terms, size_t n,
                                      claw_sort_t sort, size_t offset, size_t limit,
                                      claw_hits_t **hits, char **error);

/** What `ioc:ID` in a query means: @fn gives the exact index terms (with
 * their prefixes) that indicator @id matches, as a hunt asks for them, in a
 * NULL-terminated malloc'd array of malloc'd strings (*@terms), or false
 * with *@why (malloc'd). Without one, a query naming ioc: is refused. */
typedef bool claw_index_ioc_terms_fn(void *ctx, const char *id, char ***terms, char **why);
void claw_index_set_ioc_terms(claw_index_t *index, claw_index_ioc_terms_fn *fn, void *ctx);

/** Call @fn with each term of the index that starts with @prefix (each
 * once per database that holds it: the shards, then the amendments), until
 * it returns false. */
claw_status_t claw_index_each_term(claw_index_t *index, const char *prefix,
                                   bool (*fn)(void *ctx, const char *term), void *ctx);

/** The query as Xapian understood it (for --explain and tests); malloc'd. */
claw_status_t claw_index_describe(const char *query, char **description, char **error);

#ifdef __cplusplus
}
#endif
#endif /* CLAW_XAPIAN_H */
