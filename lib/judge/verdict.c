/* verdict.c - the verdict as callers see it: its accessors, the action
 * names, and the one codec of the verdict as text (the Exim line, the
 * X-Clawback-Verdict and X-Clawback-Rules values, and reading those back),
 * so that the plugins that write it and the archive that reads it agree by
 * construction. claw_classify() (classify.c) makes verdicts. */
#include "build-config.h"

#include <math.h>
#include <string.h>

#include "claw-private.h"

/* The action names, indexed by claw_action_t: what claw_action_to_string()
 * writes and claw_action_from_string() reads. */
static const char *const action_names[] = {
    [CLAW_ACTION_ACCEPT] = "accept",
    [CLAW_ACTION_TAG] = "tag",
    [CLAW_ACTION_QUARANTINE] = "quarantine",
    [CLAW_ACTION_REJECT] = "reject",
};

/* A header names at most this many rules: far more than there are. */
#define MAX_PARSED_RULES 1000

const char *
claw_action_to_string(claw_action_t a)
{
    return (unsigned)a < G_N_ELEMENTS(action_names) ? action_names[a] : "unknown";
}

claw_status_t
claw_action_from_string(const char *name, claw_action_t *action)
{
    for (size_t i = 0; name && action && i < G_N_ELEMENTS(action_names); i++)
        if (!strcmp(name, action_names[i])) {
            *action = (claw_action_t)i;
            return CLAW_STATUS_SUCCESS;
        }
    return CLAW_STATUS_INVALID_ARGUMENT;
}

/* ------------------------------------------------------------------------
 * Accessors
 * --------------------------------------------------------------------- */

claw_action_t
claw_verdict_action(const claw_verdict_t *v)
{
    return v ? v->action : CLAW_ACTION_ACCEPT;
}

double
claw_verdict_score(const claw_verdict_t *v)
{
    return v ? v->score : 0;
}

size_t
claw_verdict_n_rules(const claw_verdict_t *v)
{
    return v ? v->n_rules : 0;
}

static const claw_rule_hit_t *
rule_hit(const claw_verdict_t *v, size_t i)
{
    return v && i < v->n_rules ? &v->rules[i] : NULL;
}

const char *
claw_verdict_rule_name(const claw_verdict_t *v, size_t i)
{
    const claw_rule_hit_t *h = rule_hit(v, i);
    return h ? h->rule : NULL;
}

double
claw_verdict_rule_score(const claw_verdict_t *v, size_t i)
{
    const claw_rule_hit_t *h = rule_hit(v, i);
    return h ? h->score : 0;
}

const char *
claw_verdict_rule_detail(const claw_verdict_t *v, size_t i)
{
    const claw_rule_hit_t *h = rule_hit(v, i);
    return h ? h->detail : NULL;
}

const char *
claw_verdict_dmarc(const claw_verdict_t *v)
{
    return v ? v->dmarc.result : NULL;
}

const char *
claw_verdict_dmarc_policy(const claw_verdict_t *v)
{
    return v ? v->dmarc.policy : NULL;
}

const char *
claw_verdict_dmarc_domain(const claw_verdict_t *v)
{
    return v ? v->dmarc.domain : NULL;
}

const char *
claw_verdict_dmarc_detail(const claw_verdict_t *v)
{
    return v ? v->dmarc.detail : NULL;
}

/* ------------------------------------------------------------------------
 * Writing
 * --------------------------------------------------------------------- */

/* @s into @buf as snprintf would put it there; frees @s and returns the
 * length the whole text needs. */
static size_t
give(GString *s, char *buf, size_t size)
{
    size_t need = s->len;
    if (buf && size) {
        size_t n = MIN(need, size - 1);
        memcpy(buf, s->str, n);
        buf[n] = '\0';
    }
    g_string_free(s, TRUE);
    return need;
}

/* The score as "%g" whatever the process's locale (a decimal comma would
 * not read back). */
static void
append_score(GString *s, double score)
{
    char b[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append(s, g_ascii_formatd(b, sizeof b, "%g", score));
}

static void
append_rules(GString *s, const claw_verdict_t *v, const char *sep)
{
    for (size_t i = 0; i < v->n_rules; i++) {
        if (i)
            g_string_append(s, sep);
        g_string_append(s, v->rules[i].rule);
    }
}

/* The action and the score, as @pre ACTION @mid SCORE: the start of the
 * Exim line and the whole X-Clawback-Verdict value. */
static void
append_action_score(GString *s, const claw_verdict_t *v, const char *pre, const char *mid)
{
    g_string_append_printf(s, "%s%s%s", pre, claw_action_to_string(v->action), mid);
    append_score(s, v->score);
}

size_t
claw_verdict_format(const claw_verdict_t *v, char *buf, size_t size)
{
    GString *s = g_string_new(NULL);
    if (v) {
        append_action_score(s, v, "action=", " score=");
        g_string_append(s, " rules=");
        append_rules(s, v, ",");
        if (v->dmarc.result)
            g_string_append_printf(s, " dmarc=%s", v->dmarc.result);
        if (v->dmarc.policy)
            g_string_append_printf(s, " dmarc_policy=%s", v->dmarc.policy);
    }
    return give(s, buf, size);
}

size_t
claw_verdict_header(const claw_verdict_t *v, char *buf, size_t size)
{
    GString *s = g_string_new(NULL);
    if (v) {
        append_action_score(s, v, "", "; score=");
        /* As an Authentication-Results method reads: "dmarc=fail (p=reject)". */
        if (v->dmarc.result)
            g_string_append_printf(s, "; dmarc=%s", v->dmarc.result);
        if (v->dmarc.result && v->dmarc.policy)
            g_string_append_printf(s, " (p=%s)", v->dmarc.policy);
    }
    return give(s, buf, size);
}

size_t
claw_verdict_rules_header(const claw_verdict_t *v, char *buf, size_t size)
{
    GString *s = g_string_new(NULL);
    if (v)
        append_rules(s, v, ", ");
    return give(s, buf, size);
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

/* ------------------------------------------------------------------------
 * Reading back
 * --------------------------------------------------------------------- */

static const char *
skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The word of @names that @p starts with (followed by none of [a-z]),
 * *@p moved past it; NULL if none. */
static const char *
take_word(const char **p, const char *const *names)
{
    for (const char *const *n = names; *n; n++) {
        size_t len = strlen(*n);
        if (!strncmp(*p, *n, len) && !g_ascii_islower((*p)[len])) {
            *p += len;
            return *n;
        }
    }
    return NULL;
}

/* "; dmarc=RESULT [(p=POLICY)]" after the score, or nothing. */
static claw_status_t
parse_dmarc(const char *p, claw_dmarc_result_t *d)
{
    static const char *const results[] = {"pass", "fail", "none", "temperror", "permerror",
                                          NULL};
    static const char *const policies[] = {"none", "quarantine", "reject", NULL};
    p = skip_blanks(p);
    if (!*p)
        return CLAW_STATUS_SUCCESS;
    if (*p++ != ';')
        return CLAW_STATUS_INVALID_ARGUMENT;
    p = skip_blanks(p);
    if (strncmp(p, "dmarc=", 6) != 0)
        return CLAW_STATUS_INVALID_ARGUMENT;
    p += 6;
    if (!(d->result = take_word(&p, results)))
        return CLAW_STATUS_INVALID_ARGUMENT;
    p = skip_blanks(p);
    if (!strncmp(p, "(p=", 3)) {
        p += 3;
        if (!(d->policy = take_word(&p, policies)) || *p++ != ')')
            return CLAW_STATUS_INVALID_ARGUMENT;
    }
    return *skip_blanks(p) ? CLAW_STATUS_INVALID_ARGUMENT : CLAW_STATUS_SUCCESS;
}

/* "ACTION; score=NUMBER[; dmarc=RESULT [(p=POLICY)]]" with blanks allowed
 * around the parts. */
static claw_status_t
parse_verdict_value(const char *text, claw_action_t *action, double *score,
                    claw_dmarc_result_t *dmarc)
{
    const char *p = skip_blanks(text), *w = p;
    while (g_ascii_islower(*p))
        p++;
    char word[16];
    if (p == w || (size_t)(p - w) >= sizeof word)
        return CLAW_STATUS_INVALID_ARGUMENT;
    memcpy(word, w, (size_t)(p - w));
    word[p - w] = '\0';
    if (!strcmp(word, CLAW_VERDICT_UNSCANNED))
        return CLAW_STATUS_NOT_FOUND;
    if (claw_action_from_string(word, action) != CLAW_STATUS_SUCCESS)
        return CLAW_STATUS_INVALID_ARGUMENT;
    p = skip_blanks(p);
    if (*p++ != ';')
        return CLAW_STATUS_INVALID_ARGUMENT;
    p = skip_blanks(p);
    if (strncmp(p, "score=", 6) != 0)
        return CLAW_STATUS_INVALID_ARGUMENT;
    p += 6;
    /* g_ascii_strtod() also takes "nan", "inf" and hex: only the
     * characters "%g" writes, all of them read. */
    size_t n = strspn(p, "+-.0123456789eE");
    char *end;
    *score = n ? g_ascii_strtod(p, &end) : NAN;
    if (!n || end != p + n || !isfinite(*score))
        return CLAW_STATUS_INVALID_ARGUMENT;
    return parse_dmarc(end, dmarc);
}

/* The names in @text, separated by "," and blanks, into @names (their
 * bytes in @chars, each NUL-terminated). */
static claw_status_t
parse_rules_value(const char *text, GPtrArray *names, GString *chars)
{
    const char *p = skip_blanks(text);
    if (!*p)
        return CLAW_STATUS_SUCCESS;
    for (;;) {
        const char *w = p;
        while (g_ascii_isalnum(*p) || *p == '_')
            p++;
        if (p == w || names->len >= MAX_PARSED_RULES)
            return CLAW_STATUS_INVALID_ARGUMENT;
        /* Offsets for now: @chars may move as it grows. */
        g_ptr_array_add(names, GSIZE_TO_POINTER(chars->len));
        g_string_append_len(chars, w, p - w);
        g_string_append_c(chars, '\0');
        p = skip_blanks(p);
        if (!*p)
            return CLAW_STATUS_SUCCESS;
        if (*p++ != ',')
            return CLAW_STATUS_INVALID_ARGUMENT;
        p = skip_blanks(p);
    }
}

/* A verdict in one allocation: the struct, its rules, their names. */
static claw_verdict_t *
verdict_block(claw_action_t action, double score, const GPtrArray *names, const GString *chars)
{
    size_t n = names->len;
    claw_verdict_t *v =
        g_try_malloc0(sizeof *v + n * sizeof(claw_rule_hit_t) + chars->len);
    if (!v)
        return NULL;
    claw_rule_hit_t *hits = (claw_rule_hit_t *)(v + 1);
    char *text = (char *)(hits + n);
    memcpy(text, chars->str, chars->len);
    for (size_t i = 0; i < n; i++)
        hits[i].rule = text + GPOINTER_TO_SIZE(names->pdata[i]);
    v->action = action;
    v->score = score;
    v->n_rules = n;
    v->rules = hits;
    return v;
}

claw_status_t
claw_verdict_parse_header(const char *verdict, const char *rules, claw_verdict_t **out)
{
    if (!out)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *out = NULL;
    if (!verdict)
        return CLAW_STATUS_INVALID_ARGUMENT;
    claw_action_t action;
    double score;
    claw_dmarc_result_t dmarc = {0};
    claw_status_t st = parse_verdict_value(verdict, &action, &score, &dmarc);
    if (st)
        return st;
    GPtrArray *names = g_ptr_array_new();
    GString *chars = g_string_new(NULL);
    st = rules ? parse_rules_value(rules, names, chars) : CLAW_STATUS_SUCCESS;
    if (st == CLAW_STATUS_SUCCESS) {
        *out = verdict_block(action, score, names, chars);
        if (!*out)
            st = CLAW_STATUS_OUT_OF_MEMORY;
        else
            (*out)->dmarc = dmarc; /* static strings */
    }
    g_ptr_array_free(names, TRUE);
    g_string_free(chars, TRUE);
    return st;
}
