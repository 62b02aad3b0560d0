/* pull.c - feeds pulled over the network: a MISP feed (its manifest.json,
 * then an event file per uuid, as MISP's own "fetch feed" reads one) and a
 * TAXII 2.1 collection (its objects endpoint, page after page with
 * added_after and next, in the TAXII media type).
 */
#include "build-config.h"

#include "claw-feed.h"

#include <curl/curl.h>
#include <string.h>

/* A feed with more events or pages than this is refused, not followed
 * forever: a server that always says "more" must not hold clawd. */
#define PULL_MAX_REQUESTS 100000

/* And all of a pull's downloads together may not pass this. */
#define PULL_MAX_TOTAL_BYTES (4 * CLAW_FEED_MAX_BYTES)

#define TAXII_MEDIA "application/taxii+json;version=2.1"

/* @base with @leaf after it, one '/' between. */
static char *
url_join(const char *base, const char *leaf)
{
    size_t n = strlen(base);
    return g_strconcat(base, n && base[n - 1] == '/' ? "" : "/", leaf, NULL);
}

bool
claw_feed_pull_misp(claw_feed_batch_t *b, const char *url, const claw_feed_fetch_opts_t *opts,
                    char **error)
{
    char *murl = url_join(url, "manifest.json"), *body = NULL;
    size_t len = 0;
    GPtrArray *uuids = g_ptr_array_new_with_free_func(g_free);
    bool ok = claw_feed_fetch(murl, opts, &body, &len, NULL, NULL, error) &&
              claw_feed_read_misp_manifest(murl, body, len, uuids, error);
    g_free(body);
    if (ok && uuids->len > PULL_MAX_REQUESTS) {
        *error = g_strdup_printf("%s: %u events, more than a pull takes (%d)", murl, uuids->len,
                                 PULL_MAX_REQUESTS);
        ok = false;
    }
    size_t total = len;
    for (guint i = 0; ok && i < uuids->len; i++) {
        char *leaf = g_strconcat(uuids->pdata[i], ".json", NULL), *eurl = url_join(url, leaf);
        body = NULL;
        ok = claw_feed_fetch(eurl, opts, &body, &len, NULL, NULL, error) &&
             claw_feed_read_misp_event(b, eurl, body, len, error);
        if (ok && (total += len) > PULL_MAX_TOTAL_BYTES) {
            *error = g_strdup_printf("%s: more than %zu MB in all: refused", url,
                                     PULL_MAX_TOTAL_BYTES >> 20);
            ok = false;
        }
        g_free(body);
        g_free(eurl);
        g_free(leaf);
    }
    g_ptr_array_free(uuids, TRUE);
    g_free(murl);
    return ok;
}

/* @u with the query parameter @name=@value added (escaped). */
static char *
with_param(const char *u, const char *name, const char *value)
{
    char *v = curl_easy_escape(NULL, value, 0);
    char *out = g_strconcat(u, strchr(u, '?') ? "&" : "?", name, "=", v ? v : "", NULL);
    curl_free(v);
    return out;
}

bool
claw_feed_pull_taxii(claw_feed_batch_t *b, const char *url, const char *added_after,
                     const claw_feed_fetch_opts_t *opts, char **last_added, char **error)
{
    claw_feed_fetch_opts_t o = opts ? *opts : (claw_feed_fetch_opts_t){0};
    o.accept = TAXII_MEDIA;
    char *objects = url_join(url, "objects/"), *next = NULL, *last = NULL, *after_buf = NULL;
    const char *after = added_after;
    bool ok = true, more = true;
    size_t total = 0;
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (int page = 0; ok && more; page++) {
        if (page == PULL_MAX_REQUESTS) {
            *error = g_strdup_printf("%s: more than %d pages: stopped", objects,
                                     PULL_MAX_REQUESTS);
            ok = false;
            break;
        }
        char *u = after ? with_param(objects, "added_after", after)
                              : g_strdup(objects);
        if (next) {
            char *v = with_param(u, "next", next);
            g_free(u);
            u = v;
        }
        char *body = NULL, *got = NULL;
        size_t len = 0;
        if (next)
            g_hash_table_add(seen, next); /* asked for: a server that goes round is stopped */
        next = NULL;
        ok = claw_feed_fetch(u, &o, &body, &len, "X-TAXII-Date-Added-Last", &got, error) &&
             claw_feed_read_stix(b, u, body, len, &more, &next, error);
        if (ok && (total += len) > PULL_MAX_TOTAL_BYTES) {
            *error = g_strdup_printf("%s: more than %zu MB in all: refused", objects,
                                     PULL_MAX_TOTAL_BYTES >> 20);
            ok = false;
        }
        if (ok && got) {
            g_free(last);
            last = got;
            got = NULL;
        }
        /* A page that says "more" must say where: a next that moves on,
         * or (servers without next) a later X-TAXII-Date-Added-Last. */
        if (ok && more && !next && last && (!after || strcmp(after, last))) {
            g_free(after_buf);
            after = after_buf = g_strdup(last);
        } else if (ok && more && (!next || g_hash_table_contains(seen, next))) {
            *error = g_strdup_printf("%s: the server says there is more but gives no new next",
                                     u);
            ok = false;
        }
        g_free(got);
        g_free(body);
        g_free(u);
    }
    g_free(next);
    g_hash_table_destroy(seen);
    g_free(after_buf);
    g_free(objects);
    if (ok && last_added)
        *last_added = last;
    else
        g_free(last);
    return ok;
}
