/* scan-proto.c - see scan-proto.h. */
#include "build-config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
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
        /* Try first: a socket with room in its buffer needs no poll. */
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | (end >= 0 ? MSG_DONTWAIT : 0));
        if (n < 0 && errno == EINTR)
            continue;
        /* Without a deadline the send blocks: EAGAIN is then a send timeout. */
        if (n < 0 && errno == EAGAIN && (end < 0 || proto_wait(fd, POLLOUT, end)))
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
    /* All of it in one call, so the scanner normally wakes once, with the
     * whole request there; the descriptor rides on its first bytes. */
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    for (;;) {
        n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0 || (errno != EINTR && errno != EAGAIN))
            break;
        if (errno == EAGAIN && !proto_wait(sock, POLLOUT, end))
            return false;
    }
    if (n <= 0)
        return false;
    return proto_write(sock, (const char *)buf + n, len - (size_t)n, end);
}

char *
proto_recv_request(int sock, size_t max, size_t *len, int *fd)
{
    char head[16 * 1024];
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = head, .iov_len = sizeof head};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    ssize_t got;
    do
        got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    *fd = -1;
    if (got <= 0)
        return NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    uint32_t n;
    if (got < (ssize_t)sizeof n) {
        if (!proto_read(sock, head + got, sizeof n - (size_t)got, -1))
            goto fail;
        got = sizeof n;
    }
    memcpy(&n, head, sizeof n);
    /* One request per connection: nothing may follow it. */
    size_t have = (size_t)got - sizeof n;
    char *req = *fd >= 0 && n <= max && have <= n ? malloc((size_t)n + 1) : NULL;
    if (!req)
        goto fail;
    memcpy(req, head + sizeof n, have);
    if (!proto_read(sock, req + have, n - have, -1)) {
        free(req);
        goto fail;
    }
    req[n] = '\0';
    *len = n;
    return req;
fail:
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return NULL;
}
