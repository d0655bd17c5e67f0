/* mt_augment: data augmentation for uint8 images: a random affine map
 * (shift, rotation, scale about the centre) sampled bilinearly, outside
 * pixels 0 (MNIST's background).  Applied per sample while a batch is
 * gathered; the data set itself is never modified.
 * The warp has a scalar reference (mt_warp_u8_ref) and SIMD variants beside
 * the kernel table (src/kern/kern_warp_<isa>.c, picked by mt_augment_warp_kernel)
 * that make the same operations in the same order, so they give the same
 * bytes (tests/test_augment.c checks it on many random warps). */
#ifndef MT_AUGMENT_H
#define MT_AUGMENT_H

#include <stdint.h>

#include "kern_warp.h"
#include "mt_kern.h"
#include "mt_rng.h"

typedef struct mt_augment {
    float max_shift;   /* pixels; shift drawn uniformly in [-max, max] per axis */
    float max_rotate;  /* degrees; angle uniform in [-max, max] */
    float max_scale;   /* relative; scale uniform in [1-max, 1+max] */
} mt_augment;

/* 1 when a has any effect. */
int mt_augment_active(const mt_augment *a);

/* dst (rows,cols) = src warped: dst(p) = src(c + R(-angle)(p - c - t) / scale),
 * c the image centre, t = (dx, dy) in pixels, angle in radians (positive turns
 * the content counter-clockwise on screen).  dst must not alias src. */
void mt_augment_warp(uint8_t *dst, const uint8_t *src, int rows, int cols,
                     float dx, float dy, float angle, float scale);

/* The warp kernels (mt_warp_fn, mt_warp_u8_ref: mt_augment_warp with the
 * angle as its cosine and sine and the scale as its inverse) are in
 * kern_warp.h. */

/* The warp for kernel table k: its ISA's SIMD variant, or the reference
 * (k NULL, the scalar table, or an ISA without one). */
mt_warp_fn mt_augment_warp_kernel(const mt_kern *k);

/* Draws a random transform from rng and warps src into dst with warp
 * (NULL: the reference).  mt_augment_random uses the reference. */
void mt_augment_random_with(uint8_t *dst, const uint8_t *src, int rows, int cols,
                            const mt_augment *a, mt_rng *rng, mt_warp_fn warp);
void mt_augment_random(uint8_t *dst, const uint8_t *src, int rows, int cols,
                       const mt_augment *a, mt_rng *rng);

#endif
