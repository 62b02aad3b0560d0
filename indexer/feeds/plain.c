/* plain.c - a plain list of indicators: a TYPE:VALUE, or a bare value (of
 * the batch's type, or guessed), a line, with the comment rule of the
 * MTA's indicator files (claw_ioc_file_line), so that a file that works
 * there imports the same here.
 */
#include "build-config.h"

#include "claw-config.h"
#include "claw-feed.h"

#include <string.h>

bool
claw_feed_read_plain(claw_feed_batch_t *b, const char *name, const char *data, size_t len,
                     char **error)
{
    if (len > CLAW_FEED_MAX_BYTES) {
        *error = g_strdup_printf("%s: %.0f MB, more than an import takes (%zu MB): split it",
                                 name, len / 1e6, CLAW_FEED_MAX_BYTES >> 20);
        return false;
    }
    const char *p = data, *end = data + len;
    char *line = g_malloc(CLAW_CONFIG_LINE_MAX + 1);
    bool ok = true;
    for (unsigned lineno = 1; ok && p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        if (n > CLAW_CONFIG_LINE_MAX) {
            *error = g_strdup_printf("%s:%u: a line longer than %u bytes: not a list of "
                                     "indicators", name, lineno, CLAW_CONFIG_LINE_MAX);
            ok = false;
        } else if (memchr(p, '\0', n)) {
            *error = g_strdup_printf("%s:%u: a NUL byte: not a list of indicators", name,
                                     lineno);
            ok = false;
        } else {
            memcpy(line, p, n);
            line[n] = '\0';
            const char *action, *why = NULL;
            const char *s = claw_ioc_file_line(line, &action);
            claw_ioc_t *c = *s ? claw_feed_add(b, NULL, s, &why) : NULL;
            if (*s && !c) {
                char *v = g_strescape(s, NULL);
                *error = g_strdup_printf("%s:%u: '%.200s': %s", name, lineno, v, why);
                g_free(v);
                ok = false;
            } else if (c && action) { /* the line's word over the batch's --action */
                c->action = action;
            }
        }
        p = nl ? nl + 1 : end;
    }
    g_free(line);
    return ok;
}
