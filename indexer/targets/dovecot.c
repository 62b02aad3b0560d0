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
 * back. Every act ends by asking where the messages are now, so doing one
 * again after a crash finds it done. doveadm's exit 75 (Dovecot not
 * running, its auth unreachable) leaves the copies failed, to be run again.
 *
 * A doveadm call costs a process and a user's mail opened: tens of
 * milliseconds, whatever it asks. So the copies of one user are asked for
 * and moved together, by one query naming all their ids (up to IDS_PER_CALL
 * of them), and users are served by a few doveadm processes at once
 * (PARALLEL): Dovecot locks each user's mailboxes itself.
 *
 * Privileges: doveadm runs as the user claw or clawd runs as; Dovecot
 * answers root, or its mail account, for any user.
 */
#include "build-config.h"

#include "claw-targets.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

/* Ids in one doveadm query: each adds four words to its command line. */
#define IDS_PER_CALL 64
/* doveadm processes at once: enough to keep two cores busy while each
 * waits on Dovecot's auth and the disk; each user's work stays in one. */
#define PARALLEL 4

struct claw_dovecot_target {
    char *command;    /* doveadm and its first arguments (-c FILE) */
    char *user_template;
    char *quarantine; /* the quarantine namespace's prefix, without its separator */
    GMutex lock;      /* made, for the users served at once */
    GHashTable *made; /* "user\nfolder": folders known to be there (one create each) */
};

claw_dovecot_target_t *
claw_dovecot_target_new(const char *command, const char *user_template, const char *quarantine,
                        char **error)
{
    if (!claw_command_check("doveadm", command, error))
        return NULL;
    if (!quarantine || !*quarantine || strpbrk(quarantine, "*%\"")) {
        *error = g_strdup_printf("[purge] dovecot_quarantine '%s': the quarantine namespace's "
                                 "prefix", quarantine ? quarantine : "");
        return NULL;
    }
    claw_dovecot_target_t *t = g_new0(claw_dovecot_target_t, 1);
    t->command = g_strdup(command);
    t->user_template = g_strdup(user_template && *user_template ? user_template : "%u");
    t->quarantine = g_strdup(quarantine);
    g_mutex_init(&t->lock);
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
    g_mutex_clear(&t->lock);
    g_hash_table_destroy(t->made);
    g_free(t);
}

/* A part of an address doveadm is given as a user name: nothing a command
 * line or a user database lookup would read otherwise. */
static bool
user_part_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strchr(" \t\r\n\"\\", s[i]))
            return false;
    return true;
}

char *
claw_dovecot_user_of(const claw_dovecot_target_t *t, const char *rcpt)
{
    return claw_recipient_expand(t->user_template, rcpt, user_part_ok);
}

/* ------------------------------------------------------------------------
 * doveadm
 * --------------------------------------------------------------------- */

/* doveadm with @args: its exit status (-1 when it could not be run), what
 * it wrote in *@out (when not NULL) and its first error line in *@err. */
static int
doveadm(const claw_dovecot_target_t *t, GPtrArray *args, char **out, char **err)
{
    g_ptr_array_add(args, NULL);
    int rc = claw_command_run(t->command, (const char *const *)args->pdata, NULL, 0, out, err);
    g_ptr_array_set_size(args, args->len - 1);
    return rc;
}

/* Append to @args the search query for the messages @ids names (@n). */
static void
add_ids(GPtrArray *args, const char *const *ids, size_t n)
{
    g_ptr_array_add(args, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            g_ptr_array_add(args, "OR");
        g_ptr_array_add(args, "header");
        g_ptr_array_add(args, "X-Clawback-Id");
        g_ptr_array_add(args, (gpointer)ids[i]);
    }
    g_ptr_array_add(args, ")");
}

/* Call @fn(ctx, folder, id) for each message of @user in the folders
 * @pattern matches whose X-Clawback-Id is one of @ids (@n). true, or false
 * with *@why (g_free) when doveadm failed; a user Dovecot does not know
 * has no messages. */
static bool
where_are(const claw_dovecot_target_t *t, const char *user, const char *pattern,
          const char *const *ids, size_t n, void (*fn)(void *ctx, const char *folder,
                                                       const char *id),
          void *ctx, char **why)
{
    GPtrArray *args = g_ptr_array_new();
    const char *head[] = {"-f", "tab", "fetch", "-u", user, "mailbox hdr.x-clawback-id",
                          "mailbox", pattern};
    for (size_t i = 0; i < G_N_ELEMENTS(head); i++)
        g_ptr_array_add(args, (gpointer)head[i]);
    add_ids(args, ids, n);
    char *out = NULL, *err = NULL;
    int rc = doveadm(t, args, &out, &err);
    g_ptr_array_free(args, TRUE);
    if (rc == 0) {
        char **lines = g_strsplit(out ? out : "", "\n", -1);
        for (char **l = lines; *l; l++) {
            char *tab = strrchr(*l, '\t');
            if (l == lines || !tab) /* the header line, "mailbox\thdr..." */
                continue;
            *tab = 0;
            fn(ctx, *l, g_strstrip(tab + 1));
        }
        g_strfreev(lines);
    } else if (rc != 67) { /* 67: no such user */
        *why = g_strdup_printf("doveadm fetch for %s: exit %d%s%s", user, rc, *err ? ": " : "",
                               err);
    }
    g_free(out);
    g_free(err);
    return rc == 0 || rc == 67;
}

/* Make @user's @folder, once per target's life unless @again. 0, or
 * doveadm's exit status with *@why. */
static int
make_folder(claw_dovecot_target_t *t, const char *user, const char *folder, bool again,
            char **why)
{
    char *key = g_strdup_printf("%s\n%s", user, folder);
    g_mutex_lock(&t->lock);
    bool known = !again && g_hash_table_contains(t->made, key);
    g_mutex_unlock(&t->lock);
    int rc = 0;
    if (!known) {
        const char *create[] = {"mailbox", "create", "-u", user, folder};
        GPtrArray *args = g_ptr_array_new();
        for (size_t i = 0; i < G_N_ELEMENTS(create); i++)
            g_ptr_array_add(args, (gpointer)create[i]);
        char *err = NULL;
        rc = doveadm(t, args, NULL, &err);
        g_ptr_array_free(args, TRUE);
        if (rc == 65) /* there already */
            rc = 0;
        if (rc)
            *why = g_strdup_printf("doveadm mailbox create %s: exit %d%s%s", folder, rc,
                                   *err ? ": " : "", err);
        g_free(err);
    }
    g_mutex_lock(&t->lock);
    if (rc == 0)
        g_hash_table_add(t->made, key);
    else
        g_free(key);
    g_mutex_unlock(&t->lock);
    return rc;
}

/* Serve each of @users (user -> work, both owned by the table) with @fn,
 * PARALLEL at a time; returns when all are done. */
static void
each_user(GHashTable *users, GFunc fn, gpointer ctx)
{
    GThreadPool *pool = g_thread_pool_new(fn, ctx, PARALLEL, FALSE, NULL);
    GHashTableIter it;
    gpointer work;
    g_hash_table_iter_init(&it, users);
    while (g_hash_table_iter_next(&it, NULL, &work))
        g_thread_pool_push(pool, work, NULL);
    g_thread_pool_free(pool, FALSE, TRUE);
}

/* ------------------------------------------------------------------------
 * Finding copies (a plan)
 * --------------------------------------------------------------------- */

typedef struct {
    char *user;
    GArray *asks;        /* size_t: the indices of its (recipient, id) pairs */
    GPtrArray *found;    /* claw_dovecot_found_t */
    char *why;           /* doveadm failed */
} find_user_t;

typedef struct {
    claw_dovecot_target_t *t;
    const char *const *ids;
} find_t;

typedef struct {
    find_user_t *u;
    const char *const *ids;
    GHashTable *seen;    /* "index\nfolder" */
} find_rows_t;

static void
find_row(void *ctx, const char *folder, const char *id)
{
    find_rows_t *f = ctx;
    for (guint k = 0; k < f->u->asks->len; k++) {
        size_t i = g_array_index(f->u->asks, size_t, k);
        if (strcmp(f->ids[i], id))
            continue;
        char *key = g_strdup_printf("%zu\n%s", i, folder);
        if (g_hash_table_add(f->seen, key)) {
            claw_dovecot_found_t hit = {i, g_strdup(folder)};
            g_ptr_array_add(f->u->found, g_memdup2(&hit, sizeof hit));
        }
    }
}

static void
find_user(gpointer data, gpointer ctx)
{
    find_user_t *u = data;
    find_t *f = ctx;
    GHashTable *distinct = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *ids = g_ptr_array_new();
    for (guint k = 0; k < u->asks->len; k++) {
        const char *id = f->ids[g_array_index(u->asks, size_t, k)];
        if (g_hash_table_add(distinct, (gpointer)id))
            g_ptr_array_add(ids, (gpointer)id);
    }
    find_rows_t rows = {u, f->ids, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL)};
    for (guint k = 0; k < ids->len && !u->why; k += IDS_PER_CALL)
        where_are(f->t, u->user, "*", (const char *const *)ids->pdata + k,
                  MIN(IDS_PER_CALL, ids->len - k), find_row, &rows, &u->why);
    g_hash_table_destroy(rows.seen);
    g_hash_table_destroy(distinct);
    g_ptr_array_free(ids, TRUE);
}

static void
find_user_free(gpointer data)
{
    find_user_t *u = data;
    g_free(u->user);
    g_array_free(u->asks, TRUE);
    g_ptr_array_free(u->found, TRUE);
    g_free(u->why);
    g_free(u);
}

static void
found_free(gpointer data)
{
    claw_dovecot_found_t *f = data;
    g_free(f->folder);
    g_free(f);
}

GPtrArray *
claw_dovecot_find(claw_dovecot_target_t *t, const char *const *rcpts, const char *const *ids,
                  size_t n, char **why)
{
    *why = NULL;
    GHashTable *users = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, find_user_free);
    for (size_t i = 0; i < n; i++) {
        char *user = claw_dovecot_user_of(t, rcpts[i]);
        if (!user)
            continue; /* no mailbox can be named after it */
        find_user_t *u = g_hash_table_lookup(users, user);
        if (!u) {
            u = g_new0(find_user_t, 1);
            u->user = user;
            u->asks = g_array_new(FALSE, FALSE, sizeof(size_t));
            u->found = g_ptr_array_new();
            g_hash_table_insert(users, u->user, u);
        } else {
            g_free(user);
        }
        g_array_append_val(u->asks, i);
    }
    find_t f = {t, ids};
    each_user(users, find_user, &f);
    GPtrArray *found = g_ptr_array_new_with_free_func(found_free);
    GHashTableIter it;
    find_user_t *u;
    g_hash_table_iter_init(&it, users);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&u)) {
        if (u->why && !*why)
            *why = g_steal_pointer(&u->why);
        for (guint k = 0; k < u->found->len; k++)
            g_ptr_array_add(found, u->found->pdata[k]);
        g_ptr_array_set_size(u->found, 0);
    }
    g_hash_table_destroy(users);
    if (*why) {
        g_ptr_array_free(found, TRUE);
        return NULL;
    }
    return found;
}

/* ------------------------------------------------------------------------
 * Acting on copies (a run)
 * --------------------------------------------------------------------- */

/* The copies of one user that go from one folder to another (or are
 * expunged from one: to NULL). */
typedef struct {
    char *src, *dst;
    GArray *at;          /* size_t: indices into the run's copies */
} group_t;

typedef struct {
    char *user;
    GPtrArray *groups;   /* group_t */
} act_user_t;

typedef struct {
    claw_dovecot_target_t *t;
    claw_plan_action_t action;
    const claw_copy_t *copies;
    claw_copy_status_t *status;
    char **detail;
} act_t;

/* Note @id as found (ctx: the set of ids found in the folder asked). */
static void
note_there(void *ctx, const char *folder, const char *id)
{
    (void)folder;
    g_hash_table_add(ctx, g_strdup(id));
}

/* Give copies @at[from..from+n) of a group the end @status with @detail. */
static void
end_all(const act_t *a, const group_t *g, guint from, guint n, claw_copy_status_t status,
        const char *detail)
{
    for (guint k = from; k < from + n; k++) {
        size_t i = g_array_index(g->at, size_t, k);
        a->status[i] = status;
        g_free(a->detail[i]);
        a->detail[i] = g_strdup(detail);
    }
}

/* Move (or expunge) copies @at[from..from+n) of @g, then see where they
 * are: each copy's end. */
static void
act_chunk(const act_t *a, const char *user, const group_t *g, guint from, guint n)
{
    claw_dovecot_target_t *t = a->t;
    const char **ids = g_new(const char *, n);
    for (guint k = 0; k < n; k++)
        ids[k] = a->copies[g_array_index(g->at, size_t, from + k)].id;
    GHashTable *there = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    char *why = NULL, *err = NULL;
    int rc = 0;
    GPtrArray *args = g_ptr_array_new();
    if (!g->dst) {
        /* An expunge: those in the folder now (the others are gone, by
         * this run cut short after the expunge or before the plan came). */
        if (where_are(t, user, g->src, ids, n, note_there, there, &why) &&
            g_hash_table_size(there)) {
            const char *head[] = {"expunge", "-u", user, "mailbox", g->src};
            for (size_t i = 0; i < G_N_ELEMENTS(head); i++)
                g_ptr_array_add(args, (gpointer)head[i]);
            add_ids(args, ids, n);
            if ((rc = doveadm(t, args, NULL, &err)) != 0)
                why = g_strdup_printf("doveadm expunge: exit %d%s%s", rc, *err ? ": " : "", err);
        }
        for (guint k = 0; k < n && !why; k++) {
            size_t i = g_array_index(g->at, size_t, from + k);
            const claw_copy_t *c = &a->copies[i];
            bool was = g_hash_table_contains(there, c->id);
            a->status[i] = was || c->status == CLAW_COPY_STARTED ? CLAW_COPY_DONE
                                                                  : CLAW_COPY_GONE;
            a->detail[i] = g_strdup(a->status[i] == CLAW_COPY_DONE ? "expunged"
                                                                   : "not in the folder any more");
        }
    } else {
        /* The destination first: a move never makes it (the user's own
         * folder may be gone too by the time of a restore). A move that
         * finds a folder missing (68: the source, with nothing to move, or
         * the destination, gone since it was made) makes it again and
         * moves again. */
        const char *head[] = {"move", "-u", user, g->dst, "mailbox", g->src};
        for (size_t i = 0; i < G_N_ELEMENTS(head); i++)
            g_ptr_array_add(args, (gpointer)head[i]);
        add_ids(args, ids, n);
        for (int tries = 0; tries < 2 && !why; tries++) {
            if ((rc = make_folder(t, user, g->dst, tries > 0, &why)) != 0)
                break;
            g_free(err);
            rc = doveadm(t, args, NULL, &err);
            if (rc != 68)
                break;
        }
        if (!why && rc != 0 && rc != 68)
            why = g_strdup_printf("doveadm move: exit %d%s%s", rc, *err ? ": " : "", err);
        if (!why && where_are(t, user, g->dst, ids, n, note_there, there, &why)) {
            for (guint k = 0; k < n; k++) {
                size_t i = g_array_index(g->at, size_t, from + k);
                bool in = g_hash_table_contains(there, a->copies[i].id);
                a->status[i] = in ? CLAW_COPY_DONE : CLAW_COPY_GONE;
                a->detail[i] = g_strdup(in ? g->dst
                                        : a->action == CLAW_PLAN_RESTORE
                                            ? "not in the quarantine any more"
                                            : "not in the folder any more");
            }
        }
    }
    if (why)
        end_all(a, g, from, n, CLAW_COPY_FAILED, why);
    g_ptr_array_free(args, TRUE);
    g_hash_table_destroy(there);
    g_free(why);
    g_free(err);
    g_free(ids);
}

static void
act_user(gpointer data, gpointer ctx)
{
    act_user_t *u = data;
    const act_t *a = ctx;
    for (guint k = 0; k < u->groups->len; k++) {
        const group_t *g = u->groups->pdata[k];
        for (guint from = 0; from < g->at->len; from += IDS_PER_CALL)
            act_chunk(a, u->user, g, from, MIN(IDS_PER_CALL, g->at->len - from));
    }
}

static void
group_free(gpointer data)
{
    group_t *g = data;
    g_free(g->src);
    g_free(g->dst);
    g_array_free(g->at, TRUE);
    g_free(g);
}

static void
act_user_free(gpointer data)
{
    act_user_t *u = data;
    g_free(u->user);
    g_ptr_array_free(u->groups, TRUE);
    g_free(u);
}

/* The group of @u going from @src to @dst (NULL: expunged), made if new. */
static group_t *
group_of(act_user_t *u, const char *src, const char *dst)
{
    for (guint k = 0; k < u->groups->len; k++) {
        group_t *g = u->groups->pdata[k];
        if (!strcmp(g->src, src) && !g_strcmp0(g->dst, dst))
            return g;
    }
    group_t *g = g_new0(group_t, 1);
    g->src = g_strdup(src);
    g->dst = g_strdup(dst);
    g->at = g_array_new(FALSE, FALSE, sizeof(size_t));
    g_ptr_array_add(u->groups, g);
    return g;
}

void
claw_dovecot_act(void *ctx, claw_plan_action_t action, const claw_copy_t *copies, size_t n,
                 claw_copy_status_t *status, char **detail)
{
    claw_dovecot_target_t *t = ctx;
    GHashTable *users = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, act_user_free);
    for (size_t i = 0; i < n; i++) {
        const claw_copy_t *c = &copies[i];
        status[i] = CLAW_COPY_FAILED;
        detail[i] = NULL;
        char *user = claw_dovecot_user_of(t, c->recipient);
        if (!user) {
            status[i] = CLAW_COPY_GONE;
            detail[i] = g_strdup("no Dovecot user for this recipient");
            continue;
        }
        act_user_t *u = g_hash_table_lookup(users, user);
        if (!u) {
            u = g_new0(act_user_t, 1);
            u->user = user;
            u->groups = g_ptr_array_new_with_free_func(group_free);
            g_hash_table_insert(users, u->user, u);
        } else {
            g_free(user);
        }
        char *held = g_strdup_printf("%s/%s", t->quarantine, c->where);
        group_t *g = action == CLAW_PLAN_DELETE    ? group_of(u, c->where, NULL)
                     : action == CLAW_PLAN_RESTORE ? group_of(u, held, c->where)
                                                   : group_of(u, c->where, held);
        g_free(held);
        g_array_append_val(g->at, i);
    }
    act_t a = {t, action, copies, status, detail};
    each_user(users, act_user, &a);
    g_hash_table_destroy(users);
}
