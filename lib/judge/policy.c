/* policy.c - [policy] compiled once per engine: our and our partners'
 * domains prepared for lookalike comparison, the VIP and brand names to
 * watch in display names (with the built-in brands most often
 * impersonated), free-mail and shortener domains, trusted authserv-ids and
 * internal relays.
 */
#include "build-config.h"

#include "judge/judge.h"

#include <stdlib.h>
#include <string.h>

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

GHashTable *
_claw_word_set(void)
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
        g_strfreev(g_array_index(p->names, name_t, i).forms);
        g_free(g_array_index(p->names, name_t, i).run_together);
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

/* A name reduced to what a reader sees: NFKC, case-folded, confusables
 * folded (UTS #39 skeleton), every run of non-letters one space, with a
 * space at both ends so whole words can be searched for with strstr. */
char *
_claw_norm_name(USpoofChecker *sc, const char *name)
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
    /* Case and accents are how a name is written, not which name it is:
     * "SMITH", "Smíth" and "smith" are one. Folded before the confusable
     * skeleton, which reads an upper-case I as an l. */
    char *nfkc = g_utf8_normalize(plain->str, -1, G_NORMALIZE_ALL_COMPOSE);
    g_string_free(plain, TRUE);
    char *folded = nfkc ? g_utf8_casefold(nfkc, -1) : NULL;
    char *nfd = folded ? g_utf8_normalize(folded, -1, G_NORMALIZE_NFD) : NULL;
    g_free(folded);
    g_free(nfkc);
    if (!nfd)
        return g_strdup(" ");
    GString *bare = g_string_new(NULL);
    for (const char *p = nfd; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (!g_unichar_ismark(c))
            g_string_append_unichar(bare, c);
    }
    g_free(nfd);
    nfkc = g_utf8_normalize(bare->str, -1, G_NORMALIZE_ALL_COMPOSE);
    g_string_free(bare, TRUE);
    if (!nfkc)
        return g_strdup(" ");
    char *skel = _claw_fold_skeleton(sc, nfkc);
    GString *s = g_string_new(" ");
    for (const char *p = skel; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isalnum(c))
            g_string_append_unichar(s, c);
        else if (g_unichar_ismark(c))
            continue; /* the skeleton's overlay on an o: "s\u00f8ren" reads "soren" */
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

char *
_claw_name_without_initials(const char *norm)
{
    GString *s = g_string_new(" ");
    for (const char *p = norm; *p;) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        /* One byte: an ASCII letter or digit; a longer character stays.
         * "rn" is the one letter m: its UTS #39 skeleton ("Jane M. Doe"). */
        if (p - w > 1 && !(p - w == 2 && !strncmp(w, "rn", 2)))
            g_string_append_printf(s, "%.*s ", (int)(p - w), w);
    }
    return g_string_free(s, FALSE);
}

char *
_claw_name_run_together(const char *norm)
{
    GString *s = g_string_new(NULL);
    for (const char *p = norm; *p; p++)
        if (*p != ' ')
            g_string_append_c(s, *p);
    return g_string_free(s, FALSE);
}

/* @n's other forms (name_t): the surname first at every word boundary
 * (" jane q doe " as " q doe jane " and " doe jane q ": a surname may be
 * two words, "O'Donnell", "Al-Harthy"), then all of them, the name
 * included, without one-letter words. */
static void
name_forms(name_t *n)
{
    char *trimmed = g_strstrip(g_strdup(n->norm));
    gchar **w = g_strsplit(trimmed, " ", -1);
    g_free(trimmed);
    guint k = g_strv_length(w);
    GPtrArray *forms = g_ptr_array_new();
    for (guint cut = 1; cut < k; cut++) {
        GString *s = g_string_new(" ");
        for (guint i = 0; i < k; i++)
            g_string_append_printf(s, "%s ", w[(cut + i) % k]);
        g_ptr_array_add(forms, g_string_free(s, FALSE));
    }
    n->n_rotated = forms->len;
    guint rotations = forms->len;
    for (guint i = 0; i <= rotations; i++) {
        char *plain = _claw_name_without_initials(i ? g_ptr_array_index(forms, i - 1) : n->norm);
        /* Two words at least: "J Smith" without its J would be any Smith. */
        const char *second = strchr(plain + 1, ' ');
        if (second && second[1])
            g_ptr_array_add(forms, plain);
        else
            g_free(plain);
    }
    g_ptr_array_add(forms, NULL);
    n->forms = (char **)g_ptr_array_free(forms, FALSE);
    if (k >= 2)
        n->run_together = _claw_name_run_together(n->norm);
    g_strfreev(w);
}

static void
add_name(claw_policy_t *p, const char *shown, const char *alias, bool brand)
{
    bool exact = alias[0] == '=';
    name_t n = {.shown = g_strdup(shown[0] == '=' ? shown + 1 : shown),
                .norm = _claw_norm_name(p->spoof, alias + exact),
                .brand = brand,
                .exact = exact};
    if (strlen(n.norm) < 4) { /* a letter or two would match everything */
        g_free(n.shown);
        g_free(n.norm);
        return;
    }
    if (!brand)
        name_forms(&n);
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
        t.skeleton = _claw_fold_skeleton(p->spoof, t.label);
        t.visual = _claw_visual_fold(p->spoof, t.label);
        g_array_append_val(p->targets, t);
    }
}

claw_status_t
_claw_policy_new(const claw_config_t *config, const psl_ctx_t *psl, claw_policy_t **out,
                 char **error)
{
    const claw_policy_config_t *pc = &config->policy;
    claw_policy_t *p = g_new0(claw_policy_t, 1);
    p->protected_domains = _claw_word_set();
    p->partner_domains = _claw_word_set();
    p->trusted_authserv = _claw_word_set();
    p->freemail = _claw_word_set();
    p->shorteners = _claw_word_set();
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
        char *norm = _claw_norm_name(p->spoof, service_words[i]);
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
bool
_claw_in_domain_set(GHashTable *set, const char *name)
{
    for (const char *p = name; p && *p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
        if (g_hash_table_contains(set, p))
            return true;
    return false;
}
