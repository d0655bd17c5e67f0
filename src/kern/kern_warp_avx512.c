/* The augmentation warp, 16 pixels of a row at a time (AVX-512F): the
 * operations and the gather of kern_warp_avx2.c on twice the lanes, the last
 * vector of a row stored through a mask. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include <immintrin.h>

#include "kern_warp_impl.h"

void mt_warp_u8_avx512(uint8_t *dst, const uint8_t *src, int rows, int cols,
                       float dx, float dy, float cs, float sn, float inv)
{
    if (rows > MT_WARP_MAX || cols > MT_WARP_MAX) {
        mt_warp_u8_ref(dst, src, rows, cols, dx, dy, cs, sn, inv);
        return;
    }
    uint8_t pad[MT_WARP_BUF];
    uint16_t q[MT_WARP_BUF];
    mt_warp_border(pad, src, rows, cols);
    mt_warp_pairs(q, pad, rows, cols);
    const int pw = cols + 2 * MT_WARP_PAD;
    const float cy = (rows - 1) * 0.5f, cx = (cols - 1) * 0.5f;
    const __m512 vcx = _mm512_set1_ps(cx), vcy = _mm512_set1_ps(cy), vdx = _mm512_set1_ps(dx);
    const __m512 vcs = _mm512_set1_ps(cs), vsn = _mm512_set1_ps(sn), vinv = _mm512_set1_ps(inv);
    const __m512 one = _mm512_set1_ps(1.f);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i byte = _mm512_set1_epi32(0xff), lo = _mm512_set1_epi32(-MT_WARP_PAD);
    const __m512i hix = _mm512_set1_epi32(cols), hiy = _mm512_set1_epi32(rows);
    const __m512i vpw = _mm512_set1_epi32(pw), off = _mm512_set1_epi32(MT_WARP_PAD * pw + MT_WARP_PAD);
    const __m512i zero = _mm512_setzero_si512();
    for (int y = 0; y < rows; y++) {
        const float v = (float)y - cy - dy;
        const __m512 sv = _mm512_mul_ps(vsn, _mm512_set1_ps(v)), cv = _mm512_mul_ps(vcs, _mm512_set1_ps(v));
        for (int x = 0; x < cols; x += 16) {
            __m512 u = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_set1_epi32(x), lane));
            u = _mm512_sub_ps(_mm512_sub_ps(u, vcx), vdx);
            __m512 sx = _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(vcs, u), sv), vinv);
            __m512 sy = _mm512_mul_ps(_mm512_add_ps(_mm512_mul_ps(vsn, u), cv), vinv);
            sx = _mm512_add_ps(sx, vcx);
            sy = _mm512_add_ps(sy, vcy);
            const __m512 fx = _mm512_roundscale_ps(sx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __m512 fy = _mm512_roundscale_ps(sy, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m512i ix = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvttps_epi32(fx), lo), hix);
            __m512i iy = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvttps_epi32(fy), lo), hiy);
            const __m512i at = _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(iy, vpw), ix), off);
            const __m512i g = _mm512_i32gather_epi32(at, (const void *)q, 2);
            const int n = cols - x < 16 ? cols - x : 16;
            const __m512 p00 = _mm512_cvtepi32_ps(_mm512_and_si512(g, byte));
            const __m512 p10 = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(g, 8), byte));
            const __m512 p01 = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(g, 16), byte));
            const __m512 p11 = _mm512_cvtepi32_ps(_mm512_srli_epi32(g, 24));
            const __m512 ax = _mm512_sub_ps(sx, fx), ay = _mm512_sub_ps(sy, fy);
            const __m512 bx = _mm512_sub_ps(one, ax), by = _mm512_sub_ps(one, ay);
            __m512 t = _mm512_add_ps(_mm512_mul_ps(bx, p00), _mm512_mul_ps(ax, p01));
            __m512 b = _mm512_add_ps(_mm512_mul_ps(bx, p10), _mm512_mul_ps(ax, p11));
            const __m512 val = _mm512_add_ps(_mm512_mul_ps(by, t), _mm512_mul_ps(ay, b));
            /* after max(0), the unsigned saturating narrow clamps to 255 */
            const __m512i r = _mm512_max_epi32(_mm512_cvtps_epi32(val), zero);
            _mm512_mask_cvtusepi32_storeu_epi8(dst + (size_t)y * cols + x, (__mmask16)((1u << n) - 1), r);
        }
    }
}
