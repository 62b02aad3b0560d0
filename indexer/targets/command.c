/* command.c - running a configured command (claw-targets.h): doveadm,
 * exim. The command line from the configuration is split as a shell would
 * (without a shell: nothing in a message or an address is ever
 * interpreted), the call's own arguments follow it, and what the program
 * writes is kept. Its input, when it has one (a message handed to Exim),
 * is given through a memory file, so the program can read it at its own
 * pace while its output is read: no pipe can fill and stall either side.
 */
#include "build-config.h"

#include "claw-targets.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void
give_input(gpointer fd)
{
    int in = GPOINTER_TO_INT(fd);
    if (in >= 0) {
        dup2(in, STDIN_FILENO);
        lseek(STDIN_FILENO, 0, SEEK_SET);
    }
}

bool
claw_command_check(const char *key, const char *command, char **error)
{
    *error = NULL;
    char **argv = NULL;
    GError *e = NULL;
    if (!command || !*command || !g_shell_parse_argv(command, NULL, &argv, &e)) {
        *error = g_strdup_printf("[purge] %s '%s': %s", key, command ? command : "",
                                 e ? e->message : "empty");
        g_clear_error(&e);
        return false;
    }
    g_strfreev(argv); /* checked here; split again by each run */
    return true;
}

int
claw_command_run(const char *command, const char *const *args, const char *input,
                 size_t input_len, char **out, char **err)
{
    char **prefix = NULL;
    GError *e = NULL;
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    if (!g_shell_parse_argv(command, NULL, &prefix, &e)) {
        if (err)
            *err = g_strdup_printf("'%s': %s", command, e->message);
        g_clear_error(&e);
        return -1;
    }
    GPtrArray *argv = g_ptr_array_new();
    for (char **c = prefix; *c; c++)
        g_ptr_array_add(argv, *c);
    for (const char *const *a = args; a && *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    int in = -1;
    if (input) {
        in = memfd_create("claw-input", MFD_CLOEXEC);
        if (in < 0 || write(in, input, input_len) != (ssize_t)input_len) {
            if (err)
                *err = g_strdup_printf("cannot hold the input: %s", g_strerror(errno));
            if (in >= 0)
                close(in);
            g_ptr_array_free(argv, TRUE);
            g_strfreev(prefix);
            return -1;
        }
    }
    char *o = NULL, *x = NULL;
    int status = 0, rc = -1;
    bool ran = g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                            G_SPAWN_SEARCH_PATH | (input ? 0 : G_SPAWN_STDIN_FROM_DEV_NULL),
                            give_input, GINT_TO_POINTER(in), &o, &x, &status, &e);
    if (ran && WIFEXITED(status))
        rc = WEXITSTATUS(status);
    if (in >= 0)
        close(in);
    if (err) {
        char *nl = x ? strchr(x, '\n') : NULL;
        if (nl)
            *nl = 0;
        *err = g_strdup(e ? e->message : x ? x : "");
    }
    g_clear_error(&e);
    g_free(x);
    if (out)
        *out = o;
    else
        g_free(o);
    g_ptr_array_free(argv, TRUE);
    g_strfreev(prefix);
    return rc;
}
