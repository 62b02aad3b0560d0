/* classify.c - policy, indicators and the detectors behind a verdict.
 *
 * Each detector looks at the message model and emits at most one hit of
 * its rule, with the detail of the first thing it saw (and how many more).
 * A rule's score comes from [weights] or its default; the sum against the
 * [actions] thresholds gives the action. Nothing here parses mail: the
 * model already holds every fact.
 */
#include "build-config.h"

#include "claw-private.h"
#include "judge/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <unicode/uspoof.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------
 * Rules
 * --------------------------------------------------------------------- */

/* The rule names and default scores are in rules.c (rules.h); the action
 * names in base/status.c with the other enums' names. */

/* ------------------------------------------------------------------------
 * Policy
 * --------------------------------------------------------------------- */

static const char *const builtin_freemail[] = {
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "ymail.com", "aol.com", "icloud.com", "me.com", "mac.com", "gmx.com",
    "gmx.de", "gmx.net", "web.de", "mail.com", "proton.me", "protonmail.com", "zoho.com",
    "yandex.com", "yandex.ru", "mail.ru", "qq.com", "163.com", "126.com", "hotmail.co.uk",
    "yahoo.co.uk", "orange.fr", "free.fr", "laposte.net", "libero.it", "t-online.de",
    "tutanota.com", "fastmail.com", "hushmail.com", "rediffmail.com", "inbox.com",
};

static const char *const builtin_shorteners[] = {
    "bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
    "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "t.ly", "bl.ink", "s.id", "v.gd",
    "lnkd.in", "adf.ly", "shorte.st", "x.co", "qrco.de", "urlz.fr",
};

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
    const char *own; /* built-in brands: " dhl dpdhl " - organisation labels that are the brand */
    bool brand;
    bool exact;      /* the whole display name, not a part of it */
} name_t;

/* Words a sender adds to a brand to look like its service desk. */
static const char *const service_words[] = {
    "support", "team", "service", "services", "customer", "customers", "care", "security",
    "secure", "account", "accounts", "alert", "alerts", "notice", "notification",
    "notifications", "update", "updates", "official", "billing", "payment", "payments",
    "recovery", "help", "helpdesk", "desk", "center", "centre", "info", "information", "no",
    "reply", "noreply", "news", "mail", "online", "incident", "response", "verification",
    "department", "admin", "administrator", "the", "de", "us", "uk", "tm", "live", "wallet",
    "kundenservice", "kundendienst", "sicherheit", "konto", "equipe", "compte", "soporte",
    "cuenta", "suporte", "atendimento", "conta", "servicio", "servico", "seguranca",
};

/* The brands most often impersonated in phishing (as the APWG and vendors'
 * brand reports list them), with the organisation labels (the registrable
 * domain before its public suffix, so paypal.co.uk counts as paypal) that
 * are the brand itself. A name starting with '=' must be the whole display
 * name: "Apple" alone is the brand, "Apple Valley Farms" is not. Common
 * first names and words (Chase, Zoom, Steam) only count in brand phrases.
 * Free-mail domains are never the brand itself, whoever owns them. */
static const struct {
    const char *names;
    const char *own;
} builtin_brands[] = {
    {"Microsoft|Office 365|Microsoft 365|OneDrive|SharePoint|Outlook Web Access|=Outlook|"
     "Microsoft Teams|Azure",
     "microsoft office office365 microsoftonline onedrive sharepoint sharepointonline skype "
     "xbox bing azure windows windowsazure microsoftstore msft linkedin"},
    {"Google|Gmail|Google Drive|Google Docs|YouTube",
     "google youtube googlemail gstatic blogger android"},
    {"=Apple|Apple ID|Apple Store|Apple Pay|iCloud|iTunes|App Store", "apple itunes"},
    {"Amazon|Amazon.com|Amazon Prime|Prime Video|Amazon Web Services|AWS|Amazon Pay",
     "amazon amazonaws aws primevideo amazonses"},
    {"PayPal", "paypal paypal-communication"},
    {"Netflix", "netflix"},
    {"DHL|DHL Express", "dhl dpdhl deutschepost dhl-news"},
    {"FedEx", "fedex"},
    {"=UPS|UPS My Choice|UPS Quantum View|United Parcel Service", "ups"},
    {"USPS|U.S. Postal Service|US Postal Service|Informed Delivery", "usps informeddelivery"},
    {"LinkedIn", "linkedin licdn microsoft"},
    {"Facebook|Instagram|WhatsApp|Meta for Business|Meta Business Suite",
     "facebook facebookmail instagram whatsapp meta metamail"},
    {"Adobe|Adobe Sign|Adobe Acrobat", "adobe adobesign echosign"},
    {"DocuSign", "docusign"},
    {"Dropbox", "dropbox dropboxmail"},
    {"WeTransfer", "wetransfer"},
    {"Wells Fargo", "wellsfargo wf"},
    {"Chase Bank|JPMorgan Chase|Chase Online|Chase Alert|Chase Card Services|J.P. Morgan",
     "chase jpmorgan jpmorganchase jpmchase"},
    {"Bank of America|BofA", "bankofamerica bofa ml merrill"},
    {"Citibank|Citi Cards|Citigroup", "citi citibank citigroup citicards"},
    {"HSBC", "hsbc"},
    {"Barclays", "barclays barclaycard"},
    {"Royal Bank of Canada|RBC Royal Bank", "rbc rbcroyalbank"},
    {"American Express|AmEx", "americanexpress amex aexp"},
    {"Coinbase", "coinbase"},
    {"Binance", "binance"},
    {"MetaMask", "metamask consensys"},
    {"Trust Wallet", "trustwallet"},
    {"=Ledger|Ledger Live", "ledger"},
    {"Crypto.com", "crypto"},
    {"=Norton|NortonLifeLock|Norton 360|Norton Security|Norton Antivirus", "norton nortonlifelock"},
    {"McAfee", "mcafee"},
    {"Walmart", "walmart"},
    {"Costco", "costco"},
    {"eBay", "ebay"},
    {"Steam Support|Steam Community|Steam Guard", "steampowered steamcommunity valvesoftware"},
    {"Internal Revenue Service|IRS", "irs"},
    {"HMRC|HM Revenue", "hmrc"},
    {"Yahoo", "yahoo yahooinc yahoogroups"},
    {"AT&T", "att"},
    {"Verizon", "verizon verizonwireless"},
    {"Xfinity|Comcast", "xfinity comcast"},
    {"Zoom Video|Zoom Meetings|Zoom Communications", "zoom zoomus"},
    {"Spotify", "spotify"},
    {"Booking.com", "booking"},
    {"Airbnb", "airbnb"},
    {"QuickBooks|Intuit", "intuit quickbooks"},
    {"Geek Squad", "geeksquad bestbuy"},
    {"WordPress", "wordpress automattic wp"},
    {"Shein", "shein"},
    {"Home Depot", "homedepot"},
    {"Santander", "santander"},
    {"Deutsche Bank", "db deutsche-bank"},
    {"Sparkasse", "sparkasse"},
    {"Deutsche Bahn", "bahn db"},
    {"Royal Mail", "royalmail"},
    {"=DPD|DPD Parcel", "dpd"},
    {"PostNL", "postnl"},
    {"La Poste|Colissimo", "laposte colissimo"},
    {"Correios", "correios"},
    {"Bradesco", "bradesco"},
    {"Banco do Brasil", "bb"},
    {"=Itau|Itau Unibanco", "itau"},
    {"Caixa Economica", "caixa"},
    {"Mercado Pago|Mercado Livre|Mercado Libre", "mercadopago mercadolivre mercadolibre"},
    {"Nubank", "nubank"},
    {"Livelo", "livelo"},
};

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

static GHashTable *
word_set(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

/* Split a [policy] list into lower-case words and add them to @set. */
static void
add_words(GHashTable *set, const char *list)
{
    char **words = g_strsplit_set(list ? list : "", ", \t", -1);
    for (char **w = words; *w; w++) {
        if (!**w)
            continue;
        char *lower = g_ascii_strdown(*w, -1);
        size_t n = strlen(lower);
        if (n > 1 && lower[n - 1] == '.')
            lower[n - 1] = '\0';
        g_hash_table_add(set, lower);
    }
    g_strfreev(words);
}

void
_claw_policy_free(claw_policy_t *p)
{
    if (!p)
        return;
    for (guint i = 0; p->targets && i < p->targets->len; i++) {
        target_t *t = &g_array_index(p->targets, target_t, i);
        g_free(t->registrable);
        g_free(t->label);
        g_free(t->suffix);
        g_free(t->skeleton);
        g_free(t->visual);
    }
    if (p->targets)
        g_array_free(p->targets, TRUE);
    for (guint i = 0; p->names && i < p->names->len; i++) {
        g_free(g_array_index(p->names, name_t, i).shown);
        g_free(g_array_index(p->names, name_t, i).norm);
    }
    if (p->names)
        g_array_free(p->names, TRUE);
    if (p->spoof)
        uspoof_close(p->spoof);
    g_hash_table_destroy(p->protected_domains);
    g_hash_table_destroy(p->partner_domains);
    g_hash_table_destroy(p->trusted_authserv);
    g_hash_table_destroy(p->freemail);
    g_hash_table_destroy(p->shorteners);
    if (p->service_words)
        g_hash_table_destroy(p->service_words);
    if (p->lookalikes)
        g_hash_table_destroy(p->lookalikes);
    g_array_free(p->internal, TRUE);
    g_free(p);
}

/* Lower-cased UTS #39 skeleton of @label (UTF-8), with the letter pairs
 * that read as one letter and that the skeleton data keeps apart folded
 * too: "vv" (w), "cl" (d), "nn" (m). */
static char *
fold_skeleton(USpoofChecker *sc, const char *label)
{
    char buf[512];
    UErrorCode err = U_ZERO_ERROR;
    int32_t n = uspoof_getSkeletonUTF8(sc, 0, label, -1, buf, sizeof buf, &err);
    char *lower = U_SUCCESS(err) && n < (int32_t)sizeof buf ? g_utf8_strdown(buf, n)
                                                             : g_utf8_strdown(label, -1);
    GString *s = g_string_new(NULL);
    for (const char *p = lower; *p; p++) {
        if ((p[0] == 'v' && p[1] == 'v') || (p[0] == 'n' && p[1] == 'n')) {
            g_string_append_c(s, p[0] == 'v' ? 'w' : 'm');
            p++;
        } else if (p[0] == 'c' && p[1] == 'l') {
            g_string_append_c(s, 'd');
            p++;
        } else {
            g_string_append_c(s, *p);
        }
    }
    g_free(lower);
    return g_string_free(s, FALSE);
}

/* Letters that neither the skeleton data nor decomposition turn into the
 * plain letter they imitate (dnstwist's homoglyph table has them). */
static const struct {
    gunichar from;
    char to;
} glyph_letters[] = {
    {0x0131, 'i'}, {0x0269, 'i'}, {0x0268, 'i'}, {0x026A, 'i'}, {0x026B, 'l'}, {0x0142, 'l'},
    {0x0192, 'f'}, {0x0251, 'a'}, {0x0259, 'a'}, {0x01DD, 'a'}, {0x0299, 'b'}, {0x0253, 'b'}, {0x0185, 'b'},
    {0x0188, 'c'}, {0x1D04, 'c'}, {0x0257, 'd'}, {0x0111, 'd'}, {0x0256, 'd'}, {0x0247, 'e'},
    {0x0262, 'g'}, {0x0261, 'g'}, {0x01E5, 'g'}, {0x0127, 'h'}, {0x0266, 'h'}, {0x2C68, 'h'},
    {0x029D, 'j'}, {0x0249, 'j'}, {0x2C6A, 'k'}, {0x1D0B, 'k'}, {0x1D0D, 'm'}, {0x0271, 'm'},
    {0xA791, 'n'}, {0x1D0F, 'o'}, {0x01BF, 'p'}, {0x01A5, 'p'}, {0x02A0, 'q'}, {0x0280, 'r'},
    {0x027C, 'r'}, {0x027D, 'r'}, {0x024D, 'r'}, {0x027E, 'r'}, {0x0282, 's'}, {0xA731, 's'},
    {0x0167, 't'}, {0x01AB, 't'}, {0x1D1C, 'u'}, {0x0289, 'u'}, {0x2C71, 'v'}, {0x1D8C, 'v'},
    {0x2C74, 'v'}, {0x1D20, 'v'}, {0x2C73, 'w'}, {0x1D21, 'w'}, {0x028F, 'y'}, {0x01B4, 'y'},
    {0x024F, 'y'}, {0x1EFF, 'y'}, {0x0290, 'z'}, {0x1D22, 'z'}, {0x01B6, 'z'}, {0x2C6C, 'z'},
    {0x01BB, '2'}, {0x01BD, '5'}, {0x0442, 't'}, {0x044C, 'b'}, {0x043A, 'k'}, {0x043C, 'm'},
    {0x051B, 'q'},
};

static void
append_glyph_letter(GString *s, gunichar c)
{
    size_t k = 0;
    while (k < G_N_ELEMENTS(glyph_letters) && glyph_letters[k].from != c)
        k++;
    if (k < G_N_ELEMENTS(glyph_letters))
        g_string_append_c(s, glyph_letters[k].to);
    else
        g_string_append_unichar(s, g_unichar_tolower(c));
}

/* Letter groups a reader takes for one another, each written as one form
 * (applied in order, to both sides of a comparison, so only equality of
 * the results matters): i/1/l, 0/o, e/c, q/g, v/u, 3/8, 9/6; then the pairs
 * lb, lh, lk, lc, cl, dl for the letter they imitate; d/b; w as uu; m as nn;
 * r as n. */
static void
fold_glyph_groups(GString *s)
{
    static const char singles[][2] = {{'i', 'l'}, {'1', 'l'}, {'0', 'o'}, {'e', 'c'},
                                      {'q', 'g'}, {'v', 'u'}, {'3', '8'}, {'9', '6'}};
    for (size_t i = 0; i < s->len; i++)
        for (size_t k = 0; k < G_N_ELEMENTS(singles); k++)
            if (s->str[i] == singles[k][0])
                s->str[i] = singles[k][1];
    static const char *const pairs[][2] = {{"lb", "b"}, {"lh", "h"}, {"lk", "k"}, {"lc", "k"},
                                           {"cl", "d"}, {"dl", "d"}, {"d", "b"},  {"w", "uu"},
                                           {"m", "nn"}, {"r", "n"}};
    for (size_t k = 0; k < G_N_ELEMENTS(pairs); k++) {
        const char *from = pairs[k][0], *to = pairs[k][1];
        size_t fl = strlen(from);
        GString *out = g_string_sized_new(s->len + 8);
        for (size_t i = 0; i < s->len;) {
            if (!strncmp(s->str + i, from, fl)) {
                g_string_append(out, to);
                i += fl;
            } else {
                g_string_append_c(out, s->str[i++]);
            }
        }
        g_string_assign(s, out->str);
        g_string_free(out, TRUE);
    }
}

/* @label as a reader would take it: the folded skeleton, without accents
 * and marks, with the letters of glyph_letters and the groups of
 * fold_glyph_groups made one. "lŭfthámsá" and "1ufthansa" both read as
 * lufthansa. Only compared with another label treated the same way. */
static char *
visual_fold(USpoofChecker *sc, const char *label)
{
    /* Before the skeleton too, which would turn some of them (small
     * capitals) into letters of other scripts. */
    GString *pre = g_string_new(NULL);
    for (const char *p = label; *p; p = g_utf8_next_char(p))
        append_glyph_letter(pre, g_utf8_get_char(p));
    char *skel = fold_skeleton(sc, pre->str);
    g_string_free(pre, TRUE);
    char *nfd = g_utf8_normalize(skel, -1, G_NORMALIZE_NFD);
    g_free(skel);
    GString *s = g_string_new(NULL);
    for (const char *p = nfd ? nfd : ""; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        GUnicodeType t = g_unichar_type(c);
        if (t == G_UNICODE_NON_SPACING_MARK || t == G_UNICODE_SPACING_MARK ||
            t == G_UNICODE_ENCLOSING_MARK)
            continue;
        append_glyph_letter(s, c);
    }
    g_free(nfd);
    fold_glyph_groups(s);
    return g_string_free(s, FALSE);
}

/* A name reduced to what a reader sees: NFKC, case-folded, confusables
 * folded (UTS #39 skeleton), every run of non-letters one space, with a
 * space at both ends so whole words can be searched for with strstr. */
static char *
norm_name(USpoofChecker *sc, const char *name)
{
    /* Trade marks are decoration, and NFKC would glue "TM" to the word. */
    GString *plain = g_string_new(NULL);
    for (const char *p = name; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char_validated(p, -1);
        if ((gint32)c < 0)
            break;
        if (c == 0x2122 || c == 0x00AE || c == 0x2120 || c == 0x00A9)
            g_string_append_c(plain, ' ');
        else
            g_string_append_unichar(plain, c);
    }
    char *nfkc = g_utf8_normalize(plain->str, -1, G_NORMALIZE_ALL_COMPOSE);
    g_string_free(plain, TRUE);
    if (!nfkc)
        return g_strdup(" ");
    char *skel = fold_skeleton(sc, nfkc);
    GString *s = g_string_new(" ");
    for (const char *p = skel; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isalnum(c))
            g_string_append_unichar(s, c);
        else if (s->str[s->len - 1] != ' ')
            g_string_append_c(s, ' ');
    }
    if (s->str[s->len - 1] != ' ')
        g_string_append_c(s, ' ');
    g_free(skel);
    g_free(nfkc);
    return g_string_free(s, FALSE);
}

/* First names and the nicknames that stand for them. */
static const char *const nicknames[][4] = {
    {"william", "bill", "will", "billy"}, {"robert", "bob", "rob", "bobby"},
    {"richard", "rick", "dick", "rich"},  {"james", "jim", "jimmy", "jamie"},
    {"michael", "mike", "mick", NULL},    {"elizabeth", "liz", "beth", "betty"},
    {"katherine", "kate", "kathy", "katie"}, {"catherine", "cathy", "kate", "cat"},
    {"thomas", "tom", "tommy", NULL},     {"joseph", "joe", "joey", NULL},
    {"charles", "charlie", "chuck", NULL}, {"christopher", "chris", NULL, NULL},
    {"daniel", "dan", "danny", NULL},     {"matthew", "matt", NULL, NULL},
    {"anthony", "tony", NULL, NULL},      {"andrew", "andy", "drew", NULL},
    {"edward", "ed", "ted", "eddie"},     {"jennifer", "jen", "jenny", NULL},
    {"margaret", "maggie", "meg", "peggy"}, {"patricia", "pat", "patty", "trish"},
    {"steven", "steve", NULL, NULL},      {"stephen", "steve", NULL, NULL},
    {"benjamin", "ben", NULL, NULL},      {"samuel", "sam", NULL, NULL},
    {"alexander", "alex", NULL, NULL},    {"nicholas", "nick", NULL, NULL},
    {"jonathan", "jon", NULL, NULL},      {"timothy", "tim", NULL, NULL},
    {"susan", "sue", "suzy", NULL},       {"deborah", "deb", "debbie", NULL},
};

static void
add_name(claw_policy_t *p, const char *shown, const char *alias, bool brand)
{
    bool exact = alias[0] == '=';
    name_t n = {.shown = g_strdup(shown[0] == '=' ? shown + 1 : shown),
                .norm = norm_name(p->spoof, alias + exact),
                .brand = brand,
                .exact = exact};
    if (strlen(n.norm) < 4) { /* a letter or two would match everything */
        g_free(n.shown);
        g_free(n.norm);
        return;
    }
    g_array_append_val(p->names, n);
}

static void
add_names(claw_policy_t *p, const char *config, bool brand)
{
    char **entries = g_strsplit(config ? config : "", ";", -1);
    for (char **e = entries; *e; e++) {
        char **aliases = g_strsplit(*e, "|", -1);
        const char *shown = aliases[0] ? g_strstrip(aliases[0]) : "";
        for (char **a = aliases; *a; a++) {
            char *alias = g_strstrip(*a);
            if (!*alias)
                continue;
            add_name(p, shown, alias, brand);
            if (brand)
                continue;
            /* A known first name stands for its nicknames, and back. */
            char *first_end = strchr(alias, ' ');
            if (!first_end)
                continue;
            char *first = g_ascii_strdown(alias, first_end - alias);
            for (size_t k = 0; k < G_N_ELEMENTS(nicknames); k++) {
                bool in = false;
                for (size_t j = 0; j < 4 && nicknames[k][j]; j++)
                    in = in || !strcmp(nicknames[k][j], first);
                for (size_t j = 0; in && j < 4 && nicknames[k][j]; j++) {
                    if (!strcmp(nicknames[k][j], first))
                        continue;
                    char *other = g_strconcat(nicknames[k][j], first_end, NULL);
                    add_name(p, shown, other, false);
                    g_free(other);
                }
            }
            g_free(first);
        }
        g_strfreev(aliases);
    }
    g_strfreev(entries);
}

static void
add_targets(claw_policy_t *p, const psl_ctx_t *psl, GHashTable *set, bool partner)
{
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, set);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        const char *reg = psl_registrable_domain(psl, key);
        if (!reg)
            continue;
        bool dup = false;
        for (guint i = 0; i < p->targets->len && !dup; i++)
            dup = !strcmp(g_array_index(p->targets, target_t, i).registrable, reg);
        if (dup)
            continue;
        const char *dot = strchr(reg, '.');
        if (!dot)
            continue;
        target_t t = {
            .registrable = g_strdup(reg),
            .label = g_strndup(reg, (gsize)(dot - reg)),
            .suffix = g_strdup(dot + 1),
            .partner = partner,
        };
        t.skeleton = fold_skeleton(p->spoof, t.label);
        t.visual = visual_fold(p->spoof, t.label);
        g_array_append_val(p->targets, t);
    }
}

claw_status_t
_claw_policy_new(const claw_config_t *config, const psl_ctx_t *psl, claw_policy_t **out,
                 char **error)
{
    const claw_policy_config_t *pc = &config->policy;
    claw_policy_t *p = g_new0(claw_policy_t, 1);
    p->protected_domains = word_set();
    p->partner_domains = word_set();
    p->trusted_authserv = word_set();
    p->freemail = word_set();
    p->shorteners = word_set();
    p->internal = g_array_new(FALSE, FALSE, sizeof(claw_cidr_t));
    p->lookalikes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    add_words(p->protected_domains, pc->protected_domains);
    add_words(p->partner_domains, pc->partner_domains);
    add_words(p->trusted_authserv, pc->trusted_authserv_ids);
    add_words(p->freemail, pc->freemail_domains);
    add_words(p->shorteners, pc->shortener_domains);
    for (size_t i = 0; i < G_N_ELEMENTS(builtin_freemail); i++)
        g_hash_table_add(p->freemail, g_strdup(builtin_freemail[i]));
    for (size_t i = 0; i < G_N_ELEMENTS(builtin_shorteners); i++)
        g_hash_table_add(p->shorteners, g_strdup(builtin_shorteners[i]));
    /* The networks were checked when the option was set. */
    const claw_cidr_t *nets;
    size_t n_nets;
    if (claw_config_get_cidrs(config, "policy", "internal_relays", &nets, &n_nets) == 0)
        g_array_append_vals(p->internal, nets, (guint)n_nets);

    UErrorCode uerr = U_ZERO_ERROR;
    p->spoof = uspoof_open(&uerr);
    if (U_SUCCESS(uerr))
        uspoof_setChecks(p->spoof, USPOOF_CONFUSABLE, &uerr);
    if (U_FAILURE(uerr)) {
        if (error)
            *error = g_strdup_printf("ICU uspoof: %s", u_errorName(uerr));
        _claw_policy_free(p);
        return CLAW_STATUS_DEPENDENCY_ERROR;
    }
    p->targets = g_array_new(FALSE, TRUE, sizeof(target_t));
    add_targets(p, psl, p->protected_domains, false);
    add_targets(p, psl, p->partner_domains, true);
    p->service_words = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(service_words); i++) {
        char *norm = norm_name(p->spoof, service_words[i]);
        g_hash_table_add(p->service_words, g_strndup(norm + 1, strlen(norm) - 2));
        g_free(norm);
    }
    p->names = g_array_new(FALSE, TRUE, sizeof(name_t));
    add_names(p, pc->vip_names, false);
    add_names(p, pc->brand_names, true);
    if (!pc->builtin_brands || strcmp(pc->builtin_brands, "no") != 0) {
        for (size_t i = 0; i < G_N_ELEMENTS(builtin_brands); i++) {
            guint from = p->names->len;
            add_names(p, builtin_brands[i].names, true);
            for (guint k = from; k < p->names->len; k++)
                g_array_index(p->names, name_t, k).own = builtin_brands[i].own;
        }
    }
    *out = p;
    return CLAW_STATUS_SUCCESS;
}

/* Is @name, or a parent domain of it, in @set? */
static bool
in_domain_set(GHashTable *set, const char *name)
{
    for (const char *p = name; p && *p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
        if (g_hash_table_contains(set, p))
            return true;
    return false;
}

/* ------------------------------------------------------------------------
 * Indicators of compromise
 * --------------------------------------------------------------------- */

typedef enum { IOC_URL, IOC_HOST, IOC_DOMAIN, IOC_SENDER, IOC_SHA256, IOC_IP, IOC_LAST } ioc_t;
static const char *const ioc_names[IOC_LAST] = {"url", "host", "domain", "sender", "sha256", "ip"};

typedef struct {
    char *path;
    struct stat st; /* as last read */
} ioc_file_t;

struct claw_iocs {
    GHashTable *set[IOC_LAST];
    GArray *files; /* ioc_file_t */
    gint64 checked_us;
    size_t count;
};

/* @value of an indicator of @type in the form the detectors compare it in:
 * URLs and host names as the model writes the ones it finds (one
 * normaliser for both, so "url:http://EX%41MPLE.org/" matches a link to
 * http://example.org/), IP addresses canonical, the rest lower-cased.
 * NULL when @value cannot be one of its type. */
static char *
ioc_key(ioc_t type, const char *value)
{
    char *normal = NULL;
    switch (type) {
    case IOC_URL:
        claw_url_normalise(value, strlen(value), &normal);
        break;
    case IOC_HOST:
    case IOC_DOMAIN:
        claw_host_normalise(value, strlen(value), &normal);
        break;
    default:
        return g_ascii_strdown(value, -1);
    }
    /* The sets free their keys with g_free(). */
    char *key = g_strdup(normal);
    claw_free(normal);
    return key;
}

static claw_status_t
load_ioc_file(claw_iocs_t *io, const char *path, char **error)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (error)
            *error = g_strdup_printf("[ioc] %s: %s", path, g_strerror(errno));
        return CLAW_STATUS_IO_ERROR;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = g_strstrip(line);
        if (!*s)
            continue;
        char *colon = strchr(s, ':');
        int type = -1;
        if (colon) {
            *colon = '\0';
            for (int t = 0; t < IOC_LAST; t++)
                if (!g_ascii_strcasecmp(g_strstrip(s), ioc_names[t]))
                    type = t;
        }
        char *value = colon ? g_strstrip(colon + 1) : NULL;
        if (type < 0 || !value || !*value) {
            if (error)
                *error = g_strdup_printf("%s:%u: expected TYPE:VALUE with TYPE one of url, "
                                         "host, domain, sender, sha256, ip",
                                         path, lineno);
            free(line);
            fclose(f);
            return CLAW_STATUS_CONFIG_ERROR;
        }
        char *key = ioc_key(type, value);
        if (!key) {
            if (error)
                *error = g_strdup_printf("%s:%u: %s: '%s' is not %s", path, lineno,
                                         ioc_names[type], value,
                                         type == IOC_URL ? "an absolute URL" : "a host name");
            free(line);
            fclose(f);
            return CLAW_STATUS_CONFIG_ERROR;
        }
        if (type == IOC_IP) {
            unsigned char bin[16];
            char canon[INET6_ADDRSTRLEN];
            int fam = strchr(key, ':') ? AF_INET6 : AF_INET;
            if (inet_pton(fam, key, bin) == 1) {
                g_free(key);
                key = g_strdup(inet_ntop(fam, bin, canon, sizeof canon));
            }
        }
        if (g_hash_table_add(io->set[type], key))
            io->count++;
    }
    free(line);
    fclose(f);
    return CLAW_STATUS_SUCCESS;
}

void
_claw_iocs_free(claw_iocs_t *io)
{
    if (!io)
        return;
    for (int t = 0; t < IOC_LAST; t++)
        g_hash_table_destroy(io->set[t]);
    for (guint i = 0; i < io->files->len; i++)
        g_free(g_array_index(io->files, ioc_file_t, i).path);
    g_array_free(io->files, TRUE);
    g_free(io);
}

claw_status_t
_claw_iocs_new(const claw_config_t *config, claw_iocs_t **out, char **error)
{
    claw_iocs_t *io = g_new0(claw_iocs_t, 1);
    for (int t = 0; t < IOC_LAST; t++)
        io->set[t] = word_set();
    io->files = g_array_new(FALSE, TRUE, sizeof(ioc_file_t));
    char **paths = g_strsplit_set(config->ioc_files ? config->ioc_files : "", ", \t", -1);
    for (char **p = paths; *p; p++) {
        if (!**p)
            continue;
        ioc_file_t f = {.path = g_strdup(*p)};
        stat(f.path, &f.st);
        g_array_append_val(io->files, f);
        claw_status_t st = load_ioc_file(io, *p, error);
        if (st) {
            g_strfreev(paths);
            _claw_iocs_free(io);
            return st;
        }
    }
    g_strfreev(paths);
    io->checked_us = g_get_monotonic_time();
    *out = io;
    return CLAW_STATUS_SUCCESS;
}

/* Re-read the indicator files if one changed, at most once a second. A
 * file that cannot be read now keeps the indicators already loaded, and
 * the failure is logged: losing a blocklist silently would be worse. */
static void
iocs_refresh(claw_engine_t *e)
{
    claw_iocs_t *io = e->iocs;
    gint64 now = g_get_monotonic_time();
    if (!io || io->files->len == 0 || now - io->checked_us < G_USEC_PER_SEC)
        return;
    io->checked_us = now;
    bool changed = false;
    for (guint i = 0; i < io->files->len; i++) {
        ioc_file_t *f = &g_array_index(io->files, ioc_file_t, i);
        struct stat st;
        if (stat(f->path, &st) == 0 &&
            (st.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
             st.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec || st.st_size != f->st.st_size ||
             st.st_ino != f->st.st_ino))
            changed = true;
    }
    if (!changed)
        return;
    claw_iocs_t *fresh = NULL;
    char *err = NULL;
    if (_claw_iocs_new(e->config, &fresh, &err) != CLAW_STATUS_SUCCESS) {
        claw_log(CLAW_LOG_ERROR, NULL, "indicators not reloaded, keeping the old set: %s",
                 err ? err : "error");
        g_free(err);
        for (guint i = 0; i < io->files->len; i++)
            stat(g_array_index(io->files, ioc_file_t, i).path,
                 &g_array_index(io->files, ioc_file_t, i).st);
        return;
    }
    claw_log(CLAW_LOG_NOTICE, NULL, "indicators reloaded: %zu entries", fresh->count);
    _claw_iocs_free(io);
    e->iocs = fresh;
}

void
claw_engine_refresh(claw_engine_t *engine)
{
    if (engine)
        iocs_refresh(engine);
}

/* ------------------------------------------------------------------------
 * The verdict under construction
 * --------------------------------------------------------------------- */

struct claw_verdict_private {
    claw_message_t *message; /* owned, from claw_scan_buffer() */
    GArray *hits;
    GStringChunk *strings;
    unsigned count[R_LAST];
    int index[R_LAST]; /* the hit of each rule in @hits, or -1 */
};

typedef struct {
    claw_engine_t *e;
    const claw_message_t *m;
    const claw_envelope_t *env;
    claw_verdict_t *v;
    struct claw_verdict_private *vp;
} run_t;

static double
weight(const claw_engine_t *e, rule_t r)
{
    return e->config->weight_text[r] ? e->config->weight[r] : _claw_rule_default_score(r);
}

/* Record that @r fired. The first detail is kept; later ones are counted. */
static void
hit(run_t *run, rule_t r, const char *fmt, ...) CLAW_PRINTF(3, 4);

static void
hit(run_t *run, rule_t r, const char *fmt, ...)
{
    struct claw_verdict_private *vp = run->vp;
    if (vp->count[r]++ > 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *d = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    claw_rule_hit_t h = {
        .rule = _claw_rule_name(r),
        .score = weight(run->e, r),
        .detail = g_string_chunk_insert(vp->strings, d),
    };
    g_free(d);
    vp->index[r] = (int)vp->hits->len;
    g_array_append_val(vp->hits, h);
}

/* ------------------------------------------------------------------------
 * Detectors
 * --------------------------------------------------------------------- */

static const claw_address_t *
first_address(const claw_message_t *m, claw_address_field_t field)
{
    for (size_t i = 0; i < m->n_addresses; i++)
        if (m->addresses[i].field == field)
            return &m->addresses[i];
    return NULL;
}

static const char *
org(const claw_domain_t *d)
{
    return d->registrable ? d->registrable : d->ascii;
}

/* Does trusted evidence say the From domain @dom authenticated? DMARC pass,
 * or DKIM pass with header.d / SPF pass with smtp.mailfrom in the same
 * organisation (relaxed alignment). */
static bool
authenticated(const run_t *run, const claw_domain_t *dom)
{
    const claw_policy_t *pol = run->e->policy;
    if (run->env && run->env->dmarc && !g_ascii_strcasecmp(run->env->dmarc, "pass"))
        return true;
    for (size_t i = 0; i < run->m->n_auth_results; i++) {
        const claw_auth_result_t *r = &run->m->auth_results[i];
        if (r->source != CLAW_AUTH_RESULTS || !r->authserv_id ||
            !g_hash_table_contains(pol->trusted_authserv, r->authserv_id))
            continue;
        for (size_t k = 0; k < r->n_methods; k++) {
            const claw_auth_method_t *am = &r->methods[k];
            if (strcmp(am->result, "pass") != 0)
                continue;
            if (!strcmp(am->method, "dmarc"))
                return true;
            const char *key = !strcmp(am->method, "dkim") ? "header.d="
                              : !strcmp(am->method, "spf") ? "smtp.mailfrom="
                                                           : NULL;
            const char *p = key ? strstr(am->properties, key) : NULL;
            if (!p)
                continue;
            p += strlen(key);
            const char *at = strchr(p, '@');
            const char *d = at && (size_t)(at - p) < strcspn(p, " ") ? at + 1 : p;
            char *dname = g_ascii_strdown(d, (gssize)strcspn(d, " ;"));
            const char *reg = psl_registrable_domain(run->e->psl, dname);
            bool aligned = reg && org(dom) && !strcmp(reg, org(dom));
            g_free(dname);
            if (aligned)
                return true;
        }
    }
    return false;
}

/* Did the message come only through our own relays (or straight from one)? */
static bool
internal_origin(const run_t *run)
{
    const claw_policy_t *pol = run->e->policy;
    if (pol->internal->len == 0)
        return false;
    const char *client = run->env ? run->env->client_ip : NULL;
    if (client) {
        for (guint i = 0; i < pol->internal->len; i++)
            if (claw_cidr_contains_text(&g_array_index(pol->internal, claw_cidr_t, i), client))
                goto hops;
        return false;
    }
hops:
    /* Every hop with an IP must be ours; at least one must be seen. */
    {
        size_t seen = 0;
        for (size_t h = 0; h < run->m->n_received; h++) {
            const char *ip = run->m->received[h].ip;
            if (!ip)
                continue;
            bool ours = false;
            for (guint i = 0; i < pol->internal->len && !ours; i++)
                ours = claw_cidr_contains_text(&g_array_index(pol->internal, claw_cidr_t, i), ip);
            if (!ours)
                return false;
            seen++;
        }
        return seen > 0 || client;
    }
}

static void
detect_spoof(run_t *run)
{
    const claw_policy_t *pol = run->e->policy;
    if (g_hash_table_size(pol->protected_domains) == 0)
        return;
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if (a->field != CLAW_FIELD_FROM || !a->domain.ascii)
            continue;
        if (!in_domain_set(pol->protected_domains, a->domain.ascii))
            continue;
        if (authenticated(run, &a->domain) || internal_origin(run))
            continue;
        hit(run, R_SPOOF_PROTECTED_DOMAIN,
            "From %s is in protected %s but no trusted DMARC, aligned DKIM or aligned SPF "
            "pass, and it did not come through an internal relay",
            a->address, org(&a->domain));
    }
}

/* Damerau-Levenshtein distance (optimal string alignment), stopping early
 * once it must exceed @max. Labels are at most 63 bytes. */
static unsigned
edit_distance(const char *a, const char *b, unsigned max)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63 || (n > m ? n - m : m - n) > max)
        return max + 1;
    unsigned d[64][64];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++) {
        unsigned row_min = UINT32_MAX;
        for (size_t j = 1; j <= m; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = MIN(MIN(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                v = MIN(v, d[i - 2][j - 2] + 1);
            d[i][j] = v;
            row_min = MIN(row_min, v);
        }
        if (row_min > max)
            return max + 1;
    }
    return d[n][m];
}

/* Words phishing domains add to a name: lufthansa-login, secureups. The
 * list takes in dnstwist's dictionary of words common in targeted phishing
 * (agree, blue, choose, find, cl among them). */
static const char *const lure_words[] = {
    "agree", "blue", "choose", "find", "cl",
    "access", "account", "accounts", "admin", "alert", "app", "auth", "bank", "billing",
    "cdn", "claim", "click", "confirm", "confirmation", "connect", "customer", "delivery",
    "download", "enroll", "help", "http", "https", "id", "info", "install", "invoice",
    "log", "login", "logon", "mail", "my", "mobile", "net", "notice", "online", "pay",
    "payment", "payments", "portal", "recovery", "register", "safe", "secure", "security",
    "service", "services", "signin", "signon", "signup", "ssl", "summary", "support",
    "team", "track", "tracking", "update", "user", "verify", "verification", "view",
    "web", "webmail", "ww", "www", "group", "business",
};

static bool
lure_word(const char *w, size_t n)
{
    for (size_t i = 0; i < G_N_ELEMENTS(lure_words); i++)
        if (strlen(lure_words[i]) == n && !strncmp(w, lure_words[i], n))
            return true;
    return false;
}

/* Is @name inside the longer label @label as a lookalike would put it? A
 * long name (6 letters or more: lufthansa) anywhere; a shorter one (ups,
 * delta) as a whole hyphen-separated part (ups-parcel) or with a lure word
 * before or after it (upslogin, secure-delta). */
static bool
name_inside(const char *label, const char *name)
{
    size_t ll = strlen(label), nl = strlen(name);
    if (nl < 3 || ll <= nl)
        return false;
    if (nl >= 6)
        return strstr(label, name) != NULL;
    for (const char *p = strstr(label, name); p; p = strstr(p + 1, name)) {
        size_t before = (size_t)(p - label), after = ll - before - nl;
        bool left_edge = before == 0 || p[-1] == '-';
        bool right_edge = after == 0 || p[nl] == '-';
        if (left_edge && right_edge)
            return true;
        const char *head = label, *tail = p + nl;
        size_t hl = before, tl = after;
        if (hl && head[hl - 1] == '-')
            hl--;
        if (tl && *tail == '-')
            tail++, tl--;
        if ((before == 0 && lure_word(tail, tl)) || (after == 0 && lure_word(head, hl)))
            return true;
    }
    return false;
}

/* "lufthan.sa.com": @host, where it ends in @t's suffix, is @t's name with
 * dots in it (the split may have made a registrable domain of its own
 * under a private suffix such as sa.com). */
static bool
split_before_suffix(const char *host, const target_t *t)
{
    size_t hl = strlen(host), sl = strlen(t->suffix), tl = strlen(t->label);
    if (hl <= sl + 1 || host[hl - sl - 1] != '.' || strcmp(host + hl - sl, t->suffix) != 0)
        return false;
    size_t k = 0, dots = 0;
    for (size_t i = 0; i < hl - sl - 1; i++) {
        if (host[i] == '.') {
            dots++;
            continue;
        }
        if (k >= tl || host[i] != t->label[k])
            return false;
        k++;
    }
    return dots > 0 && k == tl;
}

/* "deltacom.com": @label is @t's name and suffix without the dots. */
static bool
run_together(const char *label, const target_t *t)
{
    size_t tl = strlen(t->label);
    if (strncmp(label, t->label, tl) != 0)
        return false;
    const char *r = label + tl, *x = t->suffix;
    for (; *x; x++) {
        if (*x == '.')
            continue;
        if (*r++ != *x)
            return false;
    }
    return *r == '\0';
}

/* Is the domain @reg inside the host name @host at label edges (paypal.com
 * in paypal.com.evil.example or secure-paypal.com-x.example, not in
 * mypaypal.com)? */
static bool
domain_inside(const char *host, const char *reg)
{
    size_t rl = strlen(reg);
    for (const char *p = strstr(host, reg); p; p = strstr(p + 1, reg))
        if ((p == host || p[-1] == '.' || p[-1] == '-') &&
            (p[rl] == '\0' || p[rl] == '.' || p[rl] == '-'))
            return true;
    return false;
}

/* How @host imitates a protected or partner domain, or NULL. Sets *@target.
 * The classes are dnstwist's: one character added, dropped, replaced,
 * repeated, swapped, bit-flipped or vowel-swapped (edit distance 1);
 * homoglyphs and other scripts (UTS #39 skeletons); hyphens; plural; another
 * suffix; the name split by a dot; the name inside a longer name
 * (dictionary words and the "various" forms). A domain of the
 * organisation itself, or any subdomain of it, is never a lookalike. */
static const char *
find_lookalike(const claw_policy_t *pol, const claw_domain_t *host, const target_t **target)
{
    const char *reg = host->registrable;
    for (guint i = 0; i < pol->targets->len; i++)
        if (!strcmp(g_array_index(pol->targets, target_t, i).registrable, reg))
            return NULL;
    const char *dot = strchr(reg, '.');
    if (!dot)
        return NULL;
    char *label = g_strndup(reg, (gsize)(dot - reg));
    const char *suffix = dot + 1;
    /* The U-label of the registrable part (for the skeleton of an IDN): as
     * many labels from the end of the Unicode host as the registrable
     * domain has. */
    unsigned want = 1;
    for (const char *p = reg; *p; p++)
        want += *p == '.';
    const char *u = host->unicode + strlen(host->unicode);
    for (unsigned seen = 0; u > host->unicode && seen < want;)
        if (*--u == '.')
            seen++;
    if (*u == '.')
        u++;
    char *ulabel = g_strndup(u, strcspn(u, "."));
    char *skel = fold_skeleton(pol->spoof, ulabel);
    /* The host's labels before its suffix, joined: "pay.pal.com" is paypal. */
    char *joined = NULL;
    {
        size_t hl = strlen(host->ascii), sl = strlen(suffix);
        if (hl > sl + 1) {
            GString *j = g_string_new(NULL);
            for (size_t k = 0; k < hl - sl - 1; k++)
                if (host->ascii[k] != '.')
                    g_string_append_c(j, host->ascii[k]);
            joined = g_string_free(j, FALSE);
        }
    }
    char *vis = visual_fold(pol->spoof, ulabel);
    const char *how = NULL;
    for (guint i = 0; i < pol->targets->len && !how; i++) {
        const target_t *t = &g_array_index(pol->targets, target_t, i);
        size_t tl = strlen(t->label);
        bool same_suffix = !strcmp(suffix, t->suffix);
        char *dehyphen = g_strdup(label);
        char *w = dehyphen;
        for (const char *r = label; *r; r++)
            if (*r != '-')
                *w++ = *r;
        *w = '\0';
        if (!strcmp(label, t->label))
            how = "the same name under another suffix";
        else if (!strcmp(skel, t->skeleton) ||
                 ((same_suffix || tl >= 5) && !strcmp(vis, t->visual)))
            how = "letters that look alike (homoglyphs or another script)";
        /* Typos keep the suffix (dnstwist changes it only in tld-swap):
         * baker.edu is not a typo of bayer.com. */
        else if (same_suffix && strcmp(dehyphen, label) != 0 && !strcmp(dehyphen, t->label))
            how = "the name with hyphens";
        else if (same_suffix && tl >= 3 && edit_distance(label, t->label, 1) == 1)
            how = "one character added, dropped, changed or swapped";
        else if (same_suffix && tl >= 5 && edit_distance(vis, t->visual, 1) == 1)
            how = "letters that look alike and one character changed";
        else if (same_suffix && tl >= 3 && strlen(label) == tl + 1 &&
                 !strncmp(label, t->label, tl) && label[tl] == 's')
            how = "the name made plural";
        else if (joined && strcmp(joined, label) != 0 && !strcmp(joined, t->label))
            how = "the name split by a dot";
        else if (split_before_suffix(host->ascii, t))
            how = "the name split by a dot";
        else if (same_suffix && run_together(dehyphen, t))
            how = "the name and its suffix run together";
        else if (name_inside(label, t->label) || name_inside(skel, t->skeleton) ||
                 (tl >= 5 && name_inside(vis, t->visual)))
            how = "the name inside a longer name";
        /* "paypal.com.evil.example": the whole domain inside another's
         * host name. A bare word as a subdomain (apple.slashdot.org) is not. */
        else if (domain_inside(host->ascii, t->registrable))
            how = "the domain as part of another domain's host name";
        if (how)
            *target = t;
        g_free(dehyphen);
    }
    g_free(vis);
    g_free(joined);
    g_free(skel);
    g_free(ulabel);
    g_free(label);
    return how;
}

/* How @host imitates a protected or partner domain (and which, in
 * *@target), or NULL. The answer depends on the host's ASCII form and the
 * policy only, so it is cached in the policy. */
static const char *
lookalike(const run_t *run, const claw_domain_t *host, const target_t **target)
{
    claw_policy_t *pol = run->e->policy;
    if (!host->ascii || (host->flags & CLAW_DOMAIN_IP) || !host->registrable ||
        pol->targets->len == 0)
        return NULL;
    lookalike_t *c = g_hash_table_lookup(pol->lookalikes, host->ascii);
    if (!c) {
        const target_t *t = NULL;
        if (g_hash_table_size(pol->lookalikes) >= LOOKALIKE_CACHE_MAX)
            g_hash_table_remove_all(pol->lookalikes);
        c = g_new(lookalike_t, 1);
        c->how = find_lookalike(pol, host, &t);
        c->target = t ? (guint)(t - &g_array_index(pol->targets, target_t, 0)) : 0;
        g_hash_table_insert(pol->lookalikes, g_strdup(host->ascii), c);
    }
    if (c->how)
        *target = &g_array_index(pol->targets, target_t, c->target);
    return c->how;
}

static void
detect_lookalikes(run_t *run)
{
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if (a->field != CLAW_FIELD_FROM && a->field != CLAW_FIELD_SENDER &&
            a->field != CLAW_FIELD_REPLY_TO && a->field != CLAW_FIELD_RETURN_PATH)
            continue;
        const target_t *t = NULL;
        const char *how = lookalike(run, &a->domain, &t);
        if (how)
            hit(run, R_LOOKALIKE_DOMAIN, "%s %s: %s imitates %s (%s domain): %s",
                claw_address_field_to_string(a->field), a->address, a->domain.unicode,
                t->registrable, t->partner ? "partner" : "protected", how);
    }
    for (size_t i = 0; i < run->m->n_urls; i++) {
        const claw_url_t *u = &run->m->urls[i];
        const target_t *t = NULL;
        const char *how = lookalike(run, &u->host, &t);
        if (how)
            hit(run, R_URL_LOOKALIKE, "link %.120s: %s imitates %s (%s domain): %s", u->url,
                u->host.unicode, t->registrable, t->partner ? "partner" : "protected", how);
    }
}

static bool
ours_or_partner(const claw_policy_t *pol, const claw_domain_t *d)
{
    return d->ascii && (in_domain_set(pol->protected_domains, d->ascii) ||
                        in_domain_set(pol->partner_domains, d->ascii));
}


/* @norm (" apple support team ") without the service words (" apple "). */
static char *
strip_service_words(const claw_policy_t *pol, const char *norm)
{
    GString *s = g_string_new(" ");
    char **words = g_strsplit(norm, " ", -1);
    for (char **w = words; *w; w++) {
        if (**w && !g_hash_table_contains(pol->service_words, *w)) {
            g_string_append(s, *w);
            g_string_append_c(s, ' ');
        }
    }
    g_strfreev(words);
    return g_string_free(s, FALSE);
}

/* "Steven Rostedt (Google)": a person's name with their employer after it,
 * as developers sign on mailing lists. True when @brand is only in the
 * parenthesised tail of @name. Only the built-in brands allow this. */
static bool
affiliation(const claw_policy_t *pol, const char *name, const char *brand)
{
    const char *open = strchr(name, '(');
    if (!open || open == name)
        return false;
    char *head = g_strndup(name, open - name);
    char *norm = norm_name(pol->spoof, head);
    bool person = strlen(norm) > 3 && !strstr(norm, brand);
    g_free(norm);
    g_free(head);
    return person;
}

/* A brand mailing from its own domain is itself: the organisation's label
 * of @a's domain is the brand's name run together, or its first word (DHL
 * Express from dhl.com), or one of the brand's own domains' labels.
 * Containing it is not enough: paypal-security-alerts.example is not
 * PayPal. */
static bool
brand_from_itself(const claw_policy_t *pol, const name_t *n, const claw_address_t *a)
{
    if (!a->domain.registrable)
        return false;
    char *org_label = g_strndup(a->domain.registrable, strcspn(a->domain.registrable, "."));
    GString *squeezed = g_string_new(NULL);
    for (const char *c = n->norm; *c; c++)
        if (*c != ' ')
            g_string_append_c(squeezed, *c);
    const char *w = n->norm + 1;
    char *first = g_strndup(w, strcspn(w, " "));
    bool own = !strcmp(org_label, squeezed->str) || !strcmp(org_label, first);
    if (n->own && !own && !g_hash_table_contains(pol->freemail, a->domain.registrable)) {
        size_t ol = strlen(org_label);
        for (const char *o = strstr(n->own, org_label); o && !own; o = strstr(o + 1, org_label))
            own = (o == n->own || o[-1] == ' ') && (o[ol] == ' ' || !o[ol]);
    }
    g_free(first);
    g_string_free(squeezed, TRUE);
    g_free(org_label);
    return own;
}

/* The first VIP or brand that the display name of @a names and that @a's
 * address is not entitled to, or NULL. @shown is the name normalised,
 * @bare the same without service words ("support", "team"). */
static const name_t *
impersonated_name(const claw_policy_t *pol, const claw_address_t *a, const char *shown,
                  const char *bare)
{
    for (guint k = 0; k < pol->names->len; k++) {
        const name_t *n = &g_array_index(pol->names, name_t, k);
        bool named = n->exact ? strcmp(bare, n->norm) == 0 : strstr(shown, n->norm) != NULL;
        if (!named)
            continue;
        if (n->own && affiliation(pol, a->name, n->norm))
            continue;
        if (n->brand && brand_from_itself(pol, n, a))
            continue;
        return n;
    }
    return NULL;
}

/* Our own or a partner's domain written into the display name of @a. */
static void
detect_domain_in_name(run_t *run, const claw_address_t *a)
{
    const claw_policy_t *pol = run->e->policy;
    char *lower = g_utf8_strdown(a->name, -1);
    for (guint k = 0; k < pol->targets->len; k++) {
        const target_t *t = &g_array_index(pol->targets, target_t, k);
        if (strstr(lower, t->registrable))
            hit(run, R_DISPLAY_NAME_IMPERSONATION,
                "%s \"%s\" shows %s (%s domain), but the address is %s",
                claw_address_field_to_string(a->field), a->name, t->registrable,
                t->partner ? "partner" : "protected", a->address);
    }
    g_free(lower);
}

static void
detect_display_names(run_t *run)
{
    const claw_policy_t *pol = run->e->policy;
    if (pol->names->len == 0 && pol->targets->len == 0)
        return; /* nothing to impersonate */
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if ((a->field != CLAW_FIELD_FROM && a->field != CLAW_FIELD_SENDER) || !a->name ||
            ours_or_partner(pol, &a->domain))
            continue;
        char *shown = norm_name(pol->spoof, a->name);
        char *bare = strip_service_words(pol, shown);
        const name_t *n = impersonated_name(pol, a, shown, bare);
        if (n)
            hit(run, R_DISPLAY_NAME_IMPERSONATION, "%s \"%s\" names %s %s, but the address is %s",
                claw_address_field_to_string(a->field), a->name, n->brand ? "the brand" : "VIP",
                n->shown, a->address);
        detect_domain_in_name(run, a);
        g_free(bare);
        g_free(shown);
    }
}

static void
detect_reply_to(run_t *run)
{
    const claw_address_t *from = first_address(run->m, CLAW_FIELD_FROM);
    if (!from || !from->domain.ascii)
        return;
    const claw_policy_t *pol = run->e->policy;
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if ((a->field != CLAW_FIELD_REPLY_TO && a->field != CLAW_FIELD_RETURN_PATH) ||
            !a->domain.ascii || !strcmp(org(&a->domain), org(&from->domain)))
            continue;
        bool freemail = in_domain_set(pol->freemail, a->domain.ascii);
        /* Replies to a list (or group) that was also addressed are normal. */
        bool recipient = false;
        for (size_t k = 0; k < run->m->n_addresses && !recipient; k++)
            recipient = (run->m->addresses[k].field == CLAW_FIELD_TO ||
                         run->m->addresses[k].field == CLAW_FIELD_CC) &&
                        !g_ascii_strcasecmp(run->m->addresses[k].address, a->address);
        if (recipient)
            continue;
        /* A bounce address at a mailing service is how bulk mail works; a
         * Return-Path only counts when it points at free-mail. */
        if (a->field == CLAW_FIELD_RETURN_PATH && !freemail)
            continue;
        hit(run, R_REPLY_TO_DIVERTS, "%s %s sends replies away from %s%s",
            claw_address_field_to_string(a->field), a->address, org(&from->domain),
            freemail ? ", to free-mail" : "");
        if (freemail && a->field == CLAW_FIELD_REPLY_TO &&
            run->vp->count[R_REPLY_TO_DIVERTS] == 1) {
            /* Replies diverted to free-mail count double. */
            claw_rule_hit_t *h =
                &g_array_index(run->vp->hits, claw_rule_hit_t, run->vp->index[R_REPLY_TO_DIVERTS]);
            h->score *= 2;
        }
    }
}

/* A domain named in visible link text: the first word that the PSL can
 * place (has a registrable part). Returns the registrable domain or NULL. */
static char *
domain_in_text(const claw_engine_t *e, const char *text)
{
    char *result = NULL;
    char **words = g_strsplit_set(text, " \t\n<>()[]\"'", -1);
    for (char **w = words; *w && !result; w++) {
        const char *p = *w;
        const char *sep = strstr(p, "://");
        if (sep)
            p = sep + 3;
        size_t n = strcspn(p, "/?#:@");
        if (n == 0 || !memchr(p, '.', n))
            continue;
        char *host = g_ascii_strdown(p, (gssize)n);
        while (*host && host[strlen(host) - 1] == '.')
            host[strlen(host) - 1] = '\0';
        bool ok = *host && !strchr(host, '_');
        for (const char *c = host; ok && *c; c++)
            ok = g_ascii_isalnum(*c) || *c == '.' || *c == '-' || (unsigned char)*c >= 0x80;
        /* The top label must be a real public suffix ("U.S." and "3.5" are
         * not domains). */
        const char *tld = strrchr(host, '.');
        ok = ok && tld && g_ascii_isalpha(tld[1]) &&
             psl_is_public_suffix2(e->psl, tld + 1, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE);
        const char *reg = ok ? psl_registrable_domain(e->psl, host) : NULL;
        if (reg)
            result = g_strdup(reg);
        g_free(host);
    }
    g_strfreev(words);
    return result;
}

static bool
ioc_domain_match(const claw_iocs_t *io, const char *host)
{
    return io && (g_hash_table_contains(io->set[IOC_HOST], host) ||
                  in_domain_set(io->set[IOC_DOMAIN], host));
}

static void
detect_urls(run_t *run)
{
    const claw_policy_t *pol = run->e->policy;
    const claw_iocs_t *io = run->e->iocs;
    for (size_t i = 0; i < run->m->n_urls; i++) {
        const claw_url_t *u = &run->m->urls[i];
        bool web = !strcmp(u->scheme, "http") || !strcmp(u->scheme, "https");
        if (io && (g_hash_table_contains(io->set[IOC_URL], u->url) ||
                   (u->host.ascii && ioc_domain_match(io, u->host.ascii)) ||
                   (u->host.ascii && (u->host.flags & CLAW_DOMAIN_IP) &&
                    g_hash_table_contains(io->set[IOC_IP], u->host.ascii))))
            hit(run, R_URL_IOC, "link %s matches an indicator", u->url);
        /* In HTML a reader clicks these; in plain text (a developer's
         * file:// path) they are only words. */
        if (u->source != CLAW_URL_TEXT &&
            (!strcmp(u->scheme, "javascript") || !strcmp(u->scheme, "vbscript") ||
             !strcmp(u->scheme, "file") ||
             (!strcmp(u->scheme, "data") && u->source != CLAW_URL_HTML_SRC)))
            hit(run, R_URL_DANGEROUS_SCHEME, "%s link (%s): %.80s", u->scheme,
                claw_url_source_to_string(u->source), u->url);
        if (!web || !u->host.ascii)
            continue;
        if (u->flags & CLAW_URL_IP_HOST)
            hit(run, R_URL_IP_LITERAL, "link %.120s goes to the address %s%s", u->raw,
                u->host.ascii,
                (u->flags & CLAW_URL_IP_OBFUSCATED) ? ", written in an obscured form" : "");
        if (u->flags & CLAW_URL_USERINFO_HOSTLIKE)
            hit(run, R_URL_USERINFO_TRICK, "link reads as %s but goes to %s", u->userinfo,
                u->host.ascii);
        if (in_domain_set(pol->shorteners, u->host.ascii))
            hit(run, R_URL_SHORTENER, "link through shortener %s", u->host.ascii);
        if (u->link_text && u->source == CLAW_URL_HTML_HREF) {
            char *shown = domain_in_text(run->e, u->link_text);
            const char *target = org(&u->host);
            /* Text naming the sender's own organisation over a click
             * tracker is how newsletters link; phishing shows someone
             * else's name. */
            const claw_address_t *from = first_address(run->m, CLAW_FIELD_FROM);
            bool own = shown && from && from->domain.ascii && !strcmp(shown, org(&from->domain));
            if (shown && target && strcmp(shown, target) != 0 && !own)
                hit(run, R_URL_TEXT_MISMATCH, "link text shows %s but the link goes to %s",
                    shown, u->host.ascii);
            g_free(shown);
        }
    }
}

static bool
executable_type(const char *t)
{
    static const char *const types[] = {
        "application/x-dosexec", "application/vnd.microsoft.portable-executable",
        "application/x-executable", "application/x-sharedlib", "application/x-pie-executable",
        "application/x-mach-binary", "application/x-msi", "application/x-ms-shortcut",
        "application/x-msdownload", "application/x-ms-installer", "application/java-archive",
        "application/x-java-archive",
    };
    for (size_t i = 0; t && i < G_N_ELEMENTS(types); i++)
        if (!strcmp(t, types[i]))
            return true;
    return false;
}

/* Extensions Windows runs or scripts when opened. */
static bool
dangerous_extension(const char *name)
{
    static const char *const exts[] = {
        "exe", "scr", "com", "pif", "bat", "cmd", "js", "jse", "vbs", "vbe", "wsf", "wsh",
        "hta", "lnk", "ps1", "msi", "msp", "jar", "cpl", "reg", "iso", "img", "vhd", "vhdx",
        "dll", "appx", "msix", "apk", "sh", "application", "gadget", "inf", "scf", "url",
    };
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot)
        return false;
    for (size_t i = 0; i < G_N_ELEMENTS(exts); i++)
        if (!g_ascii_strcasecmp(dot + 1, exts[i]))
            return true;
    return false;
}

static bool
document_extension(const char *ext, size_t n)
{
    static const char *const exts[] = {"pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
                                       "txt", "rtf", "jpg", "jpeg", "png", "gif", "csv", "odt",
                                       "htm", "html", "zip", "mp3", "mp4", "wav"};
    for (size_t i = 0; i < G_N_ELEMENTS(exts); i++)
        if (strlen(exts[i]) == n && !g_ascii_strncasecmp(ext, exts[i], n))
            return true;
    return false;
}

/* "invoice.pdf.exe", "photo.jpg      .scr": a document extension shown
 * before a dangerous one. */
static bool
double_extension(const char *name)
{
    if (!dangerous_extension(name))
        return false;
    const char *last = strrchr(name, '.');
    const char *prev = last;
    while (prev > name && (prev[-1] == ' ' || prev[-1] == '_'))
        prev--;
    const char *dot = NULL;
    for (const char *p = name; p < prev; p++)
        if (*p == '.')
            dot = p;
    return dot && document_extension(dot + 1, (size_t)(prev - dot - 1));
}

static bool
has_bidi_control(const char *s)
{
    return s && (strstr(s, "\xe2\x80\xae") || strstr(s, "\xe2\x80\xad") ||
                 strstr(s, "\xe2\x80\xab") || strstr(s, "\xe2\x80\xaa") ||
                 strstr(s, "\xe2\x81\xa6") || strstr(s, "\xe2\x81\xa7") ||
                 strstr(s, "\xe2\x81\xa8"));
}

static void
detect_attachments(run_t *run)
{
    const claw_iocs_t *io = run->e->iocs;
    for (size_t i = 0; i < run->m->n_attachments; i++) {
        const claw_attachment_t *a = &run->m->attachments[i];
        const char *name = a->filename ? a->filename : "(no name)";
        bool exe = executable_type(a->detected_type);
        if (io && a->sha256[0] && g_hash_table_contains(io->set[IOC_SHA256], a->sha256))
            hit(run, R_ATTACHMENT_IOC, "%s (part %s) has SHA-256 %s, an indicator", name,
                a->part, a->sha256);
        if (a->depth == 0 && exe)
            hit(run, R_ATTACHMENT_EXECUTABLE, "%s (part %s) is %s", name, a->part,
                a->detected_type);
        if (a->depth > 0 && (exe || dangerous_extension(a->filename)))
            hit(run, R_ATTACHMENT_ARCHIVE_EXECUTABLE, "archive member %s (part %s) is %s", name,
                a->part, exe ? a->detected_type : "a program or script by its name");
        if (has_bidi_control(a->filename))
            hit(run, R_ATTACHMENT_DISGUISED,
                "name of part %s has a right-to-left override that reverses its extension",
                a->part);
        else if (a->filename && double_extension(a->filename))
            hit(run, R_ATTACHMENT_DISGUISED, "%s (part %s) shows a document extension before "
                "the real one", name, a->part);
        else if (exe && a->declared_type && !executable_type(a->declared_type) &&
                 strcmp(a->declared_type, "application/octet-stream") != 0)
            hit(run, R_ATTACHMENT_DISGUISED, "%s (part %s) is declared %s but is %s", name,
                a->part, a->declared_type, a->detected_type);
        else if (exe && a->filename && !dangerous_extension(a->filename))
            hit(run, R_ATTACHMENT_DISGUISED, "%s (part %s) is %s under another name", name,
                a->part, a->detected_type);
        if (a->flags & CLAW_ATT_MACRO)
            hit(run, R_ATTACHMENT_MACRO, "%s (part %s) has macros", name, a->part);
        if ((a->flags & CLAW_ATT_ARCHIVE) && (a->flags & CLAW_ATT_ENCRYPTED))
            hit(run, R_ATTACHMENT_ENCRYPTED_ARCHIVE, "%s (part %s) is encrypted", name, a->part);
        if (a->flags & (CLAW_ATT_HTML_FORM | CLAW_ATT_HTML_SCRIPT))
            hit(run, R_ATTACHMENT_HTML_SMUGGLING, "%s (part %s) is %s with %s", name, a->part,
                a->detected_type ? a->detected_type : "HTML",
                (a->flags & CLAW_ATT_HTML_FORM) && (a->flags & CLAW_ATT_HTML_SCRIPT)
                    ? "a form and a script"
                : (a->flags & CLAW_ATT_HTML_FORM) ? "a form"
                                                  : "a script");
    }
}

static void
detect_sender_ioc(run_t *run)
{
    const claw_iocs_t *io = run->e->iocs;
    if (!io || io->count == 0)
        return;
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if (a->field >= CLAW_FIELD_TO || !*a->address)
            continue;
        char *lower = g_ascii_strdown(a->address, -1);
        bool by_address = g_hash_table_contains(io->set[IOC_SENDER], lower);
        g_free(lower);
        if (by_address || (a->domain.ascii && ioc_domain_match(io, a->domain.ascii)))
            hit(run, R_SENDER_IOC, "%s %s matches an indicator",
                claw_address_field_to_string(a->field), a->address);
    }
    if (run->env && run->env->mail_from && *run->env->mail_from) {
        char *lower = g_ascii_strdown(run->env->mail_from, -1);
        const char *at = strrchr(lower, '@');
        if (g_hash_table_contains(io->set[IOC_SENDER], lower) ||
            (at && ioc_domain_match(io, at + 1)))
            hit(run, R_SENDER_IOC, "envelope sender %s matches an indicator",
                run->env->mail_from);
        g_free(lower);
    }
    if (run->env && run->env->client_ip &&
        g_hash_table_contains(io->set[IOC_IP], run->env->client_ip))
        hit(run, R_SENDER_IOC, "client %s matches an indicator", run->env->client_ip);
    for (size_t h = 0; h < run->m->n_received; h++) {
        const char *ip = run->m->received[h].ip;
        if (ip && g_hash_table_contains(io->set[IOC_IP], ip))
            hit(run, R_SENDER_IOC, "Received hop %s matches an indicator", ip);
    }
}

/* Payment fraud wording, lower case, in English, German, French and
 * Spanish. Each phrase alone is enough to say what the mail asks for. */
static const struct {
    const char *phrase;
    const char *what;
} bec_phrases[] = {
    {"new bank account", "new bank details"},
    {"changed our bank", "new bank details"},
    {"change of bank details", "new bank details"},
    {"changed bank details", "new bank details"},
    {"updated bank details", "new bank details"},
    {"new banking details", "new bank details"},
    {"bank details have changed", "new bank details"},
    {"bank account has changed", "new bank details"},
    {"new account details", "new bank details"},
    {"neue bankverbindung", "new bank details"},
    {"bankverbindung hat sich ge", "new bank details"},
    {"bankverbindung ge\xc3\xa4ndert", "new bank details"},
    {"neue kontoverbindung", "new bank details"},
    {"nouvelles coordonn\xc3\xa9" "es bancaires", "new bank details"},
    {"nouveau rib", "new bank details"},
    {"changement de coordonn\xc3\xa9" "es bancaires", "new bank details"},
    {"nouveau compte bancaire", "new bank details"},
    {"nueva cuenta bancaria", "new bank details"},
    {"cambio de cuenta bancaria", "new bank details"},
    {"nuevos datos bancarios", "new bank details"},
    {"gift card", "gift cards"},
    {"itunes card", "gift cards"},
    {"google play card", "gift cards"},
    {"geschenkkarte", "gift cards"},
    {"gutscheinkarte", "gift cards"},
    {"cartes cadeaux", "gift cards"},
    {"carte cadeau", "gift cards"},
    {"tarjetas de regalo", "gift cards"},
    {"tarjeta de regalo", "gift cards"},
    {"urgent wire", "an urgent wire transfer"},
    {"wire transfer today", "an urgent wire transfer"},
    {"urgent transfer", "an urgent wire transfer"},
    {"dringende \xc3\xbc" "berweisung", "an urgent wire transfer"},
    {"virement urgent", "an urgent wire transfer"},
    {"transferencia urgente", "an urgent wire transfer"},
};

/* An IBAN in @s (letters folded to upper case): two letters, two check
 * digits and 11-30 letters or digits, spaces allowed in groups, passing
 * ISO 13616's mod-97 check. Copies it into @out (35 bytes). */
static bool
find_iban(const char *s, char out[35])
{
    for (const char *p = s; *p; p++) {
        if (!g_ascii_isalpha(p[0]) || !g_ascii_isalpha(p[1]) || !g_ascii_isdigit(p[2]) ||
            !g_ascii_isdigit(p[3]) || (p > s && g_ascii_isalnum(p[-1])))
            continue;
        char iban[35];
        size_t n = 0;
        for (const char *q = p; *q && n < 34; q++) {
            if (g_ascii_isalnum(*q))
                iban[n++] = g_ascii_toupper(*q);
            else if (*q != ' ' || !g_ascii_isalnum(q[1]))
                break;
        }
        /* The length depends on the country and the text may run on into
         * the next word: try every length, longest first. */
        for (size_t len = n; len >= 15; len--) {
            /* Move the first four to the end, letters to 10..35; mod 97 is 1. */
            unsigned rem = 0;
            for (size_t k = 0; k < len; k++) {
                char c = iban[(k + 4) % len];
                if (g_ascii_isdigit(c))
                    rem = (rem * 10 + (unsigned)(c - '0')) % 97;
                else
                    rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
            }
            if (rem == 1) {
                memcpy(out, iban, len);
                out[len] = '\0';
                return true;
            }
        }
    }
    return false;
}

static void
detect_bec(run_t *run)
{
    const claw_message_t *m = run->m;
    const char *what = NULL;
    char iban[35] = "";
    /* The subject and the first 4 KiB of each text: payment fraud is short
     * mail and its request sits on top, above any quoted thread. HTML text
     * only when there is no plain-text alternative saying the same. Folded
     * to ASCII lower case: the phrases are lower case, and capitalised
     * non-ASCII letters are rare mid-sentence. */
    enum { BEC_SCAN = 4096 };
    bool has_plain = false;
    for (size_t i = 0; i < m->n_texts; i++)
        has_plain = has_plain || !strcmp(m->texts[i].content_type, "text/plain");
    char low[BEC_SCAN + 1];
    for (size_t i = 0; i <= m->n_texts && !what; i++) {
        const char *t = i == m->n_texts ? m->subject : m->texts[i].text;
        if (!t || (i < m->n_texts && has_plain &&
                   strcmp(m->texts[i].content_type, "text/plain") != 0))
            continue;
        size_t len = i == m->n_texts ? strlen(t) : m->texts[i].length;
        len = MIN(len, (size_t)BEC_SCAN);
        for (size_t k = 0; k < len; k++) {
            unsigned char c = (unsigned char)t[k];
            low[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        low[len] = '\0';
        for (size_t k = 0; k < G_N_ELEMENTS(bec_phrases) && !what; k++)
            if (strstr(low, bec_phrases[k].phrase))
                what = bec_phrases[k].what;
        if (what && !iban[0])
            find_iban(t, iban);
    }
    if (!what)
        return;
    /* Who asks matters: free-mail, a lookalike, or (with a policy) anyone
     * outside our domains. */
    const claw_policy_t *pol = run->e->policy;
    const char *why = NULL;
    for (size_t i = 0; i < m->n_addresses && !why; i++) {
        const claw_address_t *a = &m->addresses[i];
        if ((a->field == CLAW_FIELD_FROM || a->field == CLAW_FIELD_REPLY_TO) && a->domain.ascii &&
            in_domain_set(pol->freemail, a->domain.ascii))
            why = "from free-mail";
    }
    if (!why && (run->vp->count[R_LOOKALIKE_DOMAIN] || run->vp->count[R_DISPLAY_NAME_IMPERSONATION]))
        why = "from an impersonating sender";
    const claw_address_t *from = first_address(m, CLAW_FIELD_FROM);
    if (!why && g_hash_table_size(pol->protected_domains) && from && from->domain.ascii &&
        !in_domain_set(pol->protected_domains, from->domain.ascii))
        why = "from outside our domains";
    hit(run, R_BEC_PAYMENT_CHANGE, "asks about %s%s%s%s%s", what, iban[0] ? ", IBAN " : "",
        iban, why ? ", " : "", why ? why : "");
    if (why) {
        claw_rule_hit_t *h =
            &g_array_index(run->vp->hits, claw_rule_hit_t, run->vp->index[R_BEC_PAYMENT_CHANGE]);
        h->score *= 2;
    }
}

static void
detect_structure(run_t *run)
{
    static const claw_anomaly_code_t ambiguous[] = {
        CLAW_ANOM_GMIME_CONFLICTING_HEADER, CLAW_ANOM_GMIME_CONFLICTING_PARAMETER,
        CLAW_ANOM_CONFLICTING_HEADER, CLAW_ANOM_GMIME_MULTIPART_WITHOUT_BOUNDARY,
        CLAW_ANOM_GMIME_NESTING_OVERFLOW, CLAW_ANOM_GMIME_PART_WITHOUT_HEADERS_OR_CONTENT,
        CLAW_ANOM_GMIME_INVALID_HEADER_NAME,
    };
    const claw_message_t *m = run->m;
    for (size_t i = 0; i < m->n_anomalies; i++) {
        const claw_anomaly_t *a = &m->anomalies[i];
        for (size_t k = 0; k < G_N_ELEMENTS(ambiguous); k++)
            if (a->code == ambiguous[k])
                hit(run, R_MIME_AMBIGUOUS, "%s: %s", claw_anomaly_code_to_string(a->code),
                    a->detail);
        if (claw_anomaly_code_is_limit(a->code))
            hit(run, R_UNSCANNABLE, "%s: %s", claw_anomaly_code_to_string(a->code), a->detail);
    }
    if (!m->is_message)
        hit(run, R_UNSCANNABLE, "not a message: %s",
            m->n_anomalies ? m->anomalies[m->n_anomalies - 1].detail : "no header fields");
}

/* ------------------------------------------------------------------------
 * Entry points
 * --------------------------------------------------------------------- */

claw_status_t
claw_classify(claw_engine_t *e, const claw_message_t *m, const claw_envelope_t *env,
              claw_verdict_t **out)
{
    if (!e || !m || !out)
        return CLAW_STATUS_INVALID_ARGUMENT;
    iocs_refresh(e);
    claw_verdict_t *v = g_new0(claw_verdict_t, 1);
    struct claw_verdict_private *vp = g_new0(struct claw_verdict_private, 1);
    vp->hits = g_array_new(FALSE, TRUE, sizeof(claw_rule_hit_t));
    vp->strings = g_string_chunk_new(1024);
    for (int r = 0; r < R_LAST; r++)
        vp->index[r] = -1;
    v->priv = vp;
    run_t run = {.e = e, .m = m, .env = env, .v = v, .vp = vp};

    detect_structure(&run);
    detect_spoof(&run);
    detect_lookalikes(&run);
    detect_display_names(&run);
    detect_reply_to(&run);
    detect_sender_ioc(&run);
    detect_urls(&run);
    detect_attachments(&run);
    detect_bec(&run); /* after the sender rules: it weighs their hits */

    /* A rule that fired more than once says so in its detail; a rule
     * weighted 0 is silenced. */
    GArray *kept = g_array_new(FALSE, TRUE, sizeof(claw_rule_hit_t));
    for (guint i = 0; i < vp->hits->len; i++) {
        claw_rule_hit_t h = g_array_index(vp->hits, claw_rule_hit_t, i);
        int r = _claw_rule_index(h.rule);
        if (h.score == 0)
            continue;
        if (vp->count[r] > 1) {
            char *d = g_strdup_printf("%s (and %u more)", h.detail, vp->count[r] - 1);
            h.detail = g_string_chunk_insert(vp->strings, d);
            g_free(d);
        }
        v->score += h.score;
        g_array_append_val(kept, h);
    }
    g_array_free(vp->hits, TRUE);
    vp->hits = kept;
    v->rules = (const claw_rule_hit_t *)kept->data;
    v->n_rules = kept->len;
    const claw_config_t *c = e->config;
    v->action = v->score >= c->reject_score       ? CLAW_ACTION_REJECT
                : v->score >= c->quarantine_score ? CLAW_ACTION_QUARANTINE
                : v->score >= c->tag_score        ? CLAW_ACTION_TAG
                                                  : CLAW_ACTION_ACCEPT;
    *out = v;
    return CLAW_STATUS_SUCCESS;
}

int
claw_verdict_has_rule(const claw_verdict_t *v, const char *rule)
{
    for (size_t i = 0; v && rule && i < v->n_rules; i++)
        if (!strcmp(v->rules[i].rule, rule))
            return 1;
    return 0;
}

void
_claw_verdict_adopt(claw_verdict_t *v, claw_message_t *m)
{
    v->priv->message = m;
}

const claw_message_t *
claw_verdict_message(const claw_verdict_t *v)
{
    return v && v->priv ? v->priv->message : NULL;
}

void
claw_verdict_destroy(claw_verdict_t *v)
{
    if (!v)
        return;
    if (v->priv) {
        claw_message_destroy(v->priv->message);
        g_array_free(v->priv->hits, TRUE);
        g_string_chunk_free(v->priv->strings);
        g_free(v->priv);
    }
    g_free(v);
}
