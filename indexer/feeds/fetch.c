/* fetch.c - one GET over HTTPS (or HTTP) with libcurl, bounded: the body
 * may not pass opts->max_bytes (counted as it arrives, after any
 * Content-Encoding is undone, so a small gzip bomb is stopped as well), and
 * the whole transfer not opts->timeout_s. Redirects are followed (five at
 * most, HTTP(S) only). Certificates are verified: against the system's CAs
 * or the feed's own CA file.
 */
#include "build-config.h"

#include "claw-feed.h"

#include <curl/curl.h>
#include <string.h>

typedef struct {
    GString *body;
    size_t max;
    bool too_big;
    const char *want;   /* a response header asked for */
    char *got;
} fetch_run_t;

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
    fetch_run_t *r = ctx;
    size_t len = size * n;
    if (r->body->len + len > r->max) {
        r->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    g_string_append_len(r->body, p, (gssize)len);
    return len;
}

static int
on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const gint *cancel = ctx;
    return g_atomic_int_get(cancel) ? 1 : 0; /* curl stops with CURLE_ABORTED_BY_CALLBACK */
}

static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
    fetch_run_t *r = ctx;
    size_t len = size * n, w = r->want ? strlen(r->want) : 0;
    if (w && len > w + 1 && p[w] == ':' && !g_ascii_strncasecmp(p, r->want, w)) {
        g_free(r->got); /* the last one wins: after a redirect, the final response's */
        r->got = g_strstrip(g_strndup(p + w + 1, len - w - 1));
    }
    return len;
}

void
claw_feed_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool
claw_feed_fetch(const char *url, const claw_feed_fetch_opts_t *opts, char **body, size_t *len,
                const char *want, char **got, char **error)
{
    static const claw_feed_fetch_opts_t none = {0};
    if (!opts)
        opts = &none;
    fetch_run_t r = {.body = g_string_new(NULL),
                     .max = opts->max_bytes ? opts->max_bytes : CLAW_FEED_MAX_BYTES,
                     .want = want};
    char curl_error[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    char *accept = opts->accept ? g_strconcat("Accept: ", opts->accept, NULL) : NULL;
    if (accept)
        headers = curl_slist_append(headers, accept);
    if (opts->header)
        headers = curl_slist_append(headers, opts->header);
    CURL *c = curl_easy_init();
    CURLcode rc = c ? CURLE_OK : CURLE_OUT_OF_MEMORY;
    long status = 0;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, opts->allow_file ? "https,http,file"
                                                                    : "https,http");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* clawd's threads */
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, opts->timeout_s > 0 ? opts->timeout_s : 300L);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(c, CURLOPT_USERAGENT, "clawback/" PACKAGE_VERSION);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
        if (headers)
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        if (opts->cancel) {
            curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)opts->cancel);
        }
        if (opts->ca_file)
            curl_easy_setopt(c, CURLOPT_CAINFO, opts->ca_file);
        if (opts->auth) {
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(c, CURLOPT_USERPWD, opts->auth);
        }
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
    }
    curl_slist_free_all(headers);
    g_free(accept);
    if (r.too_big)
        *error = g_strdup_printf("%s: more than %zu bytes: refused", url, r.max);
    else if (rc != CURLE_OK)
        *error = g_strdup_printf("%s: %s", url, *curl_error ? curl_error : curl_easy_strerror(rc));
    else if (status != 0 && (status < 200 || status > 299)) /* 0: a file:// URL */
        *error = g_strdup_printf("%s: the server answered %ld", url, status);
    else {
        *len = r.body->len;
        *body = g_string_free(r.body, FALSE);
        if (got)
            *got = r.got;
        else
            g_free(r.got);
        return true;
    }
    g_string_free(r.body, TRUE);
    g_free(r.got);
    return false;
}
