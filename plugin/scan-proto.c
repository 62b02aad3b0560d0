/* scan-proto.c - see scan-proto.h. */
#include "build-config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "scan-proto.h"

bool
proto_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int64_t
proto_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
proto_wait(int fd, short events, int64_t end)
{
    for (;;) {
        int64_t left = end - proto_now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(left < 1000 ? left : 1000));
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

bool
proto_read(int fd, void *buf, size_t len, int64_t end)
{
    char *p = buf;
    while (len) {
        if (end >= 0 && !proto_wait(fd, POLLIN, end))
            return false;
        ssize_t n = read(fd, p, len);
        /* EAGAIN without a deadline is SO_RCVTIMEO expiring: give up. */
        if (n < 0 && (errno == EINTR || (errno == EAGAIN && end >= 0)))
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool
proto_write(int fd, const void *buf, size_t len, int64_t end)
{
    const char *p = buf;
    while (len) {
        if (end >= 0 && !proto_wait(fd, POLLOUT, end))
            return false;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool
proto_send_with_fd(int sock, const void *buf, size_t len, int fd, int64_t end)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do {
        if (!proto_wait(sock, POLLOUT, end))
            return false;
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    } while (n < 0 && (errno == EINTR || errno == EAGAIN));
    if (n != 1)
        return false;
    return proto_write(sock, (const char *)buf + 1, len - 1, end);
}

bool
proto_recv_with_fd(int sock, uint32_t *len, int *fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = len, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    ssize_t got;
    do
        got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    if (got != 1)
        return false;
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    /* The other three bytes of the length. */
    return proto_read(sock, (char *)len + 1, sizeof *len - 1, -1);
}
