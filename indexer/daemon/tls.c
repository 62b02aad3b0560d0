/* tls.c - STARTTLS on clawd's TCP sessions (RFC 3207 over LMTP) and the
 * client certificate that makes a TCP peer an authenticated MTA.
 *
 * Over TCP, anyone who can reach the port could otherwise write mail into
 * the archive with a forged envelope and forged X-Clawback-* fields. With
 * [clawd] tcp_auth = certificate (the default) a TCP session may send mail
 * only after STARTTLS with a client certificate that [clawd] tls_client_ca
 * signed: what Exim's smtp transport presents with protocol = lmtp and
 * tls_certificate. The Unix socket needs none of this: its mode and group
 * say who connects.
 */
#include "build-config.h"

#include "clawd.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* The first OpenSSL error, as text (the queue is emptied). */
static const char *
ssl_error(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    if (!e)
        return "unknown error";
    ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

/* [clawd] @name when it is set, else NULL. */
static const char *
tls_file(const claw_config_t *cfg, const char *name)
{
    const char *v = claw_config_get(cfg, "clawd", name);
    return v && *v ? v : NULL;
}

/* Let every handshake finish: the verdict on the client's certificate is
 * read after it (clawd_tls_established), and a session without a good one
 * is told at MAIL why it may not write, rather than cut off mid-handshake. */
static int
verify_later(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void)preverify_ok, (void)ctx;
    return 1;
}

bool
clawd_tls_setup(server_t *srv)
{
    const claw_config_t *cfg = srv->cfg;
    const char *auth = claw_config_get(cfg, "clawd", "tcp_auth");
    const char *cert = tls_file(cfg, "tls_certificate"), *key = tls_file(cfg, "tls_privatekey"),
               *ca = tls_file(cfg, "tls_client_ca");
    srv->tcp_auth = !auth || strcmp(auth, "none") != 0;
    if (!cert && !key && !ca) {
        if (!srv->tcp_auth)
            return true; /* TCP without TLS, and nothing believed from it */
        claw_log(CLAW_LOG_ERROR, NULL,
                 "[clawd] listen on TCP needs tls_certificate, tls_privatekey and "
                 "tls_client_ca (the CA of the MTAs' client certificates), or tcp_auth = none");
        return false;
    }
    if (!cert || !key || (srv->tcp_auth && !ca)) {
        claw_log(CLAW_LOG_ERROR, NULL, "[clawd] STARTTLS needs tls_certificate and tls_privatekey%s",
                 srv->tcp_auth ? ", and tls_client_ca for tcp_auth = certificate" : "");
        return false;
    }
    char buf[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        claw_log(CLAW_LOG_ERROR, NULL, "TLS: %s", ssl_error(buf, sizeof buf));
        return false;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    const char *what = NULL, *file = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        what = "tls_certificate", file = cert;
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
             SSL_CTX_check_private_key(ctx) != 1)
        what = "tls_privatekey (not a PEM key, or does not match tls_certificate)", file = key;
    else if (ca && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        what = "tls_client_ca", file = ca;
    if (what) {
        claw_log(CLAW_LOG_ERROR, NULL, "[clawd] %s: %s: %s", what, file,
                 ssl_error(buf, sizeof buf));
        SSL_CTX_free(ctx);
        return false;
    }
    if (ca) {
        /* Ask for a certificate; a session without a good one is told so
         * at MAIL (a clearer error for the MTA than a failed handshake). */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_later);
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(ca));
    }
    srv->tls = ctx;
    return true;
}

void
clawd_tls_free(server_t *srv)
{
    SSL_CTX_free(srv->tls);
    srv->tls = NULL;
}

bool
clawd_tls_offered(const session_t *s)
{
    return s->srv->tls && s->tcp && !s->tls_on;
}

bool
clawd_tls_start(session_t *s)
{
    SSL *ssl = SSL_new(s->srv->tls);
    if (!ssl)
        return false;
    /* RFC 3207: what the client sent after STARTTLS, before the handshake,
     * is dropped, never read as commands (the STARTTLS injection of
     * CVE-2011-0411). */
    struct evbuffer *in = bufferevent_get_input(s->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    struct bufferevent *tls = bufferevent_openssl_filter_new(
        s->srv->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!tls) {
        SSL_free(ssl);
        return false;
    }
    s->bev = tls;
    s->tls_on = true;
    clawd_session_watch(s);
    /* The session starts again (RFC 3207 4.2): LHLO first. */
    s->lhlo = false;
    return true;
}

void
clawd_tls_established(session_t *s)
{
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    X509 *peer = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    bool verified = peer && SSL_get_verify_result(ssl) == X509_V_OK;
    char name[256] = "";
    if (peer)
        X509_NAME_oneline(X509_get_subject_name(peer), name, sizeof name);
    X509_free(peer);
    s->trusted = verified && s->srv->tcp_auth;
    claw_log(verified ? CLAW_LOG_INFO : CLAW_LOG_WARNING, NULL,
             "%s: TLS %s, client certificate %s%s", s->peer, ssl ? SSL_get_version(ssl) : "?",
             verified ? "verified: " : peer ? "NOT verified: " : "none", name);
}
