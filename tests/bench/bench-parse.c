/* bench-parse.c - model extraction against a bare GMime parse, same data,
 * same run.
 *
 *   bench-parse [--rounds N] [--out FILE] [--config FILE] [--envelope] SET=DIR...
 *
 * Every file under each DIR is read into memory first (no I/O is timed).
 * Then, message by message, the bare GMime parse (a GMimeStreamMem over a
 * copy of the bytes, g_mime_parser_construct_message, unref), the same with
 * a warning callback, claw_message_parse + destroy, and parse + classify
 * run back to back, in an order that turns every round, so all see the
 * same caches and the same machine noise. Per set and overall it
 * reports messages/s, MB/s and the 50th/99th percentile time per message,
 * and the ratio of the two rates (the goal: model >= 0.5 x bare GMime).
 * --envelope classifies as the MTA does, with an SMTP envelope: the From
 * address as MAIL FROM with an SPF pass, so DMARC is evaluated (its DNS is
 * whatever --config's [dmarc] names: bench.sh runs a local stub).
 */
#include "build-config.h"

#include "claw.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *data;
    size_t len;
    char *path;
} msg_t;

typedef struct {
    const char *name;
    GArray *msgs; /* msg_t */
    size_t bytes;
    double *t_gmime, *t_warn, *t_model, *t_class; /* seconds per message, best of rounds */
    double *t_class2; /* claw_classify with the --compare engine */
} set_t;

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
load_dir(set_t *s, const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;
    if (!d)
        return;
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    while ((n = g_dir_read_name(d)))
        g_ptr_array_add(names, g_build_filename(dir, n, NULL));
    g_dir_close(d);
    g_ptr_array_sort(names, (GCompareFunc)(void (*)(void))g_strcmp0);
    for (guint i = 0; i < names->len; i++) {
        const char *path = g_ptr_array_index(names, i);
        if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
            load_dir(s, path);
            continue;
        }
        msg_t m;
        gsize len;
        if (!g_file_get_contents(path, &m.data, &len, NULL))
            continue;
        m.len = len;
        m.path = g_strdup(path);
        s->bytes += len;
        g_array_append_val(s->msgs, m);
    }
    g_ptr_array_free(names, TRUE);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
percentile(double *v, size_t n, double p)
{
    double *c = g_memdup2(v, n * sizeof *v);
    qsort(c, n, sizeof *c, cmp_double);
    double r = c[(size_t)((double)(n - 1) * p)];
    g_free(c);
    return r;
}

static double
sum(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

static void
count_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
    (void)offset;
    (void)code;
    (void)item;
    (*(unsigned *)data)++;
}

/* @opts NULL: GMime's defaults. */
static void
gmime_parse(const msg_t *m, GMimeParserOptions *opts)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(m->data, m->len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, opts);
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    g_object_unref(stream);
}

/* --envelope: what an MTA passes, made up from the message: its From as
 * the envelope sender, which SPF passed. NULL without --envelope. */
static bool with_envelope;

static const claw_envelope_t *
envelope_of(const claw_message_t *cm, claw_envelope_t *env)
{
    if (!with_envelope)
        return NULL;
    const char *from = "";
    for (size_t i = 0; i < cm->n_addresses && !*from; i++)
        if (cm->addresses[i].field == CLAW_FIELD_FROM && cm->addresses[i].address)
            from = cm->addresses[i].address;
    *env = (claw_envelope_t){.client_ip = "192.0.2.1", .helo = "mx.sender.example",
                             .mail_from = from, .spf = "pass"};
    return env;
}

/* Classify @cm with @engine untimed, then timed; keep the best in *@best. */
static void
compare_classify(claw_engine_t *engine, const claw_message_t *cm, double *best)
{
    claw_envelope_t env;
    for (int j = 0; j < 2; j++) {
        claw_verdict_t *v = NULL;
        double t = now();
        claw_classify(engine, cm, envelope_of(cm, &env), &v);
        claw_verdict_destroy(v);
        t = now() - t;
        if (j == 1 && t < *best)
            *best = t;
    }
}

static void
report_line(FILE *out, const char *name, size_t n, size_t bytes, double *tg, double *tw,
            double *tm, double *tc)
{
    /* Parse + classify per message: the model's time plus classify's. */
    double *tmc = g_new(double, n);
    for (size_t i = 0; i < n; i++)
        tmc[i] = tm[i] + tc[i];
    double sg = sum(tg, n), sw = sum(tw, n), sm = sum(tm, n), sc = sum(tmc, n);
    fprintf(out,
            "%-20s %6zu %6.1f | %7.0f %6.1f %6.3f %6.3f | %7.0f | %7.0f %6.1f %6.3f %6.3f | %5.2f "
            "%5.2f | %7.0f %6.3f %6.3f %5.2f | %6.1f %6.1f\n",
            name, n, (double)bytes / 1e6, (double)n / sg, (double)bytes / 1e6 / sg,
            percentile(tg, n, 0.5) * 1e3, percentile(tg, n, 0.99) * 1e3, (double)n / sw,
            (double)n / sm, (double)bytes / 1e6 / sm, percentile(tm, n, 0.5) * 1e3,
            percentile(tm, n, 0.99) * 1e3, sg / sm, sw / sm, (double)n / sc,
            percentile(tmc, n, 0.5) * 1e3, percentile(tmc, n, 0.99) * 1e3, sg / sc,
            percentile(tc, n, 0.5) * 1e6, percentile(tc, n, 0.99) * 1e6);
    g_free(tmc);
}

int
main(int argc, char **argv)
{
    int rounds = 3;
    const char *outpath = NULL, *dump = NULL, *config_path = NULL, *compare_path = NULL;
    GArray *sets = g_array_new(FALSE, TRUE, sizeof(set_t));

    g_mime_init();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            outpath = argv[++i];
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (!strcmp(argv[i], "--envelope")) {
            with_envelope = true;
        } else if (!strcmp(argv[i], "--compare") && i + 1 < argc) {
            compare_path = argv[++i]; /* classify also with this configuration */
        } else if (!strcmp(argv[i], "--dump") && i + 1 < argc) {
            dump = argv[++i]; /* per-message times, for finding the slow ones */
        } else {
            char *eq = strchr(argv[i], '=');
            if (!eq) {
                fprintf(stderr, "usage: %s [--rounds N] [--out FILE] SET=DIR...\n", argv[0]);
                return 64;
            }
            set_t s = {.name = g_strndup(argv[i], (gsize)(eq - argv[i])),
                       .msgs = g_array_new(FALSE, FALSE, sizeof(msg_t))};
            load_dir(&s, eq + 1);
            if (s.msgs->len)
                g_array_append_val(sets, s);
        }
    }
    if (!sets->len) {
        fprintf(stderr, "bench-parse: no messages\n");
        return 1;
    }

    claw_engine_t *engine;
    claw_config_t *config = NULL;
    char *err = NULL;
    if (config_path && claw_config_load(config_path, &config, &err)) {
        fprintf(stderr, "bench-parse: %s\n", err ? err : config_path);
        return 1;
    }
    double t_load = now();
    if (claw_engine_new(config, &engine, &err)) {
        fprintf(stderr, "bench-parse: %s\n", err ? err : "engine");
        return 1;
    }
    t_load = now() - t_load;
    claw_config_destroy(config);
    claw_engine_t *engine2 = NULL;
    double t_load2 = now();
    if (compare_path && claw_engine_open(compare_path, &engine2, &err)) {
        fprintf(stderr, "bench-parse: %s\n", err ? err : compare_path);
        return 1;
    }
    t_load2 = now() - t_load2;

    size_t total = 0, total_bytes = 0;
    for (guint k = 0; k < sets->len; k++) {
        set_t *s = &g_array_index(sets, set_t, k);
        s->t_gmime = g_new(double, s->msgs->len);
        s->t_warn = g_new(double, s->msgs->len);
        s->t_model = g_new(double, s->msgs->len);
        s->t_class = g_new(double, s->msgs->len);
        s->t_class2 = g_new(double, s->msgs->len);
        for (guint i = 0; i < s->msgs->len; i++)
            s->t_gmime[i] = s->t_warn[i] = s->t_model[i] = s->t_class[i] = s->t_class2[i] = 1e9;
        total += s->msgs->len;
        total_bytes += s->bytes;
    }

    /* GMime with a warning callback, as claw_message_parse uses it: GMime
     * then decodes every header to check its encoded words. */
    unsigned warnings = 0;
    GMimeParserOptions *wopts = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(wopts, count_warning, &warnings);

    /* Best of N rounds per message: the least disturbed measurement. */
    for (int r = 0; r < rounds; r++) {
        for (guint k = 0; k < sets->len; k++) {
            set_t *s = &g_array_index(sets, set_t, k);
            for (guint i = 0; i < s->msgs->len; i++) {
                const msg_t *m = &g_array_index(s->msgs, msg_t, i);
                /* Each method is timed on its second run, right after an
                 * untimed run of itself on the same message: every one
                 * starts equally warm, whatever ran before it. */
                for (int step = 0; step < 8; step++) {
                    int method = (step / 2 + r) % 4;
                    bool timed = step % 2 == 1;
                    double t0 = now(), dt;
                    if (method == 0) {
                        gmime_parse(m, NULL);
                    } else if (method == 1) {
                        gmime_parse(m, wopts);
                    } else if (method == 2) {
                        claw_message_t *cm = NULL;
                        claw_message_parse(engine, m->data, m->len, &cm);
                        claw_message_destroy(cm);
                    } else {
                        /* Classification alone, on a model parsed untimed. */
                        claw_message_t *cm = NULL;
                        claw_verdict_t *v = NULL;
                        claw_message_parse(engine, m->data, m->len, &cm);
                        /* With --compare, the other configuration on the
                         * same model the same way (an untimed run, then a
                         * timed one), first in odd rounds and second in
                         * even ones, so neither is always the warmer. */
                        bool compare_first = engine2 && timed && r % 2;
                        if (compare_first)
                            compare_classify(engine2, cm, &s->t_class2[i]);
                        claw_envelope_t env;
                        const claw_envelope_t *e = envelope_of(cm, &env);
                        t0 = now();
                        claw_classify(engine, cm, e, &v);
                        claw_verdict_destroy(v);
                        dt = now() - t0;
                        if (engine2 && timed && !compare_first)
                            compare_classify(engine2, cm, &s->t_class2[i]);
                        claw_message_destroy(cm);
                        goto measured;
                    }
                    dt = now() - t0;
                measured:
                    if (!timed)
                        continue;
                    double *slot = method == 0   ? &s->t_gmime[i]
                                   : method == 1 ? &s->t_warn[i]
                                   : method == 2 ? &s->t_model[i]
                                                 : &s->t_class[i];
                    if (dt < *slot)
                        *slot = dt;
                }
            }
        }
        fprintf(stderr, "\rbench-parse: round %d/%d done", r + 1, rounds);
    }
    fprintf(stderr, "\n");

    double *all_g = g_new(double, total), *all_w = g_new(double, total),
           *all_m = g_new(double, total), *all_c = g_new(double, total);
    size_t at = 0;
    for (guint k = 0; k < sets->len; k++) {
        set_t *s = &g_array_index(sets, set_t, k);
        memcpy(all_g + at, s->t_gmime, s->msgs->len * sizeof(double));
        memcpy(all_w + at, s->t_warn, s->msgs->len * sizeof(double));
        memcpy(all_c + at, s->t_class, s->msgs->len * sizeof(double));
        memcpy(all_m + at, s->t_model, s->msgs->len * sizeof(double));
        at += s->msgs->len;
    }

    if (dump) {
        FILE *d = fopen(dump, "w");
        for (guint k = 0; d && k < sets->len; k++) {
            set_t *s = &g_array_index(sets, set_t, k);
            for (guint i = 0; i < s->msgs->len; i++)
                fprintf(d, "%.1f %.1f %.1f %.1f %s\n", s->t_gmime[i] * 1e6, s->t_warn[i] * 1e6,
                        s->t_model[i] * 1e6, s->t_class[i] * 1e6,
                        g_array_index(s->msgs, msg_t, i).path);
        }
        if (d)
            fclose(d);
    }
    FILE *out = outpath ? fopen(outpath, "w") : stdout;
    if (!out) {
        perror(outpath);
        return 1;
    }
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    fprintf(out,
            "# bench-parse (Clawback %s), %s, one core, best of %d rounds per message, each\n"
            "# timed right after an untimed run of the same method on the same message.\n"
            "# bare = GMime %d.%d.%d g_mime_parser_construct_message from memory;\n"
            "# model = claw_message_parse (GMime parse + decode + text + URLs + attachments\n"
            "#         + hashes + libmagic + archives) + claw_message_destroy.\n"
            "# warn = the same GMime parse with a warning callback (what the model needs:\n"
            "#        GMime then decodes every header to check its encoded words).\n"
            "# ratio = model msg/s / bare msg/s (goal >= 0.50); ratio/warn = model / warn.\n"
            "# +classify = model + claw_classify (default policy) per message; cratio = its\n"
            "#   rate / bare; cls us = claw_classify alone, p50 and p99 in microseconds.\n#\n",
            claw_version(), when, rounds, gmime_major_version, gmime_minor_version,
            gmime_micro_version);
    if (config_path)
        fprintf(out, "# config: %s (engine created in %.2f s)\n#\n", config_path, t_load);
    if (with_envelope)
        fprintf(out, "# --envelope: classify with an SMTP envelope (MAIL FROM = From, SPF pass),\n"
                     "#   so DMARC is evaluated for every message; its DNS as the config says.\n#\n");
    fprintf(out,
            "%-20s %6s %6s | %7s %6s %6s %6s | %7s | %7s %6s %6s %6s | %5s %5s | %7s %6s %6s "
            "%5s | %6s %6s\n",
            "set", "msgs", "MB", "bare/s", "MB/s", "p50ms", "p99ms", "warn/s", "model/s",
            "MB/s", "p50ms", "p99ms", "ratio", "/warn", "+class/s", "p50ms", "p99ms", "cratio",
            "cls us", "p99us");
    for (guint k = 0; k < sets->len; k++) {
        set_t *s = &g_array_index(sets, set_t, k);
        report_line(out, s->name, s->msgs->len, s->bytes, s->t_gmime, s->t_warn, s->t_model,
                    s->t_class);
    }
    report_line(out, "all", total, total_bytes, all_g, all_w, all_m, all_c);
    if (engine2) {
        /* The same models classified under both configurations in this run:
         * the change in claw_classify and in the whole per-message cost. */
        fprintf(out, "#\n# --compare %s (engine created in %.2f s), same run, same models:\n",
                compare_path, t_load2);
        fprintf(out, "%-20s %9s %9s %9s %9s %12s %12s\n", "set", "cls p50us", "p99us",
                     "cmp p50us", "p99us", "model+cls/s", "cmp/s  chg%");
        for (guint k = 0; k < sets->len; k++) {
            set_t *s = &g_array_index(sets, set_t, k);
            size_t n = s->msgs->len;
            double a = sum(s->t_model, n) + sum(s->t_class, n);
            double b = sum(s->t_model, n) + sum(s->t_class2, n);
            fprintf(out, "%-20s %9.1f %9.1f %9.1f %9.1f %12.0f %7.0f %+5.1f\n", s->name,
                    percentile(s->t_class, n, 0.5) * 1e6, percentile(s->t_class, n, 0.99) * 1e6,
                    percentile(s->t_class2, n, 0.5) * 1e6,
                    percentile(s->t_class2, n, 0.99) * 1e6, (double)n / a, (double)n / b,
                    100.0 * (b - a) / a);
        }
        claw_engine_destroy(engine2);
    }
    g_mime_parser_options_free(wopts);
    if (out != stdout)
        fclose(out);
    claw_engine_destroy(engine);
    return 0;
}
