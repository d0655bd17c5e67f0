/* The augmentation warp, 8 pixels of a row at a time (AVX2): the reference's
 * operations lane by lane (mul and add apart, never FMA; floor; round to
 * nearest even as lrintf), the four taps gathered at once from the image's
 * zero-bordered pairs of rows (mt_warp_pairs).  Coordinates are clamped to the border
 * first: a tap there reads 0, as one outside the image does in the
 * reference. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include <immintrin.h>

#include "kern_warp_impl.h"

void mt_warp_u8_avx2(uint8_t *dst, const uint8_t *src, int rows, int cols,
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
    const __m256 vcx = _mm256_set1_ps(cx), vcy = _mm256_set1_ps(cy), vdx = _mm256_set1_ps(dx);
    const __m256 vcs = _mm256_set1_ps(cs), vsn = _mm256_set1_ps(sn), vinv = _mm256_set1_ps(inv);
    const __m256 one = _mm256_set1_ps(1.f);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), byte = _mm256_set1_epi32(0xff);
    const __m256i lo = _mm256_set1_epi32(-MT_WARP_PAD), hix = _mm256_set1_epi32(cols), hiy = _mm256_set1_epi32(rows);
    const __m256i vpw = _mm256_set1_epi32(pw), off = _mm256_set1_epi32(MT_WARP_PAD * pw + MT_WARP_PAD);
    const __m256i zero = _mm256_setzero_si256(), top = _mm256_set1_epi32(255);
    /* the low byte of each 32-bit lane to the front of its 128-bit half */
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i join = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
    for (int y = 0; y < rows; y++) {
        const float v = (float)y - cy - dy;
        const __m256 sv = _mm256_mul_ps(vsn, _mm256_set1_ps(v)), cv = _mm256_mul_ps(vcs, _mm256_set1_ps(v));
        for (int x = 0; x < cols; x += 8) {
            __m256 u = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32(x), lane));
            u = _mm256_sub_ps(_mm256_sub_ps(u, vcx), vdx);
            __m256 sx = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(vcs, u), sv), vinv);
            __m256 sy = _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(vsn, u), cv), vinv);
            sx = _mm256_add_ps(sx, vcx);
            sy = _mm256_add_ps(sy, vcy);
            const __m256 fx = _mm256_floor_ps(sx), fy = _mm256_floor_ps(sy);
            __m256i ix = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvttps_epi32(fx), lo), hix);
            __m256i iy = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvttps_epi32(fy), lo), hiy);
            const __m256i at = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(iy, vpw), ix), off);
            const __m256i g = _mm256_i32gather_epi32((const int *)(const void *)q, at, 2);
            uint8_t *d = dst + (size_t)y * cols + x;
            if (_mm256_testz_si256(g, g)) { /* every tap 0 (most of a digit's background): 0 */
                for (int i = 0; i < 8 && i < cols - x; i++)
                    d[i] = 0;
                continue;
            }
            const __m256 p00 = _mm256_cvtepi32_ps(_mm256_and_si256(g, byte));
            const __m256 p10 = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(g, 8), byte));
            const __m256 p01 = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(g, 16), byte));
            const __m256 p11 = _mm256_cvtepi32_ps(_mm256_srli_epi32(g, 24));
            const __m256 ax = _mm256_sub_ps(sx, fx), ay = _mm256_sub_ps(sy, fy);
            const __m256 bx = _mm256_sub_ps(one, ax), by = _mm256_sub_ps(one, ay);
            __m256 t = _mm256_add_ps(_mm256_mul_ps(bx, p00), _mm256_mul_ps(ax, p01));
            __m256 b = _mm256_add_ps(_mm256_mul_ps(bx, p10), _mm256_mul_ps(ax, p11));
            const __m256 val = _mm256_add_ps(_mm256_mul_ps(by, t), _mm256_mul_ps(ay, b));
            __m256i r = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(val), zero), top);
            r = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(r, pick), join);
            const long long out8 = _mm_cvtsi128_si64(_mm256_castsi256_si128(r));
            if (cols - x >= 8) {
                __builtin_memcpy(d, &out8, 8);
            } else {
                for (int i = 0; i < cols - x; i++)
                    d[i] = (uint8_t)(out8 >> (8 * i));
            }
        }
    }
}
