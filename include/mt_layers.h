/* mt_layers: the layers a network (mt_net) is a list of, each a forward /
 * backward pair on caller-owned buffers, plus the im2col helpers of conv2d.
 *
 * Dimension letters (as in mt_kern.h): B batch rows (samples), C input
 * channels or features, OC output channels or features, H W an image's rows
 * and columns, OH OW the output's, k a kernel's side, P = OH*OW output pixels
 * of one sample, CKK = k*k*C a patch, R rows of a batch-norm (B or B*H*W),
 * N flat element count.
 *
 * Images are stored NHWC: sample b, pixel (y,x), channel c is at
 * ((b*H + y)*W + x)*C + c, so a pixel's channels are contiguous and a k-wide
 * patch row is one run of k*C floats.  Parameters keep PyTorch's layouts
 * (conv weight (OC,C,k,k), linear weight (OC,C)); mt_flatten turns NHWC into
 * PyTorch's (c,h,w) feature order, so a linear layer after it has PyTorch's
 * weights too.
 *
 * Layers never allocate, fail or print; preconditions are asserted.  A
 * forward saves what its backward needs in buffers the caller owns (named
 * below).  Backward functions say whether they overwrite or accumulate.
 * Every sample's result is computed by the same operations whichever rows a
 * call covers, so splitting a batch between threads never changes a bit. */
#ifndef MT_LAYERS_H
#define MT_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "mt_kern.h"

/* ---- conv2d: k x k, stride 1, zero padding pad ---------------------------
 * OH = H + 2*pad - k + 1, OW = W + 2*pad - k + 1 (pad = (k-1)/2 keeps the
 * size: PyTorch's padding="same" for odd k).  The products run on repacked
 * weights, patches ordered (kh, kw, c):
 *   wt (CKK, OC) = w^T  and  w2 (OC, CKK),  from w (OC, C, k, k). */
void mt_conv2d_pack(float *wt, float *w2, const float *w, int C, int OC, int k);

/* col (B*P, CKK): row b*P + p holds the patch under output pixel p of sample
 * b (zeros where it hangs over the padding).  inp (B,H,W,C). */
void mt_im2col(float *col, const float *inp, int B, int H, int W, int C, int k, int pad);

/* dinp (B,H,W,C) = the sum of the patch gradients dcol (B*P, CKK) over the
 * pixels each patch covers (OVERWRITES dinp; a fixed order per element). */
void mt_col2im(float *dinp, const float *dcol, int B, int H, int W, int C, int k, int pad, const mt_kern *kn);

/* out (B,OH,OW,OC) = patches (B*P, CKK) @ wt + b, the patches of inp
 * (B,H,W,C) read in place (each output one chain over the taps in patch
 * order, as mt_im2col lays them out).  col is scratch of P*CKK floats (used
 * when pad > 0).  b (OC) or NULL. */
void mt_conv2d_forward(float *out, float *col, const float *inp, const float *wt, const float *b,
                       int B, int H, int W, int C, int OC, int k, int pad, const mt_kern *kn);

/* Rows [r0,r1) of the patch-ordered weight gradient dwt (CKK, OC) =
 * col^T @ dout over all BP = B*P rows (OVERWRITES those rows);
 * db (OC) += column sums of dout when db != NULL (give it to one caller).
 * dout (BP, OC), col (BP, CKK). */
void mt_conv2d_backward_w(float *dwt, float *db, const float *dout, const float *col, int BP,
                          int CKK, int OC, int r0, int r1, const mt_kern *kn);

/* The same rows [r0,r1) of dwt (OVERWRITES them) without a stored col: one
 * chain per element over the samples' pixels in order, so neither G nor a
 * split of the rows between threads changes a bit.  pad == 0 reads the
 * patches in place (colp unused); otherwise G samples at a time, colp
 * (G*P, r1-r0) = those columns of their patches (mt_im2col_cols), then
 * dwt[r0:r1] (+)= colp^T @ their dout rows.  inp (B,H,W,C), dout (B*P, OC).
 * db (OC) or NULL: ADDS dout's column sums, rows in order (colsum_acc's
 * bits), whatever [r0,r1) is; pass it on one thread only. */
void mt_conv2d_backward_w_rows(float *dwt, float *db, float *colp, const float *dout, const float *inp, int B,
                               int G, int H, int W, int C, int OC, int k, int pad, int r0, int r1,
                               const mt_kern *kn);
/* colp (P, r1-r0) = columns [r0,r1) of one sample's mt_im2col rows. */
void mt_im2col_cols(float *colp, const float *inp, int H, int W, int C, int k, int pad, int r0, int r1);

/* dinp (B,H,W,C) = the input gradient (OVERWRITES): per sample, dcol (P, CKK)
 * = dout (P, OC) @ w2, then mt_col2im.  dcol is scratch for one sample. */
void mt_conv2d_backward_x(float *dinp, float *dcol, const float *dout, const float *w2, int B,
                          int H, int W, int C, int OC, int k, int pad, const mt_kern *kn);

/* dw (OC,C,k,k) += dwt (CKK, OC) in PyTorch's layout. */
void mt_conv2d_unpack_grad(float *dw, const float *dwt, int C, int OC, int k);

/* ---- maxpool2d: 2x2 windows, stride 2 (floor: an odd last row/column is
 * dropped, as PyTorch) ----
 * out (B,H/2,W/2,C) = window max; arg (B,H/2,W/2,C) = its position 0..3
 * (row-major; the first maximum, or a NaN, wins as in PyTorch). */
void mt_maxpool2d_forward(float *out, uint8_t *arg, const float *inp, int B, int H, int W, int C,
                          const mt_kern *kn);
/* dinp (B,H,W,C) = dout routed to each window's maximum (OVERWRITES; the
 * rest 0). */
void mt_maxpool2d_backward(float *dinp, const float *dout, const uint8_t *arg, int B, int H, int W,
                           int C, const mt_kern *kn);

/* ---- relu ---------------------------------------------------------------
 * out (N) = max(inp, 0); out may alias inp. */
void mt_relu_forward(float *out, const float *inp, size_t N);
/* dinp (N) = dout where out > 0, else 0 (OVERWRITES); out is the forward's
 * output; dinp may alias dout. */
void mt_relu_backward(float *dinp, const float *dout, const float *out, size_t N);

/* ---- dropout (inverted, training only; evaluation is the identity) -------
 * Each element is kept with probability 1 - p and scaled by 1/(1-p).  A
 * sample's mask comes from its own PRNG stream, seeded with
 * mt_dropout_seed(seed, layer, step, sample), so it depends on the sample's
 * place in the run and never on the thread that computes it. */
uint64_t mt_dropout_seed(uint64_t seed, uint64_t layer, uint64_t step, uint64_t sample);
/* One sample: keep (N) = 0/1, out (N) = inp * keep / (1-p).  0 <= p < 1;
 * out may alias inp. */
void mt_dropout_forward(float *out, uint8_t *keep, const float *inp, size_t N, float p,
                        uint64_t sample_seed);
/* dinp (N) = dout * keep / (1-p) (OVERWRITES); dinp may alias dout. */
void mt_dropout_backward(float *dinp, const float *dout, const uint8_t *keep, size_t N, float p);

/* ---- flatten: NHWC -> PyTorch's (c, h, w) features ------------------------
 * out (B, C*H*W); out must not alias inp. */
void mt_flatten_forward(float *out, const float *inp, int B, int H, int W, int C);
/* dinp (B,H,W,C) from dout (B, C*H*W) (OVERWRITES). */
void mt_flatten_backward(float *dinp, const float *dout, int B, int H, int W, int C);

/* ---- linear -------------------------------------------------------------
 * out (B,OC) = inp (B,C) @ w^T + b, given wt (C,OC) = w^T; b (OC) or NULL. */
void mt_linear_forward(float *out, const float *inp, const float *wt, const float *b, int B, int C,
                       int OC, const mt_kern *kn);
/* Columns [c0,c1) of dw (OC,C) += dout^T @ inp over the B rows;
 * db (OC) += column sums of dout when db != NULL (give it to one caller). */
void mt_linear_backward_w(float *dw, float *db, const float *dout, const float *inp, int B, int C,
                          int OC, int c0, int c1, const mt_kern *kn);
/* dinp (B,C) = dout (B,OC) @ w (OVERWRITES). */
void mt_linear_backward_x(float *dinp, const float *dout, const float *w, int B, int C, int OC,
                          const mt_kern *kn);

/* ---- batchnorm (1-d: R = B rows of C features; 2-d: R = B*H*W pixels of
 * C channels, NHWC) ----
 * Training, channels [c0,c1): mean and biased variance over the R rows,
 *   xhat = (inp - mean) * invstd,  invstd = 1/sqrt(var + eps),
 *   out = xhat * gamma + beta,
 *   run_mean = (1-momentum) run_mean + momentum mean,
 *   run_var  = (1-momentum) run_var  + momentum var * R/(R-1)  (unbiased)
 * as torch.nn.BatchNorm (momentum 0.1, eps 1e-5).  Saves xhat (R,C) and
 * invstd (C).  out may alias inp.  R >= 2. */
void mt_batchnorm_forward_train(float *out, float *xhat, float *invstd, float *run_mean,
                                float *run_var, const float *inp, const float *gamma,
                                const float *beta, int R, int C, float eps, float momentum, int c0,
                                int c1);
/* Evaluation: out = (inp - run_mean) / sqrt(run_var + eps) * gamma + beta,
 * any rows; out may alias inp. */
void mt_batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                               const float *run_mean, const float *run_var, int R, int C, float eps);
/* Channels [c0,c1) of the training-mode gradient: dinp (R,C) OVERWRITTEN,
 * dgamma (C) += sum dout*xhat, dbeta (C) += sum dout. */
void mt_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *xhat, const float *invstd, const float *gamma, int R, int C,
                           int c0, int c1);

#endif
