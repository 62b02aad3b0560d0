/* lookalike.c - cousin domains: is a host one of our or our partners'
 * domains in disguise? Labels are compared by their UTS #39 confusable
 * skeletons (ICU uspoof), as a reader takes them (glyph groups folded), and
 * by dnstwist's permutation classes: one edit, hyphens, plural, another
 * suffix, a split by a dot, the name inside a longer name or host. The
 * LOOKALIKE_DOMAIN and URL_LOOKALIKE rules.
 */
#include "build-config.h"

#include "judge/judge.h"

#include <string.h>

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

/* Lower-cased UTS #39 skeleton of @label (UTF-8), with the letter pairs
 * that read as one letter and that the skeleton data keeps apart folded
 * too: "vv" (w), "cl" (d), "nn" (m). */
char *
_claw_fold_skeleton(USpoofChecker *sc, const char *label)
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
char *
_claw_visual_fold(USpoofChecker *sc, const char *label)
{
    /* Before the skeleton too, which would turn some of them (small
     * capitals) into letters of other scripts. */
    GString *pre = g_string_new(NULL);
    for (const char *p = label; *p; p = g_utf8_next_char(p))
        append_glyph_letter(pre, g_utf8_get_char(p));
    char *skel = _claw_fold_skeleton(sc, pre->str);
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
    char *skel = _claw_fold_skeleton(pol->spoof, ulabel);
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
    char *vis = _claw_visual_fold(pol->spoof, ulabel);
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

void
_claw_detect_lookalikes(run_t *run)
{
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if (a->field != CLAW_FIELD_FROM && a->field != CLAW_FIELD_SENDER &&
            a->field != CLAW_FIELD_REPLY_TO && a->field != CLAW_FIELD_RETURN_PATH)
            continue;
        const target_t *t = NULL;
        const char *how = lookalike(run, &a->domain, &t);
        if (how)
            _claw_hit(run, R_LOOKALIKE_DOMAIN, "%s %s: %s imitates %s (%s domain): %s",
                claw_address_field_to_string(a->field), a->address, a->domain.unicode,
                t->registrable, t->partner ? "partner" : "protected", how);
    }
    for (size_t i = 0; i < run->m->n_urls; i++) {
        const claw_url_t *u = &run->m->urls[i];
        const target_t *t = NULL;
        const char *how = lookalike(run, &u->host, &t);
        if (how)
            _claw_hit(run, R_URL_LOOKALIKE, "link %.120s: %s imitates %s (%s domain): %s", u->url,
                u->host.unicode, t->registrable, t->partner ? "partner" : "protected", how);
    }
}
