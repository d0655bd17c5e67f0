/* mt_augment: data augmentation for uint8 images: a random affine map
 * (shift, rotation, scale about the centre) sampled bilinearly, outside
 * pixels 0 (MNIST's background).  Applied per sample while a batch is
 * gathered; the data set itself is never modified. */
#ifndef MT_AUGMENT_H
#define MT_AUGMENT_H

#include <stdint.h>

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

/* Draws a random transform from rng and warps src into dst. */
void mt_augment_random(uint8_t *dst, const uint8_t *src, int rows, int cols,
                       const mt_augment *a, mt_rng *rng);

#endif
