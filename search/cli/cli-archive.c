/* cli-archive.c - the archive module (claw-archive.so): which function
 * runs each archive command. */
#include "build-config.h"

#include "cli-model.h"
#include "cli-module.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

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
                {"reindex", claw_cmd_reindex}, {"hunt", claw_cmd_hunt},
                {"audit", claw_cmd_audit}, {"hold", claw_cmd_hold},
                {"purge", claw_cmd_purge}, {"restore", claw_cmd_restore},
                {"compact", claw_cmd_compact}, {"retention", claw_cmd_retention},
                {"release", claw_cmd_release}};
    cli_model_set_module_dir(call->module_dir);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(call->command, cmds[i].name) != 0)
            continue;
        claw_config_t *cfg = cli_setup(call->prog, call->config_path);
        int rc = cmds[i].fn(call->prog, cfg, call->archive, call->argc, call->argv);
        claw_config_destroy(cfg);
        return rc;
    }
    fprintf(stderr, "%s: unknown command '%s' (try --help)\n", call->prog, call->command);
    return EX_USAGE;
}
