/* kern_warp: the augmentation warp's kernels (see mt_augment for what it
 * is for): the scalar reference and its SIMD variants, which make the same
 * operations in the same order and so give the same bytes. */
#ifndef KERN_WARP_H
#define KERN_WARP_H

#include <stdint.h>

/* dst (rows, cols) = src (rows, cols) warped; dst must not alias src.  Per
 * pixel (x, y), in this order, in float without fused multiply-adds:
 *   u = x - cx - dx,  v = y - cy - dy    (cx = (cols-1)/2, cy = (rows-1)/2)
 *   sx = (cs*u - sn*v) * inv + cx,  sy = (sn*u + cs*v) * inv + cy
 *   bilinear from the four pixels around (sx, sy), 0 outside, rounded to
 *   nearest (even) and clamped to 0..255.
 * cs, sn: cosine and sine of the turn; inv: 1 / scale. */
typedef void (*mt_warp_fn)(uint8_t *dst, const uint8_t *src, int rows, int cols,
                           float dx, float dy, float cs, float sn, float inv);

void mt_warp_u8_ref(uint8_t *dst, const uint8_t *src, int rows, int cols,
                    float dx, float dy, float cs, float sn, float inv);
/* Compiled only where the architecture matches (x86-64: avx2, avx512;
 * aarch64: neon); call one only on a CPU that runs its kernel table. */
void mt_warp_u8_avx2(uint8_t *dst, const uint8_t *src, int rows, int cols,
                     float dx, float dy, float cs, float sn, float inv);
void mt_warp_u8_avx512(uint8_t *dst, const uint8_t *src, int rows, int cols,
                       float dx, float dy, float cs, float sn, float inv);
void mt_warp_u8_neon(uint8_t *dst, const uint8_t *src, int rows, int cols,
                     float dx, float dy, float cs, float sn, float inv);

#endif
