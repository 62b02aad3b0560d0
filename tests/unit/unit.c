/* unit.c - unit tests of libclaw, in TAP form (see tests/tools/run.sh).
 *
 * Most tests go through the public API with small hand-written messages, so
 * they check behaviour rather than internals; a few reach the hidden helpers
 * through the internal convenience library.
 */
#include "build-config.h"

#include "claw-private.h"

#include <inttypes.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

static int n_fail, n_test;
static claw_engine_t *engine;

static void
report(bool ok, const char *fmt, ...) CLAW_PRINTF(2, 3);

static void
report(bool ok, const char *fmt, ...)
{
    va_list ap;
    n_test++;
    if (!ok)
        n_fail++;
    printf("%s - ", ok ? "ok" : "not ok");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

#define CHECK(cond, ...) report((cond), __VA_ARGS__)
#define CHECK_STR(got, want, what)                                                           \
    do {                                                                                     \
        const char *g_ = (got), *w_ = (want);                                                \
        bool eq_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0);          \
        char *we_ = w_ ? g_strescape(w_, NULL) : g_strdup("(null)");                        \
        char *ge_ = g_ ? g_strescape(g_, NULL) : g_strdup("(null)");                        \
        report(eq_, "%s: want '%s'", (what), we_);                                           \
        if (!eq_)                                                                            \
            printf("#   got '%s'\n", ge_);                                                   \
        g_free(we_);                                                                         \
        g_free(ge_);                                                                         \
    } while (0)

static claw_message_t *
parse(const char *text)
{
    claw_message_t *m = NULL;
    if (claw_message_parse(engine, text, strlen(text), &m) != CLAW_STATUS_SUCCESS)
        abort();
    return m;
}

/* The first URL whose raw form is @raw in an HTML message with it as href. */
static claw_message_t *
html(const char *body)
{
    char *msg = g_strdup_printf("From: a@example.com\nContent-Type: text/html\n\n%s\n", body);
    claw_message_t *m = parse(msg);
    g_free(msg);
    return m;
}

static const claw_url_t *
url_from(claw_message_t *m, claw_url_source_t source)
{
    for (size_t i = 0; i < m->n_urls; i++)
        if (m->urls[i].source == source)
            return &m->urls[i];
    return NULL;
}

static void
test_url(const char *href, const char *norm, const char *host, unsigned flags)
{
    char *body = g_strdup_printf("<a href=\"%s\">x</a>", href);
    claw_message_t *m = html(body);
    const claw_url_t *u = url_from(m, CLAW_URL_HTML_HREF);
    char *shown = g_strescape(href, NULL);
    href = shown;
    char *what = g_strdup_printf("url %s normalises", href);
    CHECK_STR(u ? u->url : NULL, norm, what);
    g_free(what);
    if (u) {
        what = g_strdup_printf("url %s host", href);
        CHECK_STR(u->host.ascii, host, what);
        g_free(what);
        CHECK((u->flags & flags) == flags, "url %s has flags 0x%x (got 0x%x)", href, flags,
              u->flags);
    }
    claw_message_destroy(m);
    g_free(body);
    g_free(shown);
}

static void
test_urls(void)
{
    test_url("HTTP://WWW.Example.COM/Path?q=1#f", "http://www.example.com/Path?q=1#f",
             "www.example.com", 0);
    test_url("http://3232235777/", "http://192.168.1.1/", "192.168.1.1",
             CLAW_URL_IP_HOST | CLAW_URL_IP_OBFUSCATED);
    test_url("http://0xC0A80101/", "http://192.168.1.1/", "192.168.1.1",
             CLAW_URL_IP_OBFUSCATED);
    test_url("http://0300.0250.0.1/", "http://192.168.0.1/", "192.168.0.1",
             CLAW_URL_IP_OBFUSCATED);
    test_url("http://127.1/", "http://127.0.0.1/", "127.0.0.1", CLAW_URL_IP_OBFUSCATED);
    test_url("http://10.0.0.1/", "http://10.0.0.1/", "10.0.0.1", CLAW_URL_IP_HOST);
    test_url("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x", "2001:db8::1",
             CLAW_URL_IP_HOST);
    test_url("https://www.paypal.com@evil.example/login", "https://evil.example/login",
             "evil.example", CLAW_URL_USERINFO | CLAW_URL_USERINFO_HOSTLIKE);
    test_url("http://user:pw@example.org/", "http://example.org/", "example.org",
             CLAW_URL_USERINFO);
    test_url("http://%65%76%69%6c.example/", "http://evil.example/", "evil.example",
             CLAW_URL_HOST_ENCODED);
    test_url("http:\\\\evil.example\\a\\b", "http://evil.example/a/b", "evil.example",
             CLAW_URL_BACKSLASH);
    test_url("https://xn--pypal-4ve.com/", "https://xn--pypal-4ve.com/", "xn--pypal-4ve.com",
             CLAW_URL_IDN);
    test_url("https://p\xd0\xb0ypal.com/", "https://xn--pypal-4ve.com/", "xn--pypal-4ve.com",
             CLAW_URL_IDN);
    test_url(" \thttp://exa\nmple.com/ ", "http://example.com/", "example.com", 0);
    test_url("http://example.com./", "http://example.com/", "example.com", 0);
    test_url("javascript:alert(1)", "javascript:alert(1)", NULL, 0);
    test_url("mailto:boss@Example.COM?subject=x", "mailto:boss@Example.COM?subject=x",
             "example.com", 0);
    /* A scheme's default port is no port at all, as a browser reads it;
     * another scheme's default is kept. */
    test_url("https://Example.com:443/a", "https://example.com/a", "example.com", 0);
    test_url("http://example.com:80", "http://example.com/", "example.com", 0);
    test_url("ftp://example.com:21/f", "ftp://example.com/f", "example.com", 0);
    test_url("wss://example.com:443/s", "wss://example.com/s", "example.com", 0);
    test_url("https://example.com:80/", "https://example.com:80/", "example.com", 0);
    test_url("http://example.com:0443/", "http://example.com:443/", "example.com", 0);
    {
        claw_message_t *pm = html("<a href=\"https://example.com:443/\">x</a>");
        CHECK(pm->n_urls == 1 && pm->urls[0].port == 0,
              "a default port reads as no port (port %d)", pm->n_urls ? pm->urls[0].port : -1);
        claw_message_destroy(pm);
    }

    /* Mixed-script IDN: Latin with Cyrillic 'a'. */
    claw_message_t *m = html("<a href=\"https://p\xd0\xb0ypal.com/\">x</a>");
    CHECK(m->n_urls == 1 && (m->urls[0].host.flags & CLAW_DOMAIN_MIXED_SCRIPT),
          "mixed Latin/Cyrillic host flagged");
    CHECK_STR(m->n_urls ? m->urls[0].host.unicode : NULL, "p\xd0\xb0ypal.com",
              "unicode form of punycode host");
    claw_message_destroy(m);

    /* Relative links and cid: go nowhere and are not listed. */
    m = html("<a href=\"/local\">a</a><a href=\"#top\">b</a><img src=\"cid:x@y\">");
    CHECK(m->n_urls == 0, "relative and cid: links ignored (got %zu)", m->n_urls);
    claw_message_destroy(m);

    /* Plain text finding, trailing punctuation and brackets. */
    m = parse("From: a@b.c\n\nSee (https://example.com/a_(b)), www.example.org/x. "
              "and <http://x.example/y>, not notwww.example.com.\n");
    CHECK(m->n_urls == 3, "three URLs in text (got %zu)", m->n_urls);
    if (m->n_urls == 3) {
        CHECK_STR(m->urls[0].url, "https://example.com/a_(b)", "balanced parenthesis kept");
        CHECK_STR(m->urls[1].url, "http://www.example.org/x", "www. gets http, dot dropped");
        CHECK(m->urls[1].flags & CLAW_URL_NO_SCHEME, "www. flagged no-scheme");
        CHECK_STR(m->urls[2].url, "http://x.example/y", "angle brackets end a URL");
    }
    claw_message_destroy(m);

    /* The same link repeated is listed once. */
    m = html("<a href=\"http://a.example/\">t</a><a href=\"http://a.example/\">t</a>");
    CHECK(m->n_urls == 1, "repeated link listed once (got %zu)", m->n_urls);
    claw_message_destroy(m);
}

/* claw_url_normalise() gives @want for @raw, and a link to @raw in a
 * message is the same URL. */
static void
check_normalise(const char *raw, const char *want)
{
    char *got = NULL;
    char *shown = g_strescape(raw, NULL);
    char *what = g_strdup_printf("claw_url_normalise(\"%s\")", shown);
    claw_status_t st = claw_url_normalise(raw, strlen(raw), &got);
    CHECK(st == CLAW_STATUS_SUCCESS, "%s succeeds (%s)", what, claw_status_to_string(st));
    CHECK_STR(got, want, what);
    char *body = g_strdup_printf("<a href=\"%s\">x</a>", raw);
    claw_message_t *m = html(body);
    const claw_url_t *u = url_from(m, CLAW_URL_HTML_HREF);
    CHECK_STR(u ? u->url : NULL, got, "... and the model gives the same for a link to it");
    claw_message_destroy(m);
    claw_free(got);
    g_free(body);
    g_free(what);
    g_free(shown);
}

static void
check_host(const char *raw, const char *want)
{
    char *got = NULL;
    char *shown = g_strescape(raw, NULL);
    claw_status_t st = claw_host_normalise(raw, strlen(raw), &got);
    if (want) {
        char *what = g_strdup_printf("claw_host_normalise(\"%s\")", shown);
        CHECK(st == CLAW_STATUS_SUCCESS, "%s succeeds (%s)", what, claw_status_to_string(st));
        CHECK_STR(got, want, what);
        g_free(what);
    } else {
        CHECK(st == CLAW_STATUS_INVALID_ARGUMENT && got == NULL,
              "claw_host_normalise(\"%s\") refuses it (%s)", shown, claw_status_to_string(st));
    }
    claw_free(got);
    g_free(shown);
}

static void
check_ioc(const char *type, const char *raw, const char *want)
{
    char *got = NULL;
    const char *why = NULL;
    char *shown = g_strescape(raw, NULL);
    char *what = g_strdup_printf("claw_ioc_normalise(%s, \"%s\")", type, shown);
    claw_status_t st = claw_ioc_normalise(type, raw, &got, &why);
    if (want) {
        CHECK(st == CLAW_STATUS_SUCCESS, "%s succeeds (%s)", what, why ? why : "");
        CHECK_STR(got, want, what);
    } else {
        CHECK(st == CLAW_STATUS_INVALID_ARGUMENT && got == NULL && why,
              "%s refuses it, saying why (%s)", what, why ? why : "no reason");
    }
    claw_free(got);
    g_free(what);
    g_free(shown);
}

/* Indicators: one normaliser for files, the store and the detectors. */
static void
test_ioc_normalise(void)
{
    check_ioc("url", "HTTP://Bad.Example:80/a?B=1#F", "http://bad.example/a?B=1#F");
    check_ioc("url", "bad.example/pay", "http://bad.example/pay");
    check_ioc("url", "/relative", NULL);
    check_ioc("URL", "http://x.example/", "http://x.example/");
    check_ioc("host", "B%C3%BCcher.example.", "xn--bcher-kva.example");
    check_ioc("domain", "0x7f.1", "127.0.0.1");
    check_ioc("domain", "evil.example/path", NULL);
    check_ioc("ip", "192.0.2.7", "192.0.2.7");
    check_ioc("ip", "10.1.2.3/8", "10.0.0.0/8");
    check_ioc("ip", "10.1.2.3/32", "10.1.2.3");
    check_ioc("ip", "2001:DB8::1/32", "2001:db8::/32");
    check_ioc("ip", "2001:db8::1", "2001:db8::1");
    check_ioc("ip", "10.0.0.0/33", NULL);
    check_ioc("ip", "10.0.0.0/", NULL);
    check_ioc("ip", "10.0.0.0/-1", NULL);
    check_ioc("ip", "300.1.1.1", NULL);
    check_ioc("ip", "evil.example", NULL);
    check_ioc("sha256", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_ioc("sha256", "e3b0", NULL);
    check_ioc("sender", "CEO@Fraud.Example", "ceo@fraud.example");
    check_ioc("sender", "no-at-sign.example", NULL);
    check_ioc("sender", "a b@x.example", NULL);
    check_ioc("message-id", "<Abc.1@Mailer.example>", "abc.1@mailer.example");
    check_ioc("message-id", "abc.1@mailer.example", "abc.1@mailer.example");
    check_ioc("message-id", "<>", NULL);
    check_ioc("colour", "red", NULL);
    char *out = NULL;
    CHECK(claw_ioc_normalise(NULL, "x", &out, NULL) == CLAW_STATUS_INVALID_ARGUMENT && !out,
          "claw_ioc_normalise: NULL type is an invalid argument");
    size_t n = 0;
    for (const char *const *t = claw_ioc_types(); *t; t++)
        n++;
    CHECK(n == 7, "claw_ioc_types lists 7 types (%zu)", n);
}

/* The public normaliser that indicators and archive queries use. */
static void
test_normalise(void)
{
    check_normalise("http://b\xc3\xbc" "cher.example/x", "http://xn--bcher-kva.example/x");
    check_normalise("http://B\xc3\x9c" "CHER.example/x", "http://xn--bcher-kva.example/x");
    check_normalise("http://xn--bcher-kva.example/x", "http://xn--bcher-kva.example/x");
    check_normalise("http://EX%41MPLE.org/y", "http://example.org/y");
    check_normalise("http://%62%c3%bc" "cher.example/", "http://xn--bcher-kva.example/");
    check_normalise("HTTPS://Example.COM:443/Path?Q=1#F", "https://example.com/Path?Q=1#F");
    check_normalise("http://example.com:80", "http://example.com/");
    check_normalise("http://example.com:443/", "http://example.com:443/");
    check_normalise("ftp://files.example:21/a", "ftp://files.example/a");
    check_normalise("ws://chat.example:80/s", "ws://chat.example/s");
    check_normalise("https://example.com:8443/", "https://example.com:8443/");
    check_normalise("http://0x7f.1/", "http://127.0.0.1/");
    check_normalise("http://2130706433/", "http://127.0.0.1/");
    check_normalise("http://0177.0.0.01/", "http://127.0.0.1/");
    check_normalise("http://[2001:DB8:0::1]:443/", "http://[2001:db8::1]:443/");
    check_normalise("https://[2001:db8::1]:443/", "https://[2001:db8::1]/");
    check_normalise(" \thttp:\\\\evil.example\\a\n ", "http://evil.example/a");
    check_normalise("www.example.org/x", "http://www.example.org/x");
    check_normalise("http://user:pw@Example.org/", "http://example.org/");
    check_normalise("mailto:Boss@Example.COM", "mailto:Boss@Example.COM");
    check_normalise("javascript:alert(1)", "javascript:alert(1)");
    /* A host that decodes to a forbidden character stays as written (it
     * once became "http://x/", hiding evil.example). */
    check_normalise("http://x%00.evil.example/login", "http://x%00.evil.example/login");
    check_normalise("http://a%2fb.evil.example/", "http://a%2fb.evil.example/");

    static const char *const not_urls[] = {"", "   ", "/relative", "#top", "cid:part@x",
                                           "mid:m@x", "example.org/x"};
    for (size_t i = 0; i < G_N_ELEMENTS(not_urls); i++) {
        char *out = (char *)"unchanged";
        CHECK(claw_url_normalise(not_urls[i], strlen(not_urls[i]), &out) ==
                      CLAW_STATUS_INVALID_ARGUMENT && out == NULL,
              "claw_url_normalise(\"%s\"): not an absolute URL, *out NULL", not_urls[i]);
    }
    char *out = NULL;
    CHECK(claw_url_normalise(NULL, 3, &out) == CLAW_STATUS_INVALID_ARGUMENT &&
              claw_url_normalise("http://x/", 9, NULL) == CLAW_STATUS_INVALID_ARGUMENT,
          "claw_url_normalise: NULL in is an invalid argument");
    /* @len bounds the input: what follows is not read. */
    CHECK(claw_url_normalise("http://a.example/bXXXX", 18, &out) == CLAW_STATUS_SUCCESS &&
              out && strcmp(out, "http://a.example/b") == 0,
          "claw_url_normalise reads @len bytes (%s)", out ? out : "NULL");
    claw_free(out);

    /* Hostile input: an answer, never a crash. */
    static const struct {
        const char *raw;
        size_t len;
        const char *want;
    } hostile[] = {
        {"http://[", 8, "http://[/"},
        {"http://x.example:99999999999/", 29, "http://x.example/"},
        {"http://%/", 9, "http://%/"},
        /* A NUL ends the host name; in the path it becomes U+FFFD. */
        {"http://a\0b.example/\0x", 21, "http://a/\xef\xbf\xbdx"},
        {"http://\xff\xfe.example/\xff", 19,
         "http://\xef\xbf\xbd\xef\xbf\xbd.example/\xef\xbf\xbd"},
        {"http://@:/", 10, "http:///"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(hostile); i++) {
        char *shown = g_strescape(hostile[i].raw, NULL);
        out = NULL;
        CHECK(claw_url_normalise(hostile[i].raw, hostile[i].len, &out) == CLAW_STATUS_SUCCESS,
              "hostile URL \"%s\" is read", shown);
        CHECK_STR(out, hostile[i].want, "... as a browser would, in valid UTF-8");
        claw_free(out);
        g_free(shown);
    }
    GString *huge = g_string_new("http://long.example/");
    while (huge->len < 100000)
        g_string_append(huge, "aaaaaaaaaa");
    out = NULL;
    claw_status_t st = claw_url_normalise(huge->str, huge->len, &out);
    size_t got = out ? strlen(out) : 0;
    CHECK(st == CLAW_STATUS_SUCCESS && got == 2048,
          "a 100 kB URL is cut at 2048 bytes as the model cuts it (%zu)", got);
    claw_free(out);
    g_string_free(huge, TRUE);

    check_host("B%C3%BC" "cher.Example.", "xn--bcher-kva.example");
    check_host("b\xc3\xbc" "cher.example", "xn--bcher-kva.example");
    check_host("xn--bcher-kva.example", "xn--bcher-kva.example");
    check_host("EX%41MPLE.org", "example.org");
    check_host("0x7f.1", "127.0.0.1");
    check_host("3232235777", "192.168.1.1");
    check_host("[2001:DB8::1]", "2001:db8::1");
    check_host("2001:db8:0::1", "2001:db8::1");
    check_host("Under_Score.example", "under_score.example");
    check_host("", NULL);
    check_host("example.com:8080", NULL);
    check_host("http://example.com", NULL);
    check_host("example.com/x", NULL);
    check_host("user@example.com", NULL);
    CHECK(claw_host_normalise(NULL, 0, &out) == CLAW_STATUS_INVALID_ARGUMENT,
          "claw_host_normalise: NULL in is an invalid argument");
}

static void
test_html(void)
{
    claw_message_t *m = html(
        "<html><head><title>T</title><style>p{color:red}</style>"
        "<script>var s='<a href=\"http://script.example/\">';</script></head>"
        "<body><p>Caf&eacute; &amp; b&#228;r&#x21;&nbsp;x</p><!-- <a href=\"http://c.example\"> -->"
        "<a href='https://target.example/login'>https://www.mybank.example</a>"
        "<form action=\"https://collect.example/post\"><input type=password></form>"
        "<meta http-equiv=\"refresh\" content=\"0; url='https://meta.example/'\">"
        "<img src=\"https://img.example/p.gif\"><div>a<br>b</div></body></html>");
    CHECK(m->n_texts == 1, "one text part");
    if (m->n_texts == 1)
        CHECK_STR(m->texts[0].text, "T\nCaf\xc3\xa9 & b\xc3\xa4r! x\nhttps://www.mybank.example\na\nb",
                  "HTML rendered: entities, blocks, no script/style/comment");
    const claw_url_t *u = url_from(m, CLAW_URL_HTML_HREF);
    CHECK_STR(u ? u->link_text : NULL, "https://www.mybank.example", "visible link text");
    CHECK_STR(u ? u->url : NULL, "https://target.example/login", "link target");
    u = url_from(m, CLAW_URL_HTML_ACTION);
    CHECK_STR(u ? u->url : NULL, "https://collect.example/post", "form action");
    u = url_from(m, CLAW_URL_HTML_META);
    CHECK_STR(u ? u->url : NULL, "https://meta.example/", "meta refresh");
    u = url_from(m, CLAW_URL_HTML_SRC);
    CHECK_STR(u ? u->url : NULL, "https://img.example/p.gif", "img src");
    bool script = false;
    for (size_t i = 0; i < m->n_urls; i++)
        if (strstr(m->urls[i].url, "script.example") || strstr(m->urls[i].url, "c.example"))
            script = true;
    CHECK(!script, "no links from scripts or comments");
    claw_message_destroy(m);

    /* Unclosed everything: still terminates with the text. */
    m = html("<a href=\"http://x.example/\"><b>text <i>more<!-- never closed <script>x");
    CHECK(m->n_urls == 1 && m->urls[0].link_text &&
              strcmp(m->urls[0].link_text, "text more") == 0,
          "unclosed tags: link text up to the end");
    claw_message_destroy(m);

    /* The tag table is searched by bsearch: its first and last entries and
     * a few between must all be found. */
    m = html("<a href=\"http://first.example/\">one</a><address>two</address>"
             "<xmp>hidden <b>raw</b></xmp><table><tr><td>c1</td><th>c2</th></tr></table>"
             "<video src=\"http://last.example/v.mp4\"></video><ul><li>three</li></ul>");
    CHECK(m->n_texts == 1, "tag table: one text");
    if (m->n_texts == 1)
        CHECK_STR(m->texts[0].text, "one\ntwo\nc1 c2\nthree",
                  "tag table: a, address, xmp (raw), td/th, li");
    CHECK(url_from(m, CLAW_URL_HTML_HREF) && url_from(m, CLAW_URL_HTML_SRC),
          "tag table: a href and video src");
    claw_message_destroy(m);

    /* The entity table is sorted (bsearch depends on it): names from its
     * first, middle and last rows decode; every entry against an outside
     * decoder is tests/golden/html-entities.sh. */
    const char *names[] = {"AElig", "amp", "zwnj", "lsquo", "mdash", "euro", "nbsp", "period",
                           "CounterClockwiseContourIntegral", "NotEqualTilde"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        char in[48];
        g_snprintf(in, sizeof in, "&%s;", names[i]);
        GString *out = g_string_new(NULL);
        size_t used = _claw_html_entity(in, strlen(in), out, false);
        CHECK(used == strlen(in) && out->len > 0, "entity &%s; decodes", names[i]);
        g_string_free(out, TRUE);
    }
    /* HTML5's reading of a name without its ';': a legacy one (and the
     * longest legacy name a run begins with) in text; not in an attribute
     * when a letter, digit or '=' follows; a newer one never. */
    static const struct {
        const char *in;
        bool attr;
        const char *want;
        size_t used;
    } bare[] = {
        {"&amp x", false, "&", 4},       {"&copy2024", false, "\xc2\xa9", 5},
        {"&notit;", false, "\xc2\xac", 4}, {"&copy=2", true, "", 0},
        {"&copy 2", true, "\xc2\xa9", 5}, {"&period x", false, "", 0},
        {"&hellip", false, "", 0},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bare); i++) {
        GString *got = g_string_new(NULL);
        size_t used = _claw_html_entity(bare[i].in, strlen(bare[i].in), got, bare[i].attr);
        CHECK(used == bare[i].used && strcmp(got->str, bare[i].want) == 0,
              "'%s'%s: %zu bytes, '%s'", bare[i].in, bare[i].attr ? " in an attribute" : "",
              used, got->str);
        g_string_free(got, TRUE);
    }
    GString *out = g_string_new(NULL);
    _claw_html_entity("&#0;", 4, out, false);
    CHECK_STR(out->str, "\xef\xbf\xbd", "&#0; is U+FFFD");
    g_string_free(out, TRUE);
}

static void
test_addresses(void)
{
    claw_message_t *m = parse(
        "From: =?ISO-8859-1?Q?Andr=E9_Dupont?= <andre@B\xc3\xbc" "cher.example.de>\n"
        "Sender: <sender@mail.example.co.uk>\n"
        "Reply-To: \"Pay Dept\" <pay@xn--bcher-kva.example.de>\n"
        "Return-Path: <bounce@bounces.example.com>\n"
        "To: team: a@one.example, b@two.example;, c@three.example\n"
        "Cc: =?utf-8?b?w5xsZmVy?= <u@cc.example>\n"
        "Subject: hi\n\nbody\n");
    CHECK(m->n_addresses == 8, "eight addresses (group members count) (got %zu)", m->n_addresses);
    const claw_address_t *a = m->n_addresses > 0 ? &m->addresses[0] : NULL;
    CHECK(a && a->field == CLAW_FIELD_FROM, "first is From");
    CHECK_STR(a ? a->name : NULL, "Andr\xc3\xa9 Dupont", "RFC 2047 ISO-8859-1 name decoded");
    CHECK_STR(a ? a->domain.ascii : NULL, "xn--bcher-kva.example.de", "UTF-8 domain to A-label");
    CHECK_STR(a ? a->domain.unicode : NULL, "b\xc3\xbc" "cher.example.de",
              "lower-cased U-label");
    CHECK_STR(a ? a->domain.registrable : NULL, "example.de", "registrable domain");
    for (size_t i = 0; i < m->n_addresses; i++) {
        a = &m->addresses[i];
        if (a->field == CLAW_FIELD_SENDER)
            CHECK_STR(a->domain.registrable, "example.co.uk", "PSL: co.uk is a suffix");
        if (a->field == CLAW_FIELD_REPLY_TO)
            CHECK_STR(a->domain.unicode, "b\xc3\xbc" "cher.example.de",
                      "punycode domain to U-label");
        if (a->field == CLAW_FIELD_RETURN_PATH)
            CHECK_STR(a->address, "bounce@bounces.example.com", "Return-Path parsed");
        if (a->field == CLAW_FIELD_CC)
            CHECK_STR(a->name, "\xc3\x9c" "lfer", "RFC 2047 base64 UTF-8 name");
    }
    claw_message_destroy(m);

    m = parse("From: a@b.example\nReturn-Path: <>\n\nx\n");
    bool empty = false;
    for (size_t i = 0; i < m->n_addresses; i++)
        if (m->addresses[i].field == CLAW_FIELD_RETURN_PATH && !*m->addresses[i].address)
            empty = true;
    CHECK(empty, "Return-Path <> kept as an empty address");
    claw_message_destroy(m);
}

static void
test_auth(void)
{
    claw_message_t *m = parse(
        "Authentication-Results: mx.example.org 1; spf=pass (sender ok)\n"
        "  smtp.mailfrom=example.com; dkim=pass header.d=example.com header.s=s1;\n"
        "  dmarc=fail (p=reject) header.from=exarnple.com; arc=none\n"
        "Authentication-Results: other.example; none\n"
        "ARC-Authentication-Results: i=2; mx.google.com; dkim=pass header.i=@x.example\n"
        "Received-SPF: softfail (domain of x does not designate) client-ip=192.0.2.1;\n"
        "  envelope-from=\"a@x.example\"; helo=mail.x.example;\n"
        "DKIM-Signature: v=1; a=rsa-sha256; d=Example.COM; s=sel1;\n"
        "  h=from:to; bh=abc; b=def\n"
        "Received: from mail.x.example (mail.x.example [192.0.2.1])\n"
        "  by mx.example.org (Postfix) with ESMTPS id ABC\n"
        "  for <u@example.org>; Sun, 22 Nov 2026 10:00:00 +0000\n"
        "Received: from [198.51.100.7] (helo=laptop)\n"
        "  by relay.example.net with esmtpa (Exim 4.96) id 1x; Sun, 22 Nov 2026 09:59:00 +0000\n"
        "Received: from NAM.outlook.example (2603:10b6:a03:1::20) by\n"
        "  SN6.outlook.example (2603:10b6:805::5) with Microsoft SMTP Server;\n"
        "  Sun, 22 Nov 2026 09:58:00 +0000\n"
        "From: a@example.com\n\nx\n");
    CHECK(m->n_auth_results == 4, "four auth results (got %zu)", m->n_auth_results);
    if (m->n_auth_results == 4) {
        const claw_auth_result_t *r = &m->auth_results[0];
        CHECK_STR(r->authserv_id, "mx.example.org", "authserv-id without version");
        CHECK(r->n_methods == 4, "four methods (got %zu)", r->n_methods);
        if (r->n_methods == 4) {
            CHECK_STR(r->methods[0].method, "spf", "method");
            CHECK_STR(r->methods[0].result, "pass", "result");
            CHECK_STR(r->methods[0].properties, "smtp.mailfrom=example.com",
                      "properties without comment");
            CHECK_STR(r->methods[2].result, "fail", "dmarc result");
            CHECK_STR(r->methods[2].properties, "header.from=exarnple.com", "header.from");
        }
        CHECK(m->auth_results[1].n_methods == 0, "'none' has no methods");
        CHECK(m->auth_results[2].source == CLAW_AUTH_ARC_RESULTS &&
                  m->auth_results[2].instance == 2,
              "ARC instance 2");
        CHECK_STR(m->auth_results[2].authserv_id, "mx.google.com", "ARC authserv-id");
        CHECK(m->auth_results[3].source == CLAW_AUTH_RECEIVED_SPF &&
                  m->auth_results[3].n_methods == 1 &&
                  strcmp(m->auth_results[3].methods[0].result, "softfail") == 0,
              "Received-SPF softfail");
    }
    CHECK(m->n_dkim_signatures == 1, "one DKIM signature");
    if (m->n_dkim_signatures == 1) {
        CHECK_STR(m->dkim_signatures[0].domain, "example.com", "d= lower-cased");
        CHECK_STR(m->dkim_signatures[0].selector, "sel1", "s=");
    }
    CHECK(m->n_received == 3, "three Received hops (got %zu)", m->n_received);
    if (m->n_received == 3) {
        CHECK_STR(m->received[0].ip, "192.0.2.1", "Postfix hop IP");
        CHECK_STR(m->received[0].from, "mail.x.example", "Postfix HELO");
        CHECK_STR(m->received[0].by, "mx.example.org", "by");
        CHECK_STR(m->received[0].with, "ESMTPS", "with");
        CHECK(m->received[0].time == 1795341600, "hop time (got %" PRId64 ")",
              m->received[0].time);
        CHECK_STR(m->received[1].ip, "198.51.100.7", "Exim hop IP");
        CHECK_STR(m->received[1].from, "laptop", "Exim helo= in comment");
        CHECK_STR(m->received[2].ip, "2603:10b6:a03:1::20", "Microsoft IPv6 hop");
    }
    claw_message_destroy(m);
}

static void
test_anomalies(void)
{
    claw_message_t *m = parse("");
    CHECK(!m->is_message && claw_message_has_anomaly(m, CLAW_ANOM_EMPTY) &&
              claw_message_has_anomaly(m, CLAW_ANOM_NOT_A_MESSAGE),
          "empty input: EMPTY, NOT_A_MESSAGE");
    claw_message_destroy(m);

    m = parse("\x89PNG\r\n\x1a\n binary junk");
    CHECK(!m->is_message && claw_message_has_anomaly(m, CLAW_ANOM_NOT_A_MESSAGE),
          "binary: NOT_A_MESSAGE");
    claw_message_destroy(m);

    m = parse("From: a@b.example\nFrom: c@d.example\nSubject: x\nSubject: x\n\nbody\n");
    CHECK(claw_message_has_anomaly(m, CLAW_ANOM_CONFLICTING_HEADER),
          "two different From: CONFLICTING_HEADER");
    CHECK(claw_message_has_anomaly(m, CLAW_ANOM_DUPLICATE_HEADER),
          "two equal Subject: DUPLICATE_HEADER");
    claw_message_destroy(m);

    m = parse("From a@b Sat Jan  1 00:00:00 2000\nFrom: a@b.example\n\nx\n");
    CHECK(m->is_message && claw_message_has_anomaly(m, CLAW_ANOM_MBOX_FROM_LINE),
          "mbox From_ line skipped and noted");
    claw_message_destroy(m);

    m = parse("\xef\xbb\xbf   \nFrom: a@b.example\n\nx\n");
    CHECK(m->is_message && claw_message_has_anomaly(m, CLAW_ANOM_LEADING_JUNK),
          "BOM and blank line skipped and noted");
    claw_message_destroy(m);

    m = parse("Subject   : obsolete syntax\nFrom: a@b.example\n\nx\n");
    CHECK(m->is_message, "white space before the colon is still a header");
    claw_message_destroy(m);

    m = parse("From: a@b.example\nContent-Type: text/plain; charset=x-no-such\n\nabc\n");
    CHECK(claw_message_has_anomaly(m, CLAW_ANOM_CHARSET_UNKNOWN), "unknown charset noted");
    CHECK(m->n_texts == 1 && strcmp(m->texts[0].text, "abc\n") == 0, "text still read");
    claw_message_destroy(m);

    m = parse("From: a@b.example\nContent-Type: text/plain; charset=utf-8\n\ncaf\xe9\n");
    CHECK(claw_message_has_anomaly(m, CLAW_ANOM_INVALID_UTF8), "invalid UTF-8 noted");
    CHECK(m->n_texts == 1 && strcmp(m->texts[0].text, "caf\xc3\xa9\n") == 0,
          "invalid UTF-8 read as Windows-1252");
    claw_message_destroy(m);

    m = parse("From: a@b.example\nContent-Type: text/plain; charset=iso-2022-jp\n"
              "\n\x1b$B$3$s$K$A$O\x1b(B\n");
    CHECK(m->n_texts == 1 && strcmp(m->texts[0].text,
                                    "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\n") == 0,
          "ISO-2022-JP converted to UTF-8");
    claw_message_destroy(m);

    /* GMime reads the header block without the plain trace fields; what it
     * reports must not change. A malformed line after a leading Received is
     * skipped, as GMime skips it when a field precedes it. */
    m = parse("Received: by mx.example with SMTP id 1\n\tfor <a@b.example>; Mon, 27 Apr 2020 09:54:21 -0700\n"
              "From\n : <any@attack.example>\nFrom: <admin@legit.example>\nSubject: x\n\nbody\n");
    CHECK(m->is_message && claw_message_has_anomaly(m, CLAW_ANOM_GMIME_INVALID_HEADER_NAME) &&
              m->n_received == 1,
          "malformed line after a trace field: still a message, warned, Received kept");
    claw_message_destroy(m);

    /* Warning offsets are offsets in the message, not in GMime's copy. */
    const char *offs = "Received: from a (a [192.0.2.1]) by b; Mon, 2 Nov 2026 10:00:00 +0000\n"
                       "X-Filler: 1\nX-Filler: 2\nFrom: a@b.example\nX-Filler: 3\n"
                       "Content-Type: text\n\nbody\n";
    m = parse(offs);
    char *want = g_strdup_printf("at byte %d: text", (int)(strstr(offs, "Content-Type") - offs));
    bool found = false;
    for (size_t i = 0; i < m->n_anomalies; i++)
        if (m->anomalies[i].code == CLAW_ANOM_GMIME_INVALID_CONTENT_TYPE)
            found = strcmp(m->anomalies[i].detail, want) == 0;
    CHECK(found, "GMime warning offset maps back to the message (%s)", want);
    g_free(want);
    claw_message_destroy(m);

    /* Raw 8-bit Latin-1 in a trace field reads as GMime reads any header. */
    m = parse("Received: from produ\xe7\xe3o_drops by mx.example with ASMTP;\n"
              " Fri, 13 Apr 2007 13:12:64 -0400\nFrom: a@b.example\n\nx\n");
    CHECK(m->n_received == 1 && m->received[0].from &&
              strcmp(m->received[0].from, "produ\xc3\xa7\xc3\xa3o_drops") == 0,
          "8-bit Received text converted like GMime's header values");
    claw_message_destroy(m);

    for (int c = 0; c < CLAW_ANOM_LAST; c++)
        if (strcmp(claw_anomaly_code_to_string((claw_anomaly_code_t)c), "UNKNOWN") == 0)
            CHECK(false, "anomaly code %d has a name", c);
    CHECK(strcmp(claw_anomaly_code_to_string(CLAW_ANOM_LAST), "UNKNOWN") == 0,
          "out-of-range anomaly code is UNKNOWN");
    CHECK(claw_anomaly_code_is_limit(CLAW_ANOM_LIMIT_TIME) &&
              !claw_anomaly_code_is_limit(CLAW_ANOM_BARE_CR),
          "limit codes are limits");
}

static void
test_limits(void)
{
    claw_config_t *cfg;
    claw_engine_t *small;
    claw_config_new(&cfg);
    claw_config_set(cfg, "limits", "max_urls", "3", NULL);
    claw_config_set(cfg, "limits", "max_parts", "4", NULL);
    claw_config_set(cfg, "limits", "max_text_bytes", "1k", NULL);
    CHECK(claw_engine_new(cfg, &small, NULL) == CLAW_STATUS_SUCCESS, "engine with small limits");
    claw_config_destroy(cfg);

    GString *s = g_string_new("From: a@b.example\n\n");
    for (int i = 0; i < 10; i++)
        g_string_append_printf(s, "http://h%d.example/\n", i);
    claw_message_t *m;
    claw_message_parse(small, s->str, s->len, &m);
    CHECK(m->n_urls == 3 && m->unscannable &&
              claw_message_has_anomaly(m, CLAW_ANOM_LIMIT_URLS),
          "URL limit: 3 kept, LIMIT_URLS, unscannable");
    claw_message_destroy(m);

    g_string_assign(s, "From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n");
    for (int i = 0; i < 6; i++)
        g_string_append_printf(s, "--b\nContent-Type: text/plain\n\npart %d\n", i);
    g_string_append(s, "--b--\n");
    claw_message_parse(small, s->str, s->len, &m);
    CHECK(m->n_parts == 4 && claw_message_has_anomaly(m, CLAW_ANOM_LIMIT_PARTS),
          "part limit: 4 walked, LIMIT_PARTS (walked %u)", m->n_parts);
    claw_message_destroy(m);

    g_string_assign(s, "From: a@b.example\n\n");
    for (int i = 0; i < 300; i++)
        g_string_append(s, "caf\xc3\xa9 ");
    claw_message_parse(small, s->str, s->len, &m);
    CHECK(claw_message_has_anomaly(m, CLAW_ANOM_LIMIT_TEXT_BYTES) && m->n_texts == 1 &&
              m->texts[0].length <= 1024 && g_utf8_validate(m->texts[0].text, -1, NULL),
          "text limit cuts on a character boundary");
    claw_message_destroy(m);
    g_string_free(s, TRUE);
    claw_engine_destroy(small);
}

static void
test_escaping(void)
{
    GString *o = g_string_new(NULL);
    _claw_json_string(o, "a\"b\\c\nd\re\x01\x7f\xe2\x80\xa8z\xe2\x80\xae\xc2\x85");
    CHECK_STR(o->str, "\"a\\\"b\\\\c\\nd\\re\\u0001\\u007f\\u2028z\\u202e\\u0085\"",
              "JSON string escaping");
    g_string_assign(o, "");
    _claw_escape_line(o, "a\nb\r\x1b[31m\xc2\x85\xe2\x80\xa9x\xe2\x80\xaey\xe2\x81\xa6\xc3\xa9");
    CHECK_STR(o->str, "a\\nb\\r\\x1b[31m\\u0085\\u2029x\\u202ey\\u2066\xc3\xa9",
              "line escaping: controls, separators, bidi; other UTF-8 kept");
    g_string_free(o, TRUE);
    char *q = claw_json_quote("a\"b\n\xe2\x80\xae\xc3\xa9");
    CHECK_STR(q, "\"a\\\"b\\n\\u202e\xc3\xa9\"", "claw_json_quote: the same escaper, quoted");
    free(q);
    /* Bytes that are not UTF-8 (a lone 0xff, a cut sequence, an overlong
     * '/', a surrogate) must not reach JSON raw; good characters stay. */
    q = claw_json_quote("\xff|\xc3(|\xc0\xaf|\xed\xa0\x80|\xe2\x82\xac|\xc3");
    CHECK_STR(q, "\"\\ufffd|\\ufffd(|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\xe2\x82\xac|\\ufffd\"",
              "claw_json_quote: bytes that are not UTF-8 become U+FFFD");
    g_free(q);
    q = claw_json_quote(NULL);
    CHECK_STR(q, "null", "claw_json_quote(NULL) is null");
    free(q);

    claw_message_t *m = parse("From: a@b.example\nSubject: =?utf-8?q?x=0D=0AFrom:_evil?=\n\nb\n");
    char *json = NULL, *text = NULL;
    claw_message_to_json(m, NULL, "name\nwith newline", &json);
    claw_message_to_text(m, NULL, NULL, &text);
    CHECK(json && !strchr(json, '\n') && !strchr(json, '\r'), "JSON is one line");
    int lines = 0;
    bool injected = false;
    for (char *p = text; p && *p; p++)
        if (*p == '\n') {
            lines++;
            if (strncmp(p + 1, "From:", 5) == 0)
                injected = true;
        }
    CHECK(!injected && !strchr(text, '\r'), "summary: subject cannot start a line");
    CHECK(claw_message_has_anomaly(m, CLAW_ANOM_HEADER_CONTROL_CHARS),
          "HEADER_CONTROL_CHARS noted");
    free(json);
    free(text);
    claw_message_destroy(m);
}

/* Loading @text from @path fails with "@path@want..." and no configuration. */
static void
check_config_error(const char *path, const char *text, const char *want)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    claw_config_t *c = NULL;
    char *err = NULL;
    claw_status_t st = claw_config_load(path, &c, &err);
    char *located = g_strconcat(path, want, NULL);
    CHECK(st == CLAW_STATUS_CONFIG_ERROR && c == NULL && err &&
              strncmp(err, located, strlen(located)) == 0,
          "config error '%s'", want);
    if (err && strncmp(err, located, strlen(located)) != 0)
        printf("#   got '%s'\n", err);
    g_free(located);
    free(err);
    claw_config_destroy(c);
}

static void
test_config(void)
{
    char path[] = "/tmp/claw-unit-XXXXXX";
    int fd = mkstemp(path);
    const char *good = "# comment\n[limits]\nmax_time = 3s\nmax_decoded_bytes = 10m\n"
                       "[log]\nlevel = debug\n";
    if (write(fd, good, strlen(good)) < 0)
        abort();
    close(fd);
    claw_config_t *c = NULL;
    char *err = NULL;
    CHECK(claw_config_load(path, &c, &err) == CLAW_STATUS_SUCCESS, "good config loads");
    if (c) {
        CHECK(c->limits.max_time_ms == 3000, "3s is 3000 ms");
        CHECK(c->limits.max_decoded_bytes == 10 * 1024 * 1024, "10m is 10 MiB");
        CHECK_STR(claw_config_get(c, "log", "level"), "debug", "get returns the text");
        CHECK_STR(claw_config_get(c, "limits", "max_parts"), "1000", "defaults kept");
        CHECK(claw_config_get(c, "limits", "nope") == NULL, "unknown option gets NULL");
    }
    claw_config_destroy(c);

    struct {
        const char *text, *want;
    } bad[] = {
        {"[limits]\nmax_parts = many\n", ":2: max_parts: expected a number, got 'many'"},
        {"[limits]\nmax_parts = 0\n", ":2: max_parts: 0 is outside 1..1000000"},
        {"\n\n[nope]\n", ":3: unknown section [nope]"},
        {"[limits]\nfoo = 1\n", ":2: unknown option 'foo' in section [limits]"},
        {"max_parts = 1\n", ":1: option 'max_parts' before any [section]"},
        {"[log]\nlevel = loud\n", ":2: level: 'loud' is not one of"},
        {"[limits]\njunk\n", ":2: expected 'name = value'"},
        {"[limits]\nmax_parts = 1\nmax_parts = 2\n", ":3: option 'max_parts' in section "
                                                      "[limits] set twice"},
        {"[limits]\nmax_time = 5 minutes\n", ":2: max_time: expected a duration"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        check_config_error(path, bad[i].text, bad[i].want);
    unlink(path);
    err = NULL;
    CHECK(claw_config_load("/nonexistent/claw.conf", &c, &err) == CLAW_STATUS_IO_ERROR && err &&
              strstr(err, "No such file"),
          "missing file is an I/O error naming the file");
    free(err);
    claw_config_destroy(NULL);
    claw_engine_destroy(NULL);
    claw_message_destroy(NULL);
    CHECK(true, "destroy(NULL) is harmless");
}

/* Write @text to a new temporary file named in @path (a mkstemp template). */
static void
write_temp(char *path, const char *text)
{
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
}

/* Typed getters hand out what the table parsed: units applied once, never
 * the text read back (issue 19: commit_delay = 1s reached the archive as
 * 1 ms, max_message_bytes = 64M reached clawd as 64 bytes). */
static void
test_config_typed(void)
{
    char path[] = "/tmp/claw-unit-typed-XXXXXX";
    write_temp(path, "[limits]\nmax_message_bytes = 64M\nmax_time = 2S\n"
                     "[archive]\ncommit_delay = 1s\nmap_size = 2GB\npositions = yes\n"
                     "index_headers = List-Id, X-Mailer\n"
                     "[clawd]\nallow = 10.0.0.0/8, 2001:db8::/32 192.0.2.7\n"
                     "listen = 127.0.0.1:2424 [::1]:2525\nmax_sessions = 12\n"
                     "[mta]\ndeadline = 1m\n");
    claw_config_t *c = NULL;
    char *err = NULL;
    CHECK(claw_config_load(path, &c, &err) == CLAW_STATUS_SUCCESS, "typed: loads (%s)",
          err ? err : "");
    free(err);
    if (!c)
        goto out;
    int64_t n = 0;
    uint64_t bytes = 0;
    int yes = 0;
    CHECK(claw_config_get_duration_ms(c, "archive", "commit_delay", &n) == 0 && n == 1000,
          "commit_delay = 1s is 1000 ms (got %" PRId64 ")", n);
    CHECK_STR(claw_config_get(c, "archive", "commit_delay"), "1s",
              "commit_delay's text stays as written");
    CHECK(claw_config_get_size(c, "limits", "max_message_bytes", &bytes) == 0 &&
              bytes == 64ull * 1024 * 1024,
          "max_message_bytes = 64M is 67108864 bytes (got %" PRIu64 ")", bytes);
    CHECK(claw_config_get_size(c, "archive", "map_size", &bytes) == 0 &&
              bytes == 2ull * 1024 * 1024 * 1024,
          "map_size = 2GB is 2 GiB");
    CHECK(claw_config_get_duration_ms(c, "limits", "max_time", &n) == 0 && n == 2000,
          "max_time = 2S is 2000 ms");
    CHECK(claw_config_get_duration_ms(c, "mta", "deadline", &n) == 0 && n == 60000,
          "[mta] deadline = 1m is 60000 ms");
    CHECK(claw_config_get_int(c, "clawd", "max_sessions", &n) == 0 && n == 12,
          "max_sessions = 12");
    CHECK(claw_config_get_bool(c, "archive", "positions", &yes) == 0 && yes == 1,
          "positions = yes is true");
    const char *const *words = NULL;
    size_t count = 0;
    CHECK(claw_config_get_list(c, "archive", "index_headers", &words, &count) == 0 &&
              count == 2 && !strcmp(words[0], "List-Id") && !strcmp(words[1], "X-Mailer") &&
              words[2] == NULL,
          "a list is split at commas and spaces, NULL-terminated");
    CHECK(claw_config_get_list(c, "clawd", "listen", &words, &count) == 0 && count == 2 &&
              !strcmp(words[1], "[::1]:2525"),
          "listen is a list of addresses");
    const claw_cidr_t *nets = NULL;
    CHECK(claw_config_get_cidrs(c, "clawd", "allow", &nets, &count) == 0 && count == 3 &&
              nets[0].bits == 8 && nets[1].bits == 32 && nets[2].bits == 32,
          "allow: three networks with their prefixes");
    if (count == 3) {
        CHECK(claw_cidr_contains_text(&nets[0], "10.200.1.1") &&
                  !claw_cidr_contains_text(&nets[0], "11.0.0.1") &&
                  claw_cidr_contains_text(&nets[1], "2001:db8:ff::1") &&
                  !claw_cidr_contains_text(&nets[1], "2001:db9::1") &&
                  claw_cidr_contains_text(&nets[2], "192.0.2.7") &&
                  !claw_cidr_contains_text(&nets[2], "192.0.2.8"),
              "networks contain what they should and nothing else");
        CHECK(claw_cidr_contains_text(&nets[0], "::ffff:10.1.2.3"),
              "an IPv4-mapped IPv6 address is its IPv4 address");
    }
    /* Wrong type, unknown option, NULL: INVALID_ARGUMENT, output untouched. */
    n = 42;
    CHECK(claw_config_get_int(c, "archive", "commit_delay", &n) == CLAW_STATUS_INVALID_ARGUMENT &&
              n == 42,
          "a getter of the wrong type is INVALID_ARGUMENT");
    CHECK(claw_config_get_int(c, "archive", "nope", &n) == CLAW_STATUS_INVALID_ARGUMENT &&
              claw_config_get_int(NULL, "archive", "threads", &n) ==
                  CLAW_STATUS_INVALID_ARGUMENT &&
              claw_config_get_int(c, "archive", "threads", NULL) ==
                  CLAW_STATUS_INVALID_ARGUMENT,
          "unknown option or NULL is INVALID_ARGUMENT");
    CHECK(claw_config_get_bool(c, "log", "sink", &yes) == CLAW_STATUS_INVALID_ARGUMENT,
          "an enum that is not yes|no is no bool");
    claw_config_destroy(c);

    /* Bad units and networks say where. */
    struct {
        const char *text, *want;
    } bad[] = {
        {"[limits]\nmax_message_bytes = 64Q\n", ":2: max_message_bytes: expected a size"},
        {"[archive]\ncommit_delay = 1sec\n", ":2: commit_delay: expected a duration"},
        {"[archive]\ncommit_delay = 2s\n", ":2: commit_delay: 2000 is outside 0..1000"},
        {"[clawd]\nallow = 10.0.0.0/8 10.0.0.0/\n", ":2: allow: '10.0.0.0/' is not an address"},
        {"[clawd]\nallow = 10.0.0.0/+8\n", ":2: allow: '10.0.0.0/+8' is not"},
        {"[policy]\ninternal_relays = ::1/129\n", ":2: internal_relays: '::1/129' is not"},
        {"[clawd]\nlisten = 127.0.0.1:99999\n", ":2: listen: '127.0.0.1:99999' is not"},
        {"[clawd]\nlisten = localhost:25\n", ":2: listen: 'localhost:25' is not"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        check_config_error(path, bad[i].text, bad[i].want);

    /* The Exim plugin's reading: [mta] through the same table, the other
     * sections (the scanner's to check) skipped unread. */
    FILE *f = fopen(path, "w");
    fputs("[weights]\nNO_SUCH_RULE = 1\n[mta]\ndeadline = 2s\non_failure = accept\n"
          "[elsewhere]\nanything at all\n",
          f);
    fclose(f);
    err = NULL;
    CHECK(_claw_config_load_section(path, "mta", &c, &err) == CLAW_STATUS_SUCCESS,
          "[mta] alone loads whatever the other sections hold (%s)", err ? err : "");
    free(err);
    n = 0;
    CHECK(c && claw_config_get_duration_ms(c, "mta", "deadline", &n) == 0 && n == 2000 &&
              !strcmp(claw_config_get(c, "mta", "on_failure"), "accept"),
          "[mta] deadline = 2s is 2000 ms for the Exim plugin (got %" PRId64 ")", n);
    claw_config_destroy(c);
    f = fopen(path, "w");
    fputs("[mta]\n\ndeadline = 2 seconds\n", f);
    fclose(f);
    err = NULL;
    char *want = g_strconcat(path, ":3: deadline: expected a duration", NULL);
    CHECK(_claw_config_load_section(path, "mta", &c, &err) == CLAW_STATUS_CONFIG_ERROR && err &&
              strncmp(err, want, strlen(want)) == 0,
          "a bad [mta] value is file:line for the plugin, not silently the default");
    g_free(want);
    free(err);
    claw_config_destroy(c);
    f = fopen(path, "w");
    fputs("[mta]\ndeadline = 5\non_failure = accept\n", f);
    fclose(f);
    err = NULL;
    c = NULL;
    CHECK(_claw_config_load_section(path, "mta", &c, &err) == CLAW_STATUS_CONFIG_ERROR && err &&
              strstr(err, ":2: deadline") && c &&
              !strcmp(claw_config_get(c, "mta", "on_failure"), "accept"),
          "a bad [mta] line is reported and the other lines still hold (on_failure = accept "
          "after a bad deadline)");
    free(err);
    claw_config_destroy(c);

    /* Networks and listening addresses outside a configuration. */
    claw_cidr_t one;
    struct sockaddr_storage sa;
    size_t len = 0;
    CHECK(claw_cidr_parse("0.0.0.0/0", &one) == 0 && claw_cidr_contains_text(&one, "8.8.8.8") &&
              !claw_cidr_contains_text(&one, "::1"),
          "0.0.0.0/0 holds every IPv4 address and no IPv6 one");
    CHECK(claw_cidr_parse("", &one) && claw_cidr_parse("10.0.0.0/ 8", &one) &&
              claw_cidr_parse(NULL, &one) && claw_cidr_parse("10.0.0.256", &one),
          "not networks: empty, spaces, NULL, a bad address");
    CHECK(claw_endpoint_parse("[::1]:2424", &sa, &len) == 0 && sa.ss_family == AF_INET6 &&
              claw_endpoint_parse("127.0.0.1:0", &sa, &len) == 0 && sa.ss_family == AF_INET &&
              claw_endpoint_parse("::1:25", &sa, &len) == 0 && sa.ss_family == AF_INET6 &&
              ntohs(((struct sockaddr_in6 *)&sa)->sin6_port) == 25 &&
              claw_endpoint_parse("1.2.3.4:", &sa, &len) && claw_endpoint_parse("[1.2.3.4]:25", &sa, &len),
          "endpoints: [v6]:port, v4:port and a bare v6 with the port after its last colon (as "
          "clawd took it before); a missing port, or v4 in brackets, is not one");
out:
    unlink(path);
}

/* The facility claw_log_configure() opens syslog with: libclaw's call to
 * openlog(3) lands here in this program, so the test sees the argument. */
static int opened_facility = -1;

void
openlog(const char *ident, int option, int facility)
{
    (void)ident, (void)option;
    opened_facility = facility;
}

static void
test_log_configure(void)
{
    claw_config_t *c = NULL;
    claw_config_new(&c);
    claw_config_set(c, "log", "sink", "syslog", NULL);
    claw_config_set(c, "log", "facility", "local3", NULL);
    claw_config_set(c, "log", "level", "debug", NULL);
    claw_log_configure(c, "unit", CLAW_LOG_AS_CONFIGURED);
    CHECK(opened_facility == LOG_LOCAL3, "[log] facility = local3 reaches openlog (got %d)",
          opened_facility);
    CHECK(claw_log_get_level() == CLAW_LOG_DEBUG, "[log] level = debug applied");
    opened_facility = -1;
    claw_log_configure(c, "unit", CLAW_LOG_FORCE_STDERR);
    CHECK(opened_facility == -1, "force_stderr keeps syslog closed");
    claw_log_configure(NULL, NULL, CLAW_LOG_AS_CONFIGURED);
    CHECK(claw_log_get_level() == CLAW_LOG_NOTICE && opened_facility == -1,
          "NULL applies the defaults (notice, stderr)");
    claw_config_destroy(c);
}

static void
test_status(void)
{
    for (int s = 0; s < CLAW_STATUS_LAST_STATUS; s++)
        CHECK(strcmp(claw_status_to_string((claw_status_t)s), "unknown status") != 0,
              "status %d has a description", s);
    CHECK(strcmp(claw_status_to_string(CLAW_STATUS_LAST_STATUS), "unknown status") == 0,
          "unknown status string");
    claw_message_t *m = NULL;
    CHECK(claw_message_parse(NULL, "x", 1, &m) == CLAW_STATUS_INVALID_ARGUMENT,
          "NULL engine is INVALID_ARGUMENT");
    CHECK(claw_message_parse(engine, NULL, 1, &m) == CLAW_STATUS_INVALID_ARGUMENT,
          "NULL data with a length is INVALID_ARGUMENT");
}

static void
log_sink(void *ctx, claw_log_level_t level, const char *id, const char *line)
{
    GString *out = ctx;
    g_string_append_printf(out, "%d|%s|%s\n", level, id ? id : "-", line);
}

static void
test_log(void)
{
    GString *out = g_string_new(NULL);
    claw_log_set_sink(log_sink, out);
    claw_log_set_level(CLAW_LOG_INFO);
    claw_log(CLAW_LOG_DEBUG, NULL, "dropped %d", 1);
    claw_log(CLAW_LOG_WARNING, "ID1", "line with\nnewline %s", "and\rcr");
    CHECK_STR(out->str, "1|ID1|line with\\nnewline and\\rcr\n",
              "log: level filter, id, escaped newlines");
    claw_log_set_sink(NULL, NULL);
    claw_log_set_level(CLAW_LOG_NOTICE);
    claw_log_level_t l;
    CHECK(claw_log_level_from_string("DEBUG", &l) == CLAW_STATUS_SUCCESS && l == CLAW_LOG_DEBUG,
          "level names parse");
    CHECK(claw_log_level_from_string("loud", &l) == CLAW_STATUS_INVALID_ARGUMENT,
          "bad level name rejected");
    g_string_free(out, TRUE);
}


/* ------------------------------------------------------------------------
 * Classification
 * --------------------------------------------------------------------- */

static claw_engine_t *policy_engine;
static char ioc_path[] = "/tmp/claw-unit-ioc-XXXXXX";

/* Does claw_scan_fields() with @fields make @rule fire on @text (under
 * policy_engine)? -1 if it fails. */
static int
fields_fire(const char *text, const char *const *fields, const char *rule)
{
    claw_verdict_t *v = NULL;
    if (claw_scan_fields(policy_engine, text, strlen(text), fields, 0, &v) != CLAW_STATUS_SUCCESS)
        return -1;
    int r = claw_verdict_has_rule(v, rule);
    claw_verdict_destroy(v);
    return r;
}

/* The envelope as strings (the rspamd module's and claw-scanner's way)
 * means what the same envelope as a struct means. */
static void
test_scan_fields(void)
{
    const char *sender = "From: a@b.example\n\nx\n";
    const char *ip[] = {"client_ip", "198.51.100.66", NULL};
    const char *ip_rcpt[] = {"rcpt", "x@y.example", "client_ip", "198.51.100.66",
                             "mail_from", "", "rcpt", "z@y.example", NULL};
    const char *other[] = {"client_ip", "192.0.2.1", "helo", "mx.example", NULL};
    CHECK(fields_fire(sender, ip, "SENDER_IOC") == 1 && fields_fire(sender, ip_rcpt, "SENDER_IOC") == 1 &&
              fields_fire(sender, other, "SENDER_IOC") == 0 &&
              fields_fire(sender, NULL, "SENDER_IOC") == 0,
          "claw_scan_fields: client_ip reaches the indicators, as claw_envelope_t's does");
    const char *spoof = "From: Boss <boss@corp.example>\nReceived: from x (x [198.51.100.9]) by mx; "
                        "Mon, 2 Nov 2026 10:00:00 +0000\n\nx\n";
    const char *dmarc[] = {"dmarc", "pass", NULL};
    const char *empty_dmarc[] = {"dmarc", "", NULL};
    CHECK(fields_fire(spoof, NULL, "SPOOF_PROTECTED_DOMAIN") == 1 &&
              fields_fire(spoof, dmarc, "SPOOF_PROTECTED_DOMAIN") == 0 &&
              fields_fire(spoof, empty_dmarc, "SPOOF_PROTECTED_DOMAIN") == 1,
          "claw_scan_fields: dmarc=pass clears a spoof; an empty value is no value");
    const char *unknown[] = {"client_ipv6", "::1", NULL};
    const char *twice[] = {"helo", "a", "helo", "b", NULL};
    const char *odd[] = {"helo", NULL};
    claw_verdict_t *v = (claw_verdict_t *)1;
    CHECK(claw_scan_fields(policy_engine, sender, strlen(sender), unknown, 0, &v) ==
                  CLAW_STATUS_INVALID_ARGUMENT && !v &&
              claw_scan_fields(policy_engine, sender, strlen(sender), twice, 0, &v) ==
                  CLAW_STATUS_INVALID_ARGUMENT &&
              claw_scan_fields(policy_engine, sender, strlen(sender), odd, 0, &v) ==
                  CLAW_STATUS_INVALID_ARGUMENT &&
              claw_scan_fields(policy_engine, sender, strlen(sender), NULL, 0x80, &v) ==
                  CLAW_STATUS_INVALID_ARGUMENT &&
              claw_scan_fields(policy_engine, sender, strlen(sender), NULL, 0, NULL) ==
                  CLAW_STATUS_INVALID_ARGUMENT,
          "claw_scan_fields: an unknown or repeated name, a name without a value, unknown "
          "flags and a NULL verdict are refused");
}

static claw_verdict_t *
judge(const char *text, const claw_envelope_t *env, claw_message_t **mp)
{
    claw_message_t *m = NULL;
    claw_verdict_t *v = NULL;
    if (claw_message_parse(policy_engine, text, strlen(text), &m) ||
        claw_classify(policy_engine, m, env, &v))
        abort();
    *mp = m;
    return v;
}

/* Does @text (with envelope @env) make @rule fire? */
static bool
fires(const char *text, const claw_envelope_t *env, const char *rule)
{
    claw_message_t *m;
    claw_verdict_t *v = judge(text, env, &m);
    bool r = claw_verdict_has_rule(v, rule);
    claw_verdict_destroy(v);
    claw_message_destroy(m);
    return r;
}

/* One row of a table of cases: the message @head @value @tail, whether
 * @rule must fire on it, and the check's name "@label VALUE: flagged|quiet". */
typedef struct {
    const char *value;
    bool fires;
} rule_case_t;

static void
check_cases(const char *rule, const char *label, const char *head, const char *tail,
            const rule_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *msg = g_strconcat(head, cases[i].value, tail, NULL);
        char *shown = g_strescape(cases[i].value, NULL);
        CHECK(fires(msg, NULL, rule) == cases[i].fires, "%s %s: %s", label, shown,
              cases[i].fires ? "flagged" : "quiet");
        g_free(shown);
        g_free(msg);
    }
}

#define MSG(headers, body) "From: Boss <ceo@corp.example>\nTo: a@corp.example\n" headers \
    "Subject: t\n\n" body "\n"

static void
test_classify(void)
{
    int fd = mkstemp(ioc_path);
    const char *iocs = "# indicators\nurl: https://Bad.Example/Login\nhost: evil-host.example\n"
                       "domain: evil-domain.example\nsender: crook@fraud.example\n"
                       "sha256: 9b8db510ef42b8ed54a3712636fda55a4f8cfcd5493e20b74ab00cd4f3979f2d\n"
                       "ip: 198.51.100.66\n"
                       /* Spellings a browser reads as plain ones (issue 19). */
                       "url: http://b\xc3\xbc" "cher.example/x\nurl: http://EX%41MPLE.org/y\n"
                       "url: https://port.example:443/p\n"
                       "host: m\xc3\xbcnchen-host.example\nhost: HOST%2Dpct.example\n"
                       "host: 0xC0.0x00.0x02.0x01\ndomain: ZÜRICH-dom.example\n";
    if (write(fd, iocs, strlen(iocs)) < 0)
        abort();
    close(fd);
    claw_config_t *cfg;
    claw_config_new(&cfg);
    claw_config_set(cfg, "policy", "protected_domains", "corp.example", NULL);
    claw_config_set(cfg, "policy", "trusted_authserv_ids", "mx.corp.example", NULL);
    claw_config_set(cfg, "policy", "internal_relays", "10.0.0.0/8, 2001:db8::/32", NULL);
    claw_config_set(cfg, "ioc", "files", ioc_path, NULL);
    /* No DNS from the unit tests: DMARC has its stub in tests/mta/dmarc.sh. */
    claw_config_set(cfg, "dmarc", "evaluate", "no", NULL);
    char *err = NULL;
    CHECK(claw_engine_new(cfg, &policy_engine, &err) == CLAW_STATUS_SUCCESS,
          "engine with policy and indicators (%s)", err ? err : "ok");
    claw_config_destroy(cfg);

    /* SPOOF_PROTECTED_DOMAIN */
    CHECK(fires(MSG("", "pay now"), NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: protected From without authentication");
    CHECK(!fires(MSG("Authentication-Results: mx.corp.example; dmarc=pass header.from=corp.example\n",
                     "x"), NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: trusted DMARC pass clears it");
    CHECK(fires(MSG("Authentication-Results: evil.example; dmarc=pass header.from=corp.example\n",
                    "x"), NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: an untrusted authserv-id is not believed");
    CHECK(!fires(MSG("Authentication-Results: mx.corp.example; dkim=pass header.d=mail.corp.example\n",
                     "x"), NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: aligned DKIM pass (relaxed) clears it");
    CHECK(fires(MSG("Authentication-Results: mx.corp.example; dkim=pass header.d=other.example\n",
                    "x"), NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: DKIM pass for another domain is not alignment");
    CHECK(fires("From: hr@mail.corp.example\n\nx\n", NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: subdomains of a protected domain are protected");
    CHECK(!fires("From: hr@mail.corp.example\nAuthentication-Results: mx.corp.example; "
                 "dmarc=pass\n\nx\n", NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: a legitimate, authenticated subdomain is quiet");
    CHECK(!fires(MSG("Received: from build (build [10.1.2.3]) by mx; Mon, 2 Nov 2026 10:00:00 +0000\n",
                     "x"), NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: mail only through internal relays is ours");
    CHECK(fires(MSG("Received: from x (x [198.51.100.9]) by mx; Mon, 2 Nov 2026 10:00:00 +0000\n"
                    "Received: from build (build [10.1.2.3]) by x; Mon, 2 Nov 2026 10:00:00 +0000\n",
                    "x"), NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: one outside hop makes it external");
    claw_envelope_t env = {.dmarc = "pass"};
    CHECK(!fires(MSG("", "x"), &env, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: the MTA's own DMARC pass clears it");
    CHECK(!fires("From: a@partner.example\n\nx\n", NULL, "SPOOF_PROTECTED_DOMAIN"),
          "spoof: other domains are not protected");

#define HTML(body) "From: a@vendor.example\nContent-Type: text/html\n\n" body "\n"
    /* LOOKALIKE_DOMAIN and URL_LOOKALIKE: dnstwist's classes. */
    {
        claw_engine_t *keep = policy_engine;
        claw_config_t *lc;
        claw_config_new(&lc);
        claw_config_set(lc, "policy", "protected_domains", "paypal.com", NULL);
        claw_config_set(lc, "policy", "partner_domains", "maersk.com, ups.com, ing.com", NULL);
        claw_engine_new(lc, &policy_engine, NULL);
        claw_config_destroy(lc);
        static const rule_case_t cases[] = {
            {"p\xd0\xb0ypal.com", true}, /* Cyrillic a: an IDN homograph */
            {"paypa1.com", true},          /* homoglyph */
            {"rnaersk.com", true},         /* rn for m */
            {"paypall.com", true},         /* addition / repetition */
            {"payal.com", true},           /* omission */
            {"pyapal.com", true},          /* transposition */
            {"paypel.com", true},          /* vowel swap */
            {"pay-pal.com", true},         /* hyphenation */
            {"paypals.com", true},         /* plural */
            {"paypal.net", true},          /* tld swap */
            {"pay.pal.com", true},         /* subdomain (split by a dot) */
            {"paypal-login.com", true},    /* dictionary */
            {"paypal.com.evil.example", true},
            {"mail.paypal.com", false},    /* a legitimate subdomain */
            {"paypal.com", false},
            {"example.org", false},
            {"maersk.com", false},
            {"paypel.org", false},         /* a typo and another suffix: not dnstwist's */
            {"paypal.slashdot.org", false}, /* a bare word as a subdomain */
            {"p\xc3\xa4yp\xc9\x91l.com", true}, /* accents and Latin alpha */
            {"paypalcom.com", true},       /* name and suffix run together */
            {"payp.al.com", true},         /* split, under a private suffix */
            {"ups-parcel.com", true},      /* a short name as a hyphenated part */
            {"upslogin.com", true},        /* a short name with a lure word */
            {"ups1.com", true},            /* a short name, one character added */
            {"upstream.com", false},       /* a short name inside a word */
            {"bookcrossing.com", false},   /* ing.com is not in bookcrossing.com */
            {"secure-ing.com", true},
        };
        check_cases("LOOKALIKE_DOMAIN", "lookalike", "From: a@", "\n\nx\n", cases,
                    G_N_ELEMENTS(cases));
        /* The engine keeps each host's answer: the same again from its
         * cache, and after 10,000 other hosts have filled and emptied it. */
        check_cases("LOOKALIKE_DOMAIN", "lookalike (cached)", "From: a@", "\n\nx\n", cases,
                    G_N_ELEMENTS(cases));
        bool quiet = true;
        for (int k = 0; k < 5; k++) {
            GString *h = g_string_new("From: a@vendor.example\nContent-Type: text/html\n\n");
            for (int i = 0; i < 2000; i++)
                g_string_append_printf(h, "<a href=\"https://h%d-%d.example/\">x</a>\n", k, i);
            quiet = quiet && !fires(h->str, NULL, "URL_LOOKALIKE");
            g_string_free(h, TRUE);
        }
        CHECK(quiet, "10,000 unrelated link hosts are quiet");
        check_cases("LOOKALIKE_DOMAIN", "lookalike (after the cache filled)", "From: a@",
                    "\n\nx\n", cases, G_N_ELEMENTS(cases));
        CHECK(fires(HTML("<a href=\"https://secure-paypa1.com/login\">x</a>"), NULL,
                    "URL_LOOKALIKE"),
              "a link to a lookalike host");
        CHECK(!fires(HTML("<a href=\"https://www.paypal.com/login\">x</a>"), NULL,
                     "URL_LOOKALIKE"),
              "a link to the real domain is quiet");
        claw_engine_destroy(policy_engine);
        policy_engine = keep;
    }

    /* DISPLAY_NAME_IMPERSONATION */
    {
        claw_engine_t *keep = policy_engine;
        claw_config_t *dc;
        claw_config_new(&dc);
        claw_config_set(dc, "policy", "protected_domains", "corp.example", NULL);
        claw_config_set(dc, "policy", "vip_names", "William Gates|Bill G; Jane Doe", NULL);
        claw_config_set(dc, "policy", "brand_names", "PayPal; DHL Express", NULL);
        claw_engine_new(dc, &policy_engine, NULL);
        claw_config_destroy(dc);
        static const rule_case_t cases[] = {
            {"\"Bill Gates\" <ceo.office@gmail.com>", true},   /* nickname */
            {"\"GATES, William\" <w@x.example>", true},        /* surname first, capitals */
            {"\"Doe, Jane\" <jd@x.example>", true},            /* surname first */
            {"\"Jane Q. Doe\" <jd@x.example>", true},          /* an initial added */
            {"\"Jane M. Doe\" <jd@x.example>", true},          /* m, whose skeleton is rn */
            {"\"JaneDoe\" <jd@x.example>", true},              /* run together */
            {"\"J a n e  D o e\" <jd@x.example>", true},       /* spaced out */
            {"\"Jane Doerr\" <jd@x.example>", false},          /* run together is whole */
            {"\"Jan\xc3\xa9 D\xc3\xb6\xc3\xa9\" <jd@x.example>", true}, /* accents added */
            {"\"Dr. JANE DOE\" <jd@x.example>", true},         /* a title, capitals */
            {"\"Doe Janet\" <jd@x.example>", false},           /* another name */
            {"\"William  Gates (CEO)\" <w@x.example>", true},  /* extra words and spaces */
            {"\"Jane Doe\" <jane.doe@corp.example>", false},   /* the real one */
            {"\"Janet Doerr\" <j@x.example>", false},           /* whole words only */
            {"\"PayPal Service\" <service@paypal-security-alerts.example>", true},
            {"\"P\xd0\xb0yPal\" <service@x.example>", true},  /* Cyrillic a in the name */
            {"\"PayPal\" <service@paypal.com>", false},       /* the brand's own domain */
            {"\"DHL Express\" <noreply@dhl.com>", false},      /* its first word */
            {"\"DHL EXPRESS\" <no-reply@track-parcel.example>", true},
            {"\"corp.example IT\" <it@helpdesk.example>", true}, /* our domain in the name */
            {"\"Support\" <it@helpdesk.example>", false},
            /* The built-in brands. */
            {"\"Mcafee\xe2\x84\xa2\" <support@shop.example>", true}, /* a trade mark sign */
            {"\"Apple Support Team\" <help@x.example>", true},     /* brand and service words */
            {"\"Apple Valley Farms\" <farm@x.example>", false},    /* '=' brands: whole name */
            {"\"Microsoft account team\" <no-reply@access-accsecurity.example>", true},
            {"\"Microsoft\" <account@accountprotection.microsoft.com>", false},
            {"\"Microsoft account team\" <no-reply@outlook.com>", true}, /* free-mail */
            {"\"LinkedIn\" <messages@linkedin.com>", false},
            {"\"Steven Rostedt (Google)\" <rostedt@goodmis.example>", false}, /* affiliation */
            {"\"Google (Security)\" <x@y.example>", true},
            {"\"Chase Smith\" <chase@x.example>", false},          /* a first name */
            {"\"Chase Online\" <alerts@x.example>", true},
        };
        check_cases("DISPLAY_NAME_IMPERSONATION", "display name", "From: ", "\n\nx\n", cases,
                    G_N_ELEMENTS(cases));
        claw_engine_destroy(policy_engine);
        claw_config_new(&dc);
        claw_config_set(dc, "policy", "builtin_brands", "no", NULL);
        claw_engine_new(dc, &policy_engine, NULL);
        claw_config_destroy(dc);
        CHECK(!fires("From: \"Microsoft account team\" <x@y.example>\n\nx\n", NULL,
                     "DISPLAY_NAME_IMPERSONATION"),
              "display name: builtin_brands=no turns the built-in list off");
        claw_engine_destroy(policy_engine);
        policy_engine = keep;
    }

    /* BEC_PAYMENT_CHANGE */
    {
        static const rule_case_t cases[] = {
            {"Please note our new bank account for all future invoices.", true},
            {"Unsere neue Bankverbindung finden Sie unten.", true},
            {"Veuillez noter nos nouvelles coordonn\xc3\xa9" "es bancaires.", true},
            {"Le enviamos nuestra nueva cuenta bancaria.", true},
            {"Can you buy some Gift Cards for the team today?", true},
            {"I need an urgent wire before noon.", true},
            {"Thanks for the lunch, see you tomorrow.", false},
            {"The card game is at eight.", false},
            {"Our bank is closed on Monday.", false},
        };
        check_cases("BEC_PAYMENT_CHANGE", "BEC:", "From: Vendor <ap@vendor.example>\nSubject: x\n\n",
                    "\n", cases, G_N_ELEMENTS(cases));
        claw_message_t *bm;
        claw_verdict_t *bv = judge("From: Boss <boss.ceo@gmail.com>\nSubject: x\n\nOur new bank account: "
                  "DE89 3704 0044 0532 0130 00 from today.\n",
                  NULL, &bm);
        const claw_rule_hit_t *bh = NULL;
        for (size_t i = 0; i < bv->n_rules; i++)
            if (!strcmp(bv->rules[i].rule, "BEC_PAYMENT_CHANGE"))
                bh = &bv->rules[i];
        CHECK(bh && bh->score == 8 && strstr(bh->detail, "IBAN DE89370400440532013000") &&
                  strstr(bh->detail, "free-mail"),
              "BEC from free-mail: double weight, the valid IBAN named");
        claw_verdict_destroy(bv);
        claw_message_destroy(bm);
        bv = judge("From: a@vendor.example\nSubject: x\n\nnew bank account DE89 3704 0044 0532 "
                  "0130 01\n", NULL, &bm);
        CHECK(bv->n_rules == 1 && !strstr(bv->rules[0].detail, "IBAN"),
              "an IBAN failing its checksum is not named");
        claw_verdict_destroy(bv);
        claw_message_destroy(bm);
    }

    /* REPLY_TO_DIVERTS */
    claw_message_t *m;
    claw_verdict_t *v = judge("From: billing@vendor.example\nReply-To: vendor.billing@gmail.com\n\nx\n",
                              NULL, &m);
    CHECK(claw_verdict_has_rule(v, "REPLY_TO_DIVERTS") && v->n_rules &&
              v->rules[0].score == 4,
          "reply-to free-mail: fires at double weight");
    claw_verdict_destroy(v);
    claw_message_destroy(m);
    CHECK(!fires("From: a@news.vendor.example\nReply-To: b@support.vendor.example\n\nx\n", NULL,
                 "REPLY_TO_DIVERTS"),
          "reply-to in the same organisation is quiet");
    CHECK(!fires("From: a@vendor.example\nReturn-Path: <bounce-123@mailer.esp.example>\n\nx\n",
                 NULL, "REPLY_TO_DIVERTS"),
          "a mailing service's bounce address is quiet");
    CHECK(fires("From: a@vendor.example\nReturn-Path: <x@yahoo.com>\n\nx\n", NULL,
                "REPLY_TO_DIVERTS"),
          "Return-Path at free-mail fires");

    /* ENVELOPE_SENDER_ELSEWHERE */
    const char *ceo = "From: ceo@corp.example\n\nx\n";
    claw_envelope_t ev = {.mail_from = "bounce@evil.example"};
    CHECK(fires(ceo, &ev, "ENVELOPE_SENDER_ELSEWHERE"),
          "envelope sender outside a protected From's organisation fires");
    ev.mail_from = "bounces@mail.corp.example";
    CHECK(!fires(ceo, &ev, "ENVELOPE_SENDER_ELSEWHERE"),
          "an envelope sender in the From's organisation is quiet");
    ev.mail_from = "";
    CHECK(!fires(ceo, &ev, "ENVELOPE_SENDER_ELSEWHERE"), "a bounce (<>) claims nobody: quiet");
    ev.mail_from = "bounce@esp.example";
    CHECK(!fires("From: ceo@corp.example\nAuthentication-Results: mx.corp.example; dkim=pass "
                 "header.d=corp.example\n\nx\n", &ev, "ENVELOPE_SENDER_ELSEWHERE"),
          "the From's aligned DKIM pass, from a trusted authserv-id, vouches for it: quiet");
    CHECK(fires("From: ceo@corp.example\nReturn-Path: <x@evil.example>\n\nx\n", NULL,
                "ENVELOPE_SENDER_ELSEWHERE"),
          "a stored message without an envelope: the Return-Path field counts");
    CHECK(!fires("From: a@other.example\n\nx\n", &ev, "ENVELOPE_SENDER_ELSEWHERE"),
          "a From of no protected or partner domain: quiet");

    /* URLs */
    CHECK(fires(HTML("<a href=\"https://paypal.com@evil.example/\">x</a>"), NULL,
                "URL_USERINFO_TRICK"),
          "paypal.com@evil.example: userinfo trick");
    CHECK(!fires(HTML("<a href=\"ftp://user:pw@files.example/\">x</a>"), NULL,
                 "URL_USERINFO_TRICK"),
          "a plain user:password is not the trick");
    CHECK(fires(HTML("<a href=\"http://0x7f.1/\">x</a>"), NULL, "URL_IP_LITERAL"),
          "0x7f.1 is an IP literal");
    CHECK(fires(HTML("<a href=\"http://[2001:db8::1]/\">x</a>"), NULL, "URL_IP_LITERAL"),
          "IPv6 literal");
    CHECK(!fires(HTML("<a href=\"http://example.com/\">x</a>"), NULL, "URL_IP_LITERAL"),
          "a host name is not an IP literal");
    CHECK(fires(HTML("<a href=\"https://evil.example/\">https://www.paypal.com/</a>"), NULL,
                "URL_TEXT_MISMATCH"),
          "link text naming another domain");
    CHECK(!fires(HTML("<a href=\"https://click.news.example.com/r?u=1\">Read more</a>"), NULL,
                 "URL_TEXT_MISMATCH"),
          "newsletter: a generic word as link text is quiet");
    CHECK(!fires(HTML("<a href=\"https://www.paypal.com/x\">paypal.com</a>"), NULL,
                 "URL_TEXT_MISMATCH"),
          "link text naming the same organisation is quiet");
    CHECK(!fires(HTML("<a href=\"https://shop.example/\">Version 3.5 now</a>"), NULL,
                 "URL_TEXT_MISMATCH"),
          "numbers with a dot are not domains");
    CHECK(fires(HTML("<a href=\"javascript:alert(1)\">x</a>"), NULL, "URL_DANGEROUS_SCHEME"),
          "javascript: link");
    CHECK(!fires(HTML("<img src=\"data:image/png;base64,AAAA\">"), NULL, "URL_DANGEROUS_SCHEME"),
          "an inline data: image is quiet");
    CHECK(fires(HTML("<a href=\"https://bit.ly/3abc\">x</a>"), NULL, "URL_SHORTENER"),
          "shortener");
    CHECK(fires(HTML("<a href=\"https://bad.example/Login\">x</a>"), NULL, "URL_IOC"),
          "URL indicator (scheme and host case-folded)");
    CHECK(fires(HTML("<a href=\"http://www.evil-domain.example/x\">x</a>"), NULL, "URL_IOC"),
          "domain indicator covers subdomains");
    CHECK(!fires(HTML("<a href=\"http://www.evil-host.example/x\">x</a>"), NULL, "URL_IOC"),
          "host indicator is exact");
    {
        /* Indicators are read by the model's own URL and host normaliser:
         * the file has url: http://b\u00fccher.example/x, url:
         * http://EX%41MPLE.org/y, url: https://port.example:443/p, host:
         * m\u00fcnchen-host.example, host: HOST%2Dpct.example, host:
         * 0xC0.0x00.0x02.0x01 and domain: Z\u00dcRICH-dom.example. */
        static const rule_case_t cases[] = {
            {"http://xn--bcher-kva.example/x", true},
            {"http://b\xc3\xbc" "cher.example/x", true},
            {"http://example.org/y", true},
            {"http://example.org/Y", false}, /* the path keeps its case */
            {"https://port.example/p", true},
            {"https://xn--mnchen-host-thb.example/", true},
            {"https://host-pct.example/", true},
            {"http://192.0.2.1/", true},
            {"http://www.xn--zrich-dom-q9a.example/", true},
        };
        check_cases("URL_IOC", "link to", "From: a@vendor.example\nContent-Type: text/html\n\n"
                    "<a href=\"", "\">x</a>\n", cases, G_N_ELEMENTS(cases));
    }

    /* Attachments */
#define ATT(name, type, data) "From: a@vendor.example\nContent-Type: multipart/mixed; boundary=b\n\n" \
    "--b\nContent-Type: text/plain\n\nsee\n--b\nContent-Type: " type "\n" \
    "Content-Disposition: attachment; filename*=utf-8''" name "\n" \
    "Content-Transfer-Encoding: base64\n\n" data "\n--b--\n"
    /* "MZ" + padding: a DOS/PE header as libmagic sees it. */
#define EXE_B64 "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAAAAFBFAABMAQMA"
    CHECK(fires(ATT("invoice%E2%80%AEfdp.exe", "application/octet-stream", EXE_B64), NULL,
                "ATTACHMENT_DISGUISED"),
          "invoice\\u202Efdp.exe: right-to-left override");
    CHECK(fires(ATT("invoice.pdf.exe", "application/octet-stream", EXE_B64), NULL,
                "ATTACHMENT_DISGUISED"),
          "invoice.pdf.exe: double extension");
    CHECK(fires(ATT("report.pdf", "application/pdf", EXE_B64), NULL, "ATTACHMENT_DISGUISED"),
          "a program declared and named as PDF");
    CHECK(fires(ATT("setup.exe", "application/octet-stream", EXE_B64), NULL,
                "ATTACHMENT_EXECUTABLE"),
          "a program by its content");
    CHECK(!fires(ATT("setup.exe", "application/octet-stream", EXE_B64), NULL,
                 "ATTACHMENT_DISGUISED"),
          "a program named .exe is not disguised");
    CHECK(!fires(ATT("notes.txt", "text/plain", "aGVsbG8gd29ybGQK"), NULL,
                 "ATTACHMENT_EXECUTABLE"),
          "a text file is no program");
    CHECK(fires(ATT("a.bin", "application/octet-stream", "TVo="), NULL, "ATTACHMENT_IOC"),
          "attachment SHA-256 indicator");

    /* The fixture with every kind of attachment (tests/fixtures). */
    {
        const char *top = getenv("srcdir") ? getenv("srcdir") : "..";
        char *path = g_build_filename(top, "tests", "fixtures", "attachments.eml", NULL);
        gchar *text = NULL;
        gsize len = 0;
        if (g_file_get_contents(path, &text, &len, NULL)) {
            claw_message_t *fm;
            claw_verdict_t *fv = judge(text, NULL, &fm);
            CHECK(claw_verdict_has_rule(fv, "ATTACHMENT_MACRO"), "fixture: macros (docm, doc, xls)");
            CHECK(claw_verdict_has_rule(fv, "ATTACHMENT_ENCRYPTED_ARCHIVE"),
                  "fixture: encrypted zip");
            CHECK(claw_verdict_has_rule(fv, "ATTACHMENT_ARCHIVE_EXECUTABLE"),
                  "fixture: program inside a zip and a TNEF");
            CHECK(claw_verdict_has_rule(fv, "ATTACHMENT_HTML_SMUGGLING"),
                  "fixture: HTML attachment with a password form and a redirecting script");
            claw_verdict_destroy(fv);
            claw_message_destroy(fm);
        } else {
            CHECK(false, "read %s", path);
        }
        g_free(text);
        g_free(path);
    }
    CHECK(!fires(ATT("report.pdf", "application/pdf", "JVBERi0xLjQKJSVFT0YK"), NULL,
                 "ATTACHMENT_MACRO"),
          "a PDF has no macros");
    CHECK(fires(ATT("photos.zip", "application/zip", "UEsDBBQAAAAAAABgYV2FqHbJRAAAAEQAAAALAAAAaG9saWRheS5qcGf/2P/gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFBLAQIUAxQAAAAAAABgYV2FqHbJRAAAAEQAAAALAAAAAAAAAAAAAACAAQAAAABob2xpZGF5LmpwZ1BLBQYAAAAAAQABADkAAABtAAAAAAA="), NULL, "ATTACHMENT_EXECUTABLE") == false &&
              !fires(ATT("photos.zip", "application/zip", "UEsDBBQAAAAAAABgYV2FqHbJRAAAAEQAAAALAAAAaG9saWRheS5qcGf/2P/gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFBLAQIUAxQAAAAAAABgYV2FqHbJRAAAAEQAAAALAAAAAAAAAAAAAACAAQAAAABob2xpZGF5LmpwZ1BLBQYAAAAAAQABADkAAABtAAAAAAA="), NULL, "UNSCANNABLE"),
          "the picture zip reads cleanly");
    CHECK(!fires(ATT("photos.zip", "application/zip",
                     "UEsDBBQAAAAAAABgYV2FqHbJRAAAAEQAAAALAAAAaG9saWRheS5qcGf/2P/gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFBLAQIUAxQAAAAAAABgYV2FqHbJRAAAAEQAAAALAAAAAAAAAAAAAACAAQAAAABob2xpZGF5LmpwZ1BLBQYAAAAAAQABADkAAABtAAAAAAA="),
                 NULL, "ATTACHMENT_ARCHIVE_EXECUTABLE"),
          "a zip of a picture holds no program");
    CHECK(!fires(ATT("photos.zip", "application/zip",
                     "UEsDBBQAAAAAAABgYV2FqHbJRAAAAEQAAAALAAAAaG9saWRheS5qcGf/2P/gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFBLAQIUAxQAAAAAAABgYV2FqHbJRAAAAEQAAAALAAAAAAAAAAAAAACAAQAAAABob2xpZGF5LmpwZ1BLBQYAAAAAAQABADkAAABtAAAAAAA="),
                 NULL, "ATTACHMENT_ENCRYPTED_ARCHIVE"),
          "a plain zip is not encrypted");
    CHECK(fires(ATT("login.html", "text/html",
                    "PGZvcm0+PGlucHV0IHR5cGU9cGFzc3dvcmQ+PC9mb3JtPg=="), NULL,
                "ATTACHMENT_HTML_SMUGGLING"),
          "HTML attachment asking for a password");
    CHECK(fires(ATT("doc.html", "text/html",
                    "PHNjcmlwdD52YXIgYj1uZXcgQmxvYihbYXRvYignVFZvPScpXSk7PC9zY3JpcHQ+"), NULL,
                "ATTACHMENT_HTML_SMUGGLING"),
          "HTML attachment building a Blob from base64");
    CHECK(!fires(ATT("forecast.htm", "text/html",
                     "PGZvcm0gYWN0aW9uPSJodHRwOi8vd2VhdGhlci5leGFtcGxlL3NlYXJjaCI+PGlucHV0IG5hbWU9InEiPjwvZm9ybT48c2NyaXB0PnZhciBhID0gMTs8L3NjcmlwdD4="),
                 NULL, "ATTACHMENT_HTML_SMUGGLING"),
          "a search form and a page script are not smuggling");

    /* Senders */
    CHECK(fires("From: Crook <CROOK@fraud.example>\n\nx\n", NULL, "SENDER_IOC"),
          "sender address indicator (case-folded)");
    CHECK(fires("From: a@mx.evil-domain.example\n\nx\n", NULL, "SENDER_IOC"),
          "sender domain indicator");
    claw_envelope_t env2 = {.client_ip = "198.51.100.66"};
    CHECK(fires("From: a@b.example\n\nx\n", &env2, "SENDER_IOC"), "client IP indicator");
    test_scan_fields();
    CHECK(!fires("From: a@b.example\n\nx\n", NULL, "SENDER_IOC"), "no indicator, no hit");

    /* Structure */
    CHECK(fires("\x89PNG binary", NULL, "UNSCANNABLE"), "not a message: unscannable");
    CHECK(fires("From: a@b.example\nFrom: c@d.example\n\nx\n", NULL, "MIME_AMBIGUOUS"),
          "two different From: ambiguous");
    CHECK(!fires("From: a@b.example\n\nhello\n", NULL, "MIME_AMBIGUOUS"),
          "a plain message is not ambiguous");

    v = judge("From: a@b.example\n\nhello\n", NULL, &m);
    CHECK(v->action == CLAW_ACTION_ACCEPT && v->score == 0 && v->n_rules == 0,
          "a plain message is accepted with no rules");
    claw_verdict_destroy(v);
    claw_message_destroy(m);
    claw_engine_destroy(policy_engine);

    /* Weights and thresholds */
    claw_config_new(&cfg);
    claw_config_set(cfg, "weights", "URL_SHORTENER", "0", NULL);
    claw_config_set(cfg, "weights", "URL_IP_LITERAL", "9.5", NULL);
    claw_config_set(cfg, "actions", "quarantine", "9.5", NULL);
    claw_engine_new(cfg, &policy_engine, NULL);
    claw_config_destroy(cfg);
    v = judge(HTML("<a href=\"https://bit.ly/x\">x</a><a href=\"http://10.0.0.1/\">y</a>"), NULL, &m);
    CHECK(!claw_verdict_has_rule(v, "URL_SHORTENER") && v->score == 9.5 &&
              v->action == CLAW_ACTION_QUARANTINE,
          "weight 0 silences a rule; weights and thresholds decide the action");
    claw_verdict_destroy(v);
    claw_message_destroy(m);
    claw_engine_destroy(policy_engine);

    /* Indicator files are re-read when they change. */
    claw_config_new(&cfg);
    claw_config_set(cfg, "ioc", "files", ioc_path, NULL);
    claw_engine_new(cfg, &policy_engine, NULL);
    claw_config_destroy(cfg);
    CHECK(!fires("From: new@threat.example\n\nx\n", NULL, "SENDER_IOC"), "before the reload");
    FILE *f = fopen(ioc_path, "a");
    fputs("domain: threat.example\n", f);
    fclose(f);
    g_usleep(1100 * 1000);
    CHECK(fires("From: new@threat.example\n\nx\n", NULL, "SENDER_IOC"),
          "a changed indicator file is re-read");
    claw_engine_destroy(policy_engine);

    /* Bad policy or indicators are errors that say where. */
    claw_config_new(&cfg);
    err = NULL;
    CHECK(claw_config_set(cfg, "policy", "internal_relays", "10.0.0.0/33", &err) ==
                  CLAW_STATUS_CONFIG_ERROR &&
              err && strstr(err, "10.0.0.0/33"),
          "a bad network is a configuration error naming it");
    free(err);
    claw_config_destroy(cfg);
    f = fopen(ioc_path, "w");
    fputs("url: http://ok.example/\nbogus line\n", f);
    fclose(f);
    claw_config_new(&cfg);
    claw_config_set(cfg, "ioc", "files", ioc_path, NULL);
    err = NULL;
    CHECK(claw_engine_new(cfg, &policy_engine, &err) == CLAW_STATUS_CONFIG_ERROR && err &&
              strstr(err, ":2: expected TYPE:VALUE"),
          "a bad indicator line is file:line");
    free(err);
    claw_config_destroy(cfg);
    /* A value that can never match is one bad line of a feed: left out with
     * a warning naming file:line, while the rest of the file loads. */
    static const char *const bad_values[] = {"url: /relative/path\n", "url: cid:part@x\n",
                                             "host: example.com:8080\n",
                                             "domain: http://evil.example/\n"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_values); i++) {
        f = fopen(ioc_path, "w");
        fputs("host: ok.example\n", f);
        fputs(bad_values[i], f);
        fclose(f);
        claw_config_new(&cfg);
        claw_config_set(cfg, "ioc", "files", ioc_path, NULL);
        err = NULL;
        GString *logged = g_string_new(NULL);
        claw_log_set_sink(log_sink, logged);
        claw_engine_t *e = NULL;
        claw_status_t st = claw_engine_new(cfg, &e, &err);
        claw_log_set_sink(NULL, NULL);
        char *shown = g_strescape(bad_values[i], NULL);
        CHECK(st == CLAW_STATUS_SUCCESS && strstr(logged->str, ":2: ") &&
                  strstr(logged->str, "left out"),
              "an indicator that can never match is left out with a warning at file:line: %s "
              "(%s)", shown, st ? (err ? err : "refused") : logged->str);
        g_free(shown);
        g_string_free(logged, TRUE);
        claw_engine_destroy(e);
        free(err);
        claw_config_destroy(cfg);
    }
    /* A URL without its scheme, as feeds write them, is read as http. */
    f = fopen(ioc_path, "w");
    fputs("url: evil.example/phish\n", f);
    fclose(f);
    claw_config_new(&cfg);
    claw_config_set(cfg, "ioc", "files", ioc_path, NULL);
    claw_engine_t *ioc_engine = NULL;
    CHECK(claw_engine_new(cfg, &ioc_engine, NULL) == CLAW_STATUS_SUCCESS,
          "an indicator URL without a scheme loads");
    static const char link_msg[] = "From: a@b.example\nTo: c@d.example\nSubject: x\n\n"
                                   "see http://evil.example/phish now\n";
    claw_verdict_t *lv = NULL;
    CHECK(ioc_engine && claw_scan_buffer(ioc_engine, link_msg, sizeof link_msg - 1, NULL, &lv) ==
                            CLAW_STATUS_SUCCESS &&
              claw_verdict_has_rule(lv, "URL_IOC"),
          "url:evil.example/phish fires on a link to http://evil.example/phish");
    claw_verdict_destroy(lv);
    claw_engine_destroy(ioc_engine);
    claw_config_destroy(cfg);
    char *bad = NULL;
    claw_config_new(&cfg);
    CHECK(claw_config_set(cfg, "weights", "NO_SUCH_RULE", "1", &bad) == CLAW_STATUS_CONFIG_ERROR &&
              bad && strstr(bad, "unknown rule"),
          "an unknown rule in [weights] is an error");
    free(bad);
    claw_config_destroy(cfg);
    unlink(ioc_path);
}

/* A verdict made by hand: @n rules named @names, scored 1 each. */
static claw_verdict_t *
hand_verdict(claw_action_t action, double score, const char *const *names, size_t n)
{
    claw_verdict_t *v = g_new0(claw_verdict_t, 1);
    claw_rule_hit_t *hits = g_new0(claw_rule_hit_t, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        hits[i] = (claw_rule_hit_t){.rule = names[i], .score = 1, .detail = "d"};
    *v = (claw_verdict_t){.action = action, .score = score, .n_rules = n, .rules = hits};
    return v;
}

static void
hand_verdict_free(claw_verdict_t *v)
{
    g_free((void *)v->rules);
    g_free(v);
}

/* The verdict as header text, read back: what was written, for every
 * action, score and list of rules; and text that is not what the writers
 * write is refused whole. */
static void
test_verdict_codec(void)
{
    claw_action_t back = CLAW_ACTION_REJECT;
    bool names_ok = claw_action_from_string("unknown", &back) == CLAW_STATUS_INVALID_ARGUMENT &&
                    claw_action_from_string(NULL, &back) == CLAW_STATUS_INVALID_ARGUMENT &&
                    claw_action_from_string("Tag", &back) == CLAW_STATUS_INVALID_ARGUMENT &&
                    back == CLAW_ACTION_REJECT;
    for (int a = CLAW_ACTION_ACCEPT; a <= CLAW_ACTION_REJECT; a++)
        names_ok = names_ok &&
                   claw_action_from_string(claw_action_to_string(a), &back) == CLAW_STATUS_SUCCESS &&
                   back == (claw_action_t)a;
    CHECK(names_ok, "claw_action_from_string reads what claw_action_to_string writes, nothing else");

    const char *every[64];
    size_t n_every = 0;
    while (n_every < G_N_ELEMENTS(every) && claw_rule_name(n_every))
        every[n_every] = claw_rule_name(n_every), n_every++;
    const char *one[] = {"URL_USERINFO_TRICK"};
    const char *future[] = {"A_RULE_FROM_A_LATER_VERSION", "X9", "DMARC_FAIL"};
    struct {
        const char *const *names;
        size_t n;
    } lists[] = {{NULL, 0}, {one, 1}, {future, 3}, {every, n_every}};
    const double scores[] = {0, 6, 2.5, -1.5, 123.25, 1e-3, 1e6};
    int cases = 0, same = 0;
    for (int a = CLAW_ACTION_ACCEPT; a <= CLAW_ACTION_REJECT; a++)
        for (size_t l = 0; l < G_N_ELEMENTS(lists); l++)
            for (size_t k = 0; k < G_N_ELEMENTS(scores); k++) {
                claw_verdict_t *v = hand_verdict(a, scores[k], lists[l].names, lists[l].n);
                char vh[64], rh[4096];
                size_t vn = claw_verdict_header(v, vh, sizeof vh);
                size_t rn = claw_verdict_rules_header(v, rh, sizeof rh);
                claw_verdict_t *p = NULL;
                bool ok = vn < sizeof vh && rn < sizeof rh &&
                          claw_verdict_parse_header(vh, rn ? rh : NULL, &p) == CLAW_STATUS_SUCCESS &&
                          claw_verdict_action(p) == (claw_action_t)a &&
                          claw_verdict_score(p) == scores[k] &&
                          claw_verdict_n_rules(p) == lists[l].n &&
                          !claw_verdict_rule_name(p, lists[l].n) && !claw_verdict_message(p);
                for (size_t i = 0; ok && i < lists[l].n; i++)
                    ok = !strcmp(claw_verdict_rule_name(p, i), lists[l].names[i]) &&
                         !claw_verdict_rule_detail(p, i) && claw_verdict_rule_score(p, i) == 0;
                if (!ok)
                    printf("#   %s / %s did not read back\n", vh, rh);
                cases++;
                same += ok;
                claw_verdict_destroy(p);
                hand_verdict_free(v);
            }
    CHECK(same == cases, "claw_verdict_parse_header reads back what claw_verdict_header and "
                         "claw_verdict_rules_header write (%d of %d)", same, cases);

    claw_verdict_t *v = hand_verdict(CLAW_ACTION_TAG, 6, future, 3);
    char buf[128];
    claw_verdict_header(v, buf, sizeof buf);
    CHECK_STR(buf, "tag; score=6", "claw_verdict_header");
    claw_verdict_rules_header(v, buf, sizeof buf);
    CHECK_STR(buf, "A_RULE_FROM_A_LATER_VERSION, X9, DMARC_FAIL", "claw_verdict_rules_header");
    claw_verdict_format(v, buf, sizeof buf);
    CHECK_STR(buf, "action=tag score=6 rules=A_RULE_FROM_A_LATER_VERSION,X9,DMARC_FAIL",
              "claw_verdict_format");
    CHECK(claw_verdict_header(v, buf, 4) == strlen("tag; score=6") && !strcmp(buf, "tag") &&
              claw_verdict_header(v, NULL, 0) == strlen("tag; score=6") &&
              claw_verdict_header(NULL, buf, sizeof buf) == 0 && !buf[0],
          "claw_verdict_header: truncates like snprintf; NULL gives \"\"");
    hand_verdict_free(v);

    /* The same text as the writers', spaced differently, and the line form
     * of the rules. */
    claw_verdict_t *p = NULL;
    CHECK(claw_verdict_parse_header("  quarantine ;score=9.5\t", " A , B,C ", &p) ==
                  CLAW_STATUS_SUCCESS &&
              claw_verdict_action(p) == CLAW_ACTION_QUARANTINE && claw_verdict_score(p) == 9.5 &&
              claw_verdict_n_rules(p) == 3 && !strcmp(claw_verdict_rule_name(p, 2), "C"),
          "claw_verdict_parse_header: blanks around the parts, \"A,B\" and \"A, B\"");
    claw_verdict_destroy(p);
    /* Clawback's DMARC result after the score, as the writers put it. */
    CHECK(claw_verdict_parse_header("reject; score=4; dmarc=fail (p=reject)", NULL, &p) ==
                  CLAW_STATUS_SUCCESS &&
              !strcmp(claw_verdict_dmarc(p), "fail") &&
              !strcmp(claw_verdict_dmarc_policy(p), "reject") && !claw_verdict_dmarc_detail(p),
          "claw_verdict_parse_header: \"; dmarc=fail (p=reject)\" read back");
    claw_verdict_destroy(p);
    CHECK(claw_verdict_parse_header("accept; score=0; dmarc=temperror", NULL, &p) ==
                  CLAW_STATUS_SUCCESS &&
              !strcmp(claw_verdict_dmarc(p), "temperror") && !claw_verdict_dmarc_policy(p),
          "claw_verdict_parse_header: dmarc= without a policy");
    claw_verdict_destroy(p);
    CHECK(claw_verdict_parse_header("accept; score=0", NULL, &p) == CLAW_STATUS_SUCCESS &&
              !claw_verdict_dmarc(p),
          "claw_verdict_parse_header: no dmarc= is no result");
    claw_verdict_destroy(p);
    p = (claw_verdict_t *)1;
    CHECK(claw_verdict_parse_header("unscanned; reason=\"scanner failed\"", NULL, &p) ==
                  CLAW_STATUS_NOT_FOUND && !p,
          "claw_verdict_parse_header: an unscanned message has no verdict (NOT_FOUND)");

    /* Hostile or broken text: refused, never half-read. */
    static const char *const bad_verdicts[] = {
        "", "tag", "tag;", "tag; score=", "tag; score=nan", "tag; score=inf", "tag; score=-inf",
        "tag; score=1e999", "tag; score=0x10", "tag; score=6 junk", "tag; score=6;",
        "tag; score=6; score=7", "Tag; score=6", "TAG; score=6", "tagx; score=6", "tag score=6",
        "tag; score=6\r\nX-Evil: 1", "tag; score=\xd9\xa6", "unknown; score=1",
        "reject\x00; score=1", "tag; reason=\"x\"", "; score=1", "accepted; score=0",
        "tag; score=1.2.3", "tag; score=--1", "tag; score=6; dmarc=", "tag; score=6; dmarc=ok",
        "tag; score=6; dmarc=passx", "tag; score=6; dmarc=pass (p=reject",
        "tag; score=6; dmarc=pass (p=maybe)", "tag; score=6; dmarc=pass (p=none) x",
        "tag; score=6; dmarc=pass; dmarc=fail", "tag; score=6 dmarc=pass",
    };
    int refused = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(bad_verdicts); i++) {
        p = (claw_verdict_t *)1;
        claw_status_t st = claw_verdict_parse_header(bad_verdicts[i], "A", &p);
        if (st == CLAW_STATUS_INVALID_ARGUMENT && !p)
            refused++;
        else
            printf("#   took verdict '%s'\n", bad_verdicts[i]);
        if (st == CLAW_STATUS_SUCCESS)
            claw_verdict_destroy(p);
    }
    CHECK(refused == (int)G_N_ELEMENTS(bad_verdicts),
          "claw_verdict_parse_header refuses malformed X-Clawback-Verdict (%d of %zu)", refused,
          G_N_ELEMENTS(bad_verdicts));
    static const char *const bad_rules[] = {
        "A;B", "A,,B", ",A", "A,", "A B", "A\nB", "A\r\n B", "caf\xc3\xa9", "A-B", "A.B",
        "A,\x01", "A, B, ", "\"A\"", "A=1",
    };
    refused = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(bad_rules); i++) {
        p = NULL;
        claw_status_t st = claw_verdict_parse_header("tag; score=6", bad_rules[i], &p);
        if (st == CLAW_STATUS_INVALID_ARGUMENT && !p)
            refused++;
        else
            printf("#   took rules '%s'\n", bad_rules[i]);
        if (st == CLAW_STATUS_SUCCESS)
            claw_verdict_destroy(p);
    }
    CHECK(refused == (int)G_N_ELEMENTS(bad_rules),
          "claw_verdict_parse_header refuses malformed X-Clawback-Rules (%d of %zu)", refused,
          G_N_ELEMENTS(bad_rules));
    GString *many = g_string_new("R0");
    for (int i = 1; i <= 1000; i++)
        g_string_append_printf(many, ",R%d", i);
    p = NULL;
    CHECK(claw_verdict_parse_header("tag; score=6", many->str, &p) ==
                  CLAW_STATUS_INVALID_ARGUMENT && !p &&
              claw_verdict_parse_header(NULL, "A", &p) == CLAW_STATUS_INVALID_ARGUMENT &&
              claw_verdict_parse_header("tag; score=6", "A", NULL) == CLAW_STATUS_INVALID_ARGUMENT,
          "claw_verdict_parse_header: more than 1000 rules, a NULL verdict or output: refused");
    g_string_free(many, TRUE);
    CHECK(claw_verdict_action(NULL) == CLAW_ACTION_ACCEPT && claw_verdict_score(NULL) == 0 &&
              claw_verdict_n_rules(NULL) == 0 && !claw_verdict_rule_name(NULL, 0) &&
              !claw_verdict_rule_detail(NULL, 0) && claw_verdict_rule_score(NULL, 0) == 0,
          "the verdict's accessors take NULL");
}

/* The one-call API the MTA plugins use. */
static void
test_scan_api(void)
{
    CHECK(claw_api_version() == CLAW_API_VERSION, "claw_api_version() is CLAW_API_VERSION");

    claw_engine_t *e = NULL;
    char *err = NULL;
    CHECK(claw_engine_open("/nonexistent/clawback.conf", &e, &err) != CLAW_STATUS_SUCCESS && !e &&
              err && strstr(err, "/nonexistent/clawback.conf"),
          "claw_engine_open: a missing file fails and names it");
    claw_free(err);
    CHECK(claw_engine_open(NULL, &e, NULL) == CLAW_STATUS_SUCCESS && e,
          "claw_engine_open(NULL): the built-in defaults");
    const char *of = claw_engine_get(e, "mta", "on_failure");
    CHECK(of && !strcmp(of, "defer") && !claw_engine_get(e, "mta", "no_such_option"),
          "claw_engine_get: [mta] on_failure is defer by default; unknown options are NULL");

    const char *msg = "From: \"PayPal\" <pp@x.example>\nReply-To: a@gmail.com\n"
                      "Subject: t\n\n<a href=\"http://10.1.2.3/\">http://paypal.com/</a>\n";
    claw_verdict_t *v = NULL;
    CHECK(claw_scan_buffer(e, msg, strlen(msg), NULL, &v) == CLAW_STATUS_SUCCESS && v &&
              claw_verdict_message(v),
          "claw_scan_buffer: a verdict that keeps its message");
    char line[256];
    size_t need = claw_verdict_format(v, line, sizeof line);
    CHECK(need == strlen(line) && !strncmp(line, "action=", 7) && strstr(line, " score=") &&
              strstr(line, "rules=DISPLAY_NAME_IMPERSONATION,"),
          "claw_verdict_format: %s", line);
    char small[12];
    CHECK(claw_verdict_format(v, small, sizeof small) == need && strlen(small) == 11,
          "claw_verdict_format: truncates like snprintf");
    char reason[64];
    claw_verdict_reason(v, reason, sizeof reason);
    CHECK(strlen(reason) < sizeof reason && strstr(reason, "...") &&
              !strncmp(reason, "DISPLAY_NAME_IMPERSONATION: ", 28),
          "claw_verdict_reason: the top rule, cut with ...: %s", reason);
    claw_verdict_destroy(v);

    /* A detail with non-ASCII and control characters comes out printable. */
    const char *hostile = "From: \"P\xd0\xb0yPal\r\x01\" <pp@x.example>\n\nx\n";
    claw_scan_buffer(e, hostile, strlen(hostile), NULL, &v);
    char r2[300];
    claw_verdict_reason(v, r2, sizeof r2);
    bool printable = r2[0] != '\0';
    for (const char *c = r2; *c; c++)
        printable = printable && *c >= 0x20 && *c < 0x7f;
    CHECK(printable, "claw_verdict_reason: printable ASCII only: %s", r2);
    claw_verdict_destroy(v);

    /* The scanner's parse for a verdict alone: the same verdict on every
     * fixture, without what no rule reads. */
    {
        const char *top = getenv("srcdir") ? getenv("srcdir") : "..";
        char *dir = g_build_filename(top, "tests", "fixtures", NULL);
        GDir *d = g_dir_open(dir, 0, NULL);
        const char *name;
        int files = 0, same = 0, lean = 0;
        while (d && (name = g_dir_read_name(d))) {
            char *path = g_build_filename(dir, name, NULL);
            gchar *text = NULL;
            gsize len = 0;
            claw_verdict_t *full = NULL, *quick = NULL;
            if (g_str_has_suffix(name, ".eml") && g_file_get_contents(path, &text, &len, NULL) &&
                claw_scan_buffer(e, text, len, NULL, &full) == CLAW_STATUS_SUCCESS &&
                claw_scan_fields(e, text, len, NULL, CLAW_SCAN_VERDICT_ONLY, &quick) == CLAW_STATUS_SUCCESS) {
                char l1[1024], l2[1024], r1[512], r2b[512];
                claw_verdict_format(full, l1, sizeof l1);
                claw_verdict_format(quick, l2, sizeof l2);
                claw_verdict_reason(full, r1, sizeof r1);
                claw_verdict_reason(quick, r2b, sizeof r2b);
                files++;
                same += !strcmp(l1, l2) && !strcmp(r1, r2b);
                const claw_message_t *qm = claw_verdict_message(quick);
                lean += !qm->sha256[0] && claw_verdict_message(full)->sha256[0];
            }
            claw_verdict_destroy(full);
            claw_verdict_destroy(quick);
            g_free(text);
            g_free(path);
        }
        if (d)
            g_dir_close(d);
        g_free(dir);
        CHECK(files >= 5 && same == files,
              "claw_scan_fields(VERDICT_ONLY): the verdict of claw_scan_buffer (%d of %d)", same, files);
        CHECK(lean == files, "claw_scan_fields(VERDICT_ONLY): no message hash computed (%d of %d)", lean,
              files);
    }
    /* ... and with the fields GMime does not need blanked for it: their
     * warnings are anomalies no rule reads. */
    {
        static const char odd[] = "From: a@b.example\nTo: c@d.example\n"
                                  "X-Encoded: =?us-ascii?Q?ok?= =?bogus?X?broken\n"
                                  "X-Latin: caf\xe9 cr\xe8me\nSubject: odd fields\n\nbody\n";
        claw_verdict_t *full = NULL, *quick = NULL;
        claw_scan_buffer(e, odd, sizeof odd - 1, NULL, &full);
        claw_scan_fields(e, odd, sizeof odd - 1, NULL, CLAW_SCAN_VERDICT_ONLY, &quick);
        char l1[1024] = "", l2[1024] = "";
        claw_verdict_format(full, l1, sizeof l1);
        claw_verdict_format(quick, l2, sizeof l2);
        const claw_message_t *fm = claw_verdict_message(full), *qm = claw_verdict_message(quick);
        size_t warned = 0, quick_warned = 0;
        for (size_t i = 0; fm && i < fm->n_anomalies; i++)
            warned += fm->anomalies[i].code == CLAW_ANOM_GMIME_UNENCODED_8BIT_HEADER ||
                      fm->anomalies[i].code == CLAW_ANOM_GMIME_INVALID_RFC2047_HEADER_VALUE;
        for (size_t i = 0; qm && i < qm->n_anomalies; i++)
            quick_warned += qm->anomalies[i].code == CLAW_ANOM_GMIME_UNENCODED_8BIT_HEADER ||
                            qm->anomalies[i].code == CLAW_ANOM_GMIME_INVALID_RFC2047_HEADER_VALUE;
        CHECK(warned > 0 && quick_warned == 0 && !strcmp(l1, l2),
              "claw_scan_fields(VERDICT_ONLY): X- fields blanked for GMime (it warned %zu times in "
              "the full parse, %zu in the verdict's; '%s' vs '%s')",
              warned, quick_warned, l1, l2);
        claw_verdict_destroy(full);
        claw_verdict_destroy(quick);
    }
    claw_engine_destroy(e);

    char a[CLAW_ID_SIZE], b[CLAW_ID_SIZE];
    claw_id_new(a);
    usleep(2000);
    claw_id_new(b);
    bool alphabet = strlen(a) == 26;
    for (const char *c = a; *c; c++)
        alphabet = alphabet && strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", *c);
    CHECK(alphabet, "claw_id_new: 26 characters of Crockford base32 (%s)", a);
    CHECK(strcmp(a, b) < 0, "claw_id_new: later ids sort after earlier ones");
    claw_id_new(b);
    CHECK(strcmp(a, b) != 0 && strncmp(a, b, 10) <= 0, "claw_id_new: unique within a millisecond");
}

/* claw_message_parse_text() gives the same words as the full parse, and
 * none of the rest, on every fixture. */
static void
test_parse_text(void)
{
    const char *top = getenv("srcdir") ? getenv("srcdir") : "..";
    char *dir = g_build_filename(top, "tests", "fixtures", NULL);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    int files = 0, same = 0, lean = 0, again = 0, known = 0;
    while (d && (name = g_dir_read_name(d))) {
        if (!g_str_has_suffix(name, ".eml"))
            continue;
        char *path = g_build_filename(dir, name, NULL);
        gchar *text = NULL;
        gsize len = 0;
        claw_message_t *full = NULL, *words = NULL;
        if (g_file_get_contents(path, &text, &len, NULL) &&
            claw_message_parse(engine, text, len, &full) == CLAW_STATUS_SUCCESS &&
            claw_message_parse_text(engine, text, len, &words) == CLAW_STATUS_SUCCESS) {
            files++;
            bool ok = g_strcmp0(full->subject, words->subject) == 0 &&
                      full->n_texts == words->n_texts;
            for (size_t i = 0; ok && i < full->n_texts; i++)
                ok = full->texts[i].length == words->texts[i].length &&
                     memcmp(full->texts[i].text, words->texts[i].text, full->texts[i].length) == 0;
            same += ok;
            bool bare = words->n_urls == 0 && words->n_attachments == 0 &&
                        words->n_auth_results == 0 && !words->sha256[0] &&
                        words->n_addresses == 0 && !words->message_id;
            lean += bare;
            if (!bare)
                printf("# %s: %zu URLs, %zu attachments, %zu results, %zu addresses\n", name,
                       words->n_urls, words->n_attachments, words->n_auth_results,
                       words->n_addresses);
            if (!ok)
                printf("# %s: the texts differ\n", name);
            /* The texts made again from where they are in the message. */
            bool all = true;
            for (size_t i = 0; i < full->n_texts; i++)
                all = all && full->text_origins[i].known;
            known += all;
            claw_message_t *from = NULL;
            if (all && claw_message_texts_from(engine, text, len, full->texts, full->text_origins,
                                               full->n_texts, &from) == CLAW_STATUS_SUCCESS) {
                bool eq = from->n_texts == full->n_texts;
                for (size_t i = 0; eq && i < full->n_texts; i++)
                    eq = full->texts[i].length == from->texts[i].length &&
                         !memcmp(full->texts[i].text, from->texts[i].text,
                                 full->texts[i].length) &&
                         !strcmp(full->texts[i].content_type, from->texts[i].content_type);
                again += eq;
                if (!eq)
                    printf("# %s: the texts from their origins differ\n", name);
            }
            claw_message_destroy(from);
        }
        claw_message_destroy(full);
        claw_message_destroy(words);
        g_free(text);
        g_free(path);
    }
    if (d)
        g_dir_close(d);
    CHECK(files >= 5, "parse_text: read the fixtures (%d)", files);
    CHECK(same == files, "parse_text: subject and texts as the full parse (%d of %d)",
          same, files);
    CHECK(lean == files, "parse_text: no URLs, attachments, results or addresses (%d of %d)", lean, files);
    CHECK(known == files, "texts_from: every text's origin known (%d of %d)", known, files);
    CHECK(again == files, "texts_from: the same texts from their origins (%d of %d)", again,
          files);
    /* An origin outside the bytes given is refused, not read. */
    {
        claw_text_t t = {.part = "1", .content_type = "text/plain"};
        claw_text_origin_t o = {.known = 1, .offset = 5, .length = 10};
        claw_message_t *m = NULL;
        CHECK(claw_message_texts_from(engine, "0123456789", 10, &t, &o, 1, &m) ==
                  CLAW_STATUS_INVALID_ARGUMENT && !m,
              "texts_from: an origin past the end is refused");
        o.offset = 2;
        o.length = 5;
        o.encoding = CLAW_TRANSFER_BASE64;
        claw_status_t st = claw_message_texts_from(engine, "..aGVsbG8=", 10, &t, &o, 1, &m);
        const char *got = !st && m->n_texts == 1 ? m->texts[0].text : "-";
        CHECK(!strcmp(got, "hel"), "texts_from: base64 content decoded (%s)", got);
        claw_message_destroy(m);
    }
    g_free(dir);
}

int
main(void)
{
    char *err = NULL;
    /* Whole TAP lines: the library's log lines go to stderr meanwhile. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (claw_engine_new(NULL, &engine, &err) != CLAW_STATUS_SUCCESS) {
        printf("not ok - engine: %s\n", err ? err : "?");
        return 1;
    }
    test_status();
    test_log();
    test_config();
    test_config_typed();
    test_log_configure();
    test_urls();
    test_normalise();
    test_ioc_normalise();
    test_html();
    test_addresses();
    test_auth();
    test_anomalies();
    test_limits();
    test_escaping();
    test_classify();
    test_verdict_codec();
    test_scan_api();
    test_parse_text();
    claw_engine_destroy(engine);
    printf("# %d tests, %d failed\n", n_test, n_fail);
    return n_fail ? 1 : 0;
}
