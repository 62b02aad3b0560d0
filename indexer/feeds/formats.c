/* formats.c - which reader reads an input: the one named (--format), or
 * the one its first bytes point to.
 */
#include "build-config.h"

#include "claw-feed.h"

#include <string.h>

/* JSON's first object member names, roughly: enough to tell a MISP event
 * ("Event", "response") from a STIX bundle or TAXII envelope ("objects",
 * "type": "bundle"). Only the first 64 KB are looked at. */
static const char *
guess_format(const char *data, size_t len)
{
    size_t i = 0;
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
        i = 3;
    while (i < len && strchr(" \t\r\n", data[i]))
        i++;
    if (i == len || (data[i] != '{' && data[i] != '['))
        return "plain";
    size_t n = len < 65536 ? len : 65536;
    char *head = g_strndup(data, n);
    const char *f = strstr(head, "\"Event\"") || strstr(head, "\"response\"") ? "misp" : "stix";
    g_free(head);
    return f;
}

bool
claw_feed_read(claw_feed_batch_t *b, const char *format, const char *name, const char *data,
               size_t len, const char *csv_mapping, bool csv_header, char **error)
{
    if (!format)
        format = guess_format(data, len);
    if (!strcmp(format, "plain"))
        return claw_feed_read_plain(b, name, data, len, error);
    if (!strcmp(format, "csv"))
        return claw_feed_read_csv(b, name, data, len, csv_mapping, csv_header, error);
    if (!strcmp(format, "misp"))
        return claw_feed_read_misp_event(b, name, data, len, error);
    if (!strcmp(format, "stix"))
        return claw_feed_read_stix(b, name, data, len, NULL, NULL, error);
    *error = g_strdup_printf("--format %s: expected plain, csv, misp or stix", format);
    return false;
}
