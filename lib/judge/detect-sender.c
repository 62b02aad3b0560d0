/* detect-sender.c - the detectors of who a message claims to be from:
 * DMARC_SPOOF, DMARC_REJECT and DMARC_QUARANTINE (Clawback's own DMARC
 * failed, dmarc.c), SPOOF_PROTECTED_DOMAIN (our own domains without
 * authentication),
 * DISPLAY_NAME_IMPERSONATION (VIPs, brands, our domains in display
 * names), REPLY_TO_DIVERTS, ENVELOPE_SENDER_ELSEWHERE and SENDER_IOC.
 */
#include "build-config.h"

#include "judge/judge.h"

#include <arpa/inet.h>
#include <string.h>

/* Does trusted evidence say the From domain @dom authenticated? DMARC pass
 * (Clawback's own, or the MTA's), or DKIM pass with header.d / SPF pass
 * with smtp.mailfrom in the same organisation (relaxed alignment). */
static bool
authenticated(const run_t *run, const claw_domain_t *dom)
{
    const claw_policy_t *pol = run->e->policy;
    if (run->env && run->env->dmarc && !g_ascii_strcasecmp(run->env->dmarc, "pass"))
        return true;
    if (run->v->dmarc.result && !strcmp(run->v->dmarc.result, "pass"))
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
            const char *key = !strcmp(am->method, "dkim") ? "header.d"
                              : !strcmp(am->method, "spf") ? "smtp.mailfrom"
                                                           : NULL;
            char *v = key ? _claw_auth_property(am->properties, key) : NULL;
            if (!v)
                continue;
            const char *at = strrchr(v, '@');
            char *dname = g_ascii_strdown(at ? at + 1 : v, -1);
            bool aligned =
                _claw_org(dom) && !strcmp(claw_engine_org_domain(run->e, dname), _claw_org(dom));
            g_free(dname);
            g_free(v);
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

/* Clawback's DMARC evaluation failed: a spoof of a protected or partner
 * domain (unless it came through our own relays), else what the domain's
 * policy asks. */
void
_claw_detect_dmarc(run_t *run)
{
    const claw_dmarc_result_t *d = &run->v->dmarc;
    if (!d->result || strcmp(d->result, "fail") != 0 || !d->domain)
        return;
    const claw_policy_t *pol = run->e->policy;
    bool ours = _claw_in_domain_set(pol->protected_domains, d->domain);
    if ((ours || _claw_in_domain_set(pol->partner_domains, d->domain)) && !internal_origin(run)) {
        _claw_hit(run, R_DMARC_SPOOF, "From %s is %s domain and fails its DMARC: %s", d->domain,
                  ours ? "a protected" : "a partner", d->detail);
        return;
    }
    if (d->policy && !strcmp(d->policy, "reject"))
        _claw_hit(run, R_DMARC_REJECT, "%s", d->detail);
    else if (d->policy && !strcmp(d->policy, "quarantine"))
        _claw_hit(run, R_DMARC_QUARANTINE, "%s", d->detail);
}

void
_claw_detect_spoof(run_t *run)
{
    const claw_policy_t *pol = run->e->policy;
    if (g_hash_table_size(pol->protected_domains) == 0)
        return;
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if (a->field != CLAW_FIELD_FROM || !a->domain.ascii)
            continue;
        if (!_claw_in_domain_set(pol->protected_domains, a->domain.ascii))
            continue;
        if (authenticated(run, &a->domain) || internal_origin(run))
            continue;
        /* DMARC_SPOOF says it already, with what DMARC found. */
        if (run->vp->index[R_DMARC_SPOOF] >= 0)
            continue;
        _claw_hit(run, R_SPOOF_PROTECTED_DOMAIN,
            "From %s is in protected %s but no trusted DMARC, aligned DKIM or aligned SPF "
            "pass, and it did not come through an internal relay",
            a->address, _claw_org(&a->domain));
    }
}

static bool
ours_or_partner(const claw_policy_t *pol, const claw_domain_t *d)
{
    return d->ascii && (_claw_in_domain_set(pol->protected_domains, d->ascii) ||
                        _claw_in_domain_set(pol->partner_domains, d->ascii));
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
    char *norm = _claw_norm_name(pol->spoof, head);
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
 * @bare the same without service words ("support", "team"); *@form says
 * how it was written when not as configured. */
static const name_t *
impersonated_name(const claw_policy_t *pol, const claw_address_t *a, const char *shown,
                  const char *bare, const char **form)
{
    char *plain = _claw_name_without_initials(shown);
    char *run = _claw_name_run_together(shown);
    const name_t *found = NULL;
    for (guint k = 0; k < pol->names->len && !found; k++) {
        const name_t *n = &g_array_index(pol->names, name_t, k);
        /* As configured; surname first; with initials added (the
         * initial-less forms against the shown name without its own). */
        const char *how = NULL;
        if (n->exact ? strcmp(bare, n->norm) == 0 : strstr(shown, n->norm) != NULL)
            how = "";
        for (size_t f = 0; !how && n->forms && n->forms[f]; f++) {
            bool rotated = f < n->n_rotated;
            if (n->exact ? rotated && strcmp(bare, n->forms[f]) == 0
                         : strstr(rotated ? shown : plain, n->forms[f]) != NULL)
                how = rotated ? " (surname first)" : " (with initials)";
        }
        /* The whole display name, its spaces left out or added. */
        if (!how && n->run_together && !strcmp(run, n->run_together))
            how = " (run together)";
        if (!how)
            continue;
        if (n->own && affiliation(pol, a->name, n->norm))
            continue;
        if (n->brand && brand_from_itself(pol, n, a))
            continue;
        *form = how;
        found = n;
    }
    g_free(plain);
    g_free(run);
    return found;
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
            _claw_hit(run, R_DISPLAY_NAME_IMPERSONATION,
                "%s \"%s\" shows %s (%s domain), but the address is %s",
                claw_address_field_to_string(a->field), a->name, t->registrable,
                t->partner ? "partner" : "protected", a->address);
    }
    g_free(lower);
}

void
_claw_detect_display_names(run_t *run)
{
    const claw_policy_t *pol = run->e->policy;
    if (pol->names->len == 0 && pol->targets->len == 0)
        return; /* nothing to impersonate */
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if ((a->field != CLAW_FIELD_FROM && a->field != CLAW_FIELD_SENDER) || !a->name ||
            ours_or_partner(pol, &a->domain))
            continue;
        char *shown = _claw_norm_name(pol->spoof, a->name);
        char *bare = strip_service_words(pol, shown);
        const char *form = "";
        const name_t *n = impersonated_name(pol, a, shown, bare, &form);
        if (n)
            _claw_hit(run, R_DISPLAY_NAME_IMPERSONATION,
                "%s \"%s\" names %s %s%s, but the address is %s",
                claw_address_field_to_string(a->field), a->name, n->brand ? "the brand" : "VIP",
                n->shown, form, a->address);
        detect_domain_in_name(run, a);
        g_free(bare);
        g_free(shown);
    }
}

void
_claw_detect_reply_to(run_t *run)
{
    const claw_address_t *from = _claw_first_address(run->m, CLAW_FIELD_FROM);
    if (!from || !from->domain.ascii)
        return;
    const claw_policy_t *pol = run->e->policy;
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if ((a->field != CLAW_FIELD_REPLY_TO && a->field != CLAW_FIELD_RETURN_PATH) ||
            !a->domain.ascii || !strcmp(_claw_org(&a->domain), _claw_org(&from->domain)))
            continue;
        bool freemail = _claw_in_domain_set(pol->freemail, a->domain.ascii);
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
        _claw_hit(run, R_REPLY_TO_DIVERTS, "%s %s sends replies away from %s%s",
            claw_address_field_to_string(a->field), a->address, _claw_org(&from->domain),
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

/* The organisation (registrable domain) of the envelope sender: MAIL FROM
 * when the MTA gave one, else the Return-Path field (a stored message).
 * NULL for none or for the null sender <> (a bounce claims nobody).
 * g_free() it. */
static char *
envelope_org(const run_t *run, const char **address)
{
    const char *mf = run->env ? run->env->mail_from : NULL;
    if (!mf) {
        const claw_address_t *rp = _claw_first_address(run->m, CLAW_FIELD_RETURN_PATH);
        *address = rp ? rp->address : NULL;
        return rp && rp->domain.ascii ? g_strdup(_claw_org(&rp->domain)) : NULL;
    }
    const char *at = strrchr(mf, '@');
    if (!*mf || !at || !at[1])
        return NULL;
    *address = mf;
    char *dom = g_ascii_strdown(at + 1, -1);
    char *org = g_strdup(claw_engine_org_domain(run->e, dom));
    g_free(dom);
    return org;
}

void
_claw_detect_envelope_sender(run_t *run)
{
    const claw_address_t *from = _claw_first_address(run->m, CLAW_FIELD_FROM);
    if (!from || !ours_or_partner(run->e->policy, &from->domain))
        return;
    const char *address = NULL;
    char *org = envelope_org(run, &address);
    const char *from_org = _claw_org(&from->domain);
    /* An ESP sending for the partner under its own bounce domain is
     * normal; the partner's aligned DKIM (or DMARC pass) says so. */
    if (org && from_org && strcmp(org, from_org) != 0 && !authenticated(run, &from->domain) &&
        !internal_origin(run))
        _claw_hit(run, R_ENVELOPE_SENDER_ELSEWHERE,
                  "envelope sender %s is outside %s, which From %s claims, and nothing "
                  "trusted vouches for the From",
                  address, from_org, from->address);
    g_free(org);
}

void
_claw_detect_sender_ioc(run_t *run)
{
    const claw_iocs_t *io = run->e->iocs;
    if (!io || io->count == 0)
        return;
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if (a->field >= CLAW_FIELD_TO || !*a->address)
            continue;
        char *lower = g_ascii_strdown(a->address, -1);
        claw_action_t asks = _claw_ioc_asks(io, IOC_SENDER, lower);
        g_free(lower);
        if (a->domain.ascii)
            asks = MAX(asks, _claw_ioc_domain_asks(io, a->domain.ascii));
        _claw_hit_ioc(run, R_SENDER_IOC, asks, "%s %s matches an indicator",
                      claw_address_field_to_string(a->field), a->address);
    }
    if (run->env && run->env->mail_from && *run->env->mail_from) {
        char *lower = g_ascii_strdown(run->env->mail_from, -1);
        const char *at = strrchr(lower, '@');
        claw_action_t asks = _claw_ioc_asks(io, IOC_SENDER, lower);
        if (at)
            asks = MAX(asks, _claw_ioc_domain_asks(io, at + 1));
        _claw_hit_ioc(run, R_SENDER_IOC, asks, "envelope sender %s matches an indicator",
                      run->env->mail_from);
        g_free(lower);
    }
    if (run->env && run->env->client_ip)
        _claw_hit_ioc(run, R_SENDER_IOC, _claw_ioc_asks(io, IOC_IP, run->env->client_ip),
                      "client %s matches an indicator", run->env->client_ip);
    for (size_t h = 0; h < run->m->n_received; h++) {
        const char *ip = run->m->received[h].ip;
        _claw_hit_ioc(run, R_SENDER_IOC, _claw_ioc_asks(io, IOC_IP, ip),
                      "Received hop %s matches an indicator", ip);
    }
}
