/* cli-open.c - opening the archive for a command, with the settings of
 * the run's configuration: the modules that read or write the archive
 * (claw-archive.so, claw-ioc.so) share it. */
#include "build-config.h"

#include "cli.h"

#include <stdlib.h>
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
