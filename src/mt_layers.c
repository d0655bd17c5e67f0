/* mt_layers: conv2d (im2col + the kernel table's GEMM), maxpool2d, relu,
 * dropout, flatten, linear and batchnorm as forward/backward pairs on NHWC
 * images.  No allocation, no threads: mt_net splits the work and owns the
 * buffers.  Reference semantics: torch.nn.Conv2d / MaxPool2d / ReLU / Dropout
 * / Flatten / Linear / BatchNorm1d / BatchNorm2d. */
#include "mt_layers.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "mt_rng.h"

/* The elementwise loops here (im2col runs, ReLU, dropout, flatten) are
 * written branch-free for the vectoriser (max-pool and col2im are the
 * kernel table's); GCC's -O2 cost model would
 * leave loops of run-time length scalar.  (Clang vectorises them at -O2.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

/* ======================================================================== */
/* conv2d                                                                    */
/* ======================================================================== */

void mt_conv2d_pack(float *wt, float *w2, const float *w, int C, int OC, int k)
{
    const int CKK = k * k * C;
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++) {
                    float v = w[((size_t)(o * C + c) * k + kh) * k + kw];
                    int j = (kh * k + kw) * C + c;
                    if (wt)
                        wt[(size_t)j * OC + o] = v;
                    if (w2)
                        w2[(size_t)o * CKK + j] = v;
                }
}

void mt_conv2d_unpack_grad(float *dw, const float *dwt, int C, int OC, int k)
{
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++)
                    dw[((size_t)(o * C + c) * k + kh) * k + kw] +=
                        dwt[(size_t)((kh * k + kw) * C + c) * OC + o];
}

/* Copies n floats; the runs are short (k*C, or C), where a memcpy call
 * would cost more than the copy. */
static inline void copy_run(float *restrict dst, const float *restrict src, int n)
{
    switch (n) { /* one-channel inputs: 3- and 5-wide kernels */
    case 3:
        dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
        return;
    case 5:
        dst[0] = src[0], dst[1] = src[1], dst[2] = src[2], dst[3] = src[3], dst[4] = src[4];
        return;
    default:
        for (int j = 0; j < n; j++)
            dst[j] = src[j];
    }
}

static inline void zero_run(float *dst, int n)
{
    for (int j = 0; j < n; j++)
        dst[j] = 0.f;
}

void mt_im2col(float *col, const float *inp, int B, int H, int W, int C, int k, int pad)
{
    const int OH = H + 2 * pad - k + 1, OW = W + 2 * pad - k + 1, CKK = k * k * C;
    assert(OH > 0 && OW > 0);
    for (int b = 0; b < B; b++) {
        const float *x = inp + (size_t)b * H * W * C;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float *row = col + ((size_t)(b * OH + oy) * OW + ox) * CKK;
                int x0 = ox - pad;
                for (int kh = 0; kh < k; kh++) {
                    int y = oy - pad + kh;
                    float *dst = row + (size_t)kh * k * C;
                    if (y < 0 || y >= H) {
                        zero_run(dst, k * C);
                    } else if (x0 >= 0 && x0 + k <= W) { /* one run of k*C floats */
                        copy_run(dst, x + ((size_t)y * W + x0) * C, k * C);
                    } else {
                        for (int kw = 0; kw < k; kw++) {
                            int xx = x0 + kw;
                            if (xx < 0 || xx >= W)
                                zero_run(dst + kw * C, C);
                            else
                                copy_run(dst + kw * C, x + ((size_t)y * W + xx) * C, C);
                        }
                    }
                }
            }
    }
}

void mt_col2im(float *dinp, const float *dcol, int B, int H, int W, int C, int k, int pad, const mt_kern *kn)
{
    const size_t pc = (size_t)(H + 2 * pad - k + 1) * (W + 2 * pad - k + 1) * k * k * C;
    for (int b = 0; b < B; b++)
        kn->col2im(dinp + (size_t)b * H * W * C, dcol + (size_t)b * pc, H, W, C, k, pad);
}

/* ---- implicit im2col: the products read the patches where they lie ----
 * On an unpadded NHWC image of width W and C channels, output pixel p =
 * (oy, ox) of OW per row starts its patch at (oy*W + ox)*C, and tap j =
 * (kh, kw, c) of the patch sits (kh*W + kw)*C + c past that.  gemm_gather
 * takes the two as offset tables; they are made TAB entries at a time (on
 * the stack), the products continuing their chains across the pieces with
 * load_c, which is exact. */
enum { TAB = 1024 };

/* o[q] = start of pixel p0+q's patch relative to pixel p0's, for pixels of
 * consecutive images (P pixels, OW per row, hwc floats apart). */
static void pix_offsets(int *o, int p0, int n, int P, int OW, int W, int C, size_t hwc)
{
    int ox = p0 % P % OW, oy = p0 % P / OW;
    const int OH = P / OW;
    ptrdiff_t v = 0; /* relative to pixel p0: the running position, no divisions per entry */
    for (int q = 0; q < n; q++) {
        assert(v <= INT_MAX);
        o[q] = (int)v;
        v += C;
        if (++ox == OW) {
            ox = 0, v += (ptrdiff_t)(W - OW) * C;
            if (++oy == OH) /* next image: from the row past the last output row to its start */
                oy = 0, v += (ptrdiff_t)hwc - (ptrdiff_t)OH * W * C;
        }
    }
}

/* o[q] = offset of tap j0+q of a k-wide patch on an image of width W. */
static void tap_offsets(int *o, int j0, int n, int k, int W, int C)
{
    for (int q = 0; q < n; q++) {
        int j = j0 + q, sg = j / C;
        o[q] = ((sg / k) * W + sg % k) * C + j % C;
    }
}

/* Start of pixel p's patch, as pix_offsets measures. */
static size_t pix_at(int p, int P, int OW, int W, int C, size_t hwc)
{
    int s = p / P, pi = p % P;
    return (size_t)s * hwc + ((size_t)(pi / OW) * W + pi % OW) * C;
}

/* dst (H+2pad, W+2pad, C) = src (H,W,C) with a zero border. */
static void pad_copy(float *dst, const float *src, int H, int W, int C, int pad)
{
    const int Wp = W + 2 * pad;
    memset(dst, 0, (size_t)(H + 2 * pad) * Wp * C * sizeof *dst);
    for (int y = 0; y < H; y++)
        memcpy(dst + ((size_t)(y + pad) * Wp + pad) * C, src + (size_t)y * W * C, (size_t)W * C * sizeof *dst);
}

/* Sample by sample, each an unpadded conv of its (padded) image: out (P,OC)
 * = patches (P,CKK) @ wt + b, every output one chain over the taps in order.
 * col holds the padded image: (H+2pad)(W+2pad)C <= P*CKK floats. */
void mt_conv2d_forward(float *out, float *col, const float *inp, const float *wt, const float *b,
                       int B, int H, int W, int C, int OC, int k, int pad, const mt_kern *kn)
{
    const int OW = W + 2 * pad - k + 1, P = (H + 2 * pad - k + 1) * OW, CKK = k * k * C, Wp = W + 2 * pad;
    int ia[TAB], ka[TAB];
    for (int s = 0; s < B; s++) {
        const float *x = inp + (size_t)s * H * W * C;
        if (pad) {
            pad_copy(col, x, H, W, C, pad);
            x = col;
        }
        float *y = out + (size_t)s * P * OC;
        for (int p0 = 0; p0 < P; p0 += TAB) {
            int np = P - p0 < TAB ? P - p0 : TAB;
            pix_offsets(ia, p0, np, P, OW, Wp, C, 0);
            const float *xp = x + pix_at(p0, P, OW, Wp, C, 0);
            for (int j0 = 0; j0 < CKK; j0 += TAB) {
                int nj = CKK - j0 < TAB ? CKK - j0 : TAB;
                tap_offsets(ka, j0, nj, k, Wp, C);
                kn->gemm_gather(y + (size_t)p0 * OC, OC, xp, ia, ka, wt + (size_t)j0 * OC, OC,
                                j0 + nj == CKK ? b : NULL, np, OC, nj, j0 > 0, NULL);
            }
        }
    }
}

void mt_conv2d_backward_w(float *dwt, float *db, const float *dout, const float *col, int BP,
                          int CKK, int OC, int r0, int r1, const mt_kern *kn)
{
    assert(0 <= r0 && r0 <= r1 && r1 <= CKK);
    /* dwt[r, o] = sum over rows i of col[i, r] * dout[i, o]: a = col^T */
    if (r1 > r0)
        kn->gemm(dwt + (size_t)r0 * OC, OC, col + r0, 1, CKK, dout, OC, NULL, r1 - r0, OC, BP, 0);
    if (db)
        kn->colsum_acc(db, dout, BP, OC);
}

void mt_im2col_cols(float *colp, const float *inp, int H, int W, int C, int k, int pad, int r0, int r1)
{
    const int OH = H + 2 * pad - k + 1, OW = W + 2 * pad - k + 1, nc = r1 - r0;
    assert(0 <= r0 && r0 <= r1 && r1 <= k * k * C);
    enum { MAX_OFF = 4096 };
    if (pad == 0 && nc <= MAX_OFF) {
        /* no padding: column j of pixel (oy, ox) is inp[pixel + off[j]] */
        int off[MAX_OFF];
        for (int j = r0; j < r1; j++) {
            int sg = j / C, c = j % C;
            off[j - r0] = ((sg / k) * W + sg % k) * C + c;
        }
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float *restrict row = colp + ((size_t)oy * OW + ox) * nc;
                const float *restrict base = inp + ((size_t)oy * W + ox) * C;
                for (int j = 0; j < nc; j++)
                    row[j] = base[off[j]];
            }
        return;
    }
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            float *row = colp + ((size_t)oy * OW + ox) * nc;
            /* the (kh, kw) segments of C channels that meet [r0, r1) */
            for (int sg = r0 / C; sg * C < r1; sg++) {
                int kh = sg / k, kw = sg % k, c0 = sg * C < r0 ? r0 - sg * C : 0;
                int c1 = (sg + 1) * C > r1 ? r1 - sg * C : C;
                int y = oy - pad + kh, x = ox - pad + kw;
                float *dst = row + sg * C + c0 - r0;
                if (y < 0 || y >= H || x < 0 || x >= W)
                    zero_run(dst, c1 - c0);
                else
                    copy_run(dst, inp + ((size_t)y * W + x) * C + c0, c1 - c0);
            }
        }
}

void mt_conv2d_backward_w_rows(float *dwt, float *db, float *colp, const float *dout, const float *inp,
                               int B, int G, int H, int W, int C, int OC, int k, int pad, int r0, int r1,
                               const mt_kern *kn)
{
    const int OW = W + 2 * pad - k + 1, P = (H + 2 * pad - k + 1) * OW, nc = r1 - r0;
    if (nc <= 0) {
        if (db)
            kn->colsum_acc(db, dout, B * P, OC);
        return;
    }
    /* db's sums are made by the product that reads dout's rows anyway
     * (pad > 0: just after it, while they are in cache): a first layer's
     * dout (147456 x 24 floats for fastcnn) is larger than the cache, and a
     * pass of its own is one add chain per column over all the rows.  Each
     * column stays one chain in row order: colsum_acc's bits. */
    if (pad == 0) { /* dwt[r, o] = sum over the batch's pixels i of patch(i)[r] * dout[i, o] */
        const size_t hwc = (size_t)H * W * C;
        int ia[TAB], ka[TAB];
        for (int q0 = r0; q0 < r1; q0 += TAB) {
            int nq = r1 - q0 < TAB ? r1 - q0 : TAB;
            tap_offsets(ia, q0, nq, k, W, C);
            for (int p0 = 0; p0 < B * P; p0 += TAB) {
                int np = B * P - p0 < TAB ? B * P - p0 : TAB;
                pix_offsets(ka, p0, np, P, OW, W, C, hwc);
                kn->gemm_gather(dwt + (size_t)q0 * OC, OC, inp + pix_at(p0, P, OW, W, C, hwc), ia, ka,
                                dout + (size_t)p0 * OC, OC, NULL, nq, OC, np, p0 > 0, q0 == r0 ? db : NULL);
            }
        }
        return;
    }
    for (int s0 = 0; s0 < B; s0 += G) {
        int g = B - s0 < G ? B - s0 : G;
        for (int s = 0; s < g; s++)
            mt_im2col_cols(colp + (size_t)s * P * nc, inp + (size_t)(s0 + s) * H * W * C, H, W, C, k, pad,
                           r0, r1);
        kn->gemm(dwt + (size_t)r0 * OC, OC, colp, 1, nc, dout + (size_t)s0 * P * OC, OC, NULL, nc, OC, g * P,
                 s0 > 0);
        if (db)
            kn->colsum_acc(db, dout + (size_t)s0 * P * OC, g * P, OC);
    }
}

void mt_conv2d_backward_x(float *dinp, float *dcol, const float *dout, const float *w2, int B,
                          int H, int W, int C, int OC, int k, int pad, const mt_kern *kn)
{
    const int P = (H + 2 * pad - k + 1) * (W + 2 * pad - k + 1), CKK = k * k * C;
    for (int b = 0; b < B; b++) {
        kn->gemm(dcol, CKK, dout + (size_t)b * P * OC, OC, 1, w2, CKK, NULL, P, CKK, OC, 0);
        mt_col2im(dinp + (size_t)b * H * W * C, dcol, 1, H, W, C, k, pad, kn);
    }
}

/* ======================================================================== */
/* maxpool2d                                                                 */
/* ======================================================================== */

/* The kernel table's: the reference in kern_ref.c, vectorised per ISA. */
void mt_maxpool2d_forward(float *out, uint8_t *arg, const float *inp, int B, int H, int W, int C,
                          const mt_kern *kn)
{
    kn->maxpool2_fwd(out, arg, inp, B, H, W, C);
}

void mt_maxpool2d_backward(float *dinp, const float *dout, const uint8_t *arg, int B, int H, int W,
                           int C, const mt_kern *kn)
{
    kn->maxpool2_bwd(dinp, dout, arg, B, H, W, C);
}

/* ======================================================================== */
/* relu, dropout, flatten                                                    */
/* ======================================================================== */

void mt_relu_forward(float *out, const float *inp, size_t N)
{
    for (size_t i = 0; i < N; i++)
        out[i] = inp[i] > 0.f ? inp[i] : 0.f;
}

void mt_relu_backward(float *dinp, const float *dout, const float *out, size_t N)
{
    for (size_t i = 0; i < N; i++) {
        float d = dout[i]; /* loaded unconditionally: a select, not a branch */
        dinp[i] = out[i] > 0.f ? d : 0.f;
    }
}

/* splitmix64's finaliser: a bijective mix, so distinct (seed, layer, step,
 * sample) give unrelated streams. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t mt_dropout_seed(uint64_t seed, uint64_t layer, uint64_t step, uint64_t sample)
{
    uint64_t h = mix64(seed ^ 0x6472706f7574ull); /* "drpout" */
    h = mix64(h ^ layer);
    h = mix64(h ^ step);
    return mix64(h ^ sample);
}

void mt_dropout_forward(float *out, uint8_t *keep, const float *inp, size_t N, float p,
                        uint64_t sample_seed)
{
    assert(p >= 0.f && p < 1.f);
    mt_rng r;
    mt_rng_seed(&r, sample_seed);
    /* u in [0,1) from 24 bits; keep when u >= p: P(keep) = 1 - p to 2^-24 */
    const float scale = 1.f / (1.f - p);
    uint64_t bits = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % 2 == 0)
            bits = mt_rng_u64(&r);
        uint32_t u = (uint32_t)(bits >> (i % 2 ? 8 : 40)) & 0xffffffu;
        int kp = (float)u * (1.f / 16777216.f) >= p;
        keep[i] = (uint8_t)kp;
        out[i] = kp ? inp[i] * scale : 0.f;
    }
}

void mt_dropout_backward(float *dinp, const float *dout, const uint8_t *keep, size_t N, float p)
{
    const float scale = 1.f / (1.f - p);
    for (size_t i = 0; i < N; i++) {
        float d = dout[i] * scale;
        dinp[i] = keep[i] ? d : 0.f;
    }
}

void mt_flatten_forward(float *out, const float *inp, int B, int H, int W, int C)
{
    const size_t HW = (size_t)H * W, n = HW * C;
    assert(out != inp);
    for (int b = 0; b < B; b++)
        for (size_t p = 0; p < HW; p++)
            for (int c = 0; c < C; c++)
                out[b * n + (size_t)c * HW + p] = inp[b * n + p * C + c];
}

void mt_flatten_backward(float *dinp, const float *dout, int B, int H, int W, int C)
{
    const size_t HW = (size_t)H * W, n = HW * C;
    for (int b = 0; b < B; b++)
        for (size_t p = 0; p < HW; p++)
            for (int c = 0; c < C; c++)
                dinp[b * n + p * C + c] = dout[b * n + (size_t)c * HW + p];
}

/* ======================================================================== */
/* linear                                                                    */
/* ======================================================================== */

void mt_linear_forward(float *out, const float *inp, const float *wt, const float *b, int B, int C,
                       int OC, const mt_kern *kn)
{
    kn->linear_fwd_t(out, inp, wt, b, B, C, OC, 0);
}

void mt_linear_backward_w(float *dw, float *db, const float *dout, const float *inp, int B, int C,
                          int OC, int c0, int c1, const mt_kern *kn)
{
    kn->linear_bwd_w_cols(dw, db, dout, inp, B, C, OC, c0, c1);
}

void mt_linear_backward_x(float *dinp, const float *dout, const float *w, int B, int C, int OC,
                          const mt_kern *kn)
{
    kn->linear_bwd_x(dinp, dout, w, NULL, B, C, OC);
}

/* ======================================================================== */
/* batchnorm                                                                 */
/* ======================================================================== */

/* Statistics in double: a channel of a 2-d batch norm sums up to B*H*W
 * values, where a float sum would lose the variance's low digits. */
void mt_batchnorm_forward_train(float *out, float *xhat, float *invstd, float *run_mean,
                                float *run_var, const float *inp, const float *gamma,
                                const float *beta, int R, int C, float eps, float momentum, int c0,
                                int c1)
{
    assert(R >= 2 && 0 <= c0 && c0 <= c1 && c1 <= C);
    for (int c = c0; c < c1; c++) {
        double s = 0.0, ss = 0.0;
        for (int r = 0; r < R; r++)
            s += inp[(size_t)r * C + c];
        double mean = s / R;
        for (int r = 0; r < R; r++) {
            double d = inp[(size_t)r * C + c] - mean;
            ss += d * d;
        }
        double var = ss / R;
        float is = (float)(1.0 / sqrt(var + eps));
        invstd[c] = is;
        for (int r = 0; r < R; r++) {
            size_t i = (size_t)r * C + c;
            float xh = (float)(inp[i] - mean) * is;
            xhat[i] = xh;
            out[i] = xh * gamma[c] + beta[c];
        }
        run_mean[c] = (1.f - momentum) * run_mean[c] + momentum * (float)mean;
        run_var[c] = (1.f - momentum) * run_var[c] + momentum * (float)(ss / (R - 1));
    }
}

void mt_batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                               const float *run_mean, const float *run_var, int R, int C, float eps)
{
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            size_t i = (size_t)r * C + c;
            float is = 1.f / sqrtf(run_var[c] + eps);
            out[i] = (inp[i] - run_mean[c]) * is * gamma[c] + beta[c];
        }
}

/* dx = invstd/R * (R*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)), dxhat =
 * dout*gamma: the batch statistics' share of the gradient included. */
void mt_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *xhat, const float *invstd, const float *gamma, int R, int C,
                           int c0, int c1)
{
    assert(0 <= c0 && c0 <= c1 && c1 <= C);
    for (int c = c0; c < c1; c++) {
        double sd = 0.0, sdx = 0.0;
        for (int r = 0; r < R; r++) {
            size_t i = (size_t)r * C + c;
            sd += dout[i];
            sdx += (double)dout[i] * xhat[i];
        }
        dgamma[c] += (float)sdx;
        dbeta[c] += (float)sd;
        double g = gamma[c], k = invstd[c] / (double)R;
        for (int r = 0; r < R; r++) {
            size_t i = (size_t)r * C + c;
            dinp[i] = (float)(k * (R * g * dout[i] - g * sd - xhat[i] * g * sdx));
        }
    }
}
