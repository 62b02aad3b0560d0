/* classify.c - the verdict: claw_classify() runs the detectors in order
 * (the list is in claw_classify below; judge.h says where each lives) over
 * the message model, each recording at most one hit of its rule with the
 * detail of the first thing it saw and a count of the rest. A rule's score
 * comes from [weights] or its default; the sum against the [actions]
 * thresholds gives the action. Nothing here parses mail: the model already
 * holds every fact.
 */
#include "build-config.h"

#include "judge/judge.h"

#include <stdarg.h>
#include <string.h>

double
_claw_rule_weight(const claw_engine_t *e, rule_t r)
{
    return e->config->weight_text[r] ? e->config->weight[r] : _claw_rule_default_score(r);
}

double
claw_engine_rule_score(const claw_engine_t *engine, size_t i)
{
    return engine && i < R_LAST ? _claw_rule_weight(engine, (rule_t)i) : 0;
}

/* @r's hit is @detail with @score: the first, or one replacing it. */
static void
record(struct claw_verdict_private *vp, rule_t r, double score, const char *detail)
{
    claw_rule_hit_t h = {
        .rule = _claw_rule_name(r),
        .score = score,
        .detail = g_string_chunk_insert(vp->strings, detail),
    };
    if (vp->index[r] >= 0) {
        g_array_index(vp->hits, claw_rule_hit_t, vp->index[r]) = h;
        return;
    }
    vp->index[r] = (int)vp->hits->len;
    g_array_append_val(vp->hits, h);
}

void
_claw_hit(run_t *run, rule_t r, const char *fmt, ...)
{
    struct claw_verdict_private *vp = run->vp;
    if (vp->count[r]++ > 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *d = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    record(vp, r, _claw_rule_weight(run->e, r), d);
    g_free(d);
}

void
_claw_hit_ioc(run_t *run, rule_t r, claw_action_t asks, const char *fmt, ...)
{
    struct claw_verdict_private *vp = run->vp;
    if (asks == CLAW_ACTION_ACCEPT)
        return;
    if (vp->count[r]++ > 0 && asks <= vp->asks[r])
        return;
    /* An indicator that asks only to tag or quarantine weighs no more than
     * that action's threshold: with nothing else against the message, the
     * verdict is what it asked for; other rules can still add to it. */
    const claw_config_t *c = run->e->config;
    double score = _claw_rule_weight(run->e, r);
    if (asks == CLAW_ACTION_TAG)
        score = MIN(score, c->tag_score);
    else if (asks == CLAW_ACTION_QUARANTINE)
        score = MIN(score, c->quarantine_score);
    va_list ap;
    va_start(ap, fmt);
    char *d = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (asks != CLAW_ACTION_REJECT) {
        char *with = g_strdup_printf("%s that asks to %s", d,
                                     asks == CLAW_ACTION_TAG ? "tag" : "quarantine");
        g_free(d);
        d = with;
    }
    record(vp, r, score, d);
    g_free(d);
    vp->asks[r] = asks;
}

const claw_address_t *
_claw_first_address(const claw_message_t *m, claw_address_field_t field)
{
    for (size_t i = 0; i < m->n_addresses; i++)
        if (m->addresses[i].field == field)
            return &m->addresses[i];
    return NULL;
}

const char *
_claw_org(const claw_domain_t *d)
{
    return d->registrable ? d->registrable : d->ascii;
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
                _claw_hit(run, R_MIME_AMBIGUOUS, "%s: %s", claw_anomaly_code_to_string(a->code),
                    a->detail);
        if (claw_anomaly_code_is_limit(a->code))
            _claw_hit(run, R_UNSCANNABLE, "%s: %s", claw_anomaly_code_to_string(a->code), a->detail);
    }
    if (!m->is_message)
        _claw_hit(run, R_UNSCANNABLE, "not a message: %s",
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
    if (!e->manual_refresh)
        _claw_iocs_refresh(e, false);
    claw_verdict_t *v = g_new0(claw_verdict_t, 1);
    struct claw_verdict_private *vp = g_new0(struct claw_verdict_private, 1);
    vp->hits = g_array_new(FALSE, TRUE, sizeof(claw_rule_hit_t));
    vp->strings = g_string_chunk_new(1024);
    for (int r = 0; r < R_LAST; r++)
        vp->index[r] = -1;
    v->priv = vp;
    run_t run = {.e = e, .m = m, .env = env, .v = v, .vp = vp};

    detect_structure(&run);
    _claw_dmarc_evaluate(&run);
    _claw_detect_dmarc(&run);
    _claw_detect_spoof(&run);
    _claw_detect_lookalikes(&run);
    _claw_detect_display_names(&run);
    _claw_detect_reply_to(&run);
    _claw_detect_envelope_sender(&run);
    _claw_detect_sender_ioc(&run);
    _claw_detect_urls(&run);
    _claw_detect_attachments(&run);
    _claw_detect_bec(&run); /* after the sender rules: it weighs their hits */

    /* A rule that fired more than once says so in its detail; a rule
     * weighted 0 is silenced. */
    GArray *kept = g_array_new(FALSE, TRUE, sizeof(claw_rule_hit_t));
    claw_action_t asked = CLAW_ACTION_ACCEPT; /* the most a kept indicator hit asks */
    for (guint i = 0; i < vp->hits->len; i++) {
        claw_rule_hit_t h = g_array_index(vp->hits, claw_rule_hit_t, i);
        int r = _claw_rule_index(h.rule);
        if (h.score == 0)
            continue;
        asked = MAX(asked, vp->asks[r]);
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
    /* An indicator's action stands whatever the weights (a rule weighted 0
     * is silenced, and with it what its indicators ask). */
    v->action = MAX(v->action, asked);
    /* So does the sending domain's DMARC policy, where the site honours it. */
    v->action = MAX(v->action, vp->dmarc_asks);
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
