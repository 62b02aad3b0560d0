/* clawd.h - shared between clawd's own files (indexer/daemon/):
 *   clawd.c    start-up, options, signals (HUP reloads, TERM drains), exit
 *   listen.c   the listeners (Unix socket, TCP with its allow-list) and a
 *              connection's events
 *   lmtp.c     an LMTP session (RFC 2033): commands, DATA, and the 250 per
 *              recipient once the ingest pipeline has committed the message
 *   clawback.c quarantine indicators' mail taken back by clawd itself,
 *              plans cut short finished, and the daily retention
 */
#ifndef CLAWD_H
#define CLAWD_H

#include "claw-ingest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <getopt.h>
#include <grp.h>
#include <glib.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/ssl.h>

#define MAX_LINE 4096        /* a command line */
#define MAX_RCPT 1000        /* recipients per transaction */
#define IDLE_TIMEOUT 300     /* seconds, as RFC 5321 asks of servers */
#define DRAIN_TIMEOUT 60     /* seconds SIGTERM waits for sessions */
#define MAX_OUTPUT 65536     /* replies queued before a session stops reading */
#define DATA_ROOM 65536      /* budget a new DATA needs left to start */

typedef struct clawd_publisher clawd_publisher_t;
typedef struct clawd_hunter clawd_hunter_t;
typedef struct clawd_puller clawd_puller_t;
typedef struct clawd_audit_head clawd_audit_head_t;

typedef struct server {
    struct event_base *base;
    claw_config_t *cfg;
    const char *config_path;
    bool log_stderr;         /* --stderr: whatever [log] sink says, also after HUP */
    char *archive_dir;
    claw_archive_t *archive;
    claw_indexer_t *indexer;
    claw_ingest_t *ingest;
    GPtrArray *listeners;    /* struct evconnlistener */
    char *socket_path;       /* to unlink at exit (clawd_socket_remove) */
    struct stat socket_made; /* ... if it is still the socket we made */
    GArray *allow;           /* claw_cidr_t, [clawd] allow (start, HUP) */
    char hostname[256];
    uint64_t max_size;       /* a message: [limits] max_message_bytes, at most the budget */
    uint64_t budget;         /* [clawd] memory_budget: DATA held by all sessions */
    uint64_t held;           /* what they hold now */
    long max_sessions;
    long sessions;
    GHashTable *live;        /* session_t* */
    bool draining;
    struct event *done_ev;
    GMutex done_lock;
    GQueue done;             /* completed_t* from the writer thread */
    struct event *sig_term, *sig_int, *sig_hup, *drain_timer;
    uint64_t stored, failed;
    SSL_CTX *tls;            /* STARTTLS on TCP (tls.c); NULL: not offered */
    int exit_code;           /* set when clawd ends itself (the store broke) */
    bool tcp_auth;           /* [clawd] tcp_auth = certificate */
    clawd_publisher_t *publisher; /* the MTA's copy of the indicators (publish.c) */
    clawd_hunter_t *hunter;  /* hunts of new indicators (autohunt.c) */
    clawd_puller_t *puller;  /* the feeds of [feeds] (puller.c); NULL: none */
    clawd_audit_head_t *audit_head; /* the audit log's head to syslog (audit-head.c) */
} server_t;

typedef enum { S_CMD, S_DATA, S_WAIT, S_CLOSING } state_t;

/* Where DATA's byte stream is: at the start of a line, in one, after its
 * CR, after a dot at the start of a line, after that dot's CR. */
typedef enum { D_BOL, D_LINE, D_CR, D_DOT, D_DOT_CR } data_state_t;

/* Why a message being received will not be stored (its bytes are read
 * and dropped until its end, then each recipient is told). */
typedef enum {
    REFUSE_NONE,
    REFUSE_SIZE,   /* larger than max_size: 552 */
    REFUSE_BUDGET, /* the memory budget ran out under it: 452 */
    REFUSE_MEMORY, /* malloc failed: 451 */
} refusal_t;

typedef struct session {
    server_t *srv;
    struct bufferevent *bev;
    state_t state;
    int refs;
    bool closed;             /* the connection is gone */
    bool lhlo;
    bool trusted;            /* an authenticated MTA: the group-only Unix
                              * socket, or TCP with a verified client
                              * certificate (its X-Clawback-* fields and
                              * XFORWARD are believed) */
    bool tcp;                /* came over TCP */
    bool tls_on;             /* STARTTLS done */
    char peer[64];
    char *mail_from;         /* NULL: no MAIL yet */
    GPtrArray *rcpt;
    claw_delivery_attrs_t xforward;
    bool out_paused;         /* not reading until the client reads its replies */
    /* The message as it arrives: dot-unstuffed, CRLF made LF (how
     * mailboxes store mail), counted in srv->held. */
    char *msg;
    size_t len, cap;
    data_state_t dstate;
    bool bare_lf;            /* the line before ended in a bare LF */
    refusal_t refusal;
} session_t;

typedef struct {
    session_t *s;
    claw_item_t *item;
    claw_status_t st;
    char *error;
} completed_t;

/* clawd.c */
/* Stop accepting, finish the sessions' transactions, then leave the loop
 * (@why is logged). */
void clawd_stop(server_t *srv, const char *why);

/* listen.c */
/* Drive @s by the events of s->bev (after accept, and after STARTTLS). */
void clawd_session_watch(session_t *s);

/* tls.c */
/* Make srv->tls from [clawd] tls_* for the TCP listeners; false (logged)
 * when they are incomplete or do not load. */
bool clawd_tls_setup(server_t *srv);
void clawd_tls_free(server_t *srv);
/* Whether LHLO offers STARTTLS to @s. */
bool clawd_tls_offered(const session_t *s);
/* After "220 Ready to start TLS": the rest of the input dropped, s->bev
 * becomes the TLS filter over it. False when TLS cannot start. */
bool clawd_tls_start(session_t *s);
/* The handshake is done: trust @s if its certificate verified. */
void clawd_tls_established(session_t *s);

/* lmtp.c */
void clawd_reply(session_t *s, const char *fmt, ...) CLAW_PRINTF(2, 3);
void clawd_session_close(session_t *s);
void clawd_close_after_flush(session_t *s);
void clawd_session_process(session_t *s);
void clawd_session_resume(session_t *s);
void clawd_ingest_done(void *ctx, void *tag, claw_item_t *item, claw_status_t st, const char *error);
void clawd_on_done(evutil_socket_t fd, short what, void *arg);

/* listen.c */
bool clawd_listen_unix(server_t *srv, const char *path, unsigned mode, const char *group);
/* Remove the socket clawd_listen_unix made, if it is still that socket. */
void clawd_socket_remove(server_t *srv);
bool clawd_listen_tcp(server_t *srv, const char *spec);

/* clawd.c */
void clawd_check_drained(server_t *srv);

/* The MTA's copy of the archive's indicators kept current (publish.c):
 * published at start, after each change to the store and when one starts
 * or ends. Stopping waits for a publishing under way. */
clawd_publisher_t *clawd_publisher_start(server_t *srv);
void clawd_publisher_stop(clawd_publisher_t *publisher);

/* The audit log's head (count, last hash) logged at start, hourly when it
 * grew, and at stop (audit-head.c). */
clawd_audit_head_t *clawd_audit_head_start(server_t *srv);
void clawd_audit_head_stop(clawd_audit_head_t *head);

/* Every indicator added or changed hunted over the whole archive, kept as
 * hunts by "clawd" (autohunt.c). Stopping waits for the hunt under way. */
clawd_hunter_t *clawd_hunter_start(server_t *srv);
void clawd_hunter_stop(clawd_hunter_t *hunter);

/* Claw-back by clawd itself (clawback.c), in the hunter's thread with its
 * reader of the index: a quarantine indicator's hunt @run made into a
 * quarantine plan of every copy it found (run at once unless it awaits
 * approval); and at start, the plans a crash cut short finished. */
typedef struct claw_hunt_run claw_hunt_run_t;
void clawd_clawback_hunt(server_t *srv, claw_index_t *ix, const claw_hunt_run_t *run);
void clawd_clawback_resume(server_t *srv, claw_index_t *ix);
/* The day's retention (clawback.c): the mail [retention] lets go of as of
 * @now, a delete plan made and run as clawd; false when it could not be. */
bool clawd_retention_run(server_t *srv, claw_index_t *ix, int64_t now);

/* The feeds of [feeds] pulled on their schedules into the indicators
 * (puller.c); NULL when there are none. Stopping cancels a pull under way.
 * A SIGHUP stops it and starts it again with the new feeds. */
clawd_puller_t *clawd_puller_start(server_t *srv);
void clawd_puller_stop(clawd_puller_t *puller);

#endif /* CLAWD_H */
