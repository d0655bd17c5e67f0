/* Private to the warp kernels (kern_warp.h has the contract): each SIMD
 * variant copies the image into a zero border
 * (MT_WARP_PAD pixels on every side, so a tap clamped there reads 0 as the
 * reference's bounds test gives) and gathers the taps from it; images wider
 * or taller than MT_WARP_MAX go to the reference. */
#ifndef KERN_WARP_IMPL_H
#define KERN_WARP_IMPL_H

#include <stdint.h>
#include <string.h>

#include "kern_warp.h"

#define MT_WARP_MAX 124
#define MT_WARP_PAD 2
/* the bordered copy, plus room for a 32-bit gather at its last pixel and
 * for whole 16-byte vectors past a row's end */
#define MT_WARP_BUF ((MT_WARP_MAX + 2 * MT_WARP_PAD) * (MT_WARP_MAX + 2 * MT_WARP_PAD) + 64)

/* pad (ph, pw) = src (rows, cols) inside a zero border of MT_WARP_PAD. */
static inline void mt_warp_border(uint8_t *pad, const uint8_t *src, int rows, int cols)
{
    const int pw = cols + 2 * MT_WARP_PAD, ph = rows + 2 * MT_WARP_PAD;
    memset(pad, 0, (size_t)ph * pw + 32);
    for (int y = 0; y < rows; y++)
        memcpy(pad + (size_t)(y + MT_WARP_PAD) * pw + MT_WARP_PAD, src + (size_t)y * cols, (size_t)cols);
}

/* The taps of the x86 warps: q (ph - 1, pw) 16-bit pairs of vertically
 * adjacent pixels, q[y*pw + x] = pad(y, x) | pad(y + 1, x) << 8, so one
 * 32-bit load at q + (y*pw + x) reads the four taps around (x, y): bytes
 * p(y,x), p(y+1,x), p(y,x+1), p(y+1,x+1).  pad needs 16 readable bytes
 * past its last row; q gets 16 pairs of slack. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline void mt_warp_pairs(uint16_t *q, const uint8_t *pad, int rows, int cols)
{
    const int pw = cols + 2 * MT_WARP_PAD, ph = rows + 2 * MT_WARP_PAD;
    for (int y = 0; y + 1 < ph; y++)
        for (int x = 0; x < pw; x += 16) { /* a row's last vector spills into the next, rewritten after */
            const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(pad + (size_t)y * pw + x));
            const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(pad + (size_t)(y + 1) * pw + x));
            _mm_storeu_si128((__m128i *)(void *)(q + (size_t)y * pw + x), _mm_unpacklo_epi8(a, b));
            _mm_storeu_si128((__m128i *)(void *)(q + (size_t)y * pw + x + 8), _mm_unpackhi_epi8(a, b));
        }
}
#endif

#endif
