/* cmd-ioc.c - claw ioc: the archive's indicators, by hand and from files.
 *
 *   claw ioc add [--type T] VALUE...   add or update (TYPE:VALUE, or guessed)
 *   claw ioc list [--active] [--json]
 *   claw ioc show ID [--json]
 *   claw ioc revoke ID|VALUE...
 *   claw ioc import [--type T] FILE... plain lists, all or nothing
 *
 * Every change is committed to the store (claw-ioc.h), then the active set
 * is published for the MTA ([ioc] published), which reads it again within
 * a second.
 */
#include "build-config.h"

#include "claw-config.h"
#include "claw-ioc.h"
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

/* An import larger than this is refused before it is read: a plain list of
 * a million URLs is about 60 MB. */
#define IMPORT_MAX_BYTES (256u << 20)

/* What an add or an import gives every indicator it makes. */
typedef struct {
    const char *type; /* --type, or NULL: each value says or is guessed */
    const char *action, *reason, *source, *expires, *from, *confidence;
    int64_t valid_from, valid_until;
    int conf;
    char by[64];
} ioc_opts_t;

/* @s as a time: "2027-01-31", "2027-01-31T12:00:00Z" (ISO 8601; UTC when
 * it names no zone), or a span from @now: "90d", "12h", "30m", "45s", "2w".
 * "never" and "" give 0. False if it is none of these. */
static bool
parse_when(const char *s, int64_t now, int64_t *out)
{
    if (!s || !*s || !strcmp(s, "never")) {
        *out = 0;
        return true;
    }
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (end != s && n >= 0 && !errno && end[0] && !end[1] && !strchr("-:T", *end)) {
        int64_t unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600
                     : *end == 'd' ? 86400 : *end == 'w' ? 7 * 86400 : 0;
        if (!unit || n > INT64_MAX / unit - now)
            return false;
        *out = now + n * unit;
        return true;
    }
    char *full = strchr(s, 'T') ? g_strdup(s) : g_strconcat(s, "T00:00:00", NULL);
    GTimeZone *utc = g_time_zone_new_utc();
    GDateTime *t = g_date_time_new_from_iso8601(full, utc);
    g_time_zone_unref(utc);
    g_free(full);
    if (!t)
        return false;
    *out = g_date_time_to_unix(t);
    g_date_time_unref(t);
    return true;
}

static bool
known_type(const char *t, size_t n)
{
    for (const char *const *k = claw_ioc_types(); *k; k++)
        if (strlen(*k) == n && !g_ascii_strncasecmp(*k, t, n))
            return true;
    return false;
}

/* The type of a bare value, guessed: an IP address or range, 64 hex
 * digits, a URL (it has "://"), a Message-ID (in angle brackets), a mail
 * address, else a domain. */
static const char *
guess_type(const char *v)
{
    char *key = NULL;
    if (claw_ioc_normalise("ip", v, &key, NULL) == CLAW_STATUS_SUCCESS) {
        claw_free(key);
        return "ip";
    }
    if (claw_ioc_normalise("sha256", v, &key, NULL) == CLAW_STATUS_SUCCESS) {
        claw_free(key);
        return "sha256";
    }
    if (strstr(v, "://"))
        return "url";
    if (v[0] == '<')
        return "message-id";
    if (strchr(v, '@'))
        return "sender";
    return "domain";
}

/* @arg (TYPE:VALUE, or a bare VALUE of type @type or guessed) as an
 * indicator in @c, its strings in @strings; false with *@why otherwise. */
static bool
make_ioc(const char *arg, const ioc_opts_t *o, GStringChunk *strings, claw_ioc_t *c,
         const char **why)
{
    const char *type = o->type, *value = arg, *colon = strchr(arg, ':');
    char tbuf[16];
    size_t tn = colon ? (size_t)(colon - arg) : 0;
    if (!type && colon && tn < sizeof tbuf && known_type(arg, tn)) {
        for (size_t i = 0; i < tn; i++)
            tbuf[i] = g_ascii_tolower(arg[i]);
        tbuf[tn] = '\0';
        type = tbuf;
        value = colon + 1;
    }
    if (!type)
        type = guess_type(value);
    if (strpbrk(value, "\r\n")) {
        *why = "holds a line break";
        return false;
    }
    char *key = NULL;
    if (claw_ioc_normalise(type, value, &key, why) != CLAW_STATUS_SUCCESS)
        return false;
    *c = (claw_ioc_t){0};
    c->type = g_string_chunk_insert(strings, type);
    c->value = g_string_chunk_insert(strings, key);
    c->given = strcmp(key, value) ? g_string_chunk_insert(strings, value) : NULL;
    claw_free(key);
    c->action = o->action;
    c->source = o->source;
    c->reason = o->reason;
    c->added_by = o->by;
    c->valid_from = o->valid_from;
    c->valid_until = o->valid_until;
    c->confidence = o->conf;
    return true;
}

bool
cli_ioc_value(const char *arg, const char *type, GStringChunk *strings, const char **type_out,
              const char **value_out, const char **why)
{
    ioc_opts_t o = {.type = type};
    claw_ioc_t c;
    if (!make_ioc(arg, &o, strings, &c, why))
        return false;
    *type_out = c.type;
    *value_out = c.value;
    return true;
}

/* Check and complete the options an add or an import share. */
static bool
ioc_opts_ready(const char *prog, ioc_opts_t *o, int64_t now)
{
    if (o->action && !claw_ioc_action_known(o->action)) {
        fprintf(stderr, "%s: --action %s: expected block, quarantine, tag or hunt\n", prog,
                o->action);
        return false;
    }
    if (o->type && !known_type(o->type, strlen(o->type))) {
        fprintf(stderr, "%s: --type %s: expected one of", prog, o->type);
        for (const char *const *k = claw_ioc_types(); *k; k++)
            fprintf(stderr, " %s", *k);
        fprintf(stderr, "\n");
        return false;
    }
    /* What is not given keeps what an indicator already there has. */
    const char *bad = NULL;
    o->valid_until = o->valid_from = CLAW_IOC_KEEP;
    if (o->expires && !parse_when(o->expires, now, &o->valid_until))
        bad = o->expires;
    if (o->from && !parse_when(o->from, now, &o->valid_from))
        bad = o->from;
    if (bad) {
        fprintf(stderr, "%s: %s: expected a date (2027-01-31, 2027-01-31T12:00:00Z), a span "
                        "(90d, 12h, 30m, 45s, 2w) or never\n",
                prog, bad);
        return false;
    }
    o->conf = CLAW_IOC_KEEP_CONFIDENCE;
    if (o->confidence) {
        char *end;
        long c = strtol(o->confidence, &end, 10);
        if (*end || end == o->confidence || c < 0 || c > 100) {
            fprintf(stderr, "%s: --confidence %s: expected 0 to 100\n", prog, o->confidence);
            return false;
        }
        o->conf = (int)c;
    }
    cli_whoami(o->by, sizeof o->by);
    return true;
}

/* Publish the active set for the MTA; a failure is said, and the change
 * stays committed (the next change, or clawd, publishes it). */
static int
publish(const char *prog, claw_archive_t *ar, claw_config_t *cfg, int64_t now)
{
    char *path = claw_ioc_published_path(cfg, claw_archive_dir(ar));
    size_t n = 0;
    claw_status_t st = path ? claw_ioc_publish(ar, path, now, &n, NULL) : CLAW_STATUS_OUT_OF_MEMORY;
    if (st)
        fprintf(stderr, "%s: the change is stored, but the MTA's copy was not written: %s\n", prog,
                claw_archive_error(ar));
    free(path);
    return st ? EX_IOERR : 0;
}

/* Store @iocs and publish; prints what changed. */
static int
store_iocs(const char *prog, claw_archive_t *ar, claw_config_t *cfg, GPtrArray *iocs, int64_t now,
           bool json)
{
    claw_ioc_put_counts_t counts = {0, 0};
    claw_status_t st = claw_ioc_put(ar, (claw_ioc_t *const *)iocs->pdata, iocs->len, now, &counts);
    if (st) {
        fprintf(stderr, "%s: nothing added: %s\n", prog, claw_archive_error(ar));
        return EX_IOERR;
    }
    if (json) {
        printf("{\"added\":%zu,\"updated\":%zu,\"ids\":[", counts.added, counts.updated);
        for (guint i = 0; i < iocs->len; i++)
            printf("%s%" PRIu64, i ? "," : "", ((claw_ioc_t *)iocs->pdata[i])->id);
        printf("]}\n");
    } else {
        for (guint i = 0; i < iocs->len && i < 50; i++) {
            claw_ioc_t *c = iocs->pdata[i];
            char *v = cli_safe_text(c->value, 200);
            printf("%" PRIu64 "\t%s\t%s\n", c->id, c->type, v);
            g_free(v);
        }
        if (iocs->len > 50)
            printf("... and %u more\n", iocs->len - 50);
        printf("%zu added, %zu updated\n", counts.added, counts.updated);
    }
    return publish(prog, ar, cfg, now);
}


#define IOC_OPTIONS(o)                                                                             \
    {"type", 't', NULL, &(o).type}, {"action", 'a', NULL, &(o).action},                         \
        {"reason", 'r', NULL, &(o).reason}, {"expires", 'e', NULL, &(o).expires},               \
        {"from", 0, NULL, &(o).from}, {"confidence", 0, NULL, &(o).confidence},                 \
        {"source", 0, NULL, &(o).source}

static const char add_usage[] =
    "ioc add [--type T] [--action A] [--reason TEXT] [--expires WHEN] [--from WHEN]\n"
    "        [--confidence N] [--source NAME] [--json] VALUE...\n"
    "Add indicators to the archive (or update the ones already there), then publish the\n"
    "active set for the MTA. VALUE is TYPE:VALUE, or a bare value of --type, or guessed\n"
    "(an IP or range, a SHA-256, a URL, <message-id>, an address, else a domain).\n"
    "Types: url host domain sender sha256 ip message-id. Actions: block (the default),\n"
    "quarantine, tag, hunt. WHEN: 2027-01-31, 2027-01-31T12:00:00Z, 90d, 12h, never.\n";

static int
ioc_add(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    ioc_opts_t o = {.source = "cli"};
    bool json = false;
    const cli_option_t options[] = {IOC_OPTIONS(o), {"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog, add_usage, options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    if (optind >= argc) {
        fprintf(stderr, "%s: ioc add: no VALUE (try --help)\n", prog);
        return EX_USAGE;
    }
    if (!ioc_opts_ready(prog, &o, now))
        return EX_USAGE;
    GStringChunk *strings = g_string_chunk_new(1024);
    GPtrArray *iocs = g_ptr_array_new_with_free_func(g_free);
    rc = 0;
    for (int i = optind; i < argc; i++) {
        claw_ioc_t *c = g_new0(claw_ioc_t, 1);
        const char *why = NULL;
        g_ptr_array_add(iocs, c);
        if (!make_ioc(argv[i], &o, strings, c, &why)) {
            char *v = cli_safe_text(argv[i], 200);
            fprintf(stderr, "%s: '%s': %s\n", prog, v, why ? why : "not an indicator");
            g_free(v);
            rc = EX_DATAERR;
        }
    }
    claw_archive_t *ar = rc ? NULL : cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (ar) {
        rc = store_iocs(prog, ar, cfg, iocs, now, json);
        claw_archive_close(ar);
    } else if (rc == EX_DATAERR) {
        fprintf(stderr, "%s: nothing added\n", prog);
    }
    g_ptr_array_free(iocs, TRUE);
    g_string_chunk_free(strings);
    return rc;
}

static const char *
state_of(const claw_ioc_t *c, int64_t now)
{
    if (c->revoked)
        return "revoked";
    if (c->valid_until && now >= c->valid_until)
        return "expired";
    if (c->valid_from && now < c->valid_from)
        return "pending";
    return "active";
}

static void
json_time(GString *o, const char *name, int64_t t)
{
    char buf[40];
    g_string_append_printf(o, ",\"%s\":", name);
    if (!t) {
        g_string_append(o, "null");
        return;
    }
    cli_fmt_time(buf, sizeof buf, t, true);
    cli_json_str(o, buf);
}

static void
json_field(GString *o, const char *name, const char *v)
{
    g_string_append_printf(o, ",\"%s\":", name);
    if (v)
        cli_json_str(o, v);
    else
        g_string_append(o, "null");
}

static void
ioc_json(GString *o, const claw_ioc_t *c, int64_t now)
{
    g_string_append_printf(o, "{\"id\":%" PRIu64, c->id);
    json_field(o, "type", c->type);
    json_field(o, "value", c->value);
    json_field(o, "given", c->given);
    json_field(o, "action", c->action);
    json_field(o, "state", state_of(c, now));
    json_field(o, "source", c->source);
    json_field(o, "reason", c->reason);
    json_field(o, "added_by", c->added_by);
    json_time(o, "added", c->added);
    json_time(o, "updated", c->updated);
    json_time(o, "valid_from", c->valid_from);
    json_time(o, "valid_until", c->valid_until);
    json_time(o, "revoked", c->revoked);
    json_field(o, "revoked_by", c->revoked_by);
    if (c->confidence >= 0)
        g_string_append_printf(o, ",\"confidence\":%d}", c->confidence);
    else
        g_string_append(o, ",\"confidence\":null}");
}

typedef struct {
    bool json, active_only;
    int64_t now;
    size_t n;
    GString *out;
} list_run_t;

static bool
list_one(void *ctx, const claw_ioc_t *c)
{
    list_run_t *l = ctx;
    if (l->active_only && !claw_ioc_active(c, l->now))
        return true;
    if (cli_stdout_closed())
        return false;
    if (l->json) {
        g_string_truncate(l->out, 0);
        g_string_append(l->out, l->n ? ",\n" : "[\n");
        ioc_json(l->out, c, l->now);
        fputs(l->out->str, stdout);
    } else {
        char *v = cli_safe_text(c->value, 200);
        printf("%" PRIu64 "\t%s\t%s\t%s\t%s\n", c->id, c->type, c->action, state_of(c, l->now), v);
        g_free(v);
    }
    l->n++;
    return true;
}

static int
ioc_list(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    list_run_t l = {.now = g_get_real_time() / G_USEC_PER_SEC, .out = g_string_new(NULL)};
    const cli_option_t options[] = {
        {"json", 'j', &l.json, NULL}, {"active", 0, &l.active_only, NULL}, {0}};
    int rc = cli_parse(prog,
                       "ioc list [--active] [--json]\nThe archive's indicators, by id: id, type, "
                       "action, state (active, pending, expired, revoked), value.\n",
                       options, false, argc, argv);
    if (rc != CLI_GO_ON) {
        g_string_free(l.out, TRUE);
        return rc;
    }
    rc = 0;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, false, &rc);
    if (ar) {
        if (claw_ioc_each(ar, list_one, &l)) {
            fprintf(stderr, "%s: %s\n", prog, claw_archive_error(ar));
            rc = EX_IOERR;
        } else if (l.json) {
            fputs(l.n ? "\n]\n" : "[]\n", stdout);
        }
        claw_archive_close(ar);
    }
    g_string_free(l.out, TRUE);
    return cli_finish_output(prog, rc);
}

/* The indicator @arg names: an id, or a value (as ioc add reads one). */
static claw_status_t
find_ioc(claw_archive_t *ar, const char *arg, uint64_t *id, const char **why)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    if (g_ascii_isdigit(arg[0]) && !*end && !errno) {
        *id = n;
        return CLAW_STATUS_SUCCESS;
    }
    ioc_opts_t o = {0};
    GStringChunk *strings = g_string_chunk_new(256);
    claw_ioc_t c;
    claw_status_t st = CLAW_STATUS_INVALID_ARGUMENT;
    if (make_ioc(arg, &o, strings, &c, why))
        st = claw_ioc_find(ar, c.type, c.value, id);
    g_string_chunk_free(strings);
    return st;
}

static int
ioc_show(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    bool json = false;
    const cli_option_t options[] = {{"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog, "ioc show [--json] ID|VALUE\nOne indicator, whole.\n", options, true,
                       argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s: ioc show: expected one ID or VALUE (try --help)\n", prog);
        return EX_USAGE;
    }
    rc = 0;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, false, &rc);
    if (!ar)
        return rc;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    uint64_t id = 0;
    const char *why = NULL;
    claw_ioc_t *c = NULL;
    claw_status_t st = find_ioc(ar, argv[optind], &id, &why);
    if (!st)
        st = claw_ioc_get(ar, id, &c);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, why ? why : claw_archive_error(ar));
        rc = st == CLAW_STATUS_NOT_FOUND ? EXIT_NONE : why ? EX_DATAERR : EX_IOERR;
    } else if (json) {
        GString *o = g_string_new(NULL);
        ioc_json(o, c, now);
        printf("%s\n", o->str);
        g_string_free(o, TRUE);
    } else {
        char t[40];
        char *v = cli_safe_text(c->value, 2000);
        printf("Id:          %" PRIu64 "\nType:        %s\nValue:       %s\n", c->id, c->type, v);
        g_free(v);
        if (c->given) {
            v = cli_safe_text(c->given, 2000);
            printf("Given as:    %s\n", v);
            g_free(v);
        }
        printf("Action:      %s\nState:       %s\n", c->action, state_of(c, now));
        printf("Source:      %s\n", c->source ? c->source : "-");
        if (c->reason) {
            v = cli_safe_text(c->reason, 2000);
            printf("Reason:      %s\n", v);
            g_free(v);
        }
        cli_fmt_time(t, sizeof t, c->added, true);
        printf("Added:       %s by %s\n", t, c->added_by ? c->added_by : "-");
        cli_fmt_time(t, sizeof t, c->updated, true);
        printf("Updated:     %s\n", t);
        if (c->valid_from) {
            cli_fmt_time(t, sizeof t, c->valid_from, true);
            printf("Valid from:  %s\n", t);
        }
        if (c->valid_until) {
            cli_fmt_time(t, sizeof t, c->valid_until, true);
            printf("Valid until: %s\n", t);
        }
        if (c->revoked) {
            cli_fmt_time(t, sizeof t, c->revoked, true);
            printf("Revoked:     %s by %s\n", t, c->revoked_by ? c->revoked_by : "-");
        }
        if (c->confidence >= 0)
            printf("Confidence:  %d\n", c->confidence);
    }
    claw_ioc_free(c);
    claw_archive_close(ar);
    return cli_finish_output(prog, rc);
}

static int
ioc_revoke(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    const cli_option_t options[] = {{0}};
    int rc = cli_parse(prog,
                       "ioc revoke ID|VALUE...\nRevoke indicators (they are kept, marked), then "
                       "publish the active set for the MTA.\n",
                       options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    if (optind >= argc) {
        fprintf(stderr, "%s: ioc revoke: no ID or VALUE (try --help)\n", prog);
        return EX_USAGE;
    }
    rc = 0;
    claw_archive_t *ar = cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (!ar)
        return rc;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    char by[64];
    cli_whoami(by, sizeof by);
    size_t done = 0;
    for (int i = optind; i < argc; i++) {
        uint64_t id = 0;
        const char *why = NULL;
        claw_status_t st = find_ioc(ar, argv[i], &id, &why);
        if (!st)
            st = claw_ioc_revoke(ar, id, by, now);
        if (st) {
            char *v = cli_safe_text(argv[i], 200);
            fprintf(stderr, "%s: %s: %s\n", prog, v, why ? why : claw_archive_error(ar));
            g_free(v);
            if (!rc)
                rc = st == CLAW_STATUS_NOT_FOUND ? EXIT_NONE : why ? EX_DATAERR : EX_IOERR;
            continue;
        }
        printf("%" PRIu64 "\trevoked\n", id);
        done++;
    }
    if (done) {
        int prc = publish(prog, ar, cfg, now);
        rc = rc ? rc : prc;
    }
    claw_archive_close(ar);
    return rc;
}

/* Read plain list @path (TYPE:VALUE lines, or bare values of --type or
 * guessed; '#' starts a comment at a line's start or after a space) into
 * @iocs; false, having said which line is wrong, on any error. */
static bool
read_plain(const char *prog, const char *path, const ioc_opts_t *o, GStringChunk *strings,
           GPtrArray *iocs)
{
    struct stat sb;
    FILE *f = fopen(path, "r");
    if (!f || fstat(fileno(f), &sb) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, g_strerror(errno));
        if (f)
            fclose(f);
        return false;
    }
    if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > IMPORT_MAX_BYTES) {
        fprintf(stderr, "%s: %s: %.0f MB, more than an import takes (%u MB): split it\n", prog,
                path, sb.st_size / 1e6, IMPORT_MAX_BYTES >> 20);
        fclose(f);
        return false;
    }
    char *line = NULL;
    size_t cap = 0, total = 0;
    unsigned lineno = 0;
    ssize_t got;
    bool ok = true;
    while (ok && (got = _claw_read_line(f, &line, &cap, CLAW_CONFIG_LINE_MAX)) >= 0) {
        lineno++;
        total += (size_t)got;
        if (total > IMPORT_MAX_BYTES) {
            fprintf(stderr, "%s: %s:%u: more than an import takes (%u MB): split it\n", prog, path,
                    lineno, IMPORT_MAX_BYTES >> 20);
            ok = false;
            break;
        }
        if (strlen(line) != (size_t)got) {
            fprintf(stderr, "%s: %s:%u: a NUL byte: not a list of indicators\n", prog, path,
                    lineno);
            ok = false;
            break;
        }
        char *s = _claw_ioc_line(line);
        if (!*s)
            continue;
        claw_ioc_t *c = g_new0(claw_ioc_t, 1);
        const char *why = NULL;
        if (!make_ioc(s, o, strings, c, &why)) {
            char *v = cli_safe_text(s, 200);
            fprintf(stderr, "%s: %s:%u: '%s': %s\n", prog, path, lineno, v,
                    why ? why : "not an indicator");
            g_free(v);
            g_free(c);
            ok = false;
            break;
        }
        g_ptr_array_add(iocs, c);
    }
    if (ok && got == -2) {
        fprintf(stderr, "%s: %s:%u: a line longer than %u bytes: not a list of indicators\n",
                prog, path, lineno + 1, CLAW_CONFIG_LINE_MAX);
        ok = false;
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, g_strerror(errno));
        ok = false;
    }
    free(line);
    fclose(f);
    return ok;
}

static const char import_usage[] =
    "ioc import [--type T] [--action A] [--reason TEXT] [--expires WHEN] [--from WHEN]\n"
    "           [--confidence N] [--source NAME] [--json] FILE...\n"
    "Import indicators from plain lists: a TYPE:VALUE, or a bare value of --type (or\n"
    "guessed, as ioc add does), a line; '#' starts a comment at a line's start or after a\n"
    "space. All or nothing: one line that is not an indicator stops the import, naming its\n"
    "file and line, with nothing added. The source is file:FILE unless --source says.\n";

static int
ioc_import(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    ioc_opts_t o = {0};
    bool json = false;
    const cli_option_t options[] = {IOC_OPTIONS(o), {"json", 'j', &json, NULL}, {0}};
    int rc = cli_parse(prog, import_usage, options, true, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    if (optind >= argc) {
        fprintf(stderr, "%s: ioc import: no FILE (try --help)\n", prog);
        return EX_USAGE;
    }
    if (!ioc_opts_ready(prog, &o, now))
        return EX_USAGE;
    GStringChunk *strings = g_string_chunk_new(64 * 1024);
    GPtrArray *iocs = g_ptr_array_new_with_free_func(g_free);
    bool given_source = o.source != NULL;
    rc = 0;
    for (int i = optind; i < argc && !rc; i++) {
        if (!given_source) {
            char *src = g_strconcat("file:", argv[i], NULL);
            o.source = g_string_chunk_insert(strings, src);
            g_free(src);
        }
        if (!read_plain(prog, argv[i], &o, strings, iocs))
            rc = EX_DATAERR;
    }
    claw_archive_t *ar = NULL;
    if (rc)
        fprintf(stderr, "%s: nothing imported\n", prog);
    else if (iocs->len == 0)
        fprintf(stderr, "%s: no indicators in %s\n", prog, argc - optind > 1 ? "the files" : argv[optind]);
    else
        ar = cli_open_archive_for(prog, cfg, archive, true, &rc);
    if (ar) {
        rc = store_iocs(prog, ar, cfg, iocs, now, json);
        claw_archive_close(ar);
    }
    g_ptr_array_free(iocs, TRUE);
    g_string_chunk_free(strings);
    return rc;
}

int
claw_cmd_ioc(const char *prog, claw_config_t *cfg, const char *archive, int argc, char **argv)
{
    static const struct {
        const char *name;
        claw_cli_cmd_fn *fn;
    } subs[] = {{"add", ioc_add},
                {"list", ioc_list},
                {"show", ioc_show},
                {"revoke", ioc_revoke},
                {"import", ioc_import}};
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h"))) {
        printf("Usage: %s ioc add|list|show|revoke|import ... (each with --help)\n"
               "The archive's indicators: added by hand or from files, hunted in the archive,\n"
               "published for the MTA.\n",
               prog);
        return 0;
    }
    for (size_t i = 0; sub && i < G_N_ELEMENTS(subs); i++)
        if (!strcmp(sub, subs[i].name))
            return subs[i].fn(prog, cfg, archive, argc - 1, argv + 1);
    fprintf(stderr, "%s: ioc: expected add, list, show, revoke or import (try ioc --help)\n",
            prog);
    return EX_USAGE;
}
