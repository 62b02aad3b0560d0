/* cli-module.h - how claw's dispatcher (claw.c) calls the module that
 * holds a command. libc only: the dispatcher must not pull in what the
 * modules link.
 *
 * Why modules: a process pays, at start, for every library it links
 * (mapping them and resolving their symbols), whether it uses them or not.
 * `claw --help` needs libc; `claw search` needs LMDB, zstd and Xapian but
 * not GMime, ICU, libmagic or libarchive. So the dispatcher is a small
 * program, and each group of commands is a module it dlopen()s:
 *   claw-mail.so     scan, --check-config, --dump-config: libclaw (GMime...)
 *   claw-archive.so  import, search, show, export, stats, check, reindex:
 *                    the archive library, LMDB, zstd, Xapian, GLib; it
 *                    loads claw-mail.so only when it must parse a message
 *                    (importing, reindexing, confirming a phrase).
 *   claw-ioc.so      ioc: the archive's libraries and the feed readers'
 *                    (json-glib, libcurl, libcsv).
 *   claw-serve.so    serve (the query service, query-wire.h): search and
 *                    show, with libsystemd for readiness and sockets.
 * They are installed in $(pkglibdir); CLAW_MODULE_DIR overrides that, and
 * an uninstalled claw (in libtool's .libs/) takes the modules beside it. */
#ifndef CLAW_CLI_MODULE_H
#define CLAW_CLI_MODULE_H

#include <stdbool.h>

/* What a module exports (modules are built with -fvisibility=hidden). */
#define CLAW_PUBLIC_MODULE __attribute__((visibility("default")))

/* One run of a command, as the dispatcher parsed it. */
typedef struct {
    const char *prog;        /* the program's name, for messages */
    const char *command;     /* "scan", "search", ... or "--check-config",
                              * "--dump-config" */
    const char *config_path; /* --config, or the default */
    const char *archive;     /* --archive, or NULL for [archive] path */
    const char *module_dir;  /* where the modules are */
    int argc;                /* the command's own arguments; argv[0] is the */
    char **argv;             /* command (for --check-config, its FILE) */
} claw_cli_call_t;

/* Each module exports this under the name CLAW_CLI_RUN: run @call's
 * command, return the exit status (sysexits.h). */
typedef int claw_cli_run_fn(const claw_cli_call_t *call);
#define CLAW_CLI_RUN "claw_cli_run"

/* The module's file name in the module directory. */
#define CLAW_CLI_MAIL_MODULE "claw-mail.so"
#define CLAW_CLI_ARCHIVE_MODULE "claw-archive.so"
#define CLAW_CLI_IOC_MODULE "claw-ioc.so"
#define CLAW_CLI_SERVE_MODULE "claw-serve.so"

/* Load module @name from @dir (RTLD_LOCAL) and return the address of
 * @symbol in it, or NULL with the reason in @why (a static string or
 * dlerror()'s). The module stays loaded. */
void *claw_cli_module_symbol(const char *dir, const char *name, const char *symbol,
                             const char **why);

#endif
