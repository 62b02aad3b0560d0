/* mail-bench - the benchmarks' mail sender (SMTP, or LMTP: RFC 2033), in C.
 *
 *   mail-bench (--socket PATH | --port N [--host ADDR]) [--lmtp]
 *              [--connections N] [--per-connection K] [--from ADDR] [--rcpt ADDR]
 *              LIST
 *
 * Sends every file named in LIST (one path per line) over N parallel
 * sessions (default 8), a new session every K messages if given, to the
 * server on the Unix socket PATH or on TCP ADDR:N (default 127.0.0.1): MAIL,
 * RCPT and DATA pipelined when the server offers PIPELINING, as Exim's
 * transports do, the message with CRLF line ends and dot-stuffed, RSET
 * after a refusal, QUIT without waiting for the 221. It times each message
 * from the end of its DATA to the reply. tests/tools/smtp-send.py and
 * lmtp-send.py do the same for the tests; on two cores their interpreter
 * took a sixth of the machine from the server being measured.
 *
 * Prints one JSON line: {"sent": N, "messages": replied, "seconds": s,
 * "msgs_per_s": r, "p50_ms": m, "p99_ms": m, "codes": {"250": n, ...},
 * "errors": [...]}. Exit 0 when no session failed (with --lmtp: and every
 * message got 250), 1 otherwise, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

static const char *sock_path, *host = "127.0.0.1", *rcpt = "archive@test.example";
static const char *sender = "sender@test.example";
static int port, lmtp;
static size_t per_connection; /* 0: one session for all its messages */
static char **files;
static size_t n_files;
static atomic_size_t next_file;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long replies[1000]; /* by reply code; 0: no reply (the session broke) */
static double *latency;             /* seconds, per message replied to */
static size_t n_latency;

typedef struct {
    int fd;
    int pipelining; /* the server offers it */
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
            if (len >= 14 && !strncmp(line + 4, "PIPELINING", 10))
                s->pipelining = 1;
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
    char *out = s->out;
    size_t cap = s->cap;
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->out = out;
    s->cap = cap;
    if (sock_path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(sock_path) >= sizeof sa.sun_path)
            return -1;
        strcpy(sa.sun_path, sock_path);
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            return -1;
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int one = 1;
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
            return -1;
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            return -1;
        /* Replies are waited for after small writes: no Nagle delay. */
        setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (read_reply(s) != 220)
        return -1;
    const char *hello = lmtp ? "LHLO bench.example\r\n" : "EHLO bench.example\r\n";
    if (write_all(s->fd, hello, strlen(hello)) != 0 || read_reply(s) != 250)
        return -1;
    return 0;
}

static void
session_close(session_t *s)
{
    if (s->fd >= 0) {
        /* No wait for the 221: Exim waits up to 200 ms for the client to
         * close first. */
        (void)write_all(s->fd, "QUIT\r\n", 6);
        close(s->fd);
    }
    s->fd = -1;
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
    /* Each byte at worst ".\r\n"-expanded, after the commands. */
    size_t need = 3 * got + strlen(sender) + strlen(rcpt) + 64;
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
    o += sprintf(o, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", sender, rcpt);
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

static double
now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
count(int code, double seconds)
{
    pthread_mutex_lock(&lock);
    replies[code > 0 && code < 1000 ? code : 0]++;
    if (seconds >= 0)
        latency[n_latency++] = seconds;
    pthread_mutex_unlock(&lock);
}

/* One message on session @s; its reply code (0: the session broke). */
static int
send_one(session_t *s, const char *path, double *seconds)
{
    *seconds = -1;
    size_t n = build(s, path);
    if (!n)
        return 0;
    int mail, rc, data;
    if (s->pipelining) {
        if (write_all(s->fd, s->out, s->cmds) != 0)
            return 0;
        mail = read_reply(s);
        rc = read_reply(s);
        data = read_reply(s);
    } else {
        /* One command at a time: MAIL, RCPT and DATA lines in turn. */
        char *p = s->out, *end = s->out + s->cmds;
        int got[3] = {0, 0, 0};
        for (int i = 0; i < 3 && p < end; i++) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl || write_all(s->fd, p, (size_t)(nl + 1 - p)) != 0)
                return 0;
            p = nl + 1;
            got[i] = read_reply(s);
            if (got[i] < 0)
                return 0;
            if (got[i] != (i == 2 ? 354 : 250))
                break;
        }
        mail = got[0];
        rc = got[1] ? got[1] : 503;
        data = got[2] ? got[2] : 503;
    }
    if (mail < 0 || rc < 0 || data < 0)
        return 0;
    int final = data;
    if (data == 354) {
        /* The end of the data timed alone, as the MTA sees it. */
        if (write_all(s->fd, s->out + s->cmds, n - s->cmds - 3) != 0)
            return 0;
        double t = now();
        if (write_all(s->fd, s->out + n - 3, 3) != 0 || (final = read_reply(s)) < 0)
            return 0;
        *seconds = now() - t;
    } else {
        /* No message: back to a clean state. */
        if (write_all(s->fd, "RSET\r\n", 6) != 0 || read_reply(s) < 0)
            return 0;
    }
    return mail != 250 ? mail : rc != 250 ? rc : final;
}

static void *
worker(void *arg)
{
    (void)arg;
    session_t s = {.fd = -1};
    size_t on_session = 0;
    for (;;) {
        size_t i = atomic_fetch_add(&next_file, 1);
        if (i >= n_files)
            break;
        if (s.fd >= 0 && per_connection && on_session == per_connection)
            session_close(&s);
        if (s.fd < 0) {
            on_session = 0;
            if (session_open(&s) != 0) {
                if (s.fd >= 0)
                    close(s.fd);
                s.fd = -1;
                count(0, -1);
                continue;
            }
        }
        double t;
        int code = send_one(&s, files[i], &t);
        on_session++;
        count(code, t);
        if (!code) {
            close(s.fd);
            s.fd = -1;
        }
    }
    session_close(&s);
    free(s.out);
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int
usage(void)
{
    fputs("usage: mail-bench (--socket PATH | --port N [--host ADDR]) [--lmtp]\n"
          "                  [--connections N] [--per-connection K] [--from ADDR] [--rcpt ADDR]\n"
          "                  LIST\n",
          stderr);
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
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--host") && i + 1 < argc)
            host = argv[++i];
        else if (!strcmp(argv[i], "--lmtp"))
            lmtp = 1;
        else if (!strcmp(argv[i], "--connections") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--per-connection") && i + 1 < argc)
            per_connection = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--rcpt") && i + 1 < argc)
            rcpt = argv[++i];
        else if (!strcmp(argv[i], "--from") && i + 1 < argc)
            sender = argv[++i];
        else if (!strcmp(argv[i], "--help"))
            return usage(), 0;
        else if (argv[i][0] != '-' && !list)
            list = argv[i];
        else
            return usage();
    }
    if ((!sock_path == !port) || !list || conns < 1 || conns > 256 || port < 0 || port > 65535)
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

    latency = calloc(n_files ? n_files : 1, sizeof *latency);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    if (!latency || !th)
        return 2;
    double t0 = now();
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double secs = now() - t0;

    unsigned long replied = 0;
    for (int c = 1; c < 1000; c++)
        replied += replies[c];
    qsort(latency, n_latency, sizeof *latency, cmp_double);
    printf("{\"sent\": %zu, \"messages\": %lu, \"seconds\": %.3f, \"msgs_per_s\": %.1f", n_files,
           replied, secs, secs > 0 ? (double)replied / secs : 0);
    if (n_latency)
        printf(", \"p50_ms\": %.3f, \"p99_ms\": %.3f", 1000 * latency[n_latency / 2],
               1000 * latency[n_latency * 99 / 100 < n_latency ? n_latency * 99 / 100 : n_latency - 1]);
    else
        printf(", \"p50_ms\": null, \"p99_ms\": null");
    printf(", \"codes\": {");
    const char *sep = "";
    for (int c = 1; c < 1000; c++)
        if (replies[c]) {
            printf("%s\"%d\": %lu", sep, c, replies[c]);
            sep = ", ";
        }
    printf("}, \"errors\": [");
    if (replies[0])
        printf("\"%lu sessions or messages failed (no reply)\"", replies[0]);
    printf("]}\n");
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
    free(th);
    free(latency);
    if (replies[0])
        return 1;
    return lmtp && replies[250] != n_files ? 1 : 0;
}
