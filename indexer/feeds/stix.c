/* stix.c - STIX 2.1 indicators (claw-feed.h): a bundle, or a TAXII 2.1
 * envelope of objects, read with json-glib, and each indicator's pattern
 * read by the parser below, in the subset that feeds sharing blocklists
 * write.
 *
 * A comparison of one of these object paths with '=' and a string is an
 * indicator:
 *
 *   url:value                               url
 *   domain-name:value                       domain
 *   ipv4-addr:value, ipv6-addr:value        ip (an address or a CIDR range;
 *                                               ISSUBSET a range as well)
 *   email-addr:value                        sender
 *   email-message:from_ref.value            sender
 *   email-message:sender_ref.value          sender
 *   email-message:message_id                message-id
 *   file:hashes.'SHA-256'                   sha256 (SHA256 too, any case,
 *                                               quoted or not)
 *
 * A comparison with another path, with NOT, with another operator, or
 * with a literal that is not a string is not understood.
 *
 * Comparisons joined by OR, within brackets or between them, are each an
 * indicator, and one not understood is passed over alone: each term of an
 * OR matches on its own, so the ones taken can miss what the pattern finds
 * but never find what it would not. Comparisons joined by AND are taken as
 * their terms only when every one of them is understood (feeds join a URL
 * and its host's address, or a domain and a sender at it, each telling on
 * its own), and the AND is passed over whole otherwise: its part alone
 * would match what the pattern says must also have the rest. For the same
 * reason FOLLOWEDBY and the qualifiers (WITHIN, REPEATS, START ... STOP),
 * which ask for several sightings over time, pass over what they cover.
 */
#include "build-config.h"

#include "feed-json.h"

#include <string.h>

/* Most patterns are a line, but some feeds put a whole blocklist in one
 * OR: 100,000 URLs take some 10 MB. Past this, a pattern is passed over. */
#define STIX_MAX_PATTERN ((size_t)16 << 20)

/* Brackets and parentheses within a pattern: the parser keeps a frame for
 * each open one, in a fixed array. */
#define STIX_MAX_NESTING 64

/* An indicator's name or description, kept as its reason. */
#define STIX_MAX_REASON 500

/* ------------------------------------------------------------------------
 * Reasons for what is passed over. Parts of them come from the feed, so
 * they are shortened and made printable before they reach a terminal.
 * --------------------------------------------------------------------- */

static void G_GNUC_PRINTF(2, 3)
skip_printf(claw_feed_batch_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *reason = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    claw_feed_skip(b, reason);
    g_free(reason);
}

/* @s (@n bytes) as a short printable part of a reason. g_free() it. */
static char *
printable(const char *s, size_t n)
{
    enum { MAX = 64 };
    GString *out = g_string_sized_new(MAX + 3);
    for (size_t i = 0; i < n && i < MAX; i++)
        g_string_append_c(out, s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
    if (n > MAX)
        g_string_append(out, "...");
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------------
 * Patterns: tokens.
 * --------------------------------------------------------------------- */

typedef enum stix_tok_kind {
    /* '[', ']', '(', ')' and ',' are their own characters. */
    TOK_END = 0,
    TOK_PATH = 256, /* an object path: TYPE:PROPERTY... */
    TOK_STRING,     /* '...', unescaped */
    TOK_LITERAL,    /* any other literal: t'...', b'...', h'...', a number, true */
    TOK_COMPARE,    /* = == != <> < > <= >= */
    TOK_WORD        /* a keyword: AND, OR, LIKE, WITHIN... */
} stix_tok_kind_t;

typedef struct stix_tok {
    int kind;
    const char *s; /* its text (a string's value, NUL-terminated) */
    size_t n;
} stix_tok_t;

typedef struct stix_lexer {
    char *p, *end; /* in a copy of the pattern, where strings are unescaped */
    const char *error;
} stix_lexer_t;

static bool
is_ident(char c)
{
    return g_ascii_isalnum(c) || c == '_' || c == '-';
}

static bool
lex_fail(stix_lexer_t *l, const char *error)
{
    l->error = error;
    return false;
}

/* The string literal whose opening quote is at l->p. Its value is written
 * over its own text, unescaped: it never grows, and the lexer has read
 * past it, so the pattern's copy can hold every value without allocating
 * one per term. */
static bool
lex_string(stix_lexer_t *l, stix_tok_t *t, int kind)
{
    char *src = l->p + 1, *dst = src;
    for (; src < l->end && *src != '\''; src++) {
        /* The spec escapes a quote and a backslash, and nothing else. */
        if (*src == '\\') {
            if (src + 1 == l->end || (src[1] != '\'' && src[1] != '\\'))
                return lex_fail(l, "pattern: a string holds an unknown escape");
            src++;
        }
        *dst++ = *src;
    }
    if (src == l->end)
        return lex_fail(l, "pattern: a string is not closed");
    *dst = '\0';
    *t = (stix_tok_t){kind, l->p + 1, (size_t)(dst - (l->p + 1))};
    l->p = src + 1;
    return true;
}

/* A quoted key within an object path (hashes.'SHA-256'), left as it is. */
static bool
lex_skip_quoted(stix_lexer_t *l)
{
    char quote = *l->p++;
    for (; l->p < l->end && *l->p != quote; l->p++)
        if (*l->p == '\\' && l->p + 1 < l->end)
            l->p++;
    if (l->p == l->end)
        return lex_fail(l, "pattern: a string is not closed");
    l->p++;
    return true;
}

/* A list index within an object path ("[*]", "[0]", "[-1]"), whose
 * brackets are not an observation's; its length, or 0 if there is none. */
static size_t
path_index_len(const char *p, const char *end)
{
    const char *q = p + 1;
    if (q < end && *q == '*')
        q++;
    else {
        if (q < end && *q == '-')
            q++;
        const char *digits = q;
        while (q < end && g_ascii_isdigit(*q))
            q++;
        if (q == digits)
            return 0;
    }
    return q < end && *q == ']' ? (size_t)(q + 1 - p) : 0;
}

/* The rest of an object path, from the ':' after its type. */
static bool
lex_path(stix_lexer_t *l, stix_tok_t *t)
{
    size_t index;
    for (l->p++; l->p < l->end;) {
        if (is_ident(*l->p) || *l->p == '.')
            l->p++;
        else if (*l->p == '\'' || *l->p == '"') {
            if (!lex_skip_quoted(l))
                return false;
        } else if (*l->p == '[' && (index = path_index_len(l->p, l->end)))
            l->p += index;
        else
            break;
    }
    t->kind = TOK_PATH;
    t->n = (size_t)(l->p - t->s);
    return true;
}

/* A word: an object path if a ':' follows its first part, a prefixed
 * literal (t'...'), a boolean, or a keyword. */
static bool
lex_word(stix_lexer_t *l, stix_tok_t *t)
{
    while (l->p < l->end && is_ident(*l->p))
        l->p++;
    t->n = (size_t)(l->p - t->s);
    if (l->p < l->end && *l->p == ':')
        return lex_path(l, t);
    if (t->n == 1 && strchr("tbh", *t->s) && l->p < l->end && *l->p == '\'') {
        const char *start = t->s;
        if (!lex_string(l, t, TOK_LITERAL))
            return false;
        t->s = start;
        return true;
    }
    bool boolean = (t->n == 4 && !memcmp(t->s, "true", 4)) ||
                   (t->n == 5 && !memcmp(t->s, "false", 5));
    t->kind = boolean ? TOK_LITERAL : TOK_WORD;
    return true;
}

static bool
lex_number(stix_lexer_t *l, stix_tok_t *t)
{
    for (l->p++; l->p < l->end; l->p++) {
        char c = *l->p;
        bool exponent_sign = (c == '+' || c == '-') && (l->p[-1] == 'e' || l->p[-1] == 'E');
        if (!g_ascii_isalnum(c) && c != '.' && !exponent_sign)
            break;
    }
    t->kind = TOK_LITERAL;
    t->n = (size_t)(l->p - t->s);
    return true;
}

static bool
lex_compare(stix_lexer_t *l, stix_tok_t *t)
{
    /* The two-character ones first, so that "<=" is not read as "<". */
    static const char *const ops[] = {"==", "!=", "<>", "<=", ">=", "=", "<", ">"};
    size_t left = (size_t)(l->end - l->p);
    for (size_t i = 0; i < G_N_ELEMENTS(ops); i++) {
        size_t n = strlen(ops[i]);
        if (n <= left && !memcmp(l->p, ops[i], n)) {
            *t = (stix_tok_t){TOK_COMPARE, l->p, n};
            l->p += n;
            return true;
        }
    }
    return lex_fail(l, "pattern: unexpected character");
}

static bool
lex_next(stix_lexer_t *l, stix_tok_t *t)
{
    while (l->p < l->end && g_ascii_isspace(*l->p))
        l->p++;
    *t = (stix_tok_t){TOK_END, l->p, 0};
    if (l->p == l->end)
        return true;
    char c = *l->p;
    switch (c) {
    case '[':
    case ']':
    case '(':
    case ')':
    case ',':
        *t = (stix_tok_t){c, l->p++, 1};
        return true;
    case '\'':
        return lex_string(l, t, TOK_STRING);
    case '=':
    case '!':
    case '<':
    case '>':
        return lex_compare(l, t);
    }
    bool sign = (c == '-' || c == '+') && l->p + 1 < l->end && g_ascii_isdigit(l->p[1]);
    if (g_ascii_isdigit(c) || sign)
        return lex_number(l, t);
    if (g_ascii_isalpha(c) || c == '_')
        return lex_word(l, t);
    return lex_fail(l, "pattern: unexpected character");
}

static bool
tok_is(const stix_tok_t *t, const char *word)
{
    return t->kind == TOK_WORD && t->n == strlen(word) && !memcmp(t->s, word, t->n);
}

/* ------------------------------------------------------------------------
 * Patterns: what a comparison is.
 * --------------------------------------------------------------------- */

/* Why a comparison, or an expression, is not understood, with @arg
 * (@len bytes, in the pattern: a path, an operator...) to name what. */
typedef enum stix_why_kind {
    WHY_NONE,        /* understood */
    WHY_UNSUPPORTED, /* an object path, NOT, EXISTS, FOLLOWEDBY */
    WHY_OPERATOR,
    WHY_QUALIFIER,
    WHY_LITERAL      /* @arg, a path, compared with a literal not a string */
} stix_why_kind_t;

typedef struct stix_why {
    stix_why_kind_t kind;
    const char *arg;
    int len;
} stix_why_t;

typedef struct stix_term {
    const char *type;  /* the indicator's type; NULL: not understood */
    const char *value; /* in the lexer's copy of the pattern */
    stix_why_t why;
} stix_term_t;

static const struct {
    const char *path, *type;
    bool subset; /* ISSUBSET means a range of it */
} stix_paths[] = {
    {"url:value", "url", false},
    {"domain-name:value", "domain", false},
    {"ipv4-addr:value", "ip", true},
    {"ipv6-addr:value", "ip", true},
    {"email-addr:value", "sender", false},
    {"email-message:from_ref.value", "sender", false},
    {"email-message:sender_ref.value", "sender", false},
    {"email-message:message_id", "message-id", false},
};

/* file:hashes.KEY for a SHA-256. The spec quotes a key holding a hyphen
 * ('SHA-256'); producers write it in either quote, or as SHA256, in any
 * case. */
static bool
is_sha256_path(const char *s, size_t n)
{
    static const char prefix[] = "file:hashes.";
    const size_t pn = sizeof prefix - 1;
    if (n <= pn || memcmp(s, prefix, pn))
        return false;
    const char *key = s + pn;
    size_t kn = n - pn;
    if (kn >= 2 && (key[0] == '\'' || key[0] == '"') && key[kn - 1] == key[0]) {
        key++;
        kn -= 2;
    }
    return (kn == 7 && !g_ascii_strncasecmp(key, "SHA-256", kn)) ||
           (kn == 6 && !g_ascii_strncasecmp(key, "SHA256", kn));
}

/* The indicator type of an object path, or NULL; *@subset: whether
 * ISSUBSET applies to it. */
static const char *
path_type(const stix_tok_t *path, bool *subset)
{
    *subset = false;
    for (size_t i = 0; i < G_N_ELEMENTS(stix_paths); i++) {
        const char *known = stix_paths[i].path;
        if (strlen(known) == path->n && !memcmp(known, path->s, path->n)) {
            *subset = stix_paths[i].subset;
            return stix_paths[i].type;
        }
    }
    return is_sha256_path(path->s, path->n) ? "sha256" : NULL;
}

/* A comparison's operator: one of lex_compare's, or a keyword. */
static bool
is_operator(const stix_tok_t *t)
{
    static const char *const words[] = {"LIKE", "MATCHES", "IN", "ISSUBSET", "ISSUPERSET"};
    if (t->kind == TOK_COMPARE)
        return true;
    for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
        if (tok_is(t, words[i]))
            return true;
    return false;
}

/* An IN's set, "(" literal, ... ")", read only to get past it. */
static bool
lex_set(stix_lexer_t *l)
{
    stix_tok_t t;
    if (!lex_next(l, &t))
        return false;
    if (t.kind != '(')
        return lex_fail(l, "pattern: IN without a set");
    for (bool first = true;; first = false) {
        if (!lex_next(l, &t))
            return false;
        if (t.kind == ')' && first)
            return true;
        if (t.kind != TOK_STRING && t.kind != TOK_LITERAL)
            return lex_fail(l, "pattern: IN's set is malformed");
        if (!lex_next(l, &t))
            return false;
        if (t.kind == ')')
            return true;
        if (t.kind != ',')
            return lex_fail(l, "pattern: IN's set is malformed");
    }
}

/* What the comparison of @path with @op and the literal @lit is. */
static stix_term_t
term_of(const stix_tok_t *path, bool negated, const stix_tok_t *op, const stix_tok_t *lit)
{
    stix_term_t t = {0};
    bool subset;
    const char *type = path_type(path, &subset);
    bool equal = op->kind == TOK_COMPARE && (op->n == 1 ? *op->s == '=' : !memcmp(op->s, "==", 2));
    if (negated)
        t.why = (stix_why_t){WHY_UNSUPPORTED, "NOT", 3};
    else if (!equal && !(subset && tok_is(op, "ISSUBSET")))
        t.why = (stix_why_t){WHY_OPERATOR, op->s, (int)op->n};
    else if (!type)
        t.why = (stix_why_t){WHY_UNSUPPORTED, path->s, (int)path->n};
    else if (lit->kind != TOK_STRING)
        t.why = (stix_why_t){WHY_LITERAL, path->s, (int)path->n};
    else {
        t.type = type;
        t.value = lit->s;
    }
    return t;
}

/* The comparison from @first on: PATH [NOT] OPERATOR LITERAL, or EXISTS
 * PATH. */
static bool
lex_comparison(stix_lexer_t *l, const stix_tok_t *first, stix_term_t *term)
{
    stix_tok_t op, lit;
    if (tok_is(first, "EXISTS")) {
        if (!lex_next(l, &lit))
            return false;
        if (lit.kind != TOK_PATH)
            return lex_fail(l, "pattern: EXISTS without an object path");
        *term = (stix_term_t){.why = {WHY_UNSUPPORTED, "EXISTS", 6}};
        return true;
    }
    if (!lex_next(l, &op))
        return false;
    bool negated = tok_is(&op, "NOT");
    if (negated && !lex_next(l, &op))
        return false;
    if (!is_operator(&op))
        return lex_fail(l, "pattern: an object path without an operator");
    if (tok_is(&op, "IN")) {
        if (!lex_set(l))
            return false;
        lit = (stix_tok_t){TOK_LITERAL, NULL, 0};
    } else {
        if (!lex_next(l, &lit))
            return false;
        if (lit.kind != TOK_STRING && lit.kind != TOK_LITERAL)
            return lex_fail(l, "pattern: a comparison without a literal");
    }
    *term = term_of(first, negated, &op, &lit);
    return true;
}

/* ------------------------------------------------------------------------
 * Patterns: expressions, read without recursion.
 *
 * The terms of any expression are consecutive in the pattern, so an
 * expression is a span of the terms. Each AND, each FOLLOWEDBY and each
 * qualifier marks its span: taken as terms, or passed over. Marks are
 * kept outermost only (an outer one settles everything inside it), so
 * that a chain of a hundred thousand ANDs costs as many steps.
 * --------------------------------------------------------------------- */

typedef struct stix_expr {
    guint first, end; /* its terms */
    stix_why_t why;   /* the first thing in it not understood */
} stix_expr_t;

typedef enum { MARK_AND, MARK_DROP, MARK_DROP_AND } stix_mark_kind_t;

typedef struct stix_mark {
    guint first, end;
    stix_mark_kind_t kind;
    stix_why_t why;
} stix_mark_t;

/* An expression being read: its last operand, and the chains of
 * operators, in their precedence (AND binds tighter than OR, OR than
 * FOLLOWEDBY), that it closes when an operator or the end comes. */
typedef struct stix_frame {
    char open;        /* '[', '(', or 0 for the whole pattern */
    bool comparisons; /* holds comparisons (within brackets), not observations */
    bool has_all, has_any, has_seq;
    stix_expr_t last, all, any, seq; /* last operand; AND, OR, FOLLOWEDBY chains */
} stix_frame_t;

typedef struct stix_parse {
    stix_lexer_t lex;
    GArray *terms; /* stix_term_t */
    GArray *marks; /* stix_mark_t, in order, none inside another */
    stix_frame_t frames[STIX_MAX_NESTING + 1];
    int depth;
} stix_parse_t;

/* How far an operator closes the chains before it: AND none, OR the AND
 * chain, FOLLOWEDBY (and a frame's end) the OR chain too. */
enum { LEVEL_AND, LEVEL_OR, LEVEL_SEQ };

static void
mark(stix_parse_t *p, const stix_expr_t *e, stix_mark_kind_t kind)
{
    /* Marks made since this expression began are inside it. */
    GArray *marks = p->marks;
    while (marks->len && g_array_index(marks, stix_mark_t, marks->len - 1).first >= e->first)
        g_array_set_size(marks, marks->len - 1);
    stix_mark_t m = {e->first, e->end, kind, e->why};
    g_array_append_val(marks, m);
}

static stix_expr_t
join(const stix_expr_t *l, const stix_expr_t *r)
{
    return (stix_expr_t){l->first, r->end, l->why.kind ? l->why : r->why};
}

static stix_expr_t
join_and(stix_parse_t *p, const stix_expr_t *l, const stix_expr_t *r)
{
    stix_expr_t e = join(l, r);
    mark(p, &e, e.why.kind ? MARK_DROP_AND : MARK_AND);
    return e;
}

static stix_expr_t
join_followedby(stix_parse_t *p, const stix_expr_t *l, const stix_expr_t *r)
{
    stix_expr_t e = join(l, r);
    e.why = (stix_why_t){WHY_UNSUPPORTED, "FOLLOWEDBY", 10};
    mark(p, &e, MARK_DROP);
    return e;
}

/* Add the frame's last operand to its chains, as an operator of @level
 * (or the frame's end) follows it. */
static void
settle(stix_parse_t *p, stix_frame_t *f, int level)
{
    f->all = f->has_all ? join_and(p, &f->all, &f->last) : f->last;
    f->has_all = true;
    if (level == LEVEL_AND)
        return;
    f->any = f->has_any ? join(&f->any, &f->all) : f->all;
    f->has_any = true;
    f->has_all = false;
    if (level == LEVEL_OR)
        return;
    f->seq = f->has_seq ? join_followedby(p, &f->seq, &f->any) : f->any;
    f->has_seq = true;
    f->has_any = false;
}

static bool
parse_fail(stix_parse_t *p, const char *error)
{
    if (!p->lex.error)
        p->lex.error = error;
    return false;
}

static bool
open_frame(stix_parse_t *p, char open, bool comparisons)
{
    if (p->depth == STIX_MAX_NESTING)
        return parse_fail(p, "pattern: nested deeper than 64 levels");
    p->frames[++p->depth] = (stix_frame_t){.open = open, .comparisons = comparisons};
    return true;
}

/* A qualifier after an observation: WITHIN n SECONDS, REPEATS n TIMES,
 * START t'...' STOP t'...'. Read to be sure of the pattern, then the
 * observation is passed over. */
static bool
parse_qualifier(stix_parse_t *p, const stix_tok_t *q)
{
    const char *second = tok_is(q, "WITHIN") ? "SECONDS" : tok_is(q, "REPEATS") ? "TIMES" : "STOP";
    stix_tok_t a, b, c;
    if (!lex_next(&p->lex, &a) || !lex_next(&p->lex, &b))
        return false;
    bool ok = a.kind == TOK_LITERAL && tok_is(&b, second);
    if (ok && tok_is(q, "START"))
        ok = lex_next(&p->lex, &c) && c.kind == TOK_LITERAL;
    if (!ok)
        return parse_fail(p, "pattern: a qualifier is malformed");
    stix_expr_t *last = &p->frames[p->depth].last;
    last->why = (stix_why_t){WHY_QUALIFIER, q->s, (int)q->n};
    mark(p, last, MARK_DROP);
    return true;
}

/* An operand: a comparison, or the opening of an expression in brackets
 * or parentheses. *@got: whether the operand is complete. */
static bool
parse_operand(stix_parse_t *p, const stix_tok_t *t, bool *got)
{
    stix_frame_t *f = &p->frames[p->depth];
    *got = false;
    if (t->kind == '[' && !f->comparisons)
        return open_frame(p, '[', true);
    if (t->kind == '(')
        return open_frame(p, '(', f->comparisons);
    if (!f->comparisons)
        return parse_fail(p, t->kind == TOK_END ? "pattern: ends too soon"
                                                : "pattern: an observation not in brackets");
    if (t->kind != TOK_PATH && !tok_is(t, "EXISTS"))
        return parse_fail(p, "pattern: expected a comparison");
    stix_term_t term;
    if (!lex_comparison(&p->lex, t, &term))
        return false;
    g_array_append_val(p->terms, term);
    f->last = (stix_expr_t){p->terms->len - 1, p->terms->len, term.why};
    *got = true;
    return true;
}

static bool
is_qualifier(const stix_tok_t *t)
{
    return tok_is(t, "WITHIN") || tok_is(t, "REPEATS") || tok_is(t, "START");
}

/* What may follow an operand: an operator, a qualifier (of an
 * observation), the frame's closing bracket or the end. *@want_operand:
 * whether an operand comes next. */
static bool
parse_after(stix_parse_t *p, const stix_tok_t *t, bool *want_operand, bool *end)
{
    stix_frame_t *f = &p->frames[p->depth];
    *want_operand = false;
    *end = false;
    if (tok_is(t, "AND") || tok_is(t, "OR") || (!f->comparisons && tok_is(t, "FOLLOWEDBY"))) {
        settle(p, f, tok_is(t, "AND") ? LEVEL_AND : tok_is(t, "OR") ? LEVEL_OR : LEVEL_SEQ);
        *want_operand = true;
        return true;
    }
    if (!f->comparisons && is_qualifier(t))
        return parse_qualifier(p, t);
    if (t->kind != ']' && t->kind != ')' && t->kind != TOK_END)
        return parse_fail(p, f->comparisons
                                 ? "pattern: expected AND, OR or a closing bracket"
                                 : "pattern: expected AND, OR, FOLLOWEDBY or a closing bracket");
    int closing = f->open == '[' ? ']' : f->open == '(' ? ')' : TOK_END;
    if (t->kind != closing)
        return parse_fail(p, "pattern: unbalanced brackets");

    /* The frame closes: it becomes its parent's last operand. */
    settle(p, f, LEVEL_SEQ);
    if (t->kind == TOK_END) {
        *end = true;
        return true;
    }
    p->depth--;
    p->frames[p->depth].last = f->seq;
    return true;
}

/* Read @p's pattern into its terms and marks, or fail with p->lex.error. */
static bool
parse_pattern(stix_parse_t *p)
{
    p->depth = 0;
    p->frames[0] = (stix_frame_t){0};
    bool want_operand = true, end = false;
    while (!end) {
        stix_tok_t t;
        if (!lex_next(&p->lex, &t))
            return false;
        bool ok, got;
        if (want_operand) {
            ok = parse_operand(p, &t, &got);
            want_operand = !got;
        } else
            ok = parse_after(p, &t, &want_operand, &end);
        if (!ok)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Indicators: what a pattern's terms become.
 * --------------------------------------------------------------------- */

typedef struct stix_indicator {
    const char *pattern;
    int64_t valid_from, valid_until;
    int confidence;
    bool revoked;
    const char *reason;     /* a batch string, or the defaults' */
    const char *and_reason; /* for a term of an AND: made when first needed */
} stix_indicator_t;

/* Count what @why passed over; @in_and: as the reason a whole AND was. */
static void
skip_why(claw_feed_batch_t *b, bool in_and, const stix_why_t *why)
{
    char *arg = printable(why->arg, (size_t)why->len);
    const char *prefix = in_and ? "AND with " : "";
    switch (why->kind) {
    case WHY_OPERATOR:
        skip_printf(b, "pattern: %soperator %s not supported", prefix, arg);
        break;
    case WHY_QUALIFIER:
        skip_printf(b, "pattern: %squalifier %s not supported", prefix, arg);
        break;
    case WHY_LITERAL:
        skip_printf(b, "pattern: %s%s compared with a literal not a string", prefix, arg);
        break;
    default:
        skip_printf(b, "pattern: %s%s not supported", prefix, arg);
    }
    g_free(arg);
}

/* A term of an AND matches more than the pattern did: its reason says so,
 * for whoever wonders why it blocked. */
static const char *
and_reason(claw_feed_batch_t *b, stix_indicator_t *ind)
{
    if (!ind->and_reason) {
        static const char note[] = "a term of a STIX AND, taken alone";
        char *r = ind->reason ? g_strdup_printf("%s (%s)", ind->reason, note) : g_strdup(note);
        ind->and_reason = claw_feed_str(b, r);
        g_free(r);
    }
    return ind->and_reason;
}

static void
add_term(claw_feed_batch_t *b, stix_indicator_t *ind, const stix_term_t *t, bool of_and)
{
    const char *why;
    claw_ioc_t *c = claw_feed_add(b, t->type, t->value, &why);
    if (!c) {
        skip_printf(b, "value not a%s %s: %s", strchr("aeio", t->type[0]) ? "n" : "", t->type,
                    why);
        return;
    }
    c->valid_from = ind->valid_from;
    c->valid_until = ind->valid_until;
    c->confidence = ind->confidence;
    c->reason = of_and ? and_reason(b, ind) : ind->reason;
    if (ind->revoked)
        c->revoked = 1;
}

/* Each term of @p an indicator, or counted as passed over, as the marks
 * say: a mark passed over counts once, whatever it covers. */
static void
add_terms(claw_feed_batch_t *b, stix_indicator_t *ind, const stix_parse_t *p)
{
    guint m = 0;
    for (guint i = 0; i < p->terms->len; i++) {
        const stix_term_t *t = &g_array_index(p->terms, stix_term_t, i);
        while (m < p->marks->len && g_array_index(p->marks, stix_mark_t, m).end <= i)
            m++;
        const stix_mark_t *in = NULL;
        if (m < p->marks->len && g_array_index(p->marks, stix_mark_t, m).first <= i)
            in = &g_array_index(p->marks, stix_mark_t, m);
        if (in && in->kind != MARK_AND) {
            if (i == in->first)
                skip_why(b, in->kind == MARK_DROP_AND, &in->why);
        } else if (t->why.kind != WHY_NONE)
            skip_why(b, false, &t->why);
        else
            add_term(b, ind, t, in != NULL);
    }
}

/* The indicator's pattern into @b; one that cannot be read is counted, as
 * its reason says, and the file goes on. */
static void
read_pattern(claw_feed_batch_t *b, stix_indicator_t *ind)
{
    size_t n = strlen(ind->pattern);
    if (n > STIX_MAX_PATTERN) {
        claw_feed_skip(b, "pattern: longer than 16 MiB");
        return;
    }
    char *copy = g_strndup(ind->pattern, n);
    stix_parse_t *p = g_new0(stix_parse_t, 1);
    p->lex = (stix_lexer_t){copy, copy + n, NULL};
    p->terms = g_array_new(FALSE, FALSE, sizeof(stix_term_t));
    p->marks = g_array_new(FALSE, FALSE, sizeof(stix_mark_t));
    if (parse_pattern(p))
        add_terms(b, ind, p);
    else
        claw_feed_skip(b, p->lex.error);
    g_array_free(p->terms, TRUE);
    g_array_free(p->marks, TRUE);
    g_free(p);
    g_free(copy);
}

/* ------------------------------------------------------------------------
 * The JSON: a bundle or an envelope, and its indicator objects.
 * --------------------------------------------------------------------- */

/* Member @key of @o when it is a value of @type: true with *@out NULL when
 * it is absent or null, false when it is anything else. */
static bool
member_value(JsonObject *o, const char *key, GType type, JsonNode **out)
{
    JsonNode *n = json_object_get_member(o, key);
    *out = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != type)
        return false;
    *out = n;
    return true;
}

static bool
member_string(JsonObject *o, const char *key, const char **out)
{
    JsonNode *n;
    bool ok = member_value(o, key, G_TYPE_STRING, &n);
    *out = n ? json_node_get_string(n) : NULL;
    return ok;
}

/* A timestamp member into *@t, which stays as it is when there is none.
 * STIX writes RFC 3339 ("2026-03-01T09:00:00Z"): a span such as "90d",
 * which claw_feed_parse_time() would take, is not one. */
static bool
member_time(JsonObject *o, const char *key, int64_t *t)
{
    const char *s;
    return member_string(o, key, &s) &&
           (!s || (strchr(s, 'T') && claw_feed_parse_time(s, 0, t)));
}

/* What the indicator @o says besides its pattern, into @ind; NULL, or why
 * it is passed over. Anything of the wrong kind passes it over whole: a
 * revocation or an end read wrongly would leave it in force. */
static const char *
read_fields(claw_feed_batch_t *b, JsonObject *o, stix_indicator_t *ind)
{
    JsonNode *revoked, *confidence;
    const char *name, *description;
    if (!member_string(o, "pattern", &ind->pattern))
        return "indicator: pattern not a string";
    if (!ind->pattern)
        return "indicator without a pattern";
    if (!member_time(o, "valid_from", &ind->valid_from))
        return "indicator: valid_from not a time";
    if (!member_time(o, "valid_until", &ind->valid_until))
        return "indicator: valid_until not a time";
    if (!member_value(o, "revoked", G_TYPE_BOOLEAN, &revoked))
        return "indicator: revoked not true or false";
    ind->revoked = revoked && json_node_get_boolean(revoked);
    if (!member_value(o, "confidence", G_TYPE_INT64, &confidence))
        return "indicator: confidence not an integer";
    if (confidence) {
        gint64 n = json_node_get_int(confidence);
        if (n < 0 || n > 100)
            return "indicator: confidence not 0 to 100";
        ind->confidence = (int)n;
    }
    if (!member_string(o, "name", &name) || !member_string(o, "description", &description))
        return "indicator: name or description not a string";
    if (name && *name)
        ind->reason = claw_feed_text(b, name, STIX_MAX_REASON);
    else if (description && *description)
        ind->reason = claw_feed_text(b, description, STIX_MAX_REASON);
    return NULL;
}

static void
read_indicator(claw_feed_batch_t *b, JsonObject *o)
{
    const claw_feed_defaults_t *d = &b->defaults;
    stix_indicator_t ind = {.valid_from = d->valid_from,
                            .valid_until = d->valid_until,
                            .confidence = d->confidence,
                            .reason = d->reason};
    const char *pattern_type, *why;
    if (!member_string(o, "pattern_type", &pattern_type)) {
        claw_feed_skip(b, "indicator: pattern_type not a string");
        return;
    }
    /* STIX 2.0 had no pattern_type: its patterns are all STIX. */
    if (pattern_type && strcmp(pattern_type, "stix")) {
        char *shown = printable(pattern_type, strlen(pattern_type));
        skip_printf(b, "pattern_type %s", shown);
        g_free(shown);
        return;
    }
    if ((why = read_fields(b, o, &ind)))
        claw_feed_skip(b, why);
    else
        read_pattern(b, &ind);
}

static void
read_object(claw_feed_batch_t *b, JsonNode *n)
{
    const char *type;
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        claw_feed_skip(b, "object not a JSON object");
        return;
    }
    JsonObject *o = json_node_get_object(n);
    if (!member_string(o, "type", &type) || !type) {
        claw_feed_skip(b, "object without a type");
        return;
    }
    /* Identities, relationships, markings, malware... tell us nothing to
     * block, and every bundle has some: they go unmentioned. */
    if (!strcmp(type, "indicator"))
        read_indicator(b, o);
}

static bool G_GNUC_PRINTF(2, 3)
fail(char **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return false;
}

/* A bundle ({"type": "bundle", "objects": [...]}) or a TAXII envelope
 * ({"more": ..., "next": ..., "objects": [...]}, every member optional). */
static bool
read_root(claw_feed_batch_t *b, const char *name, JsonNode *root, bool *more, char **next,
          char **error)
{
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return fail(error, "%s: not a JSON object, so neither a STIX bundle nor a TAXII envelope",
                    name);
    JsonObject *top = json_node_get_object(root);
    const char *type, *next_page = NULL;
    JsonNode *more_node = NULL;
    if (!member_string(top, "type", &type) || (type && strcmp(type, "bundle")))
        return fail(error, "%s: a STIX object that is not a bundle", name);
    /* Only an envelope pages; a bundle is whole. */
    if (!type && !member_value(top, "more", G_TYPE_BOOLEAN, &more_node))
        return fail(error, "%s: the envelope's \"more\" is not true or false", name);
    if (!type && !member_string(top, "next", &next_page))
        return fail(error, "%s: the envelope's \"next\" is not a string", name);
    JsonNode *objects = json_object_get_member(top, "objects");
    if (objects && !JSON_NODE_HOLDS_ARRAY(objects))
        return fail(error, "%s: \"objects\" is not an array", name);
    if (objects) {
        JsonArray *a = json_node_get_array(objects);
        for (guint i = 0, n = json_array_get_length(a); i < n; i++)
            read_object(b, json_array_get_element(a, i));
    }
    if (more)
        *more = more_node && json_node_get_boolean(more_node);
    if (next)
        *next = g_strdup(next_page);
    return true;
}

bool
claw_feed_read_stix(claw_feed_batch_t *b, const char *name, const char *data, size_t len,
                    bool *more, char **next, char **error)
{
    if (more)
        *more = false;
    if (next)
        *next = NULL;
    JsonParser *parser;
    if (!_claw_feed_json_load(name, data, len, &parser, error))
        return false;
    bool ok = read_root(b, name, json_parser_get_root(parser), more, next, error);
    g_object_unref(parser);
    return ok;
}
