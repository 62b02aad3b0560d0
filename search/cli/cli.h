/* cli.h - what claw's command files share: the commands' entry points and
 * the helpers in cli-common.c. The manual is claw.1. */
#ifndef CLAW_CLI_H
#define CLAW_CLI_H

#include "claw.h"
#include "claw-ingest.h"

#include <getopt.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit statuses beyond sysexits.h: search found nothing, check found
 * problems. */
#define EXIT_NONE 1
#define EXIT_PROBLEMS 1

/* Each command takes its own arguments (argv[0] is the command) and
 * returns the exit status. @archive is --archive DIR or NULL (then
 * [archive] path). */
typedef int claw_cli_cmd_fn(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                            char **argv);

/* The run's configuration: @path (or, unless @explicit_path, the built-in
 * defaults when it does not exist), with its [log] settings applied. A
 * configuration error ends the process with EX_CONFIG. (cli-config.c) */
claw_config_t *cli_setup(const char *prog, const char *path);

/* Apply @cfg's [log] settings (to this module's copy of libclaw's log). */
void cli_apply_log_config(const claw_config_t *cfg);

claw_cli_cmd_fn claw_cmd_import;  /* cmd-import.c */
claw_cli_cmd_fn claw_cmd_search;  /* cmd-search.c */
claw_cli_cmd_fn claw_cmd_show;    /* cmd-search.c */
claw_cli_cmd_fn claw_cmd_export;  /* cmd-search.c */
claw_cli_cmd_fn claw_cmd_stats;   /* cmd-admin.c */
claw_cli_cmd_fn claw_cmd_check;   /* cmd-admin.c */
claw_cli_cmd_fn claw_cmd_reindex; /* cmd-admin.c */
claw_cli_cmd_fn claw_cmd_compact; /* cmd-admin.c */
claw_cli_cmd_fn claw_cmd_ioc;     /* cmd-ioc.c */
claw_cli_cmd_fn claw_cmd_hunt;    /* cmd-hunt.c */
claw_cli_cmd_fn claw_cmd_audit;   /* cmd-audit.c */
claw_cli_cmd_fn claw_cmd_hold;    /* cmd-hold.c */

/* A command's options: parsed with getopt_long from argv[1] on. */
typedef struct {
    const char *prog;    /* the program's name, for messages */
    const char *usage;   /* the command's usage, after "Usage: PROG " */
    const char *shortopts;
    const struct option *longopts;
} cli_opts_t;

/* The next option of @argv (as getopt_long), with --help and an unknown
 * option handled here: --help prints the usage to stdout and gives 'h',
 * an unknown option or a missing argument prints it to stderr and gives
 * '?'. The first call (when *@started is false) restarts getopt, so each
 * command parses from scratch whatever the dispatcher parsed before. The
 * caller returns 0 on 'h' and EX_USAGE on '?' without touching an archive. */
int cli_next_opt(const cli_opts_t *o, int argc, char **argv, bool *started);

/* One option of a command, for cli_parse(): --NAME (and -LETTER, unless
 * LETTER is 0) is an on/off flag that sets *@flag, or, with @value, takes
 * an argument that is stored there (the last one given wins). */
typedef struct {
    const char *name;
    int letter;
    bool *flag;
    const char **value;
} cli_option_t;

/* cli_parse() returns this when the command goes on. */
#define CLI_GO_ON (-1)

/* Parse the options of a command from argv[1] on by the table @options
 * (ended by a zero entry; --help is added), with cli_next_opt()'s errors.
 * Returns CLI_GO_ON with optind at the first argument; 0 when --help
 * printed the usage; EX_USAGE after an unknown option, a missing value, or
 * (unless @takes_args) an argument given. The one parser of every command
 * whose options are flags and single values. */
int cli_parse(const char *prog, const char *usage, const cli_option_t *options, bool takes_args,
              int argc, char **argv);

/* After the options of a command that takes no arguments: true if there
 * are none; else say so, with the usage, on stderr. */
bool cli_no_more_args(const cli_opts_t *o, int argc, char **argv);

/* Print @o's usage to @out. */
void cli_usage(const cli_opts_t *o, FILE *out);

/* The archive's directory: --archive or [archive] path. g_free() it.
 * (cli-open.c, as cli_open_archive) */
char *cli_archive_dir(claw_config_t *cfg, const char *archive);

/* How a command opens the archive: to read; to write; or to read with the
 * read itself put in the audit log (cli_audit_read()), which takes write
 * access: without it, the archive is read all the same and a note says the
 * read is not in the log. */
enum { CLI_READ = 0, CLI_WRITE = 1, CLI_AUDITED = 2 };

/* The archive at --archive @archive or [archive] path, opened as
 * cli_open_archive() does. (cli-open.c) */
claw_archive_t *cli_open_archive_for(const char *prog, claw_config_t *cfg, const char *archive,
                                     int mode, int *rc);

/* Open the archive at @dir as @mode says. On failure print why and set
 * *@rc: EX_NOINPUT if there is no archive there, else EX_IOERR. */
claw_archive_t *cli_open_archive(const char *prog, const char *dir, int mode,
                                 claw_config_t *cfg, int *rc);

/* Close @ar, unless it is the one cli_keep_archives() keeps. */
void cli_close_archive(claw_archive_t *ar);

/* From now on keep the archive a command opened CLI_AUDITED open for the
 * next one (claw serve's workers: opening it again costs more than the
 * search). It is opened again when its store file is replaced (claw
 * compact). What it reads stays fresh: each read is its own LMDB
 * transaction, and dictionaries are read when first met. */
void cli_keep_archives(void);

/* Put a read (@action: search, show, export) in the audit log of @ar,
 * opened CLI_AUDITED, by the user running claw: what was asked (@args) and
 * what it gave (@result); a note on stderr when it cannot be. */
void cli_audit_read(const char *prog, claw_archive_t *ar, const char *action, const char *args,
                    const char *result);

/* The index and the store for searching (cmd-search.c), of the archive
 * at --archive @archive or [archive] path: opened together (the store gives
 * what a hit shows and confirms phrases; opened as @mode says, one LMDB
 * environment per process); NULL with a message and *@rc set on failure.
 * cli_search_close() closes both. */
claw_index_t *cli_search_open(const char *prog, claw_config_t *cfg, const char *archive,
                              int mode, claw_archive_t **ar, int *rc);
void cli_search_close(claw_index_t *ix);
/* Say on stderr if the index is behind the store. */
void cli_search_warn_behind(const char *prog, claw_archive_t *ar, claw_index_t *ix);

/* How a hit is printed: a table row, a JSON object a line, its id. */
typedef enum { CLI_HIT_TEXT, CLI_HIT_JSON, CLI_HIT_ID } cli_hit_format_t;
/* Print @hit as @how says (with its relevance in JSON if @relevance);
 * false, having said why, if the store does not give it. */
bool cli_print_hit(const char *prog, claw_archive_t *ar, const claw_hit_t *hit,
                   cli_hit_format_t how, bool relevance);
/* A message's summary as the start of a JSON object (not closed) in @o:
 * {"id", "docid", "date", "arrival", "from", "subject", "action", "score",
 * "size". */
void cli_hit_json(GString *o, uint64_t docid, const claw_record_t *r);

/* claw hunt --rules: the current rules over old mail (cmd-rules.c). */
int claw_cmd_hunt_rules(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                        char **argv);

/* Index what the store of @ar (at @dir) has that the index lacks, as
 * claw reindex --catch-up does: 0, EX_TEMPFAIL when another process
 * (clawd) writes the index (0 with @busy_ok: that writer indexes it), or
 * EX_IOERR with a message. (cmd-admin.c) */
int cli_index_catch_up(const char *prog, claw_config_t *cfg, claw_archive_t *ar, bool busy_ok);

/* A progress bar on stderr (the caller checks it is a terminal): @done of
 * @total, @what after them, and @counted per second since @start
 * (g_get_monotonic_time()); a newline when @final. (cli-common.c) */
void cli_progress_bar(size_t done, size_t total, gint64 start, uint64_t counted,
                      const char *what, bool final);

/* claw purge, claw restore (cmd-purge.c). */
claw_cli_cmd_fn claw_cmd_purge;
claw_cli_cmd_fn claw_cmd_restore;
/* Print plan @id: its head, counts per target and recipient, and up to
 * @show copies (-1: all); 0, 1 (no such plan) or EX_IOERR. */
int cli_purge_print(const char *prog, claw_archive_t *ar, uint64_t id, bool json, long show);
/* Run plan @id, then bring the index up to the store (unless clawd does)
 * and print the plan as it ended. 0 when every copy is finished; 75 when
 * some failed (run it again); 65 for a plan that may not run. */
int cli_purge_run(const char *prog, claw_config_t *cfg, const char *archive, uint64_t id,
                  bool json);
/* --show N|all: *@show the count, -1 for all; false (said) otherwise. */
bool cli_show_count(const char *prog, const char *text, long *show);
/* claw retention (cmd-retention.c). */
claw_cli_cmd_fn claw_cmd_retention;
/* claw release (cmd-release.c). */
claw_cli_cmd_fn claw_cmd_release;

/* The Unix user running claw (who added, revoked or hunted), in @out:
 * the process's, or the one cli_set_caller() named. */
void cli_whoami(char *out, size_t n);
/* The name of user @uid ("uid N" when it has none), in @out. */
void cli_user_name(uid_t uid, char *out, size_t n);
/* claw serve runs a command for the user @uid (-1: for this process's
 * user again): cli_whoami() names @uid, so the audit log names who asked. */
void cli_set_caller(long uid);

/* Text from a message, made safe for a terminal: control characters become
 * '?', and at most @max characters. g_free() it. */
char *cli_safe_text(const char *s, size_t max);

/* Append @s (NULL as "") to @o as a JSON string (claw_json_quote). */
void cli_json_str(GString *o, const char *s);
/* Append @s cut at each @sep to @o as a JSON array of strings; NULL or ""
 * is []. */
void cli_json_split(GString *o, const char *s, const char *sep);

/* @t (seconds since the epoch) as UTC, with seconds in ISO 8601 form. */
void cli_fmt_time(char *buf, size_t n, int64_t t, bool seconds);

/* The arguments joined by single spaces: a query. g_free() it. */
char *cli_join_args(int argc, char **argv);

/* Has writing to standard output failed (its reader closed the pipe:
 * claw search | head)? Then a command stops writing, and
 * cli_finish_output() tells whether that was an error. */
bool cli_stdout_closed(void);

/* Flush standard output and give the exit status: @rc, or 0 if the reader
 * closed the pipe (quietly: that is how `head` says it has enough), or
 * EX_IOERR with a message for any other write error. */
int cli_finish_output(const char *prog, int rc);

#endif
