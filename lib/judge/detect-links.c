/* detect-links.c - the detectors of a message's URLs: URL_IOC,
 * URL_TEXT_MISMATCH, URL_IP_LITERAL, URL_USERINFO_TRICK, URL_SHORTENER and
 * URL_DANGEROUS_SCHEME (URL_LOOKALIKE is in lookalike.c).
 */
#include "build-config.h"

#include "judge/judge.h"

#include <string.h>

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

void
_claw_detect_urls(run_t *run)
{
    const claw_policy_t *pol = run->e->policy;
    const claw_iocs_t *io = run->e->iocs;
    for (size_t i = 0; i < run->m->n_urls; i++) {
        const claw_url_t *u = &run->m->urls[i];
        bool web = !strcmp(u->scheme, "http") || !strcmp(u->scheme, "https");
        if (io) {
            claw_action_t asks = _claw_ioc_asks(io, IOC_URL, u->url);
            if (u->host.ascii)
                asks = MAX(asks, _claw_ioc_domain_asks(io, u->host.ascii));
            if (u->host.ascii && (u->host.flags & CLAW_DOMAIN_IP))
                asks = MAX(asks, _claw_ioc_asks(io, IOC_IP, u->host.ascii));
            _claw_hit_ioc(run, R_URL_IOC, asks, "link %s matches an indicator", u->url);
        }
        /* In HTML a reader clicks these; in plain text (a developer's
         * file:// path) they are only words. */
        if (u->source != CLAW_URL_TEXT &&
            (!strcmp(u->scheme, "javascript") || !strcmp(u->scheme, "vbscript") ||
             !strcmp(u->scheme, "file") ||
             (!strcmp(u->scheme, "data") && u->source != CLAW_URL_HTML_SRC)))
            _claw_hit(run, R_URL_DANGEROUS_SCHEME, "%s link (%s): %.80s", u->scheme,
                claw_url_source_to_string(u->source), u->url);
        if (!web || !u->host.ascii)
            continue;
        if (u->flags & CLAW_URL_IP_HOST)
            _claw_hit(run, R_URL_IP_LITERAL, "link %.120s goes to the address %s%s", u->raw,
                u->host.ascii,
                (u->flags & CLAW_URL_IP_OBFUSCATED) ? ", written in an obscured form" : "");
        if (u->flags & CLAW_URL_USERINFO_HOSTLIKE)
            _claw_hit(run, R_URL_USERINFO_TRICK, "link reads as %s but goes to %s", u->userinfo,
                u->host.ascii);
        if (_claw_in_domain_set(pol->shorteners, u->host.ascii))
            _claw_hit(run, R_URL_SHORTENER, "link through shortener %s", u->host.ascii);
        if (u->link_text && u->source == CLAW_URL_HTML_HREF) {
            char *shown = domain_in_text(run->e, u->link_text);
            const char *target = _claw_org(&u->host);
            /* Text naming the sender's own organisation over a click
             * tracker is how newsletters link; phishing shows someone
             * else's name. */
            const claw_address_t *from = _claw_first_address(run->m, CLAW_FIELD_FROM);
            bool own = shown && from && from->domain.ascii && !strcmp(shown, _claw_org(&from->domain));
            if (shown && target && strcmp(shown, target) != 0 && !own)
                _claw_hit(run, R_URL_TEXT_MISMATCH, "link text shows %s but the link goes to %s",
                    shown, u->host.ascii);
            g_free(shown);
        }
    }
}
