/* words.c - words in text that writes none of its spaces: ICU's word break
 * iterator (UAX #29, with its dictionaries for Chinese, Japanese, Thai, Lao,
 * Khmer and Burmese). The archive cuts text into words itself, on spaces
 * and punctuation (claw_words()), and hands us only the runs in those
 * scripts: "口座を確認してください" is one run there and six words here. */
#include "build-config.h"

#include "claw-private.h"

#include <unicode/ubrk.h>
#include <unicode/utext.h>

/* One iterator per thread, kept: opening one loads the break rules. */
static void
close_breaker(gpointer bi)
{
    ubrk_close(bi);
}

static GPrivate breaker_key = G_PRIVATE_INIT(close_breaker);

static UBreakIterator *
thread_breaker(void)
{
    UBreakIterator *bi = g_private_get(&breaker_key);
    if (!bi) {
        UErrorCode err = U_ZERO_ERROR;
        bi = ubrk_open(UBRK_WORD, "", NULL, 0, &err);
        if (U_FAILURE(err))
            return NULL;
        g_private_set(&breaker_key, bi);
    }
    return bi;
}

void
claw_text_words(const char *text, size_t len,
                void (*fn)(void *ctx, const char *word, size_t n), void *ctx)
{
    UBreakIterator *bi = text && len <= INT32_MAX ? thread_breaker() : NULL;
    UErrorCode err = U_ZERO_ERROR;
    /* UTF-8 UText: its native indexes are byte offsets into @text. */
    UText *ut = bi ? utext_openUTF8(NULL, text, (int64_t)len, &err) : NULL;
    if (ut && U_SUCCESS(err))
        ubrk_setUText(bi, ut, &err);
    if (!ut || U_FAILURE(err)) {
        if (text && len) /* no iterator: the run as one word, as before */
            fn(ctx, text, len);
        utext_close(ut);
        return;
    }
    int32_t start = ubrk_first(bi);
    for (int32_t end = ubrk_next(bi); end != UBRK_DONE; start = end, end = ubrk_next(bi))
        if (ubrk_getRuleStatus(bi) != UBRK_WORD_NONE) /* not spaces or punctuation */
            fn(ctx, text + start, (size_t)(end - start));
    utext_close(ut); /* the iterator stays, for the next run */
}
