/* cli-model.c - in the archive module (claw-archive.so), libclaw's parsing
 * functions, loaded from claw-mail.so at the first call (cli-model.h says
 * why). Import's threads may make that first call together: the loading
 * runs once. */
#include "build-config.h"

#include "cli-model.h"
#include "cli-module.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

static const char *module_dir = CLAW_MODULE_DIR;
static const cli_model_t *model;
static pthread_once_t model_once = PTHREAD_ONCE_INIT;

void
cli_model_set_module_dir(const char *dir)
{
    module_dir = dir;
}

static void
load_model(void)
{
    const char *why = NULL;
    model = claw_cli_module_symbol(module_dir, CLAW_CLI_MAIL_MODULE, CLAW_CLI_MODEL, &why);
    if (!model) {
        /* Nothing sensible can go on without the parser: an installation
         * with claw-archive.so and not claw-mail.so is broken. */
        fprintf(stderr, "claw: cannot load %s/%s to parse mail: %s\n", module_dir,
                CLAW_CLI_MAIL_MODULE, why ? why : "?");
        exit(EX_UNAVAILABLE);
    }
}

static const cli_model_t *
the_model(void)
{
    pthread_once(&model_once, load_model);
    return model;
}

/* libclaw's log takes the run's settings once: the phrase checks make
 * their engines on several threads at once, and setting the log up again
 * would free its syslog ident under another thread. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_ready;

claw_status_t
claw_engine_new(const claw_config_t *config, claw_engine_t **engine, char **error)
{
    /* Every parse needs an engine first: the place to set up the log. */
    const cli_model_t *m = the_model();
    pthread_mutex_lock(&log_lock);
    if (!log_ready) {
        m->setup(config);
        log_ready = true;
    }
    pthread_mutex_unlock(&log_lock);
    return m->engine_new(config, engine, error);
}

void
claw_engine_destroy(claw_engine_t *engine)
{
    if (engine)
        the_model()->engine_destroy(engine);
}

claw_status_t
claw_message_parse(claw_engine_t *engine, const char *data, size_t len, claw_message_t **message)
{
    return the_model()->message_parse(engine, data, len, message);
}

claw_status_t
claw_message_parse_text(claw_engine_t *engine, const char *data, size_t len,
                        claw_message_t **message)
{
    return the_model()->message_parse_text(engine, data, len, message);
}

claw_status_t
claw_message_texts_from(claw_engine_t *engine, const char *data, size_t len,
                        const claw_text_t *texts, const claw_text_origin_t *origins, size_t n,
                        claw_message_t **message)
{
    return the_model()->message_texts_from(engine, data, len, texts, origins, n, message);
}

void
claw_text_words(const char *text, size_t len, void (*fn)(void *ctx, const char *word, size_t n),
                void *ctx)
{
    the_model()->text_words(text, len, fn, ctx);
}

void
claw_message_destroy(claw_message_t *message)
{
    if (message)
        the_model()->message_destroy(message);
}

claw_status_t
claw_scan_buffer(claw_engine_t *engine, const char *data, size_t len,
                 const claw_envelope_t *envelope, claw_verdict_t **verdict)
{
    return the_model()->scan_buffer(engine, data, len, envelope, verdict);
}

const claw_message_t *
claw_verdict_message(const claw_verdict_t *verdict)
{
    return the_model()->verdict_message(verdict);
}

void
claw_verdict_destroy(claw_verdict_t *verdict)
{
    if (verdict)
        the_model()->verdict_destroy(verdict);
}

void
claw_id_new(char out[CLAW_ID_SIZE])
{
    the_model()->id_new(out);
}

/* url: and host: queries take their values as the model normalises them. */
claw_status_t
claw_url_normalise(const char *raw, size_t len, char **out)
{
    return the_model()->url_normalise(raw, len, out);
}

claw_status_t
claw_host_normalise(const char *raw, size_t len, char **out)
{
    return the_model()->host_normalise(raw, len, out);
}

claw_status_t
claw_ioc_normalise(const char *type, const char *value, char **key, const char **why)
{
    return the_model()->ioc_normalise(type, value, key, why);
}

const char *const *
claw_ioc_types(void)
{
    return the_model()->ioc_types();
}

size_t
claw_message_locate_ioc(const claw_message_t *m, const claw_envelope_t *env, const char *type,
                        const char *key, void (*fn)(void *ctx, const char *where), void *ctx)
{
    return the_model()->message_locate_ioc(m, env, type, key, fn, ctx);
}

void
claw_free(void *p)
{
    if (p)
        the_model()->free(p);
}

/* The store's SHA256() (cli-model.h says why it comes from here): this
 * definition, linked into the module, is the one archive.c's calls reach,
 * so the module does not link libcrypto. */
unsigned char *SHA256(const unsigned char *data, size_t len, unsigned char *md);

unsigned char *
SHA256(const unsigned char *data, size_t len, unsigned char *md)
{
    return the_model()->sha256(data, len, md);
}
