/* audit-head.c - clawd writes the audit log's head (its number of records
 * and the last one's SHA-256) to its log, which is syslog on a server:
 * when it starts, every hour when the log grew, and when it stops. That
 * copy lives outside the store, so a log later rewritten whole or cut
 * short (which claw audit verify cannot see: whoever can write the store
 * can write a consistent chain and head) shows against it.
 */
#include "build-config.h"

#include "clawd.h"
#include "claw-audit.h"

#include <inttypes.h>

#define EVERY_S 3600

struct clawd_audit_head {
    server_t *srv;
    struct event *tick;
    uint64_t logged; /* the count last written, +1 (0: none yet) */
};

static void
log_head(clawd_audit_head_t *h, const char *when, bool always)
{
    uint64_t count;
    char hash[65];
    if (claw_audit_head(h->srv->archive, &count, hash) != CLAW_STATUS_SUCCESS) {
        claw_log(CLAW_LOG_ERROR, NULL, "audit head: %s", claw_archive_error(h->srv->archive));
        return;
    }
    if (!always && h->logged == count + 1)
        return;
    h->logged = count + 1;
    claw_log(CLAW_LOG_NOTICE, NULL, "audit head: records=%" PRIu64 " hash=%s at=%s", count, hash,
             when);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    log_head(arg, "hourly", false);
}

clawd_audit_head_t *
clawd_audit_head_start(server_t *srv)
{
    clawd_audit_head_t *h = g_new0(clawd_audit_head_t, 1);
    h->srv = srv;
    h->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, h);
    struct timeval every = {EVERY_S, 0};
    event_add(h->tick, &every);
    log_head(h, "start", true);
    return h;
}

void
clawd_audit_head_stop(clawd_audit_head_t *h)
{
    if (!h)
        return;
    event_free(h->tick);
    log_head(h, "stop", true);
    g_free(h);
}
