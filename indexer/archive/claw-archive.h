/* claw-archive.h - the archive: LMDB store (the truth) and what clawd and
 * claw need around it.
 *
 * Not part of libclaw.so: the MTA plugins must not pull in LMDB, Xapian or
 * libstdc++. clawd and claw link this as lib/libclaw-archive.la, on top of
 * the public libclaw API.
 *
 * Layout of an archive directory:
 *   DIR/store/data.mdb   LMDB: raw messages, metadata, envelopes, the log
 *   DIR/index/           Xapian: derived, rebuilt from the store at will
 *
 * The store (LMDB named databases):
 *   blob   piece number (u64 BE)    -> 2022 bytes of one stream holding
 *                                      every message as u64 raw size (BE)
 *                                      + zstd frame (dense leaf pages)
 *   loc    docid (u64 BE)           -> offset in the stream (u64 BE) +
 *                                      length (u32 BE)
 *   dict   dictionary id (u32 BE)   -> zstd dictionary a frame or record
 *                                      may name
 *   sha    sha256's first 8 bytes   -> docids (duplicates sorted); the meta
 *                                      record has the whole hash
 *   meta   docid (u64 BE)           -> record (see claw_record_t)
 *   env    docid (u64 BE) + n (u32) -> one delivery's envelope: what makes
 *                                      it that delivery, then its source and
 *                                      time (a delivery seen twice, the
 *                                      MTA's retry after a lost 250, is
 *                                      stored once)
 *   cid    X-Clawback-Id            -> docid (duplicates sorted)
 *   log    seq (u64 BE)             -> docid: every change, in order; the
 *                                      index follows it
 *   info   name                     -> counters (u64 BE), "format" (the
 *                                      layout's version), "dict" (the id
 *                                      of the newest dictionary), "rdict"
 *                                      (the records' dictionary)
 * Records (meta, env) are fields of a tag byte, a varint length and the
 * bytes; once there is a records' dictionary they are stored compressed
 * with it (a byte 0xFF, its id, a zstd frame).
 * Every write is one transaction committed with sync on.
 */
#ifndef CLAW_ARCHIVE_H
#define CLAW_ARCHIVE_H

#include "claw.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct claw_archive claw_archive_t;

/** One delivery of a message: what the MTA said about it. Strings may be
 * NULL. */
typedef struct claw_delivery {
    const char *mail_from;   /**< envelope sender; "" for <> */
    const char *const *rcpt; /**< every envelope recipient, Bcc included */
    size_t n_rcpt;
    const char *client_ip;
    const char *helo;
    const char *queue_id;    /**< the MTA's id of it (Exim's message id): where a
                              * copy may still wait in its queue */
    const char *mta_host;    /**< the MTA that received it (Exim's
                              * $primary_hostname): whose queue that is */
    const char *withheld;    /**< "yes": the MTA quarantined it at reception and
                              * delivered it to the archive alone, to be
                              * quarantined there (claw release) */
    const char *source;      /**< "lmtp", "import" */
    int64_t time_ms;         /**< arrival, ms since the epoch */
    bool trusted;            /**< from an MTA that authenticated itself
                              * (clawd's group-only Unix socket; claw
                              * import --trust-headers): the X-Clawback-*
                              * fields it wrote are believed. Otherwise
                              * they stay in the message as written and
                              * are never used: the archive makes its own
                              * id and verdict. */
} claw_delivery_t;

/** What an MTA says of a delivery besides the LMTP envelope: in clawd's
 * XFORWARD command, or as X-Clawback-Envelope-* header fields from an MTA
 * that cannot send XFORWARD. One builder (delivery.c) reads both. */
typedef enum claw_delivery_attr {
    CLAW_DELIVERY_CLIENT_IP, /**< XFORWARD ADDR=, X-Clawback-Envelope-IP */
    CLAW_DELIVERY_HELO,      /**< XFORWARD HELO=, X-Clawback-Envelope-HELO */
    CLAW_DELIVERY_QUEUE_ID,  /**< XFORWARD IDENT=, X-Clawback-Envelope-Queue-Id */
    CLAW_DELIVERY_WITHHELD,  /**< X-Clawback-Envelope-Withheld (no XFORWARD name) */
    CLAW_DELIVERY_MTA_HOST,  /**< X-Clawback-Envelope-Host (no XFORWARD name) */
    CLAW_DELIVERY_MAIL_FROM, /**< X-Clawback-Envelope-From: <sender>, the
                              * message's envelope sender where the MTA
                              * gave the archive copy a return path of its
                              * own (Exim's errors_to: its failures go to
                              * postmaster, not the sender) */
    CLAW_DELIVERY_N_ATTRS
} claw_delivery_attr_t;

/** The attributes gathered so far; zero it to start, claw_delivery_attrs_clear()
 * to end. */
typedef struct claw_delivery_attrs {
    char *value[CLAW_DELIVERY_N_ATTRS]; /**< NULL: none; owned */
} claw_delivery_attrs_t;

/** The attribute XFORWARD calls @name ("ADDR", "HELO", any case), or -1
 * for one the archive does not keep (NAME, PROTO, SOURCE...). */
int claw_delivery_attr_from_xforward(const char *name);
/** The header field that carries @attr ("X-Clawback-Envelope-IP"); NULL
 * out of range. */
const char *claw_delivery_attr_header(claw_delivery_attr_t attr);
/** Set @attr to @value (copied; XFORWARD's xtext already decoded), replacing
 * what it had. No value: NULL, "", "[UNAVAILABLE]", "[TEMPUNAVAIL]", and a
 * value holding a control character. Postfix's "IPV6:" before a client
 * address is dropped. */
void claw_delivery_attrs_set(claw_delivery_attrs_t *attrs, claw_delivery_attr_t attr,
                             const char *value);
/** Fill @d's client_ip, helo and the rest, where NULL or "", from @attrs;
 * its mail_from from CLAW_DELIVERY_MAIL_FROM whenever that is given. @d
 * then points into @attrs. */
void claw_delivery_attrs_fill(const claw_delivery_attrs_t *attrs, claw_delivery_t *d);
void claw_delivery_attrs_clear(claw_delivery_attrs_t *attrs);

/** A stored message as read back. Strings are "" when absent. */
typedef struct claw_record {
    uint64_t docid;
    char sha256[65];
    char id[CLAW_ID_SIZE];   /**< X-Clawback-Id */
    int64_t arrival_ms;      /**< first delivery */
    uint64_t size;           /**< raw bytes */
    int64_t date;            /**< Date header, seconds; 0 if none */
    const char *message_id;
    const char *subject;
    const char *from;        /**< the From address */
    const char *from_name;
    const char *action;      /**< accept, tag, quarantine, reject */
    double score;
    const char *rules;       /**< comma separated */
    const char *verdict_source; /**< "mta" (X-Clawback-* headers) or "archive" */
    const char *dmarc;       /**< Clawback's DMARC result in the MTA ("pass", "fail", ...) */
    const char *dmarc_policy; /**< the From domain's policy for a failure */
    bool quarantined;        /**< taken out of view by purge plan quarantine_plan */
    uint64_t quarantine_plan;
    size_t n_deliveries;
    claw_delivery_t *deliveries;
    /** Where the message's texts came from, when the store knows it
     * (has_text_origins): @n_texts parts (part, content type, charset; no
     * text) and their origins, for claw_message_texts_from(). */
    bool has_text_origins;
    size_t n_texts;
    claw_text_t *text_parts;
    claw_text_origin_t *text_origins;
    struct claw_record_private *priv;
} claw_record_t;

void claw_record_free(claw_record_t *rec);

#define CLAW_ARCHIVE_READ_ONLY 0x1u

/** Open (creating when writable) the store under @dir/store. Clears stale
 * reader slots. On failure *@error says why (free()). */
claw_status_t claw_archive_open(const char *dir, unsigned flags, uint64_t map_size,
                                claw_archive_t **archive, char **error);
void claw_archive_close(claw_archive_t *archive);
/** The last detailed error on @archive. */
const char *claw_archive_error(const claw_archive_t *archive);
const char *claw_archive_dir(const claw_archive_t *archive);
/** A number the archive keeps for its programs under @name (clawd's
 * "hunted_through" and "linked_seq"); 0 when it has none. */
uint64_t claw_archive_info_get(claw_archive_t *archive, const char *name);
claw_status_t claw_archive_info_set(claw_archive_t *archive, const char *name, uint64_t value);
/** Store transactions this process committed (group commits hold many). */
unsigned claw_archive_commits(const claw_archive_t *archive);
/** Whether LMDB gave up on the store (MDB_PANIC, after an I/O error while
 * writing its meta page): no transaction succeeds until the store is
 * opened again, so the process should end and be started again (clawd
 * exits 75 for its supervisor). What was committed before is intact. */
bool claw_archive_broken(const claw_archive_t *archive);
/** Train a zstd dictionary (tuned for @level) in the background once the
 * store holds @after messages (0: never); later messages are compressed
 * with it. */
void claw_archive_set_dictionary(claw_archive_t *archive, uint64_t after, int level);
/** The id of the dictionary new messages are compressed with; 0: none. */
uint32_t claw_archive_dictionary(claw_archive_t *archive);
/** A bulk load (claw import): the dictionary is trained in the thread that
 * stores, which waits for it (a fraction of a second, once), so that what
 * is stored after it is compressed with it. Otherwise (clawd) it is trained
 * beside, and the messages meanwhile go without. */
void claw_archive_set_bulk(claw_archive_t *archive, bool bulk);

/* ------------------------------------------------------------------------
 * Ingest: prepare in any thread, store in one.
 * --------------------------------------------------------------------- */

typedef struct claw_item claw_item_t;

typedef enum claw_item_outcome {
    CLAW_ITEM_PENDING = 0,
    CLAW_ITEM_NEW,          /**< a message not seen before */
    CLAW_ITEM_NEW_DELIVERY, /**< the same bytes again, with another envelope */
    CLAW_ITEM_DUPLICATE     /**< the same bytes and envelope: nothing to do */
} claw_item_outcome_t;

typedef struct claw_doc claw_doc_t;

typedef struct claw_prepare_options {
    int zstd_level;
    claw_archive_t *archive;   /**< whose zstd dictionary compresses (or NULL) */
    const char *const *index_headers; /**< header names to index, lowercase */
    size_t n_index_headers;
    bool positions;            /**< word positions (phrase search) */
    size_t max_text_bytes;     /**< body text indexed per message */
    const char *const *trusted_authserv; /**< [policy] trusted_authserv_ids,
                                          * lowercase: whose results auth: finds */
    size_t n_trusted_authserv;
} claw_prepare_options_t;

/** Parse @raw (copied), take its id and verdict from X-Clawback-* headers
 * (only when @delivery is trusted) or classify it with @engine, compress it
 * and build its index document. From a trusted delivery, strips the
 * X-Clawback-Envelope-* headers an MTA adds for clawd (their values fill
 * the envelope's gaps). Thread-safe for distinct engines. */
claw_status_t claw_item_prepare(claw_engine_t *engine, const claw_prepare_options_t *opt,
                                const char *raw, size_t len, const claw_delivery_t *delivery,
                                claw_item_t **item);
void claw_item_free(claw_item_t *item);
claw_item_outcome_t claw_item_outcome(const claw_item_t *item);
uint64_t claw_item_docid(const claw_item_t *item);
uint64_t claw_item_seq(const claw_item_t *item);
const char *claw_item_id(const claw_item_t *item);
const char *claw_item_action(const claw_item_t *item);
/** Its Message-ID and the MTA's queue id ("" when unknown), for logs. */
const char *claw_item_message_id(const claw_item_t *item);
const char *claw_item_queue_id(const claw_item_t *item);
/** The index document built with the item (NULL once taken). The caller
 * owns what it takes. */
claw_doc_t *claw_item_take_doc(claw_item_t *item);

/** Store @n items in one transaction, committed with sync. Sets each
 * item's outcome, docid and seq. Grows the map and retries on MDB_MAP_FULL.
 * On failure nothing is stored. */
claw_status_t claw_archive_store(claw_archive_t *archive, claw_item_t *const *items, size_t n);

/* ------------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------- */

claw_status_t claw_archive_get(claw_archive_t *archive, uint64_t docid, claw_record_t **rec);
/** The record alone, without its deliveries (n_deliveries is 0) or text
 * origins: what a list of hits shows. */
claw_status_t claw_archive_get_summary(claw_archive_t *archive, uint64_t docid,
                                       claw_record_t **rec);
/** What a phrase check reads of message @docid: its subject (*@subject,
 * "" if none; g_free()) and, unless @subject_only, its texts (*@texts):
 * decoded again from where they are in the message when the store knows
 * that (claw_message_texts_from(), reading only as much of the message as
 * needed), else from a parse of it (claw_message_parse_text()). */
claw_status_t claw_archive_texts(claw_archive_t *archive, claw_engine_t *engine, uint64_t docid,
                                 bool subject_only, char **subject, claw_message_t **texts);
/** The raw message, malloc'd. */
claw_status_t claw_archive_raw(claw_archive_t *archive, uint64_t docid, char **data,
                               size_t *len);
/** Docids stored under X-Clawback-Id @id (up to @max). */
claw_status_t claw_archive_find_id(claw_archive_t *archive, const char *id, uint64_t *docids,
                                   size_t max, size_t *n);
/** Docid of the message with raw SHA-256 @hex (full 64 hex digits). */
claw_status_t claw_archive_find_sha(claw_archive_t *archive, const char *hex,
                                    uint64_t *docid);
/** Call @fn for every log entry after @after (seq, docid) until it returns
 * false; at most @max entries (0: all). */
claw_status_t claw_archive_log(claw_archive_t *archive, uint64_t after, size_t max,
                               bool (*fn)(void *ctx, uint64_t seq, uint64_t docid), void *ctx);

typedef struct claw_archive_stats {
    uint64_t messages, blobs, deliveries, last_seq, last_docid;
    uint64_t raw_bytes;        /**< sum of raw sizes (each blob once) */
    uint64_t stored_bytes;     /**< compressed blob bytes */
    uint64_t file_bytes;       /**< data.mdb on disk */
    uint64_t map_size;
    uint64_t by_action[4];
    uint32_t record_dictionary; /**< what compresses meta and envelope records; 0: none */
} claw_archive_stats_t;

claw_status_t claw_archive_stats(claw_archive_t *archive, claw_archive_stats_t *stats);
/** Write the store at @dir afresh with its live pages alone (free pages
 * may hold the bytes of erased messages), in data.mdb's place; only when
 * no other process has it open (IO_ERROR, *@error saying so). The file's
 * sizes before and after. (compact.c) */
claw_status_t claw_archive_compact(const char *dir, uint64_t *before, uint64_t *after,
                                   char **error);

/** Unmap from this process the store's pages it has read: they stay in the
 * kernel's page cache (a later read maps them again from there, without
 * I/O). A long-running process that comes to read the whole store, as
 * clawd's indexer does when it falls behind, would otherwise keep all of
 * it resident: the file-backed part of its RSS. */
void claw_archive_release_pages(claw_archive_t *archive);

/** Walk every message in docid order: fn(ctx, docid, sha) (false stops). */
claw_status_t claw_archive_each(claw_archive_t *archive,
                                bool (*fn)(void *ctx, uint64_t docid, const char *sha_hex),
                                void *ctx);

/** Check the store's internal agreement (every meta has its blob, sha and
 * log entries, the blob decompresses to its hash). Problems go to @fn. */
claw_status_t claw_archive_verify(claw_archive_t *archive, bool deep,
                                  void (*fn)(void *ctx, const char *problem), void *ctx,
                                  uint64_t *n_problems);

/* ------------------------------------------------------------------------
 * Index documents (terms.c): what a message contributes to the index.
 * --------------------------------------------------------------------- */

/** Build the document for a stored message from its parsed model, its
 * record (verdict, id) and deliveries. */
claw_doc_t *claw_doc_build(const claw_message_t *msg, const claw_record_t *rec,
                           const char *raw, size_t raw_len, const claw_prepare_options_t *opt);
/** The value of header field @name (any case) in the header block of
 * @raw, unfolded and trimmed; NULL when it has none. g_free() it. */
char *claw_raw_header(const char *raw, size_t len, const char *name);
/** The document of an erased message: no terms, so that it matches
 * nothing and hides the version the index had. */
claw_doc_t *claw_doc_empty(void);
void claw_doc_free(claw_doc_t *doc);

/** Message @docid as the store holds it, in one read: its record with
 * its deliveries in *@rec, its raw bytes in *@raw (free() them after the
 * message), parsed with @engine in *@msg. On failure all are NULL and the
 * archive's error says why (a record or message not there, or not parsed). */
claw_status_t claw_archive_parse(claw_archive_t *archive, claw_engine_t *engine, uint64_t docid,
                                 claw_message_t **msg, claw_record_t **rec, char **raw,
                                 size_t *len);

/** Rebuild the document of @docid from the store alone (decompress, parse
 * with @engine, no classification). */
claw_status_t claw_archive_doc(claw_archive_t *archive, claw_engine_t *engine,
                               const claw_prepare_options_t *opt, uint64_t docid,
                               claw_doc_t **doc);

/* Reading a document (for the Xapian wrapper). Terms are prefix + value, at
 * most 240 bytes; *pos is 0 for terms without a position, which come once
 * with their count in *wdf. */
size_t claw_doc_n_terms(const claw_doc_t *doc);
const char *claw_doc_term(const claw_doc_t *doc, size_t i, uint32_t *pos, uint32_t *wdf);
double claw_doc_value(const claw_doc_t *doc, unsigned slot);

/* Value slots. */
#define CLAW_SLOT_DATE 0    /* Date header (or arrival), seconds */
#define CLAW_SLOT_SIZE 1    /* raw bytes */
#define CLAW_SLOT_ARRIVAL 2 /* first arrival, seconds */
#define CLAW_N_SLOTS 3

/** Append to @out the term(s) text @s gives under @prefix, the way the
 * index does it (for the query parser). Calls @fn per word. */
void claw_words(const char *s, size_t len, void (*fn)(void *ctx, const char *w, size_t n),
                void *ctx);

/** Is the character at @p (before @end) part of a word, as claw_words()
 * cuts them? Sets *@n to its length in bytes. */
bool claw_word_char(const char *p, const char *end, size_t *n);

/** @s as a boolean term value under @prefix: lowercased, hashed when long.
 * malloc'd. */
char *claw_term(const char *prefix, const char *s, size_t len);

/* ------------------------------------------------------------------------
 * mbox files (mbox.c)
 * --------------------------------------------------------------------- */

/** Does @d start with an mbox postmark ("From ..." line)? */
bool claw_mbox_is(const char *d, size_t len);
/** Split an mbox file: @fn gets each message (without its postmark line),
 * pointing into @d. Returns how many. See mbox.c for the rules. */
size_t claw_mbox_split(const char *d, size_t len,
                       void (*fn)(void *ctx, const char *msg, size_t n), void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* CLAW_ARCHIVE_H */
