/* cli-archive.c - the archive module (claw-archive.so): which function
 * runs each archive command, and opening the archive for them. */
#include "build-config.h"

#include "cli-model.h"
#include "cli-module.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

char *
cli_archive_dir(claw_config_t *cfg, const char *archive)
{
    return g_strdup(archive ? archive : claw_config_get(cfg, "archive", "path"));
}

claw_archive_t *
cli_open_archive(const char *prog, const char *dir, bool write, claw_config_t *cfg, int *rc)
{
    claw_archive_t *a = NULL;
    char *err = NULL;
    claw_archive_settings_t s;
    claw_archive_settings_read(cfg, &s);
    claw_status_t st =
        claw_archive_open(dir, write ? 0 : CLAW_ARCHIVE_READ_ONLY, s.map_size, &a, &err);
    claw_archive_settings_clear(&s);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, err ? err : claw_status_to_string(st));
        *rc = st == CLAW_STATUS_NOT_FOUND ? EX_NOINPUT : EX_IOERR;
    }
    free(err);
    return a;
}

claw_archive_t *
cli_open_archive_for(const char *prog, claw_config_t *cfg, const char *archive, bool write,
                     int *rc)
{
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = cli_open_archive(prog, dir, write, cfg, rc);
    g_free(dir);
    return ar;
}

int claw_cli_run(const claw_cli_call_t *call) CLAW_PUBLIC_MODULE;

int
claw_cli_run(const claw_cli_call_t *call)
{
    static const struct {
        const char *name;
        claw_cli_cmd_fn *fn;
    } cmds[] = {{"import", claw_cmd_import}, {"search", claw_cmd_search},
                {"show", claw_cmd_show},     {"export", claw_cmd_export},
                {"stats", claw_cmd_stats},   {"check", claw_cmd_check},
                {"reindex", claw_cmd_reindex}, {"ioc", claw_cmd_ioc},
                {"hunt", claw_cmd_hunt}};
    cli_model_set_module_dir(call->module_dir);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(call->command, cmds[i].name) != 0)
            continue;
        claw_config_t *cfg = cli_setup(call->prog, call->config_path, call->explicit_config);
        int rc = cmds[i].fn(call->prog, cfg, call->archive, call->argc, call->argv);
        claw_config_destroy(cfg);
        return rc;
    }
    fprintf(stderr, "%s: unknown command '%s' (try --help)\n", call->prog, call->command);
    return EX_USAGE;
}
