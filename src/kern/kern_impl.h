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
void mt_u8_to_f32_ref(float *out, const uint8_t *in, size_t N, float scale, float shift);
void mt_adam_ref(float *p, const float *g, float *m, float *v, size_t N,
                 float lr, float b1, float b2, float eps, float bc1, float bc2,
                 float wd_l2, float wd_decoupled);

#endif
