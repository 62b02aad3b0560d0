/* delivery.c - the one builder of what an MTA says about a delivery beside
 * the LMTP envelope: the client's address and HELO name, which come in
 * clawd's XFORWARD command or, from an MTA that cannot send XFORWARD, in
 * X-Clawback-Envelope-* header fields (claw_item_prepare()). Both sources
 * are read into the same attributes with the same rules, so an address is
 * stored the same whichever way it came. */
#include "build-config.h"

#include <glib.h>
#include <string.h>

#include "claw-archive.h"

/* Each attribute's names: in XFORWARD (RFC-less, Postfix's XFORWARD_README)
 * and as a header field. */
static const struct {
    const char *xforward;
    const char *header;
} attr_names[CLAW_DELIVERY_N_ATTRS] = {
    [CLAW_DELIVERY_CLIENT_IP] = {"ADDR", "X-Clawback-Envelope-IP"},
    [CLAW_DELIVERY_HELO] = {"HELO", "X-Clawback-Envelope-HELO"},
    [CLAW_DELIVERY_QUEUE_ID] = {"IDENT", "X-Clawback-Envelope-Queue-Id"},
    [CLAW_DELIVERY_WITHHELD] = {NULL, "X-Clawback-Envelope-Withheld"},
    [CLAW_DELIVERY_MTA_HOST] = {NULL, "X-Clawback-Envelope-Host"},
    [CLAW_DELIVERY_MAIL_FROM] = {NULL, "X-Clawback-Envelope-From"},
};

int
claw_delivery_attr_from_xforward(const char *name)
{
    for (int a = 0; name && a < CLAW_DELIVERY_N_ATTRS; a++)
        if (attr_names[a].xforward && !g_ascii_strcasecmp(name, attr_names[a].xforward))
            return a;
    return -1;
}

const char *
claw_delivery_attr_header(claw_delivery_attr_t attr)
{
    return (unsigned)attr < CLAW_DELIVERY_N_ATTRS ? attr_names[attr].header : NULL;
}

/* @value as the attribute keeps it, or NULL for no value. */
static char *
attr_value(claw_delivery_attr_t attr, const char *value)
{
    if (!value || !*value || !strcmp(value, "[UNAVAILABLE]") || !strcmp(value, "[TEMPUNAVAIL]"))
        return NULL;
    /* Control characters have no place in an address or a host name: a
     * value holding one is not taken (never stored half-cleaned). */
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return NULL;
    /* Postfix writes an IPv6 client as "IPV6:2001:db8::1". */
    if (attr == CLAW_DELIVERY_CLIENT_IP && !g_ascii_strncasecmp(value, "IPV6:", 5))
        value += 5;
    /* The sender in angle brackets, so that <> (a bounce's) is a value. */
    if (attr == CLAW_DELIVERY_MAIL_FROM) {
        size_t n = strlen(value);
        return n >= 2 && value[0] == '<' && value[n - 1] == '>' ? g_strndup(value + 1, n - 2)
                                                                 : NULL;
    }
    return *value ? g_strdup(value) : NULL;
}

void
claw_delivery_attrs_set(claw_delivery_attrs_t *attrs, claw_delivery_attr_t attr,
                        const char *value)
{
    if (!attrs || (unsigned)attr >= CLAW_DELIVERY_N_ATTRS)
        return;
    g_free(attrs->value[attr]);
    attrs->value[attr] = attr_value(attr, value);
}

void
claw_delivery_attrs_fill(const claw_delivery_attrs_t *attrs, claw_delivery_t *d)
{
    const char **field[CLAW_DELIVERY_N_ATTRS] = {
        [CLAW_DELIVERY_CLIENT_IP] = &d->client_ip,
        [CLAW_DELIVERY_HELO] = &d->helo,
        [CLAW_DELIVERY_QUEUE_ID] = &d->queue_id,
        [CLAW_DELIVERY_WITHHELD] = &d->withheld,
        [CLAW_DELIVERY_MTA_HOST] = &d->mta_host,
        [CLAW_DELIVERY_MAIL_FROM] = &d->mail_from,
    };
    for (int a = 0; a < CLAW_DELIVERY_N_ATTRS; a++)
        if ((a == CLAW_DELIVERY_MAIL_FROM || !*field[a] || !**field[a]) && attrs->value[a])
            *field[a] = attrs->value[a];
}

void
claw_delivery_attrs_clear(claw_delivery_attrs_t *attrs)
{
    for (int a = 0; attrs && a < CLAW_DELIVERY_N_ATTRS; a++) {
        g_free(attrs->value[a]);
        attrs->value[a] = NULL;
    }
}
