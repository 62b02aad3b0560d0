/* fault-write.c - an LD_PRELOAD shim for tests/archive/index-faults.sh: writes to
 * files under a directory fail as a full or failing disk makes them fail,
 * with no test code in the programs themselves.
 *
 *   CLAW_FAULT_UNDER=DIR   only files whose path starts with DIR (required)
 *   CLAW_FAULT_NAME=NAME   ...and, if set, whose name (last component) is NAME
 *   CLAW_FAULT_AT=N        the Nth write there (write, pwrite,
 *                          writev, fsync, fdatasync; counted from 1) fails,
 *   CLAW_FAULT_COUNT=M     ...and the M - 1 after it (default 1)
 *   CLAW_FAULT_ERRNO=EIO   how (EIO or ENOSPC, the default). ENOSPC only
 *                          fails a write that needs new space (past the end
 *                          of the file), as a full disk does: N counts those
 *   CLAW_FAULT_FULL=FILE   while FILE exists, every write there that needs
 *                          new space fails with ENOSPC; one of more than a
 *                          page first writes one page, as a filling disk does
 *   CLAW_FAULT_TALLY=FILE  at exit, write "WRITES EXTENDING" to FILE: how
 *                          many writes there were, and how many needed new
 *                          space (what CLAW_FAULT_AT counts with EIO, ENOSPC)
 *
 * Built by the test: cc -shared -fPIC -o fault.so fault-write.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096

/* Counted under the directory: every write, and those that need space. */
static long writes, extending;

/* Is @fd a file under CLAW_FAULT_UNDER? */
static int
watched(int fd)
{
    const char *under = getenv("CLAW_FAULT_UNDER");
    if (!under || !*under)
        return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    if (strncmp(path, under, strlen(under)) != 0)
        return 0;
    const char *name = getenv("CLAW_FAULT_NAME"), *last = strrchr(path, '/');
    return !name || !*name || strcmp(last ? last + 1 : path, name) == 0;
}

static int
disk_full(void)
{
    const char *flag = getenv("CLAW_FAULT_FULL");
    struct stat st;
    return flag && *flag && stat(flag, &st) == 0;
}

/* Does writing @count bytes at @off (-1: the file offset) need new space?
 * Only such a write fails on a full disk: one over data already there
 * (LMDB's meta pages, say) finds its blocks allocated. */
static int
extends(int fd, off_t off, size_t count)
{
    struct stat st;
    if (off < 0)
        off = lseek(fd, 0, SEEK_CUR);
    return count && off >= 0 && fstat(fd, &st) == 0 && off + (off_t)count > st.st_size;
}

static int
wanted_errno(void)
{
    const char *e = getenv("CLAW_FAULT_ERRNO");
    return e && !strcmp(e, "EIO") ? EIO : ENOSPC;
}

/* 0: go ahead; else the errno this write (@count bytes at @off; a sync
 * when @count is 0) fails with. */
static int
fault(int fd, off_t off, size_t count)
{
    if (!watched(fd))
        return 0;
    int e = wanted_errno(), grows = extends(fd, off, count);
    long n_all = __atomic_add_fetch(&writes, 1, __ATOMIC_SEQ_CST);
    long n_grow = grows ? __atomic_add_fetch(&extending, 1, __ATOMIC_SEQ_CST) : 0;
    if (disk_full())
        return grows ? ENOSPC : 0;
    if (e == ENOSPC && !grows)
        return 0; /* the Nth write that needs space fails */
    long n = e == ENOSPC ? n_grow : n_all;
    const char *at = getenv("CLAW_FAULT_AT"), *count_s = getenv("CLAW_FAULT_COUNT");
    long first = at ? atol(at) : 0, m = count_s ? atol(count_s) : 1;
    if (first <= 0 || n < first || n >= first + m)
        return 0;
    return e;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t
write(int fd, const void *buf, size_t count)
{
    int e = fault(fd, -1, count);
    if (e == ENOSPC && disk_full() && count > PAGE)
        return REAL(write)(fd, buf, PAGE);
    if (e) {
        errno = e;
        return -1;
    }
    return REAL(write)(fd, buf, count);
}

ssize_t
pwrite(int fd, const void *buf, size_t count, off_t off)
{
    int e = fault(fd, off, count);
    if (e == ENOSPC && disk_full() && count > PAGE)
        return REAL(pwrite)(fd, buf, PAGE, off);
    if (e) {
        errno = e;
        return -1;
    }
    return REAL(pwrite)(fd, buf, count, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t count, off_t off)
{
    return pwrite(fd, buf, count, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
    size_t count = 0;
    for (int i = 0; i < n; i++)
        count += iov[i].iov_len;
    int e = fault(fd, -1, count);
    if (e) {
        errno = e;
        return -1;
    }
    return REAL(writev)(fd, iov, n);
}

int
fsync(int fd)
{
    int e = fault(fd, 0, 0);
    if (e) { /* a full disk fails the writes, not the sync */
        errno = e;
        return -1;
    }
    return REAL(fsync)(fd);
}

int
fdatasync(int fd)
{
    int e = fault(fd, 0, 0);
    if (e) {
        errno = e;
        return -1;
    }
    return REAL(fdatasync)(fd);
}

__attribute__((destructor)) static void
tally(void)
{
    const char *path = getenv("CLAW_FAULT_TALLY");
    FILE *f = path && *path ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "%ld %ld\n", writes, extending);
        fclose(f);
    }
}
