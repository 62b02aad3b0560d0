/* scan.c - the one-call surface for MTA plugins: engine from a file, parse
 * and classify a buffer (the envelope as a struct or as strings), the
 * rules the classifier knows, message ids. The verdict as text is in
 * verdict.c. */
#include "build-config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "claw-private.h"
#include "claw-ulid.h"

int
claw_api_version(void)
{
    return CLAW_API_VERSION;
}

void
claw_free(void *p)
{
    free(p);
}

claw_status_t
claw_engine_open(const char *config_path, claw_engine_t **engine, char **error)
{
    claw_config_t *config = NULL;
    claw_status_t st;

    if (error)
        *error = NULL;
    if (!engine)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *engine = NULL;
    st = config_path ? claw_config_load(config_path, &config, error) : claw_config_new(&config);
    if (st == CLAW_STATUS_SUCCESS)
        st = claw_engine_new(config, engine, error);
    claw_config_destroy(config);
    return st;
}

const char *
claw_engine_get(const claw_engine_t *engine, const char *section, const char *name)
{
    return engine ? claw_config_get(engine->config, section, name) : NULL;
}

const char *
claw_engine_org_domain(const claw_engine_t *engine, const char *domain)
{
    if (!engine || !domain)
        return NULL;
    const char *reg = psl_registrable_domain(engine->psl, domain);
    return reg ? reg : domain;
}

static claw_status_t
scan(claw_engine_t *engine, const char *data, size_t len, const claw_envelope_t *envelope,
     bool verdict_only, claw_verdict_t **verdict)
{
    claw_message_t *m = NULL;
    claw_status_t st;

    if (!verdict)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *verdict = NULL;
    st = verdict_only ? _claw_message_parse_verdict(engine, data, len, &m)
                      : claw_message_parse(engine, data, len, &m);
    if (st)
        return st;
    st = claw_classify(engine, m, envelope, verdict);
    if (st) {
        claw_message_destroy(m);
        return st;
    }
    _claw_verdict_adopt(*verdict, m);
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_scan_buffer(claw_engine_t *engine, const char *data, size_t len, const claw_envelope_t *envelope,
          claw_verdict_t **verdict)
{
    return scan(engine, data, len, envelope, false, verdict);
}

/* The envelope @fields name (see claw_scan_fields()) in @env, the
 * recipients' strings in @rcpt. */
static claw_status_t
envelope_from_fields(const char *const *fields, claw_envelope_t *env, GPtrArray *rcpt)
{
    static const struct {
        const char *name;
        size_t offset;
    } named[] = {
        {"client_ip", offsetof(claw_envelope_t, client_ip)},
        {"helo", offsetof(claw_envelope_t, helo)},
        {"mail_from", offsetof(claw_envelope_t, mail_from)},
        {"dmarc", offsetof(claw_envelope_t, dmarc)},
        {"spf", offsetof(claw_envelope_t, spf)},
        {"dkim", offsetof(claw_envelope_t, dkim)},
        {"authres", offsetof(claw_envelope_t, authres)},
        {"dmarc_lookup", offsetof(claw_envelope_t, dmarc_lookup)},
        {"dmarc_domain", offsetof(claw_envelope_t, dmarc_domain)},
        {"dmarc_record", offsetof(claw_envelope_t, dmarc_record)},
    };
    unsigned seen = 0;
    for (const char *const *f = fields; f && f[0]; f += 2) {
        const char *value = f[1];
        if (!value)
            return CLAW_STATUS_INVALID_ARGUMENT;
        if (!strcmp(f[0], "rcpt")) {
            if (*value)
                g_ptr_array_add(rcpt, (gpointer)value);
            continue;
        }
        size_t i = 0;
        while (i < G_N_ELEMENTS(named) && strcmp(f[0], named[i].name))
            i++;
        if (i == G_N_ELEMENTS(named) || seen & 1u << i)
            return CLAW_STATUS_INVALID_ARGUMENT;
        seen |= 1u << i;
        /* "" is the null sender, and no value for the others. */
        if (*value || !strcmp(f[0], "mail_from"))
            *(const char **)((char *)env + named[i].offset) = value;
    }
    env->rcpt = (const char *const *)rcpt->pdata;
    env->n_rcpt = rcpt->len;
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_scan_fields(claw_engine_t *engine, const char *data, size_t len, const char *const *fields,
                 unsigned flags, claw_verdict_t **verdict)
{
    if (verdict)
        *verdict = NULL;
    if (flags & ~CLAW_SCAN_VERDICT_ONLY)
        return CLAW_STATUS_INVALID_ARGUMENT;
    claw_envelope_t env = {0};
    GPtrArray *rcpt = g_ptr_array_new();
    claw_status_t st = envelope_from_fields(fields, &env, rcpt);
    /* NULL @fields: no SMTP session, as claw_scan_buffer()'s NULL envelope. */
    if (st == CLAW_STATUS_SUCCESS)
        st = scan(engine, data, len, fields ? &env : NULL, flags & CLAW_SCAN_VERDICT_ONLY,
                  verdict);
    g_ptr_array_free(rcpt, TRUE);
    return st;
}

const char *
claw_rule_name(size_t i)
{
    return i < _claw_rule_count() ? _claw_rule_name(i) : NULL;
}

double
claw_rule_default_score(size_t i)
{
    return i < _claw_rule_count() ? _claw_rule_default_score(i) : 0;
}

const char *
claw_rule_description(size_t i)
{
    return i < _claw_rule_count() ? _claw_rule_doc(i) : NULL;
}

void
claw_id_new(char out[CLAW_ID_SIZE])
{
    claw_ulid(out);
}
