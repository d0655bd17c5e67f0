/* mt_augment: inverse-mapped affine warp with bilinear interpolation, the
 * usual MNIST augmentation (small shifts and rotations).  No allocation.
 * The warp itself is a kernel (kern_warp.h). */
#include "mt_augment.h"

#include <math.h>
#include <string.h>


int mt_augment_active(const mt_augment *a)
{
    return a && (a->max_shift > 0 || a->max_rotate > 0 || a->max_scale > 0);
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
