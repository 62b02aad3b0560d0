/* exim.c - copies still in Exim's queue (claw-targets.h): a message the
 * archive has while Exim still holds it for some recipient (a remote
 * server deferring, a frozen message). The archive knows Exim's message
 * id from the journal transport (X-Clawback-Envelope-Queue-Id). Exim's own
 * commands act on it: -Mf freezes it (no delivery is tried while frozen),
 * -Mt thaws it, -Mrm removes it; -Mvh says whether it is there and frozen.
 *
 * Privileges: those commands are for an Exim administrator: root, or a
 * user in Exim's admin_groups (Debian-exim on Debian).
 */
#include "build-config.h"

#include "claw-targets.h"

#include <glib.h>
#include <string.h>

struct claw_exim_target {
    char *command; /* exim and its first arguments (-C FILE ...) */
};

claw_exim_target_t *
claw_exim_target_new(const char *command, char **error)
{
    if (!claw_command_check("exim", command, error))
        return NULL;
    claw_exim_target_t *t = g_new0(claw_exim_target_t, 1);
    t->command = g_strdup(command);
    return t;
}

void
claw_exim_target_free(claw_exim_target_t *t)
{
    if (!t)
        return;
    g_free(t->command);
    g_free(t);
}

bool
claw_exim_id_ok(const char *id)
{
    /* Exim's ids: base-62 time, pid and fraction joined by '-' (16
     * characters; 23 from Exim 4.97). Never an option to it. */
    size_t n = id ? strlen(id) : 0;
    return n >= 16 && n <= 32 && id[0] != '-' &&
           strspn(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") == n;
}

/* Run exim with @opt and @id: its exit status (-1: not run), what it
 * wrote (*@out, g_free, may be NULL) and its first line of complaint
 * (*@err, g_free). */
static int
run_exim(const claw_exim_target_t *t, const char *opt, const char *id, char **out, char **err)
{
    const char *args[] = {opt, id, NULL};
    return claw_command_run(t->command, args, NULL, 0, out, err);
}

int
claw_exim_queued(claw_exim_target_t *t, const char *id)
{
    if (!claw_exim_id_ok(id))
        return 0;
    char *out = NULL;
    int rc = run_exim(t, "-Mvh", id, &out, NULL);
    /* The header file's flags: "-frozen <time>" while frozen. */
    int state = rc != 0 ? 0 : out && strstr(out, "\n-frozen ") ? 2 : 1;
    g_free(out);
    return state;
}

claw_copy_status_t
claw_exim_act(void *ctx, claw_plan_action_t action, const claw_copy_t *copy, char **detail)
{
    claw_exim_target_t *t = ctx;
    const char *id = copy->where;
    *detail = NULL;
    if (!claw_exim_id_ok(id)) {
        *detail = g_strdup("not an Exim message id");
        return CLAW_COPY_FAILED;
    }
    int state = claw_exim_queued(t, id);
    if (!state) {
        /* Delivered (or removed) since the plan; a delete cut short after
         * its -Mrm finds it gone too. */
        bool ours = action == CLAW_PLAN_DELETE && copy->status == CLAW_COPY_STARTED;
        *detail = g_strdup(ours ? "removed from the queue" : "not in the queue any more");
        return ours ? CLAW_COPY_DONE : CLAW_COPY_GONE;
    }
    const char *opt = action == CLAW_PLAN_DELETE       ? "-Mrm"
                      : action == CLAW_PLAN_QUARANTINE ? "-Mf"
                                                       : "-Mt";
    bool done_already = (action == CLAW_PLAN_QUARANTINE && state == 2) ||
                        (action == CLAW_PLAN_RESTORE && state == 1);
    /* Exim says why it would not (the message locked by a delivery) on
     * its standard output, other complaints on its error output. */
    char *said = NULL, *out = NULL;
    int rc = done_already ? 0 : run_exim(t, opt, id, &said, &out);
    if (out && !*out && said) {
        g_free(out);
        out = g_strndup(said, strcspn(said, "\n"));
    }
    g_free(said);
    int now = rc == 0 ? claw_exim_queued(t, id) : state;
    bool ok = rc == 0 && (action == CLAW_PLAN_DELETE     ? now == 0
                          : action == CLAW_PLAN_QUARANTINE ? now == 2
                                                           : now != 2);
    if (ok) {
        *detail = g_strdup(action == CLAW_PLAN_DELETE       ? "removed from the queue"
                           : action == CLAW_PLAN_QUARANTINE ? "frozen in the queue"
                                                            : "thawed in the queue");
    } else {
        *detail = g_strdup_printf("exim %s %s: exit %d%s%s", opt, id, rc, out && *out ? ": " : "",
                                  out ? out : "");
    }
    g_free(out);
    return ok ? CLAW_COPY_DONE : CLAW_COPY_FAILED;
}
