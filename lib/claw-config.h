/* claw-config.h - the configuration's typed fields and the rule table;
 * private to libclaw and never installed.
 *
 * Libc only (no GLib, no GMime): lib/base/config.c, lib/base/net.c and
 * lib/judge/rules.c are also compiled into claw_exim.so, which reads [mta]
 * through the same option table as every other program.
 */
#ifndef CLAW_CONFIG_H
#define CLAW_CONFIG_H

#include "claw.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CLAW_HIDDEN __attribute__((visibility("hidden")))

/* ------------------------------------------------------------------------
 * Configuration: the typed values every option fills (see config.c).
 * --------------------------------------------------------------------- */

typedef struct claw_limits {
    int64_t max_depth;
    int64_t max_parts;
    int64_t max_decoded_bytes;
    int64_t max_urls;
    int64_t max_archive_members;
    int64_t max_archive_bytes;
    int64_t max_header_bytes;
    int64_t max_time_ms;
    int64_t max_message_bytes;
    int64_t max_text_bytes;
    int64_t max_memory_bytes;
} claw_limits_t;

#define CLAW_N_OPTIONS_MAX 96
#define CLAW_N_RULES_MAX 64
#define CLAW_N_FEEDS_MAX 32
#define CLAW_N_RETENTION_MAX 64

/* One option's value beyond its typed field: the text (what
 * claw_config_get() returns), the line that set it, and for lists the words
 * and networks the typed getters hand out, split once when it is set. */
typedef struct claw_option_value {
    char *text;
    unsigned line;       /* 0: the default or claw_config_set() */
    char **words;        /* lists: NULL-terminated, empty words dropped */
    size_t n_words;
    claw_cidr_t *cidrs;  /* network lists: n_words of them */
} claw_option_value_t;

/* [policy]: lists are kept as written (comma or space separated) and split
 * by the engine. */
typedef struct claw_policy_config {
    char *protected_domains;
    char *partner_domains;
    char *trusted_authserv_ids;
    char *freemail_domains;
    char *internal_relays;
    char *shortener_domains;
    char *vip_names;   /* "Jane Doe|Janie Doe; John Smith" */
    char *brand_names; /* "PayPal; DHL Express" */
    char *builtin_brands; /* "yes" | "no" */
} claw_policy_config_t;

struct claw_config {
    char *log_level;
    char *log_sink;
    char *log_facility;
    claw_limits_t limits;
    claw_policy_config_t policy;
    char *ioc_files;
    char *ioc_published;
    /* [dmarc]: Clawback's own DMARC evaluation (lib/judge/dmarc.c). */
    char *dmarc_evaluate;      /* "yes" | "no" */
    char *dmarc_resolvers;     /* "" (the host's) or ADDRESS[:PORT] list */
    int64_t dmarc_timeout_ms;  /* for all of one message's lookups */
    int64_t dmarc_cache_ttl_ms;
    char *dmarc_honour_policy; /* "no" | "reject" | "all" */
    double tag_score, quarantine_score, reject_score;
    /* [mta]: what the MTA plugins do (plugin/). */
    char *mta_on_failure; /* "defer" | "accept" */
    int64_t mta_deadline_ms;
    char *mta_test_fault; /* "none" | "internal" | "hang" */
    /* [archive] and [clawd]: the archive daemon and claw (indexer/, search/). */
    char *archive_path;
    int64_t archive_map_size;
    int64_t archive_zstd_level;
    int64_t archive_dictionary_after;
    char *archive_index_headers;
    char *archive_positions;
    int64_t archive_max_text;
    int64_t archive_commit_batch;
    int64_t archive_commit_delay_ms;
    int64_t archive_index_batch;
    int64_t archive_index_shards;
    int64_t archive_threads;
    char *clawd_socket;
    char *clawd_socket_group;
    char *clawd_journal_domain;
    char *clawd_listen;
    char *clawd_allow;
    int64_t clawd_max_sessions;
    int64_t clawd_memory_budget;
    char *clawd_tcp_auth;
    char *clawd_tls_certificate;
    char *clawd_tls_privatekey;
    char *clawd_tls_client_ca;
    /* [purge]: taking mail back (claw purge, clawd). */
    int64_t purge_approval_threshold;
    int64_t purge_approval_expiry_ms;
    char *purge_maildir;
    char *purge_quarantine_dir;
    char *purge_doveadm;
    char *purge_dovecot_user;
    char *purge_dovecot_quarantine;
    char *purge_exim;
    /* [weights]: a score per rule, set when the file names the rule. */
    double weight[CLAW_N_RULES_MAX];
    char *weight_text[CLAW_N_RULES_MAX];
    /* [feeds]: each as written (feed_text: "NAME\0VALUE") and parsed, its
     * strings pointing into feed_words. */
    claw_feed_config_t feed[CLAW_N_FEEDS_MAX];
    char *feed_text[CLAW_N_FEEDS_MAX];
    char *feed_words[CLAW_N_FEEDS_MAX];
    size_t n_feeds;
    /* [retention]: each rule as written ("NAME\0VALUE") and parsed. */
    claw_retention_config_t retention[CLAW_N_RETENTION_MAX];
    char *retention_text[CLAW_N_RETENTION_MAX];
    size_t n_retention;
    /* Every option as the file wrote it and as parsed, indexed like the
     * option table, and the file it came from. */
    claw_option_value_t value[CLAW_N_OPTIONS_MAX];
    char *path; /* NULL: defaults and claw_config_set() only */
};

/* Rules (lib/judge/rules.c): the index of a rule name, or -1; its default
 * score and its one-line description. config.c reads [weights] by them. */
CLAW_HIDDEN int _claw_rule_index(const char *name);
CLAW_HIDDEN size_t _claw_rule_count(void);
CLAW_HIDDEN const char *_claw_rule_name(size_t i);
CLAW_HIDDEN double _claw_rule_default_score(size_t i);
CLAW_HIDDEN const char *_claw_rule_doc(size_t i);

/* A malloc'd string formatted as by printf (libc only: the Exim plugin
 * builds this file in); NULL when out of memory. */
CLAW_HIDDEN char *_claw_strdup_printf(const char *fmt, ...) CLAW_PRINTF(1, 2);

/* A copy of @src (NULL: the defaults). Returns SUCCESS or OUT_OF_MEMORY. */
CLAW_HIDDEN claw_status_t _claw_config_copy(const claw_config_t *src, claw_config_t **dst);

/* Load only [@section] of @path over the defaults; the other sections are
 * skipped unread (they are other programs' to check). Statuses and *@error
 * as for claw_config_load(), except that on CONFIG_ERROR *@config is still
 * set: every valid line applied, the bad ones left out (the caller
 * destroys it), so that a setting that parsed, such as [mta] on_failure,
 * is honoured while another line of the section is wrong. The Exim plugin
 * reads [mta] this way. */
CLAW_HIDDEN claw_status_t _claw_config_load_section(const char *path, const char *section,
                                                    claw_config_t **config, char **error);

/* The longest line a configuration or indicator file may have: a file with
 * a longer one (/dev/zero, a binary) is not read on. */
#define CLAW_CONFIG_LINE_MAX 65536u

/* Read one line of @f into *@line (grown as needed, *@cap its size; free it
 * after), with its newline and a NUL after it. Returns its length, -1 at
 * the end of the file (or out of memory), or -2 when the line passes @max
 * bytes: unlike getline(), a file without newlines cannot take all memory. */
CLAW_HIDDEN ssize_t _claw_read_line(FILE *f, char **line, size_t *cap, size_t max);


/* A malloc'd "file:line: [section] name: " + the formatted message, for an
 * option's value found wrong after loading (claw_config_check()); just
 * "[section] name: ..." when the option did not come from a file. */
CLAW_HIDDEN char *_claw_config_error(const claw_config_t *config, const char *section,
                                     const char *name, const char *fmt, ...) CLAW_PRINTF(4, 5);

#endif /* CLAW_CONFIG_H */
