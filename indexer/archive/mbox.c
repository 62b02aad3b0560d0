/* mbox.c - splitting an mbox file into messages.
 *
 * A message starts at a "From " line (the postmark) at the start of the
 * file, after an empty line, or followed by a header field. Two kinds of file defeat naive splitting on
 * "^From ":
 *  - "unmunged" bodies, where a line such as "From Russia with love" was
 *    not escaped to ">From": a postmark must look like one, "From SENDER"
 *    optionally followed by an asctime date ("From - Mon Jun  3 12:50:27
 *    1996"), and nothing else;
 *  - Content-Length (mboxcl): when a message has a Content-Length header
 *    and the byte it points to is the end of the file or a postmark, the
 *    body is exactly that long, whatever "From " lines it contains.
 * ">From " lines are left as they are (mboxo and mboxrd cannot be told
 * apart). A UTF-8 byte order mark before the first postmark is skipped.
 */
#include "build-config.h"

#include "claw-archive.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

static const char *days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool
one_of(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(s, list[i], 3) == 0)
            return true;
    return false;
}

/* Is the line at @p (length @n, no newline) a postmark? */
static bool
postmark(const char *p, size_t n)
{
    if (n < 6 || memcmp(p, "From ", 5) != 0)
        return false;
    char line[256];
    if (n >= sizeof line)
        return false;
    memcpy(line, p, n);
    line[n] = '\0';
    if (n && line[n - 1] == '\r')
        line[--n] = '\0';
    const char *s = line + 5;
    while (*s == ' ')
        s++;
    /* The sender: one word (a quoted local part may hold spaces). */
    if (*s == '"') {
        const char *q = strchr(s + 1, '"');
        if (!q)
            return false;
        s = q + 1;
        while (*s && *s != ' ')
            s++;
    } else {
        if (!*s)
            return false;
        while (*s && *s != ' ')
            s++;
    }
    while (*s == ' ')
        s++;
    if (!*s)
        return true; /* "From sender" alone */
    /* asctime: "Www Mmm dd hh:mm:ss yyyy", perhaps with a zone before or
     * after the year. */
    if (strlen(s) < 24 || !one_of(s, days, 7) || s[3] != ' ' || !one_of(s + 4, months, 12) ||
        s[7] != ' ')
        return false;
    const char *t = s + 8;
    while (*t == ' ')
        t++;
    if (!g_ascii_isdigit(*t))
        return false;
    while (g_ascii_isdigit(*t))
        t++;
    if (*t++ != ' ' || !g_ascii_isdigit(t[0]) || !g_ascii_isdigit(t[1]) || t[2] != ':')
        return false;
    /* The rest: digits, ':', spaces, zone letters, '+'/'-'. */
    for (; *t; t++)
        if (!g_ascii_isalnum(*t) && !strchr(" :+-", *t))
            return false;
    return true;
}

static size_t
line_end(const char *d, size_t len, size_t at)
{
    const char *nl = memchr(d + at, '\n', len - at);
    return nl ? (size_t)(nl - d) : len;
}

/* Does the line after the one ending at @eol look like a header field
 * ("Name: value")? Files that do not put an empty line between messages
 * still start each with its header. */
static bool
header_follows(const char *d, size_t len, size_t eol)
{
    size_t p = eol + 1, i = p;
    while (i < len && i - p < 80 && d[i] > ' ' && d[i] < 0x7f && d[i] != ':')
        i++;
    return i > p && i < len && d[i] == ':';
}

/* Content-Length in the header block starting at @at, or -1. */
static long long
content_length(const char *d, size_t len, size_t at, size_t *body)
{
    long long cl = -1;
    while (at < len) {
        size_t e = line_end(d, len, at);
        size_t n = e - at;
        if (n == 0 || (n == 1 && d[at] == '\r')) {
            *body = e < len ? e + 1 : len;
            return cl;
        }
        if (n > 15 && g_ascii_strncasecmp(d + at, "Content-Length:", 15) == 0) {
            char b[32];
            size_t m = n - 15 < sizeof b - 1 ? n - 15 : sizeof b - 1;
            memcpy(b, d + at + 15, m);
            b[m] = '\0';
            char *end;
            long long v = g_ascii_strtoll(g_strstrip(b), &end, 10);
            if (*end == '\0' && v >= 0)
                cl = v;
        }
        at = e + 1;
    }
    *body = len;
    return -1;
}

bool
claw_mbox_is(const char *d, size_t len)
{
    size_t at = len >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    return postmark(d + at, line_end(d, len, at) - at);
}

size_t
claw_mbox_split(const char *d, size_t len, void (*fn)(void *ctx, const char *msg, size_t n),
                void *ctx)
{
    size_t at = len >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    size_t count = 0;
    if (!postmark(d + at, line_end(d, len, at) - at))
        return 0;
    while (at < len) {
        /* @at is on a postmark: the message starts on the next line. */
        size_t start = line_end(d, len, at) + 1;
        if (start > len)
            start = len;
        size_t end = len, next = len;
        size_t body;
        long long cl = content_length(d, len, start, &body);
        bool done = false;
        if (cl >= 0 && (unsigned long long)cl <= len - body) {
            size_t e = body + (size_t)cl;
            /* The next postmark may follow a blank line. */
            size_t p = e;
            while (p < len && (d[p] == '\n' || d[p] == '\r'))
                p++;
            if (p >= len || postmark(d + p, line_end(d, len, p) - p)) {
                end = e;
                next = p;
                done = true;
            }
        }
        if (!done) {
            /* The next postmark after an empty line. */
            size_t p = start;
            bool blank = false;
            while (p < len) {
                size_t e = line_end(d, len, p);
                if ((blank || header_follows(d, len, e)) && postmark(d + p, e - p)) {
                    end = p;
                    next = p;
                    break;
                }
                blank = e == p || (e == p + 1 && d[p] == '\r');
                p = e + 1;
            }
        }
        /* Drop the blank line that separates messages (a Content-Length
         * body is exact already). */
        size_t n = end - start;
        if (!done && next < len) {
            if (n && d[start + n - 1] == '\n')
                n--;
            if (n && d[start + n - 1] == '\r')
                n--;
        }
        fn(ctx, d + start, n);
        count++;
        at = next;
    }
    return count;
}
