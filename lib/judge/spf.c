/* spf.c - SPF (RFC 7208) checked by Clawback itself, for DMARC, where the
 * MTA gave no SPF result (an Exim ACL without an spf condition, local_scan
 * without one in the RCPT ACL).
 *
 * libspf2 (Debian's, which libopendmarc links already) evaluates the
 * record; its DNS is a layer of ours (an SPF_dns_server_t) over dns.c, so
 * that its lookups share the DMARC deadline and go to [dmarc] resolvers, as
 * the record's own lookup does. libspf2's own resolver layer is res_query,
 * with the same faults as libopendmarc's (see dmarc.c).
 */
#include "build-config.h"

#include "judge/judge.h"

#include <arpa/inet.h>
#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <string.h>

typedef struct {
    const claw_config_t *config;
    gint64 deadline_us;
    bool temp; /* a lookup failed for now (RFC 7208 5: temperror) */
} layer_t;

/* One answer's records, of @type, into @rr; how many. */
static int
fill(SPF_dns_rr_t *rr, ns_type type, const unsigned char *answer, int len)
{
    int n = 0;
    if (type == ns_t_a || type == ns_t_aaaa) {
        struct ares_addrttl v4[32];
        struct ares_addr6ttl v6[32];
        int count = 32;
        int rc = type == ns_t_a ? ares_parse_a_reply(answer, len, NULL, v4, &count)
                                : ares_parse_aaaa_reply(answer, len, NULL, v6, &count);
        for (int i = 0; rc == ARES_SUCCESS && i < count; i++) {
            if (type == ns_t_a && SPF_dns_rr_buf_realloc(rr, n, sizeof(struct in_addr)) == 0)
                rr->rr[n++]->a = v4[i].ipaddr;
            else if (type == ns_t_aaaa &&
                     SPF_dns_rr_buf_realloc(rr, n, sizeof(struct in6_addr)) == 0)
                memcpy(&rr->rr[n++]->aaaa, &v6[i].ip6addr, sizeof(struct in6_addr));
        }
    } else if (type == ns_t_mx) {
        struct ares_mx_reply *mx = NULL;
        if (ares_parse_mx_reply(answer, len, &mx) == ARES_SUCCESS)
            for (struct ares_mx_reply *m = mx; m; m = m->next)
                if (SPF_dns_rr_buf_realloc(rr, n, strlen(m->host) + 1) == 0)
                    strcpy(rr->rr[n++]->mx, m->host);
        ares_free_data(mx);
    } else if (type == ns_t_ptr) {
        struct hostent *h = NULL;
        if (ares_parse_ptr_reply(answer, len, NULL, 0, AF_INET, &h) == ARES_SUCCESS && h) {
            if (h->h_name && SPF_dns_rr_buf_realloc(rr, n, strlen(h->h_name) + 1) == 0)
                strcpy(rr->rr[n++]->ptr, h->h_name);
            for (char **a = h->h_aliases; a && *a; a++)
                if (SPF_dns_rr_buf_realloc(rr, n, strlen(*a) + 1) == 0)
                    strcpy(rr->rr[n++]->ptr, *a);
        }
        if (h)
            ares_free_hostent(h);
    } else if (type == ns_t_txt || type == ns_t_spf) {
        char **txt = _claw_dns_txt_records(answer, len);
        for (char **t = txt; t && *t; t++)
            if (SPF_dns_rr_buf_realloc(rr, n, strlen(*t) + 1) == 0)
                strcpy(rr->rr[n++]->txt, *t);
        g_strfreev(txt);
    }
    return n;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *server, const char *domain, ns_type type, int should_cache)
{
    (void)should_cache;
    layer_t *l = server->hook;
    unsigned char *answer = NULL;
    int len = 0;
    char *why = NULL;
    claw_dns_status_t st = _claw_dns_query(l->config, domain, type, l->deadline_us, &answer,
                                           &len, &why);
    g_free(why);
    l->temp |= st == CLAW_DNS_TEMP;
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(server, domain, type, 0,
                                           st == CLAW_DNS_TEMP   ? TRY_AGAIN
                                           : st == CLAW_DNS_NONE ? HOST_NOT_FOUND
                                                                 : NETDB_SUCCESS);
    if (rr && st == CLAW_DNS_FOUND) {
        rr->num_rr = fill(rr, type, answer, len);
        if (rr->num_rr == 0)
            rr->herrno = NO_DATA;
    }
    g_free(answer);
    return rr;
}

char *
_claw_spf_check(const claw_config_t *config, const char *ip, const char *helo,
                const char *mail_from, gint64 deadline_us)
{
    if (!ip || !*ip || ((!mail_from || !*mail_from) && (!helo || !*helo)))
        return NULL;
    layer_t l = {config, deadline_us, false};
    SPF_dns_server_t *dns = g_new0(SPF_dns_server_t, 1);
    dns->lookup = layer_lookup;
    dns->name = "clawback";
    dns->hook = &l;
    SPF_server_t *server = SPF_server_new_dns(dns, 0);
    if (!server) {
        g_free(dns);
        return NULL;
    }
    SPF_request_t *req = SPF_request_new(server);
    SPF_response_t *resp = NULL;
    char *result = NULL;
    bool v6 = strchr(ip, ':') != NULL;
    if (req &&
        (v6 ? SPF_request_set_ipv6_str(req, ip) : SPF_request_set_ipv4_str(req, ip)) == 0 &&
        (!helo || !*helo || SPF_request_set_helo_dom(req, helo) == 0) &&
        (!mail_from || !*mail_from || SPF_request_set_env_from(req, mail_from) == 0)) {
        SPF_request_query_mailfrom(req, &resp);
        if (resp) {
            SPF_result_t r = SPF_response_result(resp);
            /* A lookup that failed for now makes anything but a pass
             * temperror (libspf2 calls it permerror); libspf2 says
             * "(invalid)" for what it could not evaluate. */
            result = g_strdup(l.temp && r != SPF_RESULT_PASS ? "temperror"
                              : r == SPF_RESULT_INVALID      ? "permerror"
                                                             : SPF_strresult(r));
        }
    }
    if (resp)
        SPF_response_free(resp);
    if (req)
        SPF_request_free(req);
    /* A server made with SPF_server_new_dns() leaves its layer to us. */
    SPF_server_free(server);
    g_free(dns);
    return result;
}
