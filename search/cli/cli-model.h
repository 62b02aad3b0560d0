/* cli-model.h - libclaw's parsing functions as the mail module
 * (claw-mail.so, cmd-scan.c) hands them to the archive module.
 *
 * The archive library parses messages when it imports, reindexes or
 * confirms a phrase, and for that it calls libclaw, which links GMime, ICU,
 * libmagic and libarchive. A search or a stats that parses nothing should
 * not load those, so the archive module does not link libclaw: cli-model.c
 * defines these functions there, and the first call loads claw-mail.so and
 * goes on through this table. So does OpenSSL's SHA256(). The rest of
 * libclaw the archive needs
 * (status names, log, config, JSON strings: lib/base/) is built into the
 * archive module itself. */
#ifndef CLAW_CLI_MODEL_H
#define CLAW_CLI_MODEL_H

#include "claw.h"

typedef struct {
    /* Apply the run's [log] settings to the loaded libclaw's own log. */
    void (*setup)(const claw_config_t *cfg);
    __typeof__(claw_engine_new) *engine_new;
    __typeof__(claw_engine_destroy) *engine_destroy;
    __typeof__(claw_message_parse) *message_parse;
    __typeof__(claw_message_parse_text) *message_parse_text;
    __typeof__(claw_message_texts_from) *message_texts_from;
    __typeof__(claw_text_words) *text_words;
    __typeof__(claw_message_destroy) *message_destroy;
    __typeof__(claw_scan_buffer) *scan_buffer;
    __typeof__(claw_verdict_message) *verdict_message;
    __typeof__(claw_verdict_destroy) *verdict_destroy;
    __typeof__(claw_id_new) *id_new;
    __typeof__(claw_url_normalise) *url_normalise;
    __typeof__(claw_host_normalise) *host_normalise;
    __typeof__(claw_ioc_normalise) *ioc_normalise;
    __typeof__(claw_ioc_types) *ioc_types;
    __typeof__(claw_message_locate_ioc) *message_locate_ioc;
    __typeof__(claw_free) *free;
    /* OpenSSL's SHA256(), which the store calls to hash a long key or (in
     * check --deep) a whole message: libcrypto alone costs a search more
     * instructions at load than all the rest it loads (3.1 M of 7.8 M). */
    unsigned char *(*sha256)(const unsigned char *data, size_t len, unsigned char *md);
} cli_model_t;

/* The table's name in claw-mail.so. */
#define CLAW_CLI_MODEL "claw_cli_model"

/* For the archive module: where the modules are, before the first call. */
void cli_model_set_module_dir(const char *dir);

#endif
