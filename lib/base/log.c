/* log.c - the one logging facility: stderr, syslog or a caller's sink. */
#include "build-config.h"

#include "claw-private.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

static claw_log_level_t log_level = CLAW_LOG_NOTICE;
static claw_log_sink_t log_sink;
static void *log_ctx;
static char *syslog_ident;
/* Lines to stderr carry the time when they stand in for syslog's (a file
 * has no other clock). */
static bool stderr_stamps;

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

static void
stderr_sink(void *ctx, claw_log_level_t level, const char *id, const char *line)
{
    (void)ctx;
    char stamp[40] = "";
    if (stderr_stamps) {
        GDateTime *now = g_date_time_new_now_local();
        char *s = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S%z ");
        g_strlcpy(stamp, s ? s : "", sizeof stamp);
        g_free(s);
        g_date_time_unref(now);
    }
    if (id)
        fprintf(stderr, "%sclawback: %s: [%s] %s\n", stamp, level_names[level], id, line);
    else
        fprintf(stderr, "%sclawback: %s: %s\n", stamp, level_names[level], line);
}

static void
syslog_sink(void *ctx, claw_log_level_t level, const char *id, const char *line)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};
    (void)ctx;
    if (id)
        syslog(prio[level], "[%s] %s", id, line);
    else
        syslog(prio[level], "%s", line);
}

void
claw_log_set_sink(claw_log_sink_t sink, void *ctx)
{
    log_sink = sink;
    log_ctx = ctx;
}

void
claw_log_use_syslog(const char *ident, int facility)
{
    free(syslog_ident);
    syslog_ident = strdup(ident ? ident : "clawback");
    openlog(syslog_ident ? syslog_ident : "clawback", LOG_PID | LOG_NDELAY, facility);
    /* No syslog socket (a container, a chroot, a system without a syslog
     * daemon or journald): syslog() would drop every line without a word.
     * They go to stderr instead, and the first says why. */
    struct stat st;
    if (stat(_PATH_LOG, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        claw_log_set_sink(NULL, NULL);
        if (!stderr_stamps)
            claw_log(CLAW_LOG_NOTICE, NULL, "no syslog socket (%s): %s[%ld] logs here",
                     _PATH_LOG, ident ? ident : "clawback", (long)getpid());
        stderr_stamps = true;
        return;
    }
    claw_log_set_sink(syslog_sink, NULL);
}

void
claw_log_set_level(claw_log_level_t level)
{
    if (level > CLAW_LOG_DEBUG)
        level = CLAW_LOG_DEBUG;
    log_level = level;
}

claw_log_level_t
claw_log_get_level(void)
{
    return log_level;
}

claw_status_t
claw_log_level_from_string(const char *name, claw_log_level_t *level)
{
    if (!name || !level)
        return CLAW_STATUS_INVALID_ARGUMENT;
    for (unsigned i = 0; i < G_N_ELEMENTS(level_names); i++) {
        if (g_ascii_strcasecmp(name, level_names[i]) == 0) {
            *level = (claw_log_level_t)i;
            return CLAW_STATUS_SUCCESS;
        }
    }
    return CLAW_STATUS_INVALID_ARGUMENT;
}

void
claw_log(claw_log_level_t level, const char *id, const char *fmt, ...)
{
    char raw[2048];
    va_list ap;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);

    /* Whatever was formatted may hold message-derived text: escape it so
     * that one call is always exactly one line. */
    GString *line = g_string_sized_new(strlen(raw) + 16);
    _claw_escape_line(line, raw);
    GString *sid = NULL;
    if (id) {
        sid = g_string_new(NULL);
        _claw_escape_line(sid, id);
    }
    (log_sink ? log_sink : stderr_sink)(log_ctx, level, sid ? sid->str : NULL, line->str);
    if (sid)
        g_string_free(sid, TRUE);
    g_string_free(line, TRUE);
}

/* [log] facility's names, in the order of the option table's choices. */
static const struct {
    const char *name;
    int facility;
} facilities[] = {{"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
                  {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
                  {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
                  {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};

void
claw_log_configure(const claw_config_t *config, const char *ident, claw_log_force_t force)
{
    claw_config_t *defaults = NULL;
    if (!config && claw_config_new(&defaults) != CLAW_STATUS_SUCCESS)
        return;
    const claw_config_t *c = config ? config : defaults;
    claw_log_level_t level;
    /* The table only admits the level names, so this cannot fail. */
    if (claw_log_level_from_string(c->log_level, &level) == CLAW_STATUS_SUCCESS)
        claw_log_set_level(level);
    bool to_syslog = force == CLAW_LOG_FORCE_SYSLOG ||
                     (force == CLAW_LOG_AS_CONFIGURED && strcmp(c->log_sink, "syslog") == 0);
    if (!to_syslog) {
        claw_log_set_sink(NULL, NULL);
    } else {
        int facility = LOG_MAIL;
        for (size_t i = 0; i < G_N_ELEMENTS(facilities); i++)
            if (strcmp(facilities[i].name, c->log_facility) == 0)
                facility = facilities[i].facility;
        claw_log_use_syslog(ident, facility);
    }
    claw_config_destroy(defaults);
}
