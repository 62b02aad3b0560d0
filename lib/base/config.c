/* config.c - the configuration file, declared as one table of options.
 *
 * Each option has a section, a name, a type, a default, bounds and a line of
 * documentation. Loading fills the typed fields of struct claw_config through
 * offsetof(); the same table writes the sample file conf/clawback.conf, so the
 * documentation cannot drift from the code.
 *
 * Libc only (no GLib): the Exim plugin compiles this file too and reads
 * [mta] through the same table and typed getters (see claw-config.h).
 */
#include "build-config.h"

#include "claw-config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef enum {
    OPT_STRING, /* free text */
    OPT_ENUM,   /* one of a '|' separated list */
    OPT_INT,    /* a whole number */
    OPT_SIZE,   /* bytes, with an optional k/m/g suffix (powers of 1024) */
    OPT_MSEC,   /* a duration in milliseconds, with an optional ms/s/m/h suffix */
    OPT_LIST,   /* words separated by commas or white space */
    OPT_CIDRS,  /* a list of networks (CIDR), each checked */
    OPT_ADDRS,  /* a list of listening addresses ADDRESS:PORT, each checked */
    OPT_SCORE   /* a decimal number */
} opt_type_t;

typedef struct {
    const char *section;
    const char *name;
    opt_type_t type;
    size_t offset;
    const char *def;
    int64_t min, max;    /* for numbers */
    const char *choices; /* for OPT_ENUM */
    const char *doc;
} option_t;

#define LIM(f) offsetof(struct claw_config, limits.f)
#define POL(f) offsetof(struct claw_config, policy.f)
#define KIB 1024LL
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)

static const option_t options[] = {
    {"log", "level", OPT_ENUM, offsetof(struct claw_config, log_level), "notice", 0, 0,
     "error|warning|notice|info|debug", "Lines less important than this are not written."},
    {"log", "sink", OPT_ENUM, offsetof(struct claw_config, log_sink), "stderr", 0, 0,
     "stderr|syslog", "Where log lines go. Inside Exim, Exim's own log is always used."},
    {"log", "facility", OPT_ENUM, offsetof(struct claw_config, log_facility), "mail", 0, 0,
     "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7",
     "The syslog facility when sink = syslog."},

    {"limits", "max_depth", OPT_INT, LIM(max_depth), "32", 1, 1000, NULL,
     "Deepest MIME nesting (multiparts and attached messages) that is walked."},
    {"limits", "max_parts", OPT_INT, LIM(max_parts), "1000", 1, 1000000, NULL,
     "Most MIME parts walked in one message."},
    {"limits", "max_decoded_bytes", OPT_SIZE, LIM(max_decoded_bytes), "64m", 1 * KIB, 4 * GIB,
     NULL, "Most bytes decoded (base64, quoted-printable) from one message's parts."},
    {"limits", "max_urls", OPT_INT, LIM(max_urls), "2000", 1, 1000000, NULL,
     "Most URLs recorded for one message."},
    {"limits", "max_archive_members", OPT_INT, LIM(max_archive_members), "1000", 1, 1000000,
     NULL, "Most archive members (over all archives and levels) listed for one message."},
    {"limits", "max_archive_bytes", OPT_SIZE, LIM(max_archive_bytes), "512m", 1 * KIB, 16 * GIB,
     NULL, "Most bytes expanded from archives for one message."},
    {"limits", "max_header_bytes", OPT_SIZE, LIM(max_header_bytes), "1m", 1 * KIB, 1 * GIB, NULL,
     "Largest header block of a message or part."},
    {"limits", "max_time", OPT_MSEC, LIM(max_time_ms), "2000", 1, 3600000, NULL,
     "Wall time allowed for one message; the rest is skipped and the message is unscannable."},
    {"limits", "max_message_bytes", OPT_SIZE, LIM(max_message_bytes), "128m", 1 * KIB, 16 * GIB,
     NULL, "Largest message read; bytes past this are not parsed."},
    {"limits", "max_text_bytes", OPT_SIZE, LIM(max_text_bytes), "8m", 1 * KIB, 1 * GIB, NULL,
     "Most text (plain and rendered HTML) kept for one message."},
    {"limits", "max_memory", OPT_SIZE, LIM(max_memory_bytes), "256m", 1 * MIB, 64 * GIB, NULL,
     "Memory Clawback itself may hold for one message (GMime's tree aside)."},

    {"policy", "protected_domains", OPT_LIST, POL(protected_domains), "", 0, 0, NULL,
     "Our own domains: mail claiming them must authenticate. Subdomains are included."},
    {"policy", "partner_domains", OPT_LIST, POL(partner_domains), "", 0, 0, NULL,
     "Suppliers' and customers' domains, watched like our own for impersonation."},
    {"policy", "vip_names", OPT_STRING, POL(vip_names), "", 0, 0, NULL,
     "People whose names get impersonated: entries separated by ';', aliases by '|' "
     "(Jane Doe|Janie Doe; John Smith). Common nicknames are added by themselves."},
    {"policy", "brand_names", OPT_STRING, POL(brand_names), "", 0, 0, NULL,
     "Brands whose names get impersonated, separated by ';' (PayPal; DHL Express)."},
    {"policy", "builtin_brands", OPT_ENUM, POL(builtin_brands), "yes", 0, 0, "yes|no",
     "Also watch the built-in list of brands most often impersonated (Microsoft, PayPal, DHL, "
     "banks, crypto wallets, ...) in display names."},
    {"policy", "trusted_authserv_ids", OPT_LIST, POL(trusted_authserv_ids), "", 0, 0, NULL,
     "authserv-ids of Authentication-Results headers written by our own servers."},
    {"policy", "freemail_domains", OPT_LIST, POL(freemail_domains), "", 0, 0, NULL,
     "Free-mail providers added to the built-in list (gmail.com, outlook.com, ...)."},
    {"policy", "internal_relays", OPT_CIDRS, POL(internal_relays), "", 0, 0, NULL,
     "Networks (CIDR) whose Received hops are ours; mail that came only through them is internal."},
    {"policy", "shortener_domains", OPT_LIST, POL(shortener_domains), "", 0, 0, NULL,
     "URL shorteners added to the built-in list (bit.ly, tinyurl.com, ...)."},

    {"ioc", "files", OPT_LIST, offsetof(struct claw_config, ioc_files), "", 0, 0, NULL,
     "Indicator files, one TYPE:VALUE a line (url, host, domain, sender, sha256, ip, "
     "message-id; '#' starts a comment), blocking unless the line begins with another action "
     "(quarantine, tag, hunt). Re-read when they change."},
    {"ioc", "published", OPT_STRING, offsetof(struct claw_config, ioc_published), "", 0, 0, NULL,
     "Where clawd and claw publish the archive's active indicators for the MTA (an indicator "
     "file, replaced whole at each change, re-read within a second); empty: ioc/active in "
     "[archive] path (for claw and clawd, in the archive --archive names)."},

    {"dmarc", "evaluate", OPT_ENUM, offsetof(struct claw_config, dmarc_evaluate), "yes", 0, 0,
     "yes|no",
     "Evaluate DMARC (RFC 7489) for the From domain of every message an MTA hands over (not "
     "for claw scan or import, which have no SMTP session): its record looked up in DNS, the "
     "MTA's SPF and DKIM results aligned with it."},
    {"dmarc", "resolvers", OPT_LIST, offsetof(struct claw_config, dmarc_resolvers), "", 0, 0,
     NULL,
     "Name servers asked for DMARC records, ADDRESS or ADDRESS:PORT ([v6]:PORT); empty: the "
     "host's own (/etc/resolv.conf)."},
    {"dmarc", "timeout", OPT_MSEC, offsetof(struct claw_config, dmarc_timeout_ms), "1000", 10,
     60000, NULL,
     "Wall time for all of one message's DMARC lookups; past it the result is temperror, never "
     "pass. Keep it under [mta] deadline."},
    {"dmarc", "cache_ttl", OPT_MSEC, offsetof(struct claw_config, dmarc_cache_ttl_ms), "10m", 0,
     86400000, NULL,
     "How long a DMARC record (or its absence) is kept in memory; a temporary DNS failure is "
     "kept at most 30 s. 0: no cache."},
    {"dmarc", "honour_policy", OPT_ENUM, offsetof(struct claw_config, dmarc_honour_policy), "no",
     0, 0, "no|reject|all",
     "What the sending domain's policy does to a message that fails its DMARC: no (only the "
     "rules' scores), reject (p=reject rejects), all (p=reject rejects, p=quarantine "
     "quarantines). A pct= below 100 is honoured by sampling."},

    {"actions", "tag", OPT_SCORE, offsetof(struct claw_config, tag_score), "4", 0, 1000, NULL,
     "Score from which a message is tagged (X-Clawback headers, subject left alone)."},
    {"actions", "quarantine", OPT_SCORE, offsetof(struct claw_config, quarantine_score), "9", 0,
     1000, NULL, "Score from which a message is quarantined."},
    {"actions", "reject", OPT_SCORE, offsetof(struct claw_config, reject_score), "15", 0, 1000,
     NULL, "Score from which a message is rejected."},

    {"mta", "on_failure", OPT_ENUM, offsetof(struct claw_config, mta_on_failure), "defer", 0, 0,
     "defer|accept",
     "What the MTA plugins do when they cannot judge a message (unreadable configuration, "
     "out of memory, deadline): defer (451, the sender retries) or accept it unscanned."},
    {"mta", "deadline", OPT_MSEC, offsetof(struct claw_config, mta_deadline_ms), "2000", 10,
     600000, NULL, "Wall-clock time the MTA plugins allow one message."},
    {"mta", "test_fault", OPT_ENUM, offsetof(struct claw_config, mta_test_fault), "none", 0, 0,
     "none|internal|hang",
     "For the test suite only: make every scan fail (internal) or overrun the deadline (hang)."},

    {"archive", "path", OPT_STRING, offsetof(struct claw_config, archive_path),
     "/var/lib/clawback", 0, 0, NULL,
     "Directory of the archive: store/ (LMDB, the truth) and index/ (Xapian, derived)."},
    {"archive", "map_size", OPT_SIZE, offsetof(struct claw_config, archive_map_size), "1g",
     16 * MIB, 1024 * 1024 * GIB, NULL,
     "Initial size of the store's memory map; it grows by itself when full."},
    {"archive", "compression_level", OPT_INT, offsetof(struct claw_config, archive_zstd_level),
     "5", 1, 19, NULL, "zstd level for stored messages (higher: smaller and slower)."},
    {"archive", "dictionary_after", OPT_INT,
     offsetof(struct claw_config, archive_dictionary_after), "1000", 0, 100000000, NULL,
     "Once the store holds this many messages, train a zstd dictionary (up to 2 MiB) on them "
     "and compress later messages with it (about a third smaller); 0: never."},
    {"archive", "index_headers", OPT_LIST, offsetof(struct claw_config, archive_index_headers),
     "", 0, 0, NULL,
     "Extra headers to make searchable, e.g. List-Id, X-Mailer (search header:list-id=...)."},
    {"archive", "positions", OPT_ENUM, offsetof(struct claw_config, archive_positions), "no",
     0, 0, "yes|no",
     "Keep word positions (a larger index, faster phrases); without them a phrase is "
     "confirmed against the stored subject or texts. Changing it needs claw reindex."},
    {"archive", "max_text", OPT_SIZE, offsetof(struct claw_config, archive_max_text), "256k",
     1 * KIB, 1 * GIB, NULL, "Body text indexed per message; the rest is stored, not indexed."},
    {"archive", "commit_batch", OPT_INT, offsetof(struct claw_config, archive_commit_batch),
     "256", 1, 100000, NULL, "Most messages one store transaction (one sync) holds."},
    {"archive", "commit_delay", OPT_MSEC, offsetof(struct claw_config, archive_commit_delay_ms),
     "5", 0, 1000, NULL,
     "How long a commit waits for more messages to share its sync, in ms."},
    {"archive", "index_batch", OPT_INT, offsetof(struct claw_config, archive_index_batch),
     "1000", 1, 1000000, NULL, "Documents per index commit (the index also commits when idle)."},
    {"archive", "index_shards", OPT_INT, offsetof(struct claw_config, archive_index_shards), "2",
     1, 16, NULL,
     "Parts of a new index, each written by its own thread (fixed when the index is made)."},
    {"archive", "threads", OPT_INT, offsetof(struct claw_config, archive_threads), "0", 0, 256,
     NULL, "Threads that parse, classify and compress; 0 means one per CPU."},

    {"clawd", "socket", OPT_STRING, offsetof(struct claw_config, clawd_socket),
     "/run/clawback/clawd.sock", 0, 0, NULL, "LMTP on this Unix socket (empty: none)."},
    {"clawd", "socket_group", OPT_STRING, offsetof(struct claw_config, clawd_socket_group), "", 0,
     0, NULL,
     "Group given the socket (mode 0660), e.g. Debian-exim, so the MTA can connect."},
    {"clawd", "journal_domain", OPT_STRING, offsetof(struct claw_config, clawd_journal_domain),
     "archive.invalid", 0, 0, NULL,
     "Recipients NAME+LOCAL=DOMAIN@ this domain (a Postfix recipient_bcc_maps copy) are "
     "archived as LOCAL@DOMAIN."},
    {"clawd", "listen", OPT_ADDRS, offsetof(struct claw_config, clawd_listen), "", 0, 0, NULL,
     "LMTP also on these TCP addresses, e.g. 127.0.0.1:2424 [::1]:2424."},
    {"clawd", "allow", OPT_CIDRS, offsetof(struct claw_config, clawd_allow), "127.0.0.0/8 ::1/128",
     0, 0, NULL, "Networks allowed to connect over TCP."},
    {"clawd", "max_sessions", OPT_INT, offsetof(struct claw_config, clawd_max_sessions), "256", 1,
     100000, NULL, "Most LMTP sessions at once; more are told 421 to come back later."},
    {"clawd", "memory_budget", OPT_SIZE, offsetof(struct claw_config, clawd_memory_budget),
     "256m", 1 * MIB, 1024 * GIB, NULL,
     "Memory all LMTP sessions together may hold in messages being received and stored; a "
     "DATA that finds it spent, or runs out of it, is told 452 (try again later), and a "
     "message larger than it is refused like one over max_message_bytes."},
    {"clawd", "tcp_auth", OPT_ENUM, offsetof(struct claw_config, clawd_tcp_auth), "certificate", 0,
     0, "certificate|none",
     "Who may write over TCP: certificate = an MTA that gives STARTTLS a client certificate "
     "signed by tls_client_ca (Exim's smtp transport with protocol = lmtp and "
     "tls_certificate); none = anyone allowed, its X-Clawback-* fields and XFORWARD not "
     "believed."},
    {"clawd", "tls_certificate", OPT_STRING, offsetof(struct claw_config, clawd_tls_certificate),
     "", 0, 0, NULL, "clawd's certificate chain (PEM) for STARTTLS on TCP."},
    {"clawd", "tls_privatekey", OPT_STRING, offsetof(struct claw_config, clawd_tls_privatekey),
     "", 0, 0, NULL, "Its private key (PEM)."},
    {"clawd", "tls_client_ca", OPT_STRING, offsetof(struct claw_config, clawd_tls_client_ca), "",
     0, 0, NULL,
     "The CA certificates (PEM) that sign the MTAs' client certificates; with tcp_auth = "
     "certificate only those may write."},

    {"purge", "approval_threshold", OPT_INT, offsetof(struct claw_config, purge_approval_threshold),
     "1000", 0, 100000000, NULL,
     "A purge plan over more copies than this waits for a second person (another Unix user) "
     "to approve it with claw purge approve; 0: every plan waits."},
    {"purge", "approval_expiry", OPT_MSEC, offsetof(struct claw_config, purge_approval_expiry_ms),
     "24h", 1000, 720LL * 3600 * 1000, NULL,
     "A plan not approved within this time expires and must be made again."},
    {"purge", "maildir", OPT_STRING, offsetof(struct claw_config, purge_maildir), "", 0, 0, NULL,
     "Where a recipient's delivered mail is, as a Maildir path with %u (local part), %d "
     "(domain) and %a (the whole address), e.g. /var/mail/%d/%u/Maildir; empty: the mailbox "
     "target has no Maildirs."},
    {"purge", "quarantine_dir", OPT_STRING, offsetof(struct claw_config, purge_quarantine_dir),
     "", 0, 0, NULL,
     "Where copies taken out of Maildirs are kept until restored, out of the users' view; "
     "empty: quarantine/ in [archive] path."},
    {"purge", "doveadm", OPT_STRING, offsetof(struct claw_config, purge_doveadm), "", 0, 0, NULL,
     "How to run Dovecot's doveadm for the mailbox target, e.g. doveadm -c "
     "/etc/dovecot/dovecot.conf; empty: no Dovecot mailboxes."},
    {"purge", "dovecot_user", OPT_STRING, offsetof(struct claw_config, purge_dovecot_user), "%u",
     0, 0, NULL, "The Dovecot user of a recipient: %u (local part), %d (domain), %a (address)."},
    {"purge", "dovecot_quarantine", OPT_STRING,
     offsetof(struct claw_config, purge_dovecot_quarantine), "Clawback.Quarantine", 0, 0, NULL,
     "The prefix of the Dovecot namespace quarantined mail is moved to: one enabled for doveadm "
     "alone (see clawback.conf(5)), so users cannot see it."},
    {"purge", "exim", OPT_STRING, offsetof(struct claw_config, purge_exim), "", 0, 0, NULL,
     "How to run Exim for the queue target (copies Exim still holds for a recipient: frozen, "
     "thawed, removed), e.g. exim4; empty: no queue target."},
};

#define N_OPTIONS (sizeof options / sizeof options[0])
_Static_assert(sizeof options / sizeof options[0] <= CLAW_N_OPTIONS_MAX,
               "raise CLAW_N_OPTIONS_MAX");

static bool
is_list(const option_t *o)
{
    return o->type == OPT_LIST || o->type == OPT_CIDRS || o->type == OPT_ADDRS;
}

static bool
holds_text(const option_t *o)
{
    return o->type == OPT_STRING || o->type == OPT_ENUM || is_list(o);
}

char *
_claw_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static const option_t *
find_option(const char *section, const char *name, size_t *index)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].section, section) == 0 && strcmp(options[i].name, name) == 0) {
            if (index)
                *index = i;
            return &options[i];
        }
    }
    return NULL;
}

static bool
section_exists(const char *section)
{
    if (!strcmp(section, "weights") || !strcmp(section, "feeds") || !strcmp(section, "retention"))
        return true;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].section, section) == 0)
            return true;
    return false;
}

/* Units, compared without regard to case (in ASCII, whatever the locale). */
typedef struct {
    const char *name;
    int64_t mult;
} unit_t;

static const unit_t size_units[] = {{"", 1},      {"k", KIB}, {"kb", KIB}, {"m", MIB},
                                    {"mb", MIB},  {"g", GIB}, {"gb", GIB}, {NULL, 0}};
static const unit_t duration_units[] = {{"", 1},          {"ms", 1},           {"s", 1000},
                                        {"m", 60 * 1000}, {"h", 3600 * 1000}, {NULL, 0}};

static bool
ascii_case_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

/* The multiplier of the unit @end names in @units, or 0. */
static int64_t
unit_multiplier(const unit_t *units, const char *end)
{
    for (const unit_t *u = units; u->name; u++)
        if (ascii_case_equal(end, u->name))
            return u->mult;
    return 0;
}

/* A whole number, then a unit named in @units (or none). Returns NULL or a
 * static reason; *@out is the number times the unit, checked for overflow. */
static const char *
parse_with_unit(const char *value, const unit_t *units, int64_t *out)
{
    char *end;
    errno = 0;
    if (!*value || !((*value >= '0' && *value <= '9') || *value == '-'))
        return "expected a number";
    long long n = strtoll(value, &end, 10);
    if (errno == ERANGE)
        return "number out of range";
    int64_t mult = 1;
    if (units && !(mult = unit_multiplier(units, end)))
        return units == size_units ? "expected a size such as 512k, 64M or 1g"
                                   : "expected a duration such as 250ms, 2s, 5m or 1h";
    if (!units && *end)
        return "expected a whole number";
    if (n > INT64_MAX / mult || n < INT64_MIN / mult)
        return "number out of range";
    *out = n * mult;
    return NULL;
}

static const char *
parse_number(const option_t *o, const char *value, int64_t *out)
{
    return parse_with_unit(value,
                           o->type == OPT_SIZE   ? size_units
                           : o->type == OPT_MSEC ? duration_units
                                                 : NULL,
                           out);
}

const char *
claw_size_parse(const char *text, uint64_t *bytes)
{
    int64_t n;
    if (!text || !bytes)
        return "no size given";
    const char *why = parse_with_unit(text, size_units, &n);
    if (!why && n < 0)
        why = "expected a size of 0 or more";
    if (!why)
        *bytes = (uint64_t)n;
    return why;
}

static bool
enum_allows(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

static const char *
parse_score(const char *value, double *out)
{
    char *end;
    if (!*value)
        return "expected a number";
    /* The file's decimal point is '.', whatever the process's locale. */
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale)
        return "out of memory";
    errno = 0;
    double d = strtod_l(value, &end, c_locale);
    int saved = errno;
    freelocale(c_locale);
    if (saved || *end || d != d)
        return "expected a number such as 2.5";
    *out = d;
    return NULL;
}

static char *set_weight(claw_config_t *c, const char *name, const char *value);
static char *set_feed(claw_config_t *c, const char *name, const char *value);
static char *set_retention(claw_config_t *c, const char *name, const char *value);

static void
free_words(char **words)
{
    for (char **w = words; w && *w; w++)
        free(*w);
    free(words);
}

static void
clear_value(claw_option_value_t *v)
{
    free(v->text);
    free_words(v->words);
    free(v->cidrs);
    memset(v, 0, sizeof *v);
}

/* Split @value at commas and white space into a NULL-terminated array. */
static char **
split_words(const char *value, size_t *count)
{
    static const char seps[] = ", \t";
    size_t n = 0, cap = 1;
    for (const char *p = value; *p; p++)
        cap += strchr(seps, *p) != NULL;
    char **words = calloc(cap + 1, sizeof *words);
    if (!words)
        return NULL;
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, seps);
        if (len && !(words[n++] = strndup(p, len))) {
            free_words(words);
            return NULL;
        }
        p += len;
        p += strspn(p, seps);
    }
    *count = n;
    return words;
}

/* The words of list option @o and, for networks, each parsed, into @v.
 * Returns NULL or a malloc'd reason. */
static char *
parse_list(const option_t *o, const char *value, claw_option_value_t *v)
{
    for (const char *q = value; *q; q++)
        if ((unsigned char)*q < ' ' && *q != '\t')
            return _claw_strdup_printf("%s: control character in list", o->name);
    if (!(v->words = split_words(value, &v->n_words)))
        return _claw_strdup_printf("out of memory");
    if (o->type == OPT_CIDRS && !(v->cidrs = calloc(v->n_words + 1, sizeof *v->cidrs)))
        return _claw_strdup_printf("out of memory");
    for (size_t w = 0; w < v->n_words; w++) {
        struct sockaddr_storage sa;
        size_t len;
        if (o->type == OPT_CIDRS && claw_cidr_parse(v->words[w], &v->cidrs[w]))
            return _claw_strdup_printf("%s: '%s' is not an address or network (CIDR)", o->name,
                                v->words[w]);
        if (o->type == OPT_ADDRS && claw_endpoint_parse(v->words[w], &sa, &len))
            return _claw_strdup_printf("%s: '%s' is not ADDRESS:PORT (e.g. 127.0.0.1:2424 or "
                                "[::1]:2424)",
                                o->name, v->words[w]);
    }
    return NULL;
}

/* Store @value into option @i of @c. Returns NULL or a malloc'd reason. */
static char *
set_option(claw_config_t *c, size_t i, const char *value)
{
    const option_t *o = &options[i];
    char *slot = (char *)c + o->offset;
    claw_option_value_t parsed = {0};

    switch (o->type) {
    case OPT_LIST:
    case OPT_CIDRS:
    case OPT_ADDRS: {
        char *why = parse_list(o, value, &parsed);
        if (why) {
            clear_value(&parsed);
            return why;
        }
    }
        /* A list is also kept as its text, for the engine's own sets. */
        /* fall through */
    case OPT_ENUM:
        if (o->type == OPT_ENUM && !enum_allows(o->choices, value))
            return _claw_strdup_printf("%s: '%s' is not one of %s", o->name, value, o->choices);
        /* fall through */
    case OPT_STRING: {
        char *copy = strdup(value);
        if (!copy) {
            clear_value(&parsed);
            return _claw_strdup_printf("out of memory");
        }
        free(*(char **)slot);
        *(char **)slot = copy;
        break;
    }
    case OPT_SCORE: {
        double d;
        const char *why = parse_score(value, &d);
        if (why)
            return _claw_strdup_printf("%s: %s, got '%s'", o->name, why, value);
        if (d < (double)o->min || d > (double)o->max)
            return _claw_strdup_printf("%s: %g is outside %" PRId64 "..%" PRId64, o->name, d, o->min,
                                o->max);
        *(double *)slot = d;
        break;
    }
    case OPT_INT:
    case OPT_SIZE:
    case OPT_MSEC: {
        int64_t n;
        const char *why = parse_number(o, value, &n);
        if (why)
            return _claw_strdup_printf("%s: %s, got '%s'", o->name, why, value);
        if (n < o->min || n > o->max)
            return _claw_strdup_printf("%s: %" PRId64 " is outside %" PRId64 "..%" PRId64, o->name, n,
                                o->min, o->max);
        *(int64_t *)slot = n;
        break;
    }
    }
    if (!(parsed.text = strdup(value))) {
        clear_value(&parsed);
        return _claw_strdup_printf("out of memory");
    }
    clear_value(&c->value[i]);
    c->value[i] = parsed;
    return NULL;
}

claw_status_t
claw_config_new(claw_config_t **config)
{
    if (!config)
        return CLAW_STATUS_INVALID_ARGUMENT;
    claw_config_t *c = calloc(1, sizeof *c);
    if (!c)
        return CLAW_STATUS_OUT_OF_MEMORY;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char *why = set_option(c, i, options[i].def);
        if (why) {
            /* A default that does not parse is a bug in the table above
             * (tests/unit/unit.c makes a configuration of defaults). */
            free(why);
            claw_config_destroy(c);
            return CLAW_STATUS_INTERNAL_ERROR;
        }
    }
    *config = c;
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
_claw_config_copy(const claw_config_t *src, claw_config_t **dst)
{
    claw_status_t st = claw_config_new(dst);
    if (st || !src)
        return st;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char *why = set_option(*dst, i, src->value[i].text);
        (*dst)->value[i].line = src->value[i].line;
        if (why) {
            free(why);
            claw_config_destroy(*dst);
            *dst = NULL;
            return CLAW_STATUS_OUT_OF_MEMORY;
        }
    }
    if (src->path && !((*dst)->path = strdup(src->path))) {
        claw_config_destroy(*dst);
        *dst = NULL;
        return CLAW_STATUS_OUT_OF_MEMORY;
    }
    for (size_t r = 0; r < CLAW_N_RULES_MAX; r++) {
        if (!src->weight_text[r])
            continue;
        char *why = set_weight(*dst, _claw_rule_name(r), src->weight_text[r]);
        if (why) {
            free(why);
            claw_config_destroy(*dst);
            *dst = NULL;
            return CLAW_STATUS_OUT_OF_MEMORY;
        }
    }
    for (size_t f = 0; f < src->n_retention; f++) {
        const char *name = src->retention_text[f];
        char *why = set_retention(*dst, name, name + strlen(name) + 1);
        if (why) {
            free(why);
            claw_config_destroy(*dst);
            *dst = NULL;
            return CLAW_STATUS_OUT_OF_MEMORY;
        }
    }
    for (size_t f = 0; f < src->n_feeds; f++) {
        const char *name = src->feed_text[f];
        char *why = set_feed(*dst, name, name + strlen(name) + 1);
        if (why) {
            free(why);
            claw_config_destroy(*dst);
            *dst = NULL;
            return CLAW_STATUS_OUT_OF_MEMORY;
        }
    }
    return CLAW_STATUS_SUCCESS;
}

void
claw_config_destroy(claw_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (holds_text(&options[i]))
            free(*(char **)((char *)c + options[i].offset));
        clear_value(&c->value[i]);
    }
    for (size_t i = 0; i < CLAW_N_RULES_MAX; i++)
        free(c->weight_text[i]);
    for (size_t i = 0; i < c->n_feeds; i++) {
        free(c->feed_text[i]);
        free(c->feed_words[i]);
    }
    for (size_t i = 0; i < c->n_retention; i++)
        free(c->retention_text[i]);
    free(c->path);
    free(c);
}

/* [weights] RULE = score: the names come from the rule table. */
static char *
set_weight(claw_config_t *c, const char *name, const char *value)
{
    int r = _claw_rule_index(name);
    double d;
    const char *why;
    if (r < 0)
        return _claw_strdup_printf("unknown rule '%s' in section [weights]", name);
    if ((why = parse_score(value, &d)))
        return _claw_strdup_printf("%s: %s, got '%s'", name, why, value);
    if (d < -1000 || d > 1000)
        return _claw_strdup_printf("%s: %g is outside -1000..1000", name, d);
    char *text = strdup(value);
    if (!text)
        return _claw_strdup_printf("out of memory");
    free(c->weight_text[r]);
    c->weight_text[r] = text;
    c->weight[r] = d;
    return NULL;
}

/* [feeds] NAME = KIND URL [action=A] [every=DURATION] [ca=FILE]
 * [auth_file=FILE] [columns=MAP]: clawd's feeds, checked here so that
 * --check-config finds what clawd would refuse. */
static char *
set_feed(claw_config_t *c, const char *name, const char *value)
{
    static const char *const kinds[] = {"misp-feed", "taxii", "stix", "misp", "csv", "plain"};
    size_t i = 0;
    while (i < c->n_feeds && strcmp(c->feed[i].name, name))
        i++;
    if (i == CLAW_N_FEEDS_MAX)
        return _claw_strdup_printf("more than %d feeds", CLAW_N_FEEDS_MAX);
    if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                      strlen(name))
        return _claw_strdup_printf("feed name '%s': letters, digits, '-', '_' and '.' only", name);
    size_t nl = strlen(name), vl = strlen(value);
    char *text = malloc(nl + vl + 2), *words = strdup(value);
    if (!text || !words) {
        free(text);
        free(words);
        return _claw_strdup_printf("out of memory");
    }
    memcpy(text, name, nl + 1);
    memcpy(text + nl + 1, value, vl + 1);
    claw_feed_config_t f = {.name = text, .action = "block", .every_ms = 3600000};
    char *why = NULL, *save = NULL;
    int n = 0;
    for (char *w = strtok_r(words, " \t", &save); w && !why; w = strtok_r(NULL, " \t", &save), n++) {
        char *eq = strchr(w, '=');
        if (n == 0) {
            for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && !f.kind; k++)
                if (!strcmp(w, kinds[k]))
                    f.kind = kinds[k];
            if (!f.kind)
                why = _claw_strdup_printf("%s: '%s': expected a kind: misp-feed, taxii, stix, "
                                          "misp, csv or plain", name, w);
        } else if (n == 1) {
            if (strncmp(w, "https://", 8) && strncmp(w, "http://", 7))
                why = _claw_strdup_printf("%s: '%s': expected an https:// or http:// URL", name, w);
            f.url = w;
        } else if (!eq) {
            why = _claw_strdup_printf("%s: '%s': expected key=value", name, w);
        } else {
            *eq = '\0';
            const char *v = eq + 1;
            if (!strcmp(w, "action")) {
                f.action = NULL;
                for (const char *const *a = claw_ioc_actions(); *a; a++)
                    if (!strcmp(v, *a))
                        f.action = *a;
                if (!f.action)
                    why = _claw_strdup_printf("%s: action=%s: expected block, quarantine, tag "
                                              "or hunt", name, v);
            } else if (!strcmp(w, "every")) {
                const char *bad = parse_with_unit(v, duration_units, &f.every_ms);
                if (!bad && f.every_ms < 60000)
                    bad = "at least 1m: a feed is not to be hammered";
                if (!bad && f.every_ms > 30LL * 86400000)
                    bad = "at most 30d";
                if (bad)
                    why = _claw_strdup_printf("%s: every=%s: %s", name, v, bad);
            } else if (!strcmp(w, "ca")) {
                f.ca_file = v;
            } else if (!strcmp(w, "auth_file")) {
                f.auth_file = v;
            } else if (!strcmp(w, "columns")) {
                f.columns = v;
            } else if (!strcmp(w, "header")) {
                if (strcmp(v, "yes") && strcmp(v, "no"))
                    why = _claw_strdup_printf("%s: header=%s: expected yes or no", name, v);
                f.header = !strcmp(v, "yes");
            } else {
                why = _claw_strdup_printf("%s: unknown key '%s' (action, every, ca, auth_file, "
                                          "columns, header)", name, w);
            }
        }
    }
    if (!why && n < 2)
        why = _claw_strdup_printf("%s: expected KIND URL [key=value]...", name);
    if (!why && !strcmp(f.kind, "csv") && !f.columns)
        why = _claw_strdup_printf("%s: a csv feed needs columns=value=N,...", name);
    if (why) {
        free(text);
        free(words);
        return why;
    }
    if (i < c->n_feeds) {
        free(c->feed_text[i]);
        free(c->feed_words[i]);
    } else {
        c->n_feeds++;
    }
    c->feed[i] = f;
    c->feed_text[i] = text;
    c->feed_words[i] = words;
    return NULL;
}

/* [retention] NAME = DURATION [QUERY...]: the query is checked by the
 * index when asked (the configuration does not parse queries). */
static char *
set_retention(claw_config_t *c, const char *name, const char *value)
{
    size_t i = 0;
    while (i < c->n_retention && strcmp(c->retention[i].name, name))
        i++;
    if (i == CLAW_N_RETENTION_MAX)
        return _claw_strdup_printf("more than %d retention rules", CLAW_N_RETENTION_MAX);
    if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                      strlen(name))
        return _claw_strdup_printf("retention rule '%s': letters, digits, '-', '_' and '.' only",
                                   name);
    while (*value == ' ' || *value == '\t')
        value++;
    char *end;
    errno = 0;
    long long n = strtoll(value, &end, 10);
    int64_t per = *end == 'd' ? 1 : *end == 'w' ? 7 : *end == 'm' ? 30 : *end == 'y' ? 365 : 0;
    if (errno || end == value || n <= 0 || n > 1000 || !per ||
        (end[1] && end[1] != ' ' && end[1] != '\t'))
        return _claw_strdup_printf("%s: '%s': expected DURATION [QUERY]: a duration such as 90d, "
                                   "12w, 18m or 7y (1 to 1000 of them), then the query", name,
                                   value);
    const char *query = end + 1;
    while (*query == ' ' || *query == '\t')
        query++;
    size_t nl = strlen(name), vl = strlen(value);
    char *text = malloc(nl + vl + 2);
    if (!text)
        return _claw_strdup_printf("out of memory");
    memcpy(text, name, nl + 1);
    memcpy(text + nl + 1, value, vl + 1);
    if (i < c->n_retention)
        free(c->retention_text[i]);
    else
        c->n_retention++;
    c->retention_text[i] = text;
    c->retention[i] = (claw_retention_config_t){
        .name = text, .days = (int64_t)n * per, .query = text + nl + 1 + (query - value)};
    return NULL;
}

const claw_retention_config_t *
claw_config_retention(const claw_config_t *c, size_t i)
{
    return c && i < c->n_retention ? &c->retention[i] : NULL;
}

const claw_feed_config_t *
claw_config_feed(const claw_config_t *c, size_t i)
{
    return c && i < c->n_feeds ? &c->feed[i] : NULL;
}

claw_status_t
claw_config_set(claw_config_t *c, const char *section, const char *name, const char *value,
                char **error)
{
    size_t i;
    char *why;
    if (!c || !section || !name || !value)
        return CLAW_STATUS_INVALID_ARGUMENT;
    if (!strcmp(section, "weights"))
        why = set_weight(c, name, value);
    else if (!strcmp(section, "feeds"))
        why = set_feed(c, name, value);
    else if (!strcmp(section, "retention"))
        why = set_retention(c, name, value);
    else if (!find_option(section, name, &i))
        why = section_exists(section)
                  ? _claw_strdup_printf("unknown option '%s' in section [%s]", name, section)
                  : _claw_strdup_printf("unknown section [%s]", section);
    else
        why = set_option(c, i, value);
    if (!why)
        return CLAW_STATUS_SUCCESS;
    if (error)
        *error = why;
    else
        free(why);
    return CLAW_STATUS_CONFIG_ERROR;
}

char *
claw_ioc_published_path(const claw_config_t *c, const char *archive_dir)
{
    if (!c)
        return NULL;
    if (c->ioc_published && *c->ioc_published)
        return strdup(c->ioc_published);
    const char *dir = archive_dir ? archive_dir : c->archive_path ? c->archive_path : "";
    size_t n = strlen(dir);
    char *out = malloc(n + sizeof "/ioc/active");
    if (out)
        sprintf(out, "%.*s/ioc/active", (int)(n && dir[n - 1] == '/' ? n - 1 : n), dir);
    return out;
}

const char *
claw_config_get(const claw_config_t *c, const char *section, const char *name)
{
    size_t i;
    if (c && section && name && !strcmp(section, "weights")) {
        int r = _claw_rule_index(name);
        return r >= 0 ? c->weight_text[r] : NULL;
    }
    if (c && section && name && !strcmp(section, "retention")) {
        for (size_t f = 0; f < c->n_retention; f++)
            if (!strcmp(c->retention[f].name, name))
                return c->retention_text[f] + strlen(name) + 1;
        return NULL;
    }
    if (c && section && name && !strcmp(section, "feeds")) {
        for (size_t f = 0; f < c->n_feeds; f++)
            if (!strcmp(c->feed[f].name, name))
                return c->feed_text[f] + strlen(name) + 1;
        return NULL;
    }
    if (!c || !section || !name || !find_option(section, name, &i))
        return NULL;
    return c->value[i].text;
}

/* The option [@section] @name if it is of @type (or, for OPT_LIST, any
 * list), with its index in *@index. */
static const option_t *
typed_option(const claw_config_t *c, const char *section, const char *name, opt_type_t type,
             size_t *index)
{
    const option_t *o;
    if (!c || !section || !name || !(o = find_option(section, name, index)))
        return NULL;
    if (o->type == type || (type == OPT_LIST && is_list(o)))
        return o;
    return NULL;
}

static claw_status_t
get_number(const claw_config_t *c, const char *section, const char *name, opt_type_t type,
           int64_t *value)
{
    size_t i;
    const option_t *o = typed_option(c, section, name, type, &i);
    if (!o || !value)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *value = *(const int64_t *)((const char *)c + o->offset);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_config_get_int(const claw_config_t *c, const char *section, const char *name,
                    int64_t *value)
{
    return get_number(c, section, name, OPT_INT, value);
}

claw_status_t
claw_config_get_size(const claw_config_t *c, const char *section, const char *name,
                     uint64_t *bytes)
{
    int64_t n;
    claw_status_t st = get_number(c, section, name, OPT_SIZE, &n);
    if (!st && bytes)
        *bytes = (uint64_t)n; /* the table's bounds keep sizes positive */
    return bytes ? st : CLAW_STATUS_INVALID_ARGUMENT;
}

claw_status_t
claw_config_get_duration_ms(const claw_config_t *c, const char *section, const char *name,
                            int64_t *ms)
{
    return get_number(c, section, name, OPT_MSEC, ms);
}

claw_status_t
claw_config_get_bool(const claw_config_t *c, const char *section, const char *name, int *value)
{
    size_t i;
    const option_t *o = typed_option(c, section, name, OPT_ENUM, &i);
    if (!o || !value || strcmp(o->choices, "yes|no") != 0)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *value = strcmp(c->value[i].text, "yes") == 0;
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_config_get_score(const claw_config_t *c, const char *section, const char *name,
                      double *value)
{
    size_t i;
    const option_t *o = typed_option(c, section, name, OPT_SCORE, &i);
    if (!o || !value)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *value = *(const double *)((const char *)c + o->offset);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_config_get_list(const claw_config_t *c, const char *section, const char *name,
                     const char *const **words, size_t *count)
{
    size_t i;
    if (!typed_option(c, section, name, OPT_LIST, &i) || !words || !count)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *words = (const char *const *)c->value[i].words;
    *count = c->value[i].n_words;
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_config_get_cidrs(const claw_config_t *c, const char *section, const char *name,
                      const claw_cidr_t **cidrs, size_t *count)
{
    size_t i;
    if (!typed_option(c, section, name, OPT_CIDRS, &i) || !cidrs || !count)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *cidrs = c->value[i].cidrs;
    *count = c->value[i].n_words;
    return CLAW_STATUS_SUCCESS;
}

char *
_claw_config_error(const claw_config_t *c, const char *section, const char *name,
                   const char *fmt, ...)
{
    size_t i;
    char *what = NULL, *located;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&what, fmt, ap) < 0)
        what = NULL;
    va_end(ap);
    if (!what)
        return NULL;
    if (c && c->path && find_option(section, name, &i) && c->value[i].line)
        located = _claw_strdup_printf("%s:%u: [%s] %s: %s", c->path, c->value[i].line, section, name,
                               what);
    else
        located = _claw_strdup_printf("[%s] %s: %s", section, name, what);
    free(what);
    return located;
}

static char *
trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

const char *const *
claw_ioc_actions(void)
{
    static const char *const actions[] = {"block", "quarantine", "tag", "hunt", NULL};
    return actions;
}

char *
claw_ioc_file_line(char *line, const char **action)
{
    for (char *h = strchr(line, '#'); h; h = strchr(h + 1, '#'))
        if (h == line || h[-1] == ' ' || h[-1] == '\t') {
            *h = '\0';
            break;
        }
    char *s = trim(line);
    *action = NULL;
    /* No type of indicator holds a space before its ':', so a first word
     * that is an action can only be one. */
    size_t n = strcspn(s, " \t");
    for (const char *const *a = claw_ioc_actions(); s[n] && *a; a++)
        if (strlen(*a) == n && !strncmp(s, *a, n)) {
            *action = *a;
            return trim(s + n);
        }
    return s;
}

ssize_t
_claw_read_line(FILE *f, char **line, size_t *cap, size_t max)
{
    size_t n = 0;
    int ch;
    while ((ch = getc(f)) != EOF) {
        if (n + 2 > *cap) {
            size_t want = *cap ? *cap * 2 : 256;
            char *p = realloc(*line, want);
            if (!p)
                return -1;
            *line = p;
            *cap = want;
        }
        (*line)[n++] = (char)ch;
        if (ch == '\n')
            break;
        if (n > max)
            return -2;
    }
    if (n == 0)
        return -1;
    (*line)[n] = '\0';
    return (ssize_t)n;
}

/* Load @path over the defaults; with @only, the lines of other sections
 * are skipped unread. */
static claw_status_t
load(const char *path, const char *only, bool lenient, claw_config_t **config, char **error)
{
    claw_config_t *c = NULL;
    char *first_error = NULL; /* lenient: the first bad line, located */
    claw_status_t st;
    char *why = NULL;
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    char section[64] = "";
    bool seen[N_OPTIONS] = {false};

    if (error)
        *error = NULL;
    if (!path || !config)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *config = NULL;

    FILE *f = fopen(path, "r");
    if (!f && errno == ENOENT && !strcmp(path, CLAW_DEFAULT_CONFIG))
        return claw_config_new(config); /* no file written yet: the defaults */
    if (!f) {
        if (error)
            *error = _claw_strdup_printf("%s: %s", path, strerror(errno));
        return CLAW_STATUS_IO_ERROR;
    }
    st = claw_config_new(&c);
    if (st)
        goto fail;
    if (!(c->path = strdup(path))) {
        st = CLAW_STATUS_OUT_OF_MEMORY;
        goto fail;
    }

    ssize_t got;
    while ((got = _claw_read_line(f, &line, &cap, CLAW_CONFIG_LINE_MAX)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)got)) {
            why = _claw_strdup_printf("NUL byte in line");
            goto line_error;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (only && *s == '[') {
            char *close = strchr(s, ']');
            if (close)
                *close = '\0';
            snprintf(section, sizeof section, "%s", close ? trim(s + 1) : "");
            continue;
        }
        if (only && strcmp(section, only) != 0)
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || *trim(close + 1) != '\0') {
                why = _claw_strdup_printf("expected '[section]'");
                goto line_error;
            }
            *close = '\0';
            char *name = trim(s + 1);
            if (!section_exists(name)) {
                why = _claw_strdup_printf("unknown section [%s]", name);
                goto line_error;
            }
            snprintf(section, sizeof section, "%s", name);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            why = _claw_strdup_printf("expected 'name = value'");
            goto line_error;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        size_t len = strlen(value);
        if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
            value[len - 1] = '\0';
            value++;
        }
        if (!*section) {
            why = _claw_strdup_printf("option '%s' before any [section]", name);
            goto line_error;
        }
        size_t i;
        if (!strcmp(section, "feeds")) {
            if (claw_config_get(c, "feeds", name)) {
                why = _claw_strdup_printf("feed '%s' in section [feeds] set twice", name);
                goto line_error;
            }
            if ((why = set_feed(c, name, value)))
                goto line_error;
            continue;
        }
        if (!strcmp(section, "retention")) {
            if (claw_config_get(c, "retention", name)) {
                why = _claw_strdup_printf("rule '%s' in section [retention] set twice", name);
                goto line_error;
            }
            if ((why = set_retention(c, name, value)))
                goto line_error;
            continue;
        }
        if (!strcmp(section, "weights")) {
            int r = _claw_rule_index(name);
            if (r >= 0 && c->weight_text[r]) {
                why = _claw_strdup_printf("rule '%s' in section [weights] set twice", name);
                goto line_error;
            }
            if ((why = set_weight(c, name, value)))
                goto line_error;
            continue;
        }
        if (!find_option(section, name, &i)) {
            why = _claw_strdup_printf("unknown option '%s' in section [%s]", name, section);
            goto line_error;
        }
        if (seen[i]) {
            why = _claw_strdup_printf("option '%s' in section [%s] set twice", name, section);
            goto line_error;
        }
        seen[i] = true;
        why = set_option(c, i, value);
        if (why)
            goto line_error;
        c->value[i].line = lineno;
            continue;
    line_error:
        /* Lenient: the line is left out, the first error kept, and every
         * other line still applied. */
        if (!lenient)
            goto bad;
        if (!first_error)
            first_error = _claw_strdup_printf("%s:%u: %s", path, lineno, why ? why : "out of memory");
        free(why);
        why = NULL;
    }
    if (got == -2) {
        /* Not a configuration file (/dev/zero, a binary): stop reading. */
        why = _claw_strdup_printf("%s:%u: a line longer than %u bytes: not a configuration file",
                                  path, lineno + 1, CLAW_CONFIG_LINE_MAX);
        st = CLAW_STATUS_CONFIG_ERROR;
        goto fail;
    }
    if (ferror(f)) {
        why = _claw_strdup_printf("%s: read error: %s", path, strerror(errno));
        st = CLAW_STATUS_IO_ERROR;
        goto fail;
    }
    free(line);
    fclose(f);
    *config = c;
    if (first_error) {
        if (error)
            *error = first_error;
        else
            free(first_error);
        return CLAW_STATUS_CONFIG_ERROR;
    }
    return CLAW_STATUS_SUCCESS;

bad:
    st = CLAW_STATUS_CONFIG_ERROR;
    {
        char *located = _claw_strdup_printf("%s:%u: %s", path, lineno, why ? why : "out of memory");
        free(why);
        why = located;
    }
fail:
    free(first_error);
    if (error)
        *error = why;
    else
        free(why);
    free(line);
    fclose(f);
    claw_config_destroy(c);
    return st;
}

claw_status_t
claw_config_load(const char *path, claw_config_t **config, char **error)
{
    return load(path, NULL, false, config, error);
}

claw_status_t
_claw_config_load_section(const char *path, const char *section, claw_config_t **config,
                          char **error)
{
    if (!section)
        return CLAW_STATUS_INVALID_ARGUMENT;
    return load(path, section, true, config, error);
}

static void
write_wrapped_comment(FILE *out, const char *text)
{
    fprintf(out, "# %s\n", text);
}

void
claw_config_write(const claw_config_t *c, FILE *out)
{
    const char *section = "";
    fputs("# Clawback configuration (clawback.conf(5)).\n"
          "#\n"
          "# Every option is shown with its default. Sizes take k, m or g (powers of\n"
          "# 1024; any case: 64M); durations take ms, s, m or h (no unit: ms).\n"
          "# Check a file with: claw --check-config FILE\n",
          out);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option_t *o = &options[i];
        if (strcmp(section, o->section) != 0) {
            section = o->section;
            fprintf(out, "\n[%s]\n", section);
        }
        fputc('\n', out);
        write_wrapped_comment(out, o->doc);
        switch (o->type) {
        case OPT_ENUM:
            fprintf(out, "# One of: %s.\n", o->choices);
            break;
        case OPT_INT:
        case OPT_SIZE:
        case OPT_MSEC:
            fprintf(out, "# From %" PRId64 " to %" PRId64 "%s.\n", o->min, o->max,
                    o->type == OPT_SIZE ? " bytes" : o->type == OPT_MSEC ? " ms" : "");
            break;
        case OPT_LIST:
            fprintf(out, "# A list: words separated by commas or spaces.\n");
            break;
        case OPT_CIDRS:
            fprintf(out, "# A list of addresses or networks (CIDR), separated by commas or "
                         "spaces.\n");
            break;
        case OPT_ADDRS:
            fprintf(out, "# A list of ADDRESS:PORT, separated by commas or spaces.\n");
            break;
        case OPT_SCORE:
            fprintf(out, "# A number from %" PRId64 " to %" PRId64 ".\n", o->min, o->max);
            break;
        case OPT_STRING:
            break;
        }
        const char *value = c ? c->value[i].text : o->def;
        fprintf(out, "%s%s =%s%s\n", c && strcmp(value, o->def) != 0 ? "" : "#", o->name,
                *value ? " " : "", value);
    }
    fputs("\n[feeds]\n\n"
          "# Feeds clawd pulls on a schedule into the archive's indicators:\n"
          "# NAME = KIND URL [action=block|quarantine|tag|hunt] [every=1h] [ca=FILE]\n"
          "#        [auth_file=FILE] [columns=value=N,...] [header=yes]\n"
          "# KIND: misp-feed, taxii (a TAXII 2.1 collection's URL), stix, misp, csv, plain.\n"
          "# For example:\n"
          "#  circl = misp-feed https://www.circl.lu/doc/misp/feed-osint/ action=hunt every=6h\n"
          "#  partner = taxii https://taxii.partner.example/api1/collections/91a7b528/ "
          "auth_file=/etc/clawback/partner.auth\n",
          out);
    for (size_t f = 0; c && f < c->n_feeds; f++)
        fprintf(out, "%s = %s\n", c->feed[f].name, c->feed_text[f] + strlen(c->feed[f].name) + 1);
    fputs("\n[retention]\n\n"
          "# How long the archive keeps mail, then clawd's daily plan deletes it (legal holds\n"
          "# keep what they hold): NAME = DURATION [QUERY], DURATION as 90d, 12w, 18m or 7y\n"
          "# after arrival, QUERY in claw search's language. A rule without a query is the\n"
          "# default, for mail no rule with a query finds; a message several rules find is\n"
          "# kept as long as the longest says. For example:\n"
          "#  everything = 7y\n"
          "#  newsletters = 90d from:news@lists.example.org\n",
          out);
    for (size_t f = 0; c && f < c->n_retention; f++)
        fprintf(out, "%s = %s\n", c->retention[f].name,
                c->retention_text[f] + strlen(c->retention[f].name) + 1);
    fputs("\n[weights]\n\n"
          "# The score each rule adds when it fires; set a rule to 0 to silence it.\n",
          out);
    for (size_t r = 0; r < _claw_rule_count(); r++) {
        fprintf(out, "\n# %s\n", _claw_rule_doc(r));
        if (c && c->weight_text[r])
            fprintf(out, "%s = %s\n", _claw_rule_name(r), c->weight_text[r]);
        else
            fprintf(out, "#%s = %g\n", _claw_rule_name(r), _claw_rule_default_score(r));
    }
}
