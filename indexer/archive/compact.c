/* compact.c - the store written afresh without its free pages (claw
 * compact). LMDB never writes a page in place: a page a transaction
 * changes is copied, and the old one joins the free list until a later
 * transaction reuses it. So the bytes of an erased message (takeback.c
 * zeroes them in the live pages) can stay in data.mdb, in a free page,
 * for as long as nothing reuses it. A compacting copy (LMDB's own
 * mdb_env_copy2 with MDB_CP_COMPACT) writes the live pages alone; it then
 * replaces data.mdb, and the old file's blocks go back to the file system.
 *
 * Only with the store open nowhere else: every process that opens it
 * holds a read lock on lock.mdb's first byte (LMDB's liveness lock), so a
 * write lock on it taken first says we are alone, and keeps a process
 * that comes meanwhile waiting in its open until we are done (our own
 * environment is opened without LMDB's locks, which would turn ours into
 * a read lock).
 */
#include "build-config.h"

#include "archive-private.h"

#include <fcntl.h>
#include <unistd.h>

static uint64_t
file_bytes(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static int
sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

claw_status_t
claw_archive_compact(const char *dir, uint64_t *before, uint64_t *after, char **error)
{
    *before = *after = 0;
    *error = NULL;
    char *store = g_build_filename(dir, "store", NULL);
    char *data = g_build_filename(store, "data.mdb", NULL);
    char *lock = g_build_filename(store, "lock.mdb", NULL);
    char *tmp = g_build_filename(store, "compact", NULL);
    char *tmp_data = g_build_filename(tmp, "data.mdb", NULL);
    claw_status_t st = CLAW_STATUS_SUCCESS;
    MDB_env *env = NULL;
    int fd = open(lock, O_RDWR | O_CLOEXEC);
    struct flock alone = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    if (fd < 0 || access(data, F_OK) != 0) {
        *error = g_strdup_printf("%s: no store here", store);
        st = CLAW_STATUS_NOT_FOUND;
        goto out;
    }
    if (fcntl(fd, F_SETLK, &alone) != 0) {
        *error = g_strdup_printf("%s is open in another process (clawd, or another claw): "
                                 "stop it first", store);
        st = CLAW_STATUS_IO_ERROR;
        goto out;
    }
    *before = file_bytes(data);
    int rc;
    g_mkdir_with_parents(tmp, 0700);
    unlink(tmp_data);
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, N_DBS + 2)) ||
        (rc = mdb_env_open(env, store, MDB_NOLOCK | MDB_RDONLY, 0640)) ||
        (rc = mdb_env_copy2(env, tmp, MDB_CP_COMPACT))) {
        *error = g_strdup_printf("%s: compacting copy: %s", store, mdb_strerror(rc));
        st = CLAW_STATUS_IO_ERROR;
        unlink(tmp_data);
        goto out;
    }
    mdb_env_close(env);
    env = NULL;
    /* The copy durable, then in the old one's place, then the rename. */
    if (sync_path(tmp_data, O_RDONLY) != 0 || rename(tmp_data, data) != 0 ||
        sync_path(store, O_RDONLY | O_DIRECTORY) != 0) {
        *error = g_strdup_printf("%s: replacing data.mdb: %s", store, g_strerror(errno));
        st = CLAW_STATUS_IO_ERROR;
        unlink(tmp_data);
        goto out;
    }
    *after = file_bytes(data);
out:
    if (env)
        mdb_env_close(env);
    rmdir(tmp);
    if (fd >= 0)
        close(fd); /* and the lock with it */
    g_free(store);
    g_free(data);
    g_free(lock);
    g_free(tmp);
    g_free(tmp_data);
    return st;
}
