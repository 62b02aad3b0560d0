/* query-wire.h - claw's query service: how `claw search` and `claw show`
 * ask a running `claw serve` (cmd-serve.c) instead of opening the archive
 * themselves. libc only: the dispatcher (claw.c) speaks it.
 *
 * Why a service: a search opens LMDB, zstd and Xapian (loading and
 * relocating libstdc++ and libxapian costs more than the search), and
 * reading the archive needs write access to LMDB's lock file and to the
 * audit log, which an investigator should not have. `claw serve` runs as
 * the archive's owner with the modules loaded; an investigator in the
 * socket's group (clawback-read) asks it, and the read goes in the audit
 * log under the investigator's name (SO_PEERCRED), not the server's.
 *
 * The wire, on a Unix stream socket:
 *   client -> server: one message whose ancillary data passes the client's
 *     standard output and standard error (SCM_RIGHTS, two descriptors) and
 *     whose bytes begin the request; the request is CLAW_QUERY_MAGIC, then
 *     the command's arguments (argv[0] is the command), each ended by a
 *     NUL; the client then shuts its side for writing. At most
 *     CLAW_QUERY_MAX_REQUEST bytes, CLAW_QUERY_MAX_ARGS arguments.
 *   server: runs the command with those two descriptors as its standard
 *     output and error, so output goes straight to the client's terminal,
 *     pipe or file (nothing is copied through the socket, and a reader
 *     that stops reading holds up one worker, not the service);
 *   server -> client: "status N\n", N the command's exit status; then it
 *     closes. A server that refuses a request writes why on the client's
 *     standard error and answers a status of its own (EX_USAGE, ...). */
#ifndef CLAW_QUERY_WIRE_H
#define CLAW_QUERY_WIRE_H

#include <stdbool.h>

#define CLAW_QUERY_MAGIC "claw-query 1\n"
#define CLAW_QUERY_MAX_REQUEST 65536
#define CLAW_QUERY_MAX_ARGS 256

/* The socket: $CLAW_QUERY_SOCKET, else CLAW_QUERY_SOCKET_DEFAULT (set by
 * the build: $(runstatedir)/clawback-query.sock). */
const char *claw_query_socket(void);

/* Whether @command is one the service runs (search, show). */
bool claw_query_served(const char *command);

/* Run @command (@argv[0]) through the service at @socket_path. Returns
 * its exit status, or -1 (errno set) when no service answers there (no
 * socket, nobody listening, not allowed to connect): the caller then runs
 * the command itself. Once the request is sent the service's answer is
 * final; a service that dies before answering gives EX_UNAVAILABLE, said
 * on standard error. */
int claw_query_remote(const char *prog, const char *socket_path, int argc, char **argv);

#endif
