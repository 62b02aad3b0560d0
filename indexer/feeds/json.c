/* json.c - loading a feed's JSON with json-glib, bounded (feed-json.h). */
#include "build-config.h"

#include "feed-json.h"

#include <string.h>

/* What json-glib must not be given, and on which line: a bracket nested
 * deeper than the limit (only brackets outside strings count: whether the
 * JSON is valid is json-glib's to say), or \u0000 in a string, where
 * json-glib would end the string (a feed's "evil\u0000.example" read as
 * "evil"). */
typedef struct {
    size_t line; /* 0: nothing found */
    const char *what;
} scan_t;

static scan_t
scan(const char *data, size_t len)
{
    size_t line = 1;
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == '\n')
            line++;
        else if (in_string) {
            if (c == '\\' && i + 5 < len && !memcmp(data + i + 1, "u0000", 5))
                return (scan_t){line, "a NUL character (\\u0000) in a string"};
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"')
            in_string = true;
        else if ((c == '[' || c == '{') && ++depth > CLAW_FEED_MAX_JSON_DEPTH)
            return (scan_t){line, NULL};
        else if ((c == ']' || c == '}') && depth > 0)
            depth--;
    }
    return (scan_t){0, NULL};
}

bool
_claw_feed_json_load(const char *name, const char *data, size_t len, JsonParser **parser,
                     char **error)
{
    *parser = NULL;
    if (!len) {
        *error = g_strdup_printf("%s: empty, not JSON", name);
        return false;
    }
    if (len > CLAW_FEED_MAX_BYTES) {
        *error = g_strdup_printf("%s: %.0f MB, more than an import takes (%zu MB): split it",
                                 name, len / 1e6, CLAW_FEED_MAX_BYTES >> 20);
        return false;
    }
    scan_t bad = scan(data, len);
    if (bad.line) {
        *error = bad.what ? g_strdup_printf("%s:%zu: %s", name, bad.line, bad.what)
                          : g_strdup_printf("%s:%zu: JSON nested deeper than %d levels", name,
                                            bad.line, CLAW_FEED_MAX_JSON_DEPTH);
        return false;
    }
    GError *e = NULL;
    JsonParser *p = json_parser_new_immutable();
    if (!json_parser_load_from_data(p, data, (gssize)len, &e)) {
        /* json-glib calls its input "<data>", before the line and column. */
        const char *at = g_str_has_prefix(e->message, "<data>:") ? e->message + 7 : NULL;
        *error = at ? g_strdup_printf("%s:%s", name, at)
                    : g_strdup_printf("%s: %s", name, e->message);
        g_error_free(e);
        g_object_unref(p);
        return false;
    }
    *parser = p;
    return true;
}
