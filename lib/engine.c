/* engine.c - what is loaded once and reused for every message. */
#include "build-config.h"

#include "claw-private.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void
set_error(char **error, const char *fmt, ...) CLAW_PRINTF(2, 3);

static void
set_error(char **error, const char *fmt, ...)
{
    va_list ap;
    if (!error)
        return;
    va_start(ap, fmt);
    if (vasprintf(error, fmt, ap) < 0)
        *error = NULL;
    va_end(ap);
}

claw_status_t
claw_engine_new(const claw_config_t *config, claw_engine_t **engine, char **error)
{
    claw_status_t st;

    if (error)
        *error = NULL;
    if (!engine)
        return CLAW_STATUS_INVALID_ARGUMENT;
    *engine = NULL;

    claw_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return CLAW_STATUS_OUT_OF_MEMORY;

    /* GMime counts its initialisations, so engines may come and go. */
    g_mime_init();

    st = _claw_config_copy(config, &e->config);
    if (st)
        goto fail;

    /* Content sniffing only: no decompression (we open archives ourselves),
     * no following of symlinks, no reading of devices. */
    e->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
    if (!e->magic || magic_load(e->magic, NULL) != 0) {
        set_error(error, "libmagic: cannot load its database: %s",
                  e->magic ? magic_error(e->magic) : "magic_open failed");
        st = CLAW_STATUS_DEPENDENCY_ERROR;
        goto fail;
    }

    /* The newest list available: the system's file (package publicsuffix)
     * if it is newer than the copy built into libpsl. */
    e->psl_owned = psl_latest(NULL);
    e->psl = e->psl_owned ? e->psl_owned : psl_builtin();
    if (!e->psl) {
        set_error(error, "libpsl: no public suffix list (install the package publicsuffix)");
        st = CLAW_STATUS_DEPENDENCY_ERROR;
        goto fail;
    }

    *engine = e;
    return CLAW_STATUS_SUCCESS;

fail:
    claw_engine_destroy(e);
    return st;
}

void
claw_engine_destroy(claw_engine_t *e)
{
    if (!e)
        return;
    if (e->magic)
        magic_close(e->magic);
    if (e->psl_owned)
        psl_free(e->psl_owned);
    claw_config_destroy(e->config);
    free(e);
    g_mime_shutdown();
}
