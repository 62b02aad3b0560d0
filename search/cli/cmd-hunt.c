/* cmd-hunt.c - claw hunt: every archived message, of any age, that holds an
 * indicator, asked of the index as exact terms (no query language between:
 * a value is looked up in the form terms.c wrote it).
 *
 * Where each type of indicator is looked for:
 *   url         the links' normalised URLs (XURL)
 *   host        the links' hosts (XHOST)
 *   domain      the links' registrable domains and hosts (XDOM, XHOST), and
 *               the addresses of From/Sender, Reply-To and the envelope
 *               sender, at the domain or under it (XF, XRT, XE: terms.c
 *               writes each address's domain and its parents)
 *   ip          the client's and the Received hops' IPs (XIP) and links to
 *               an IP (XHOST); a range: each such IP of the index in it
 *   sender      the addresses of From/Sender, Reply-To, the envelope sender
 *   sha256      attachments, archive members, the whole message (XSHA)
 *   message-id  the Message-ID (XMID)
 */
#include "build-config.h"

#include "claw-ioc.h"
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

/* The most terms one range may become: a /8 over an archive that has seen
 * every address in it is refused rather than asked. */
#define RANGE_MAX_TERMS 100000

typedef struct {
    claw_cidr_t cidr;
    size_t prefix_len;
    GPtrArray *terms;
    bool too_many;
} range_run_t;

/* A term of the index (XIP... or XHOST...) whose value is an IP address in
 * the range. */
static bool
in_range(void *ctx, const char *term)
{
    range_run_t *r = ctx;
    if (claw_cidr_contains_text(&r->cidr, term + r->prefix_len)) {
        if (r->terms->len >= RANGE_MAX_TERMS) {
            r->too_many = true;
            return false;
        }
        g_ptr_array_add(r->terms, g_strdup(term));
    }
    return true;
}

static void
add_term(GPtrArray *terms, const char *prefix, const char *value)
{
    g_ptr_array_add(terms, claw_term(prefix, value, strlen(value)));
}

/* The index terms that an indicator of @type and (normalised) @value
 * matches, into @terms; false with *@why if they cannot be listed. */
static bool
hunt_terms(claw_index_t *ix, const char *type, const char *value, GPtrArray *terms,
           const char **why)
{
    static const char *const senders[] = {"XF", "XRT", "XE"};
    if (!strcmp(type, "url")) {
        add_term(terms, "XURL", value);
    } else if (!strcmp(type, "host")) {
        add_term(terms, "XHOST", value);
    } else if (!strcmp(type, "domain")) {
        add_term(terms, "XDOM", value);
        add_term(terms, "XHOST", value);
        for (size_t i = 0; i < G_N_ELEMENTS(senders); i++)
            add_term(terms, senders[i], value);
    } else if (!strcmp(type, "sender")) {
        for (size_t i = 0; i < G_N_ELEMENTS(senders); i++)
            add_term(terms, senders[i], value);
    } else if (!strcmp(type, "sha256")) {
        add_term(terms, "XSHA", value);
    } else if (!strcmp(type, "message-id")) {
        add_term(terms, "XMID", value);
    } else if (!strcmp(type, "ip") && !strchr(value, '/')) {
        add_term(terms, "XIP", value);
        add_term(terms, "XHOST", value);
    } else if (!strcmp(type, "ip")) {
        range_run_t r = {.terms = terms};
        if (claw_cidr_parse(value, &r.cidr) != CLAW_STATUS_SUCCESS) {
            *why = "not a CIDR range";
            return false;
        }
        for (const char *p = "XIP"; p; p = strcmp(p, "XIP") ? NULL : "XHOST") {
            r.prefix_len = strlen(p);
            if (claw_index_each_term(ix, p, in_range, &r) != CLAW_STATUS_SUCCESS) {
                *why = claw_index_error(ix);
                return false;
            }
        }
        if (r.too_many) {
            *why = "the range holds more than 100,000 addresses seen in the archive: hunt "
                   "narrower ranges";
            return false;
        }
    } else {
        *why = "not a type of indicator";
        return false;
    }
    return true;
}

/* One indicator to hunt: from the store by id, or a value given. */
typedef struct {
    uint64_t id; /* 0: a value, not (yet) in the store */
    const char *type, *value;
} quarry_t;

static bool
quarry_of(claw_archive_t *ar, const char *arg, GStringChunk *strings, quarry_t *q,
          const char **why)
{
    char *end;
    unsigned long long n = strtoull(arg, &end, 10);
    *q = (quarry_t){0};
    if (g_ascii_isdigit(arg[0]) && !*end) {
        claw_ioc_t *c = NULL;
        if (claw_ioc_get(ar, n, &c) != CLAW_STATUS_SUCCESS) {
            *why = claw_archive_error(ar);
            return false;
        }
        q->id = c->id;
        q->type = g_string_chunk_insert(strings, c->type);
        q->value = g_string_chunk_insert(strings, c->value);
        claw_ioc_free(c);
        return true;
    }
    return cli_ioc_value(arg, NULL, strings, &q->type, &q->value, why);
}

static const char usage[] =
    "hunt [--json] [--count] [--limit N] ID|VALUE...\n"
    "Every archived message, of any age, that holds each indicator: one of the store's\n"
    "(by id) or a value (TYPE:VALUE, or guessed as claw ioc add does). Where each type is\n"
    "looked for: claw(1), HUNTING. Exit 1 if none is found.\n";

int
claw_cmd_hunt(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false, count = false;
    const char *limit_text = NULL;
    const cli_option_t options[] = {{"json", 'j', &json, NULL},
                                    {"count", 'C', &count, NULL},
                                    {"limit", 'l', NULL, &limit_text},
                                    {0}};
    int rc = cli_parse(prog, usage, options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    long limit = 1000;
    if (limit_text) {
        char *end;
        limit = strtol(limit_text, &end, 10);
        if (*end || end == limit_text || limit < 0) {
            fprintf(stderr, "%s hunt: --limit %s: expected a count (0: all)\n", prog, limit_text);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "%s hunt: give indicators, by id or value (try --help)\n", prog);
        return EX_USAGE;
    }
    rc = 0;
    claw_archive_t *ar = NULL;
    claw_index_t *ix = cli_search_open(prog, cfg, archive, &ar, &rc);
    if (!ix)
        return rc;
    cli_search_warn_behind(prog, ar, ix);
    GStringChunk *strings = g_string_chunk_new(1024);
    uint64_t found = 0;
    for (int i = optind; i < argc && !cli_stdout_closed(); i++) {
        quarry_t q;
        const char *why = NULL;
        GPtrArray *terms = g_ptr_array_new_with_free_func(g_free);
        claw_hits_t *hits = NULL;
        char *err = NULL;
        if (!quarry_of(ar, argv[i], strings, &q, &why) ||
            !hunt_terms(ix, q.type, q.value, terms, &why)) {
            char *v = cli_safe_text(argv[i], 200);
            fprintf(stderr, "%s hunt: %s: %s\n", prog, v, why ? why : "not an indicator");
            g_free(v);
            rc = rc ? rc : EX_DATAERR;
            g_ptr_array_free(terms, TRUE);
            continue;
        }
        claw_status_t st =
            terms->len ? claw_index_search_terms(ix, (const char *const *)terms->pdata, terms->len,
                                                 CLAW_SORT_DATE, 0,
                                                 count ? 0 : limit ? (size_t)limit : SIZE_MAX / 2,
                                                 &hits, &err)
                       : CLAW_STATUS_SUCCESS;
        g_ptr_array_free(terms, TRUE);
        if (st) {
            fprintf(stderr, "%s hunt: %s\n", prog, err ? err : claw_status_to_string(st));
            free(err);
            rc = EX_IOERR;
            continue;
        }
        uint64_t n = hits ? hits->estimated : 0;
        found += n;
        char *v = cli_safe_text(q.value, 200);
        if (json) {
            GString *o = g_string_new("{\"indicator\":{\"id\":");
            if (q.id)
                g_string_append_printf(o, "%" PRIu64, q.id);
            else
                g_string_append(o, "null");
            g_string_append(o, ",\"type\":");
            cli_json_str(o, q.type);
            g_string_append(o, ",\"value\":");
            cli_json_str(o, q.value);
            g_string_append_printf(o, "},\"matches\":%" PRIu64 ",\"messages\":[", n);
            for (size_t k = 0; hits && !count && k < hits->n; k++) {
                claw_record_t *r = NULL;
                if (claw_archive_get_summary(ar, hits->hits[k].docid, &r)) {
                    fprintf(stderr, "%s hunt: %s\n", prog, claw_archive_error(ar));
                    rc = EX_IOERR;
                    continue;
                }
                if (o->str[o->len - 1] != '[')
                    g_string_append_c(o, ',');
                cli_hit_json(o, hits->hits[k].docid, r);
                g_string_append_c(o, '}');
                claw_record_free(r);
            }
            g_string_append(o, "]}");
            printf("%s\n", o->str);
            g_string_free(o, TRUE);
        } else if (count) {
            printf("%" PRIu64 "\t%s:%s\n", n, q.type, v);
        } else {
            printf("# %s:%s: %" PRIu64 " message%s\n", q.type, v, n, n == 1 ? "" : "s");
            for (size_t k = 0; hits && k < hits->n && !cli_stdout_closed(); k++)
                if (!cli_print_hit(prog, ar, &hits->hits[k], CLI_HIT_TEXT, false))
                    rc = EX_IOERR;
            if (hits && n > hits->n)
                printf("# (%zu of %" PRIu64 " shown; --limit 0 for all)\n", hits->n, n);
        }
        g_free(v);
        claw_hits_free(hits);
    }
    g_string_chunk_free(strings);
    cli_search_close(ix);
    return cli_finish_output(prog, rc ? rc : found ? 0 : EXIT_NONE);
}
