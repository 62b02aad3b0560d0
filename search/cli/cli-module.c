/* cli-module.c - loading one of claw's modules (cli-module.h). libc only. */
#include "build-config.h"

#include "cli-module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>

void *
claw_cli_module_symbol(const char *dir, const char *name, const char *symbol, const char **why)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        *why = "module path too long";
        return NULL;
    }
    /* RTLD_LOCAL: a module's symbols (its copy of the config code, say)
     * never stand in for another's. RTLD_LAZY: a function of the libraries
     * a module links (libstdc++, libcrypto: thousands) is bound at its
     * first call, not all at load; the modules link with -no-undefined, so
     * every one of them resolves. */
    void *handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    void *sym = handle ? dlsym(handle, symbol) : NULL;
    if (!sym)
        *why = dlerror();
    return sym;
}
