/* resolv-stub.c - an LD_PRELOAD shim for the tests: the C library's
 * resolver asks the test suite's DNS stub on 127.0.0.1:$CLAW_TEST_DNS_PORT
 * instead of /etc/resolv.conf's servers. res_ninit() (libspf2's own state)
 * and res_search()/res_query() (Exim's, which the C library may have set up
 * before Exim's res_init() would run) are wrapped.
 *
 * Exim looks up SPF records (libspf2) and DKIM keys through the C library
 * and has no option naming a resolver, let alone a port; with this shim the
 * real Exim's SPF and DKIM verification, whose results feed Clawback's
 * DMARC evaluation, run against the test's zone. The port is read when the
 * shim is loaded: Exim clears its environment soon after. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>

static int port;

__attribute__((constructor)) static void
read_port(void)
{
    const char *p = getenv("CLAW_TEST_DNS_PORT");
    port = p ? atoi(p) : 0;
}

static void
point(res_state s)
{
    if (port <= 0 || port > 65535)
        return;
    s->nscount = 1;
    s->nsaddr_list[0].sin_family = AF_INET;
    s->nsaddr_list[0].sin_port = htons((unsigned short)port);
    s->nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* No IPv6 servers from the file either. */
    s->_u._ext.nscount = 0;
    s->options &= ~(unsigned long)RES_ROTATE;
}

int
__res_ninit(res_state s)
{
    int (*real)(res_state) = (int (*)(res_state))dlsym(RTLD_NEXT, "__res_ninit");
    int r = real ? real(s) : -1;
    if (r == 0)
        point(s);
    return r;
}

int
__res_init(void)
{
    int (*real)(void) = (int (*)(void))dlsym(RTLD_NEXT, "__res_init");
    int r = real ? real() : -1;
    if (r == 0)
        point(&_res);
    return r;
}

int
res_search(const char *name, int class, int type, unsigned char *answer, int anslen)
{
    int (*real)(const char *, int, int, unsigned char *, int) =
        (int (*)(const char *, int, int, unsigned char *, int))dlsym(RTLD_NEXT, "res_search");
    if (!(_res.options & RES_INIT))
        res_init();
    point(&_res);
    return real ? real(name, class, type, answer, anslen) : -1;
}

int
res_query(const char *name, int class, int type, unsigned char *answer, int anslen)
{
    int (*real)(const char *, int, int, unsigned char *, int) =
        (int (*)(const char *, int, int, unsigned char *, int))dlsym(RTLD_NEXT, "res_query");
    if (!(_res.options & RES_INIT))
        res_init();
    point(&_res);
    return real ? real(name, class, type, answer, anslen) : -1;
}
