/* misp.c - indicators from MISP: an event's JSON (as MISP exports it, as a
 * MISP feed serves it, or a REST search's "response" list of them), and a
 * feed's manifest.json. An attribute becomes an indicator when MISP marks
 * it for detection (to_ids) and its type is one Clawback hunts; a deleted
 * one revokes it. The MISP type names are MISP's (misp-types in its
 * describeTypes.json).
 */
#include "build-config.h"

#include "feed-json.h"

#include <stdlib.h>
#include <string.h>

/* An indicator's reason: the event's info and the attribute's comment. */
#define MISP_MAX_REASON 500

/* MISP attribute types and what they are here. A composite type
 * ("domain|ip") holds two values; `part` says which of them is which. */
static const struct {
    const char *misp;
    const char *first, *second; /* types of the parts; NULL: not kept */
} type_map[] = {
    {"url", "url", NULL},
    {"uri", "url", NULL},
    {"domain", "domain", NULL},
    {"hostname", "host", NULL},
    {"domain|ip", "domain", "ip"},
    {"hostname|port", "host", NULL},
    {"ip-src", "ip", NULL},
    {"ip-dst", "ip", NULL},
    {"ip-src|port", "ip", NULL},
    {"ip-dst|port", "ip", NULL},
    {"email", "sender", NULL},
    {"email-src", "sender", NULL},
    {"email-reply-to", "sender", NULL},
    {"email-message-id", "message-id", NULL},
    {"sha256", "sha256", NULL},
    {"filename|sha256", NULL, "sha256"},
    {"malware-sample", NULL, NULL}, /* filename|md5: no hash we keep */
};

/* A JSON member as a boolean: MISP writes true, 1 or "1". */
static bool
member_true(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return false;
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_BOOLEAN)
        return json_node_get_boolean(n);
    if (t == G_TYPE_INT64)
        return json_node_get_int(n) != 0;
    if (t == G_TYPE_STRING)
        return !strcmp(json_node_get_string(n), "1") || !strcmp(json_node_get_string(n), "true");
    return false;
}

static const char *
member_string(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

static JsonArray *
member_array(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static JsonObject *
member_object(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* One value of an attribute, as @type. */
static void
add_value(claw_feed_batch_t *b, const char *type, const char *value, bool deleted,
          const char *reason)
{
    const char *why = NULL;
    char *v = g_strstrip(g_strdup(value));
    claw_ioc_t *c = claw_feed_add(b, type, v, &why);
    g_free(v);
    if (!c) {
        char *r = g_strdup_printf("misp: a %s that is not one (%s)", type, why);
        claw_feed_skip(b, r);
        g_free(r);
        return;
    }
    if (reason && *reason)
        c->reason = claw_feed_text(b, reason, MISP_MAX_REASON);
    if (deleted)
        c->revoked = 1;
}

static void
read_attribute(claw_feed_batch_t *b, JsonNode *node, const char *info)
{
    JsonObject *a = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *mtype = member_string(a, "type"), *value = member_string(a, "value");
    if (!mtype || !value) {
        claw_feed_skip(b, "misp: an attribute without a type or value");
        return;
    }
    bool deleted = member_true(a, "deleted");
    if (!member_true(a, "to_ids") && !deleted) {
        claw_feed_skip(b, "misp: to_ids not set");
        return;
    }
    size_t i = 0;
    while (i < G_N_ELEMENTS(type_map) && strcmp(type_map[i].misp, mtype))
        i++;
    if (i == G_N_ELEMENTS(type_map) || (!type_map[i].first && !type_map[i].second)) {
        char *r = g_strdup_printf("misp: type %.40s not hunted", mtype);
        claw_feed_skip(b, r);
        g_free(r);
        return;
    }
    const char *comment = member_string(a, "comment");
    char *reason = comment && *comment ? g_strdup_printf("%s: %s", info, comment)
                                       : g_strdup(info);
    /* Composite values are "first|second"; ports after '|' are dropped. */
    const char *bar = strchr(mtype, '|') ? strchr(value, '|') : NULL;
    char *first = bar ? g_strndup(value, (size_t)(bar - value)) : g_strdup(value);
    if (type_map[i].first)
        add_value(b, type_map[i].first, first, deleted, reason);
    if (type_map[i].second && bar)
        add_value(b, type_map[i].second, bar + 1, deleted, reason);
    g_free(first);
    g_free(reason);
}

static void
read_event(claw_feed_batch_t *b, JsonObject *wrapper)
{
    JsonObject *e = member_object(wrapper, "Event");
    if (!e)
        e = wrapper; /* some exports give the event itself */
    const char *info = member_string(e, "info");
    const char *uuid = member_string(e, "uuid");
    char *label = g_strdup_printf("MISP event %s%s%s", uuid ? uuid : "", info ? ": " : "",
                                  info ? info : "");
    JsonArray *attrs = member_array(e, "Attribute");
    for (guint i = 0; attrs && i < json_array_get_length(attrs); i++)
        read_attribute(b, json_array_get_element(attrs, i), label);
    JsonArray *objects = member_array(e, "Object");
    for (guint i = 0; objects && i < json_array_get_length(objects); i++) {
        JsonNode *on = json_array_get_element(objects, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(on) ? json_node_get_object(on) : NULL;
        bool gone = o && member_true(o, "deleted");
        JsonArray *oa = member_array(o, "Attribute");
        for (guint j = 0; oa && j < json_array_get_length(oa); j++) {
            JsonNode *an = json_array_get_element(oa, j);
            if (gone && JSON_NODE_HOLDS_OBJECT(an)) /* a deleted object deletes its parts */
                json_object_set_boolean_member(json_node_get_object(an), "deleted", TRUE);
            read_attribute(b, an, label);
        }
    }
    g_free(label);
}

bool
claw_feed_read_misp_event(claw_feed_batch_t *b, const char *name, const char *data, size_t len,
                          char **error)
{
    JsonParser *p;
    if (!_claw_feed_json_load(name, data, len, &p, error))
        return false;
    JsonNode *root = json_parser_get_root(p);
    JsonArray *events = NULL;
    if (JSON_NODE_HOLDS_ARRAY(root))
        events = json_node_get_array(root);
    else if (JSON_NODE_HOLDS_OBJECT(root))
        events = member_array(json_node_get_object(root), "response");
    bool ok = true;
    if (events) {
        for (guint i = 0; i < json_array_get_length(events); i++) {
            JsonNode *n = json_array_get_element(events, i);
            if (JSON_NODE_HOLDS_OBJECT(n))
                read_event(b, json_node_get_object(n));
            else
                claw_feed_skip(b, "misp: an event that is not an object");
        }
    } else if (JSON_NODE_HOLDS_OBJECT(root) && member_object(json_node_get_object(root), "Event")) {
        read_event(b, json_node_get_object(root));
    } else {
        *error = g_strdup_printf("%s: not a MISP event (no \"Event\" object)", name);
        ok = false;
    }
    g_object_unref(p);
    return ok;
}

typedef struct {
    char *uuid;
    int64_t when;
} manifest_entry_t;

/* Oldest first: a later event's word on an attribute (deleted) is the one
 * that stands, as the batch is stored in order. */
static gint
oldest_first(gconstpointer a, gconstpointer b)
{
    const manifest_entry_t *x = a, *y = b;
    return x->when < y->when ? -1 : x->when > y->when ? 1 : strcmp(x->uuid, y->uuid);
}

bool
claw_feed_read_misp_manifest(const char *name, const char *data, size_t len, GPtrArray *uuids,
                             char **error)
{
    JsonParser *p;
    if (!_claw_feed_json_load(name, data, len, &p, error))
        return false;
    JsonNode *root = json_parser_get_root(p);
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        *error = g_strdup_printf("%s: not a MISP feed manifest (an object of events by uuid)",
                                 name);
        g_object_unref(p);
        return false;
    }
    JsonObject *o = json_node_get_object(root);
    GArray *entries = g_array_new(FALSE, FALSE, sizeof(manifest_entry_t));
    JsonObjectIter it;
    const char *uuid;
    JsonNode *ev;
    json_object_iter_init(&it, o);
    while (json_object_iter_next(&it, &uuid, &ev)) {
        /* A uuid names a file on the server: nothing but hex and '-'. */
        if (!*uuid || strlen(uuid) > 64 || strspn(uuid, "0123456789abcdefABCDEF-") != strlen(uuid))
            continue;
        JsonObject *e = JSON_NODE_HOLDS_OBJECT(ev) ? json_node_get_object(ev) : NULL;
        const char *ts = member_string(e, "timestamp");
        JsonNode *tn = e ? json_object_get_member(e, "timestamp") : NULL;
        int64_t when = ts ? g_ascii_strtoll(ts, NULL, 10)
                     : tn && JSON_NODE_HOLDS_VALUE(tn) &&
                               json_node_get_value_type(tn) == G_TYPE_INT64
                         ? json_node_get_int(tn) : 0;
        manifest_entry_t m = {g_strdup(uuid), when};
        g_array_append_val(entries, m);
    }
    g_array_sort(entries, oldest_first);
    for (guint i = 0; i < entries->len; i++)
        g_ptr_array_add(uuids, g_array_index(entries, manifest_entry_t, i).uuid);
    g_array_free(entries, TRUE);
    g_object_unref(p);
    return true;
}
