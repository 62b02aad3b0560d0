/* dmarc.c - Clawback's own DMARC evaluation (RFC 7489) of the From domain.
 *
 * libopendmarc (Debian's, from OpenDMARC) parses the record, aligns the
 * SPF and DKIM results with the From domain and says which policy applies;
 * the record itself is looked up here (dns.c: bounded in milliseconds,
 * cached, the servers of [dmarc] resolvers), because libopendmarc's own
 * lookup goes through res_query with seconds-long tries and no deadline -
 * unless the MTA looked it up already (rspamd, whose worker must not block:
 * the envelope's dmarc_lookup, dmarc_domain, dmarc_record).
 *
 * The SPF and DKIM results come from the MTA: the envelope's spf= (for the
 * envelope sender's domain, else the HELO name) and dkim= (for the From
 * domain), and each spf and dkim method of authres= (an
 * Authentication-Results value the MTA wrote itself: Exim's
 * ${authresults}, rspamd's own); where the MTA gave no SPF result, Clawback
 * checks SPF itself (spf.c). A temporary failure anywhere (DNS, an SPF
 * or DKIM temperror) that would end in "fail" is "temperror": never "pass",
 * and never a failure the sender did not earn; so is a would-be failure
 * without any SPF result (no client IP to check).
 */
#include "build-config.h"

#include "judge/judge.h"

#include <opendmarc/dmarc.h>
#include <stdio.h>
#include <string.h>

/* The longest DMARC record evaluated; RFC 7489's examples are under 200. */
#define MAX_RECORD 2048

/* libopendmarc's one global: the Public Suffix List it aligns sibling
 * subdomains with (a.example.com and b.example.com), read from the file
 * libpsl was built to use. Without it only a domain and its subdomains
 * align. */
static gpointer
init_library(gpointer unused)
{
    (void)unused;
    OPENDMARC_LIB_T lib = {0};
    const char *psl = psl_dist_filename();
    if (psl && *psl && g_file_test(psl, G_FILE_TEST_IS_REGULAR)) {
        lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
        g_strlcpy((char *)lib.tld_source_file, psl, sizeof lib.tld_source_file);
    }
    if (opendmarc_policy_library_init(&lib) != DMARC_PARSE_OKAY) {
        lib.tld_source_file[0] = '\0';
        opendmarc_policy_library_init(&lib);
    }
    return NULL;
}

/* The one DMARC record among @txt (RFC 7489 6.6.3: records that begin with
 * "v=DMARC1"; none, or more than one, is no record), or NULL. */
static const char *
pick_record(char **txt)
{
    const char *found = NULL;
    for (char **t = txt; t && *t; t++) {
        const char *p = *t + strspn(*t, " \t");
        if (g_ascii_strncasecmp(p, "v=DMARC1", 8) != 0 || (p[8] && !strchr("; \t", p[8])))
            continue;
        if (found)
            return NULL;
        found = *t;
    }
    return found;
}

/* _dmarc.@domain's record into *@record (g_free), or why not. */
static claw_dns_status_t
lookup_record(run_t *run, const char *domain, gint64 deadline_us, char **record, char **why)
{
    char *name = g_strconcat("_dmarc.", domain, NULL);
    char **txt = NULL;
    claw_dns_status_t st = _claw_dns_txt(run->e, name, deadline_us, &txt, why);
    if (st == CLAW_DNS_TEMP) {
        char *w = g_strdup_printf("%s: %s", name, *why);
        g_free(*why);
        *why = w;
    }
    g_free(name);
    const char *r = st == CLAW_DNS_FOUND ? pick_record(txt) : NULL;
    if (st == CLAW_DNS_FOUND && !r)
        st = CLAW_DNS_NONE;
    *record = g_strdup(r);
    g_strfreev(txt);
    return st;
}

/* What the MTA found at _dmarc.@dom, or at _dmarc.@org after finding none
 * at @dom (envelope's dmarc_lookup, dmarc_domain, dmarc_record), as
 * lookup_record() gives it, *@at the one of @dom and @org it names. False
 * when the MTA looked nothing up, or up for another domain. */
static bool
mta_lookup(const claw_envelope_t *env, const char *dom, const char *org,
           claw_dns_status_t *st, char **record, const char **at, char **why)
{
    const char *l = env->dmarc_lookup, *d = env->dmarc_domain;
    if (!l || !*l || !d || !*d)
        return false;
    if (!g_ascii_strcasecmp(d, dom))
        *at = dom;
    else if (org && !g_ascii_strcasecmp(d, org))
        *at = org;
    else
        return false;
    if (!strcmp(l, "found")) {
        char **txt = g_strsplit(env->dmarc_record ? env->dmarc_record : "", "\n", -1);
        *record = g_strdup(pick_record(txt));
        g_strfreev(txt);
        *st = *record ? CLAW_DNS_FOUND : CLAW_DNS_NONE;
    } else if (!strcmp(l, "none")) {
        *st = CLAW_DNS_NONE;
    } else {
        *st = CLAW_DNS_TEMP;
        *why = g_strdup_printf("_dmarc.%s: the MTA's lookup: %s", d, l);
    }
    return true;
}

static int
spf_outcome(const char *r)
{
    if (!strcmp(r, "pass"))
        return DMARC_POLICY_SPF_OUTCOME_PASS;
    if (!strcmp(r, "temperror"))
        return DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
    if (!strcmp(r, "none"))
        return DMARC_POLICY_SPF_OUTCOME_NONE;
    return DMARC_POLICY_SPF_OUTCOME_FAIL; /* fail, softfail, neutral, permerror */
}

static int
dkim_outcome(const char *r)
{
    if (!strcmp(r, "pass"))
        return DMARC_POLICY_DKIM_OUTCOME_PASS;
    if (!strcmp(r, "temperror"))
        return DMARC_POLICY_DKIM_OUTCOME_TMPFAIL;
    if (!strcmp(r, "none"))
        return DMARC_POLICY_DKIM_OUTCOME_NONE;
    return DMARC_POLICY_DKIM_OUTCOME_FAIL;
}

/* What the MTA said of SPF and DKIM, handed to libopendmarc. */
typedef struct {
    DMARC_POLICY_T *pctx;
    GString *seen; /* "spf=pass (example.com) dkim=fail (x.example)" for the detail */
    bool temp;     /* an SPF or DKIM temperror */
    bool spf;      /* the MTA gave an SPF result */
    bool dkim;     /* the MTA gave a DKIM result */
} inputs_t;

/* SPF's @result for @domain (or an address in it), checked at @origin;
 * @by says who checked it when not the MTA. */
static void
add_spf(inputs_t *in, const char *result, const char *domain, int origin, const char *by)
{
    if (!result || !*result || !domain || !*domain)
        return;
    char *r = g_ascii_strdown(result, -1);
    const char *at = strrchr(domain, '@');
    const char *d = at ? at + 1 : domain;
    if (opendmarc_policy_store_spf(in->pctx, (u_char *)d, spf_outcome(r), origin, NULL) ==
        DMARC_PARSE_OKAY) {
        g_string_append_printf(in->seen, "%sspf=%s (%s%s)", in->seen->len ? ", " : "", r, d,
                               by);
        in->temp |= !strcmp(r, "temperror");
        in->spf = true;
    }
    g_free(r);
}

static void
add_dkim(inputs_t *in, const char *result, const char *domain, const char *selector)
{
    if (!result || !*result || !domain || !*domain)
        return;
    char *r = g_ascii_strdown(result, -1);
    if (opendmarc_policy_store_dkim(in->pctx, (u_char *)domain, (u_char *)selector,
                                    dkim_outcome(r), NULL) == DMARC_PARSE_OKAY) {
        g_string_append_printf(in->seen, "%sdkim=%s (%s)", in->seen->len ? ", " : "", r, domain);
        in->temp |= !strcmp(r, "temperror");
        in->dkim = true;
    }
    g_free(r);
}

static void
add_authres_method(const char *method, const char *result, const char *props, void *data)
{
    inputs_t *in = data;
    if (!strcmp(method, "spf")) {
        char *d = _claw_auth_property(props, "smtp.mailfrom");
        int origin = DMARC_POLICY_SPF_ORIGIN_MAILFROM;
        if (!d) {
            d = _claw_auth_property(props, "smtp.helo");
            origin = DMARC_POLICY_SPF_ORIGIN_HELO;
        }
        add_spf(in, result, d, origin, "");
        g_free(d);
    } else if (!strcmp(method, "dkim")) {
        char *d = _claw_auth_property(props, "header.d");
        if (!d) { /* header.i=@sub.example.com: its domain */
            char *i = _claw_auth_property(props, "header.i");
            const char *at = i ? strrchr(i, '@') : NULL;
            d = at ? g_strdup(at + 1) : NULL;
            g_free(i);
        }
        char *s = _claw_auth_property(props, "header.s");
        char *low = d ? g_ascii_strdown(d, -1) : NULL;
        add_dkim(in, result, low, s);
        g_free(low);
        g_free(d);
        g_free(s);
    }
}

static void
store_inputs(run_t *run, inputs_t *in, const char *from_domain, gint64 deadline_us)
{
    const claw_envelope_t *env = run->env;
    /* SPF is for the envelope sender, or for the HELO name under <>. */
    const char *mf = env->mail_from && *env->mail_from ? env->mail_from : NULL;
    const char *spf_for = mf ? mf : env->helo;
    int origin = mf ? DMARC_POLICY_SPF_ORIGIN_MAILFROM : DMARC_POLICY_SPF_ORIGIN_HELO;
    if (env->spf && *env->spf)
        add_spf(in, env->spf, spf_for, origin, "");
    if (env->dkim && *env->dkim)
        add_dkim(in, env->dkim, from_domain, NULL);
    if (env->authres && *env->authres) {
        unsigned instance;
        /* "authserv-id; ...": Exim's ${authresults} value, or methods alone. */
        const char *v = env->authres;
        char *with_id = strchr(v, ';') ? NULL : g_strconcat("mta; ", v, NULL);
        g_free(_claw_auth_parse(with_id ? with_id : v, false, &instance, add_authres_method, in));
        g_free(with_id);
    }
    /* The MTA did not check SPF: Clawback does, for the same envelope. */
    if (!in->spf) {
        char *r = _claw_spf_check(run->e->config, env->client_ip, env->helo, mf, deadline_us);
        if (r)
            add_spf(in, r, spf_for, origin, ", checked by Clawback");
        g_free(r);
    }
}

/* The d= of a DKIM-Signature of the message in the organisation @org, or
 * NULL. */
static const char *
signed_for(const run_t *run, const char *org)
{
    for (size_t i = 0; i < run->m->n_dkim_signatures; i++) {
        const char *d = run->m->dkim_signatures[i].domain; /* lower-case */
        if (d && !g_ascii_strcasecmp(claw_engine_org_domain(run->e, d), org))
            return d;
    }
    return NULL;
}

static const char *
policy_name(int p)
{
    switch (p) {
    case DMARC_RECORD_P_NONE:
        return "none";
    case DMARC_RECORD_P_QUARANTINE:
        return "quarantine";
    case DMARC_RECORD_P_REJECT:
        return "reject";
    default:
        return NULL;
    }
}

static void
set(run_t *run, const char *result, const char *policy, const char *domain, const char *fmt,
    ...) CLAW_PRINTF(5, 6);

static void
set(run_t *run, const char *result, const char *policy, const char *domain, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    claw_dmarc_result_t *r = &run->v->dmarc;
    r->result = result;
    r->policy = policy;
    r->domain = domain ? g_string_chunk_insert(run->vp->strings, domain) : NULL;
    r->detail = g_string_chunk_insert(run->vp->strings, d);
    g_free(d);
}

/* What [dmarc] honour_policy makes of a failure under @policy, pct= of the
 * failures sampled (RFC 7489 6.6.4: the others get the next policy down). */
static claw_action_t
honoured(const claw_config_t *c, int policy, int pct)
{
    if (!strcmp(c->dmarc_honour_policy, "no"))
        return CLAW_ACTION_ACCEPT;
    if (pct < 100 && g_random_int_range(0, 100) >= pct)
        policy = policy == DMARC_RECORD_P_REJECT ? DMARC_RECORD_P_QUARANTINE : DMARC_RECORD_P_NONE;
    if (policy == DMARC_RECORD_P_REJECT)
        return CLAW_ACTION_REJECT;
    if (policy == DMARC_RECORD_P_QUARANTINE && !strcmp(c->dmarc_honour_policy, "all"))
        return CLAW_ACTION_QUARANTINE;
    return CLAW_ACTION_ACCEPT;
}

void
_claw_dmarc_evaluate(run_t *run)
{
    const claw_config_t *c = run->e->config;
    if (!run->env || strcmp(c->dmarc_evaluate, "yes") != 0)
        return;
    static GOnce once = G_ONCE_INIT;
    g_once(&once, init_library, NULL);

    /* RFC 7489 6.6.1: the one RFC5322.From domain. */
    const claw_address_t *from = NULL;
    for (size_t i = 0; i < run->m->n_addresses; i++) {
        const claw_address_t *a = &run->m->addresses[i];
        if (a->field != CLAW_FIELD_FROM)
            continue;
        if (from && (!a->domain.ascii || !from->domain.ascii ||
                     g_ascii_strcasecmp(a->domain.ascii, from->domain.ascii))) {
            set(run, "permerror", NULL, NULL, "From names more than one domain");
            return;
        }
        from = a;
    }
    if (!from || !from->domain.ascii) {
        set(run, "none", NULL, NULL, "no From domain");
        return;
    }
    char *dom = g_ascii_strdown(from->domain.ascii, -1);
    const char *org = _claw_org(&from->domain);
    gint64 deadline = g_get_monotonic_time() + c->dmarc_timeout_ms * 1000;

    /* The From domain's record, else its organisational domain's: as the
     * MTA found them, or looked up here. */
    char *record = NULL, *why = NULL;
    const char *at = dom;
    claw_dns_status_t st;
    if (!mta_lookup(run->env, dom, org, &st, &record, &at, &why))
        st = lookup_record(run, dom, deadline, &record, &why);
    /* The organisation's, unless the MTA looked there already. */
    if (st == CLAW_DNS_NONE && at == dom && org && g_ascii_strcasecmp(org, dom)) {
        at = org;
        st = lookup_record(run, org, deadline, &record, &why);
    }
    if (st == CLAW_DNS_TEMP) {
        set(run, "temperror", NULL, dom, "DNS: %s", why);
        goto out;
    }
    if (st == CLAW_DNS_NONE) {
        set(run, "none", NULL, dom, "no DMARC record for %s%s%s", dom, at != dom ? " nor " : "",
            at != dom ? at : "");
        goto out;
    }

    const char *ip = run->env->client_ip && *run->env->client_ip ? run->env->client_ip : "0.0.0.0";
    inputs_t in = {.pctx = opendmarc_policy_connect_init((u_char *)ip, strchr(ip, ':') != NULL),
                   .seen = g_string_new(NULL)};
    if (!in.pctx) {
        set(run, "temperror", NULL, dom, "libopendmarc: out of memory");
        g_string_free(in.seen, TRUE);
        goto out;
    }
    /* A record is a few dozen bytes; a long one is someone's test of the
     * parser, which copies into fixed buffers. */
    if (strlen(record) > MAX_RECORD) {
        set(run, "permerror", NULL, dom, "_dmarc.%s: a record of %zu bytes (at most %d)", at,
            strlen(record), MAX_RECORD);
        goto done;
    }
    opendmarc_policy_store_from_domain(in.pctx, (u_char *)dom);
    int ps = opendmarc_policy_store_dmarc(in.pctx, (u_char *)record, (u_char *)dom,
                                          at != dom ? (u_char *)at : NULL);
    if (ps != DMARC_PARSE_OKAY) {
        set(run, "permerror", NULL, dom, "_dmarc.%s: %s: \"%s\"", at,
            opendmarc_policy_status_to_str(ps), record);
        goto done;
    }
    store_inputs(run, &in, dom, deadline);
    int p = 0, sp = 0, pct = 100;
    opendmarc_policy_fetch_p(in.pctx, &p);
    opendmarc_policy_fetch_sp(in.pctx, &sp);
    opendmarc_policy_fetch_pct(in.pctx, &pct);
    int applies = at != dom && sp ? sp : p; /* as libopendmarc decides it */
    const char *policy = policy_name(applies);
    const char *seen = in.seen->len ? in.seen->str : "no SPF or DKIM result from the MTA";
    switch (opendmarc_get_policy_to_enforce(in.pctx)) {
    case DMARC_POLICY_PASS:
        set(run, "pass", policy, dom, "aligned with %s (%s)", dom, seen);
        break;
    case DMARC_POLICY_REJECT:
    case DMARC_POLICY_QUARANTINE:
    case DMARC_POLICY_NONE:
        if (in.temp) {
            set(run, "temperror", policy, dom, "nothing aligned with %s, and a result was "
                "temporary (%s)", dom, seen);
            break;
        }
        /* No SPF result at all (the MTA gave none, and without a client
         * IP Clawback could not check): a failure cannot be told from mail
         * that only SPF would have aligned. Not checked is not failed. */
        if (!in.spf) {
            set(run, "temperror", policy, dom, "nothing aligned with %s (%s), and no SPF "
                "result to align", dom, seen);
            break;
        }
        /* The message is signed for the From's organisation but the MTA
         * verified no DKIM (Exim with dkim_disable_verify): the signature
         * might have aligned. Not checked is not failed either. */
        const char *unverified = in.dkim ? NULL : signed_for(run, org ? org : dom);
        if (unverified) {
            set(run, "temperror", policy, dom, "nothing aligned with %s (%s), and the MTA "
                "verified no DKIM signature (one is for %s)", dom, seen, unverified);
            break;
        }
        char sample[24] = "";
        if (pct < 100)
            snprintf(sample, sizeof sample, " pct=%d", pct);
        set(run, "fail", policy, dom, "nothing aligned with %s (%s); _dmarc.%s %s=%s%s", dom,
            seen, at, at != dom && sp ? "sp" : "p", policy, sample);
        run->vp->dmarc_asks = honoured(c, applies, pct);
        break;
    default:
        set(run, "none", NULL, dom, "no policy in _dmarc.%s", at);
        break;
    }
done:
    g_string_free(in.seen, TRUE);
    opendmarc_policy_connect_shutdown(in.pctx);
out:
    g_free(record);
    g_free(why);
    g_free(dom);
}
