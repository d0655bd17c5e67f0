/* Private to mt_kern: the per-ISA kernel functions (suffix = variant). */
#ifndef MT_KERN_IMPL_H
#define MT_KERN_IMPL_H

#include "mt_kern.h"

void mt_linear_fwd_ref(float *out, const float *inp, const float *w, const float *b,
                       int B, int C, int OC, int relu);
void mt_linear_bwd_w_ref(float *dw, float *db, const float *dout, const float *inp,
                         int B, int C, int OC);
void mt_linear_bwd_x_ref(float *dinp, const float *dout, const float *w,
                         const float *relu_mask, int B, int C, int OC);
double mt_softmax_xent_ref(float *dlogits, float *losses, const float *logits,
                           const uint8_t *labels, int B, int K, float dscale);
double mt_softmax_xent_ls_ref(float *dlogits, float *losses, const float *logits,
                              const uint8_t *labels, int B, int K, float dscale, float ls);
void mt_u8_to_f32_ref(float *out, const uint8_t *in, size_t N, float scale, float shift);
void mt_adam_ref(float *p, const float *g, float *m, float *v, size_t N,
                 float lr, float b1, float b2, float eps, float bc1, float bc2,
                 float wd_l2, float wd_decoupled);
void mt_adadelta_ref(float *p, const float *g, float *sq, float *acc, size_t N,
                     float lr, float rho, float eps, float wd);

void mt_linear_fwd_t_ref(float *out, const float *inp, const float *wt, const float *b,
                         int B, int C, int OC, int relu);
void mt_linear_bwd_w_cols_ref(float *dw, float *db, const float *dout, const float *inp,
                              int B, int C, int OC, int c0, int c1);
void mt_transpose_ref(float *wt, const float *w, int C, int OC, int c0, int c1);

int mt_sparse_row_list_ref(uint32_t *ent, int *blk, const uint8_t *px, int C);
void mt_sparse_fwd_rows_ref(float *out, const mt_sp_rows *rows, const float *wt, const float *beff,
                            int B, int OC, int relu);
void mt_linear_bwd_wt_ref(float *gt, const float *dout, const float *inp, int B, int C, int OC,
                          int c0, int c1);
void mt_colsum_acc_ref(float *s, const float *x, int rows, int n);
void mt_sparse_masks_ref(uint64_t *masks, const uint8_t *px, int ldpx, int B, int c0, int c1);
void mt_sparse_bwd_masks_ref(float *gt, const float *dout, const float *cs, const uint64_t *masks,
                             const uint8_t *px, int ldpx, const float *lut, int B, int OC, float shift,
                             int c0, int c1);
void mt_linear_fwd_t_acc_ref(float *out, const float *inp, int ldi, const float *wt, const float *b,
                             int B, int C, int OC, int relu, int acc, int last);
void mt_gemm_ref(float *c, ptrdiff_t ldc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                 const float *b, ptrdiff_t ldb, const float *bias, int M, int N, int K, int load_c);
void mt_gemm_gather_ref(float *c, ptrdiff_t ldc, const float *a, const int *ia, const int *ka,
                        const float *b, ptrdiff_t ldb, const float *bias, int M, int N, int K,
                        int load_c, float *colsum);

void mt_maxpool2_fwd_ref(float *out, uint8_t *arg, const float *inp, int B, int H, int W, int C);
void mt_maxpool2_bwd_ref(float *dinp, const float *dout, const uint8_t *arg, int B, int H, int W, int C);
void mt_col2im_ref(float *dinp, const float *dcol, int H, int W, int C, int k, int pad);

/* The SIMD tables (each defined in its kern_<isa>.c, compiled only where the
 * architecture matches). */
extern const mt_kern mt_kern_avx2;
extern const mt_kern mt_kern_avx512;
extern const mt_kern mt_kern_neon;

/* AVX-512's two row listers (tested apart; the table picks per CPU). */
int mt_row_list_avx512f(uint32_t *ent, int *blk, const uint8_t *px, int C);
int mt_row_list_avx512vbmi2(uint32_t *ent, int *blk, const uint8_t *px, int C);
int mt_cpu_avx512vbmi2(void);

#endif
