/* claw_exim.c - Clawback inside Exim: one small shared object, two entries.
 *
 *   ${dlfunc{/usr/lib/clawback/claw_exim.so}{claw_scan}{...}}
 *       in acl_smtp_data: judges the message, stamps it, and returns a
 *       "key=value" verdict for the ACL (action, score, rules, id, reason);
 *   local_scan_path = /usr/lib/clawback/claw_exim.so
 *       Debian's dlopen'd local_scan (ABI 6.0): judges every message,
 *       including non-SMTP submissions, and applies the verdict itself.
 *   smtp_accept_max_per_host = ${dlfunc{.../claw_exim.so}{claw_preload}{}}
 *       optional, for either mode: loads this object in the daemon, so
 *       each connection's process has it from the fork.
 *
 * The judging happens in claw-scanner (claw-scanner.c): one engine and a
 * pool of workers on a Unix socket in Exim's spool directory, started by
 * the first message that needs it. This object links nothing but libc, so
 * Exim's receiving process loads it in no time: it reads the [mta] section
 * of clawback.conf (through libclaw's option table, config.c, compiled in), sends the envelope and header lines with the spool data
 * file's descriptor (scan-proto.h), and waits until its deadline. A hang or
 * a crash costs a worker, never Exim's process. Anything that stops a
 * verdict becomes the configured outcome: a temporary failure (451) unless
 * [mta] on_failure = accept, always with a line in Exim's main log.
 *
 * local_scan.h defines OK, FAIL, BOOL and friends: it is included here
 * only.
 */
#include "build-config.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "claw-config.h"
#include "claw-ulid.h"
#include "scan-proto.h"

#define DLFUNC_IMPL
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <local_scan.h>
#pragma GCC diagnostic pop


#ifndef CLAW_SCANNER
#define CLAW_SCANNER "/usr/lib/clawback/claw-scanner"
#endif

#define EXPORT __attribute__((visibility("default")))

/* [mta] of the configuration file, as this process last read it. */
static struct {
    char path[4096];
    struct stat st;
    bool loaded;
    bool fail_open;      /* on_failure = accept */
    int64_t deadline_ms; /* deadline */
    char test_fault[16]; /* test_fault */
} mta = {.deadline_ms = 2000, .test_fault = "none"};

/* The message last stamped, so the dlfunc and local_scan together, or a
 * dlfunc expanded twice, stamp it once. */
static char stamped_id[MESSAGE_ID_LENGTH + 1];

static const char *
config_path(const char *arg)
{
    if (arg && *arg)
        return arg;
    const char *env = getenv("CLAWBACK_CONFIG");
    return env && *env ? env : CLAW_DEFAULT_CONFIG;
}

/* Read [mta] from @path if it changed. The rest of the file is the
 * scanner's to check: it answers a request with the error when the file no
 * longer loads. False with *@why when the file cannot be read or its
 * [mta] is wrong ("file:line: message"). */
static bool
read_mta(const char *path, char **why)
{
    struct stat st;
    if (stat(path, &st) != 0)
        memset(&st, 0, sizeof st); /* none: the loader says if that may be */
    if (mta.loaded && !strcmp(mta.path, path) && proto_same_file(&st, &mta.st))
        return true;
    /* The option table of every program, [mta] only (config.c). */
    claw_config_t *cfg = NULL;
    int64_t deadline;
    if (_claw_config_load_section(path, "mta", &cfg, why) != CLAW_STATUS_SUCCESS) {
        /* The site's on_failure stands while another [mta] line is wrong:
         * a fail-open site keeps accepting (unscanned), the others defer. */
        if (cfg) {
            mta.fail_open = !strcmp(claw_config_get(cfg, "mta", "on_failure"), "accept");
            claw_config_destroy(cfg);
        }
        if (!*why)
            *why = _claw_strdup_printf("configuration %s: out of memory", path);
        return false;
    }
    claw_config_get_duration_ms(cfg, "mta", "deadline", &deadline);
    bool fail_open = !strcmp(claw_config_get(cfg, "mta", "on_failure"), "accept");
    char fault[sizeof mta.test_fault];
    snprintf(fault, sizeof fault, "%s", claw_config_get(cfg, "mta", "test_fault"));
    claw_config_destroy(cfg);
    snprintf(mta.path, sizeof mta.path, "%s", path);
    mta.st = st;
    mta.loaded = true;
    mta.fail_open = fail_open;
    mta.deadline_ms = deadline;
    memcpy(mta.test_fault, fault, sizeof fault);
    return true;
}

/* ------------------------------------------------------------------------
 * Reading the message
 * --------------------------------------------------------------------- */

/* Exim's spool directory (not exported: expanded once per process). */
static const char *
spool_dir(void)
{
    static char *spool;
    if (!spool) {
        const char *s = (const char *)expand_string((uschar *)"$spool_directory");
        if (s && *s)
            spool = strdup(s);
    }
    return spool;
}

/* True if @fd is open on the file @want. */
static bool
fd_is(int fd, const struct stat *want)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino;
}

/* The fd this process already holds on the -D spool file of @id. Exim does
 * not export it, and opening the file ourselves then closing it would drop
 * Exim's lock on it (POSIX close semantics), so we find it by inode: first
 * the one that held the last message, then the low numbers (Exim opens it
 * among its first few), and only then the list in /proc/self/fd, whose
 * lookups cost a new connection's process more than all the rest of the
 * plugin's work in it. */
static int
find_data_fd(const char *id)
{
    static int last = -1;
    const char *spool = spool_dir();
    if (!spool || strlen(id) < 6)
        return -1;
    char path[4096];
    struct stat want;
    snprintf(path, sizeof path, "%s/input/%s-D", spool, id);
    if (stat(path, &want) != 0) {
        snprintf(path, sizeof path, "%s/input/%c/%s-D", spool, id[5], id);
        if (stat(path, &want) != 0)
            return -1;
    }
    if (last >= 0 && fd_is(last, &want))
        return last;
    for (int n = 0; n < 64; n++)
        if (fd_is(n, &want))
            return last = n;
    int fd = -1;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    while (d && fd < 0 && (de = readdir(d))) {
        char *end;
        long n = strtol(de->d_name, &end, 10);
        if (*end || end == de->d_name || n == dirfd(d))
            continue;
        if (fd_is((int)n, &want))
            fd = (int)n;
    }
    if (d)
        closedir(d);
    return fd >= 0 ? (last = fd) : -1;
}

/* A growing buffer. */
typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} buf_t;

static void
buf_add(buf_t *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
}

static void
buf_field(buf_t *b, const char *s)
{
    buf_add(b, s ? s : "", strlen(s ? s : "") + 1);
}

/* Exim's own verdicts on the message's authentication, as it would write
 * them into an Authentication-Results field: DKIM (verified before the DATA
 * ACL), SPF (after an "spf =" ACL condition), without the field's name. */
static const char *
exim_authresults(void)
{
    const char *v = (const char *)expand_string((uschar *)"${authresults{clawback}}");
    static const char name[] = "Authentication-Results:";
    if (!v)
        return "";
    if (!strncasecmp(v, name, sizeof name - 1))
        v += sizeof name - 1;
    return v;
}

/* The request (scan-proto.h): the envelope Exim knows and what the ACL
 * passes (dmarc=, spf=, dkim=, authres=; Exim's own ${authresults} when no
 * authres= is given), then Exim's header lines. */
static bool
request(buf_t *b, const char *cfg_path, const char *const *kv, int n_kv)
{
    const char *dmarc = "", *spf = "", *dkim = "", *authres = NULL;
    for (int i = 0; i < n_kv; i++) {
        const char *a = kv[i];
        if (!strncmp(a, "dmarc=", 6))
            dmarc = a + 6;
        else if (!strncmp(a, "spf=", 4))
            spf = a + 4;
        else if (!strncmp(a, "dkim=", 5))
            dkim = a + 5;
        else if (!strncmp(a, "authres=", 8))
            authres = a + 8;
    }
    uint32_t len = 0;
    char num[32];
    buf_add(b, &len, sizeof len);
    buf_field(b, cfg_path);
    buf_field(b, mta.test_fault);
    snprintf(num, sizeof num, "%" PRId64, mta.deadline_ms);
    buf_field(b, num);
    buf_field(b, (const char *)sender_host_address);
    buf_field(b, (const char *)expand_string((uschar *)"$sender_helo_name"));
    buf_field(b, (const char *)sender_address);
    buf_field(b, dmarc);
    buf_field(b, spf);
    buf_field(b, dkim);
    buf_field(b, authres ? authres : exim_authresults());
    snprintf(num, sizeof num, "%d", recipients_count);
    buf_field(b, num);
    for (int i = 0; i < recipients_count; i++)
        buf_field(b, (const char *)recipients_list[i].address);
    for (header_line *h = header_list; h; h = h->next)
        if (h->type != '*' && h->text)
            buf_add(b, h->text, (size_t)h->slen);
    if (b->failed || b->len - sizeof len > UINT32_MAX)
        return false;
    len = (uint32_t)(b->len - sizeof len);
    memcpy(b->s, &len, sizeof len);
    return true;
}

/* ------------------------------------------------------------------------
 * The scanner
 * --------------------------------------------------------------------- */

/* Its socket: in Exim's spool directory, so each Exim instance has its own
 * and only Exim's user can reach it. */
static bool
scanner_address(struct sockaddr_un *sa, char **why)
{
    const char *spool = spool_dir();
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (!spool ||
        snprintf(sa->sun_path, sizeof sa->sun_path, "%s/" SCAN_PROTO_SOCKET, spool) >=
            (int)sizeof sa->sun_path) {
        *why = _claw_strdup_printf("no room for the scanner's socket under %s", spool ? spool : "?");
        return false;
    }
    return true;
}

static int
scanner_connect(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* claw-scanner beside this object if it is there (a build tree, a test),
 * else where it is installed. */
static const char *
scanner_program(void)
{
    static char path[4096];
    Dl_info info;
    if (dladdr((void *)scanner_program, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash && snprintf(path, sizeof path, "%.*s/claw-scanner",
                              (int)(slash - info.dli_fname), info.dli_fname) < (int)sizeof path &&
            access(path, X_OK) == 0)
            return path;
    }
    return CLAW_SCANNER;
}

/* Where the scanner's stderr goes: beside its socket, in Exim's spool
 * (its log, where the system has no syslog socket; a failure to start). */
static void
scanner_log_path(const char *sock_path, char *out, size_t size)
{
    const char *slash = strrchr(sock_path, '/');
    snprintf(out, size, "%.*s/claw-scanner.log", slash ? (int)(slash - sock_path) : 1,
             slash ? sock_path : ".");
}

/* Start a scanner, detached: it outlives this connection. Two receiving
 * processes may both try; the scanner's lock lets one through. */
static void
scanner_spawn(const char *sock_path, const char *cfg_path)
{
    const char *prog = scanner_program();
    char log_path[4096];
    scanner_log_path(sock_path, log_path, sizeof log_path);
    pid_t a = fork();
    if (a == 0) {
        setsid();
        if (fork() == 0) {
            close_range(0, ~0U, 0);
            /* 0 and 1 on /dev/null, 2 on the log (append: two may start). */
            if (open("/dev/null", O_RDONLY) == 0 && open("/dev/null", O_WRONLY) == 1 &&
                open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0640) != 2)
                open("/dev/null", O_WRONLY);
            execl(prog, "claw-scanner", "--socket", sock_path, "--config", cfg_path,
                  (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    if (a > 0)
        while (waitpid(a, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* Judge the message whose spool data file is open as @data_fd. Returns
 * true with *@r filled, or false with *@why (free it). */
static bool
scan(int data_fd, const char *cfg_arg, const char *const *kv, int n_kv, scan_result_t *r,
     char **why)
{
    const char *cfg_path = config_path(cfg_arg);
    if (!read_mta(cfg_path, why))
        return false;
    int64_t end = proto_now_ms() + mta.deadline_ms;
    struct sockaddr_un sa;
    if (!scanner_address(&sa, why))
        return false;
    int sock = scanner_connect(&sa);
    if (sock < 0) {
        scanner_spawn(sa.sun_path, cfg_path);
        for (long wait = 2; sock < 0 && proto_now_ms() < end; wait = wait < 25 ? wait * 2 : 50) {
            struct timespec ts = {0, wait * 1000000};
            nanosleep(&ts, NULL);
            sock = scanner_connect(&sa);
        }
        if (sock < 0) {
            char log_path[4096];
            scanner_log_path(sa.sun_path, log_path, sizeof log_path);
            *why = _claw_strdup_printf("%s did not start (see syslog, or %s)", scanner_program(),
                                       log_path);
            return false;
        }
    }
    buf_t req = {0};
    bool ok = request(&req, cfg_path, kv, n_kv) &&
              proto_send_with_fd(sock, req.s, req.len, data_fd, end) &&
              proto_read(sock, r, sizeof *r, end);
    free(req.s);
    close(sock);
    if (ok) {
        r->action[sizeof r->action - 1] = r->line[sizeof r->line - 1] = '\0';
        r->reason[sizeof r->reason - 1] = r->rules[sizeof r->rules - 1] = '\0';
        r->verdict[sizeof r->verdict - 1] = '\0';
        if (!strcmp(r->action, "error")) {
            *why = _claw_strdup_printf("%s", r->reason);
            return false;
        }
    } else if (req.failed) {
        *why = _claw_strdup_printf("out of memory");
    } else if (proto_now_ms() >= end) {
        *why = _claw_strdup_printf("deadline of %" PRId64 " ms passed", mta.deadline_ms);
    } else {
        *why = _claw_strdup_printf("scanner failed");
    }
    return ok;
}

/* ------------------------------------------------------------------------
 * Stamping and answering
 * --------------------------------------------------------------------- */

/* Remove X-Clawback-* headers that came with the message and add ours.
 * @r is NULL for a message that was not scanned. Once per message. */
static void
stamp(const char *id, const scan_result_t *r, const char *why)
{
    if (message_id && !strcmp(stamped_id, (const char *)message_id))
        return;
    if (message_id)
        snprintf(stamped_id, sizeof stamped_id, "%s", (const char *)message_id);
    header_remove(0, (const uschar *)"X-Clawback-Id");
    header_remove(0, (const uschar *)"X-Clawback-Verdict");
    header_remove(0, (const uschar *)"X-Clawback-Rules");
    header_add(' ', "X-Clawback-Id: %s\n", id);
    if (r) {
        /* Both values are libclaw's verdict codec's (claw_verdict_header(),
         * claw_verdict_rules_header()), which the archive reads back. */
        header_add(' ', "X-Clawback-Verdict: %s\n", r->verdict);
        if (r->rules[0])
            header_add(' ', "X-Clawback-Rules: %s\n", r->rules);
    } else {
        header_add(' ', "X-Clawback-Verdict: " CLAW_VERDICT_UNSCANNED "; reason=\"%s\"\n", why);
    }
}

/* @s made safe inside "..." for ${extract} and a header: printable ASCII,
 * '"' and '\' escaped, at most @max bytes of input. In Exim's store. */
static char *
quoted(const char *s, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; s && s[i] && i < max; i++)
        n += 1 + (s[i] == '"' || s[i] == '\\');
    char *q = store_get((int)n + 1, GET_UNTAINTED);
    size_t o = 0;
    for (size_t i = 0; s && s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            q[o++] = '\\';
        q[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    q[o] = '\0';
    return q;
}

/* The message's Message-ID as the log gives it: its first word, "-" when
 * it has none (in Exim's store). */
static const char *
log_message_id(void)
{
    for (header_line *h = header_list; h; h = h->next) {
        if (h->type == '*' || strncasecmp((const char *)h->text, "Message-ID:", 11))
            continue;
        const char *v = (const char *)h->text + 11;
        v += strspn(v, " \t\r\n");
        size_t n = strcspn(v, " \t\r\n");
        return n ? quoted((const char *)string_sprintf("%.*s", (int)n, v), 250) : "-";
    }
    return "-";
}

/* The one line in Exim's main log for each message the plugin saw,
 * whatever became of it, with the ids an admin follows it by: ours, Exim's
 * and the Message-ID, then what was decided (@what: "action=... score=...
 * rules=...", or a failure's "action=defer reason=..."). Exim's own lines
 * (its arrival, its rejection) stay as they are. */
static void
log_verdict(const char *id, const char *what)
{
    log_write(0, LOG_MAIN, "clawback: id=%s queue_id=%s message-id=%s %s", id,
              message_id && *message_id ? (const char *)message_id : "-", log_message_id(),
              what);
}

/* A message that could not be judged, for @why (freed here): accepted,
 * stamped "unscanned", when [mta] on_failure = accept (returns true), else
 * to be deferred (false). Logged either way. *@reason is @why made safe to
 * quote (in Exim's store). */
static bool
not_scanned(const char *id, char *why, char **reason)
{
    char *q = quoted(why, 300);
    free(why);
    *reason = q;
    if (mta.fail_open) {
        log_verdict(id, (const char *)string_sprintf("action=accept unscanned=yes "
                                                     "on_failure=accept reason=\"%s\"", q));
        stamp(id, NULL, q);
        return true;
    }
    log_verdict(id, (const char *)string_sprintf("action=defer reason=\"%s\"", q));
    return false;
}

/* ------------------------------------------------------------------------
 * ${dlfunc{claw_exim.so}{claw_scan}{ARG}...}
 *
 * Arguments, all optional: config=FILE, dmarc=RESULT, spf=RESULT,
 * dkim=RESULT, authres=VALUE (as the ACL knows them). Returns OK and
 *   action=tag score=6 rules=A,B dmarc=fail dmarc_policy=reject id=01J... reason="A: ..."
 * or, when the message could not be judged, DEFER (the ACL gives 451) or,
 * with [mta] on_failure = accept, OK and "action=accept ... unscanned=yes".
 * --------------------------------------------------------------------- */

EXPORT int claw_scan(uschar **yield, int argc, uschar *argv[]);

EXPORT int
claw_scan(uschar **yield, int argc, uschar *argv[])
{
    const char *cfg = NULL;
    for (int i = 0; i < argc; i++)
        if (!strncmp((const char *)argv[i], "config=", 7))
            cfg = (const char *)argv[i] + 7;
    char id[27];
    claw_ulid(id);
    char *why = NULL;
    scan_result_t r;
    int fd = message_id ? find_data_fd((const char *)message_id) : -1;
    bool ok = false;
    if (fd < 0)
        why = _claw_strdup_printf("the message's spool data file is not open in this process "
                         "(call claw_scan from acl_smtp_data)");
    else
        ok = scan(fd, cfg, (const char *const *)argv, argc, &r, &why);

    if (ok) {
        stamp(id, &r, NULL);
        log_verdict(id, r.line);
        *yield = (uschar *)string_sprintf("%s id=%s reason=\"%s\"", r.line, id,
                                          quoted(r.reason, sizeof r.reason));
        return OK;
    }
    char *q;
    if (not_scanned(id, why, &q)) {
        *yield = (uschar *)string_sprintf(
            "action=accept score=0 rules= id=%s unscanned=yes reason=\"%s\"", id, q);
        return OK;
    }
    /* OK with action=defer, for the ACL's defer: a failed expansion would
     * also write Exim's panic log, once a message. */
    *yield = (uschar *)string_sprintf("action=defer score=0 rules= id=%s reason=\"%s\"", id, q);
    return OK;
}

/* ------------------------------------------------------------------------
 * ${dlfunc{claw_exim.so}{claw_preload}{LIMIT}}
 *
 * For smtp_accept_max_per_host, which Exim expands in the daemon for each
 * new connection, before it forks the connection's process: the expansion
 * loads this object there once (Exim keeps what it has loaded), so no
 * connection loads it again. Returns LIMIT, the site's own per-host limit
 * ("" for none). Runs in the daemon, as root: it reads the [mta] section
 * (re-read only when the file changes), and does nothing else.
 * --------------------------------------------------------------------- */

EXPORT int claw_preload(uschar **yield, int argc, uschar *argv[]);

EXPORT int
claw_preload(uschar **yield, int argc, uschar *argv[])
{
    /* [mta] too, so a connection's process only checks it is unchanged. */
    char *why = NULL;
    read_mta(config_path(NULL), &why);
    free(why);
    *yield = argc > 0 ? argv[0] : (uschar *)"";
    return OK;
}

/* ------------------------------------------------------------------------
 * local_scan_path (Debian's dlopen'd local_scan, ABI 6.0)
 * --------------------------------------------------------------------- */

EXPORT int local_scan_version_major(void);
EXPORT int local_scan_version_minor(void);
EXPORT int local_scan(int fd, uschar **return_text);

EXPORT int
local_scan_version_major(void)
{
    return LOCAL_SCAN_ABI_VERSION_MAJOR;
}

EXPORT int
local_scan_version_minor(void)
{
    return 0;
}

EXPORT int
local_scan(int fd, uschar **return_text)
{
    char id[27];
    claw_ulid(id);
    char *why = NULL;
    scan_result_t r;
    if (!scan(fd, NULL, NULL, 0, &r, &why)) {
        char *q;
        if (not_scanned(id, why, &q))
            return LOCAL_SCAN_ACCEPT;
        *return_text =
            (uschar *)string_copy((const uschar *)"Message not scanned, try again later");
        return LOCAL_SCAN_TEMPREJECT;
    }
    stamp(id, &r, NULL);
    log_verdict(id, r.line);
    if (!strcmp(r.action, "reject")) {
        char *reason = quoted(r.reason, sizeof r.reason);
        *return_text = (uschar *)string_sprintf("rejected by policy: %s", reason);
        return LOCAL_SCAN_REJECT;
    }
    if (!strcmp(r.action, "quarantine"))
        return LOCAL_SCAN_ACCEPT_FREEZE;
    return LOCAL_SCAN_ACCEPT;
}
