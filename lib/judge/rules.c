/* rules.c - the rule table: each rule's name, default score and one line
 * of documentation ([weights] in the sample configuration is written from
 * it). Libc only, like config.c, which reads [weights] by these names. */
#include "build-config.h"

#include "claw-config.h"
#include "judge/rules.h"

#include <string.h>


static const struct {
    const char *name;
    double score;
    const char *doc;
} rules[R_LAST] = {
    [R_SPOOF_PROTECTED_DOMAIN] = {"SPOOF_PROTECTED_DOMAIN", 9,
                                  "From is a protected domain without trusted authentication."},
    [R_LOOKALIKE_DOMAIN] = {"LOOKALIKE_DOMAIN", 8,
                            "A sender domain imitates a protected or partner domain."},
    [R_URL_LOOKALIKE] = {"URL_LOOKALIKE", 7,
                         "A link goes to a domain imitating a protected or partner domain."},
    [R_DISPLAY_NAME_IMPERSONATION] = {"DISPLAY_NAME_IMPERSONATION", 6,
                                      "A display name names a VIP, a brand or one of our domains "
                                      "while the address is elsewhere."},
    [R_REPLY_TO_DIVERTS] = {"REPLY_TO_DIVERTS", 2,
                            "Replies go to another organisation than From (more if free-mail)."},
    [R_URL_IOC] = {"URL_IOC", 15, "A link matches an indicator (url, host, domain or ip)."},
    [R_URL_TEXT_MISMATCH] = {"URL_TEXT_MISMATCH", 4,
                             "A link's visible text names another domain than its target."},
    [R_URL_IP_LITERAL] = {"URL_IP_LITERAL", 3, "A link goes to an IP address (any encoding)."},
    [R_URL_USERINFO_TRICK] = {"URL_USERINFO_TRICK", 6,
                              "A link starts with a host name that is only its user part."},
    [R_URL_SHORTENER] = {"URL_SHORTENER", 1, "A link goes through a URL shortener."},
    [R_URL_DANGEROUS_SCHEME] = {"URL_DANGEROUS_SCHEME", 5,
                                "A link or form uses javascript:, vbscript:, data: or file:."},
    [R_ATTACHMENT_EXECUTABLE] = {"ATTACHMENT_EXECUTABLE", 9,
                                 "An attachment is a program, judged by its content."},
    [R_ATTACHMENT_DISGUISED] = {"ATTACHMENT_DISGUISED", 7,
                                "An attachment's name or declared type hides what it is."},
    [R_ATTACHMENT_MACRO] = {"ATTACHMENT_MACRO", 5, "An Office document carries macros."},
    [R_ATTACHMENT_ARCHIVE_EXECUTABLE] = {"ATTACHMENT_ARCHIVE_EXECUTABLE", 8,
                                         "An archive holds a program or script."},
    [R_ATTACHMENT_ENCRYPTED_ARCHIVE] = {"ATTACHMENT_ENCRYPTED_ARCHIVE", 4,
                                        "An archive is encrypted, so it could not be checked."},
    [R_ATTACHMENT_HTML_SMUGGLING] = {"ATTACHMENT_HTML_SMUGGLING", 6,
                                     "An HTML or SVG attachment has a form or a script."},
    [R_ATTACHMENT_IOC] = {"ATTACHMENT_IOC", 20, "An attachment's SHA-256 matches an indicator."},
    [R_SENDER_IOC] = {"SENDER_IOC", 15,
                      "The sender's address, domain or IP matches an indicator."},
    [R_BEC_PAYMENT_CHANGE] = {"BEC_PAYMENT_CHANGE", 4,
                              "Changed bank details, an urgent wire or a gift-card request "
                              "(more from free-mail or lookalike senders)."},
    [R_MIME_AMBIGUOUS] = {"MIME_AMBIGUOUS", 2,
                          "The MIME structure reads differently in different mail clients."},
    [R_UNSCANNABLE] = {"UNSCANNABLE", 6,
                       "A limit was hit or the input is not a message: not scanned in full."},
    [R_ENVELOPE_SENDER_ELSEWHERE] = {"ENVELOPE_SENDER_ELSEWHERE", 3,
                                     "From claims a protected or partner domain, the envelope "
                                     "sender is in another organisation, and nothing trusted "
                                     "vouches for the From."},
    [R_DMARC_SPOOF] = {"DMARC_SPOOF", 9,
                       "From claims a protected or partner domain and fails that domain's "
                       "DMARC, as Clawback evaluated it."},
    [R_DMARC_REJECT] = {"DMARC_REJECT", 4,
                        "The message fails the DMARC of its From domain, which asks receivers "
                        "to reject such mail (p=reject)."},
    [R_DMARC_QUARANTINE] = {"DMARC_QUARANTINE", 2,
                            "The message fails the DMARC of its From domain, which asks "
                            "receivers to quarantine such mail (p=quarantine)."},
};
_Static_assert(R_LAST <= CLAW_N_RULES_MAX, "raise CLAW_N_RULES_MAX");

int
_claw_rule_index(const char *name)
{
    for (int i = 0; i < R_LAST; i++)
        if (!strcmp(rules[i].name, name))
            return i;
    return -1;
}

size_t
_claw_rule_count(void)
{
    return R_LAST;
}

const char *
_claw_rule_name(size_t i)
{
    return i < R_LAST ? rules[i].name : NULL;
}

double
_claw_rule_default_score(size_t i)
{
    return i < R_LAST ? rules[i].score : 0;
}

const char *
_claw_rule_doc(size_t i)
{
    return i < R_LAST ? rules[i].doc : NULL;
}

