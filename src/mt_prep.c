/* mt_prep: MNIST's own preprocessing for arbitrary digit pictures (predict).
 * It does not decide the class or read files; it only normalises geometry and
 * contrast.  Reference: http://yann.lecun.com/exdb/mnist/ (the data set page). */
#include "mt_prep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct src {
    const uint8_t *gray;
    int w, h, invert;
    float lo, scale; /* stretched = (v - lo) * scale, clamped to [0, 255] */
} src;

static float pix(const src *s, int x, int y)
{
    float v = s->gray[(size_t)y * s->w + x];
    if (s->invert)
        v = 255.f - v;
    v = (v - s->lo) * s->scale;
    return v < 0.f ? 0.f : v > 255.f ? 255.f : v;
}

/* Weight of source cell [i, i+1) inside [a, b). */
static float overlap(int i, double a, double b)
{
    double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
    return hi > lo ? (float)(hi - lo) : 0.f;
}

mt_status mt_prep_digit(uint8_t *out, int rows, int cols, const uint8_t *gray, int w, int h,
                        mt_prep_info *info, mt_err *err)
{
    if (rows < 1 || cols < 1 || w < 1 || h < 1 || !out || !gray)
        return mt_errf(err, MT_EARG, "prep: bad sizes %dx%d -> %dx%d", w, h, cols, rows);
    src s = { gray, w, h, 0, 0.f, 1.f };

    /* polarity from the border, where a digit picture has background */
    double border = 0;
    long nb = 0;
    for (int x = 0; x < w; x++) {
        border += gray[x] + gray[(size_t)(h - 1) * w + x];
        nb += 2;
    }
    for (int y = 0; y < h; y++) {
        border += gray[(size_t)y * w] + gray[(size_t)y * w + w - 1];
        nb += 2;
    }
    border /= (double)nb;
    s.invert = border > 127.5;
    float bg = (float)(s.invert ? 255.0 - border : border), hi = 0.f;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        float v = s.invert ? 255.f - gray[i] : gray[i];
        hi = v > hi ? v : hi;
    }
    if (hi - bg < 24.f)
        return mt_errf(err, MT_EDATA, "blank image (no ink found)");
    s.lo = bg;
    s.scale = 255.f / (hi - bg);

    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (pix(&s, x, y) >= 32.f) {
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
            }
    if (x1 < 0)
        return mt_errf(err, MT_EDATA, "blank image (no ink found)");
    const int cw = x1 - x0 + 1, ch = y1 - y0 + 1;
    const int box = (int)lround(20.0 / 28.0 * (rows < cols ? rows : cols));
    const double sc = (double)(box < 1 ? 1 : box) / (cw > ch ? cw : ch);
    int bw = (int)lround(cw * sc), bh = (int)lround(ch * sc);
    bw = bw < 1 ? 1 : bw > cols ? cols : bw;
    bh = bh < 1 ? 1 : bh > rows ? rows : bh;

    /* area-averaging resample, rows first: tmp (ch, bw), img (bh, bw) */
    float *tmp = malloc((size_t)ch * bw * sizeof *tmp), *img = calloc((size_t)bh * bw, sizeof *img);
    if (!tmp || !img) {
        free(tmp);
        free(img);
        return mt_errf(err, MT_ENOMEM, "prep: out of memory");
    }
    const double sx = (double)cw / bw, sy = (double)ch / bh;
    for (int y = 0; y < ch; y++)
        for (int ox = 0; ox < bw; ox++) {
            double a = ox * sx, b = (ox + 1) * sx, acc = 0;
            for (int i = (int)floor(a); i < (int)ceil(b) && i < cw; i++)
                acc += overlap(i, a, b) * pix(&s, x0 + i, y0 + y);
            tmp[(size_t)y * bw + ox] = (float)(acc / sx);
        }
    double m = 0, mx = 0, my = 0;
    for (int oy = 0; oy < bh; oy++) {
        double a = oy * sy, b = (oy + 1) * sy;
        for (int ox = 0; ox < bw; ox++) {
            double acc = 0;
            for (int i = (int)floor(a); i < (int)ceil(b) && i < ch; i++)
                acc += overlap(i, a, b) * tmp[(size_t)i * bw + ox];
            float v = (float)(acc / sy);
            img[(size_t)oy * bw + ox] = v;
            m += v;
            mx += v * ox;
            my += v * oy;
        }
    }
    /* centre of mass (pixel-index coordinates) to the centre of the field */
    double cx = m > 0 ? mx / m : (bw - 1) / 2.0, cy = m > 0 ? my / m : (bh - 1) / 2.0;
    int dx = (int)lround((cols - 1) / 2.0 - cx), dy = (int)lround((rows - 1) / 2.0 - cy);
    memset(out, 0, (size_t)rows * cols);
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++) {
            int X = x + dx, Y = y + dy;
            if (X >= 0 && X < cols && Y >= 0 && Y < rows) {
                float v = img[(size_t)y * bw + x];
                out[(size_t)Y * cols + X] = (uint8_t)lrintf(v < 0.f ? 0.f : v > 255.f ? 255.f : v);
            }
        }
    free(tmp);
    free(img);
    if (info) {
        info->inverted = s.invert;
        info->x0 = x0;
        info->y0 = y0;
        info->x1 = x1;
        info->y1 = y1;
        info->box_w = bw;
        info->box_h = bh;
    }
    return MT_OK;
}
