/* rules.h - the classifier's rules, in the stable order of the rule table
 * (rules.c). Libc only: the table is compiled into claw_exim.so too, which
 * reads the configuration ([weights] included) with config.c. */
#ifndef CLAW_RULES_H
#define CLAW_RULES_H

typedef enum {
    R_SPOOF_PROTECTED_DOMAIN,
    R_LOOKALIKE_DOMAIN,
    R_DISPLAY_NAME_IMPERSONATION,
    R_REPLY_TO_DIVERTS,
    R_URL_IOC,
    R_URL_LOOKALIKE,
    R_URL_TEXT_MISMATCH,
    R_URL_IP_LITERAL,
    R_URL_USERINFO_TRICK,
    R_URL_SHORTENER,
    R_URL_DANGEROUS_SCHEME,
    R_ATTACHMENT_EXECUTABLE,
    R_ATTACHMENT_DISGUISED,
    R_ATTACHMENT_MACRO,
    R_ATTACHMENT_ARCHIVE_EXECUTABLE,
    R_ATTACHMENT_ENCRYPTED_ARCHIVE,
    R_ATTACHMENT_HTML_SMUGGLING,
    R_ATTACHMENT_IOC,
    R_SENDER_IOC,
    R_BEC_PAYMENT_CHANGE,
    R_MIME_AMBIGUOUS,
    R_UNSCANNABLE,
    R_ENVELOPE_SENDER_ELSEWHERE, /* added last: the table's order is stable */
    R_DMARC_SPOOF,
    R_DMARC_REJECT,
    R_DMARC_QUARANTINE,
    R_LAST
} rule_t;

#endif /* CLAW_RULES_H */
