/* claw-private.h - shared between libclaw's own files; never installed.
 *
 * Helpers used across files are _claw_* and hidden by the version script
 * and -fvisibility=hidden.
 */
#ifndef CLAW_PRIVATE_H
#define CLAW_PRIVATE_H

#include "claw.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <libpsl.h>
#include <magic.h>
#include <stdbool.h>
#include <time.h>


/* Configuration and the rule table: libc-only, shared with claw_exim.so. */
#include "claw-config.h"

/* ------------------------------------------------------------------------
 * Engine
 * --------------------------------------------------------------------- */

typedef struct claw_policy claw_policy_t;
typedef struct claw_iocs claw_iocs_t;

/* judge/policy.c and judge/indicators.c: the [policy] and [ioc] sections,
 * compiled once per engine. */
CLAW_HIDDEN claw_status_t _claw_policy_new(const claw_config_t *config, const psl_ctx_t *psl,
                                           claw_policy_t **out, char **error);
CLAW_HIDDEN void _claw_policy_free(claw_policy_t *policy);
/* Give @message to @verdict, to be destroyed with it (claw_scan_buffer). */
/* A verdict (opaque in claw.h, read there through claw_verdict_action()
 * and the other accessors). */
typedef struct claw_rule_hit {
    const char *rule;   /* stable upper-case name, e.g. "URL_USERINFO_TRICK" */
    double score;       /* what it added (the [weights] value) */
    const char *detail; /* what it saw, in English; message-derived text inside */
} claw_rule_hit_t;

/* Clawback's own DMARC evaluation of a message (judge/dmarc.c). Static
 * strings, or strings the verdict holds. */
typedef struct {
    const char *result; /* "pass", "fail", "none", "temperror", "permerror";
                         * NULL: not evaluated */
    const char *policy; /* what the record asks of a failure here, p= (or sp=
                         * for a subdomain): "none", "quarantine", "reject";
                         * NULL without a record */
    const char *domain; /* the From domain */
    const char *detail; /* what was found, in English; NULL when parsed */
} claw_dmarc_result_t;

struct claw_verdict {
    claw_action_t action;
    double score;
    size_t n_rules;
    const claw_rule_hit_t *rules; /* in the order the detectors ran */
    claw_dmarc_result_t dmarc;
    /* What claw_classify() keeps (see classify.c); NULL for a verdict
     * parsed from headers, which is one allocation (verdict.c). */
    struct claw_verdict_private *priv;
};

CLAW_HIDDEN void _claw_verdict_adopt(claw_verdict_t *verdict, claw_message_t *message);
CLAW_HIDDEN claw_status_t _claw_iocs_new(const claw_config_t *config, claw_iocs_t **out,
                                         char **error);
CLAW_HIDDEN void _claw_iocs_free(claw_iocs_t *iocs);

typedef struct claw_dns_cache claw_dns_cache_t;

struct claw_engine {
    claw_config_t *config;
    magic_t magic;      /* full libmagic, for binary content */
    magic_t magic_text; /* without soft magic: encoding only, for text */
    const psl_ctx_t *psl;
    psl_ctx_t *psl_owned; /* non-NULL when loaded from a file we must free */
    GHashTable *iconv;    /* charset name -> iconv_t to UTF-8 (or (iconv_t)-1) */
    GMimeParserOptions *parser_options; /* reused; the warning callback's data is set per message */
    claw_policy_t *policy;
    claw_iocs_t *iocs;
    claw_dns_cache_t *dns; /* DMARC records looked up (judge/dns.c) */
    bool manual_refresh; /* claw_engine_refresh_manually() */
};

/* ------------------------------------------------------------------------
 * Per-message state while parsing. Strings go into one GStringChunk freed
 * with the message; arrays are GArrays whose data the model points at.
 * --------------------------------------------------------------------- */

/* The buffers _claw_url_add() reads one URL with, kept from one URL to
 * the next so a message with thousands of links allocates them once. */
typedef struct claw_url_buffers {
    GString *cleaned;    /* the URL without surrounding spaces, tabs and newlines */
    GString *seen_key;   /* what makes it the same link as one already listed */
    GString *host;       /* its host, percent-decoded */
    GString *rest;       /* its path, query and fragment, backslashes read as slashes */
    GString *path;       /* ... percent-decoded */
    GString *normalised; /* the whole URL in its normal form */
} claw_url_buffers_t;

struct claw_message_private {
    claw_engine_t *engine;
    const claw_limits_t *limits;
    GStringChunk *strings;
    GArray *addresses, *auth_results, *dkim, *received, *texts, *urls, *attachments,
        *anomalies;
    GPtrArray *method_arrays; /* GArrays of claw_auth_method_t, freed with the message */
    GHashTable *url_seen;     /* "source url text" -> 1, so each link is listed once */
    GHashTable *domains;      /* host -> claw_domain_t*, each name converted once */
    claw_url_buffers_t url_buffers; /* reused from one URL to the next */
    GArray *fields;           /* claw_raw_field_t: the top-level header block; points
                                 into the caller's bytes, so emptied before
                                 claw_message_parse() returns */
    GArray *segments;         /* where GMime's input came from in the message */
    GArray *origins;          /* claw_text_origin_t, one per text */
    GByteArray *input;        /* what GMime reads, while it is read */
    size_t skipped;           /* bytes before what GMime reads (a BOM, a From_ line) */
    uint64_t anomaly_seen[(CLAW_ANOM_LAST + 63) / 64];
    struct timespec deadline;
    bool out_of_time;
    uint64_t decoded_bytes;  /* transfer-decoded so far */
    uint64_t archive_bytes;  /* expanded from archives so far */
    uint64_t archive_members;
    uint64_t text_bytes;
    uint64_t memory;         /* bytes we allocated on the message's behalf */
    unsigned parts;
    bool text_only;          /* claw_message_parse_text(): subject and texts */
    bool verdict_only;       /* _claw_message_parse_verdict(): what the rules read */
    bool skip_non_text;      /* ... and parts that are not text left undecoded */
};

typedef struct claw_message_private claw_ctx_t;

/* One field of the top-level header block as written: pointers into the
 * message's bytes, the value still folded and without its line end. */
typedef struct claw_raw_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} claw_raw_field_t;

/* Strings owned by the message. NULL in gives NULL out. */
CLAW_HIDDEN const char *_claw_strdup(claw_ctx_t *ctx, const char *s);
CLAW_HIDDEN const char *_claw_strndup(claw_ctx_t *ctx, const char *s, size_t len);
/* Like _claw_strndup but makes the text valid UTF-8 (invalid bytes become
 * U+FFFD) and drops NUL. */
CLAW_HIDDEN const char *_claw_strndup_utf8(claw_ctx_t *ctx, const char *s, size_t len);
/* The same as a g_malloc'd string of its own (g_free() it). */
CLAW_HIDDEN char *_claw_utf8_dup(const char *s, size_t len);

/* Is @len bytes at @s valid UTF-8 (NUL allowed)? */
CLAW_HIDDEN bool _claw_utf8_valid(const char *s, size_t len);

/* Record an anomaly (printf-style detail). Repeats of one code beyond a few
 * are counted, not stored, so a hostile message cannot flood the list. */
CLAW_HIDDEN void _claw_anomaly(claw_ctx_t *ctx, claw_anomaly_code_t code, const char *part,
                               const char *fmt, ...) CLAW_PRINTF(4, 5);
CLAW_HIDDEN bool _claw_has_anomaly(const claw_ctx_t *ctx, claw_anomaly_code_t code);

/* True (and LIMIT_TIME recorded once) when the message's deadline passed. */
CLAW_HIDDEN bool _claw_out_of_time(claw_ctx_t *ctx);
/* Account @bytes of memory; false (and LIMIT_MEMORY recorded) past the budget. */
CLAW_HIDDEN bool _claw_charge_memory(claw_ctx_t *ctx, uint64_t bytes);

/* Fill @d from a host name (any case, ASCII/punycode or UTF-8). */
CLAW_HIDDEN void _claw_domain_init(claw_ctx_t *ctx, claw_domain_t *d, const char *host,
                                   size_t len);

/* Authentication evidence and the Received chain from the top-level header
 * fields, in order. */
CLAW_HIDDEN void _claw_auth_extract(claw_ctx_t *ctx, const claw_raw_field_t *fields, size_t n);
/* An Authentication-Results value (ARC-Authentication-Results when @arc,
 * its i= into *@instance): @each for each method with its result (both
 * lower-case) and its properties. Returns the authserv-id, lower-case
 * (g_free), or NULL when there is none. */
typedef void (*claw_auth_each_fn)(const char *method, const char *result,
                                  const char *properties, void *data);
CLAW_HIDDEN char *_claw_auth_parse(const char *value, bool arc, unsigned *instance,
                                   claw_auth_each_fn each, void *data);
/* The value of property @name ("header.d") in an Authentication-Results
 * method's @properties, or NULL; g_free(). */
CLAW_HIDDEN char *_claw_auth_property(const char *properties, const char *name);

/* URLs. */
CLAW_HIDDEN void _claw_urls_from_text(claw_ctx_t *ctx, const char *text, size_t len,
                                      const char *part, claw_url_source_t source);
/* The length of the scheme @s starts with ("https" in "https://x"), 0 when
 * it starts with none (a relative reference, "example.com/x"). */
CLAW_HIDDEN size_t _claw_url_scheme_length(const char *s, size_t len);
/* Add one URL candidate found by an HTML attribute or similar. */
CLAW_HIDDEN void _claw_url_add(claw_ctx_t *ctx, const char *raw, size_t len, const char *part,
                               claw_url_source_t source, const char *link_text);
CLAW_HIDDEN void _claw_url_buffers_free(claw_url_buffers_t *buffers);

/* HTML: render @html to text in @out and report links through _claw_url_add.
 * With @from_attachment every link is recorded as coming from an attachment.
 * Returns CLAW_ATT_HTML_FORM and CLAW_ATT_HTML_SCRIPT for what it met. */
CLAW_HIDDEN unsigned _claw_html_render(claw_ctx_t *ctx, const char *html, size_t len,
                                       GString *out, const char *part, bool from_attachment);
/* Decode one HTML character reference starting at @s ('&'), as HTML5 reads
 * it in text or (@in_attribute) an attribute value; returns bytes consumed
 * (0 if not a reference) and appends the UTF-8 to @out. */
CLAW_HIDDEN size_t _claw_html_entity(const char *s, size_t len, GString *out,
                                     bool in_attribute);

/* Attachments: analyse @len decoded bytes of one attachment or member. */
CLAW_HIDDEN void _claw_attachment_add(claw_ctx_t *ctx, const char *part, const char *filename,
                                      const char *declared_type, const char *disposition,
                                      const unsigned char *data, size_t len, unsigned depth,
                                      unsigned flags);

/* JSON / text helpers. */
CLAW_HIDDEN void _claw_json_string(GString *out, const char *s);
/* Append @s with C0 controls, DEL, U+0085, U+2028 and U+2029 escaped. */
CLAW_HIDDEN void _claw_escape_line(GString *out, const char *s);

/* claw_message_parse() for a verdict and nothing else (claw-scanner): the
 * model lacks what no rule reads, the message's SHA-256 and the dates of
 * its Received fields. */
CLAW_HIDDEN claw_status_t _claw_message_parse_verdict(claw_engine_t *engine, const char *data,
                                                      size_t len, claw_message_t **message);

/* Hex SHA-256 of @len bytes into @hex (65 bytes). */
CLAW_HIDDEN void _claw_sha256_hex(const void *data, size_t len, char hex[65]);

#endif /* CLAW_PRIVATE_H */
