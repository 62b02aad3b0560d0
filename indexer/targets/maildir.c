/* maildir.c - delivered copies in Maildirs (claw-targets.h).
 *
 * A Maildir file's name is its unique part, then ":2," and its flags; the
 * user's mail program renames it as flags change, and moves it from new/
 * to cur/ once seen. A plan remembers the path it saw; a run finds the
 * file again by its unique part in the same folder's cur/ and new/.
 *
 * Quarantined, a file goes to QDIR/plan-P/copy-N/{cur,new}/NAME: out of
 * every mail program's view, under its own name (its flags) and in the
 * subdirectory it was in, with its times (rename keeps them). Restored,
 * it goes back to that folder and subdirectory. A run cut short between
 * the move and its journal entry finds the file already where it was
 * going, and calls the copy done. Deleted, it leaves a mark in that
 * directory instead (erased_before()).
 */
#include "build-config.h"

#include "claw-targets.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct claw_maildir_target {
    char *path_template;
    char *qdir;
    GHashTable *seen; /* Maildir root -> (X-Clawback-Id -> GPtrArray of paths) */
};

/* Header bytes read from each file: the X-Clawback-Id the MTA adds is
 * near the top, but a message may carry a long header block. */
#define HEADER_READ (64 * 1024)

claw_maildir_target_t *
claw_maildir_target_new(const char *path_template, const char *quarantine_dir, char **error)
{
    *error = NULL;
    if (!path_template || !strchr(path_template, '%') || path_template[0] != '/') {
        *error = g_strdup_printf("[purge] maildir '%s': an absolute path with %%u, %%d or %%a "
                                 "(whose Maildir it is)", path_template ? path_template : "");
        return NULL;
    }
    if (!quarantine_dir || quarantine_dir[0] != '/') {
        *error = g_strdup_printf("[purge] quarantine_dir '%s': an absolute path",
                                 quarantine_dir ? quarantine_dir : "");
        return NULL;
    }
    claw_maildir_target_t *t = g_new0(claw_maildir_target_t, 1);
    t->path_template = g_strdup(path_template);
    t->qdir = g_strdup(quarantine_dir);
    t->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                    (GDestroyNotify)g_hash_table_destroy);
    return t;
}

void
claw_maildir_target_free(claw_maildir_target_t *t)
{
    if (!t)
        return;
    g_hash_table_destroy(t->seen);
    g_free(t->path_template);
    g_free(t->qdir);
    g_free(t);
}

/* A part of an address that can be a path's component. */
static bool
safe_part(const char *s, size_t n)
{
    return s[0] != '.' && !memchr(s, '/', n);
}

char *
claw_maildir_of(const claw_maildir_target_t *t, const char *rcpt)
{
    return claw_recipient_expand(t->path_template, rcpt, safe_part);
}

/* The X-Clawback-Id of the message in @path, or NULL. */
static char *
file_id(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    char *buf = g_malloc(HEADER_READ);
    ssize_t n = read(fd, buf, HEADER_READ);
    close(fd);
    char *id = n > 0 ? claw_raw_header(buf, (size_t)n, "X-Clawback-Id") : NULL;
    g_free(buf);
    return id;
}

static void
scan_dir(GHashTable *ids, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *path = g_build_filename(dir, e->d_name, NULL);
        char *id = file_id(path);
        if (id) {
            GPtrArray *paths = g_hash_table_lookup(ids, id);
            if (!paths) {
                paths = g_ptr_array_new_with_free_func(g_free);
                g_hash_table_insert(ids, g_strdup(id), paths);
            }
            g_ptr_array_add(paths, path);
            path = NULL;
        }
        g_free(id);
        g_free(path);
    }
    closedir(d);
}

/* Every file of the Maildir at @root (its folders: root itself and each
 * .Folder in it), by X-Clawback-Id. */
static GHashTable *
scan_maildir(const char *root)
{
    GHashTable *ids =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
    GPtrArray *folders = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(folders, g_strdup(root));
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            g_ptr_array_add(folders, g_build_filename(root, e->d_name, NULL));
    if (d)
        closedir(d);
    for (guint i = 0; i < folders->len; i++)
        for (const char *const *sub = (const char *const[]){"cur", "new", NULL}; *sub; sub++) {
            char *dir = g_build_filename(folders->pdata[i], *sub, NULL);
            scan_dir(ids, dir);
            g_free(dir);
        }
    g_ptr_array_free(folders, TRUE);
    return ids;
}

void
claw_maildir_find(claw_maildir_target_t *t, const char *rcpt, const char *id,
                  void (*fn)(void *ctx, const char *path), void *ctx)
{
    char *root = claw_maildir_of(t, rcpt);
    struct stat sb;
    if (!root || stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        g_free(root);
        return;
    }
    GHashTable *ids = g_hash_table_lookup(t->seen, root);
    if (!ids) {
        ids = scan_maildir(root);
        g_hash_table_insert(t->seen, g_strdup(root), ids);
    }
    GPtrArray *paths = g_hash_table_lookup(ids, id);
    for (guint i = 0; paths && i < paths->len; i++)
        fn(ctx, paths->pdata[i]);
    g_free(root);
}

/* ------------------------------------------------------------------------
 * Acting
 * --------------------------------------------------------------------- */

/* The unique part of a Maildir file name (before ":2,"). */
static char *
unique_of(const char *name)
{
    const char *colon = strchr(name, ':');
    return g_strndup(name, colon ? (size_t)(colon - name) : strlen(name));
}

/* The file of unique part @unique in @folder's cur/ or new/ now (g_free),
 * or NULL. */
static char *
find_now(const char *folder, const char *unique)
{
    size_t n = strlen(unique);
    for (const char *const *sub = (const char *const[]){"cur", "new", NULL}; *sub; sub++) {
        char *dir = g_build_filename(folder, *sub, NULL);
        DIR *d = opendir(dir);
        struct dirent *e;
        char *found = NULL;
        while (d && !found && (e = readdir(d)))
            if (!strncmp(e->d_name, unique, n) && (e->d_name[n] == ':' || !e->d_name[n]))
                found = g_build_filename(dir, e->d_name, NULL);
        if (d)
            closedir(d);
        g_free(dir);
        if (found)
            return found;
    }
    return NULL;
}

static int
sync_dir(const char *path)
{
    char *dir = g_path_get_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    g_free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Copy @src to @dst (through a temporary name, synced, times kept): a
 * move across file systems. */
static int
copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return -1;
    struct stat sb;
    char *tmp = g_strconcat(dst, ".claw-tmp", NULL);
    int out = fstat(in, &sb) == 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                                         sb.st_mode & 0777)
                                  : -1;
    int rc = out < 0 ? -1 : 0;
    char buf[65536];
    ssize_t n;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = -1;
    }
    struct timespec times[2] = {sb.st_atim, sb.st_mtim};
    if (rc == 0 && (futimens(out, times) != 0 || fsync(out) != 0))
        rc = -1;
    if (out >= 0 && close(out) != 0)
        rc = -1;
    close(in);
    if (rc == 0)
        rc = rename(tmp, dst);
    if (rc != 0)
        unlink(tmp);
    g_free(tmp);
    return rc;
}

/* Move @src to @dst, making @dst's directory; both directories synced. */
static int
move_file(const char *src, const char *dst)
{
    char *dir = g_path_get_dirname(dst);
    int rc = g_mkdir_with_parents(dir, 0700);
    g_free(dir);
    if (rc != 0)
        return -1;
    if (rename(src, dst) != 0) {
        if (errno != EXDEV || copy_file(src, dst) != 0 || unlink(src) != 0)
            return -1;
    }
    if (sync_dir(dst) != 0 || sync_dir(src) != 0)
        return -1;
    return 0;
}

/* The file in quarantine directory @qbase (in cur/ or new/), or NULL. */
static char *
in_quarantine(const char *qbase)
{
    char *f = NULL;
    for (const char *const *sub = (const char *const[]){"cur", "new", NULL}; *sub && !f; sub++) {
        char *dir = g_build_filename(qbase, *sub, NULL);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && !f && (e = readdir(d)))
            if (e->d_name[0] != '.' && !g_str_has_suffix(e->d_name, ".claw-tmp"))
                f = g_build_filename(dir, e->d_name, NULL);
        if (d)
            closedir(d);
        g_free(dir);
    }
    return f;
}

/* Deleting leaves a mark, QBASE/erased (the path the file had), written
 * before the file goes: a run cut short after the unlink finds the mark
 * and knows the copy is done, not gone before it came (and one cut short
 * before it finds the file still there, and removes it). */
static bool
erased_before(const char *qbase)
{
    char *mark = g_build_filename(qbase, "erased", NULL);
    bool yes = access(mark, F_OK) == 0;
    g_free(mark);
    return yes;
}

static int
erase_file(const char *path, const char *qbase)
{
    char *mark = g_build_filename(qbase, "erased", NULL);
    char *tmp = g_strconcat(mark, ".claw-tmp", NULL);
    int rc = g_mkdir_with_parents(qbase, 0700);
    if (rc == 0)
        rc = g_file_set_contents(tmp, path, -1, NULL) ? 0 : -1;
    int fd = rc == 0 ? open(tmp, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0 || fsync(fd) != 0 || rename(tmp, mark) != 0 || sync_dir(mark) != 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && (unlink(path) != 0 || sync_dir(path) != 0))
        rc = -1;
    g_free(tmp);
    g_free(mark);
    return rc;
}

static claw_copy_status_t
failed(char **detail, const char *what, const char *path)
{
    *detail = g_strdup_printf("%s %s: %s", what, path, g_strerror(errno));
    return CLAW_COPY_FAILED;
}

claw_copy_status_t
claw_maildir_act(void *ctx, claw_plan_action_t action, const claw_copy_t *copy, char **detail)
{
    claw_maildir_target_t *t = ctx;
    const char *from = copy->from;
    *detail = NULL;
    char *sub_dir = g_path_get_dirname(copy->where); /* FOLDER/cur */
    char *folder = g_path_get_dirname(sub_dir);
    char *name = g_path_get_basename(copy->where);
    char *unique = unique_of(name);
    char *qbase = g_strdup_printf("%s/plan-%" PRIu64 "/copy-%u", t->qdir, copy->plan, copy->n);
    char *now = NULL, *q = NULL;
    claw_copy_status_t st = CLAW_COPY_DONE;
    if (action == CLAW_PLAN_RESTORE) {
        /* Back from where the quarantine put it: FOLDER/{cur,new}/NAME. */
        char *qname = g_path_get_basename(from ? from : "");
        char *qsub = g_path_get_dirname(from ? from : "");
        char *sub = g_path_get_basename(qsub);
        char *back = g_build_filename(folder, strcmp(sub, "new") ? "cur" : "new", qname, NULL);
        char *qunique = unique_of(qname);
        if (from && *from && access(from, F_OK) == 0) {
            if (move_file(from, back) != 0)
                st = failed(detail, "cannot move back", from);
            else
                *detail = g_strdup(back);
        } else if ((now = find_now(folder, qunique))) {
            *detail = g_strdup(now); /* moved back before a crash */
        } else {
            st = CLAW_COPY_GONE;
            *detail = g_strdup("the quarantined file is gone");
        }
        g_free(qunique);
        g_free(back);
        g_free(sub);
        g_free(qsub);
        g_free(qname);
    } else if ((now = find_now(folder, unique))) {
        if (action == CLAW_PLAN_DELETE) {
            if (erase_file(now, qbase) != 0)
                st = failed(detail, "cannot remove", now);
            else
                *detail = g_strdup("erased");
        } else {
            char *now_dir = g_path_get_dirname(now);
            char *sub = g_path_get_basename(now_dir);
            char *base = g_path_get_basename(now);
            q = g_build_filename(qbase, sub, base, NULL);
            if (move_file(now, q) != 0)
                st = failed(detail, "cannot move", now);
            else
                *detail = g_strdup(q);
            g_free(now_dir);
            g_free(sub);
            g_free(base);
        }
    } else if (action == CLAW_PLAN_QUARANTINE && (q = in_quarantine(qbase))) {
        *detail = g_strdup(q); /* moved before a crash */
    } else if (action == CLAW_PLAN_DELETE && erased_before(qbase)) {
        *detail = g_strdup("erased"); /* before a crash */
    } else {
        st = CLAW_COPY_GONE;
        *detail = g_strdup("not in the Maildir any more");
    }
    g_free(now);
    g_free(q);
    g_free(qbase);
    g_free(unique);
    g_free(name);
    g_free(folder);
    g_free(sub_dir);
    return st;
}
