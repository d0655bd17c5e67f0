/* mt_augment: inverse-mapped affine warp with bilinear interpolation, the
 * usual MNIST augmentation (small shifts and rotations).  No allocation. */
#include "mt_augment.h"

#include <math.h>

int mt_augment_active(const mt_augment *a)
{
    return a && (a->max_shift > 0 || a->max_rotate > 0 || a->max_scale > 0);
}

static float px(const uint8_t *src, int rows, int cols, int y, int x)
{
    return (y < 0 || y >= rows || x < 0 || x >= cols) ? 0.f : (float)src[y * cols + x];
}

void mt_augment_warp(uint8_t *dst, const uint8_t *src, int rows, int cols,
                     float dx, float dy, float angle, float scale)
{
    /* screen coordinates have y pointing down, so a counter-clockwise turn on
     * screen is a clockwise one in (x, y); invert it for the source lookup */
    float cy = (rows - 1) * 0.5f, cx = (cols - 1) * 0.5f;
    float c = cosf(angle), s = sinf(angle), inv = 1.f / scale;
    for (int y = 0; y < rows; y++) {
        for (int x = 0; x < cols; x++) {
            float u = (float)x - cx - dx, v = (float)y - cy - dy;
            float sx = (c * u - s * v) * inv + cx;
            float sy = (s * u + c * v) * inv + cy;
            float fx = floorf(sx), fy = floorf(sy);
            int x0 = (int)fx, y0 = (int)fy;
            float ax = sx - fx, ay = sy - fy;
            float val = (1 - ay) * ((1 - ax) * px(src, rows, cols, y0, x0) + ax * px(src, rows, cols, y0, x0 + 1)) +
                        ay * ((1 - ax) * px(src, rows, cols, y0 + 1, x0) + ax * px(src, rows, cols, y0 + 1, x0 + 1));
            int r = (int)lrintf(val);
            dst[y * cols + x] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        }
    }
}

void mt_augment_random(uint8_t *dst, const uint8_t *src, int rows, int cols,
                       const mt_augment *a, mt_rng *rng)
{
    float dx = mt_rng_uniform(rng, -a->max_shift, a->max_shift);
    float dy = mt_rng_uniform(rng, -a->max_shift, a->max_shift);
    float deg = mt_rng_uniform(rng, -a->max_rotate, a->max_rotate);
    float sc = 1.f + mt_rng_uniform(rng, -a->max_scale, a->max_scale);
    mt_augment_warp(dst, src, rows, cols, dx, dy, deg * (3.14159265358979f / 180.f), sc);
}
