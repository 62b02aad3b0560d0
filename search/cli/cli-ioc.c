/* cli-ioc.c - the indicator module (claw-ioc.so): claw ioc, apart from
 * the archive module because its feed readers link json-glib, libcurl and
 * libcsv, which every search would otherwise load (cli-module.h). */
#include "build-config.h"

#include "cli-model.h"
#include "cli-module.h"
#include "cli.h"

#include <string.h>
#include <sysexits.h>

int claw_cli_run(const claw_cli_call_t *call) CLAW_PUBLIC_MODULE;

int
claw_cli_run(const claw_cli_call_t *call)
{
    if (strcmp(call->command, "ioc") != 0) {
        fprintf(stderr, "%s: unknown command '%s' (try --help)\n", call->prog, call->command);
        return EX_USAGE;
    }
    cli_model_set_module_dir(call->module_dir);
    claw_config_t *cfg = cli_setup(call->prog, call->config_path);
    int rc = claw_cmd_ioc(call->prog, cfg, call->archive, call->argc, call->argv);
    claw_config_destroy(cfg);
    return rc;
}
