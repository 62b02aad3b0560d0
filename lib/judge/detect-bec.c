/* detect-bec.c - BEC_PAYMENT_CHANGE: a request to change where payments
 * go (bank details, an IBAN with valid check digits) from a sender that is
 * not who it claims, or is new. Runs last: it weighs the sender rules' hits.
 */
#include "build-config.h"

#include "judge/judge.h"

#include <string.h>

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

void
_claw_detect_bec(run_t *run)
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
            _claw_in_domain_set(pol->freemail, a->domain.ascii))
            why = "from free-mail";
    }
    if (!why && (run->vp->count[R_LOOKALIKE_DOMAIN] || run->vp->count[R_DISPLAY_NAME_IMPERSONATION]))
        why = "from an impersonating sender";
    const claw_address_t *from = _claw_first_address(m, CLAW_FIELD_FROM);
    if (!why && g_hash_table_size(pol->protected_domains) && from && from->domain.ascii &&
        !_claw_in_domain_set(pol->protected_domains, from->domain.ascii))
        why = "from outside our domains";
    _claw_hit(run, R_BEC_PAYMENT_CHANGE, "asks about %s%s%s%s%s", what, iban[0] ? ", IBAN " : "",
        iban, why ? ", " : "", why ? why : "");
    if (why) {
        claw_rule_hit_t *h =
            &g_array_index(run->vp->hits, claw_rule_hit_t, run->vp->index[R_BEC_PAYMENT_CHANGE]);
        h->score *= 2;
    }
}
