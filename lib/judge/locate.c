/* locate.c - where in a message an indicator is (claw_message_locate_ioc):
 * what a hunt record says of each message it found, and what an
 * investigator needs to judge the hit. The places follow the ones the
 * archive's index holds for a hunt (search/cli/cmd-hunt.c): a message found
 * by the index gets at least one place here, from the same model.
 */
#include "build-config.h"

#include "judge/judge.h"

#include <string.h>

typedef struct {
    void (*fn)(void *ctx, const char *where);
    void *ctx;
    size_t n;
    GString *buf;
} places_t;

static void CLAW_PRINTF(2, 3)
place(places_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_string_vprintf(p->buf, fmt, ap);
    va_end(ap);
    p->fn(p->ctx, p->buf->str);
    p->n++;
}

/* Is @host @domain or under it? */
static bool
in_domain(const char *host, const char *domain)
{
    if (!host)
        return false;
    size_t h = strlen(host), d = strlen(domain);
    return h == d ? !g_ascii_strcasecmp(host, domain)
                  : h > d && host[h - d - 1] == '.' && !g_ascii_strcasecmp(host + h - d, domain);
}

static const char *const field_names[CLAW_FIELD_LAST] = {"From", "Sender", "Reply-To",
                                                         "Return-Path", "To", "Cc", "Bcc"};

/* The envelope sender's domain (after its last '@'), or NULL. */
static const char *
mail_from_domain(const claw_envelope_t *env)
{
    const char *at = env && env->mail_from ? strrchr(env->mail_from, '@') : NULL;
    return at ? at + 1 : NULL;
}

/* The senders' addresses: From, Sender, Reply-To, Return-Path and the
 * envelope sender, matched by @match(address or domain, @key). */
static void
senders(places_t *p, const claw_message_t *m, const claw_envelope_t *env, const char *key,
        bool by_domain)
{
    for (size_t i = 0; i < m->n_addresses; i++) {
        const claw_address_t *a = &m->addresses[i];
        if (a->field > CLAW_FIELD_RETURN_PATH)
            continue;
        bool hit = by_domain ? in_domain(a->domain.ascii, key)
                             : a->address && !g_ascii_strcasecmp(a->address, key);
        if (hit)
            place(p, "%s: %s", field_names[a->field], a->address);
    }
    if (env && env->mail_from &&
        (by_domain ? in_domain(mail_from_domain(env), key) : !g_ascii_strcasecmp(env->mail_from, key)))
        place(p, "envelope sender: %s", env->mail_from);
}

/* An IP (or, with @cidr, any IP in the range) in the Received hops, the
 * client's address and the links to an IP. */
static void
addresses_of_ip(places_t *p, const claw_message_t *m, const claw_envelope_t *env, const char *key,
                const claw_cidr_t *cidr)
{
#define IP_IS(ip) ((ip) && (cidr ? claw_cidr_contains_text(cidr, (ip)) : !strcmp((ip), key)))
    if (env && IP_IS(env->client_ip))
        place(p, "client IP: %s", env->client_ip);
    for (size_t i = 0; i < m->n_received; i++) {
        const claw_received_t *r = &m->received[i];
        if (IP_IS(r->ip))
            place(p, "Received hop %zu: from %s [%s]", i + 1, r->from ? r->from : "?", r->ip);
    }
    for (size_t i = 0; i < m->n_urls; i++) {
        const claw_url_t *u = &m->urls[i];
        if (IP_IS(u->host.ascii))
            place(p, "link (%s) in part %s: %s", claw_url_source_to_string(u->source), u->part,
                  u->url);
    }
#undef IP_IS
}

size_t
claw_message_locate_ioc(const claw_message_t *m, const claw_envelope_t *env, const char *type,
                        const char *key, void (*fn)(void *ctx, const char *where), void *ctx)
{
    if (!m || !type || !key || !fn)
        return 0;
    places_t p = {fn, ctx, 0, g_string_new(NULL)};
    if (!strcmp(type, "url") || !strcmp(type, "host") || !strcmp(type, "domain")) {
        for (size_t i = 0; i < m->n_urls; i++) {
            const claw_url_t *u = &m->urls[i];
            bool hit = !strcmp(type, "url")    ? u->url && !strcmp(u->url, key)
                       : !strcmp(type, "host") ? u->host.ascii && !strcmp(u->host.ascii, key)
                                               : in_domain(u->host.ascii, key);
            if (hit)
                place(&p, "link (%s) in part %s: %s", claw_url_source_to_string(u->source),
                      u->part ? u->part : "?", u->url);
        }
        if (!strcmp(type, "domain"))
            senders(&p, m, env, key, true);
    } else if (!strcmp(type, "sender")) {
        senders(&p, m, env, key, false);
    } else if (!strcmp(type, "sha256")) {
        if (!strcmp(m->sha256, key))
            place(&p, "the whole message");
        for (size_t i = 0; i < m->n_attachments; i++) {
            const claw_attachment_t *a = &m->attachments[i];
            if (!strcmp(a->sha256, key))
                place(&p, "%s %s, part %s", a->depth ? "archive member" : "attachment",
                      a->filename ? a->filename : "(no name)", a->part);
        }
    } else if (!strcmp(type, "message-id")) {
        if (m->message_id && !g_ascii_strcasecmp(m->message_id, key))
            place(&p, "Message-ID");
    } else if (!strcmp(type, "ip")) {
        claw_cidr_t cidr;
        bool range = strchr(key, '/') && claw_cidr_parse(key, &cidr) == CLAW_STATUS_SUCCESS;
        addresses_of_ip(&p, m, env, key, range ? &cidr : NULL);
    }
    g_string_free(p.buf, TRUE);
    return p.n;
}
