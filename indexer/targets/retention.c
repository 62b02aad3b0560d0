/* retention.c - which archived messages [retention] says are due for
 * deletion (claw-targets.h). A rule keeps the mail its query finds for so
 * many days after arrival; a rule without a query is the default, for the
 * mail no rule with a query finds. A message is due when a rule that
 * applies to it has let it go and none that applies still keeps it: the
 * longest wins among the rules that find it. So "everything 7 years,
 * newsletters 90 days, the lawyers' mail 10 years" does what it says.
 *
 * Asked of the index by day: a rule whose cutoff falls on day D lets go
 * of what arrived up to the day before D, and keeps what arrived from D on
 * (a message is kept up to a day longer than its rule, never shorter).
 */
#include "build-config.h"

#include "claw-targets.h"

#include <string.h>
#include <time.h>

/* The day of @t (UTC) plus @delta days, as YYYY-MM-DD. */
static void
day_of(int64_t t, int delta, char out[16])
{
    time_t s = (time_t)(t + (int64_t)delta * 86400);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* @query (may be "") restricted to arrivals in @range. */
static char *
within(const char *query, const char *range)
{
    return *query ? g_strdup_printf("(%s) AND received:%s", query, range)
                  : g_strdup_printf("received:%s", range);
}

/* Add each message @query (with its range) finds to @into, with @name. */
static bool
gather(claw_index_t *ix, const char *name, const char *query, const char *range, GHashTable *into,
       char **why)
{
    char *q = within(query, range);
    GArray *hits = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    char *err = NULL;
    bool ok = claw_select_query(ix, q, hits, &err);
    if (!ok) {
        *why = g_strdup_printf("retention rule %s: %s", name, err);
        g_free(err);
    }
    for (guint h = 0; h < hits->len; h++) {
        uint64_t d = g_array_index(hits, uint64_t, h);
        if (!g_hash_table_contains(into, &d)) {
            uint64_t *key = g_new(uint64_t, 1);
            *key = d;
            g_hash_table_insert(into, key, (gpointer)name);
        }
    }
    g_array_free(hits, TRUE);
    g_free(q);
    return ok;
}

static GHashTable *
docid_set(void)
{
    return g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
}

bool
claw_retention_due(claw_index_t *ix, const claw_config_t *cfg, int64_t now, GArray *docids,
                   GPtrArray *rules, char **why)
{
    *why = NULL;
    /* Every default rule applies to every message, so the longest alone
     * decides: what it lets go of is due unless a rule with a query keeps
     * it, and nothing it keeps needs gathering (most of the archive). */
    const claw_retention_config_t *r, *longest = NULL;
    for (size_t i = 0; (r = claw_config_retention(cfg, i)); i++)
        if (!*r->query && (!longest || r->days > longest->days))
            longest = r;
    /* [0]: by the rules with a query, [1]: by the default. */
    GHashTable *due[2] = {docid_set(), docid_set()}, *kept = docid_set();
    for (size_t i = 0; !*why && (r = claw_config_retention(cfg, i)); i++) {
        int d = !*r->query;
        if (d && r != longest)
            continue;
        int64_t cutoff = now - r->days * 86400;
        char before[16], from[16], range[24];
        day_of(cutoff, -1, before);
        day_of(cutoff, 0, from);
        snprintf(range, sizeof range, "..%s", before);
        if (gather(ix, r->name, r->query, range, due[d], why) && !d) {
            snprintf(range, sizeof range, "%s..", from);
            gather(ix, r->name, r->query, range, kept, why);
        }
    }
    if (!*why) {
        /* Due by a rule with a query, kept by none; or due by the default,
         * and found by no rule with a query. */
        GHashTableIter it;
        gpointer k, v;
        for (int d = 0; d < 2; d++) {
            g_hash_table_iter_init(&it, due[d]);
            while (g_hash_table_iter_next(&it, &k, &v))
                if (!g_hash_table_contains(kept, k) && (!d || !g_hash_table_contains(due[0], k)))
                    g_array_append_val(docids, *(uint64_t *)k);
        }
        claw_select_unique(docids);
        for (guint i = 0; rules && i < docids->len; i++) {
            uint64_t *key = &g_array_index(docids, uint64_t, i);
            const char *name = g_hash_table_lookup(due[0], key);
            g_ptr_array_add(rules, (gpointer)(name ? name : g_hash_table_lookup(due[1], key)));
        }
    }
    g_hash_table_destroy(due[0]);
    g_hash_table_destroy(due[1]);
    g_hash_table_destroy(kept);
    return !*why;
}
