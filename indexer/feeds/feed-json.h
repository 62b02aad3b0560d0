/* feed-json.h - what the JSON readers (misp.c, stix.c) share; private to
 * the feeds library. */
#ifndef CLAW_FEED_JSON_H
#define CLAW_FEED_JSON_H

#include "claw-feed.h"

#include <json-glib/json-glib.h>

/* json-glib reads nested arrays and objects by recursion, and some tens of
 * thousands of brackets overflow a thread's stack: input nested deeper is
 * refused before it is parsed. No MISP or STIX producer comes near. */
#define CLAW_FEED_MAX_JSON_DEPTH 256

/* Parse @data (@len bytes) into *@parser (g_object_unref()); false with
 * *@error "NAME:LINE:COL: what" (or "NAME: what") for input that is empty,
 * over CLAW_FEED_MAX_BYTES, nested too deep or not JSON. */
bool _claw_feed_json_load(const char *name, const char *data, size_t len, JsonParser **parser,
                          char **error);

#endif
