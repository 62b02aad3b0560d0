/* cli-open.c - opening the archive for a command, with the settings of
 * the run's configuration: the modules that read or write the archive
 * (claw-archive.so, claw-ioc.so) share it. */
#include "build-config.h"

#include "claw-audit.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

char *
cli_archive_dir(claw_config_t *cfg, const char *archive)
{
    return g_strdup(archive ? archive : claw_config_get(cfg, "archive", "path"));
}

/* Whether the archive last opened CLI_AUDITED was opened for writing
 * (then its reads go in the audit log). */
static claw_archive_t *audited;

/* The archive cli_keep_archives() keeps: its directory, and its store
 * file's identity when it was opened. */
static struct {
    bool on;
    claw_archive_t *ar;
    char *dir;
    dev_t dev;
    ino_t ino;
} kept;

void
cli_keep_archives(void)
{
    kept.on = true;
}

static bool
store_file(const char *dir, struct stat *st)
{
    char *path = g_build_filename(dir, "store", "data.mdb", NULL);
    bool ok = stat(path, st) == 0;
    g_free(path);
    return ok;
}

/* The kept archive, if it is @dir's and its store is still the same file. */
static claw_archive_t *
kept_archive(const char *dir)
{
    struct stat st;
    if (!kept.ar)
        return NULL;
    if (strcmp(dir, kept.dir) == 0 && !claw_archive_broken(kept.ar) && store_file(dir, &st) &&
        st.st_dev == kept.dev && st.st_ino == kept.ino)
        return kept.ar;
    claw_archive_close(kept.ar);
    g_free(kept.dir);
    kept.ar = NULL;
    kept.dir = NULL;
    return NULL;
}

static void
keep_archive(claw_archive_t *a, const char *dir)
{
    struct stat st;
    if (!store_file(dir, &st))
        return;
    kept.ar = a;
    kept.dir = g_strdup(dir);
    kept.dev = st.st_dev;
    kept.ino = st.st_ino;
}

void
cli_close_archive(claw_archive_t *ar)
{
    if (ar && ar != kept.ar)
        claw_archive_close(ar);
}

claw_archive_t *
cli_open_archive(const char *prog, const char *dir, int mode, claw_config_t *cfg, int *rc)
{
    if (kept.on && mode == CLI_AUDITED && (audited = kept_archive(dir)))
        return audited;
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
        if (kept.on)
            keep_archive(a, dir);
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
