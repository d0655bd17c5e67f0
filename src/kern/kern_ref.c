/* Scalar reference kernels: plain loops, always compiled, never tuned.
 * They are the specification the SIMD variants are tested against; accumulation
 * is in float in the obvious order except where noted. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kern_impl.h"

void mt_linear_fwd_ref(float *out, const float *inp, const float *w, const float *b,
                       int B, int C, int OC, int relu)
{
    assert(out != inp);
    for (int i = 0; i < B; i++) {
        const float *x = inp + (size_t)i * C;
        for (int o = 0; o < OC; o++) {
            const float *wr = w + (size_t)o * C;
            float s = 0.f;
            for (int c = 0; c < C; c++)
                s += x[c] * wr[c];
            s += b ? b[o] : 0.f;
            out[(size_t)i * OC + o] = (relu && s < 0.f) ? 0.f : s;
        }
    }
}

void mt_linear_bwd_w_ref(float *dw, float *db, const float *dout, const float *inp,
                         int B, int C, int OC)
{
    for (int o = 0; o < OC; o++) {
        float *dwr = dw + (size_t)o * C;
        for (int i = 0; i < B; i++) {
            float d = dout[(size_t)i * OC + o];
            if (d == 0.f)
                continue;
            const float *x = inp + (size_t)i * C;
            for (int c = 0; c < C; c++)
                dwr[c] += d * x[c];
        }
        if (db) {
            float s = 0.f;
            for (int i = 0; i < B; i++)
                s += dout[(size_t)i * OC + o];
            db[o] += s;
        }
    }
}

void mt_linear_bwd_x_ref(float *dinp, const float *dout, const float *w,
                         const float *relu_mask, int B, int C, int OC)
{
    for (int i = 0; i < B; i++) {
        float *dx = dinp + (size_t)i * C;
        for (int c = 0; c < C; c++)
            dx[c] = 0.f;
        for (int o = 0; o < OC; o++) {
            float d = dout[(size_t)i * OC + o];
            const float *wr = w + (size_t)o * C;
            for (int c = 0; c < C; c++)
                dx[c] += d * wr[c];
        }
        if (relu_mask) {
            const float *mk = relu_mask + (size_t)i * C;
            for (int c = 0; c < C; c++)
                if (mk[c] <= 0.f)
                    dx[c] = 0.f;
        }
    }
}

/* The label-smoothing kernel at 0: its targets are then exactly 1 and 0 */
double mt_softmax_xent_ref(float *dlogits, float *losses, const float *logits,
                           const uint8_t *labels, int B, int K, float dscale)
{
    return mt_softmax_xent_ls_ref(dlogits, losses, logits, labels, B, K, dscale, 0.f);
}

double mt_softmax_xent_ls_ref(float *dlogits, float *losses, const float *logits,
                              const uint8_t *labels, int B, int K, float dscale, float ls)
{
    assert(ls >= 0.f && ls <= 1.f);
    /* targets (1-ls) on the label and ls/K everywhere; at ls = 0 they are
     * exactly 1 and 0, so the result has mt_softmax_xent_ref's bits */
    const float off = ls / (float)K, on = (1.f - ls) + off;
    double total = 0.0;
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * K;
        float *dz = dlogits + (size_t)i * K;
        int y = labels[i];
        assert(y < K);
        /* Subtract the row max before expf so huge logits cannot overflow. */
        float mx = z[0];
        for (int k = 1; k < K; k++)
            mx = z[k] > mx ? z[k] : mx;
        float sum = 0.f, sz = 0.f;
        for (int k = 0; k < K; k++) {
            sum += expf(z[k] - mx);
            sz += z[k];
        }
        /* -log p_k = (mx - z[k]) + log(sum), kept apart rather than lse - z[k]:
         * with huge logits mx + log(sum) rounds to mx and the loss would lose
         * its log(sum); its mean over k is (mx - mean z) + log(sum) */
        float lse_off = logf(sum), loss = (mx - z[y]) + lse_off;
        if (ls != 0.f)
            loss = (1.f - ls) * loss + ls * ((mx - sz / (float)K) + lse_off);
        if (losses)
            losses[i] = loss;
        total += loss;
        float inv = 1.f / sum;
        for (int k = 0; k < K; k++) {
            float p = expf(z[k] - mx) * inv;
            dz[k] = (p - (k == y ? on : off)) * dscale;
        }
    }
    return total;
}

void mt_u8_to_f32_ref(float *out, const uint8_t *in, size_t N, float scale, float shift)
{
    for (size_t i = 0; i < N; i++)
        out[i] = (float)in[i] * scale + shift;
}

void mt_adam_ref(float *p, const float *g, float *m, float *v, size_t N,
                 float lr, float b1, float b2, float eps, float bc1, float bc2,
                 float wd_l2, float wd_decoupled)
{
    /* torch.optim.Adam (non-fused, non-foreach semantics):
     * denom = sqrt(v)/sqrt(bc2) + eps;  p -= (lr/bc1) * m / denom.
     * Kingma & Ba 2015, Algorithm 1 with the "efficient" bias correction. */
    float step = lr / bc1, sbc2 = sqrtf(bc2), keep = 1.f - lr * wd_decoupled;
    for (size_t i = 0; i < N; i++) {
        float gi = g[i] + wd_l2 * p[i];
        if (wd_decoupled != 0.f)
            p[i] *= keep;
        m[i] = b1 * m[i] + (1.f - b1) * gi;
        v[i] = b2 * v[i] + (1.f - b2) * gi * gi;
        p[i] -= step * m[i] / (sqrtf(v[i]) / sbc2 + eps);
    }
}

void mt_adadelta_ref(float *p, const float *g, float *sq, float *acc, size_t N,
                     float lr, float rho, float eps, float wd)
{
    /* torch.optim.Adadelta (single-tensor path); Zeiler 2012, Algorithm 1
     * with PyTorch's lr factor on the update. */
    const float c = 1.f - rho;
    for (size_t i = 0; i < N; i++) {
        float gi = g[i] + wd * p[i];
        sq[i] = rho * sq[i] + c * gi * gi;
        float delta = sqrtf(acc[i] + eps) / sqrtf(sq[i] + eps) * gi;
        acc[i] = rho * acc[i] + c * delta * delta;
        p[i] -= lr * delta;
    }
}

/* ---- Issue 3 extensions: the same maths in the forms the SIMD variants use. ---- */

void mt_linear_fwd_t_acc_ref(float *out, const float *inp, int ldi, const float *wt, const float *b,
                             int B, int C, int OC, int relu, int acc, int last)
{
    assert(out != inp && ldi >= C);
    for (int i = 0; i < B; i++) {
        const float *x = inp + (size_t)i * ldi;
        for (int o = 0; o < OC; o++) {
            float s = acc ? out[(size_t)i * OC + o] : 0.f;
            for (int c = 0; c < C; c++)
                s += x[c] * wt[(size_t)c * OC + o];
            if (last) {
                s += b ? b[o] : 0.f;
                s = (relu && s < 0.f) ? 0.f : s;
            }
            out[(size_t)i * OC + o] = s;
        }
    }
}

void mt_linear_fwd_t_ref(float *out, const float *inp, const float *wt, const float *b,
                         int B, int C, int OC, int relu)
{
    mt_linear_fwd_t_acc_ref(out, inp, C, wt, b, B, C, OC, relu, 0, 1);
}

void mt_linear_bwd_w_cols_ref(float *dw, float *db, const float *dout, const float *inp,
                              int B, int C, int OC, int c0, int c1)
{
    assert(0 <= c0 && c0 <= c1 && c1 <= C);
    for (int o = 0; o < OC; o++) {
        float *dwr = dw + (size_t)o * C;
        for (int i = 0; i < B; i++) {
            float d = dout[(size_t)i * OC + o];
            const float *x = inp + (size_t)i * C;
            for (int c = c0; c < c1; c++)
                dwr[c] += d * x[c];
        }
        if (db) {
            float s = 0.f;
            for (int i = 0; i < B; i++)
                s += dout[(size_t)i * OC + o];
            db[o] += s;
        }
    }
}

void mt_transpose_ref(float *wt, const float *w, int C, int OC, int c0, int c1)
{
    for (int c = c0; c < c1; c++)
        for (int o = 0; o < OC; o++)
            wt[(size_t)c * OC + o] = w[(size_t)o * C + c];
}

/* ---- the engine's transposed first layer ---- */

int mt_sparse_row_list_ref(uint32_t *ent, int *blk, const uint8_t *px, int C)
{
    assert(C < MT_SP_MAX_C);
    int n = 0;
    for (int c = 0; c < C; c++) {
        if (px[c])
            ent[n++] = (uint32_t)c | (uint32_t)px[c] << MT_SP_COL_BITS;
        if ((c + 1) % MT_SP_CHUNK == 0 || c + 1 == C)
            blk[c / MT_SP_CHUNK] = n;
    }
    return n;
}

void mt_sparse_fwd_rows_ref(float *out, const mt_sp_rows *rows, const float *wt, const float *beff,
                            int B, int OC, int relu)
{
    for (int i = 0; i < B; i++) {
        const uint32_t *en = rows->ent + (size_t)i * rows->ld;
        float *y = out + (size_t)i * OC;
        for (int o = 0; o < OC; o++)
            y[o] = beff[o];
        for (int k = 0; k < rows->cnt[i]; k++)
            for (int o = 0; o < OC; o++)
                y[o] += rows->lut[MT_SP_PX(en[k])] * wt[(size_t)MT_SP_COL(en[k]) * OC + o];
        if (relu)
            for (int o = 0; o < OC; o++)
                y[o] = y[o] < 0.f ? 0.f : y[o];
    }
}

void mt_sparse_masks_ref(uint64_t *masks, const uint8_t *px, int ldpx, int B, int c0, int c1)
{
    const int nw = (B + 63) / 64;
    memset(masks, 0, (size_t)(c1 - c0) * nw * sizeof *masks);
    for (int c = c0; c < c1; c++)
        for (int i = 0; i < B; i++)
            if (px[(size_t)i * ldpx + c] != 0)
                masks[(size_t)(c - c0) * nw + i / 64] |= 1ull << (i % 64);
}

void mt_sparse_bwd_masks_ref(float *gt, const float *dout, const float *cs, const uint64_t *masks,
                             const uint8_t *px, int ldpx, const float *lut, int B, int OC, float shift,
                             int c0, int c1)
{
    const int nw = (B + 63) / 64;
    for (int c = c0; c < c1; c++) {
        float *g = gt + (size_t)(c - c0) * OC;
        for (int o = 0; o < OC; o++)
            g[o] = 0.f;
        for (int i = 0; i < B; i++)
            if (masks[(size_t)(c - c0) * nw + i / 64] >> (i % 64) & 1) {
                float v = lut[px[(size_t)i * ldpx + c]];
                for (int o = 0; o < OC; o++)
                    g[o] += dout[(size_t)i * OC + o] * v;
            }
        for (int o = 0; o < OC; o++)
            g[o] += shift * cs[o];
    }
}

void mt_linear_bwd_wt_ref(float *gt, const float *dout, const float *inp, int B, int C, int OC,
                          int c0, int c1)
{
    assert(0 <= c0 && c0 <= c1 && c1 <= C);
    for (int c = c0; c < c1; c++)
        for (int o = 0; o < OC; o++) {
            float s = 0.f;
            for (int i = 0; i < B; i++)
                s += inp[(size_t)i * C + c] * dout[(size_t)i * OC + o];
            gt[(size_t)(c - c0) * OC + o] = s;
        }
}

void mt_colsum_acc_ref(float *s, const float *x, int rows, int n)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++)
            s[j] += x[(size_t)r * n + j];
}

void mt_gemm_ref(float *c, ptrdiff_t ldc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                 const float *b, ptrdiff_t ldb, const float *bias, int M, int N, int K, int load_c)
{
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            float s = load_c ? c[i * ldc + n] : 0.f;
            for (int k = 0; k < K; k++)
                s += a[i * rsa + k * csa] * b[k * ldb + n];
            c[i * ldc + n] = bias ? s + bias[n] : s;
        }
}

void mt_gemm_gather_ref(float *c, ptrdiff_t ldc, const float *a, const int *ia, const int *ka,
                        const float *b, ptrdiff_t ldb, const float *bias, int M, int N, int K,
                        int load_c, float *colsum)
{
    if (colsum)
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++)
                colsum[n] += b[k * ldb + n];
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            float s = load_c ? c[i * ldc + n] : 0.f;
            for (int k = 0; k < K; k++)
                s += a[(ptrdiff_t)ia[i] + ka[k]] * b[k * ldb + n];
            c[i * ldc + n] = bias ? s + bias[n] : s;
        }
}

/* 2x2 max-pool, stride 2, floor: PyTorch's rule, v > m or v NaN replaces
 * (the first maximum wins, a NaN wins); arg = the winner's position. */
void mt_maxpool2_fwd_ref(float *out, uint8_t *arg, const float *inp, int B, int H, int W, int C)
{
    const int OH = H / 2, OW = W / 2;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                const float *x = inp + (((size_t)b * H + 2 * oy) * W + 2 * ox) * C;
                const size_t off[4] = { 0, (size_t)C, (size_t)W * C, (size_t)W * C + C };
                size_t o = (((size_t)b * OH + oy) * OW + ox) * C;
                for (int c = 0; c < C; c++) {
                    float m = x[c];
                    int a = 0;
                    for (int q = 1; q < 4; q++) {
                        float v = x[off[q] + c];
                        if (v > m || v != v)
                            m = v, a = q;
                    }
                    out[o + c] = m;
                    arg[o + c] = (uint8_t)a;
                }
            }
}

void mt_maxpool2_bwd_ref(float *dinp, const float *dout, const uint8_t *arg, int B, int H, int W, int C)
{
    const int OH = H / 2, OW = W / 2;
    memset(dinp, 0, (size_t)B * H * W * C * sizeof *dinp);
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float *dx = dinp + (((size_t)b * H + 2 * oy) * W + 2 * ox) * C;
                size_t o = (((size_t)b * OH + oy) * OW + ox) * C;
                for (int c = 0; c < C; c++) {
                    int a = arg[o + c];
                    dx[((size_t)(a >> 1) * W + (a & 1)) * C + c] = dout[o + c];
                }
            }
}

/* One image: dinp (H,W,C) = the sum of the patch gradients dcol (P, CKK)
 * over the pixels each patch covers, pixels in order, taps in order. */
void mt_col2im_ref(float *dinp, const float *dcol, int H, int W, int C, int k, int pad)
{
    const int OH = H + 2 * pad - k + 1, OW = W + 2 * pad - k + 1, CKK = k * k * C;
    memset(dinp, 0, (size_t)H * W * C * sizeof *dinp);
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            const float *row = dcol + ((size_t)oy * OW + ox) * CKK;
            for (int kh = 0; kh < k; kh++) {
                int y = oy - pad + kh;
                if (y < 0 || y >= H)
                    continue;
                for (int kw = 0; kw < k; kw++) {
                    int xx = ox - pad + kw;
                    if (xx < 0 || xx >= W)
                        continue;
                    float *d = dinp + ((size_t)y * W + xx) * C;
                    const float *s = row + (kh * k + kw) * C;
                    for (int c = 0; c < C; c++)
                        d[c] += s[c];
                }
            }
        }
}
