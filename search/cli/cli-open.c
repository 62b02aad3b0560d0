/* cli-open.c - opening the archive for a command, with the settings of
 * the run's configuration: the modules that read or write the archive
 * (claw-archive.so, claw-ioc.so) share it. */
#include "build-config.h"

#include "claw-audit.h"
#include "cli.h"

#include <stdlib.h>
#include <sysexits.h>

char *
cli_archive_dir(claw_config_t *cfg, const char *archive)
{
    return g_strdup(archive ? archive : claw_config_get(cfg, "archive", "path"));
}

/* Whether the archive last opened CLI_AUDITED was opened for writing
 * (then its reads go in the audit log). */
static claw_archive_t *audited;

claw_archive_t *
cli_open_archive(const char *prog, const char *dir, int mode, claw_config_t *cfg, int *rc)
{
    claw_archive_t *a = NULL;
    char *err = NULL;
    claw_archive_settings_t s;
    claw_archive_settings_read(cfg, &s);
    claw_status_t st =
        claw_archive_open(dir, mode == CLI_READ ? CLAW_ARCHIVE_READ_ONLY : 0, s.map_size, &a, &err);
    if (st && mode == CLI_AUDITED && st != CLAW_STATUS_NOT_FOUND) {
        /* Read all the same; the read goes unrecorded, and says so. */
        fprintf(stderr, "%s: note: this read is not in the audit log: %s\n", prog,
                err ? err : claw_status_to_string(st));
        free(err);
        err = NULL;
        st = claw_archive_open(dir, CLAW_ARCHIVE_READ_ONLY, s.map_size, &a, &err);
    } else if (!st && mode == CLI_AUDITED) {
        audited = a;
    }
    claw_archive_settings_clear(&s);
    if (st) {
        fprintf(stderr, "%s: %s\n", prog, err ? err : claw_status_to_string(st));
        *rc = st == CLAW_STATUS_NOT_FOUND ? EX_NOINPUT : EX_IOERR;
    }
    free(err);
    return a;
}

void
cli_audit_read(const char *prog, claw_archive_t *ar, const char *action, const char *args,
               const char *result)
{
    if (!ar || ar != audited)
        return; /* read-only: said at the open */
    char by[128];
    cli_whoami(by, sizeof by);
    if (claw_audit_add(ar, by, action, args, result) != CLAW_STATUS_SUCCESS)
        fprintf(stderr, "%s: note: this read is not in the audit log: %s\n", prog,
                claw_archive_error(ar));
}

claw_archive_t *
cli_open_archive_for(const char *prog, claw_config_t *cfg, const char *archive, int mode,
                     int *rc)
{
    char *dir = cli_archive_dir(cfg, archive);
    claw_archive_t *ar = cli_open_archive(prog, dir, mode, cfg, rc);
    g_free(dir);
    return ar;
}
