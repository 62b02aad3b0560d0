/* query-client.c - asking claw's query service (query-wire.h). libc only:
 * it is linked into the dispatcher, which must stay small. */
#include "build-config.h"

#include "query-wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

const char *
claw_query_socket(void)
{
    const char *env = getenv("CLAW_QUERY_SOCKET");
    return env && *env ? env : CLAW_QUERY_SOCKET_DEFAULT;
}

bool
claw_query_served(const char *command)
{
    return strcmp(command, "search") == 0 || strcmp(command, "show") == 0;
}

/* Connect to @path; -1 with errno when nothing answers there. */
static int
dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Send the request: the magic and the arguments, with our standard output
 * and error attached to its first byte. */
static bool
send_request(int fd, int argc, char **argv)
{
    size_t len = sizeof CLAW_QUERY_MAGIC - 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    if (argc > CLAW_QUERY_MAX_ARGS || len > CLAW_QUERY_MAX_REQUEST) {
        errno = E2BIG;
        return false;
    }
    char *buf = malloc(len), *p = buf;
    if (!buf)
        return false;
    memcpy(p, CLAW_QUERY_MAGIC, sizeof CLAW_QUERY_MAGIC - 1);
    p += sizeof CLAW_QUERY_MAGIC - 1;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]) + 1;
        memcpy(p, argv[i], n);
        p += n;
    }

    int fds[2] = {STDOUT_FILENO, STDERR_FILENO};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof fds)];
    } control = {0};
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof control.bytes};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);

    bool ok = false;
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n > 0) {
        /* The descriptors went with the first byte; the rest, plainly. */
        size_t done = (size_t)n;
        while (done < len) {
            n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        ok = done == len && shutdown(fd, SHUT_WR) == 0;
    }
    free(buf);
    return ok;
}

/* The service's answer, "status N\n"; -1 if it closed without one. */
static int
read_status(int fd)
{
    char buf[32];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        if (have == sizeof buf - 1)
            break;
    }
    buf[have] = '\0';
    int status;
    char nl;
    if (sscanf(buf, "status %d%c", &status, &nl) == 2 && nl == '\n' && status >= 0 &&
        status < 256)
        return status;
    return -1;
}

int
claw_query_remote(const char *prog, const char *socket_path, int argc, char **argv)
{
    int fd = dial(socket_path);
    if (fd < 0)
        return -1;
    int status;
    if (!send_request(fd, argc, argv)) {
        fprintf(stderr, "%s: the query service at %s did not take the request: %s\n", prog,
                socket_path, strerror(errno));
        status = errno == E2BIG ? EX_USAGE : EX_UNAVAILABLE;
    } else if ((status = read_status(fd)) < 0) {
        fprintf(stderr, "%s: the query service at %s ended without an answer (see its log)\n",
                prog, socket_path);
        status = EX_UNAVAILABLE;
    }
    close(fd);
    return status;
}
