/* engine.c - what is loaded once and reused for every message. */
#include "build-config.h"

#include "judge/judge.h"

#include <grp.h>
#include <iconv.h>
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

static void
close_iconv(gpointer cd)
{
    if ((iconv_t)cd != (iconv_t)-1)
        iconv_close((iconv_t)cd);
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
    /* CSV and JSON detection read the whole buffer for little value here. */
    e->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_CSV |
                          MAGIC_NO_CHECK_JSON | MAGIC_ERROR);
    /* libmagic 5.44 compiles the regular expressions of its text tests on
     * every call (0.25-2.5 ms a buffer); text is classified by our own table
     * of text signatures (attach.c) and this cookie, which skips them. */
    e->magic_text = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_SOFT |
                               MAGIC_NO_CHECK_CSV | MAGIC_NO_CHECK_JSON | MAGIC_ERROR);
    if (!e->magic || magic_load(e->magic, NULL) != 0 || !e->magic_text ||
        magic_load(e->magic_text, NULL) != 0) {
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

    e->iconv = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, close_iconv);

    /* Policy and indicators: a bad network or indicator line is the
     * configuration's fault; an unreadable indicator file is an I/O one. */
    st = _claw_policy_new(e->config, e->psl, &e->policy, error);
    if (st)
        goto fail;
    st = _claw_iocs_new(e->config, &e->iocs, error);
    if (st)
        goto fail;
    st = _claw_dns_check_config(e->config, error);
    if (st)
        goto fail;
    e->dns = _claw_dns_cache_new();
    e->parser_options = g_mime_parser_options_new();

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
    if (e->magic_text)
        magic_close(e->magic_text);
    if (e->psl_owned)
        psl_free(e->psl_owned);
    if (e->iconv)
        g_hash_table_destroy(e->iconv);
    if (e->parser_options)
        g_mime_parser_options_free(e->parser_options);
    _claw_policy_free(e->policy);
    _claw_iocs_free(e->iocs);
    _claw_dns_cache_free(e->dns);
    claw_config_destroy(e->config);
    free(e);
    g_mime_shutdown();
}

/* clawd's own checks that loading cannot make: what names the system. */
static claw_status_t
check_clawd(const claw_config_t *config, char **error)
{
    const char *group = claw_config_get(config, "clawd", "socket_group");
    if (group && *group && !getgrnam(group)) {
        if (error)
            *error = _claw_config_error(config, "clawd", "socket_group", "no group '%s'", group);
        return CLAW_STATUS_CONFIG_ERROR;
    }
    const char *socket = claw_config_get(config, "clawd", "socket");
    const char *const *listen;
    size_t n_listen = 0;
    claw_config_get_list(config, "clawd", "listen", &listen, &n_listen);
    if ((!socket || !*socket) && n_listen == 0) {
        /* clawd would start with nothing to listen on (unless --socket or
         * --listen give it a place on its command line). */
        if (error)
            *error = _claw_config_error(config, "clawd", "socket",
                                        "empty, and so is [clawd] listen: nothing to listen on");
        return CLAW_STATUS_CONFIG_ERROR;
    }
    return CLAW_STATUS_SUCCESS;
}

claw_status_t
claw_config_check(const claw_config_t *config, char **error)
{
    claw_engine_t *engine = NULL;
    if (error)
        *error = NULL;
    if (!config)
        return CLAW_STATUS_INVALID_ARGUMENT;
    /* The engine is what claw scan, the scanner and rspamd build first: its
     * creation reads the policy and every indicator file in full. */
    claw_status_t st = claw_engine_new(config, &engine, error);
    claw_engine_destroy(engine);
    if (st)
        return st;
    return check_clawd(config, error);
}
