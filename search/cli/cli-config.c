/* cli-config.c - the configuration and logging of a claw run, for every
 * module: the file (or the built-in defaults), then [log] applied. */
#include "build-config.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static const char *progname = "claw";

static claw_config_t *
load_config(const char *path)
{
    claw_config_t *cfg = NULL;
    char *err = NULL;
    claw_status_t st = claw_config_load(path, &cfg, &err);
    if (st) {
        fprintf(stderr, "%s: %s\n", progname, err ? err : claw_status_to_string(st));
        free(err);
        exit(st == CLAW_STATUS_CONFIG_ERROR || st == CLAW_STATUS_IO_ERROR ? EX_CONFIG
                                                                         : EX_SOFTWARE);
    }
    return cfg;
}

claw_config_t *
cli_setup(const char *prog, const char *path)
{
    progname = prog;
    claw_config_t *cfg = load_config(path);
    claw_log_configure(cfg, "claw", CLAW_LOG_AS_CONFIGURED);
    return cfg;
}

void
cli_apply_log_config(const claw_config_t *cfg)
{
    claw_log_configure(cfg, "claw", CLAW_LOG_AS_CONFIGURED);
}
