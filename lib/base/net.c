/* net.c - networks (CIDR) and listening addresses: the one parser of each;
 * and the one maker of a listening Unix socket (clawd's, claw serve's).
 *
 * Libc only: also compiled into claw_exim.so with config.c.
 */
#include "build-config.h"

#include "claw-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A prefix length or a port: 1 to 5 digits, no sign or space, at most @max. */
static bool
parse_digits(const char *text, unsigned max, unsigned *out)
{
    unsigned n = 0;
    if (!*text || strlen(text) > 5)
        return false;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        n = n * 10 + (unsigned)(*p - '0');
    }
    if (n > max)
        return false;
    *out = n;
    return true;
}

claw_status_t
claw_cidr_parse(const char *text, claw_cidr_t *cidr)
{
    char buf[INET6_ADDRSTRLEN + 8];
    claw_cidr_t c = {0};
    if (!text || !cidr || strlen(text) >= sizeof buf)
        return CLAW_STATUS_INVALID_ARGUMENT;
    strcpy(buf, text);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (inet_pton(AF_INET, buf, c.addr) == 1) {
        c.family = AF_INET;
        c.bits = 32;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        c.family = AF_INET6;
        c.bits = 128;
    } else {
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    if (slash && !parse_digits(slash + 1, c.bits, &c.bits))
        return CLAW_STATUS_INVALID_ARGUMENT;
    *cidr = c;
    return CLAW_STATUS_SUCCESS;
}

int
claw_cidr_contains(const claw_cidr_t *cidr, int family, const unsigned char *addr)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!cidr || !addr)
        return 0;
    /* A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d. */
    if (family == AF_INET6 && cidr->family == AF_INET && memcmp(addr, mapped, 12) == 0) {
        family = AF_INET;
        addr += 12;
    }
    if (family != cidr->family)
        return 0;
    unsigned full = cidr->bits / 8, rest = cidr->bits % 8;
    if (memcmp(addr, cidr->addr, full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xFF << (8 - rest));
        if ((addr[full] & mask) != (cidr->addr[full] & mask))
            return 0;
    }
    return 1;
}

int
claw_cidr_contains_text(const claw_cidr_t *cidr, const char *address)
{
    unsigned char a[16];
    if (!address)
        return 0;
    int family = strchr(address, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, address, a) != 1)
        return 0;
    return claw_cidr_contains(cidr, family, a);
}

claw_status_t
claw_endpoint_parse(const char *text, struct sockaddr_storage *sa, size_t *len)
{
    char host[INET6_ADDRSTRLEN];
    const char *port;
    if (!text || !sa || !len)
        return CLAW_STATUS_INVALID_ARGUMENT;
    if (text[0] == '[') {
        const char *e = strchr(text, ']');
        if (!e || e[1] != ':' || (size_t)(e - text - 1) >= sizeof host)
            return CLAW_STATUS_INVALID_ARGUMENT;
        memcpy(host, text + 1, (size_t)(e - text - 1));
        host[e - text - 1] = '\0';
        port = e + 2;
    } else {
        const char *c = strrchr(text, ':');
        if (!c || (size_t)(c - text) >= sizeof host)
            return CLAW_STATUS_INVALID_ARGUMENT;
        memcpy(host, text, (size_t)(c - text));
        host[c - text] = '\0';
        port = c + 1;
    }
    unsigned p;
    if (!parse_digits(port, 65535, &p))
        return CLAW_STATUS_INVALID_ARGUMENT;
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (text[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        /* Bracketed as RFC 3986 writes it, or bare ("::1:2424"), as clawd
         * has always taken it: the port is after the last colon. */
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof *v6;
    } else {
        return CLAW_STATUS_INVALID_ARGUMENT;
    }
    return CLAW_STATUS_SUCCESS;
}

/* @path's directory and those above it, as mkdir -p (0755). */
static int
make_parents(const char *path)
{
    char dir[sizeof ((struct sockaddr_un *)0)->sun_path];
    size_t n = strlen(path);
    if (n >= sizeof dir)
        return -1;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(dir, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int
claw_listen_unix(const char *path, unsigned mode, const char *group, claw_listen_result_t *result,
                 struct stat *made)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    *result = CLAW_LISTEN_ERROR;
    if (!path || strlen(path) >= sizeof sa.sun_path) {
        *result = CLAW_LISTEN_TOO_LONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    gid_t gid = (gid_t)-1;
    if (group && *group) {
        struct group *gr = getgrnam(group);
        if (!gr) {
            *result = CLAW_LISTEN_NO_GROUP;
            return -1;
        }
        gid = gr->gr_gid;
    }
    /* Only a socket is ever removed at @path, and only one nobody listens
     * on (left by a process that died): anything else there -- a file, a
     * directory, an archive's data.mdb given by mistake -- is refused. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *result = CLAW_LISTEN_NOT_SOCKET;
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0) {
            int live = connect(probe, (const struct sockaddr *)&sa, sizeof sa) == 0;
            close(probe);
            if (live) {
                *result = CLAW_LISTEN_IN_USE;
                return -1;
            }
        }
        if (unlink(path) != 0 && errno != ENOENT)
            return -1;
    } else if (errno != ENOENT) {
        return -1;
    }
    /* $(runstatedir) need not exist on a source install. */
    if (make_parents(path) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Born with its mode: no moment in which others may connect. */
    mode_t old = umask(0777 & ~(mode_t)mode);
    int rc = bind(fd, (const struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0) ||
        chmod(path, (mode_t)mode) != 0 || listen(fd, 128) != 0 || lstat(path, made) != 0) {
        int e = errno;
        if (rc == 0)
            unlink(path);
        close(fd);
        errno = e;
        return -1;
    }
    *result = CLAW_LISTEN_OK;
    return fd;
}

void
claw_unlink_socket(const char *path, const struct stat *made)
{
    struct stat st;
    /* Only the socket made: not one a newer process has put there since,
     * nor whatever replaced it. */
    if (path && made && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == made->st_dev && st.st_ino == made->st_ino)
        unlink(path);
}
