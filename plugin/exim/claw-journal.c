/* claw-journal - one message from Exim's system filter to clawd, over LMTP.
 *
 *   claw-journal --socket PATH --spool DIR --id MESSAGE_ID [--host NAME]
 *                [--withheld]
 *
 * Why: Debian's single-file configuration (exim4.conf.template, a dpkg
 * conffile) has no place for a router or transport of one's own, so the
 * journal router of the split layout cannot be added there. A system
 * filter can be (a main option, in exim4.conf.localmacros): its
 *   unseen noerror pipe "claw-journal ..."
 * runs this program once per message with the message on standard input
 * (Debian's address_pipe transport: an mbox "From " line first and one
 * "\n" last, both taken off here). The envelope cannot travel on the
 * command line (the client's HELO name and the recipients are tainted
 * data, which Exim refuses in a command), so it is read from the message's
 * own spool header file, DIR/input/MESSAGE_ID-H (Exim's spec, "Format of
 * spool files"): the sender, every recipient (Bcc included), the client's
 * address and HELO name. They reach clawd as the X-Clawback-Envelope-*
 * fields the split layout's transport writes, on clawd's group-only Unix
 * socket, so clawd believes them.
 *
 * Exit status, as Exim's pipe transport reads it: 0 when clawd took the
 * message for every recipient (250: committed); EX_TEMPFAIL (75) for
 * anything else, so that Exim keeps the message and tries again (a
 * failure clawd calls permanent included: the archive must not lose mail
 * to a passing fault, and the retry rules end it); EX_USAGE for a call
 * that cannot work. What went wrong is said on standard error, which Exim
 * logs. libc only. */
#include "build-config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#define MAX_RECIPIENTS 100000

static const char *prog = "claw-journal";

typedef struct {
    char *sender;    /* without its angle brackets; "" for <> */
    char *host_ip;   /* NULL for a local submission */
    char *helo;
    char **rcpt;
    size_t n_rcpt;
} envelope_t;

static void __attribute__((format(printf, 1, 2), noreturn))
tempfail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EX_TEMPFAIL);
}

/* ---- Exim's spool header file -------------------------------------------- */

/* The next line of @f without its newline, or NULL at the end (malloc'd). */
static char *
next_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = '\0';
    return line;
}

/* An option line's name and value: "-name value", "--name value" (a tainted
 * value) or "--(quoter)name value". Returns the name; *@value points after
 * the space (or at ""). */
static const char *
option_name(char *line, const char **value)
{
    char *p = line + 1;
    if (*p == '-')
        p++;
    if (*p == '(') {
        char *close = strchr(p, ')');
        p = close ? close + 1 : p;
    }
    char *sp = strchr(p, ' ');
    *value = sp ? sp + 1 : "";
    if (sp)
        *sp = '\0';
    return p;
}

/* "127.0.0.1.43210" or "[2001:db8::1]:43210" (Exim writes the port after
 * the address): the address alone. */
static char *
host_address(const char *v)
{
    if (*v == '[') {
        const char *close = strchr(v, ']');
        return close ? strndup(v + 1, (size_t)(close - v - 1)) : strdup(v);
    }
    const char *dot = strrchr(v, '.');
    /* IPv6 without brackets: "2001:db8::1.43210" */
    return dot && strspn(dot + 1, "0123456789") == strlen(dot + 1) && dot[1]
               ? strndup(v, (size_t)(dot - v))
               : strdup(v);
}

/* A recipient line: the address, or the address and its extra fields,
 * which end in "#1" (errors_to) or "#3" (DSN and errors_to), each string
 * followed by its length: "addr orcpt L1,flags errors_to L2,pno#3". Read
 * from the end, as an address may hold spaces. */
static char *
recipient(char *line)
{
    size_t n = strlen(line);
    if (n < 2 || line[n - 2] != '#' || !isdigit((unsigned char)line[n - 1]))
        return strdup(line);
    int kind = line[n - 1] - '0';
    char *end = line + n - 2; /* at '#' */
    int fields = kind == 3 ? 2 : kind == 1 ? 1 : 0;
    if (!fields)
        return NULL;
    for (int f = 0; f < fields; f++) {
        /* " STRING LEN,N": back over ",N" and "LEN", then the string. */
        *end = '\0';
        char *sp = strrchr(line, ' ');
        if (!sp)
            return NULL;
        long len = strtol(sp + 1, NULL, 10);
        if (len < 0 || sp - line < len + 1)
            return NULL;
        end = sp - len - 1; /* the space before the string */
        if (*end != ' ')
            return NULL;
    }
    return strndup(line, (size_t)(end - line));
}

/* Read the envelope from @path (DIR/input/ID-H). */
static void
read_spool(const char *path, const char *id, envelope_t *e)
{
    /* Static: what a failure (tempfail() exits) leaves is still reachable,
     * not a leak to the sanitizers. */
    static FILE *f;
    static char *line;
    f = fopen(path, "r");
    if (!f)
        tempfail("%s: %s", path, strerror(errno));
    line = next_line(f);
    size_t idlen = strlen(id);
    if (!line || strncmp(line, id, idlen) != 0 || strcmp(line + idlen, "-H") != 0)
        tempfail("%s: not the spool header of %s", path, id);
    free(line);
    free(next_line(f)); /* login uid gid */
    line = next_line(f);
    size_t n = line ? strlen(line) : 0;
    if (!line || n < 2 || line[0] != '<' || line[n - 1] != '>')
        tempfail("%s: no sender line", path);
    e->sender = strndup(line + 1, n - 2);
    free(line);
    free(next_line(f)); /* time received, warnings sent */

    /* The options, up to the tree of addresses already delivered. */
    while ((line = next_line(f)) && line[0] == '-') {
        const char *value;
        const char *name = option_name(line, &value);
        if (strcmp(name, "host_address") == 0 && !e->host_ip) {
            e->host_ip = host_address(value);
        } else if (strcmp(name, "helo_name") == 0 && !e->helo) {
            e->helo = strdup(value);
        } else if (strcmp(name, "aclc") == 0 || strcmp(name, "aclm") == 0) {
            /* "-aclm NAME LENGTH", then LENGTH bytes of value and "\n". */
            const char *sp = strrchr(value, ' ');
            long len = sp ? strtol(sp + 1, NULL, 10) : -1;
            if (len < 0 || fseek(f, len + 1, SEEK_CUR) != 0)
                tempfail("%s: an ACL variable without its length", path);
        }
        free(line);
    }
    /* The tree of delivered addresses, written before-order: "XX" for none,
     * else each node "LR address", L and R 'Y' where it has that child. */
    long pending = 1;
    while (line && pending > 0) {
        if (strcmp(line, "XX") == 0 && pending == 1) {
            pending = 0;
        } else if (strlen(line) >= 2) {
            pending += (line[0] == 'Y') + (line[1] == 'Y') - 1;
        } else {
            tempfail("%s: a damaged address tree", path);
        }
        free(line);
        line = pending > 0 ? next_line(f) : NULL;
    }
    line = next_line(f);
    char *endp;
    long count = line ? strtol(line, &endp, 10) : -1;
    if (!line || *endp || count < 1 || count > MAX_RECIPIENTS)
        tempfail("%s: no recipient count", path);
    free(line);
    e->rcpt = calloc((size_t)count, sizeof *e->rcpt);
    for (long i = 0; i < count; i++) {
        line = next_line(f);
        char *r = line ? recipient(line) : NULL;
        if (!r)
            tempfail("%s: recipient %ld of %ld unreadable", path, i + 1, count);
        e->rcpt[e->n_rcpt++] = r;
        free(line);
    }
    fclose(f);
}

/* ---- LMTP ------------------------------------------------------------------ */

typedef struct {
    int fd;
    char buf[4096];
    size_t have;
} conn_t;

static void
send_all(conn_t *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            tempfail("clawd: %s", w < 0 ? strerror(errno) : "connection closed");
        p += w;
        n -= (size_t)w;
    }
}

/* One reply (its last line's code); @text gets the last line. */
static int
reply(conn_t *c, char *text, size_t size)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->have);
        if (nl) {
            size_t len = (size_t)(nl - c->buf) + 1;
            bool last = len >= 4 && c->buf[3] != '-';
            int code = len >= 4 ? atoi(c->buf) : 0;
            snprintf(text, size, "%.*s", (int)(len - 1), c->buf);
            text[strcspn(text, "\r")] = '\0';
            memmove(c->buf, c->buf + len, c->have - len);
            c->have -= len;
            if (last)
                return code;
            continue;
        }
        if (c->have == sizeof c->buf)
            tempfail("clawd: a reply line too long");
        ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            tempfail("clawd: %s", r < 0 ? strerror(errno) : "connection closed");
        c->have += (size_t)r;
    }
}

/* Send the command @verb @arg @end and want a reply of @want's class. */
static void
command(conn_t *c, int want, const char *verb, const char *arg, const char *end)
{
    char line[2048], text[512];
    int n = snprintf(line, sizeof line, "%s%s%s\r\n", verb, arg, end);
    if (n < 0 || (size_t)n >= sizeof line)
        tempfail("an address too long for LMTP");
    send_all(c, line, (size_t)n);
    int code = reply(c, text, sizeof text);
    if (code / 100 != want / 100)
        tempfail("clawd answered '%s' to %.*s", text, (int)strcspn(line, "\r"), line);
}

/* A header field of ours: the value without line breaks. */
static void
field(conn_t *c, const char *name, const char *value)
{
    if (!value)
        return;
    char line[1100];
    int n = snprintf(line, sizeof line, "%s: %.1000s\r\n", name, value);
    for (int i = (int)strlen(name) + 2; i < n - 2; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    send_all(c, line, (size_t)n);
}

/* The message from standard input, without the pipe's "From " line and
 * final "\n", dot-stuffed with CRLF line ends. */
static void
send_message(conn_t *c)
{
    char *line = NULL, *held = NULL;
    size_t cap = 0, held_cap = 0;
    ssize_t n, held_len = -1;
    bool first = true;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (first && strncmp(line, "From ", 5) == 0) {
            first = false;
            continue;
        }
        first = false;
        /* One line behind: the last one is the pipe's "\n". */
        if (held_len >= 0) {
            size_t len = (size_t)held_len;
            if (len && held[len - 1] == '\n')
                len--;
            if (len && held[0] == '.')
                send_all(c, ".", 1);
            send_all(c, held, len);
            send_all(c, "\r\n", 2);
        }
        if ((size_t)n + 1 > held_cap) {
            held_cap = (size_t)n + 1;
            held = realloc(held, held_cap);
            if (!held)
                tempfail("out of memory");
        }
        memcpy(held, line, (size_t)n);
        held_len = n;
    }
    if (ferror(stdin))
        tempfail("reading the message: %s", strerror(errno));
    if (held_len > 1 || (held_len == 1 && held[0] != '\n')) {
        /* The suffix was not there: keep the line. */
        size_t len = (size_t)held_len;
        if (held[len - 1] == '\n')
            len--;
        if (len && held[0] == '.')
            send_all(c, ".", 1);
        send_all(c, held, len);
        send_all(c, "\r\n", 2);
    }
    free(line);
    free(held);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"spool", required_argument, NULL, 'd'},
        {"id", required_argument, NULL, 'i'},     {"host", required_argument, NULL, 'H'},
        {"withheld", no_argument, NULL, 'w'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sock = NULL, *spool = NULL, *id = NULL, *host = NULL;
    bool withheld = false;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': sock = optarg; break;
        case 'd': spool = optarg; break;
        case 'i': id = optarg; break;
        case 'H': host = optarg; break;
        case 'w': withheld = true; break;
        case 'h':
            printf("Usage: %s --socket PATH --spool DIR --id MESSAGE_ID [--host NAME] "
                   "[--withheld] < MESSAGE\n",
                   prog);
            return 0;
        default:
            return EX_USAGE;
        }
    }
    if (!sock || !spool || !id || optind != argc || strpbrk(id, "/.") || !*id) {
        fprintf(stderr, "%s: give --socket, --spool and --id (an Exim message id)\n", prog);
        return EX_USAGE;
    }

    /* File scope: what a failure leaves at exit() is still reachable. */
    static envelope_t e;
    char path[4096];
    snprintf(path, sizeof path, "%s/input/%s-H", spool, id);
    read_spool(path, id, &e);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof sa.sun_path)
        tempfail("%s: path too long", sock);
    strcpy(sa.sun_path, sock);
    conn_t cn = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (cn.fd < 0 || connect(cn.fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        tempfail("clawd at %s: %s", sock, strerror(errno));
    char text[512];
    if (reply(&cn, text, sizeof text) != 220)
        tempfail("clawd greeted with '%s'", text);
    command(&cn, 250, "LHLO ", host ? host : "localhost", "");
    command(&cn, 250, "MAIL FROM:<", e.sender, ">");
    for (size_t i = 0; i < e.n_rcpt; i++)
        command(&cn, 250, "RCPT TO:<", e.rcpt[i], ">");
    command(&cn, 354, "DATA", "", "");
    field(&cn, "X-Clawback-Envelope-IP", e.host_ip);
    field(&cn, "X-Clawback-Envelope-HELO", e.helo);
    field(&cn, "X-Clawback-Envelope-Queue-Id", id);
    field(&cn, "X-Clawback-Envelope-Host", host);
    char from[1100];
    snprintf(from, sizeof from, "<%s>", e.sender);
    field(&cn, "X-Clawback-Envelope-From", from);
    if (withheld)
        field(&cn, "X-Clawback-Envelope-Withheld", "yes");
    send_message(&cn);
    send_all(&cn, ".\r\n", 3);
    /* LMTP: one reply per recipient. */
    for (size_t i = 0; i < e.n_rcpt; i++) {
        int code = reply(&cn, text, sizeof text);
        if (code != 250)
            tempfail("clawd answered '%s' for <%s>", text, e.rcpt[i]);
    }
    send_all(&cn, "QUIT\r\n", 6);
    close(cn.fd);
    for (size_t i = 0; i < e.n_rcpt; i++)
        free(e.rcpt[i]);
    free(e.rcpt);
    free(e.sender);
    free(e.host_ip);
    free(e.helo);
    return 0;
}
