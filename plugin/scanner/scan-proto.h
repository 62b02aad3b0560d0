/* scan-proto.h - what the Exim plugin and claw-scanner say to each other
 * over the scanner's Unix socket, and the I/O both sides use. Neither this
 * nor scan-proto.c needs libclaw: the plugin stays small.
 *
 * A request is a u32 length (host order: both ends are on this machine),
 * sent with the spool data file's descriptor (SCM_RIGHTS), then REQ_FIELDS
 * NUL-terminated fields (the configuration file, the test fault, the
 * deadline in ms, client IP, HELO, sender, DMARC, SPF, DKIM, Exim's own
 * Authentication-Results value, the number of recipients), the recipients, each NUL-terminated, and Exim's header lines.
 * The answer is one scan_result_t. */
#ifndef CLAW_SCAN_PROTO_H
#define CLAW_SCAN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum { REQ_FIELDS = 11 };

/* The scanner's socket in Exim's spool directory, named with the version
 * of this protocol: a scanner left running by an older plugin keeps its
 * own socket, and a new plugin starts a scanner of its own instead of
 * reading answers laid out another way. Raise it with any change to the
 * request or to scan_result_t. */
#define SCAN_PROTO_SOCKET "clawback-scanner-3.sock"

typedef struct {
    char action[16];   /* accept|tag|quarantine|reject, or "error" */
    char line[1024];   /* claw_verdict_format(), or for "error" empty */
    char reason[400];  /* claw_verdict_reason(), or what went wrong */
    char verdict[128]; /* claw_verdict_header(): X-Clawback-Verdict's value */
    char rules[800];   /* claw_verdict_rules_header(): X-Clawback-Rules' value */
} scan_result_t;

/* The same file, unchanged since @b was taken (a configuration to re-read?). */
bool proto_same_file(const struct stat *a, const struct stat *b);
int64_t proto_now_ms(void);
/* Wait for @events on @fd until @end (ms on proto_now_ms's clock). */
bool proto_wait(int fd, short events, int64_t end);
/* Exactly @len bytes, or false on EOF, error or @end (< 0: no deadline). */
bool proto_read(int fd, void *buf, size_t len, int64_t end);
bool proto_write(int fd, const void *buf, size_t len, int64_t end);
/* @len bytes at @buf with @fd passed along, then false or true as above. */
bool proto_send_with_fd(int sock, const void *buf, size_t len, int fd, int64_t end);
/* A request: its bytes after the length, NUL-terminated (*@len of them,
 * free() it), and the descriptor that came with it; NULL, with no
 * descriptor left open, on EOF, error, more than @max bytes or none. */
char *proto_recv_request(int sock, size_t max, size_t *len, int *fd);

#endif
