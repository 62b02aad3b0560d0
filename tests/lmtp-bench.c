/* lmtp-bench - the benchmark's LMTP sender (RFC 2033), in C.
 *
 *   lmtp-bench --socket PATH [--connections N] [--rcpt ADDR] LIST
 *
 * Sends every file named in LIST (one path per line) to the LMTP server on
 * the Unix socket PATH over N parallel sessions (default 8), as an MTA's
 * lmtp transport does: MAIL, RCPT and DATA pipelined (the server offers
 * PIPELINING), the message with CRLF line ends and dot-stuffed, then one
 * reply per recipient. tests/lmtp-send.py does the same for the tests; on
 * two cores its interpreter took a sixth of the machine from the server
 * it was measuring, this takes a fiftieth.
 *
 * Prints one JSON line: {"sent": N, "replies": {"250": n, ...}, "seconds": s}.
 * Exit 0 when every message got 250, 1 otherwise, 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path, *rcpt = "archive@test.example";
static char **files;
static size_t n_files;
static atomic_size_t next_file;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long replies[1000]; /* by reply code; 0: no reply */

typedef struct {
    int fd;
    char in[4096];
    size_t have, used;
    char *out; /* the commands, then the message */
    size_t cap, cmds; /* the commands' length */
} session_t;

static int
write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The code of the next whole reply (its last line), 0 if the line is not
 * one, -1 when the connection is gone. */
static int
read_reply(session_t *s)
{
    for (;;) {
        char *nl = memchr(s->in + s->used, '\n', s->have - s->used);
        if (nl) {
            char *line = s->in + s->used;
            size_t len = (size_t)(nl - line);
            s->used += len + 1;
            if (len >= 4 && line[3] == '-')
                continue;
            if (len < 3 || line[0] < '0' || line[0] > '9')
                return 0;
            return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        }
        if (s->used) {
            memmove(s->in, s->in + s->used, s->have - s->used);
            s->have -= s->used;
            s->used = 0;
        }
        if (s->have == sizeof s->in)
            s->have = 0; /* an overlong line: its start is dropped */
        ssize_t r = read(s->fd, s->in + s->have, sizeof s->in - s->have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        s->have += (size_t)r;
    }
}

static int
session_open(session_t *s)
{
    memset(s, 0, sizeof *s);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock_path) >= sizeof sa.sun_path)
        return -1;
    strcpy(sa.sun_path, sock_path);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    if (read_reply(s) != 220)
        return -1;
    static const char lhlo[] = "LHLO bench.example\r\n";
    if (write_all(s->fd, lhlo, sizeof lhlo - 1) != 0 || read_reply(s) != 250)
        return -1;
    return 0;
}

/* The pipelined commands, then the file's content with CRLF line ends,
 * dot-stuffed, ended by ".\r\n"; the whole length, or 0 if the file cannot
 * be read. */
static size_t
build(session_t *s, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    size_t n = (size_t)st.st_size;
    char *raw = malloc(n ? n : 1);
    size_t got = 0;
    while (raw && got < n) {
        ssize_t r = read(fd, raw + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!raw)
        return 0;
    size_t need = 3 * got + 512; /* each byte at worst ".\r\n"-expanded */
    if (need > s->cap) {
        free(s->out);
        s->cap = need;
        s->out = malloc(need);
        if (!s->out) {
            s->cap = 0;
            free(raw);
            return 0;
        }
    }
    char *o = s->out;
    o += sprintf(o, "MAIL FROM:<sender@test.example>\r\nRCPT TO:<%s>\r\nDATA\r\n", rcpt);
    s->cmds = (size_t)(o - s->out);
    int bol = 1;
    for (size_t i = 0; i < got; i++) {
        char c = raw[i];
        if (bol && c == '.')
            *o++ = '.';
        if (c == '\n') {
            if (i == 0 || raw[i - 1] != '\r')
                *o++ = '\r';
            *o++ = '\n';
            bol = 1;
            continue;
        }
        *o++ = c;
        bol = 0;
    }
    if (!bol) {
        *o++ = '\r';
        *o++ = '\n';
    }
    memcpy(o, ".\r\n", 3);
    o += 3;
    free(raw);
    return (size_t)(o - s->out);
}

static void
count(int code)
{
    pthread_mutex_lock(&lock);
    replies[code > 0 && code < 1000 ? code : 0]++;
    pthread_mutex_unlock(&lock);
}

static void *
worker(void *arg)
{
    (void)arg;
    session_t s;
    int up = session_open(&s) == 0;
    for (;;) {
        size_t i = atomic_fetch_add(&next_file, 1);
        if (i >= n_files)
            break;
        size_t n = up ? build(&s, files[i]) : 0;
        if (!n || write_all(s.fd, s.out, s.cmds) != 0) {
            count(0);
            up = 0;
            continue;
        }
        /* MAIL, RCPT and DATA in one go; the message only after the 354
         * (RFC 2920), then the recipient's reply to it. */
        int mail = read_reply(&s), rc = read_reply(&s), data = read_reply(&s);
        int final = data;
        if (data == 354)
            final = write_all(s.fd, s.out + s.cmds, n - s.cmds) == 0 ? read_reply(&s) : -1;
        if (mail < 0 || rc < 0 || final < 0) {
            up = 0;
            count(0);
            continue;
        }
        if (data != 354) { /* no message: back to a clean state */
            static const char rset[] = "RSET\r\n";
            if (write_all(s.fd, rset, sizeof rset - 1) != 0 || read_reply(&s) < 0)
                up = 0;
        }
        count(mail != 250 ? mail : rc != 250 ? rc : final);
    }
    if (up) {
        static const char quit[] = "QUIT\r\n";
        if (write_all(s.fd, quit, sizeof quit - 1) == 0)
            (void)read_reply(&s);
    }
    if (s.fd >= 0)
        close(s.fd);
    free(s.out);
    return NULL;
}

static int
usage(void)
{
    fputs("usage: lmtp-bench --socket PATH [--connections N] [--rcpt ADDR] LIST\n", stderr);
    return 2;
}

int
main(int argc, char **argv)
{
    int conns = 8;
    const char *list = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--socket") && i + 1 < argc)
            sock_path = argv[++i];
        else if (!strcmp(argv[i], "--connections") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rcpt") && i + 1 < argc)
            rcpt = argv[++i];
        else if (!strcmp(argv[i], "--help"))
            return usage(), 0;
        else if (argv[i][0] != '-' && !list)
            list = argv[i];
        else
            return usage();
    }
    if (!sock_path || !list || conns < 1 || conns > 256)
        return usage();
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "lmtp-bench: %s: %s\n", list, strerror(errno));
        return 2;
    }
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        if (n_files == cap) {
            cap = cap ? 2 * cap : 1024;
            char **grown = realloc(files, cap * sizeof *files);
            if (!grown)
                return 2;
            files = grown;
        }
        files[n_files++] = strdup(line);
    }
    free(line);
    fclose(f);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    printf("{\"sent\": %zu, \"replies\": {", n_files);
    const char *sep = "";
    for (int c = 0; c < 1000; c++)
        if (replies[c]) {
            if (c)
                printf("%s\"%d\": %lu", sep, c, replies[c]);
            else
                printf("%s\"dropped\": %lu", sep, replies[c]);
            sep = ", ";
        }
    printf("}, \"seconds\": %.3f}\n",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
    free(th);
    return replies[250] == n_files ? 0 : 1;
}
