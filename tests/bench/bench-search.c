/* bench-search - in-process search latency over a fixed set of queries.
 *
 *   bench-search ARCHIVE_DIR ROUNDS QUERY...
 *
 * Opens the index once (as claw search does, with the phrase checker),
 * runs every query once untimed, then ROUNDS times each, newest first,
 * 50 hits with what each shows read from the store (as claw search prints
 * them), and prints one JSON line: p50 and p99 over all timed runs (ms),
 * and per query its median and its number of matches.
 */
#include "build-config.h"

#include "claw-ingest.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench-search ARCHIVE_DIR ROUNDS QUERY...\n");
        return 64;
    }
    int rounds = atoi(argv[2]);
    char *ipath = g_build_filename(argv[1], "index", NULL);
    claw_index_t *ix = NULL;
    claw_archive_t *ar = NULL;
    claw_engine_t *engine = NULL;
    claw_config_t *cfg = NULL;
    char *err = NULL;
    if (claw_index_open(ipath, 0, &ix, &err) || claw_archive_open(argv[1], CLAW_ARCHIVE_READ_ONLY,
                                                                  0, &ar, &err) ||
        claw_config_new(&cfg) || claw_engine_new(cfg, &engine, &err)) {
        fprintf(stderr, "bench-search: %s\n", err ? err : "cannot open");
        return 1;
    }
    claw_phrase_checker_t *pc = claw_phrase_checker_new(ar, engine, cfg, 256 * 1024, 0);
    claw_index_set_phrase_check(ix, claw_phrase_check, pc);
    int nq = argc - 3;
    double *all = calloc((size_t)(nq * rounds), sizeof *all);
    double *one = calloc((size_t)rounds, sizeof *one);
    size_t n_all = 0;
    GString *per = g_string_new(NULL);
    for (int q = 0; q < nq; q++) {
        const char *query = argv[3 + q];
        claw_hits_t *h = NULL;
        /* Untimed: the exact count, and caches warm as for a second look. */
        if (claw_index_search(ix, query, CLAW_SORT_DATE, 0, 0, &h, &err)) {
            fprintf(stderr, "bench-search: %s: %s\n", query, err);
            return 1;
        }
        uint64_t matches = h->estimated;
        claw_hits_free(h);
        for (int r = 0; r < rounds; r++) {
            gint64 t0 = g_get_monotonic_time();
            claw_index_search(ix, query, CLAW_SORT_DATE, 0, 50, &h, NULL);
            for (size_t i = 0; h && i < h->n; i++) {
                claw_record_t *rec = NULL;
                if (claw_archive_get_summary(ar, h->hits[i].docid, &rec) == CLAW_STATUS_SUCCESS)
                    claw_record_free(rec);
            }
            double ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
            claw_hits_free(h);
            one[r] = ms;
            all[n_all++] = ms;
        }
        qsort(one, (size_t)rounds, sizeof *one, cmp_double);
        GString *qj = g_string_new(NULL);
        for (const char *p = query; *p; p++) {
            if (*p == '"' || *p == '\\')
                g_string_append_c(qj, '\\');
            g_string_append_c(qj, *p);
        }
        g_string_append_printf(per, "%s{\"query\":\"%s\",\"matches\":%" PRIu64 ",\"p50_ms\":%.3f}",
                               q ? "," : "", qj->str, matches, one[rounds / 2]);
        g_string_free(qj, TRUE);
    }
    qsort(all, n_all, sizeof *all, cmp_double);
    size_t p99 = (size_t)((double)n_all * 0.99);
    if (p99 >= n_all)
        p99 = n_all - 1;
    printf("{\"runs\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"queries\":[%s]}\n", n_all,
           all[n_all / 2], all[p99], all[n_all - 1], per->str);
    g_string_free(per, TRUE);
    free(all);
    free(one);
    claw_phrase_checker_free(pc);
    claw_engine_destroy(engine);
    claw_config_destroy(cfg);
    claw_archive_close(ar);
    claw_index_close(ix);
    g_free(ipath);
    return 0;
}
