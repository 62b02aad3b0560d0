/* claw.h - the public interface of libclaw, Clawback's core library.
 *
 * This header is the manual: what is not declared here is not public.
 *
 * Conventions that hold for every function below unless its comment says
 * otherwise:
 *  - Functions that can fail return a claw_status_t; CLAW_STATUS_SUCCESS is 0.
 *  - Handles are opaque, created by claw_X_new/open/load and released by
 *    claw_X_destroy; destroying NULL is a harmless no-op.
 *  - Every string is NUL-terminated UTF-8. Strings that came from a message
 *    are untrusted: they may contain any character except NUL, including CR
 *    and LF. Escape them before writing them into headers, logs or JSON (the
 *    JSON and summary writers in this library do).
 *  - A pointer returned inside a model (claw_message_t and everything it
 *    points to) is owned by that message and valid until
 *    claw_message_destroy(). A NULL string field means "absent".
 *  - An engine (claw_engine_t) is not thread-safe: use one per thread.
 *
 * Copyright the Clawback authors. Licensed under the GPL-3.0-or-later.
 */
#ifndef CLAW_H
#define CLAW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CLAW_PUBLIC __attribute__((visibility("default")))
#define CLAW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLAW_PUBLIC
#define CLAW_PRINTF(f, a)
#endif

/* The library version, for the FFI users that check it at run time. */
#define CLAW_VERSION_MAJOR 0
#define CLAW_VERSION_MINOR 1

/** The version of the library actually loaded, as "MAJOR.MINOR.PATCH". */
CLAW_PUBLIC const char *claw_version(void);

/* ------------------------------------------------------------------------
 * Status codes
 * --------------------------------------------------------------------- */

typedef enum claw_status {
    CLAW_STATUS_SUCCESS = 0,
    /** An allocation failed, or a message went past its memory budget. */
    CLAW_STATUS_OUT_OF_MEMORY,
    /** A file could not be read or written; errno-level detail is in the
     * handle's last error message. */
    CLAW_STATUS_IO_ERROR,
    /** A configuration file is invalid; the detail says file:line: why. */
    CLAW_STATUS_CONFIG_ERROR,
    /** A caller broke the contract of a function (NULL where not allowed,
     * an out-of-range value). */
    CLAW_STATUS_INVALID_ARGUMENT,
    /** A library this one builds on (GMime, libmagic, libpsl...) failed. */
    CLAW_STATUS_DEPENDENCY_ERROR,
    /** A bug in libclaw itself. */
    CLAW_STATUS_INTERNAL_ERROR,
    /** What was asked for (an archived message, an id) is not there. */
    CLAW_STATUS_NOT_FOUND,
    CLAW_STATUS_LAST_STATUS
} claw_status_t;

/** A short English description of @status; never NULL (unknown values give
 * "unknown status"). The string is static. */
CLAW_PUBLIC const char *claw_status_to_string(claw_status_t status);

/* ------------------------------------------------------------------------
 * Logging
 *
 * One logging call for the whole project. Messages go to one sink at a time:
 * stderr (the default), syslog, or a caller's function (the Exim plugin uses
 * Exim's log_write). The level is checked before anything is formatted.
 * Every line may carry the Clawback id of the message it is about. Control
 * characters in the formatted text are escaped, so no message-derived text
 * can start a new log line.
 * --------------------------------------------------------------------- */

typedef enum claw_log_level {
    CLAW_LOG_ERROR = 0,
    CLAW_LOG_WARNING,
    CLAW_LOG_NOTICE,
    CLAW_LOG_INFO,
    CLAW_LOG_DEBUG
} claw_log_level_t;

/** A sink receives one finished line (no trailing newline; already escaped).
 * @id is the message's Clawback id or NULL. */
typedef void (*claw_log_sink_t)(void *ctx, claw_log_level_t level, const char *id,
                                const char *line);

/** Send log lines to @sink (NULL restores stderr). @ctx is passed through. */
CLAW_PUBLIC void claw_log_set_sink(claw_log_sink_t sink, void *ctx);
/** Send log lines to syslog(3) with @ident (copied) and @facility
 * (LOG_MAIL etc.); NULL @ident means "clawback". */
CLAW_PUBLIC void claw_log_use_syslog(const char *ident, int facility);
/** Lines above @level are dropped before formatting. Default CLAW_LOG_NOTICE. */
CLAW_PUBLIC void claw_log_set_level(claw_log_level_t level);
CLAW_PUBLIC claw_log_level_t claw_log_get_level(void);
/** Parse "error", "warning", "notice", "info" or "debug".
 * Returns CLAW_STATUS_INVALID_ARGUMENT for anything else. */
CLAW_PUBLIC claw_status_t claw_log_level_from_string(const char *name, claw_log_level_t *level);
/** Log one line. @id may be NULL. */
CLAW_PUBLIC void claw_log(claw_log_level_t level, const char *id, const char *fmt, ...)
    CLAW_PRINTF(3, 4);

/* ------------------------------------------------------------------------
 * Networks
 *
 * One parser for the addresses and networks a configuration names: CIDR
 * networks ([policy] internal_relays, [clawd] allow) and listening
 * addresses ([clawd] listen, clawd --listen).
 * --------------------------------------------------------------------- */

/** An IPv4 or IPv6 network. A plain value type: callers may copy it. */
typedef struct claw_cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network byte order; AF_INET uses the first 4 */
    unsigned bits;          /* prefix length: 0..32 or 0..128 */
} claw_cidr_t;

/** Parse "192.0.2.0/24", "2001:db8::/32" or a single address (a /32 or
 * /128) into *@cidr. Returns SUCCESS, or INVALID_ARGUMENT for anything else
 * (NULL included: a prefix past the family's length, a sign, spaces). */
CLAW_PUBLIC claw_status_t claw_cidr_parse(const char *text, claw_cidr_t *cidr);

/** 1 if the address @addr of @family (AF_INET: 4 bytes, AF_INET6: 16) is in
 * @cidr, else 0. An IPv4-mapped IPv6 address (::ffff:192.0.2.1) counts as
 * its IPv4 address. */
CLAW_PUBLIC int claw_cidr_contains(const claw_cidr_t *cidr, int family, const unsigned char *addr);

/** As claw_cidr_contains() for an address written as text; 0 if @address is
 * not one. */
CLAW_PUBLIC int claw_cidr_contains_text(const claw_cidr_t *cidr, const char *address);

struct sockaddr_storage;

/** Parse a listening address "192.0.2.1:2424" or "[2001:db8::1]:2424"
 * (numeric addresses only, port 0..65535) into *@sa of *@len bytes.
 * Returns SUCCESS or INVALID_ARGUMENT. */
CLAW_PUBLIC claw_status_t claw_endpoint_parse(const char *text, struct sockaddr_storage *sa,
                                              size_t *len);

struct stat;

/** What claw_listen_unix() met. */
typedef enum claw_listen_result {
    CLAW_LISTEN_OK,
    CLAW_LISTEN_TOO_LONG,   /**< the path does not fit a socket address */
    CLAW_LISTEN_NO_GROUP,   /**< no such group */
    CLAW_LISTEN_NOT_SOCKET, /**< something else is at the path; left alone */
    CLAW_LISTEN_IN_USE,     /**< a live socket: a process listens there */
    CLAW_LISTEN_ERROR       /**< errno says */
} claw_listen_result_t;

/** A listening Unix stream socket (close-on-exec, blocking, backlog 128) at
 * @path, born with @mode and given @group (NULL or "": the process's), its
 * directory made if missing. Only a socket nobody listens on is replaced
 * at @path, never anything else. Returns the descriptor, its file in
 * *@made (for claw_unlink_socket()), or -1 and *@result says why. The one
 * maker of the programs' sockets (clawd, claw serve). */
CLAW_PUBLIC int claw_listen_unix(const char *path, unsigned mode, const char *group,
                                 claw_listen_result_t *result, struct stat *made);
/** Remove the socket at @path if it is still the one *@made describes. */
CLAW_PUBLIC void claw_unlink_socket(const char *path, const struct stat *made);

/* ------------------------------------------------------------------------
 * Configuration
 *
 * An INI-style file (default CLAW_DEFAULT_CONFIG): "[section]" lines,
 * "name = value" lines, "#" or ";" comments. Every option is declared in one
 * table with its type, default and bounds (see conf/clawback.conf, which is
 * generated documentation of that table). Unknown sections or options, bad
 * values and out-of-range numbers are errors reported as "file:line: message".
 * --------------------------------------------------------------------- */

/* The build's (configure --sysconfdir); /etc/clawback for a program built
 * elsewhere against this header. */
#ifndef CLAW_DEFAULT_CONFIG
#define CLAW_DEFAULT_CONFIG "/etc/clawback/clawback.conf"
#endif

typedef struct claw_config claw_config_t;

/** A configuration holding every default. Returns SUCCESS or OUT_OF_MEMORY. */
CLAW_PUBLIC claw_status_t claw_config_new(claw_config_t **config);

/** Load @path over the defaults. On CONFIG_ERROR or IO_ERROR, *@error (if
 * @error is not NULL) receives a malloc'd "file:line: message" the caller
 * frees; *@config is then NULL. One rule for every program (claw, clawd,
 * the Exim plugin and its scanner): the default file, CLAW_DEFAULT_CONFIG,
 * may be absent (no site file written yet: every default); any other file
 * named must exist. */
CLAW_PUBLIC claw_status_t claw_config_load(const char *path, claw_config_t **config,
                                           char **error);

/** Set one option from text, as if "name = value" appeared in [section].
 * Returns CONFIG_ERROR (with *@error as for claw_config_load) if the option is
 * unknown or the value is invalid; the configuration is then unchanged. */
CLAW_PUBLIC claw_status_t claw_config_set(claw_config_t *config, const char *section,
                                          const char *name, const char *value, char **error);

/** The value of an option as text (the form the file would carry), or NULL
 * if there is no such option. Valid until the option is set again or the
 * configuration is destroyed. */
CLAW_PUBLIC const char *claw_config_get(const claw_config_t *config, const char *section,
                                        const char *name);

/* Typed getters: the value the table parsed when the option was set, never
 * the text parsed again. Each returns SUCCESS, or INVALID_ARGUMENT when
 * @config, @section, @name or the output pointer is NULL, the option does
 * not exist, or it is of another type; *outputs are then untouched. */

/** A whole number ("compression_level"). */
CLAW_PUBLIC claw_status_t claw_config_get_int(const claw_config_t *config, const char *section,
                                              const char *name, int64_t *value);
/** A size in bytes: the file may write 512k, 64M, 1g or 1GB (powers of
 * 1024, any case), or plain bytes. */
CLAW_PUBLIC claw_status_t claw_config_get_size(const claw_config_t *config, const char *section,
                                               const char *name, uint64_t *bytes);
/** A duration in milliseconds: the file may write 250ms, 2s, 5m or 1h (any
 * case), or plain milliseconds. */
CLAW_PUBLIC claw_status_t claw_config_get_duration_ms(const claw_config_t *config,
                                                      const char *section, const char *name,
                                                      int64_t *ms);
/** Parse @text as a size the way the configuration writes one (a whole
 * number, then k, m, g, kb, mb or gb in any case, powers of 1024; no unit:
 * bytes), for other readers of sizes such as the search's size: ranges.
 * Returns NULL and sets *@bytes, or a static English reason ("expected a
 * size such as 512k, 64M or 1g", "number out of range") and leaves it. */
CLAW_PUBLIC const char *claw_size_parse(const char *text, uint64_t *bytes);
/** A feed clawd pulls on a schedule: [feeds] NAME = KIND URL [key=value]...
 * with the keys action, every, ca, auth_file, columns, header (see
 * clawback.conf(5)). */
typedef struct claw_feed_config {
    const char *name;
    const char *kind;      /**< misp-feed, taxii, stix, misp, csv or plain */
    const char *url;       /**< https:// or http:// */
    const char *action;    /**< what its indicators ask for; default block */
    int64_t every_ms;      /**< how often it is pulled; default 1h */
    const char *ca_file;   /**< the CA its server's certificate is checked with;
                                NULL: the system's */
    const char *auth_file; /**< a file holding user:password (HTTP basic); NULL */
    const char *columns;   /**< csv: the column mapping */
    int header;            /**< csv: the first row names the columns (0 or 1) */
} claw_feed_config_t;
/** The @i-th feed of [feeds] (from 0), or NULL past the last; owned by
 * @config. */
CLAW_PUBLIC const claw_feed_config_t *claw_config_feed(const claw_config_t *config, size_t i);
/** A retention rule: [retention] NAME = DURATION [QUERY...]: the archive's
 * mail the query finds is kept DURATION after its arrival (Nd, Nw, Nm, Ny:
 * days, weeks, months of 30 days, years of 365), then deleted by clawd's
 * daily retention plan. A rule without a query is the default, for mail no
 * rule with one finds; a message several rules find is kept as long as the
 * longest of them says. */
typedef struct claw_retention_config {
    const char *name;
    int64_t days;
    const char *query; /**< "" for every message */
} claw_retention_config_t;
/** The @i-th rule of [retention] (from 0), or NULL past the last; owned by
 * @config. */
CLAW_PUBLIC const claw_retention_config_t *claw_config_retention(const claw_config_t *config,
                                                                 size_t i);
/** A yes|no option: *@value is 1 for yes, 0 for no. */
CLAW_PUBLIC claw_status_t claw_config_get_bool(const claw_config_t *config, const char *section,
                                               const char *name, int *value);
/** A score (a decimal number, [actions]). */
CLAW_PUBLIC claw_status_t claw_config_get_score(const claw_config_t *config, const char *section,
                                                const char *name, double *value);
/** A list (words separated by commas or white space, empty words dropped):
 * *@words is a NULL-terminated array of *@count words, owned by @config and
 * valid until the option is set again or the configuration is destroyed.
 * Network lists ([policy] internal_relays, [clawd] allow) and address lists
 * ([clawd] listen) are lists too. */
CLAW_PUBLIC claw_status_t claw_config_get_list(const claw_config_t *config, const char *section,
                                               const char *name, const char *const **words,
                                               size_t *count);
/** A list of networks (CIDR), each checked when the option was set:
 * *@cidrs is an array of *@count, owned by @config as for
 * claw_config_get_list(). */
CLAW_PUBLIC claw_status_t claw_config_get_cidrs(const claw_config_t *config, const char *section,
                                                const char *name, const claw_cidr_t **cidrs,
                                                size_t *count);

/** Where the archive's active indicators are published for the MTA:
 * [ioc] published, or ioc/active in @archive_dir (the archive a program
 * was told to use, --archive), or when that is NULL in [archive] path.
 * malloc'd: the caller frees it. NULL if @config is NULL or memory ran
 * out. */
CLAW_PUBLIC char *claw_ioc_published_path(const claw_config_t *config, const char *archive_dir);

/** Every check the programs that read @config make before they start, so
 * that a file this accepts is one they run with: the engine's (policy, and
 * each [ioc] indicator file read in full: an error there names the
 * indicator file and its line), and clawd's (the [clawd] socket_group
 * exists; listen addresses and allow networks are checked when loading).
 * Returns SUCCESS; CONFIG_ERROR or IO_ERROR with *@error (if not NULL) a
 * malloc'd "file:line: message" the caller frees; or what claw_engine_new()
 * returns for a missing dependency. */
CLAW_PUBLIC claw_status_t claw_config_check(const claw_config_t *config, char **error);

/** Write every option with its current value and documentation to @out, in
 * the file's own syntax (this is how conf/clawback.conf is made). */
CLAW_PUBLIC void claw_config_write(const claw_config_t *config, FILE *out);

CLAW_PUBLIC void claw_config_destroy(claw_config_t *config);

/** Where claw_log_configure() sends lines whatever [log] sink says. */
typedef enum claw_log_force {
    CLAW_LOG_AS_CONFIGURED = 0, /**< [log] sink decides */
    CLAW_LOG_FORCE_STDERR = 1,  /**< stderr (clawd --stderr) */
    CLAW_LOG_FORCE_SYSLOG = 2   /**< syslog (a process whose stderr goes nowhere) */
} claw_log_force_t;

/** Apply [log] of @config: the level, and the sink: syslog with @ident
 * (NULL: "clawback") and [log] facility when sink = syslog, else stderr;
 * @force overrides the sink. A NULL @config applies the defaults. */
CLAW_PUBLIC void claw_log_configure(const claw_config_t *config, const char *ident,
                                    claw_log_force_t force);

/* ------------------------------------------------------------------------
 * Engine: everything loaded once and reused for every message (configuration
 * copy, libmagic database, Public Suffix List).
 * --------------------------------------------------------------------- */

typedef struct claw_engine claw_engine_t;

/** Create an engine from @config (copied; NULL means all defaults).
 * Returns SUCCESS, OUT_OF_MEMORY or DEPENDENCY_ERROR (libmagic's database or
 * the public suffix list could not be loaded; *@error then says which). */
CLAW_PUBLIC claw_status_t claw_engine_new(const claw_config_t *config, claw_engine_t **engine,
                                          char **error);
CLAW_PUBLIC void claw_engine_destroy(claw_engine_t *engine);

/* ------------------------------------------------------------------------
 * The message model
 *
 * claw_message_parse() reads one message and extracts, once, everything a
 * classifier, an archive and an investigator need. Every field below is
 * read-only.
 * --------------------------------------------------------------------- */

/** Flags of a domain name. */
#define CLAW_DOMAIN_IDN       0x01u /**< has a Unicode (U-label) form */
#define CLAW_DOMAIN_INVALID   0x02u /**< not a valid host name (IDNA failed) */
#define CLAW_DOMAIN_IP        0x04u /**< an IP literal rather than a name */
#define CLAW_DOMAIN_MIXED_SCRIPT 0x08u /**< U-label mixes Latin with another script */

typedef struct claw_domain {
    const char *ascii;       /**< lowercase A-label (punycode) form, or the IP */
    const char *unicode;     /**< lowercase U-label form (== ascii when no IDN) */
    const char *registrable; /**< registrable (organisational) domain per the
                                  Public Suffix List, ASCII; NULL if none */
    unsigned flags;          /**< CLAW_DOMAIN_* */
} claw_domain_t;

typedef enum claw_address_field {
    CLAW_FIELD_FROM = 0,
    CLAW_FIELD_SENDER,
    CLAW_FIELD_REPLY_TO,
    CLAW_FIELD_RETURN_PATH,
    CLAW_FIELD_TO,
    CLAW_FIELD_CC,
    CLAW_FIELD_BCC,
    CLAW_FIELD_LAST
} claw_address_field_t;

/** "from", "sender", "reply-to", "return-path", "to", "cc", "bcc". */
CLAW_PUBLIC const char *claw_address_field_to_string(claw_address_field_t field);

typedef struct claw_address {
    claw_address_field_t field;
    const char *name;    /**< decoded display name; NULL if none */
    const char *address; /**< addr-spec as decoded; "" for an empty <> */
    const char *local;   /**< local part; NULL if the address has no "@" */
    claw_domain_t domain; /**< all NULL when the address has no domain */
} claw_address_t;

typedef struct claw_auth_method {
    const char *method;     /**< "spf", "dkim", "dmarc", "arc", ... lowercase */
    const char *result;     /**< "pass", "fail", "none", ... lowercase */
    const char *properties; /**< "ptype.prop=value" pairs, space separated; may be "" */
} claw_auth_method_t;

typedef enum claw_auth_source {
    CLAW_AUTH_RESULTS = 0,  /**< Authentication-Results (RFC 8601) */
    CLAW_AUTH_ARC_RESULTS,  /**< ARC-Authentication-Results (RFC 8617) */
    CLAW_AUTH_RECEIVED_SPF  /**< Received-SPF (RFC 7208 section 9.1) */
} claw_auth_source_t;

typedef struct claw_auth_result {
    claw_auth_source_t source;
    unsigned instance;       /**< ARC "i=" instance; 0 otherwise */
    const char *authserv_id; /**< lowercase; NULL for Received-SPF */
    size_t n_methods;
    const claw_auth_method_t *methods;
} claw_auth_result_t;

typedef struct claw_dkim_signature {
    const char *domain;    /**< d= (lowercase) */
    const char *selector;  /**< s= */
    const char *algorithm; /**< a= */
} claw_dkim_signature_t;

/** One Received header, newest (top) first. */
typedef struct claw_received {
    const char *from;  /**< the name the client gave (HELO) */
    const char *rdns;  /**< the reverse-DNS name the receiver recorded */
    const char *ip;    /**< the client's IP address, canonical text */
    const char *by;    /**< the receiving host */
    const char *with;  /**< protocol (SMTP, ESMTPS, LMTP, ...) */
    int64_t time;      /**< the date after ";" in seconds since the epoch; 0 if none */
} claw_received_t;

typedef struct claw_text {
    const char *part;         /**< MIME part path, e.g. "1.2" */
    const char *content_type; /**< "text/plain" or "text/html" */
    const char *charset;      /**< declared charset, NULL if none */
    const char *text;         /**< UTF-8; HTML rendered to plain text */
    size_t length;            /**< bytes in text */
} claw_text_t;

/** How a part's content is written in the message (its
 * Content-Transfer-Encoding as the parser read it). */
typedef enum claw_transfer_encoding {
    CLAW_TRANSFER_NONE = 0, /**< 7bit, 8bit, binary or none declared */
    CLAW_TRANSFER_BASE64,
    CLAW_TRANSFER_QUOTED_PRINTABLE,
    CLAW_TRANSFER_UUENCODE
} claw_transfer_encoding_t;

/** Where text @i of a model came from: its part's content as written in
 * the bytes that were parsed, before transfer decoding. With it the text
 * can be made again without parsing the message
 * (claw_message_texts_from()). */
typedef struct claw_text_origin {
    int known;                          /**< 0: the parser could not say */
    uint64_t offset;                    /**< of the content in the parsed bytes */
    uint64_t length;                    /**< of the content as written */
    claw_transfer_encoding_t encoding;
} claw_text_origin_t;

typedef enum claw_url_source {
    CLAW_URL_TEXT = 0,     /**< found in plain text */
    CLAW_URL_HTML_HREF,    /**< <a href>, <area href> */
    CLAW_URL_HTML_SRC,     /**< <img src>, <iframe src>, <script src> ... */
    CLAW_URL_HTML_ACTION,  /**< <form action> */
    CLAW_URL_HTML_META,    /**< <meta http-equiv=refresh> */
    CLAW_URL_ATTACHMENT    /**< inside a .url, HTML or SVG attachment */
} claw_url_source_t;

CLAW_PUBLIC const char *claw_url_source_to_string(claw_url_source_t source);

#define CLAW_URL_IP_HOST      0x0001u /**< host is an IP literal */
#define CLAW_URL_IP_OBFUSCATED 0x0002u /**< IPv4 written as decimal, hex, octal or dotless */
#define CLAW_URL_USERINFO     0x0004u /**< has user[:pass]@ before the host */
#define CLAW_URL_USERINFO_HOSTLIKE 0x0008u /**< ...and the userinfo looks like a host name */
#define CLAW_URL_IDN          0x0010u /**< host has a Unicode form */
#define CLAW_URL_HOST_ENCODED 0x0020u /**< host was percent-encoded */
#define CLAW_URL_BACKSLASH    0x0040u /**< backslashes a browser turns into slashes */
#define CLAW_URL_NO_SCHEME    0x0080u /**< "www." without a scheme, http assumed */
#define CLAW_URL_INVALID_HOST 0x0100u /**< the host could not be made valid */

typedef struct claw_url {
    const char *raw;        /**< as found, after HTML entity decoding */
    const char *url;        /**< normalised: scheme://host[:port]/path */
    const char *scheme;     /**< lowercase, no ":" */
    const char *userinfo;   /**< percent-decoded; NULL if none */
    claw_domain_t host;     /**< NULL fields for schemes without a host */
    int port;               /**< 0 when none given or the scheme's default */
    const char *path;       /**< path, query and fragment, percent-decoded */
    const char *link_text;  /**< visible text of an HTML link; NULL otherwise */
    const char *part;       /**< MIME part path where it was found */
    claw_url_source_t source;
    unsigned flags;         /**< CLAW_URL_* */
} claw_url_t;

/** Normalise one URL as the model does the links it finds (claw_url_t.url),
 * the way a browser reads it: leading and trailing spaces and control
 * characters dropped, tabs and newlines removed; the scheme lower-cased
 * ("www." without one is http); for a URL with a host, the host
 * percent-decoded, lower-cased, mapped to its A-label form (UTS #46) or,
 * when it is a number in any form a browser takes for IPv4 (decimal, octal,
 * hex, one to four parts), written as a dotted quad; the scheme's default
 * port dropped (http and ws 80, https and wss 443, ftp 21); "/" for an
 * empty path. Path, query and fragment keep their case and their
 * percent-escapes (a special scheme's backslashes become slashes).
 * Indicator files (url:) and the archive's url: queries go through this
 * function, so a link, an indicator and a query for one place are equal.
 * @raw is @len bytes, not necessarily NUL-terminated. On success *@out is
 * the normal form, malloc'd: release it with claw_free(). Returns
 * CLAW_STATUS_SUCCESS, CLAW_STATUS_INVALID_ARGUMENT (NULL @raw or @out, or
 * @raw is not an absolute URL: empty, relative, a fragment, or a cid: or
 * mid: reference) or CLAW_STATUS_OUT_OF_MEMORY; on failure *@out is NULL. */
CLAW_PUBLIC claw_status_t claw_url_normalise(const char *raw, size_t len, char **out);

/** Normalise one host name as claw_url_normalise() does a URL's host, into
 * the form of claw_domain_t.ascii: lower case, A-labels, one final dot
 * dropped, an IPv4 address in any form as a dotted quad, an IPv6 address
 * (brackets or not) in its canonical text. "B%C3%BCcher.Example." gives
 * "xn--bcher-kva.example", "0x7f.1" gives "127.0.0.1". A name that is not
 * valid IDNA is kept as written, lower-cased, as the model keeps it.
 * Indicator files (host:, domain:) and the archive's host: and domain:
 * queries go through this function. @raw is @len bytes. On success *@out
 * is malloc'd: release it with claw_free(). Returns CLAW_STATUS_SUCCESS,
 * CLAW_STATUS_INVALID_ARGUMENT (NULL @raw or @out, an empty name, or one
 * holding what ends a URL's host: '/', '\\', '?', '#', '@', or a ':' outside
 * an IPv6 address) or CLAW_STATUS_OUT_OF_MEMORY; on failure *@out is NULL. */
CLAW_PUBLIC claw_status_t claw_host_normalise(const char *raw, size_t len, char **out);

/** The types of indicator, a NULL-terminated list: "url", "host",
 * "domain" (with its subdomains), "sender" (a mail address), "sha256",
 * "ip" (an address or a CIDR range) and "message-id". */
CLAW_PUBLIC const char *const *claw_ioc_types(void);

/** Normalise @value, an indicator of @type (one of claw_ioc_types(), in any
 * case), into the form a message's values are compared in: URLs through
 * claw_url_normalise() ("example.com/x" is read as http://example.com/x, as
 * a browser does), hosts and domains through claw_host_normalise(), IP
 * addresses canonical and ranges with their host bits cleared
 * ("10.1.2.3/8" gives "10.0.0.0/8"), a Message-ID without its angle
 * brackets, the rest lower-cased. Indicator files, the archive's indicator
 * store and the detectors all compare through this one function. On
 * success *@key is malloc'd: release it with claw_free(). Returns
 * CLAW_STATUS_SUCCESS, CLAW_STATUS_INVALID_ARGUMENT (an unknown type, or a
 * value that cannot be one of its type: then *@why, when @why is not NULL,
 * says which in a static string) or CLAW_STATUS_OUT_OF_MEMORY. */
CLAW_PUBLIC claw_status_t claw_ioc_normalise(const char *type, const char *value, char **key,
                                             const char **why);

/** What an indicator can ask for, a NULL-terminated list: "block" (new
 * mail with it is refused at SMTP time), "quarantine" (held, and old mail
 * taken back), "tag" (delivered with a tag verdict) and "hunt" (only looked
 * for in the archive; the MTA leaves it alone). */
CLAW_PUBLIC const char *const *claw_ioc_actions(void);

/** What a line of an indicator file (or a plain list imported into the
 * archive) says, in place: without its comment ('#' at the start of the
 * line or after a space or tab, so that a URL's fragment,
 * "url:http://x.example/#login", stays) and the white space around; "" for
 * a blank or comment line. A line may begin with the action its indicator
 * asks for, a word of claw_ioc_actions() and white space ("tag
 * url:http://x.example/"): then *@action is that word (static) and the
 * line returned starts after it; else *@action is NULL (block). */
CLAW_PUBLIC char *claw_ioc_file_line(char *line, const char **action);

#define CLAW_ATT_INLINE       0x0001u /**< Content-Disposition: inline, or no name */
#define CLAW_ATT_ARCHIVE      0x0002u /**< an archive whose members follow it */
#define CLAW_ATT_ENCRYPTED    0x0004u /**< encrypted archive, member or document */
#define CLAW_ATT_MACRO        0x0008u /**< Office document with VBA or XLM macros */
#define CLAW_ATT_RTF_OBJECT   0x0010u /**< RTF with embedded objects */
#define CLAW_ATT_TNEF         0x0020u /**< winmail.dat; members follow it */
#define CLAW_ATT_TRUNCATED    0x0040u /**< only partly read (a limit was hit) */
#define CLAW_ATT_MESSAGE      0x0080u /**< an attached message (message/rfc822) */
#define CLAW_ATT_OLE_OBJECT   0x0100u /**< Office document embedding OLE objects */
#define CLAW_ATT_HTML_FORM    0x0200u /**< HTML/SVG attachment with a password field */
#define CLAW_ATT_HTML_SCRIPT  0x0400u /**< HTML/SVG attachment whose script builds or goes to a
                                           payload (atob, Blob, eval, location...) */

typedef struct claw_attachment {
    const char *part;           /**< MIME part path; members add "/N" per level */
    const char *filename;       /**< decoded (RFC 2231 / 2047); NULL if none */
    const char *declared_type;  /**< Content-Type; NULL for archive members */
    const char *detected_type;  /**< by content (libmagic) */
    uint64_t size;              /**< decoded bytes */
    char sha256[65];            /**< of the decoded bytes, lowercase hex;
                                     "" when not read in full */
    unsigned depth;             /**< 0 for MIME parts, n for nth-level members */
    unsigned flags;             /**< CLAW_ATT_* */
} claw_attachment_t;

/** Anomaly codes: every parser complaint, structural oddity and limit hit. */
typedef enum claw_anomaly_code {
    /* Input that is not a message at all. */
    CLAW_ANOM_NOT_A_MESSAGE = 0,
    CLAW_ANOM_EMPTY,
    CLAW_ANOM_NO_HEADERS,
    /* GMime parser warnings (GMIME_WARN_* / GMIME_CRIT_*). */
    CLAW_ANOM_GMIME_DUPLICATED_HEADER,
    CLAW_ANOM_GMIME_DUPLICATED_PARAMETER,
    CLAW_ANOM_GMIME_UNENCODED_8BIT_HEADER,
    CLAW_ANOM_GMIME_INVALID_CONTENT_TYPE,
    CLAW_ANOM_GMIME_INVALID_RFC2047_HEADER_VALUE,
    CLAW_ANOM_GMIME_MALFORMED_MULTIPART,
    CLAW_ANOM_GMIME_TRUNCATED_MESSAGE,
    CLAW_ANOM_GMIME_MALFORMED_MESSAGE,
    CLAW_ANOM_GMIME_INVALID_HEADER_NAME,
    CLAW_ANOM_GMIME_CONFLICTING_HEADER,
    CLAW_ANOM_GMIME_CONFLICTING_PARAMETER,
    CLAW_ANOM_GMIME_MULTIPART_WITHOUT_BOUNDARY,
    CLAW_ANOM_GMIME_INVALID_PARAMETER,
    CLAW_ANOM_GMIME_INVALID_ADDRESS_LIST,
    CLAW_ANOM_GMIME_NESTING_OVERFLOW,
    CLAW_ANOM_GMIME_PART_WITHOUT_CONTENT,
    CLAW_ANOM_GMIME_PART_WITHOUT_HEADERS_OR_CONTENT,
    /* Our own structural findings. */
    CLAW_ANOM_DUPLICATE_HEADER,     /**< a once-only header appears twice */
    CLAW_ANOM_CONFLICTING_HEADER,   /**< ...with different values */
    CLAW_ANOM_NUL_BYTES,
    CLAW_ANOM_BARE_CR,
    CLAW_ANOM_LONG_LINE,            /**< a line over 998 octets (RFC 5322) */
    CLAW_ANOM_HEADER_CONTROL_CHARS, /**< a decoded header holds CR, LF or NUL */
    CLAW_ANOM_CHARSET_UNKNOWN,      /**< text in an unknown charset, read as UTF-8 */
    CLAW_ANOM_INVALID_UTF8,         /**< invalid bytes replaced */
    CLAW_ANOM_MBOX_FROM_LINE,       /**< began with an mbox "From " line */
    CLAW_ANOM_LEADING_JUNK,         /**< byte-order mark or blank lines before the headers */
    CLAW_ANOM_ARCHIVE_ERROR,        /**< an archive could not be read in full */
    CLAW_ANOM_ZIP_OVERLAPPING_ENTRIES, /**< zip members share bytes (a zip bomb) */
    CLAW_ANOM_TNEF_ERROR,
    CLAW_ANOM_OLE_ERROR,
    CLAW_ANOM_DECODE_ERROR,         /**< a part's transfer encoding could not be decoded */
    /* Limits (DESIGN.md "Limits"): each makes the message unscannable. */
    CLAW_ANOM_LIMIT_DEPTH,
    CLAW_ANOM_LIMIT_PARTS,
    CLAW_ANOM_LIMIT_DECODED_BYTES,
    CLAW_ANOM_LIMIT_URLS,
    CLAW_ANOM_LIMIT_ARCHIVE_MEMBERS,
    CLAW_ANOM_LIMIT_ARCHIVE_BYTES,
    CLAW_ANOM_LIMIT_HEADER_BYTES,
    CLAW_ANOM_LIMIT_TIME,
    CLAW_ANOM_LIMIT_MESSAGE_BYTES,
    CLAW_ANOM_LIMIT_MEMORY,
    CLAW_ANOM_LIMIT_TEXT_BYTES,
    CLAW_ANOM_LIMIT_ADDRESSES,
    CLAW_ANOM_LAST
} claw_anomaly_code_t;

/** The stable upper-case name of @code ("LIMIT_PARTS"); "UNKNOWN" if out of
 * range. These names appear in JSON and logs and do not change. */
CLAW_PUBLIC const char *claw_anomaly_code_to_string(claw_anomaly_code_t code);
/** Non-zero when @code is a limit hit (the message is unscannable). */
CLAW_PUBLIC int claw_anomaly_code_is_limit(claw_anomaly_code_t code);

typedef struct claw_anomaly {
    claw_anomaly_code_t code;
    const char *detail; /**< what and where, e.g. "header 'From' appears 2 times" */
    const char *part;   /**< MIME part path, NULL for the whole message */
} claw_anomaly_t;

/** The model of one message. Read-only; owned by the library.
 *
 * The model's structs (claw_message_t and the claw_address_t, claw_url_t,
 * claw_attachment_t ... it points to) are transparent on purpose: C code
 * compiled against this header reads their fields directly, and never
 * writes them. Their layout is part of the C ABI of libclaw.so.N: from the
 * first release on, a field is only ever added at the end of
 * claw_message_t, and any other change to a layout (a field moved, or a
 * struct that sits in an array changing size) raises N, the library's
 * libtool "current". Code that is not compiled against this header (an FFI
 * binding) must not copy these layouts: it uses the opaque surface of
 * "Scanning in one call" below, versioned by CLAW_API_VERSION. */
typedef struct claw_message {
    int is_message;          /**< 0 when the input is not a message at all */
    int unscannable;         /**< non-zero when any limit was hit */
    uint64_t size;           /**< raw bytes */
    char sha256[65];         /**< of the raw bytes, lowercase hex */
    const char *message_id;  /**< without angle brackets; NULL if none */
    const char *date;        /**< the Date header as written; NULL if none */
    int64_t date_unix;       /**< Date in seconds since the epoch; 0 if none/invalid */
    const char *subject;     /**< RFC 2047 decoded; NULL if none */
    unsigned n_parts;        /**< MIME parts walked */
    unsigned max_depth;      /**< deepest nesting seen */

    size_t n_addresses;
    const claw_address_t *addresses;
    size_t n_auth_results;
    const claw_auth_result_t *auth_results;
    size_t n_dkim_signatures;
    const claw_dkim_signature_t *dkim_signatures;
    size_t n_received;
    const claw_received_t *received;
    size_t n_texts;
    const claw_text_t *texts;
    size_t n_urls;
    const claw_url_t *urls;
    size_t n_attachments;
    const claw_attachment_t *attachments;
    size_t n_anomalies;
    const claw_anomaly_t *anomalies;

    struct claw_message_private *priv; /**< internal; do not touch */

    /** n_texts entries, one per text: where it came from (NULL from
     * claw_message_texts_from()). */
    const claw_text_origin_t *text_origins;
} claw_message_t;

/** Parse @len bytes at @data (copied; need not be NUL-terminated) into a model.
 *
 * Hostile input is normal input: anything, including an empty buffer or
 * random bytes, gives SUCCESS and a model; input that is not a message has
 * is_message == 0 and an anomaly saying why, and input that hits a limit has
 * unscannable != 0 and a LIMIT_* anomaly. Work and memory are bounded by the
 * engine's [limits].
 *
 * Returns SUCCESS, INVALID_ARGUMENT (NULL @engine or @message, or NULL @data
 * with non-zero @len) or OUT_OF_MEMORY. *@message is set only on SUCCESS and
 * is released with claw_message_destroy(). */
CLAW_PUBLIC claw_status_t claw_message_parse(claw_engine_t *engine, const char *data, size_t len,
                                             claw_message_t **message);

/** Like claw_message_parse(), for what only needs the words: the subject
 * and the texts are the same, while the other header fields, addresses,
 * URLs, attachments, authentication results and the SHA-256 are left
 * empty, anomalies are not all recorded (GMime's warnings are not asked
 * for), and parts that give no text are not decoded. About twice as fast;
 * what the archive confirms a phrase with when a record does not say where
 * its texts are (see claw_message_texts_from()). */
CLAW_PUBLIC claw_status_t claw_message_parse_text(claw_engine_t *engine, const char *data,
                                                  size_t len, claw_message_t **message);

/** The words of @len bytes of UTF-8 @text by ICU's word break iterator
 * (UAX #29 and its dictionaries for Chinese, Japanese, Thai, Lao, Khmer and
 * Burmese, scripts that write no spaces between words): @fn gets each word
 * (a piece of @text, as written), not the spaces and punctuation between.
 * Thread-safe. What the archive cuts runs of those scripts with. */
CLAW_PUBLIC void claw_text_words(const char *text, size_t len,
                                 void (*fn)(void *ctx, const char *word, size_t n), void *ctx);

/** The texts again, made from where they came from: @n entries of @texts
 * (the part, content type and charset are read from each) and of
 * @origins, as claw_message_parse() gave them for the same bytes @data.
 * Only the content of each is read, so @len may end after the last one.
 * For a message whose parse hit no limit (unscannable == 0) the model's
 * texts are exactly those of claw_message_parse() and
 * claw_message_parse_text(); nothing else is filled in. What the archive
 * uses to confirm a phrase without parsing the message.
 *
 * Returns SUCCESS, INVALID_ARGUMENT (NULL @engine or @message; an origin
 * that is not known or lies outside @data) or OUT_OF_MEMORY. */
CLAW_PUBLIC claw_status_t claw_message_texts_from(claw_engine_t *engine, const char *data,
                                                  size_t len, const claw_text_t *texts,
                                                  const claw_text_origin_t *origins, size_t n,
                                                  claw_message_t **message);

/* ------------------------------------------------------------------------
 * Classification: the verdict the MTA acts on
 * --------------------------------------------------------------------- */

typedef enum claw_action {
    CLAW_ACTION_ACCEPT = 0,
    CLAW_ACTION_TAG,
    CLAW_ACTION_QUARANTINE,
    CLAW_ACTION_REJECT
} claw_action_t;

/** "accept", "tag", "quarantine", "reject"; "unknown" if out of range. */
CLAW_PUBLIC const char *claw_action_to_string(claw_action_t action);

/** The action named @name, exactly as claw_action_to_string() writes it
 * (lower case, nothing around it). Returns SUCCESS, or INVALID_ARGUMENT for
 * NULL or any other text (*@action is then unchanged). */
CLAW_PUBLIC claw_status_t claw_action_from_string(const char *name, claw_action_t *action);

/** What the MTA knows that the message does not say. Every field may be
 * NULL; strings are borrowed for the duration of claw_classify(). A
 * transparent struct for C callers, filled before each call and never
 * written by the library; FFI callers pass the same fields as strings to
 * claw_scan_fields() instead. */
typedef struct claw_envelope {
    const char *client_ip;   /**< the connecting client */
    const char *helo;
    const char *mail_from;   /**< envelope sender; "" for <> */
    const char *const *rcpt; /**< envelope recipients */
    size_t n_rcpt;
    const char *dmarc;       /**< the MTA's own DMARC result ("pass", "fail", ...) */
    const char *spf;         /**< the MTA's own SPF result */
    const char *dkim;        /**< the MTA's own DKIM result for the From domain */
    const char *authres;     /**< an Authentication-Results value the MTA wrote
                                  itself (Exim's ${authresults}): its spf and
                                  dkim results, with their domains, feed
                                  Clawback's DMARC evaluation */
    /* DMARC records the MTA looked up itself (rspamd, with its own resolver,
     * which does not block): Clawback then asks no DNS for them. */
    const char *dmarc_lookup; /**< "found", "none" or "temperror"; NULL: not looked up */
    const char *dmarc_domain; /**< where: the From domain or its organisational domain */
    const char *dmarc_record; /**< "found": the DMARC records there, one a line */
} claw_envelope_t;

/** A judgement: the action, the total score and the rules that fired, in
 * the order the detectors ran. An opaque handle, read with the accessors
 * below (which are what the rspamd module calls through FFI, so its layout
 * is nobody's business but the library's). Made by claw_classify(),
 * claw_scan_buffer(), claw_scan_fields() or claw_verdict_parse_header();
 * released with claw_verdict_destroy(). The strings it returns are valid
 * until then. */
typedef struct claw_verdict claw_verdict_t;

/** The action; CLAW_ACTION_ACCEPT for a NULL @verdict. */
CLAW_PUBLIC claw_action_t claw_verdict_action(const claw_verdict_t *verdict);
/** The sum of the rules' scores; 0 for a NULL @verdict. */
CLAW_PUBLIC double claw_verdict_score(const claw_verdict_t *verdict);
/** How many rules fired; 0 for a NULL @verdict. */
CLAW_PUBLIC size_t claw_verdict_n_rules(const claw_verdict_t *verdict);
/** Rule @i's stable upper-case name, e.g. "URL_USERINFO_TRICK"; NULL when
 * @i is not below claw_verdict_n_rules(). */
CLAW_PUBLIC const char *claw_verdict_rule_name(const claw_verdict_t *verdict, size_t i);
/** What rule @i added (its [weights] value); 0 past the last rule, and for
 * a verdict parsed from headers (they do not carry it). */
CLAW_PUBLIC double claw_verdict_rule_score(const claw_verdict_t *verdict, size_t i);
/** What rule @i saw, in English, with message-derived text inside (escape
 * it); NULL past the last rule and for a verdict parsed from headers. */
CLAW_PUBLIC const char *claw_verdict_rule_detail(const claw_verdict_t *verdict, size_t i);

/** Clawback's own DMARC result for the From domain: "pass", "fail", "none"
 * (no record), "temperror" (DNS, or a temporary SPF or DKIM result),
 * "permerror" (a broken record, several From domains); NULL when it was
 * not evaluated (no envelope, [dmarc] evaluate = no). */
CLAW_PUBLIC const char *claw_verdict_dmarc(const claw_verdict_t *verdict);
/** The policy the From domain's record asks for a failure ("none",
 * "quarantine", "reject"; sp= for a subdomain), or NULL. */
CLAW_PUBLIC const char *claw_verdict_dmarc_policy(const claw_verdict_t *verdict);
/** The From domain DMARC was evaluated for, or NULL. */
CLAW_PUBLIC const char *claw_verdict_dmarc_domain(const claw_verdict_t *verdict);
/** What the evaluation found, in English (message-derived text inside:
 * escape it); NULL when not evaluated and for a verdict parsed from
 * headers. */
CLAW_PUBLIC const char *claw_verdict_dmarc_detail(const claw_verdict_t *verdict);

/** Judge @message under the engine's [policy], indicators and [actions].
 * @envelope may be NULL. Reloads changed indicator files first (at most
 * once a second). Returns SUCCESS, INVALID_ARGUMENT or OUT_OF_MEMORY;
 * *@verdict is released with claw_verdict_destroy(). The verdict holds
 * pointers into @message: destroy it first, or keep the message alive. */
CLAW_PUBLIC claw_status_t claw_classify(claw_engine_t *engine, const claw_message_t *message,
                                        const claw_envelope_t *envelope,
                                        claw_verdict_t **verdict);

CLAW_PUBLIC void claw_verdict_destroy(claw_verdict_t *verdict);

/** Does @verdict carry a hit of @rule? */
CLAW_PUBLIC int claw_verdict_has_rule(const claw_verdict_t *verdict, const char *rule);

/** Does @message carry an anomaly with @code? */
CLAW_PUBLIC int claw_message_has_anomaly(const claw_message_t *message, claw_anomaly_code_t code);

/** The model as one line of JSON (no newline), every string escaped.
 * @name, if not NULL, is added as "file". With @verdict (may be NULL) the
 * object also has "action", "score" and "rules" (each {"rule","score",
 * "detail"}). *@json is malloc'd; free() it. Returns SUCCESS or
 * OUT_OF_MEMORY. */
CLAW_PUBLIC claw_status_t claw_message_to_json(const claw_message_t *message,
                                               const claw_verdict_t *verdict, const char *name,
                                               char **json);

/** @s as a JSON string: in double quotes, with the quote, backslash, every
 * control character (C0, DEL, C1), U+2028/U+2029 and the bidi controls
 * escaped, so that text from a message can neither end the string nor
 * reorder or break what a terminal shows. @s NULL gives the JSON literal
 * null. The result is malloc'd and never NULL; free() it. This is the
 * escaper claw_message_to_json() uses. */
CLAW_PUBLIC char *claw_json_quote(const char *s);

/** The model as readable text, several lines each ending in "\n", with the
 * verdict (if not NULL) first and one line per rule. Every message-derived
 * string is escaped so it cannot start a line of its own. *@text is
 * malloc'd; free() it. Returns SUCCESS or OUT_OF_MEMORY. */
CLAW_PUBLIC claw_status_t claw_message_to_text(const claw_message_t *message,
                                               const claw_verdict_t *verdict, const char *name,
                                               char **text);

CLAW_PUBLIC void claw_message_destroy(claw_message_t *message);

/* ------------------------------------------------------------------------
 * Scanning in one call: the small, stable surface the MTA plugins use (the
 * Exim plugin's scanner in C, the rspamd plugin through LuaJIT FFI). Version
 * CLAW_API_VERSION; a change that breaks a caller raises it.
 *
 * An FFI binding declares only what this section and the verdict's
 * accessors name: opaque handles (claw_engine_t, claw_verdict_t), strings,
 * numbers and arrays of strings, never a struct's layout. (Version 2 made
 * claw_verdict_t opaque and added claw_scan_fields(), so that the rspamd
 * module lays out no struct; version 3 added claw_engine_rule_score(), so
 * that its symbols' scores follow [weights]; version 4 added the envelope's
 * "authres" and "dmarc_*" and claw_verdict_dmarc(), for Clawback's own
 * DMARC.)
 * --------------------------------------------------------------------- */

#define CLAW_API_VERSION 4

/** CLAW_API_VERSION of the library actually loaded. */
CLAW_PUBLIC int claw_api_version(void);

/** An engine from the configuration file @config_path (NULL: the built-in
 * defaults). On failure *@error (if not NULL) says why, with file:line for
 * configuration errors; release it with claw_free(). */
CLAW_PUBLIC claw_status_t claw_engine_open(const char *config_path, claw_engine_t **engine,
                                           char **error);

/** Parse and classify @len bytes at @data (a whole message, LF or CRLF line
 * ends) with the optional @envelope. The verdict keeps the parsed message
 * (claw_verdict_message()); claw_verdict_destroy() releases both. Returns
 * what claw_message_parse() and claw_classify() return. */
CLAW_PUBLIC claw_status_t claw_scan_buffer(claw_engine_t *engine, const char *data, size_t len,
                                           const claw_envelope_t *envelope,
                                           claw_verdict_t **verdict);

/** Flags of claw_scan_fields(). */
#define CLAW_SCAN_VERDICT_ONLY 0x1u /**< parse only what the rules read: the
                                         same verdict, sooner; the model of
                                         claw_verdict_message() then lacks
                                         the SHA-256 and the dates of the
                                         Received fields */

/** claw_scan_buffer() with the envelope given as name/value strings, for
 * callers that cannot lay out a claw_envelope_t (FFI, a wire protocol):
 * @fields is NULL (no envelope, as claw_scan_buffer()'s NULL) or a
 * NULL-terminated array of names each followed by its
 * value, the names those of claw_envelope_t's fields: "client_ip", "helo",
 * "mail_from", "dmarc", "spf", "dkim", "authres", "dmarc_lookup",
 * "dmarc_domain", "dmarc_record" (each at most once), and "rcpt" once
 * per recipient. A name left out is an absent field, and so is an empty
 * value, except that "mail_from" "" is the null sender <>. @flags: 0 or
 * CLAW_SCAN_VERDICT_ONLY. The strings are borrowed for the call.
 *
 * Returns what claw_scan_buffer() returns, and INVALID_ARGUMENT for an
 * unknown name, a name given twice, a name without a value or unknown
 * @flags. */
CLAW_PUBLIC claw_status_t claw_scan_fields(claw_engine_t *engine, const char *data, size_t len,
                                           const char *const *fields, unsigned flags,
                                           claw_verdict_t **verdict);

/** Re-read the indicator files (and the archive's published set) if one
 * changed; 1 if the set was replaced, else 0. claw_classify() does it itself at
 * most once a second, unless claw_engine_refresh_manually() was called. A
 * file that no longer loads, or one that was read and is gone, keeps the
 * set loaded (and is logged). */
CLAW_PUBLIC int claw_engine_refresh(claw_engine_t *engine);

/** From now on claw_classify() leaves the indicator files alone: the
 * caller refreshes with claw_engine_refresh() where a reload may take its
 * time. A process that judges in forked children (Exim's scanner) reloads
 * in its first process, between requests, and replaces its children: one
 * reload per change, not one per child inside a message's deadline. */
CLAW_PUBLIC void claw_engine_refresh_manually(claw_engine_t *engine);

/** Where in @message (and @envelope, which may be NULL) the indicator of
 * @type with the normalised value @key (claw_ioc_normalise()) is: @fn is
 * called once per place with a line that says it: "link (html_href) in
 * part 1.2: http://...", "attachment a.zip, part 2", "archive member
 * payload.txt, part 2/1", "the whole message", "Received hop 1: from
 * mx.example [203.0.113.66]", "client IP: ...", "Reply-To: ...", "envelope
 * sender: ...", "Message-ID". A domain is found in the links under it and
 * in the senders' addresses (From, Sender, Reply-To, Return-Path, the
 * envelope sender) at it or under it; an IP in the client's address, the
 * Received hops and links to it, a range (ip:10.0.0.0/8) by each address
 * in it. Returns the number of places (0 if none, or an argument is
 * NULL). */
CLAW_PUBLIC size_t claw_message_locate_ioc(const claw_message_t *message,
                                           const claw_envelope_t *envelope, const char *type,
                                           const char *key,
                                           void (*fn)(void *ctx, const char *where), void *ctx);

/** The value of an option as the engine was built with it (as
 * claw_config_get() gives it), e.g. ("mta", "on_failure"); NULL for an
 * unknown option. Valid as long as the engine. */
CLAW_PUBLIC const char *claw_engine_get(const claw_engine_t *engine, const char *section,
                                        const char *name);

/** The organisational domain of @domain (lower-case ASCII) as the engine's
 * DMARC takes it: its registrable domain by the Public Suffix List, else
 * @domain itself. A pointer into @domain; NULL for a NULL argument. For an
 * MTA that looks DMARC records up itself (the rspamd module). */
CLAW_PUBLIC const char *claw_engine_org_domain(const claw_engine_t *engine, const char *domain);

/** The message a verdict from claw_scan_buffer() judged; NULL for claw_classify(). */
CLAW_PUBLIC const claw_message_t *claw_verdict_message(const claw_verdict_t *verdict);

/* The verdict as text: the one codec both the plugins that write it and
 * the archive that reads it back use. A score is written as printf's "%g"
 * in the C locale (six significant digits), rule names as they are, ASCII
 * letters, digits and "_". Each writer below puts at most @size bytes
 * including the NUL into @buf (which may be NULL when @size is 0) and
 * returns the length the whole text needs, like snprintf; a NULL @verdict
 * gives "". */

/** The header fields an MTA plugin adds (after removing any the message
 * came with). */
#define CLAW_HEADER_ID      "X-Clawback-Id"
#define CLAW_HEADER_VERDICT "X-Clawback-Verdict"
#define CLAW_HEADER_RULES   "X-Clawback-Rules"
/** The X-Clawback-Verdict of a message the plugin could not judge and let
 * through ([mta] on_failure = accept): this word, then "; reason=...". */
#define CLAW_VERDICT_UNSCANNED "unscanned"

/** The verdict as one line of ASCII for MTA configuration languages:
 * "action=tag score=6 rules=RULE_A,RULE_B" ("rules=" empty when none). */
CLAW_PUBLIC size_t claw_verdict_format(const claw_verdict_t *verdict, char *buf, size_t size);

/** The value of X-Clawback-Verdict: "tag; score=6". */
CLAW_PUBLIC size_t claw_verdict_header(const claw_verdict_t *verdict, char *buf, size_t size);

/** The value of X-Clawback-Rules: "RULE_A, RULE_B"; "" when no rule fired
 * (the field is then left out). */
CLAW_PUBLIC size_t claw_verdict_rules_header(const claw_verdict_t *verdict, char *buf,
                                             size_t size);

/** A verdict read back from the values of X-Clawback-Verdict (@verdict)
 * and X-Clawback-Rules (@rules; NULL when the message has none), as the
 * two writers above write them. Leading and trailing blanks are ignored,
 * rule names may be separated by "," with or without blanks; anything else
 * (an unknown action, a missing, non-finite or malformed score, a rule name
 * with other characters, an empty name, more than 1000 rules) is refused
 * whole, never half-read. The verdict has no rule scores or details and no
 * message.
 *
 * Returns SUCCESS with *@out set (release it with claw_verdict_destroy()),
 * NOT_FOUND when @verdict says CLAW_VERDICT_UNSCANNED, INVALID_ARGUMENT
 * for NULL @verdict or @out and for text that is not a verdict, or
 * OUT_OF_MEMORY. */
CLAW_PUBLIC claw_status_t claw_verdict_parse_header(const char *verdict, const char *rules,
                                                    claw_verdict_t **out);

/** The "rule: detail" of the verdict's highest-scoring hit, made safe for an
 * SMTP reply or a header (printable ASCII, no CR/LF, at most @size - 1
 * bytes, cut at a character boundary with "..."). Empty if no rule fired. */
CLAW_PUBLIC size_t claw_verdict_reason(const claw_verdict_t *verdict, char *buf, size_t size);

/** The rules the classifier knows, in a stable order: the name of rule @i
 * (from 0), or NULL past the last one. */
CLAW_PUBLIC const char *claw_rule_name(size_t i);

/** Rule @i's built-in score (before [weights]); 0 past the last rule. */
CLAW_PUBLIC double claw_rule_default_score(size_t i);

/** Rule @i's score under @engine's [weights] (the built-in score where it
 * sets none; 0 for a rule it silences), what one hit of the rule adds; 0
 * past the last rule. (API version 3.) */
CLAW_PUBLIC double claw_engine_rule_score(const claw_engine_t *engine, size_t i);

/** Rule @i's one-line description, or NULL past the last rule. */
CLAW_PUBLIC const char *claw_rule_description(size_t i);

#define CLAW_ID_SIZE 27

/** A new message id for X-Clawback-Id: 26 characters, Crockford base32 of
 * 48 bits of milliseconds since 1970 and 80 random bits (a ULID), so ids
 * sort by time as text. @out holds CLAW_ID_SIZE bytes. */
CLAW_PUBLIC void claw_id_new(char out[CLAW_ID_SIZE]);

/** Free memory the library handed out (error strings). */
CLAW_PUBLIC void claw_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* CLAW_H */
