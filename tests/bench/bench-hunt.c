/* bench-hunt - retro-hunt latency in process, as claw hunt asks the index.
 *
 *   bench-hunt ARCHIVE_DIR ROUNDS TYPE:VALUE...
 *       each indicator hunted once untimed (caches warm, as for a second
 *       look), then ROUNDS times: its matches (exact), p50 and p99 in ms,
 *       one JSON line each, then one for all of them together;
 *   bench-hunt ARCHIVE_DIR --store
 *       every indicator in force in the archive's store hunted once, as
 *       clawd's round does (the exact count of each, nothing kept): the
 *       total seconds, one JSON line.
 *
 * claw_hunt_run() without an engine: the index's exact terms and count,
 * not the parse of each message found that says where the indicator is
 * (that cost is per hit, not per archive size).
 */
#include "build-config.h"

#include "claw-ioc.h"

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

/* Hunt @type:@value (as given) once; its matches, or -1. */
static int64_t
hunt(claw_archive_t *ar, claw_index_t *ix, const char *type, const char *value)
{
    char *key = NULL, *err = NULL;
    if (claw_ioc_normalise(type, value, &key, NULL) != CLAW_STATUS_SUCCESS)
        return -1;
    claw_hunt_run_t *run = NULL;
    int64_t n = -1;
    if (claw_hunt_run(ar, ix, NULL, 0, type, key, "bench", false, &run, &err) ==
        CLAW_STATUS_SUCCESS)
        n = (int64_t)run->n;
    else
        fprintf(stderr, "bench-hunt: %s:%s: %s\n", type, value, err ? err : "failed");
    claw_hunt_run_free(run);
    claw_free(key);
    free(err);
    return n;
}

typedef struct {
    claw_archive_t *ar;
    claw_index_t *ix;
    int64_t now;
    uint64_t hunted, matches, failed;
} store_run_t;

static bool
hunt_stored(void *ctx, const claw_ioc_t *c)
{
    store_run_t *s = ctx;
    if (!claw_ioc_active(c, s->now))
        return true;
    claw_hunt_run_t *run = NULL;
    char *err = NULL;
    if (claw_hunt_run(s->ar, s->ix, NULL, c->id, c->type, c->value, "bench", false, &run, &err) ==
        CLAW_STATUS_SUCCESS) {
        s->hunted++;
        s->matches += run->n;
    } else {
        s->failed++;
    }
    claw_hunt_run_free(run);
    free(err);
    return true;
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-hunt ARCHIVE_DIR ROUNDS TYPE:VALUE... | ARCHIVE_DIR --store\n");
        return 64;
    }
    char *ipath = g_build_filename(argv[1], "index", NULL), *err = NULL;
    claw_index_t *ix = NULL;
    claw_archive_t *ar = NULL;
    if (claw_index_open(ipath, 0, &ix, &err) ||
        claw_archive_open(argv[1], CLAW_ARCHIVE_READ_ONLY, 0, &ar, &err)) {
        fprintf(stderr, "bench-hunt: %s\n", err ? err : "cannot open");
        return 1;
    }
    if (!strcmp(argv[2], "--store")) {
        store_run_t s = {ar, ix, g_get_real_time() / G_USEC_PER_SEC, 0, 0, 0};
        gint64 t0 = g_get_monotonic_time();
        claw_ioc_each(ar, hunt_stored, &s);
        double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
        printf("{\"hunted\":%" PRIu64 ",\"matches\":%" PRIu64 ",\"failed\":%" PRIu64
               ",\"seconds\":%.2f}\n", s.hunted, s.matches, s.failed, secs);
        return s.failed ? 1 : 0;
    }
    int rounds = atoi(argv[2]), n = argc - 3;
    if (rounds < 1 || n < 1) {
        fprintf(stderr, "bench-hunt: ROUNDS and at least one TYPE:VALUE\n");
        return 64;
    }
    double *all = calloc((size_t)(n * rounds), sizeof *all), *one = calloc((size_t)rounds, sizeof *one);
    size_t n_all = 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char *type = g_strdup(argv[3 + i]), *colon = strchr(type, ':');
        if (!colon) {
            fprintf(stderr, "bench-hunt: %s: expected TYPE:VALUE\n", type);
            return 64;
        }
        *colon = '\0';
        const char *value = colon + 1;
        int64_t matches = hunt(ar, ix, type, value);
        if (matches < 0)
            rc = 1;
        for (int r = 0; r < rounds; r++) {
            gint64 t0 = g_get_monotonic_time();
            hunt(ar, ix, type, value);
            one[r] = all[n_all++] = (double)(g_get_monotonic_time() - t0) / 1000.0;
        }
        qsort(one, (size_t)rounds, sizeof *one, cmp_double);
        printf("{\"type\":\"%s\",\"value\":\"%s\",\"matches\":%" PRId64
               ",\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n", type, value, matches, one[rounds / 2],
               one[(rounds * 99) / 100 < rounds ? (rounds * 99) / 100 : rounds - 1]);
        g_free(type);
    }
    qsort(all, n_all, sizeof *all, cmp_double);
    printf("{\"all\":%zu,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n", n_all, all[n_all / 2],
           all[(n_all * 99) / 100]);
    free(all);
    free(one);
    claw_index_close(ix);
    claw_archive_close(ar);
    g_free(ipath);
    return rc;
}
