/* fuzz-parse.c - libFuzzer target: any bytes through claw_message_parse and
 * both output writers, and through claw_message_parse_text, which must give
 * the same subject and texts unless a limit cut the parse short, as must
 * claw_message_texts_from() the texts from their origins. Built by `make fuzz` (clang, -fsanitize=fuzzer) and
 * run for a bounded time by tests/hostile/fuzz.sh. */
#include "build-config.h"

#include "claw.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static claw_engine_t *engine;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    claw_config_t *cfg = NULL;
    (void)argc;
    (void)argv;
    claw_config_new(&cfg);
    /* Small limits keep each input fast; they are limits like any other. */
    claw_config_set(cfg, "limits", "max_time", "1s", NULL);
    claw_config_set(cfg, "limits", "max_archive_bytes", "8m", NULL);
    claw_config_set(cfg, "limits", "max_decoded_bytes", "8m", NULL);
    if (claw_engine_new(cfg, &engine, NULL) != CLAW_STATUS_SUCCESS)
        abort();
    claw_config_destroy(cfg);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    claw_message_t *m = NULL;
    if (claw_message_parse(engine, (const char *)data, size, &m) != CLAW_STATUS_SUCCESS)
        abort(); /* hostile input must never be an error */
    char *json = NULL, *text = NULL;
    claw_verdict_t *v = NULL;
    if (claw_classify(engine, m, NULL, &v) != CLAW_STATUS_SUCCESS)
        abort();
    claw_message_to_json(m, v, "fuzz", &json);
    claw_message_to_text(m, v, "fuzz", &text);
    claw_verdict_destroy(v);
    free(json);
    free(text);

    claw_message_t *t = NULL;
    if (claw_message_parse_text(engine, (const char *)data, size, &t) != CLAW_STATUS_SUCCESS)
        abort();
    if (!m->unscannable && !t->unscannable) {
        if ((m->subject == NULL) != (t->subject == NULL) ||
            (m->subject && strcmp(m->subject, t->subject) != 0) || m->n_texts != t->n_texts)
            abort(); /* the words a phrase is checked against differ */
        for (size_t i = 0; i < m->n_texts; i++)
            if (m->texts[i].length != t->texts[i].length ||
                memcmp(m->texts[i].text, t->texts[i].text, m->texts[i].length) != 0)
                abort();
        bool known = true;
        for (size_t i = 0; i < m->n_texts; i++)
            known = known && m->text_origins[i].known;
        claw_message_t *o = NULL;
        if (known) {
            if (claw_message_texts_from(engine, (const char *)data, size, m->texts,
                                        m->text_origins, m->n_texts, &o) != CLAW_STATUS_SUCCESS ||
                o->n_texts != m->n_texts)
                abort();
            for (size_t i = 0; i < m->n_texts; i++)
                if (m->texts[i].length != o->texts[i].length ||
                    memcmp(m->texts[i].text, o->texts[i].text, m->texts[i].length) != 0)
                    abort();
        }
        claw_message_destroy(o);
    }
    claw_message_destroy(t);
    claw_message_destroy(m);
    return 0;
}
