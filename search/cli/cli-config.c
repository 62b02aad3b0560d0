/* cli-config.c - the configuration and logging of a claw run, for every
 * module: the file (or the built-in defaults), then [log] applied. */
#include "build-config.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

static const char *progname = "claw";

static claw_config_t *
load_config(const char *path, bool explicit_path)
{
    claw_config_t *cfg = NULL;
    char *err = NULL;
    claw_status_t st;

    if (!explicit_path && access(path, F_OK) != 0) {
        st = claw_config_new(&cfg);
    } else {
        st = claw_config_load(path, &cfg, &err);
    }
    if (st) {
        fprintf(stderr, "%s: %s\n", progname, err ? err : claw_status_to_string(st));
        free(err);
        exit(st == CLAW_STATUS_CONFIG_ERROR || st == CLAW_STATUS_IO_ERROR ? EX_CONFIG
                                                                         : EX_SOFTWARE);
    }
    return cfg;
}

static void
apply_log_config(const claw_config_t *cfg)
{
    claw_log_level_t level;
    if (claw_log_level_from_string(claw_config_get(cfg, "log", "level"), &level) == 0)
        claw_log_set_level(level);
    if (strcmp(claw_config_get(cfg, "log", "sink"), "syslog") == 0) {
        static const struct {
            const char *name;
            int facility;
        } fac[] = {{"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
                   {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
                   {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
                   {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
        int facility = LOG_MAIL;
        for (size_t i = 0; i < sizeof fac / sizeof fac[0]; i++)
            if (strcmp(fac[i].name, claw_config_get(cfg, "log", "facility")) == 0)
                facility = fac[i].facility;
        claw_log_use_syslog("claw", facility);
    }
}

claw_config_t *
cli_setup(const char *prog, const char *path, bool explicit_path)
{
    progname = prog;
    claw_config_t *cfg = load_config(path, explicit_path);
    apply_log_config(cfg);
    return cfg;
}

void
cli_apply_log_config(const claw_config_t *cfg)
{
    apply_log_config(cfg);
}
