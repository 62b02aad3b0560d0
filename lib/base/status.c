/* status.c - status codes, version and the stable names of enums. */
#include "build-config.h"

#include "claw-private.h"

const char *
claw_version(void)
{
    return PACKAGE_VERSION;
}

const char *
claw_status_to_string(claw_status_t status)
{
    switch (status) {
    case CLAW_STATUS_SUCCESS:
        return "no error";
    case CLAW_STATUS_OUT_OF_MEMORY:
        return "out of memory";
    case CLAW_STATUS_IO_ERROR:
        return "input/output error";
    case CLAW_STATUS_CONFIG_ERROR:
        return "configuration error";
    case CLAW_STATUS_INVALID_ARGUMENT:
        return "invalid argument";
    case CLAW_STATUS_DEPENDENCY_ERROR:
        return "a library Clawback depends on failed";
    case CLAW_STATUS_INTERNAL_ERROR:
        return "internal error";
    case CLAW_STATUS_NOT_FOUND:
        return "not found";
    case CLAW_STATUS_LAST_STATUS:
        break;
    }
    return "unknown status";
}

static const char *const anomaly_names[CLAW_ANOM_LAST] = {
    [CLAW_ANOM_NOT_A_MESSAGE] = "NOT_A_MESSAGE",
    [CLAW_ANOM_EMPTY] = "EMPTY",
    [CLAW_ANOM_NO_HEADERS] = "NO_HEADERS",
    [CLAW_ANOM_GMIME_DUPLICATED_HEADER] = "GMIME_DUPLICATED_HEADER",
    [CLAW_ANOM_GMIME_DUPLICATED_PARAMETER] = "GMIME_DUPLICATED_PARAMETER",
    [CLAW_ANOM_GMIME_UNENCODED_8BIT_HEADER] = "GMIME_UNENCODED_8BIT_HEADER",
    [CLAW_ANOM_GMIME_INVALID_CONTENT_TYPE] = "GMIME_INVALID_CONTENT_TYPE",
    [CLAW_ANOM_GMIME_INVALID_RFC2047_HEADER_VALUE] = "GMIME_INVALID_RFC2047_HEADER_VALUE",
    [CLAW_ANOM_GMIME_MALFORMED_MULTIPART] = "GMIME_MALFORMED_MULTIPART",
    [CLAW_ANOM_GMIME_TRUNCATED_MESSAGE] = "GMIME_TRUNCATED_MESSAGE",
    [CLAW_ANOM_GMIME_MALFORMED_MESSAGE] = "GMIME_MALFORMED_MESSAGE",
    [CLAW_ANOM_GMIME_INVALID_HEADER_NAME] = "GMIME_INVALID_HEADER_NAME",
    [CLAW_ANOM_GMIME_CONFLICTING_HEADER] = "GMIME_CONFLICTING_HEADER",
    [CLAW_ANOM_GMIME_CONFLICTING_PARAMETER] = "GMIME_CONFLICTING_PARAMETER",
    [CLAW_ANOM_GMIME_MULTIPART_WITHOUT_BOUNDARY] = "GMIME_MULTIPART_WITHOUT_BOUNDARY",
    [CLAW_ANOM_GMIME_INVALID_PARAMETER] = "GMIME_INVALID_PARAMETER",
    [CLAW_ANOM_GMIME_INVALID_ADDRESS_LIST] = "GMIME_INVALID_ADDRESS_LIST",
    [CLAW_ANOM_GMIME_NESTING_OVERFLOW] = "GMIME_NESTING_OVERFLOW",
    [CLAW_ANOM_GMIME_PART_WITHOUT_CONTENT] = "GMIME_PART_WITHOUT_CONTENT",
    [CLAW_ANOM_GMIME_PART_WITHOUT_HEADERS_OR_CONTENT] = "GMIME_PART_WITHOUT_HEADERS_OR_CONTENT",
    [CLAW_ANOM_DUPLICATE_HEADER] = "DUPLICATE_HEADER",
    [CLAW_ANOM_CONFLICTING_HEADER] = "CONFLICTING_HEADER",
    [CLAW_ANOM_NUL_BYTES] = "NUL_BYTES",
    [CLAW_ANOM_BARE_CR] = "BARE_CR",
    [CLAW_ANOM_LONG_LINE] = "LONG_LINE",
    [CLAW_ANOM_HEADER_CONTROL_CHARS] = "HEADER_CONTROL_CHARS",
    [CLAW_ANOM_CHARSET_UNKNOWN] = "CHARSET_UNKNOWN",
    [CLAW_ANOM_INVALID_UTF8] = "INVALID_UTF8",
    [CLAW_ANOM_MBOX_FROM_LINE] = "MBOX_FROM_LINE",
    [CLAW_ANOM_LEADING_JUNK] = "LEADING_JUNK",
    [CLAW_ANOM_ARCHIVE_ERROR] = "ARCHIVE_ERROR",
    [CLAW_ANOM_ZIP_OVERLAPPING_ENTRIES] = "ZIP_OVERLAPPING_ENTRIES",
    [CLAW_ANOM_TNEF_ERROR] = "TNEF_ERROR",
    [CLAW_ANOM_OLE_ERROR] = "OLE_ERROR",
    [CLAW_ANOM_DECODE_ERROR] = "DECODE_ERROR",
    [CLAW_ANOM_LIMIT_DEPTH] = "LIMIT_DEPTH",
    [CLAW_ANOM_LIMIT_PARTS] = "LIMIT_PARTS",
    [CLAW_ANOM_LIMIT_DECODED_BYTES] = "LIMIT_DECODED_BYTES",
    [CLAW_ANOM_LIMIT_URLS] = "LIMIT_URLS",
    [CLAW_ANOM_LIMIT_ARCHIVE_MEMBERS] = "LIMIT_ARCHIVE_MEMBERS",
    [CLAW_ANOM_LIMIT_ARCHIVE_BYTES] = "LIMIT_ARCHIVE_BYTES",
    [CLAW_ANOM_LIMIT_HEADER_BYTES] = "LIMIT_HEADER_BYTES",
    [CLAW_ANOM_LIMIT_TIME] = "LIMIT_TIME",
    [CLAW_ANOM_LIMIT_MESSAGE_BYTES] = "LIMIT_MESSAGE_BYTES",
    [CLAW_ANOM_LIMIT_MEMORY] = "LIMIT_MEMORY",
    [CLAW_ANOM_LIMIT_TEXT_BYTES] = "LIMIT_TEXT_BYTES",
    [CLAW_ANOM_LIMIT_ADDRESSES] = "LIMIT_ADDRESSES",
};

const char *
claw_anomaly_code_to_string(claw_anomaly_code_t code)
{
    if ((unsigned)code >= CLAW_ANOM_LAST || !anomaly_names[code])
        return "UNKNOWN";
    return anomaly_names[code];
}

int
claw_anomaly_code_is_limit(claw_anomaly_code_t code)
{
    return code >= CLAW_ANOM_LIMIT_DEPTH && code < CLAW_ANOM_LAST;
}

const char *
claw_address_field_to_string(claw_address_field_t field)
{
    static const char *const names[CLAW_FIELD_LAST] = {
        "from", "sender", "reply-to", "return-path", "to", "cc", "bcc",
    };
    if ((unsigned)field >= CLAW_FIELD_LAST)
        return "unknown";
    return names[field];
}

const char *
claw_url_source_to_string(claw_url_source_t source)
{
    switch (source) {
    case CLAW_URL_TEXT:
        return "text";
    case CLAW_URL_HTML_HREF:
        return "href";
    case CLAW_URL_HTML_SRC:
        return "src";
    case CLAW_URL_HTML_ACTION:
        return "action";
    case CLAW_URL_HTML_META:
        return "meta-refresh";
    case CLAW_URL_ATTACHMENT:
        return "attachment";
    }
    return "unknown";
}

/* Here, not in judge/, because the archive's readers (claw search, stats)
 * name actions without loading the engine and what it links. */
const char *
claw_action_to_string(claw_action_t a)
{
    switch (a) {
    case CLAW_ACTION_ACCEPT: return "accept";
    case CLAW_ACTION_TAG: return "tag";
    case CLAW_ACTION_QUARANTINE: return "quarantine";
    case CLAW_ACTION_REJECT: return "reject";
    }
    return "unknown";
}
