/* mt_augment: inverse-mapped affine warp with bilinear interpolation, the
 * usual MNIST augmentation (small shifts and rotations).  No allocation.
 * mt_warp_u8_ref is the specification of the SIMD warps in src/kern. */
#include "mt_augment.h"

#include <math.h>
#include <string.h>

#include "kern/warp_impl.h"

int mt_augment_active(const mt_augment *a)
{
    return a && (a->max_shift > 0 || a->max_rotate > 0 || a->max_scale > 0);
}

static float px(const uint8_t *src, int rows, int cols, int y, int x)
{
    return (y < 0 || y >= rows || x < 0 || x >= cols) ? 0.f : (float)src[y * cols + x];
}

void mt_warp_u8_ref(uint8_t *dst, const uint8_t *src, int rows, int cols,
                    float dx, float dy, float cs, float sn, float inv)
{
    float cy = (rows - 1) * 0.5f, cx = (cols - 1) * 0.5f;
    for (int y = 0; y < rows; y++) {
        for (int x = 0; x < cols; x++) {
            /* one operation per statement: no compiler may fuse a multiply
             * and an add here (the SIMD variants must match bit for bit) */
            float u = (float)x - cx - dx, v = (float)y - cy - dy;
            float cu = cs * u, sv = sn * v, su = sn * u, cv = cs * v;
            float sx = (cu - sv) * inv, sy = (su + cv) * inv;
            sx = sx + cx;
            sy = sy + cy;
            float fx = floorf(sx), fy = floorf(sy);
            int x0 = (int)fx, y0 = (int)fy;
            float ax = sx - fx, ay = sy - fy, bx = 1 - ax, by = 1 - ay;
            float t00 = bx * px(src, rows, cols, y0, x0), t01 = ax * px(src, rows, cols, y0, x0 + 1);
            float t10 = bx * px(src, rows, cols, y0 + 1, x0), t11 = ax * px(src, rows, cols, y0 + 1, x0 + 1);
            float top = t00 + t01, bot = t10 + t11;
            top = by * top;
            bot = ay * bot;
            int r = (int)lrintf(top + bot);
            dst[y * cols + x] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        }
    }
}

void mt_augment_warp(uint8_t *dst, const uint8_t *src, int rows, int cols,
                     float dx, float dy, float angle, float scale)
{
    /* screen coordinates have y pointing down, so a counter-clockwise turn on
     * screen is a clockwise one in (x, y); invert it for the source lookup */
    mt_warp_u8_ref(dst, src, rows, cols, dx, dy, cosf(angle), sinf(angle), 1.f / scale);
}

mt_warp_fn mt_augment_warp_kernel(const mt_kern *k)
{
    if (!k)
        return mt_warp_u8_ref;
#if defined(__x86_64__)
    if (strcmp(k->name, "avx512") == 0)
        return mt_warp_u8_avx512;
    if (strcmp(k->name, "avx2") == 0)
        return mt_warp_u8_avx2;
#elif defined(__aarch64__)
    if (strcmp(k->name, "neon") == 0)
        return mt_warp_u8_neon;
#endif
    return mt_warp_u8_ref;
}

void mt_augment_random_with(uint8_t *dst, const uint8_t *src, int rows, int cols,
                            const mt_augment *a, mt_rng *rng, mt_warp_fn warp)
{
    float dx = mt_rng_uniform(rng, -a->max_shift, a->max_shift);
    float dy = mt_rng_uniform(rng, -a->max_shift, a->max_shift);
    float deg = mt_rng_uniform(rng, -a->max_rotate, a->max_rotate);
    float sc = 1.f + mt_rng_uniform(rng, -a->max_scale, a->max_scale);
    float angle = deg * (3.14159265358979f / 180.f);
    (warp ? warp : mt_warp_u8_ref)(dst, src, rows, cols, dx, dy, cosf(angle), sinf(angle), 1.f / sc);
}

void mt_augment_random(uint8_t *dst, const uint8_t *src, int rows, int cols,
                       const mt_augment *a, mt_rng *rng)
{
    mt_augment_random_with(dst, src, rows, cols, a, rng, NULL);
}
