/* claw-cmds.h - the archive commands of claw (claw-archive-cmds.c). */
#ifndef CLAW_CMDS_H
#define CLAW_CMDS_H

#include "claw.h"

/* Each takes the command's own arguments (argv[0] is the command) and
 * returns the exit status. @archive is --archive DIR or NULL (then
 * [archive] path). */
int claw_cmd_import(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                    char **argv);
int claw_cmd_search(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                    char **argv);
int claw_cmd_show(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                  char **argv);
int claw_cmd_export(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                    char **argv);
int claw_cmd_stats(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                   char **argv);
int claw_cmd_check(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                   char **argv);
int claw_cmd_reindex(const char *prog, claw_config_t *cfg, const char *archive, int argc,
                     char **argv);

#endif
