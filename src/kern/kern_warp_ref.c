/* The augmentation warp's scalar reference: plain loops, one operation per
 * statement, the specification of the SIMD variants (kern_warp.h). */
#include "kern_warp.h"

#include <math.h>

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

