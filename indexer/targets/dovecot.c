/* dovecot.c - delivered copies in Dovecot mailboxes (claw-targets.h),
 * through doveadm, Dovecot's own administration tool: it finds, moves and
 * expunges by a search query, for any mailbox format Dovecot stores, and
 * keeps a moved message's flags, keywords and received date.
 *
 * A copy is a user's folder holding the message (found by its
 * X-Clawback-Id). Quarantined, it is moved to the same folder under the
 * quarantine namespace ([purge] dovecot_quarantine, "Clawback.Quarantine":
 * a namespace the site's Dovecot enables for doveadm alone, so IMAP and
 * POP3 users cannot list, open or deliver into it); restored, it is moved
 * back. Every act ends by asking where the message is now, so doing one
 * again after a crash finds it done. doveadm's exit 75 (Dovecot not
 * running, its auth unreachable) leaves the copy failed, to be run again.
 *
 * Privileges: doveadm runs as the user claw or clawd runs as; Dovecot
 * answers root, or its mail account, for any user.
 */
#include "build-config.h"

#include "claw-targets.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

struct claw_dovecot_target {
    char *command;    /* doveadm and its first arguments (-c FILE) */
    char *user_template;
    char *quarantine; /* the quarantine namespace's prefix, without its separator */
    GHashTable *made; /* "user\nfolder": folders known to be there (one create each) */
};

claw_dovecot_target_t *
claw_dovecot_target_new(const char *command, const char *user_template, const char *quarantine,
                        char **error)
{
    *error = NULL;
    char **argv = NULL;
    GError *e = NULL;
    if (!command || !*command || !g_shell_parse_argv(command, NULL, &argv, &e)) {
        *error = g_strdup_printf("[purge] doveadm '%s': %s", command ? command : "",
                                 e ? e->message : "empty");
        g_clear_error(&e);
        return NULL;
    }
    if (!quarantine || !*quarantine || strpbrk(quarantine, "*%\"")) {
        *error = g_strdup_printf("[purge] dovecot_quarantine '%s': the quarantine namespace's "
                                 "prefix", quarantine ? quarantine : "");
        g_strfreev(argv);
        return NULL;
    }
    g_strfreev(argv); /* checked here; split again by each run */
    claw_dovecot_target_t *t = g_new0(claw_dovecot_target_t, 1);
    t->command = g_strdup(command);
    t->user_template = g_strdup(user_template && *user_template ? user_template : "%u");
    t->quarantine = g_strdup(quarantine);
    t->made = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return t;
}

void
claw_dovecot_target_free(claw_dovecot_target_t *t)
{
    if (!t)
        return;
    g_free(t->command);
    g_free(t->user_template);
    g_free(t->quarantine);
    g_hash_table_destroy(t->made);
    g_free(t);
}

char *
claw_dovecot_user_of(const claw_dovecot_target_t *t, const char *rcpt)
{
    char *a = g_ascii_strdown(rcpt ? rcpt : "", -1);
    char *at = strrchr(a, '@');
    if (!at || at == a || !at[1] || strpbrk(a, " \t\r\n\"\\")) {
        g_free(a);
        return NULL;
    }
    GString *u = g_string_new(NULL);
    for (const char *s = t->user_template; *s; s++) {
        if (*s != '%' || !s[1]) {
            g_string_append_c(u, *s);
            continue;
        }
        switch (*++s) {
        case 'u': g_string_append_len(u, a, at - a); break;
        case 'd': g_string_append(u, at + 1); break;
        case 'a': g_string_append(u, a); break;
        default: g_string_append_c(u, '%'), g_string_append_c(u, *s); break;
        }
    }
    g_free(a);
    return g_string_free(u, FALSE);
}

/* Run doveadm with @args (NULL-terminated) after the configured command:
 * its exit status (-1 when it could not be run), what it wrote in *@out
 * (g_free; may be NULL) and its first error line in *@err. */
static int
doveadm(const claw_dovecot_target_t *t, const char *const *args, char **out, char **err)
{
    return claw_command_run(t->command, args, NULL, 0, out, err);
}

/* The folders of @user under @pattern holding message @id, each once
 * (g_ptr_array_unref): none for a user Dovecot does not know; NULL on
 * doveadm's failure (*@why says so). */
static GPtrArray *
folders_with(const claw_dovecot_target_t *t, const char *user, const char *pattern,
             const char *id, char **why)
{
    const char *args[] = {"-f", "tab", "fetch", "-u", user, "mailbox", "mailbox", pattern,
                          "header", "X-Clawback-Id", id, NULL};
    char *out = NULL, *err = NULL;
    int rc = doveadm(t, args, &out, &err);
    GPtrArray *folders = NULL;
    /* 67: a user Dovecot does not know (any more) has no folders. */
    if (rc == 67) {
        g_free(out);
        out = NULL;
        rc = 0;
    }
    if (rc == 0) {
        folders = g_ptr_array_new_with_free_func(g_free);
        char **lines = g_strsplit(out ? out : "", "\n", -1);
        for (char **l = lines; *l; l++) {
            if (l == lines || !**l) /* the header line, "mailbox" */
                continue;
            bool seen = false;
            for (guint i = 0; i < folders->len && !seen; i++)
                seen = !strcmp(folders->pdata[i], *l);
            if (!seen)
                g_ptr_array_add(folders, g_strdup(*l));
        }
        g_strfreev(lines);
    } else {
        *why = g_strdup_printf("doveadm fetch for %s: exit %d%s%s", user, rc, *err ? ": " : "",
                               err);
    }
    g_free(out);
    g_free(err);
    return folders;
}

bool
claw_dovecot_find(claw_dovecot_target_t *t, const char *rcpt, const char *id,
                  void (*fn)(void *ctx, const char *folder), void *ctx, char **why)
{
    *why = NULL;
    char *user = claw_dovecot_user_of(t, rcpt);
    if (!user)
        return true; /* no mailbox can be named after it */
    GPtrArray *f = folders_with(t, user, "*", id, why);
    g_free(user);
    if (!f)
        return false;
    for (guint i = 0; i < f->len; i++)
        fn(ctx, f->pdata[i]);
    g_ptr_array_unref(f);
    return true;
}

/* Is message @id in @user's @folder? 1 yes, 0 no, -1 doveadm failed. */
static int
is_in(const claw_dovecot_target_t *t, const char *user, const char *folder, const char *id,
      char **why)
{
    GPtrArray *f = folders_with(t, user, folder, id, why);
    if (!f)
        return -1;
    int yes = f->len > 0;
    g_ptr_array_unref(f);
    return yes;
}

claw_copy_status_t
claw_dovecot_act(void *ctx, claw_plan_action_t action, const claw_copy_t *copy, const char *from,
                 char **detail)
{
    (void)from;
    claw_dovecot_target_t *t = ctx;
    *detail = NULL;
    char *user = claw_dovecot_user_of(t, copy->recipient);
    if (!user) {
        *detail = g_strdup("no Dovecot user for this recipient");
        return CLAW_COPY_GONE;
    }
    char *held = g_strdup_printf("%s/%s", t->quarantine, copy->where);
    const char *src = action == CLAW_PLAN_RESTORE ? held : copy->where;
    const char *dst = action == CLAW_PLAN_RESTORE ? copy->where : held;
    char *err = NULL, *why = NULL;
    claw_copy_status_t st = CLAW_COPY_DONE;
    int rc;
    if (action == CLAW_PLAN_DELETE) {
        const char *args[] = {"expunge", "-u", user, "mailbox", copy->where, "header",
                              "X-Clawback-Id", copy->id, NULL};
        int there = is_in(t, user, copy->where, copy->id, &why);
        if (there < 0) {
            st = CLAW_COPY_FAILED;
        } else if (!there) {
            /* Gone: by this plan's run cut short after the expunge, or
             * before the plan came. */
            st = copy->status == CLAW_COPY_STARTED ? CLAW_COPY_DONE : CLAW_COPY_GONE;
            *detail = g_strdup(st == CLAW_COPY_DONE ? "expunged" : "not in the folder any more");
        } else if ((rc = doveadm(t, args, NULL, &err)) != 0) {
            why = g_strdup_printf("doveadm expunge: exit %d%s%s", rc, *err ? ": " : "", err);
            st = CLAW_COPY_FAILED;
        } else {
            *detail = g_strdup("expunged");
        }
    } else {
        /* The destination folder first: a move never makes it (the user's
         * own folder may be gone too by the time of a restore). 65: it is
         * there already. Each is made once per run (t->made); a move that
         * finds a folder missing (68: the source, with nothing to move, or
         * the destination, gone since) makes it again and moves again. */
        const char *create[] = {"mailbox", "create", "-u", user, dst, NULL};
        const char *move[] = {"move", "-u", user, dst, "mailbox", src,
                              "header", "X-Clawback-Id", copy->id, NULL};
        char *key = g_strdup_printf("%s\n%s", user, dst);
        for (int tries = 0; tries < 2 && st != CLAW_COPY_FAILED; tries++) {
            bool known = tries == 0 && g_hash_table_contains(t->made, key);
            rc = known ? 0 : doveadm(t, create, NULL, &err);
            if (rc != 0 && rc != 65) {
                why = g_strdup_printf("doveadm mailbox create %s: exit %d%s%s", dst, rc,
                                      *err ? ": " : "", err);
                st = CLAW_COPY_FAILED;
                break;
            }
            g_hash_table_add(t->made, g_strdup(key));
            g_free(err);
            err = NULL;
            rc = doveadm(t, move, NULL, &err);
            if (rc == 68 && known)
                continue; /* the destination may be gone: made again */
            if (rc != 0 && rc != 68) {
                why = g_strdup_printf("doveadm move: exit %d%s%s", rc, *err ? ": " : "", err);
                st = CLAW_COPY_FAILED;
            }
            break;
        }
        g_free(key);
        if (st != CLAW_COPY_FAILED) {
            int there = is_in(t, user, dst, copy->id, &why);
            if (there < 0)
                st = CLAW_COPY_FAILED;
            else if (there)
                *detail = g_strdup(dst);
            else {
                st = CLAW_COPY_GONE;
                *detail = g_strdup(action == CLAW_PLAN_RESTORE ? "not in the quarantine any more"
                                                               : "not in the folder any more");
            }
        }
    }
    if (st == CLAW_COPY_FAILED && !*detail)
        *detail = why ? why : g_strdup("doveadm failed");
    else
        g_free(why);
    g_free(err);
    g_free(held);
    g_free(user);
    return st;
}
