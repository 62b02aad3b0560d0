/* judge.h - shared between the classifier's own files (lib/judge/); never
 * installed. The policy and the indicators as compiled for an engine, the
 * verdict under construction, and each detector's entry.
 *
 * claw_classify() (classify.c) runs the detectors in their order:
 *   classify.c         the message itself: unscannable, ambiguous MIME
 *   detect-sender.c    spoofed own domains, display names, Reply-To,
 *                      senders on the indicator list
 *   lookalike.c        cousin domains of our and our partners' domains
 *   detect-links.c     deceptive, listed and obfuscated links
 *   detect-attachments.c  dangerous, disguised and listed attachments
 *   detect-bec.c       payment-change fraud (weighs the sender rules' hits)
 * policy.c compiles [policy]; indicators.c loads and reloads [ioc] files.
 */
#ifndef CLAW_JUDGE_H
#define CLAW_JUDGE_H

#include "claw-private.h"
#include "judge/rules.h"

#include <sys/stat.h>
#include <unicode/uspoof.h>

/* ------------------------------------------------------------------------
 * The policy ([policy], policy.c)
 * --------------------------------------------------------------------- */

/* A protected or partner domain, prepared for lookalike comparison. */
typedef struct {
    char *registrable; /* "paypal.com" */
    char *label;       /* "paypal": the registrable part before its suffix */
    char *suffix;      /* "com" */
    char *skeleton;    /* UTS #39 skeleton of the label, folded (see fold_skeleton) */
    char *visual;      /* the label as a reader takes it (see visual_fold) */
    bool partner;
} target_t;

/* A name to watch in display names: words, normalised (see norm_name). */
typedef struct {
    char *shown;     /* as configured, for the detail */
    char *norm;      /* " jane doe " */
    char **forms;    /* the person's name as it is also written: surname
                      * first (" doe jane ", for "Doe, Jane"), then each of
                      * norm and those without one-letter words (" jane q
                      * doe " as " jane doe "); NULL-ended, NULL for brands */
    size_t n_rotated; /* forms[0 .. n_rotated) are the surname-first ones */
    char *run_together; /* "janedoe": the words without spaces, for a display
                         * name written so ("JaneDoe", "J a n e D o e");
                         * NULL for brands and one-word names */
    const char *own; /* built-in brands: " dhl dpdhl " - organisation labels that are the brand */
    bool brand;
    bool exact;      /* the whole display name, not a part of it */
} name_t;

struct claw_policy {
    GArray *targets;  /* target_t */
    GArray *names;    /* name_t */
    USpoofChecker *spoof;
    GHashTable *protected_domains; /* lowercase ASCII names */
    GHashTable *partner_domains;
    GHashTable *trusted_authserv;
    GHashTable *freemail;
    GHashTable *shorteners;
    GHashTable *service_words; /* normalised like names: "tearn" */
    GArray *internal; /* claw_cidr_t */
    /* What lookalike() found for a host (ASCII) -> lookalike_t, kept for
     * the engine's life: the hosts of one sender or newsletter come back in
     * message after message, and their skeletons are most of classify's
     * time. Bounded by LOOKALIKE_CACHE_MAX; emptied when full. */
    GHashTable *lookalikes;
};

typedef struct {
    const char *how; /* a static string, or NULL: no lookalike */
    guint target;    /* index in targets, when @how */
} lookalike_t;

#define LOOKALIKE_CACHE_MAX 8192

/* A set of lowercase words or names (keys freed with it). */
CLAW_HIDDEN GHashTable *_claw_word_set(void);
/* Is @name, or a domain it is under, in @set? */
CLAW_HIDDEN bool _claw_in_domain_set(GHashTable *set, const char *name);
/* A display name or configured name as words, normalised for comparison
 * (NFKC, case folded, confusables folded): " jane doe ". g_free() it. */
CLAW_HIDDEN char *_claw_norm_name(USpoofChecker *sc, const char *name);

/* ------------------------------------------------------------------------
 * Lookalike domains (lookalike.c)
 * --------------------------------------------------------------------- */

/* The folded UTS #39 skeleton of @label, and the label as a reader takes
 * it; g_free() each. policy.c prepares every target with them. */
CLAW_HIDDEN char *_claw_fold_skeleton(USpoofChecker *sc, const char *label);
CLAW_HIDDEN char *_claw_visual_fold(USpoofChecker *sc, const char *label);

/* ------------------------------------------------------------------------
 * Indicators ([ioc], indicators.c)
 * --------------------------------------------------------------------- */

typedef enum { IOC_URL, IOC_HOST, IOC_DOMAIN, IOC_SENDER, IOC_SHA256, IOC_IP, IOC_LAST } ioc_t;

struct claw_iocs {
    GHashTable *set[IOC_LAST]; /* normalised value -> the claw_action_t it asks for */
    GArray *files; /* ioc_file_t */
    gint64 checked_us;
    size_t count;
};

/* Re-read the indicator files that changed, at most once a second. */
CLAW_HIDDEN bool _claw_iocs_refresh(claw_engine_t *e, bool now_ok);
/* What the indicator of @type with the normalised value @key asks of the
 * verdict: CLAW_ACTION_REJECT (block), _QUARANTINE, _TAG, or _ACCEPT when
 * there is none. */
CLAW_HIDDEN claw_action_t _claw_ioc_asks(const claw_iocs_t *io, ioc_t type, const char *key);
/* The same for @host: the strongest of a host: indicator on it and the
 * domain: indicators on it or a domain it is under. */
CLAW_HIDDEN claw_action_t _claw_ioc_domain_asks(const claw_iocs_t *io, const char *host);

/* ------------------------------------------------------------------------
 * The verdict under construction (classify.c)
 * --------------------------------------------------------------------- */

struct claw_verdict_private {
    claw_message_t *message; /* owned, from claw_scan_buffer() */
    claw_action_t dmarc_asks; /* what [dmarc] honour_policy makes of a failure */
    GArray *hits;
    GStringChunk *strings;
    unsigned count[R_LAST];
    int index[R_LAST]; /* the hit of each rule in @hits, or -1 */
    claw_action_t asks[R_LAST]; /* what the indicator behind an _IOC rule's hit asks */
};

typedef struct {
    claw_engine_t *e;
    const claw_message_t *m;
    const claw_envelope_t *env;
    claw_verdict_t *v;
    struct claw_verdict_private *vp;
} run_t;

/* Record that @r fired. The first detail is kept; later ones are counted. */
CLAW_HIDDEN void _claw_hit(run_t *run, rule_t r, const char *fmt, ...) CLAW_PRINTF(3, 4);
/* Record that @r, an _IOC rule, fired on an indicator asking @asks
 * (_claw_ioc_asks(); nothing when CLAW_ACTION_ACCEPT): the hit of the one
 * asking most is kept, its score at most its action's threshold, and the
 * verdict's action is at least @asks. */
CLAW_HIDDEN void _claw_hit_ioc(run_t *run, rule_t r, claw_action_t asks, const char *fmt, ...)
    CLAW_PRINTF(4, 5);
/* The first address of @field in @m, or NULL. */
CLAW_HIDDEN const claw_address_t *_claw_first_address(const claw_message_t *m,
                                                       claw_address_field_t field);
/* The organisational domain of @d: its registrable domain, else its name. */
CLAW_HIDDEN const char *_claw_org(const claw_domain_t *d);

/* ------------------------------------------------------------------------
 * The detectors, each in its file
 * --------------------------------------------------------------------- */

/* Clawback's own DMARC evaluation of the From domain (dmarc.c), into
 * run->v->dmarc and run->vp->dmarc_asks; before the sender rules, which
 * read it. Only with an envelope: without an SMTP session there are no SPF
 * and DKIM results to align. */
CLAW_HIDDEN void _claw_dmarc_evaluate(run_t *run);
CLAW_HIDDEN void _claw_detect_dmarc(run_t *run);
CLAW_HIDDEN void _claw_detect_spoof(run_t *run);
CLAW_HIDDEN void _claw_detect_lookalikes(run_t *run);
CLAW_HIDDEN void _claw_detect_display_names(run_t *run);
CLAW_HIDDEN void _claw_detect_reply_to(run_t *run);
CLAW_HIDDEN void _claw_detect_envelope_sender(run_t *run);
/* " jane q doe " without its one-letter words: " jane doe " (g_free). */
CLAW_HIDDEN char *_claw_name_without_initials(const char *norm);
/* " jane doe " without its spaces: "janedoe" (g_free). */
CLAW_HIDDEN char *_claw_name_run_together(const char *norm);
/* Rule @r's score under @e's [weights] (the built-in one when unset). */
CLAW_HIDDEN double _claw_rule_weight(const claw_engine_t *e, rule_t r);
CLAW_HIDDEN void _claw_detect_sender_ioc(run_t *run);
CLAW_HIDDEN void _claw_detect_urls(run_t *run);
CLAW_HIDDEN void _claw_detect_attachments(run_t *run);
CLAW_HIDDEN void _claw_detect_bec(run_t *run);

/* ------------------------------------------------------------------------
 * DNS (dns.c)
 * --------------------------------------------------------------------- */

typedef enum { CLAW_DNS_FOUND, CLAW_DNS_NONE, CLAW_DNS_TEMP } claw_dns_status_t;

CLAW_HIDDEN claw_dns_cache_t *_claw_dns_cache_new(void);
CLAW_HIDDEN void _claw_dns_cache_free(claw_dns_cache_t *cache);
/* Do [dmarc] resolvers name servers c-ares can use? */
CLAW_HIDDEN claw_status_t _claw_dns_check_config(const claw_config_t *config, char **error);
/* A query of @type (ns_t_txt, ns_t_a, ...) for @name to [dmarc] resolvers
 * (else the host's), given up at @deadline_us: FOUND with the answer's
 * bytes (*@answer, g_free), NONE (no such name, or no record of the type),
 * or TEMP (*@why, g_free). Not cached. */
CLAW_HIDDEN claw_dns_status_t _claw_dns_query(const claw_config_t *config, const char *name,
                                              int type, gint64 deadline_us,
                                              unsigned char **answer, int *len, char **why);
/* The TXT records of an answer, each one's strings joined; NULL-ended
 * (g_strfreev), or NULL when it has none. */
CLAW_HIDDEN char **_claw_dns_txt_records(const unsigned char *answer, int len);
/* SPF checked by Clawback (spf.c: libspf2 over _claw_dns_query()) for
 * client @ip, @helo and @mail_from ("" or NULL: the null sender, checked
 * for the HELO name): "pass", "fail", "softfail", "neutral", "none",
 * "temperror", "permerror" (g_free), or NULL when there is nothing to
 * check (no client IP, neither sender nor HELO). */
CLAW_HIDDEN char *_claw_spf_check(const claw_config_t *config, const char *ip, const char *helo,
                                  const char *mail_from, gint64 deadline_us);
/* The TXT records of @name (FOUND: *@txt, a NULL-ended g_strfreev() list),
 * none (NONE: no such name, or no TXT there), or a temporary failure (TEMP:
 * *@why, g_free()), the answer cached in @e for [dmarc] cache_ttl. Gives
 * up at @deadline_us (g_get_monotonic_time()) with TEMP. */
CLAW_HIDDEN claw_dns_status_t _claw_dns_txt(claw_engine_t *e, const char *name,
                                            gint64 deadline_us, char ***txt, char **why);

#endif /* CLAW_JUDGE_H */
