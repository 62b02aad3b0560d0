/* scan.c - the one-call surface for MTA plugins: engine from a file, parse
 * and classify a buffer, the verdict as a line, message ids. */
#include "build-config.h"

#include <errno.h>
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

claw_status_t
_claw_scan_verdict(claw_engine_t *engine, const char *data, size_t len,
                   const claw_envelope_t *envelope, claw_verdict_t **verdict)
{
    return scan(engine, data, len, envelope, true, verdict);
}

size_t
claw_verdict_format(const claw_verdict_t *v, char *buf, size_t size)
{
    GString *s = g_string_new(NULL);
    if (v) {
        g_string_append_printf(s, "action=%s score=%g rules=", claw_action_to_string(v->action),
                               v->score);
        for (size_t i = 0; i < v->n_rules; i++)
            g_string_append_printf(s, "%s%s", i ? "," : "", v->rules[i].rule);
    }
    size_t need = s->len;
    if (buf && size) {
        size_t n = MIN(need, size - 1);
        memcpy(buf, s->str, n);
        buf[n] = '\0';
    }
    g_string_free(s, TRUE);
    return need;
}

size_t
claw_verdict_reason(const claw_verdict_t *v, char *buf, size_t size)
{
    if (!buf || !size)
        return 0;
    buf[0] = '\0';
    if (!v || !v->n_rules)
        return 0;
    const claw_rule_hit_t *top = &v->rules[0];
    for (size_t i = 1; i < v->n_rules; i++)
        if (v->rules[i].score > top->score)
            top = &v->rules[i];
    /* Printable ASCII only: the detail carries message text. Bytes outside
     * it become '?', and a UTF-8 sequence becomes one '?'. */
    GString *s = g_string_new(top->rule);
    g_string_append(s, ": ");
    for (const unsigned char *p = (const unsigned char *)(top->detail ? top->detail : ""); *p;
         p++) {
        if (*p >= 0x20 && *p < 0x7f)
            g_string_append_c(s, (char)*p);
        else if (*p < 0x80 || *p >= 0xc0)
            g_string_append_c(s, '?');
    }
    size_t n = s->len;
    if (n >= size) {
        n = size > 4 ? size - 4 : size - 1;
        memcpy(buf, s->str, n);
        if (size > 4)
            memcpy(buf + n, "...", 3), n += 3;
    } else {
        memcpy(buf, s->str, n);
    }
    buf[n] = '\0';
    g_string_free(s, TRUE);
    return n;
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
