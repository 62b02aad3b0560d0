/* attach.c - what is inside an attachment.
 *
 * Every attachment and every archive member gets the same fields: name,
 * type by content (libmagic), size and SHA-256. Then, by content:
 *  - archives (zip, 7z, rar, tar, gzip, bzip2, xz, cab, iso) are listed with
 *    libarchive, recursively, within the member and expanded-byte budgets;
 *    zips are checked for overlapping entries (the non-recursive zip bomb);
 *  - OOXML documents are zips too: they are checked for vbaProject.bin, macro
 *    sheets and embedded objects but their parts are not listed as members;
 *  - OLE2 compound files are read far enough to see their stream names
 *    (VBA, Macros, ObjectPool, EncryptedPackage);
 *  - RTF is searched for embedded-object control words;
 *  - TNEF (winmail.dat) is unpacked into its attachments;
 *  - HTML and SVG attachments have their links extracted, .url files their
 *    URL= lines, PDFs their /URI actions.
 */
#include "build-config.h"

#include "claw-private.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

/* What libmagic is shown: its file-format tests look at the first few KiB
 * (it reads 1 MiB of a file by default, mostly for text encoding). */
#define MAGIC_BYTES (64 * 1024)
#define MAX_OLE_DIR_ENTRIES 4096
#define MAX_TNEF_ATTACHMENTS 256

static void analyse(claw_ctx_t *ctx, guint index, const unsigned char *data, size_t len);

static uint16_t
le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static claw_attachment_t *
att(claw_ctx_t *ctx, guint index)
{
    return &g_array_index(ctx->attachments, claw_attachment_t, index);
}

static bool
has_suffix_ci(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && g_ascii_strcasecmp(name + n - s, suffix) == 0;
}

static bool
starts(const unsigned char *d, size_t len, const char *sig, size_t n)
{
    return len >= n && memcmp(d, sig, n) == 0;
}

/* ------------------------------------------------------------------------
 * Type by content
 * --------------------------------------------------------------------- */

/* Text formats that matter for security, by their first bytes (after
 * white space and a byte-order mark); names as libmagic gives them. */
static const struct {
    const char *prefix;
    const char *type;
} text_signatures[] = {
    {"<!doctype html", "text/html"},
    {"<html", "text/html"},
    {"<head", "text/html"},
    {"<body", "text/html"},
    {"<script", "text/html"},
    {"<iframe", "text/html"},
    {"<meta", "text/html"},
    {"<form", "text/html"},
    {"<table", "text/html"},
    {"<div", "text/html"},
    {"<svg", "image/svg+xml"},
    {"{\\rt", "text/rtf"},
    {"%pdf-", "application/pdf"},
    {"%!ps", "application/postscript"},
    {"[internetshortcut]", "application/x-mswinurl"},
    {"begin:vcalendar", "text/calendar"},
    {"begin:vcard", "text/vcard"},
    {"-----begin pgp signature-----", "application/pgp-signature"},
    {"-----begin pgp message-----", "application/pgp-encrypted"},
    {"-----begin pgp public key block-----", "application/pgp-keys"},
    {"id;p", "application/x-sylk"},
    {"diff ", "text/x-diff"},
    {"index: ", "text/x-diff"},
    {"--- ", "text/x-diff"},
};

static bool
looks_like_text(const unsigned char *d, size_t len)
{
    size_t n = MIN(len, (size_t)8192);
    if (n == 0 || memchr(d, '\0', n))
        return false;
    size_t control = 0;
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0x20 && d[i] != '\n' && d[i] != '\r' && d[i] != '\t' && d[i] != '\f' &&
            d[i] != 0x1b)
            control++;
    return control * 100 < n;
}

static const char *
text_signature(const unsigned char *d, size_t len)
{
    size_t i = 0;
    if (len >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF)
        i = 3;
    while (i < len && i < 1024 && g_ascii_isspace(d[i]))
        i++;
    const char *p = (const char *)d + i;
    size_t rest = len - i;
    if (rest >= 2 && p[0] == '#' && p[1] == '!') {
        const char *nl = memchr(p, '\n', MIN(rest, (size_t)256));
        size_t l = nl ? (size_t)(nl - p) : MIN(rest, (size_t)256);
        if (g_strstr_len(p, (gssize)l, "python"))
            return "text/x-script.python";
        if (g_strstr_len(p, (gssize)l, "perl"))
            return "text/x-perl";
        if (g_strstr_len(p, (gssize)l, "node"))
            return "application/javascript";
        return "text/x-shellscript";
    }
    if (rest >= 5 && !g_ascii_strncasecmp(p, "<?xml", 5)) {
        /* XML: SVG if an <svg element comes early. */
        if (g_strstr_len(p, (gssize)MIN(rest, (size_t)4096), "<svg"))
            return "image/svg+xml";
        if (g_strstr_len(p, (gssize)MIN(rest, (size_t)4096), "<html"))
            return "text/html";
        return "text/xml";
    }
    for (size_t k = 0; k < G_N_ELEMENTS(text_signatures); k++) {
        size_t n = strlen(text_signatures[k].prefix);
        if (rest >= n && !g_ascii_strncasecmp(p, text_signatures[k].prefix, n))
            return text_signatures[k].type;
    }
    size_t head = MIN(rest, (size_t)8192);
    /* A patch after its description: a diff header at the start of a line. */
    if (g_strstr_len(p, (gssize)head, "\ndiff --git ") ||
        (g_strstr_len(p, (gssize)head, "\n--- ") && g_strstr_len(p, (gssize)head, "\n+++ ")))
        return "text/x-diff";
    /* A message: a header field first, and mail headers among the first. */
    size_t name = 0;
    while (name < head && name < 80 && p[name] > ' ' && p[name] < 127 && p[name] != ':')
        name++;
    if (name > 0 && name < head && p[name] == ':') {
        static const char *const mail[] = {"\nsubject:", "\nfrom:", "\nreceived:",
                                           "\nmessage-id:", "\ndate:"};
        char *lower = g_ascii_strdown(p, (gssize)MIN(head, (size_t)4096));
        int hits = 0;
        for (size_t k = 0; k < G_N_ELEMENTS(mail); k++)
            hits += strstr(lower, mail[k]) != NULL;
        g_free(lower);
        if (hits >= 2)
            return "message/rfc822";
    }
    return NULL;
}

static const char *
detect_type(claw_ctx_t *ctx, const unsigned char *d, size_t len)
{
    const char *t;
    /* The images that most mail carries have unambiguous signatures, and
     * libmagic walks hundreds of tests before it reaches them (~80 us). */
    if (starts(d, len, "GIF87a", 6) || starts(d, len, "GIF89a", 6))
        return "image/gif";
    if (starts(d, len, "\x89PNG\r\n\x1a\n", 8))
        return "image/png";
    if (starts(d, len, "\xFF\xD8\xFF", 3))
        return "image/jpeg";
    if (looks_like_text(d, len)) {
        if ((t = text_signature(d, len)))
            return t;
        /* Text needs only its start: libmagic reads encodings at ~170 MB/s. */
        t = magic_buffer(ctx->engine->magic_text, d, MIN(len, (size_t)4096));
    } else {
        /* An OLE2 compound file names its application in a directory that
         * can sit anywhere in the file: show libmagic all of it. */
        size_t n = starts(d, len, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8)
                       ? MIN(len, (size_t)8 << 20)
                       : MIN(len, (size_t)MAGIC_BYTES);
        t = magic_buffer(ctx->engine->magic, d, n);
    }
    return t ? t : "application/octet-stream";
}

void
_claw_attachment_add(claw_ctx_t *ctx, const char *part, const char *filename,
                     const char *declared_type, const char *disposition,
                     const unsigned char *data, size_t len, unsigned depth, unsigned flags)
{
    (void)disposition;
    /* An empty GByteArray has no buffer at all: give the readers below an
     * empty string rather than NULL. */
    if (!data)
        data = (const unsigned char *)"";
    claw_attachment_t a = {
        .part = _claw_strdup(ctx, part),
        .filename = filename ? _claw_strndup_utf8(ctx, filename, strlen(filename)) : NULL,
        .declared_type = declared_type ? _claw_strdup(ctx, declared_type) : NULL,
        .size = len,
        .depth = depth,
        .flags = flags,
    };
    if (a.filename && strpbrk(a.filename, "\r\n"))
        _claw_anomaly(ctx, CLAW_ANOM_HEADER_CONTROL_CHARS, part,
                      "attachment name decodes to text with control characters");
    _claw_sha256_hex(data, len, a.sha256);
    a.detected_type = _claw_strdup(ctx, detect_type(ctx, data, len));
    g_array_append_val(ctx->attachments, a);
    analyse(ctx, ctx->attachments->len - 1, data, len);
}

/* ------------------------------------------------------------------------
 * Zip: overlapping entries (https://www.bamsoftware.com/hacks/zipbomb/)
 * --------------------------------------------------------------------- */

typedef struct {
    uint64_t start, end;
} span_t;

static int
span_cmp(const void *a, const void *b)
{
    const span_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* True when two local file entries claim the same bytes. Reads the central
 * directory only; gives up quietly on anything it does not understand
 * (libarchive reports real damage). */
static bool
zip_overlaps(const unsigned char *d, size_t len)
{
    if (len < 22)
        return false;
    size_t lo = len > 65557 ? len - 65557 : 0;
    size_t eocd = (size_t)-1;
    for (size_t i = len - 22 + 1; i-- > lo;) {
        if (d[i] == 'P' && d[i + 1] == 'K' && d[i + 2] == 5 && d[i + 3] == 6) {
            eocd = i;
            break;
        }
    }
    if (eocd == (size_t)-1)
        return false;
    uint16_t count = le16(d + eocd + 10);
    uint32_t cd_off = le32(d + eocd + 16);
    if (count == 0xFFFF || cd_off == 0xFFFFFFFF || cd_off >= len)
        return false;
    span_t *spans = g_new(span_t, count ? count : 1);
    size_t n = 0, p = cd_off;
    bool overlap = false;
    for (unsigned i = 0; i < count; i++) {
        if (p + 46 > len || le32(d + p) != 0x02014b50)
            break;
        uint32_t csize = le32(d + p + 20);
        uint16_t nl = le16(d + p + 28), el = le16(d + p + 30), cl = le16(d + p + 32);
        uint32_t off = le32(d + p + 42);
        if (csize != 0xFFFFFFFF && off != 0xFFFFFFFF && (size_t)off + 30 <= len &&
            le32(d + off) == 0x04034b50) {
            uint64_t hdr = 30u + le16(d + off + 26) + le16(d + off + 28);
            spans[n].start = off;
            spans[n].end = off + hdr + csize;
            n++;
        }
        p += 46u + nl + el + cl;
    }
    qsort(spans, n, sizeof *spans, span_cmp);
    for (size_t i = 1; i < n; i++)
        if (spans[i].start < spans[i - 1].end)
            overlap = true;
    g_free(spans);
    return overlap;
}

/* ------------------------------------------------------------------------
 * Archives through libarchive
 * --------------------------------------------------------------------- */

static bool
is_ooxml_type(const char *t)
{
    return t && (g_str_has_prefix(t, "application/vnd.openxmlformats-officedocument") ||
                 g_str_has_prefix(t, "application/vnd.ms-word.") ||
                 g_str_has_prefix(t, "application/vnd.ms-excel.") ||
                 g_str_has_prefix(t, "application/vnd.ms-powerpoint."));
}

static bool
is_archive(const char *t, const unsigned char *d, size_t len)
{
    static const char *const types[] = {
        "application/zip", "application/x-7z-compressed", "application/x-rar",
        "application/vnd.rar", "application/x-rar-compressed", "application/x-tar",
        "application/gzip", "application/x-gzip", "application/x-bzip2", "application/x-xz",
        "application/vnd.ms-cab-compressed", "application/x-iso9660-image",
        "application/x-lzh-compressed", "application/x-cpio", "application/java-archive",
    };
    for (size_t i = 0; t && i < G_N_ELEMENTS(types); i++)
        if (strcmp(t, types[i]) == 0)
            return true;
    /* Zips libmagic names after their contents (epub, jar, odt...) are
     * still zips: list them unless they are OOXML, which is handled apart. */
    return starts(d, len, "PK\3\4", 4) && !is_ooxml_type(t);
}

static void
office_member(claw_ctx_t *ctx, guint index, const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (!g_ascii_strcasecmp(base, "vbaProject.bin") || g_str_has_prefix(name, "xl/macrosheets/") ||
        g_str_has_prefix(name, "xl/xlm") || !g_ascii_strcasecmp(base, "vbaData.xml"))
        att(ctx, index)->flags |= CLAW_ATT_MACRO;
    if (strstr(name, "/embeddings/") || g_str_has_prefix(base, "oleObject") ||
        strstr(name, "/activeX/"))
        att(ctx, index)->flags |= CLAW_ATT_OLE_OBJECT;
}

static int
open_archive(struct archive **out, const unsigned char *data, size_t len)
{
    struct archive *ar = archive_read_new();
    if (!ar)
        return ARCHIVE_FATAL;
    archive_read_support_filter_all(ar);
    archive_read_support_format_zip_seekable(ar);
    archive_read_support_format_7zip(ar);
    archive_read_support_format_rar(ar);
    archive_read_support_format_rar5(ar);
    archive_read_support_format_tar(ar);
    archive_read_support_format_cab(ar);
    archive_read_support_format_iso9660(ar);
    archive_read_support_format_lha(ar);
    archive_read_support_format_cpio(ar);
    /* A lone compressed file (report.doc.gz) is a one-member archive. */
    archive_read_support_format_raw(ar);
    *out = ar;
    return archive_read_open_memory(ar, data, len);
}

/* List the members of the archive at attachment @index. With @office set
 * the archive is an OOXML document: members are checked, not listed. */
static void
list_archive(claw_ctx_t *ctx, guint index, const unsigned char *data, size_t len, bool office)
{
    struct archive *ar = NULL;
    struct archive_entry *entry;
    const char *part = att(ctx, index)->part;
    unsigned depth = att(ctx, index)->depth;
    bool skip_data = false;
    int member = 0;

    if (!office) {
        att(ctx, index)->flags |= CLAW_ATT_ARCHIVE;
        if (starts(data, len, "PK", 2) && zip_overlaps(data, len)) {
            _claw_anomaly(ctx, CLAW_ANOM_ZIP_OVERLAPPING_ENTRIES, part,
                          "zip members share compressed bytes; members listed, not expanded");
            att(ctx, index)->flags |= CLAW_ATT_TRUNCATED;
            skip_data = true;
        }
        if (depth + 1 > (unsigned)ctx->limits->max_depth) {
            _claw_anomaly(ctx, CLAW_ANOM_LIMIT_DEPTH, part,
                          "archive nested deeper than %" G_GINT64_FORMAT,
                          ctx->limits->max_depth);
            return;
        }
    }
    if (open_archive(&ar, data, len) != ARCHIVE_OK) {
        if (!office)
            _claw_anomaly(ctx, CLAW_ANOM_ARCHIVE_ERROR, part, "cannot open archive: %.200s",
                          ar ? archive_error_string(ar) ? archive_error_string(ar) : "?" : "?");
        archive_read_free(ar);
        return;
    }
    for (;;) {
        if (_claw_out_of_time(ctx))
            break;
        int rc = archive_read_next_header(ar, &entry);
        if (rc == ARCHIVE_EOF)
            break;
        if (rc < ARCHIVE_WARN) {
            if (!office)
                _claw_anomaly(ctx, CLAW_ANOM_ARCHIVE_ERROR, part, "%.200s",
                              archive_error_string(ar) ? archive_error_string(ar)
                                                       : "unreadable member header");
            break;
        }
        const char *name = archive_entry_pathname_utf8(entry);
        if (!name)
            name = archive_entry_pathname(entry);
        if (!name)
            name = "";
        /* Zips that libmagic did not name as OOXML may still be documents
         * (or hide a vbaProject.bin): their member names say so either way. */
        office_member(ctx, index, name);
        if (office)
            continue;
        if (archive_entry_filetype(entry) == AE_IFDIR)
            continue;
        if (ctx->archive_members >= (uint64_t)ctx->limits->max_archive_members) {
            _claw_anomaly(ctx, CLAW_ANOM_LIMIT_ARCHIVE_MEMBERS, part,
                          "more than %" G_GINT64_FORMAT " archive members",
                          ctx->limits->max_archive_members);
            break;
        }
        ctx->archive_members++;
        char *mpath = g_strdup_printf("%s/%d", part, ++member);
        bool encrypted = archive_entry_is_encrypted(entry);
        if (encrypted)
            att(ctx, index)->flags |= CLAW_ATT_ENCRYPTED;
        /* A raw-format "archive" names its one member "data": use the
         * attachment's own name without the compression suffix instead. */
        char *mname = NULL;
        if (archive_format(ar) == ARCHIVE_FORMAT_RAW) {
            const char *outer = att(ctx, index)->filename;
            if (outer) {
                const char *dot = strrchr(outer, '.');
                mname = dot ? g_strndup(outer, (gsize)(dot - outer)) : g_strdup(outer);
            }
        }

        if (encrypted || skip_data) {
            claw_attachment_t a = {
                .part = _claw_strdup(ctx, mpath),
                .filename = _claw_strndup_utf8(ctx, mname ? mname : name,
                                               strlen(mname ? mname : name)),
                .size = archive_entry_size_is_set(entry) ? (uint64_t)archive_entry_size(entry)
                                                         : 0,
                .depth = depth + 1,
                .flags = (encrypted ? CLAW_ATT_ENCRYPTED : 0) | CLAW_ATT_TRUNCATED,
                .detected_type = NULL,
            };
            g_array_append_val(ctx->attachments, a);
            archive_read_data_skip(ar);
            g_free(mpath);
            g_free(mname);
            continue;
        }

        /* Read the member, within the expanded-bytes and memory budgets. */
        GByteArray *buf = g_byte_array_new();
        bool truncated = false, failed = false;
        unsigned char block[65536];
        for (;;) {
            la_ssize_t got = archive_read_data(ar, block, sizeof block);
            if (got == 0)
                break;
            if (got < 0) {
                failed = true;
                _claw_anomaly(ctx, CLAW_ANOM_ARCHIVE_ERROR, mpath, "%.200s",
                              archive_error_string(ar) ? archive_error_string(ar)
                                                       : "unreadable member");
                break;
            }
            if (ctx->archive_bytes + (uint64_t)got > (uint64_t)ctx->limits->max_archive_bytes) {
                _claw_anomaly(ctx, CLAW_ANOM_LIMIT_ARCHIVE_BYTES, mpath,
                              "archives expand past %" G_GINT64_FORMAT " bytes",
                              ctx->limits->max_archive_bytes);
                truncated = true;
                break;
            }
            if (!_claw_charge_memory(ctx, (uint64_t)got)) {
                truncated = true;
                break;
            }
            ctx->archive_bytes += (uint64_t)got;
            g_byte_array_append(buf, block, (guint)got);
            if (_claw_out_of_time(ctx)) {
                truncated = true;
                break;
            }
        }
        _claw_attachment_add(ctx, mpath, mname ? mname : name, NULL, NULL, buf->data, buf->len,
                             depth + 1, truncated || failed ? CLAW_ATT_TRUNCATED : 0);
        if (truncated || failed) {
            /* The hash of a partial read would match nothing real. */
            att(ctx, ctx->attachments->len - 1)->sha256[0] = '\0';
        }
        ctx->memory -= MIN(ctx->memory, buf->len);
        g_byte_array_free(buf, TRUE);
        g_free(mpath);
        g_free(mname);
        if (truncated || failed)
            break;
    }
    archive_read_free(ar);
}

/* ------------------------------------------------------------------------
 * OLE2 compound files: the directory's stream names
 * --------------------------------------------------------------------- */

/* An OLE2 compound file, as far as we read it: sectors, the FAT, the
 * mini-FAT and the mini stream. Every index is checked against the buffer;
 * every chain is bounded by the number of sectors, so loops end. */
typedef struct {
    const unsigned char *d;
    size_t len, ssize, n_sectors;
    GArray *fat;     /* uint32_t */
    GArray *minifat; /* uint32_t */
    GByteArray *ministream;
} ole_t;

#define OLE_END 0xFFFFFFFEu
#define OLE_MAX_STREAM (16u << 20)

static uint32_t
ole_fat_next(const ole_t *o, const GArray *fat, uint32_t s)
{
    return s < fat->len ? g_array_index(fat, uint32_t, s) : OLE_END;
}

/* Append the chain starting at @first (through @fat, sectors of @ssize in
 * @base) to @out, at most @max bytes. False if the chain is broken. */
static bool
ole_read_chain(const ole_t *o, const GArray *fat, const unsigned char *base, size_t base_len,
               size_t ssize, bool header_offset, uint32_t first, size_t max, GByteArray *out)
{
    size_t steps = 0, limit = base_len / ssize + 1;
    for (uint32_t s = first; s < 0xFFFFFFFAu && out->len < max; s = ole_fat_next(o, fat, s)) {
        if (++steps > limit)
            return false; /* a loop */
        size_t off = ((size_t)s + (header_offset ? 1 : 0)) * ssize;
        if (off + ssize > base_len)
            return false;
        g_byte_array_append(out, base + off, (guint)MIN(ssize, max - out->len));
    }
    return true;
}

static bool
ole_open(ole_t *o, const unsigned char *d, size_t len)
{
    memset(o, 0, sizeof *o);
    if (len < 512)
        return false;
    unsigned shift = le16(d + 30);
    if (shift != 9 && shift != 12)
        return false;
    o->d = d;
    o->len = len;
    o->ssize = (size_t)1 << shift;
    o->n_sectors = len / o->ssize;
    uint32_t n_fat = le32(d + 44);
    /* The FAT's own sectors: 109 listed in the header, the rest in DIFAT
     * sectors chained from it. */
    GArray *fat_sectors = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    for (unsigned i = 0; i < 109 && i < n_fat; i++) {
        uint32_t sct = le32(d + 76 + 4 * i);
        g_array_append_val(fat_sectors, sct);
    }
    uint32_t difat = le32(d + 68);
    for (unsigned guard = 0; fat_sectors->len < n_fat && difat < 0xFFFFFFFAu &&
                             guard < o->n_sectors;
         guard++) {
        size_t off = ((size_t)difat + 1) * o->ssize;
        if (off + o->ssize > len)
            break;
        for (size_t i = 0; i + 1 < o->ssize / 4 && fat_sectors->len < n_fat; i++) {
            uint32_t sct = le32(d + off + 4 * i);
            g_array_append_val(fat_sectors, sct);
        }
        difat = le32(d + off + o->ssize - 4);
    }
    o->fat = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    for (guint i = 0; i < fat_sectors->len && o->fat->len <= o->n_sectors; i++) {
        size_t off = ((size_t)g_array_index(fat_sectors, uint32_t, i) + 1) * o->ssize;
        if (off + o->ssize > len)
            break;
        for (size_t k = 0; k < o->ssize / 4; k++) {
            uint32_t v = le32(d + off + 4 * k);
            g_array_append_val(o->fat, v);
        }
    }
    g_array_free(fat_sectors, TRUE);
    return o->fat->len > 0;
}

static void
ole_close(ole_t *o)
{
    if (o->fat)
        g_array_free(o->fat, TRUE);
    if (o->minifat)
        g_array_free(o->minifat, TRUE);
    if (o->ministream)
        g_byte_array_free(o->ministream, TRUE);
}

/* The contents of a stream whose directory entry is @ent (at most
 * OLE_MAX_STREAM bytes), or NULL. */
static GByteArray *
ole_stream(ole_t *o, const unsigned char *root, const unsigned char *ent)
{
    uint32_t first = le32(ent + 116);
    uint64_t size = le32(ent + 120); /* the high half is unused in v3 files */
    size_t max = (size_t)MIN(size, (uint64_t)OLE_MAX_STREAM);
    GByteArray *out = g_byte_array_sized_new((guint)MIN(max, (size_t)65536));
    bool ok;
    if (size < le32(o->d + 56)) {
        /* Small streams live in the mini stream, in 64-byte sectors. */
        if (!o->minifat) {
            o->minifat = g_array_new(FALSE, FALSE, sizeof(uint32_t));
            GByteArray *mf = g_byte_array_new();
            ole_read_chain(o, o->fat, o->d, o->len, o->ssize, true, le32(o->d + 60),
                           OLE_MAX_STREAM, mf);
            for (guint i = 0; i + 4 <= mf->len; i += 4) {
                uint32_t v = le32(mf->data + i);
                g_array_append_val(o->minifat, v);
            }
            g_byte_array_free(mf, TRUE);
            o->ministream = g_byte_array_new();
            ole_read_chain(o, o->fat, o->d, o->len, o->ssize, true, le32(root + 116),
                           OLE_MAX_STREAM, o->ministream);
        }
        ok = ole_read_chain(o, o->minifat, o->ministream->data, o->ministream->len, 64, false,
                            first, max, out);
    } else {
        ok = ole_read_chain(o, o->fat, o->d, o->len, o->ssize, true, first, max, out);
    }
    if (!ok && out->len == 0) {
        g_byte_array_free(out, TRUE);
        return NULL;
    }
    return out;
}

/* Excel's Workbook stream (BIFF8): a BOUNDSHEET of type 1 is an Excel 4
 * macro sheet (XLM) and of type 6 a VBA module; FILEPASS means encrypted. */
static void
biff_inspect(claw_ctx_t *ctx, guint index, const GByteArray *w)
{
    for (size_t off = 0; off + 4 <= w->len;) {
        uint16_t type = le16(w->data + off), rlen = le16(w->data + off + 2);
        const unsigned char *rec = w->data + off + 4;
        if (off + 4 + rlen > w->len)
            break;
        if (type == 0x0085 && rlen >= 6 && (rec[5] == 0x01 || rec[5] == 0x06))
            att(ctx, index)->flags |= CLAW_ATT_MACRO;
        else if (type == 0x002F)
            att(ctx, index)->flags |= CLAW_ATT_ENCRYPTED;
        else if (type == 0x000A) /* EOF of the globals substream: sheets follow */
            break;
        off += 4u + rlen;
    }
}

/* PowerPoint keeps its VBA project and embedded objects inside the
 * "PowerPoint Document" stream: look for the record headers of a
 * VBAInfoAtom (recVer 2, type 0x0400, length 12) and of an ExOleObjStg
 * (type 0x1011, compressed or not). */
static void
ppt_inspect(claw_ctx_t *ctx, guint index, const GByteArray *w)
{
    static const unsigned char vba[8] = {0x02, 0x00, 0x00, 0x04, 0x0C, 0x00, 0x00, 0x00};
    static const unsigned char ole0[4] = {0x00, 0x00, 0x11, 0x10};
    static const unsigned char ole1[4] = {0x10, 0x00, 0x11, 0x10};
    if (memmem(w->data, w->len, vba, sizeof vba))
        att(ctx, index)->flags |= CLAW_ATT_MACRO;
    if (memmem(w->data, w->len, ole0, sizeof ole0) || memmem(w->data, w->len, ole1, sizeof ole1))
        att(ctx, index)->flags |= CLAW_ATT_OLE_OBJECT;
}

static void
ole_inspect(claw_ctx_t *ctx, guint index, const unsigned char *d, size_t len)
{
    const char *part = att(ctx, index)->part;
    ole_t o;
    if (!ole_open(&o, d, len)) {
        _claw_anomaly(ctx, CLAW_ANOM_OLE_ERROR, part, "unreadable compound file header");
        ole_close(&o);
        return;
    }
    GByteArray *dir = g_byte_array_new();
    if (!ole_read_chain(&o, o.fat, d, len, o.ssize, true, le32(d + 48),
                        (size_t)MAX_OLE_DIR_ENTRIES * 128, dir))
        _claw_anomaly(ctx, CLAW_ANOM_OLE_ERROR, part, "broken directory chain");
    const unsigned char *root = dir->len >= 128 ? dir->data : NULL;
    for (size_t e = 0; root && e + 128 <= dir->len; e += 128) {
        const unsigned char *ent = dir->data + e;
        unsigned nlen = le16(ent + 64);
        if (nlen < 2 || nlen > 64 || ent[66] == 0)
            continue;
        char name[33];
        unsigned k = 0;
        for (unsigned i = 0; i + 1 < nlen && k < 32; i += 2) {
            uint16_t ch = le16(ent + i);
            if (!ch)
                break;
            name[k++] = ch < 128 ? (char)ch : '?';
        }
        name[k] = '\0';
        if (!g_ascii_strcasecmp(name, "VBA") || !g_ascii_strcasecmp(name, "_VBA_PROJECT") ||
            !g_ascii_strcasecmp(name, "_VBA_PROJECT_CUR") ||
            !g_ascii_strcasecmp(name, "Macros") || !g_ascii_strcasecmp(name, "VBA_PROJECT")) {
            att(ctx, index)->flags |= CLAW_ATT_MACRO;
        } else if (!strcmp(name, "ObjectPool") || !strcmp(name, "\001Ole10Native") ||
                   !strcmp(name, "Ole10Native") || !strcmp(name, "MBD")) {
            att(ctx, index)->flags |= CLAW_ATT_OLE_OBJECT;
        } else if (!strcmp(name, "EncryptedPackage") || !strcmp(name, "EncryptionInfo") ||
                   !strcmp(name, "EncryptedSummary")) {
            att(ctx, index)->flags |= CLAW_ATT_ENCRYPTED;
        } else if (ent[66] == 2 && (!strcmp(name, "Workbook") || !strcmp(name, "Book"))) {
            GByteArray *w = ole_stream(&o, root, ent);
            if (w) {
                biff_inspect(ctx, index, w);
                g_byte_array_free(w, TRUE);
            }
        } else if (ent[66] == 2 && !strcmp(name, "PowerPoint Document")) {
            GByteArray *w = ole_stream(&o, root, ent);
            if (w) {
                ppt_inspect(ctx, index, w);
                g_byte_array_free(w, TRUE);
            }
        } else if (ent[66] == 2 && !strcmp(name, "WordDocument")) {
            /* The FIB: fEncrypted is bit 0 of byte 11. */
            GByteArray *w = ole_stream(&o, root, ent);
            if (w && w->len > 11 && le16(w->data) == 0xA5EC && (w->data[11] & 0x01))
                att(ctx, index)->flags |= CLAW_ATT_ENCRYPTED;
            if (w)
                g_byte_array_free(w, TRUE);
        }
    }
    g_byte_array_free(dir, TRUE);
    ole_close(&o);
}

/* ------------------------------------------------------------------------
 * RTF embedded objects
 * --------------------------------------------------------------------- */

static void
rtf_inspect(claw_ctx_t *ctx, guint index, const unsigned char *d, size_t len)
{
    static const char *const words[] = {"\\object", "\\objdata", "\\objemb", "\\objlink",
                                        "\\objautlink", "\\objocx", "\\objhtml"};
    for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
        if (g_strstr_len((const char *)d, (gssize)len, words[i])) {
            att(ctx, index)->flags |= CLAW_ATT_RTF_OBJECT;
            return;
        }
    }
}

/* ------------------------------------------------------------------------
 * TNEF (winmail.dat)
 * --------------------------------------------------------------------- */

#define TNEF_SIGNATURE 0x223E9F78u
#define ATT_ATTACH_REND_DATA 0x00069002u
#define ATT_ATTACH_TITLE 0x00018010u
#define ATT_ATTACH_DATA 0x0006800Fu
#define ATT_ATTACHMENT 0x00069005u

typedef struct {
    char *title;
    char *long_name;
    const unsigned char *data;
    size_t len;
    bool present;
} tnef_att_t;

/* PR_ATTACH_LONG_FILENAME (0x3707) from an attAttachment MAPI property
 * block. Gives up quietly on anything unexpected. */
static char *
tnef_long_filename(const unsigned char *p, size_t len)
{
    size_t off = 4;
    if (len < 4)
        return NULL;
    uint32_t count = le32(p);
    for (uint32_t i = 0; i < count && i < 1024 && off + 4 <= len; i++) {
        uint16_t type = le16(p + off), id = le16(p + off + 2);
        off += 4;
        if (id >= 0x8000) {
            /* Named property: GUID, kind, then an id or a name. */
            if (off + 20 > len)
                return NULL;
            uint32_t kind = le32(p + off + 16);
            off += 20;
            if (kind == 0) {
                off += 4;
            } else {
                if (off + 4 > len)
                    return NULL;
                uint32_t nl = le32(p + off);
                off += 4 + ((nl + 3u) & ~3u);
            }
        }
        bool multi = type & 0x1000;
        type &= 0x0FFF;
        uint32_t values = 1;
        if (multi || type == 0x001E || type == 0x001F || type == 0x0102 || type == 0x000D) {
            if (off + 4 > len)
                return NULL;
            values = le32(p + off);
            off += 4;
        }
        for (uint32_t v = 0; v < values && v < 1024; v++) {
            size_t size;
            switch (type) {
            case 0x0002: case 0x000B: size = 4; break; /* short, bool: padded */
            case 0x0003: case 0x0004: case 0x000A: size = 4; break;
            case 0x0005: case 0x0006: case 0x0007: case 0x0014: case 0x0040: size = 8; break;
            case 0x0048: size = 16; break;
            case 0x001E: case 0x001F: case 0x0102: case 0x000D: {
                if (off + 4 > len)
                    return NULL;
                uint32_t l = le32(p + off);
                off += 4;
                if (l > len - off)
                    return NULL;
                if (id == 0x3707 && (type == 0x001E || type == 0x001F)) {
                    if (type == 0x001F)
                        return g_utf16_to_utf8((const gunichar2 *)(const void *)(p + off),
                                               (glong)(l / 2), NULL, NULL, NULL);
                    return g_strndup((const char *)p + off, l);
                }
                size = (l + 3u) & ~3u;
                break;
            }
            default:
                return NULL;
            }
            off += size;
            if (off > len)
                return NULL;
        }
    }
    return NULL;
}

static void
tnef_inspect(claw_ctx_t *ctx, guint index, const unsigned char *d, size_t len)
{
    const char *part = att(ctx, index)->part;
    unsigned depth = att(ctx, index)->depth;
    size_t off = 6; /* signature, key */
    tnef_att_t cur = {0};
    int n = 0;

    att(ctx, index)->flags |= CLAW_ATT_TNEF;
    GArray *list = g_array_new(FALSE, TRUE, sizeof(tnef_att_t));
    while (off < len) {
        if (off + 9 > len) {
            _claw_anomaly(ctx, CLAW_ANOM_TNEF_ERROR, part, "truncated attribute at %zu", off);
            break;
        }
        uint32_t id = le32(d + off + 1), alen = le32(d + off + 5);
        off += 9;
        if (alen > len - off || len - off - alen < 2) {
            _claw_anomaly(ctx, CLAW_ANOM_TNEF_ERROR, part, "attribute runs past the end");
            break;
        }
        const unsigned char *v = d + off;
        off += alen + 2; /* value, checksum */
        if (id == ATT_ATTACH_REND_DATA) {
            if (cur.present)
                g_array_append_val(list, cur);
            memset(&cur, 0, sizeof cur);
            cur.present = true;
        } else if (id == ATT_ATTACH_TITLE && cur.present) {
            g_free(cur.title);
            cur.title = g_strndup((const char *)v, alen);
        } else if (id == ATT_ATTACH_DATA && cur.present) {
            cur.data = v;
            cur.len = alen;
        } else if (id == ATT_ATTACHMENT && cur.present) {
            g_free(cur.long_name);
            cur.long_name = tnef_long_filename(v, alen);
        }
        if (list->len >= MAX_TNEF_ATTACHMENTS)
            break;
    }
    if (cur.present)
        g_array_append_val(list, cur);
    for (guint i = 0; i < list->len; i++) {
        tnef_att_t *t = &g_array_index(list, tnef_att_t, i);
        if (ctx->archive_members >= (uint64_t)ctx->limits->max_archive_members) {
            _claw_anomaly(ctx, CLAW_ANOM_LIMIT_ARCHIVE_MEMBERS, part,
                          "more than %" G_GINT64_FORMAT " archive members",
                          ctx->limits->max_archive_members);
        } else if (t->data || t->title) {
            ctx->archive_members++;
            char *mpath = g_strdup_printf("%s/%d", part, ++n);
            _claw_attachment_add(ctx, mpath, t->long_name ? t->long_name : t->title, NULL, NULL,
                                 t->data ? t->data : (const unsigned char *)"", t->len,
                                 depth + 1, 0);
            g_free(mpath);
        }
        g_free(t->title);
        g_free(t->long_name);
    }
    g_array_free(list, TRUE);
}

/* ------------------------------------------------------------------------
 * Links inside attachments
 * --------------------------------------------------------------------- */

static void
url_file_inspect(claw_ctx_t *ctx, const char *part, const unsigned char *d, size_t len)
{
    const char *p = (const char *)d, *end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol - p > 4 && g_ascii_strncasecmp(p, "URL=", 4) == 0)
            _claw_url_add(ctx, p + 4, (size_t)(eol - p - 4), part, CLAW_URL_ATTACHMENT, NULL);
        else if (eol - p > 9 && g_ascii_strncasecmp(p, "IconFile=", 9) == 0)
            _claw_url_add(ctx, p + 9, (size_t)(eol - p - 9), part, CLAW_URL_ATTACHMENT, NULL);
        p = nl ? nl + 1 : end;
    }
}

/* PDF link annotations: /URI (http://...) in uncompressed objects. */
static void
pdf_inspect(claw_ctx_t *ctx, const char *part, const unsigned char *d, size_t len)
{
    const char *p = (const char *)d, *end = p + len;
    while (p < end) {
        const char *u = g_strstr_len(p, end - p, "/URI");
        if (!u)
            break;
        u += 4;
        while (u < end && (*u == ' ' || *u == '\r' || *u == '\n'))
            u++;
        if (u < end && *u == '(') {
            const char *close = u + 1;
            while (close < end && *close != ')') {
                if (*close == '\\')
                    close++;
                close++;
            }
            if (close > end)
                close = end;
            _claw_url_add(ctx, u + 1, (size_t)(close - u - 1), part, CLAW_URL_ATTACHMENT, NULL);
            p = close;
        } else {
            p = u;
        }
    }
}

/* SYLK: an options record ("O;...") with the field "E" makes the sheet an
 * Excel 4 macro sheet; a name Auto_Open runs on opening. */
static void
sylk_inspect(claw_ctx_t *ctx, guint index, const unsigned char *d, size_t len)
{
    const char *p = (const char *)d, *end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol - p >= 2 && p[0] == 'O' && p[1] == ';') {
            for (const char *f = p + 2; f < eol;) {
                const char *semi = memchr(f, ';', (size_t)(eol - f));
                const char *fe = semi ? semi : eol;
                if (fe - f == 1 && *f == 'E')
                    att(ctx, index)->flags |= CLAW_ATT_MACRO;
                f = fe + 1;
            }
        } else if (eol - p >= 13 && !g_ascii_strncasecmp(p, "NN;NAuto_Open", 13)) {
            att(ctx, index)->flags |= CLAW_ATT_MACRO;
        }
        p = nl ? nl + 1 : end;
    }
}

static void
analyse(claw_ctx_t *ctx, guint index, const unsigned char *d, size_t len)
{
    claw_attachment_t *a = att(ctx, index);
    const char *t = a->detected_type;
    const char *name = a->filename ? a->filename : "";
    char *part = g_strdup(a->part);

    if (is_ooxml_type(t) && starts(d, len, "PK", 2)) {
        list_archive(ctx, index, d, len, true);
    } else if (is_archive(t, d, len)) {
        list_archive(ctx, index, d, len, false);
    } else if (starts(d, len, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8)) {
        ole_inspect(ctx, index, d, len);
    } else if (starts(d, len, "{\\rt", 4)) {
        rtf_inspect(ctx, index, d, len);
    } else if (len >= 6 && le32(d) == TNEF_SIGNATURE) {
        tnef_inspect(ctx, index, d, len);
    } else if (!g_strcmp0(t, "text/html") || !g_strcmp0(t, "image/svg+xml") ||
               has_suffix_ci(name, ".html") || has_suffix_ci(name, ".htm") ||
               has_suffix_ci(name, ".shtml") || has_suffix_ci(name, ".xhtml") ||
               has_suffix_ci(name, ".svg")) {
        GString *ignored = g_string_new(NULL);
        char *valid = g_utf8_make_valid((const char *)d, (gssize)len);
        unsigned features = _claw_html_render(ctx, valid, strlen(valid), ignored, part, true);
        att(ctx, index)->flags |= features;
        g_free(valid);
        g_string_free(ignored, TRUE);
    } else if (has_suffix_ci(name, ".url") || starts(d, len, "[InternetShortcut]", 18) ||
               starts(d, len, "[{000214A0", 10)) {
        url_file_inspect(ctx, part, d, len);
    } else if (starts(d, len, "%PDF-", 5)) {
        pdf_inspect(ctx, part, d, len);
    } else if (!g_strcmp0(t, "application/x-sylk")) {
        sylk_inspect(ctx, index, d, len);
    }
    g_free(part);
}
