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

/* The MNIST step: the ink in [x0,x1]x[y0,y1] of the source (values from ink
 * (h, w) when given, else pix(s)) scaled so its longer side fills the 20/28 box,
 * area-averaged, and placed in out (rows, cols) with its centre of mass in the
 * middle.  *pbw, *pbh: the box used.  Returns 0, or -1 when out of memory. */
static int fit_box(uint8_t *out, int rows, int cols, const float *ink, const src *s, int x0, int y0,
                   int x1, int y1, int *pbw, int *pbh)
{
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
        return -1;
    }
    const double sx = (double)cw / bw, sy = (double)ch / bh;
    for (int y = 0; y < ch; y++)
        for (int ox = 0; ox < bw; ox++) {
            double a = ox * sx, b = (ox + 1) * sx, acc = 0;
            for (int i = (int)floor(a); i < (int)ceil(b) && i < cw; i++)
                acc += overlap(i, a, b) * (ink ? ink[(size_t)(y0 + y) * s->w + x0 + i] : pix(s, x0 + i, y0 + y));
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
    *pbw = bw;
    *pbh = bh;
    return 0;
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
    int bw, bh;
    if (fit_box(out, rows, cols, NULL, &s, x0, y0, x1, y1, &bw, &bh))
        return mt_errf(err, MT_ENOMEM, "prep: out of memory");
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

/* ------------------------------------------------------------------------- */
/* Pictures people draw and photograph                                       */
/* ------------------------------------------------------------------------- */

/* Otsu's threshold (Otsu 1979, "A threshold selection method from gray-level
 * histograms"): the t maximising the between-class variance of hist[0..255]
 * split into <= t and > t. */
static int otsu(const double *hist)
{
    double total = 0, sum = 0;
    for (int i = 0; i < 256; i++) {
        total += hist[i];
        sum += i * hist[i];
    }
    double w0 = 0, s0 = 0, best = -1;
    int t = 0;
    for (int i = 0; i < 255; i++) {
        w0 += hist[i];
        s0 += i * hist[i];
        double w1 = total - w0;
        if (w0 <= 0 || w1 <= 0)
            continue;
        double m0 = s0 / w0, m1 = (sum - s0) / w1, between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if (between > best) {
            best = between;
            t = i;
        }
    }
    return t;
}

static void histogram(double *hist, const float *v, size_t n)
{
    memset(hist, 0, 256 * sizeof *hist);
    for (size_t i = 0; i < n; i++) {
        int b = (int)v[i];
        hist[b < 0 ? 0 : b > 255 ? 255 : b] += 1;
    }
}

/* The value below which a fraction q of the histogram's mass lies. */
static int quantile(const double *hist, double q)
{
    double total = 0, acc = 0;
    for (int i = 0; i < 256; i++)
        total += hist[i];
    for (int i = 0; i < 256; i++)
        if ((acc += hist[i]) >= q * total)
            return i;
    return 255;
}

/* out (h, w) = min (want_max = 0) or max (1) of in over a (2r+1)^2 square,
 * separable; tmp (h, w) scratch.  Windows are clipped at the edges. */
static void minmax_filter(float *out, float *tmp, const float *in, int w, int h, int r, int want_max)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float m = in[(size_t)y * w + x];
            for (int i = x - r < 0 ? 0 : x - r; i <= x + r && i < w; i++) {
                float v = in[(size_t)y * w + i];
                m = want_max ? (v > m ? v : m) : (v < m ? v : m);
            }
            tmp[(size_t)y * w + x] = m;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float m = tmp[(size_t)y * w + x];
            for (int j = y - r < 0 ? 0 : y - r; j <= y + r && j < h; j++) {
                float v = tmp[(size_t)j * w + x];
                m = want_max ? (v > m ? v : m) : (v < m ? v : m);
            }
            out[(size_t)y * w + x] = m;
        }
}

typedef struct comp {
    long area;
    double mass;            /* sum of ink values */
    double cx, cy;          /* mass centroid */
    int x0, y0, x1, y1;     /* bounding box, inclusive */
    int border;             /* touches the picture's edge */
    int drop;               /* 1: speck, frame or edge artefact */
    int group;              /* 1: part of the digit */
} comp;

/* Largest working side: a photo is area-averaged down to this before the ink
 * is searched (the digit ends up 20 pixels tall anyway). */
#define WORK_SIDE 256

static int boxes_gap(const comp *a, int x0, int y0, int x1, int y1)
{
    int gx = a->x0 > x1 ? a->x0 - x1 : x0 > a->x1 ? x0 - a->x1 : 0;
    int gy = a->y0 > y1 ? a->y0 - y1 : y0 > a->y1 ? y0 - a->y1 : 0;
    return gx > gy ? gx : gy;
}

mt_status mt_prep_picture(uint8_t *out, int rows, int cols, const uint8_t *gray, const uint8_t *alpha,
                          int w, int h, mt_prep_info *info, mt_err *err)
{
    if (rows < 1 || cols < 1 || w < 1 || h < 1 || !out || !gray)
        return mt_errf(err, MT_EARG, "prep: bad sizes %dx%d -> %dx%d", w, h, cols, rows);
    mt_status st = MT_OK;
    mt_prep_info in = { 0 };
    const size_t n = (size_t)w * h;
    double hist[256];

    /* 1. Lightness L (h, w), or the ink itself when it lives in alpha: the
     * colour channels carry no ink when the visible pixels are all about the
     * same colour (white or black strokes on a transparent canvas). */
    int from_alpha = 0;
    if (alpha) {
        long seen = 0, hidden = 0;
        memset(hist, 0, sizeof hist);
        for (size_t i = 0; i < n; i++)
            if (alpha[i] >= 128) {
                hist[gray[i]] += 1;
                seen++;
            } else {
                hidden++;
            }
        from_alpha = seen > 0 && hidden > 0 && quantile(hist, 0.98) - quantile(hist, 0.02) < 48;
    }
    /* working size: area-average down so the longer side is <= WORK_SIDE */
    const double f = (w > h ? w : h) > WORK_SIDE ? (double)WORK_SIDE / (w > h ? w : h) : 1.0;
    const int ww = f < 1 ? (int)ceil(w * f) : w, wh = f < 1 ? (int)ceil(h * f) : h;
    const size_t wn = (size_t)ww * wh;
    float *I = calloc(wn, sizeof *I), *B = malloc(wn * sizeof *B), *T = malloc(wn * sizeof *T);
    float *S = malloc(wn * sizeof *S);
    double *cnt = calloc(wn, sizeof *cnt);
    int *lab = NULL, *stack = NULL;
    comp *cs = NULL;
    if (!I || !B || !T || !S || !cnt) {
        st = mt_errf(err, MT_ENOMEM, "prep: out of memory");
        goto done;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float v;
            if (from_alpha)
                v = alpha[i];
            else if (alpha) /* composited over white */
                v = (gray[i] * alpha[i] + 255.f * (255 - alpha[i])) / 255.f;
            else
                v = gray[i];
            size_t j = (size_t)(int)(y * f) * ww + (size_t)(int)(x * f);
            I[j] += v;
            cnt[j] += 1;
        }
    for (size_t j = 0; j < wn; j++)
        I[j] = cnt[j] > 0 ? (float)(I[j] / cnt[j]) : 0.f;

    /* 2. Polarity: ink is a thin minority standing out of its surroundings,
     * so the deviations from a local mean (box of side ~ 1/3 of the picture)
     * are skewed towards the ink's side; shadows and page edges deviate about
     * equally both ways, and loop interiors only mildly. */
    if (!from_alpha) {
        const int R = (ww > wh ? ww : wh) / 6 > 1 ? (ww > wh ? ww : wh) / 6 : 1;
        double *ii = malloc((size_t)(ww + 1) * (wh + 1) * sizeof *ii), skew = 0;
        if (!ii) {
            st = mt_errf(err, MT_ENOMEM, "prep: out of memory");
            goto done;
        }
        /* ii (wh+1, ww+1): integral image, ii[y][x] = sum of I over [0,y) x [0,x) */
        for (int x = 0; x <= ww; x++)
            ii[x] = 0;
        for (int y = 0; y < wh; y++) {
            double row = 0;
            ii[(size_t)(y + 1) * (ww + 1)] = 0;
            for (int x = 0; x < ww; x++) {
                row += I[(size_t)y * ww + x];
                ii[(size_t)(y + 1) * (ww + 1) + x + 1] = ii[(size_t)y * (ww + 1) + x + 1] + row;
            }
        }
        for (int y = 0; y < wh; y++)
            for (int x = 0; x < ww; x++) {
                int xa = x - R < 0 ? 0 : x - R, xb = x + R + 1 > ww ? ww : x + R + 1;
                int ya = y - R < 0 ? 0 : y - R, yb = y + R + 1 > wh ? wh : y + R + 1;
                double sum = ii[(size_t)yb * (ww + 1) + xb] - ii[(size_t)ya * (ww + 1) + xb] -
                             ii[(size_t)yb * (ww + 1) + xa] + ii[(size_t)ya * (ww + 1) + xa];
                double d = I[(size_t)y * ww + x] - sum / ((double)(xb - xa) * (yb - ya));
                skew += d * d * d;
            }
        free(ii);
        if (skew < 0) {
            in.inverted = 1;
            for (size_t j = 0; j < wn; j++)
                I[j] = 255.f - I[j];
        }
    }

    /* 3. Background B: a grey opening (min then max filter) wider than a pen
     * stroke keeps shadows, page edges and paper shading but removes strokes;
     * the ink T = I - B.  On light paper the ink is also divided by the local
     * paper brightness, so strokes inside a shadow keep their contrast. */
    const int r = (ww > wh ? ww : wh) / 8 > 2 ? (ww > wh ? ww : wh) / 8 : 2;
    minmax_filter(T, S, I, ww, wh, r, 0);
    minmax_filter(B, S, T, ww, wh, r, 1);
    histogram(hist, B, wn);
    const int bg_med = quantile(hist, 0.5);
    /* A raised part of that background which does not reach the picture's
     * edge is an object wider than a stroke (a bold digit, a solid shape),
     * not shading: shadows and page edges come from outside the picture.
     * Such a region (8-connected, > 24 above the median) gets the median. */
    lab = malloc(wn * sizeof *lab);
    stack = malloc(wn * sizeof *stack);
    if (!lab || !stack) {
        st = mt_errf(err, MT_ENOMEM, "prep: out of memory");
        goto done;
    }
    for (size_t j = 0; j < wn; j++)
        lab[j] = B[j] - bg_med > 24.f ? 0 : -1;
    for (size_t j0 = 0; j0 < wn; j0++) {
        if (lab[j0] != 0)
            continue;
        size_t head = 0, tail = 0; /* stack[0..tail): the region, in visiting order */
        int edge = 0;
        stack[tail++] = (int)j0;
        lab[j0] = 1;
        while (head < tail) {
            int j = stack[head++], x = j % ww, y = j / ww;
            edge |= x == 0 || y == 0 || x == ww - 1 || y == wh - 1;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int X = x + dx, Y = y + dy;
                    if (X < 0 || Y < 0 || X >= ww || Y >= wh || lab[(size_t)Y * ww + X] != 0)
                        continue;
                    lab[(size_t)Y * ww + X] = 1;
                    stack[tail++] = Y * ww + X;
                }
        }
        if (!edge)
            for (size_t q = 0; q < tail; q++)
                B[stack[q]] = (float)bg_med;
    }
    histogram(hist, B, wn);
    const int flat = quantile(hist, 0.98) - quantile(hist, 0.02) < 24;
    for (size_t j = 0; j < wn; j++) {
        float bg = flat ? (float)bg_med : B[j], v = I[j] - bg;
        if (in.inverted && !flat)
            v *= 255.f / (255.f - bg > 64.f ? 255.f - bg : 64.f);
        T[j] = v < 0.f ? 0.f : v > 255.f ? 255.f : v;
    }

    /* 4. Ink mask: Otsu on T, refused when the picture has no contrast. */
    histogram(hist, T, wn);
    const int hi = quantile(hist, 0.999);
    if (hi < 24) {
        st = mt_errf(err, MT_EDATA, "blank image (no ink found)");
        goto done;
    }
    int thr = otsu(hist);
    thr = thr < hi / 4 ? hi / 4 : thr;
    in.threshold = thr;

    /* 5. 8-connected components of T > thr. */
    int nc = 0, cap = 0;
    for (size_t j = 0; j < wn; j++)
        lab[j] = T[j] > thr ? 0 : -1;
    for (size_t j0 = 0; j0 < wn; j0++) {
        if (lab[j0] != 0)
            continue;
        if (nc == cap) {
            cap = cap ? 2 * cap : 64;
            comp *ncs = realloc(cs, (size_t)cap * sizeof *ncs);
            if (!ncs) {
                st = mt_errf(err, MT_ENOMEM, "prep: out of memory");
                goto done;
            }
            cs = ncs;
        }
        comp *c = &cs[nc++];
        memset(c, 0, sizeof *c);
        c->x0 = ww;
        c->y0 = wh;
        c->x1 = c->y1 = -1;
        size_t sp = 0;
        stack[sp++] = (int)j0;
        lab[j0] = nc;
        while (sp) {
            int j = stack[--sp], x = j % ww, y = j / ww;
            c->area++;
            c->mass += T[j];
            c->cx += (double)T[j] * x;
            c->cy += (double)T[j] * y;
            c->x0 = x < c->x0 ? x : c->x0;
            c->x1 = x > c->x1 ? x : c->x1;
            c->y0 = y < c->y0 ? y : c->y0;
            c->y1 = y > c->y1 ? y : c->y1;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int X = x + dx, Y = y + dy;
                    if (X < 0 || Y < 0 || X >= ww || Y >= wh)
                        continue;
                    size_t k = (size_t)Y * ww + X;
                    if (lab[k] == 0) {
                        lab[k] = nc;
                        stack[sp++] = (int)k;
                    }
                }
        }
        c->cx /= c->mass > 0 ? c->mass : 1;
        c->cy /= c->mass > 0 ? c->mass : 1;
        c->border = c->x0 == 0 || c->y0 == 0 || c->x1 == ww - 1 || c->y1 == wh - 1;
    }

    /* 6. Which components are the digit.  Specks (< 3 % of the largest) go;
     * a hollow component around another sizeable one is a frame; a component
     * on the picture's edge (page edge, shadow border, table) goes when a
     * sizeable one stands free; the digit is the heaviest remaining one,
     * favouring the centre, plus the pieces close to it (a 5's flag, a broken
     * stroke). */
    double mmax = 0;
    for (int i = 0; i < nc; i++)
        mmax = cs[i].mass > mmax ? cs[i].mass : mmax;
    for (int i = 0; i < nc; i++)
        cs[i].drop = cs[i].mass < 0.03 * mmax;
    for (int a = 0; a < nc; a++) {
        comp *A = &cs[a];
        if (A->drop)
            continue;
        double fill = (double)A->area / ((double)(A->x1 - A->x0 + 1) * (A->y1 - A->y0 + 1));
        for (int b = 0; b < nc && fill < 0.35; b++) {
            const comp *Bc = &cs[b];
            if (b != a && !Bc->drop && Bc->mass >= 0.1 * A->mass && Bc->x0 > A->x0 && Bc->x1 < A->x1 &&
                Bc->y0 > A->y0 && Bc->y1 < A->y1) {
                A->drop = 2;
                break;
            }
        }
    }
    double free_max = 0;
    for (int i = 0; i < nc; i++)
        if (!cs[i].drop && !cs[i].border)
            free_max = cs[i].mass > free_max ? cs[i].mass : free_max;
    double kept_max = 0;
    for (int i = 0; i < nc; i++)
        if (!cs[i].drop)
            kept_max = cs[i].mass > kept_max ? cs[i].mass : kept_max;
    if (free_max >= 0.25 * kept_max)
        for (int i = 0; i < nc; i++)
            if (!cs[i].drop && cs[i].border)
                cs[i].drop = 3;
    int best = -1;
    double best_score = 0, half_diag = 0.5 * sqrt((double)ww * ww + (double)wh * wh);
    for (int i = 0; i < nc; i++) {
        if (cs[i].drop)
            continue;
        in.n_components++;
        double d = hypot(cs[i].cx - (ww - 1) / 2.0, cs[i].cy - (wh - 1) / 2.0) / half_diag;
        double score = cs[i].mass * (1.0 - 0.5 * d);
        if (best < 0 || score > best_score) {
            best = i;
            best_score = score;
        }
    }
    if (best < 0) {
        st = mt_errf(err, MT_EDATA, "blank image (no ink found)");
        goto done;
    }
    cs[best].group = 1;
    int gx0 = cs[best].x0, gy0 = cs[best].y0, gx1 = cs[best].x1, gy1 = cs[best].y1;
    double gmass = cs[best].mass;
    for (int grew = 1; grew;) {
        grew = 0;
        int side = gx1 - gx0 > gy1 - gy0 ? gx1 - gx0 + 1 : gy1 - gy0 + 1;
        for (int i = 0; i < nc; i++)
            if (!cs[i].drop && !cs[i].group && boxes_gap(&cs[i], gx0, gy0, gx1, gy1) <= side / 5 + 1) {
                cs[i].group = 1;
                gmass += cs[i].mass;
                gx0 = cs[i].x0 < gx0 ? cs[i].x0 : gx0;
                gy0 = cs[i].y0 < gy0 ? cs[i].y0 : gy0;
                gx1 = cs[i].x1 > gx1 ? cs[i].x1 : gx1;
                gy1 = cs[i].y1 > gy1 ? cs[i].y1 : gy1;
                grew = 1;
            }
    }
    for (int i = 0; i < nc; i++) {
        in.n_used += cs[i].group;
        if (!cs[i].drop && !cs[i].group && cs[i].mass >= 0.4 * gmass)
            in.ambiguous = 1;
    }

    /* 7. The digit's ink: its components plus a one-pixel fringe (the
     * anti-aliased edge below the threshold), stretched so its strong strokes
     * are full white as in MNIST; everything else is cleared. */
    memset(hist, 0, sizeof hist);
    for (size_t j = 0; j < wn; j++)
        if (lab[j] > 0 && cs[lab[j] - 1].group)
            hist[(int)T[j]] += 1;
    const float top = (float)(quantile(hist, 0.9) > thr ? quantile(hist, 0.9) : thr + 1);
    for (int y = 0; y < wh; y++)
        for (int x = 0; x < ww; x++) {
            int near = 0;
            for (int dy = -1; dy <= 1 && !near; dy++)
                for (int dx = -1; dx <= 1 && !near; dx++) {
                    int X = x + dx, Y = y + dy;
                    if (X >= 0 && Y >= 0 && X < ww && Y < wh) {
                        int l = lab[(size_t)Y * ww + X];
                        near = l > 0 && cs[l - 1].group;
                    }
                }
            float v = near ? T[(size_t)y * ww + x] * 255.f / top : 0.f;
            B[(size_t)y * ww + x] = v > 255.f ? 255.f : v;
        }
    /* the box MNIST scales is the ink's (>= 32, as in mt_prep_digit), not the
     * components' with their fringe: on a 28x28 picture one pixel is 5 % */
    gx0 = ww;
    gy0 = wh;
    gx1 = gy1 = -1;
    for (int y = 0; y < wh; y++)
        for (int x = 0; x < ww; x++)
            if (B[(size_t)y * ww + x] >= 32.f) {
                gx0 = x < gx0 ? x : gx0;
                gx1 = x > gx1 ? x : gx1;
                gy0 = y < gy0 ? y : gy0;
                gy1 = y > gy1 ? y : gy1;
            }
    if (gx1 < 0) {
        st = mt_errf(err, MT_EDATA, "blank image (no ink found)");
        goto done;
    }
    src s = { NULL, ww, wh, 0, 0.f, 1.f };
    if (fit_box(out, rows, cols, B, &s, gx0, gy0, gx1, gy1, &in.box_w, &in.box_h)) {
        st = mt_errf(err, MT_ENOMEM, "prep: out of memory");
        goto done;
    }
    in.from_alpha = from_alpha;
    in.x0 = (int)(gx0 / f);
    in.y0 = (int)(gy0 / f);
    in.x1 = (int)fmin(w - 1, (gx1 + 1) / f - 1);
    in.y1 = (int)fmin(h - 1, (gy1 + 1) / f - 1);
    if (info)
        *info = in;
done:
    free(I);
    free(B);
    free(T);
    free(S);
    free(cnt);
    free(lab);
    free(stack);
    free(cs);
    return st;
}

int mt_prep_unsure(const mt_prep_info *info, double top_prob, double min_prob)
{
    int why = 0;
    if (top_prob < min_prob)
        why |= MT_PREP_UNSURE_PROB;
    if (info && info->ambiguous)
        why |= MT_PREP_UNSURE_COMPONENTS;
    return why;
}
