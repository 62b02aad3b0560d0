/* detect-attachments.c - the detectors of attachments and archive
 * members: executables, disguised and double extensions, macros, encrypted
 * archives, HTML smuggling, and attachments on the indicator list.
 */
#include "build-config.h"

#include "judge/judge.h"

#include <string.h>

static bool
executable_type(const char *t)
{
    static const char *const types[] = {
        "application/x-dosexec", "application/vnd.microsoft.portable-executable",
        "application/x-executable", "application/x-sharedlib", "application/x-pie-executable",
        "application/x-mach-binary", "application/x-msi", "application/x-ms-shortcut",
        "application/x-msdownload", "application/x-ms-installer", "application/java-archive",
        "application/x-java-archive",
    };
    for (size_t i = 0; t && i < G_N_ELEMENTS(types); i++)
        if (!strcmp(t, types[i]))
            return true;
    return false;
}

/* Extensions Windows runs or scripts when opened. */
static bool
dangerous_extension(const char *name)
{
    static const char *const exts[] = {
        "exe", "scr", "com", "pif", "bat", "cmd", "js", "jse", "vbs", "vbe", "wsf", "wsh",
        "hta", "lnk", "ps1", "msi", "msp", "jar", "cpl", "reg", "iso", "img", "vhd", "vhdx",
        "dll", "appx", "msix", "apk", "sh", "application", "gadget", "inf", "scf", "url",
    };
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot)
        return false;
    for (size_t i = 0; i < G_N_ELEMENTS(exts); i++)
        if (!g_ascii_strcasecmp(dot + 1, exts[i]))
            return true;
    return false;
}

static bool
document_extension(const char *ext, size_t n)
{
    static const char *const exts[] = {"pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
                                       "txt", "rtf", "jpg", "jpeg", "png", "gif", "csv", "odt",
                                       "htm", "html", "zip", "mp3", "mp4", "wav"};
    for (size_t i = 0; i < G_N_ELEMENTS(exts); i++)
        if (strlen(exts[i]) == n && !g_ascii_strncasecmp(ext, exts[i], n))
            return true;
    return false;
}

/* "invoice.pdf.exe", "photo.jpg      .scr": a document extension shown
 * before a dangerous one. */
static bool
double_extension(const char *name)
{
    if (!dangerous_extension(name))
        return false;
    const char *last = strrchr(name, '.');
    const char *prev = last;
    while (prev > name && (prev[-1] == ' ' || prev[-1] == '_'))
        prev--;
    const char *dot = NULL;
    for (const char *p = name; p < prev; p++)
        if (*p == '.')
            dot = p;
    return dot && document_extension(dot + 1, (size_t)(prev - dot - 1));
}

static bool
has_bidi_control(const char *s)
{
    return s && (strstr(s, "\xe2\x80\xae") || strstr(s, "\xe2\x80\xad") ||
                 strstr(s, "\xe2\x80\xab") || strstr(s, "\xe2\x80\xaa") ||
                 strstr(s, "\xe2\x81\xa6") || strstr(s, "\xe2\x81\xa7") ||
                 strstr(s, "\xe2\x81\xa8"));
}

void
_claw_detect_attachments(run_t *run)
{
    const claw_iocs_t *io = run->e->iocs;
    for (size_t i = 0; i < run->m->n_attachments; i++) {
        const claw_attachment_t *a = &run->m->attachments[i];
        const char *name = a->filename ? a->filename : "(no name)";
        bool exe = executable_type(a->detected_type);
        if (a->sha256[0])
            _claw_hit_ioc(run, R_ATTACHMENT_IOC, _claw_ioc_asks(io, IOC_SHA256, a->sha256),
                          "%s (part %s) has SHA-256 %s, an indicator", name, a->part, a->sha256);
        if (a->depth == 0 && exe)
            _claw_hit(run, R_ATTACHMENT_EXECUTABLE, "%s (part %s) is %s", name, a->part,
                a->detected_type);
        if (a->depth > 0 && (exe || dangerous_extension(a->filename)))
            _claw_hit(run, R_ATTACHMENT_ARCHIVE_EXECUTABLE, "archive member %s (part %s) is %s", name,
                a->part, exe ? a->detected_type : "a program or script by its name");
        if (has_bidi_control(a->filename))
            _claw_hit(run, R_ATTACHMENT_DISGUISED,
                "name of part %s has a right-to-left override that reverses its extension",
                a->part);
        else if (a->filename && double_extension(a->filename))
            _claw_hit(run, R_ATTACHMENT_DISGUISED, "%s (part %s) shows a document extension before "
                "the real one", name, a->part);
        else if (exe && a->declared_type && !executable_type(a->declared_type) &&
                 strcmp(a->declared_type, "application/octet-stream") != 0)
            _claw_hit(run, R_ATTACHMENT_DISGUISED, "%s (part %s) is declared %s but is %s", name,
                a->part, a->declared_type, a->detected_type);
        else if (exe && a->filename && !dangerous_extension(a->filename))
            _claw_hit(run, R_ATTACHMENT_DISGUISED, "%s (part %s) is %s under another name", name,
                a->part, a->detected_type);
        if (a->flags & CLAW_ATT_MACRO)
            _claw_hit(run, R_ATTACHMENT_MACRO, "%s (part %s) has macros", name, a->part);
        if ((a->flags & CLAW_ATT_ARCHIVE) && (a->flags & CLAW_ATT_ENCRYPTED))
            _claw_hit(run, R_ATTACHMENT_ENCRYPTED_ARCHIVE, "%s (part %s) is encrypted", name, a->part);
        if (a->flags & (CLAW_ATT_HTML_FORM | CLAW_ATT_HTML_SCRIPT))
            _claw_hit(run, R_ATTACHMENT_HTML_SMUGGLING, "%s (part %s) is %s with %s", name, a->part,
                a->detected_type ? a->detected_type : "HTML",
                (a->flags & CLAW_ATT_HTML_FORM) && (a->flags & CLAW_ATT_HTML_SCRIPT)
                    ? "a form and a script"
                : (a->flags & CLAW_ATT_HTML_FORM) ? "a form"
                                                  : "a script");
    }
}
