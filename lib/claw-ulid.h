/* claw-ulid.h - a ULID (26 characters of Crockford base32: 48 bits of
 * milliseconds since 1970, then 80 random bits), for libclaw's
 * claw_id_new() and for the Exim plugin, which links nothing of libclaw.
 * Header-only: one definition, two users. */
#ifndef CLAW_ULID_H
#define CLAW_ULID_H

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

static inline void
claw_ulid(char out[27])
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    struct timespec ts;
    unsigned char r[10];

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    /* getrandom() without GRND_NONBLOCK only blocks before the kernel's pool
     * is first initialised, at boot. */
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    for (; got < sizeof r; got++) /* not reached on Linux >= 3.17 */
        r[got] = (unsigned char)(ts.tv_nsec >> (got % 4 * 8));
    /* 10 characters of time (50 bits, the top two zero), 16 of randomness. */
    for (int i = 9; i >= 0; i--) {
        out[i] = b32[ms & 31];
        ms >>= 5;
    }
    unsigned acc = 0, bits = 0;
    int o = 10;
    for (size_t i = 0; i < sizeof r; i++) {
        acc = (acc << 8) | r[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    out[26] = '\0';
}

#endif
