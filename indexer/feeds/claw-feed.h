/* claw-feed.h - indicators read from what people and threat-intel feeds
 * hand over: a value typed by hand, a plain list, a CSV file, a MISP event
 * or feed, a STIX 2.1 bundle or TAXII 2.1 collection; fetched over HTTPS
 * when it is a URL. claw (ioc add, ioc import) and clawd (the feeds it
 * pulls on a schedule) read them through this one library.
 *
 * Every reader fills a batch: the indicators to add or update, each one's
 * value normalised by libclaw's claw_ioc_normalise() (the one form a
 * message's values are compared in), and what it passed over, counted by
 * reason. A reader either reads its input whole or fails with the input's
 * name and the position of the fault; the caller stores a batch in one
 * transaction (claw_ioc_put), so an import adds everything or nothing.
 */
#ifndef CLAW_FEED_H
#define CLAW_FEED_H

#include "claw-ioc.h"

#include <glib.h>

/* The largest input a reader takes (a file, a download, a TAXII page);
 * a longer one is refused with a clear error before it is parsed. A plain
 * list of a million URLs is about 60 MB. */
#define CLAW_FEED_MAX_BYTES ((size_t)256 << 20)

/* What every indicator a batch makes gets unless its input says otherwise
 * (a STIX indicator's valid_until, a MISP attribute's comment). */
typedef struct claw_feed_defaults {
    const char *type;       /* plain lists: the type of bare values; NULL: guessed */
    const char *action;     /* NULL: what the store keeps (block for a new one) */
    const char *source;     /* "cli", "file:PATH", "feed:NAME" */
    const char *reason;     /* NULL: none, or the input's own */
    const char *added_by;
    int64_t valid_from, valid_until; /* CLAW_IOC_KEEP: as the store has it */
    int confidence;                  /* CLAW_IOC_KEEP_CONFIDENCE: idem */
} claw_feed_defaults_t;

/* Indicators read, and what was passed over. */
typedef struct claw_feed_batch {
    claw_feed_defaults_t defaults;
    GPtrArray *iocs;        /* claw_ioc_t *, g_free()d; strings in @strings.
                             * One whose revoked is set is to be revoked (a
                             * MISP attribute deleted, a STIX indicator
                             * revoked): claw_ioc_put() revokes it. */
    GStringChunk *strings;
    GHashTable *skipped;    /* reason (string) -> count (GUINT_TO_POINTER) */
    size_t n_skipped;
} claw_feed_batch_t;

void claw_feed_batch_init(claw_feed_batch_t *b, const claw_feed_defaults_t *defaults);
void claw_feed_batch_clear(claw_feed_batch_t *b);

/* Add the indicator of @type with the value @raw as given (normalised
 * here), with the batch's defaults; @type NULL: @raw is TYPE:VALUE, or a
 * bare value of the defaults' type, or guessed (claw_feed_guess_type()).
 * Returns it (the caller may set its reason, times, confidence, revoked;
 * strings through claw_feed_str()), or NULL with *@why (a static string)
 * when @raw is not an indicator of its type. */
claw_ioc_t *claw_feed_add(claw_feed_batch_t *b, const char *type, const char *raw,
                          const char **why);

/* Count an input passed over for @reason (a static or batch string). */
void claw_feed_skip(claw_feed_batch_t *b, const char *reason);

/* @text as a one-line reason that lives as long as the batch: at most
 * @max bytes, cut between UTF-8 characters, invalid bytes and control
 * characters replaced. */
const char *claw_feed_text(claw_feed_batch_t *b, const char *text, size_t max);

/* A copy of @s that lives as long as the batch. */
const char *claw_feed_str(claw_feed_batch_t *b, const char *s);

/* The type of a bare value, guessed: an IP address or range, 64 hex
 * digits (sha256), a URL ("://"), a Message-ID ("<...>"), an address
 * ("@"), else a domain. */
const char *claw_feed_guess_type(const char *value);

/* Is @t (@n bytes, any case) one of claw_ioc_types()? */
bool claw_feed_type_known(const char *t, size_t n);

/* @s as a time: ISO 8601 ("2027-01-31", "2027-01-31T12:00:00Z", with
 * fractions and zones; UTC when it names none), or a span from @now
 * ("90d", "12h", "30m", "45s", "2w"); "never" and "" give 0. */
bool claw_feed_parse_time(const char *s, int64_t now, int64_t *out);

/* @s as a time in the past: a date as claw_feed_parse_time() reads one, or
 * a span back from @now ("90d": 90 days ago). "" and "never" are not. */
bool claw_feed_parse_past(const char *s, int64_t now, int64_t *out);

/* ------------------------------------------------------------------------
 * Readers. Each takes the whole input in memory (@data, @len bytes, not
 * NUL-terminated) and @name (a file or URL, for errors). On failure: false
 * and *@error (g_free()) saying "NAME:LINE[:COL]: what", with nothing added
 * to the batch that can be trusted (the caller drops it).
 * --------------------------------------------------------------------- */

/* A plain list: a TYPE:VALUE (or bare value) a line; '#' starts a comment
 * at a line's start or after a space. */
bool claw_feed_read_plain(claw_feed_batch_t *b, const char *name, const char *data, size_t len,
                          char **error);

/* CSV (RFC 4180, libcsv) with a column mapping: @mapping is
 * "value=N,type=N,reason=N,expires=N,confidence=N" (1-based columns, or
 * header names), value required; @header: the first row names the columns
 * and is not data. */
bool claw_feed_read_csv(claw_feed_batch_t *b, const char *name, const char *data, size_t len,
                        const char *mapping, bool header, char **error);

/* A MISP event (its JSON: {"Event": {...}}, or a list of them, or a search
 * result {"response": [...]}): each attribute whose to_ids is set and whose
 * type maps to an indicator type; a deleted one is revoked. */
bool claw_feed_read_misp_event(claw_feed_batch_t *b, const char *name, const char *data,
                               size_t len, char **error);

/* A MISP feed's manifest.json: the uuids of its events (g_free() each;
 * the array frees them), oldest first by their timestamp, so that a later
 * event's deletion stands; a name that is not a uuid is left out. */
bool claw_feed_read_misp_manifest(const char *name, const char *data, size_t len,
                                  GPtrArray *uuids, char **error);

/* A STIX 2.1 bundle, or a TAXII 2.1 envelope ({"objects": [...]}): each
 * indicator object whose pattern is STIX and in the subset real feeds use
 * (stix.c says which); the rest counted as skipped. *@more and
 * *@next (g_free(); may be NULL) are an envelope's paging. */
bool claw_feed_read_stix(claw_feed_batch_t *b, const char *name, const char *data, size_t len,
                         bool *more, char **next, char **error);

/* The formats by name, for --format: "plain", "csv", "misp", "stix";
 * NULL for @format: guessed from the data (JSON with "Event" or
 * "response": misp; with "objects" or type bundle: stix; else plain).
 * CSV needs @csv_mapping. */
bool claw_feed_read(claw_feed_batch_t *b, const char *format, const char *name, const char *data,
                    size_t len, const char *csv_mapping, bool csv_header, char **error);

/* ------------------------------------------------------------------------
 * Fetching (fetch.c, libcurl): bounded in size and time, HTTPS verified
 * against the system's CAs or @ca_file.
 * --------------------------------------------------------------------- */

typedef struct claw_feed_fetch_opts {
    const char *ca_file;      /* NULL: the system's */
    const char *accept;       /* the Accept header; NULL: any */
    const char *auth;         /* "user:password" for HTTP basic; NULL: none */
    const char *header;       /* one more header ("Authorization: KEY"); NULL */
    size_t max_bytes;         /* 0: CLAW_FEED_MAX_BYTES */
    long timeout_s;           /* 0: 300 */
    bool allow_file;          /* file:// URLs too (a feed mirrored on disk) */
    const gint *cancel;       /* non-zero: stop the transfer (clawd stopping) */
} claw_feed_fetch_opts_t;

/* libcurl's global set-up: a program that fetches from threads calls it
 * once before it starts them (clawd's puller does). */
void claw_feed_init(void);

/* GET @url into *@body (g_free(); NUL-terminated, *@len without it), and
 * the value of response header @want (NULL: none) into *@got (g_free();
 * NULL when absent). A status other than 2xx, a body over the bound, a
 * timeout or a TLS fault is an error naming the URL. */
bool claw_feed_fetch(const char *url, const claw_feed_fetch_opts_t *opts, char **body,
                     size_t *len, const char *want, char **got, char **error);

/* A MISP feed at @url (manifest.json and an event file per uuid), every
 * event into @b. */
bool claw_feed_pull_misp(claw_feed_batch_t *b, const char *url, const claw_feed_fetch_opts_t *opts,
                         char **error);

/* A TAXII 2.1 collection's objects at @url (".../collections/ID/"; its
 * objects/ endpoint is asked, with the TAXII media type), since
 * @added_after (NULL: all), page after page; *@last_added (g_free()) is the
 * newest X-TAXII-Date-Added-Last seen, for the next pull. */
bool claw_feed_pull_taxii(claw_feed_batch_t *b, const char *url, const char *added_after,
                          const claw_feed_fetch_opts_t *opts, char **last_added, char **error);

#endif
