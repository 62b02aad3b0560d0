/* json.c - loading a feed's JSON with json-glib, bounded (feed-json.h). */
#include "build-config.h"

#include "feed-json.h"

/* The line of the first bracket nested deeper than the limit, or 0. Only
 * brackets outside strings count: whether the JSON is valid is
 * json-glib's to say. */
static size_t
too_deep(const char *data, size_t len)
{
    size_t line = 1;
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == '\n')
            line++;
        else if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"')
            in_string = true;
        else if ((c == '[' || c == '{') && ++depth > CLAW_FEED_MAX_JSON_DEPTH)
            return line;
        else if ((c == ']' || c == '}') && depth > 0)
            depth--;
    }
    return 0;
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
    size_t deep = too_deep(data, len);
    if (deep) {
        *error = g_strdup_printf("%s:%zu: JSON nested deeper than %d levels", name, deep,
                                 CLAW_FEED_MAX_JSON_DEPTH);
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
