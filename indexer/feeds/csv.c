/* csv.c - indicators from CSV (RFC 4180, parsed by libcsv in strict mode)
 * with a column mapping: which column holds the value, and which (if any)
 * its type, reason, end of validity, start and confidence. Vendors' CSV
 * exports differ in their columns, never in what an indicator needs.
 */
#include "build-config.h"

#include "claw-feed.h"

#include <csv.h>
#include <stdarg.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The fields a mapping may name, in the order of col[]. */
static const char *const fields[] = {"value", "type", "reason", "expires", "from", "confidence"};
enum { F_VALUE, F_TYPE, F_REASON, F_EXPIRES, F_FROM, F_CONFIDENCE, N_FIELDS };

typedef struct {
    claw_feed_batch_t *b;
    const char *name;
    const char *mapping;
    bool header;          /* the first record names the columns */
    char *names[N_FIELDS];/* columns named by header, resolved at the first record */
    long col[N_FIELDS];   /* 0-based; -1: none */
    GPtrArray *row;       /* the record's fields so far */
    unsigned record;      /* 1-based */
    int64_t now;
    char *error;
} csv_run_t;

/* Parse @mapping ("value=2,type=1,reason=Comment") into run->col (numbers)
 * and run->names (header names, resolved by the first record). */
static bool
read_mapping(csv_run_t *r)
{
    for (int f = 0; f < N_FIELDS; f++)
        r->col[f] = -1;
    gchar **items = g_strsplit(r->mapping ? r->mapping : "value=1", ",", -1);
    bool ok = true;
    for (gchar **it = items; ok && *it; it++) {
        char *eq = strchr(*it, '=');
        int f = 0;
        if (eq) {
            *eq = '\0';
            for (f = 0; f < N_FIELDS && strcmp(g_strstrip(*it), fields[f]); f++)
                ;
        }
        if (!eq || f == N_FIELDS) {
            r->error = g_strdup_printf("--columns: '%s': expected FIELD=COLUMN, FIELD one of "
                                       "value, type, reason, expires, from, confidence",
                                       *it);
            ok = false;
            break;
        }
        const char *c = g_strstrip(eq + 1);
        char *end;
        errno = 0;
        long n = strtol(c, &end, 10);
        if (*c && !*end && !errno && n >= 1 && n <= 10000) {
            r->col[f] = n - 1;
        } else if (*c && r->header) {
            g_free(r->names[f]);
            r->names[f] = g_strdup(c);
        } else {
            r->error = g_strdup_printf("--columns: %s=%s: expected a column number from 1%s",
                                       fields[f], c, r->header ? ", or a name in the header" : "");
            ok = false;
        }
    }
    g_strfreev(items);
    if (ok && r->col[F_VALUE] < 0 && !r->names[F_VALUE]) {
        r->error = g_strdup("--columns: no value=COLUMN");
        ok = false;
    }
    return ok;
}

/* The header record: the columns the mapping names. */
static void
read_header(csv_run_t *r)
{
    for (int f = 0; f < N_FIELDS && !r->error; f++) {
        if (!r->names[f])
            continue;
        for (guint i = 0; i < r->row->len && r->col[f] < 0; i++)
            if (!g_ascii_strcasecmp(g_strstrip((char *)r->row->pdata[i]), r->names[f]))
                r->col[f] = (long)i;
        if (r->col[f] < 0)
            r->error = g_strdup_printf("%s:1: no column '%s' in the header (for %s)", r->name,
                                       r->names[f], fields[f]);
    }
}

static const char *
cell(csv_run_t *r, int f)
{
    if (r->col[f] < 0 || (guint)r->col[f] >= r->row->len)
        return NULL;
    const char *s = r->row->pdata[r->col[f]];
    return *s ? s : NULL;
}

/* The first fault of the input is the one said. */
static void G_GNUC_PRINTF(2, 3)
fault(csv_run_t *r, const char *fmt, ...)
{
    if (r->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

static void
read_record(csv_run_t *r)
{
    const char *v = cell(r, F_VALUE), *why = NULL;
    if (r->col[F_VALUE] >= (long)r->row->len) {
        if (r->row->len > 1 || (r->row->len == 1 && *(char *)r->row->pdata[0]))
            fault(r, "%s: record %u: %u columns, no column %ld for the value",
                                       r->name, r->record, r->row->len, r->col[F_VALUE] + 1);
        return; /* else a blank line */
    }
    if (!v) {
        claw_feed_skip(r->b, "csv: an empty value");
        return;
    }
    char *value = g_strstrip(g_strdup(v));
    claw_ioc_t *c = claw_feed_add(r->b, cell(r, F_TYPE), value, &why);
    if (!c) {
        char *e = g_strescape(value, NULL);
        fault(r, "%s: record %u: '%.200s': %s", r->name, r->record, e, why);
        g_free(e);
    }
    g_free(value);
    if (!c)
        return;
    const char *s;
    if ((s = cell(r, F_REASON)))
        c->reason = claw_feed_str(r->b, s);
    if ((s = cell(r, F_EXPIRES)) && !claw_feed_parse_time(s, r->now, &c->valid_until))
        fault(r, "%s: record %u: expires '%.100s': not a date", r->name,
                                   r->record, s);
    if ((s = cell(r, F_FROM)) && !claw_feed_parse_time(s, r->now, &c->valid_from))
        fault(r, "%s: record %u: from '%.100s': not a date", r->name,
                                   r->record, s);
    if ((s = cell(r, F_CONFIDENCE))) {
        char *end;
        long n = strtol(s, &end, 10);
        if (*end || n < 0 || n > 100)
            fault(r, "%s: record %u: confidence '%.100s': expected 0 to 100",
                                       r->name, r->record, s);
        c->confidence = (int)n;
    }
}

static void
on_field(void *s, size_t len, void *ctx)
{
    csv_run_t *r = ctx;
    if (!r->error)
        g_ptr_array_add(r->row, g_strndup(s ? s : "", len));
}

static void
on_record(int term, void *ctx)
{
    (void)term;
    csv_run_t *r = ctx;
    r->record++;
    if (!r->error) {
        if (r->record == 1 && r->header)
            read_header(r);
        else
            read_record(r);
    }
    g_ptr_array_set_size(r->row, 0);
}

bool
claw_feed_read_csv(claw_feed_batch_t *b, const char *name, const char *data, size_t len,
                   const char *mapping, bool header, char **error)
{
    if (len > CLAW_FEED_MAX_BYTES) {
        *error = g_strdup_printf("%s: %.0f MB, more than an import takes (%zu MB): split it",
                                 name, len / 1e6, CLAW_FEED_MAX_BYTES >> 20);
        return false;
    }
    if (memchr(data, '\0', len)) {
        *error = g_strdup_printf("%s: a NUL byte: not CSV", name);
        return false;
    }
    csv_run_t r = {.b = b, .name = name, .mapping = mapping, .header = header,
                   .row = g_ptr_array_new_with_free_func(g_free),
                   .now = g_get_real_time() / G_USEC_PER_SEC};
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) { /* a BOM, as spreadsheets write */
        data += 3;
        len -= 3;
    }
    struct csv_parser p;
    if (read_mapping(&r) && csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) == 0) {
        if (csv_parse(&p, data, len, on_field, on_record, &r) != len ||
            csv_fini(&p, on_field, on_record, &r) != 0) {
            if (!r.error)
                r.error = g_strdup_printf("%s: record %u: %s", name, r.record + 1,
                                          csv_strerror(csv_error(&p)));
        }
        csv_free(&p);
    } else if (!r.error) {
        r.error = g_strdup("out of memory");
    }
    for (int f = 0; f < N_FIELDS; f++)
        g_free(r.names[f]);
    g_ptr_array_free(r.row, TRUE);
    *error = r.error;
    return r.error == NULL;
}
