/* claw-ingest.h - the ingest pipeline and the indexer, shared by clawd and
 * claw import.
 *
 *   submit ─▶ workers (one engine each: parse, classify, compress, terms)
 *          ─▶ writer (group commits to the store, synced) ─▶ done callback
 *          ─▶ indexer (follows the store's log into Xapian; uses the
 *             documents the workers built, or rebuilds from the store)
 */
#ifndef CLAW_INGEST_H
#define CLAW_INGEST_H

#include "claw-archive.h"
#include "claw_xapian.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct claw_indexer claw_indexer_t;
typedef struct claw_ingest claw_ingest_t;

/** Settings read from [archive]. */
typedef struct claw_archive_settings {
    char *path;
    uint64_t map_size;
    claw_prepare_options_t prep;
    uint64_t dictionary_after;
    char **index_headers; /* owned; prep points into it */
    char **trusted_authserv; /* owned; prep points into it */
    size_t commit_batch;
    int64_t commit_delay_ms;
    size_t index_batch;
    unsigned index_shards;
    unsigned threads;
} claw_archive_settings_t;

void claw_archive_settings_read(const claw_config_t *cfg, claw_archive_settings_t *s);
void claw_archive_settings_clear(claw_archive_settings_t *s);

/* ---- the indexer ---- */

/** Threads (one per shard) that keep the index at @index_dir (NULL: the
 * archive's index/) caught up with @archive; @fresh starts an empty index
 * there, replacing what was. Fails with IO_ERROR ("locked") when another
 * process holds the index. */
claw_status_t claw_indexer_start(claw_archive_t *archive, const claw_config_t *cfg,
                                 const char *index_dir, bool fresh, claw_indexer_t **indexer,
                                 char **error);
/** Hand over the document of a just-committed item (takes @doc). */
void claw_indexer_offer(claw_indexer_t *ix, uint64_t seq, claw_doc_t *doc);
/** Wake it: the store has new entries. */
void claw_indexer_kick(claw_indexer_t *ix);
/** Wait until everything stored up to @seq is indexed and committed. */
claw_status_t claw_indexer_wait(claw_indexer_t *ix, uint64_t seq);
/** A bulk load (claw import, reindex): no compaction as the index grows,
 * one of each shard when it stops instead. */
void claw_indexer_bulk(claw_indexer_t *ix);
/** Catch up, commit and stop; NULL is a no-op. */
void claw_indexer_stop(claw_indexer_t *ix);
uint64_t claw_indexer_indexed(claw_indexer_t *ix);

/* ---- the pipeline ---- */

/** Called in the writer thread once @item is stored (@st SUCCESS) or could
 * not be (@st and @error). The callback owns @item. */
typedef void (*claw_ingest_done_t)(void *ctx, void *tag, claw_item_t *item, claw_status_t st,
                                   const char *error);

claw_status_t claw_ingest_start(claw_archive_t *archive, const claw_config_t *cfg,
                                claw_indexer_t *indexer, claw_ingest_done_t done, void *done_ctx,
                                claw_ingest_t **ingest, char **error);
/** Queue one message (@raw is taken, malloc'd; @d is copied). Blocks while
 * too much is in flight. */
void claw_ingest_submit(claw_ingest_t *in, char *raw, size_t len, const claw_delivery_t *d,
                        void *tag);
/** New engines from @cfg for what is submitted from now on. */
claw_status_t claw_ingest_reload(claw_ingest_t *in, const claw_config_t *cfg, char **error);
/** Wait for everything submitted to be stored. */
void claw_ingest_drain(claw_ingest_t *in);
/** Drain and stop; NULL is a no-op. */
void claw_ingest_stop(claw_ingest_t *in);

/* ---- phrases in an index without body positions ---- */

typedef struct claw_phrase_checker claw_phrase_checker_t;
/** A checker reading messages from @archive and parsing them with @engine
 * (both borrowed) in the caller's thread, and in up to @threads - 1 helper
 * threads (0: one per processor), each with an engine of its own made from
 * @config (borrowed; NULL: no helpers). The helpers start with the first
 * batch of more than one message. One caller at a time. */
claw_phrase_checker_t *claw_phrase_checker_new(claw_archive_t *archive, claw_engine_t *engine,
                                               const claw_config_t *config, size_t max_text,
                                               unsigned threads);
void claw_phrase_checker_free(claw_phrase_checker_t *checker);
/** A claw_phrase_check_t; @ctx is the checker. */
void claw_phrase_check(void *ctx, const uint64_t *docids, size_t k, const char *prefix,
                       const char *const *words, size_t n, bool *ok);

#ifdef __cplusplus
}
#endif
#endif /* CLAW_INGEST_H */
