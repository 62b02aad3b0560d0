/* claw-targets.h - where delivered copies of a message are, outside the
 * archive, and how a purge plan takes them out of view and puts them back
 * (claw_purge_target_t in claw-purge.h). Each target finds a message by
 * the X-Clawback-Id the MTA wrote into it, and each act is safe to repeat:
 * a run cut short does the copy it was doing again, and a copy already
 * where it was being sent counts as done.
 *
 *   command.c  a configured command (doveadm, exim) run, its output kept.
 *   planner.c  what a plan is made of: the messages a query names, those
 *              the holds in force keep, the configured targets and each
 *              message's copies in them.
 *   maildir.c  Maildirs on this machine ([purge] maildir names the path
 *              of a recipient's): a quarantined file is renamed out of the
 *              Maildir into [purge] quarantine_dir, its name (the flags),
 *              folder and times kept, and renamed back on restore. Needs
 *              write access to the Maildirs and the quarantine directory,
 *              on one file system (else it copies, syncs and unlinks).
 *   dovecot.c  Dovecot mailboxes, through doveadm ([purge] doveadm): a
 *              quarantined message is moved to the same folder in a
 *              namespace only doveadm sees, and back on restore; deleted,
 *              expunged. Runs doveadm as claw's user: root or Dovecot's
 *              mail account.
 *   retention.c which messages [retention] lets go of.
 *   exim.c     Exim's queue ([purge] exim): a copy Exim still holds for a
 *              recipient is frozen (thawed on restore) or removed, by the
 *              message id the journal transport gave clawd. Runs exim as
 *              claw's user: root or one of Exim's admin_groups.
 */
#ifndef CLAW_TARGETS_H
#define CLAW_TARGETS_H

#include "claw-purge.h"
#include "claw_xapian.h"

#include <glib.h>

/* Run @command (a command line from the configuration: a program and its
 * first arguments, split as a shell would, never run by one) with @args
 * (NULL-terminated) after it, and @input (@input_len bytes; NULL: none)
 * as its standard input: its exit status, or -1 when it could not be run.
 * *@out (when not NULL; g_free) is what it wrote, *@err (g_free) its first
 * line of complaint, or why it could not be run. (command.c) */
int claw_command_run(const char *command, const char *const *args, const char *input,
                     size_t input_len, char **out, char **err);
/* Can @command, the value of [purge] @key, be run as a command line?
 * false with *@error (g_free) saying why not. (command.c) */
bool claw_command_check(const char *key, const char *command, char **error);

/* @template ([purge] maildir, dovecot_user) for recipient @rcpt: %u its
 * local part, %d its domain, %a the whole address, %% a '%', in lower
 * case (g_free). NULL for an address without both parts, or with one that
 * @part_ok refuses. (planner.c) */
char *claw_recipient_expand(const char *template, const char *rcpt,
                            bool (*part_ok)(const char *part, size_t len));

typedef struct claw_maildir_target claw_maildir_target_t;

/* Maildirs at @path_template (%u: the recipient's local part, %d: its
 * domain, %a: the whole address, lower case), quarantining into
 * @quarantine_dir. NULL when the template has no % field (every recipient
 * would share one Maildir: refused, *@error says so). */
claw_maildir_target_t *claw_maildir_target_new(const char *path_template,
                                               const char *quarantine_dir, char **error);
void claw_maildir_target_free(claw_maildir_target_t *t);

/* The Maildir of @rcpt (g_free), or NULL for an address that cannot name
 * one (a '/' or a leading '.' in a part, empty parts). */
char *claw_maildir_of(const claw_maildir_target_t *t, const char *rcpt);

/* Call @fn with each file in the Maildir of @rcpt (any folder, new or cur)
 * whose X-Clawback-Id is @id. The files of a Maildir are read once and
 * remembered for the target's life: a plan asks for many ids. */
void claw_maildir_find(claw_maildir_target_t *t, const char *rcpt, const char *id,
                       void (*fn)(void *ctx, const char *path), void *ctx);

/* The claw_purge_target_t act() of Maildirs (its ctx: the target). */
claw_copy_status_t claw_maildir_act(void *ctx, claw_plan_action_t action, const claw_copy_t *copy,
                                    char **detail);

typedef struct claw_dovecot_target claw_dovecot_target_t;

/* Dovecot through @command (a shell-like command line: doveadm and its
 * first arguments, "doveadm -c /etc/dovecot/dovecot.conf"), its users
 * named by @user_template (%u, %d, %a of the recipient, lower case), its
 * quarantine the namespace prefixed @quarantine. NULL, with *@error, for
 * a command or prefix that cannot be. */
claw_dovecot_target_t *claw_dovecot_target_new(const char *command, const char *user_template,
                                               const char *quarantine, char **error);
void claw_dovecot_target_free(claw_dovecot_target_t *t);
char *claw_dovecot_user_of(const claw_dovecot_target_t *t, const char *rcpt);
/* A folder holding a message asked for. */
typedef struct claw_dovecot_found {
    size_t i;     /* the (recipient, id) pair asked */
    char *folder;
} claw_dovecot_found_t;
/* Where the messages @ids[i] (X-Clawback-Id) are in the folders of
 * @rcpts[i]'s user, for i < @n: claw_dovecot_found_t, each folder once per
 * pair (g_ptr_array_free). NULL, with *@why (g_free), when doveadm failed
 * (a user Dovecot does not know has no folders). One doveadm call asks for
 * many of a user's messages. */
GPtrArray *claw_dovecot_find(claw_dovecot_target_t *t, const char *const *rcpts,
                             const char *const *ids, size_t n, char **why);
/* The claw_purge_target_t act_many() of Dovecot (its ctx: the target). */
void claw_dovecot_act(void *ctx, claw_plan_action_t action, const claw_copy_t *copies, size_t n,
                      claw_copy_status_t *status, char **detail);

typedef struct claw_exim_target claw_exim_target_t;

/* Exim through @command (exim and its first arguments: "exim4", or
 * "exim4 -C FILE"); NULL with *@error for one that cannot be. */
claw_exim_target_t *claw_exim_target_new(const char *command, char **error);
void claw_exim_target_free(claw_exim_target_t *t);
/* Does @id look like an Exim message id (and nothing an option could be)? */
bool claw_exim_id_ok(const char *id);
/* Is message @id in the queue: 0 no, 1 yes, 2 yes and frozen. */
int claw_exim_queued(claw_exim_target_t *t, const char *id);
/* The claw_purge_target_t act() of Exim's queue (its ctx: the target). */
claw_copy_status_t claw_exim_act(void *ctx, claw_plan_action_t action, const claw_copy_t *copy,
                                 char **detail);

/* ------------------------------------------------------------------------
 * Planning (planner.c)
 * --------------------------------------------------------------------- */

/* Append every message @query finds, quarantined ones too, to @docids
 * (uint64_t); false with *@why (g_free) for a query the index cannot ask. */
bool claw_select_query(claw_index_t *ix, const char *query, GArray *docids, char **why);
/* Sort @docids and keep each once. */
void claw_select_unique(GArray *docids);
/* The messages the legal holds in force keep: docid (uint64_t *) -> the
 * hold's name (g_hash_table_destroy); NULL with *@why when a hold cannot
 * be asked (then nothing may be deleted). */
GHashTable *claw_select_held(claw_archive_t *ar, claw_index_t *ix, char **why);
/* The claw_hold_check_t of that table (the ctx). */
const char *claw_select_held_check(void *ctx, uint64_t docid);

/* The targets [purge] configures: NULL where it configures none. */
typedef struct claw_targets {
    claw_maildir_target_t *maildir;
    claw_dovecot_target_t *dovecot;
    claw_exim_target_t *exim;
    claw_purge_target_t ops[CLAW_TARGET_N];
} claw_targets_t;

/* Open them into @t (the quarantine under @archive_dir unless [purge]
 * quarantine_dir says); false with *@error for one configured wrong. */
bool claw_targets_open(const claw_config_t *cfg, const char *archive_dir, claw_targets_t *t,
                       char **error);
void claw_targets_close(claw_targets_t *t);
/* Point a run's targets at @t's. */
void claw_targets_for_run(claw_targets_t *t, claw_plan_run_options_t *opt);
/* Append to @items (claw_plan_item_t, strings in @s) the copies of the
 * @n messages @docids in the targets @want (indexed by claw_target_t): the
 * archive's, Exim's queue's and those in their recipients' mailboxes, in
 * the order a plan lists them; each marked with the hold @held (when not
 * NULL) names for it. false with *@why when a target could not be asked
 * (then no plan should be made: it would miss copies). */
bool claw_targets_plan(claw_targets_t *t, claw_archive_t *ar, const bool *want,
                       const uint64_t *docids, size_t n, claw_hold_check_t held, void *held_ctx,
                       GArray *items, GStringChunk *s, char **why);

/* ------------------------------------------------------------------------
 * Retention (retention.c)
 * --------------------------------------------------------------------- */

/* Append to @docids (sorted) the messages [retention] in @cfg lets go of as
 * of @now, and to @rules (when not NULL) the name of a rule that let each
 * go (owned by @cfg); false with *@why when a rule's query cannot be asked
 * (then nothing is due). */
bool claw_retention_due(claw_index_t *ix, const claw_config_t *cfg, int64_t now, GArray *docids,
                        GPtrArray *rules, char **why);

#endif
