/* NEON (AArch64 Advanced SIMD) kernels: the vector layer for kern_simd.h,
 * 4 lanes, 4x4-vector GEMM tiles (16 q-register accumulators).  NEON is
 * mandatory on AArch64, so mt_kern.c always offers it there.  Ragged edges go
 * through a small zero-padded buffer (NEON has no masked loads). */
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "kern_impl.h"

typedef float32x4_t vf;
#define VW 4
#define MR 4
#define NR 4
#define KC 128
#define KERN_NAME "neon"
#define KSFX(name) name##_neon
#define TILE_LIST(X) X(1, 1) X(1, 2) X(1, 3) X(1, 4) X(2, 1) X(2, 2) X(2, 3) X(2, 4) \
                     X(3, 1) X(3, 2) X(3, 3) X(3, 4) X(4, 1) X(4, 2) X(4, 3) X(4, 4)

static inline vf v_loadn(const float *p, int n)
{
    float t[4] = { 0.f, 0.f, 0.f, 0.f };
    memcpy(t, p, (size_t)n * sizeof *p);
    return vld1q_f32(t);
}
static inline void v_storen(float *p, vf v, int n)
{
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)n * sizeof *p);
}
#define V_ZERO() vdupq_n_f32(0.f)
#define V_SET1(x) vdupq_n_f32(x)
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32((p), (v))
#define V_LOADN(p, n) v_loadn((p), (n))
#define V_STOREN(p, v, n) v_storen((p), (v), (n))
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define V_LOADN_LO(p, n) V_LOADN(p, n)
#define V_FMA_LO(a, b, c) vfmaq_f32((c), (a), (b))
#define V_ADD(a, b) vaddq_f32((a), (b))
#define V_SUB(a, b) vsubq_f32((a), (b))
#define V_MUL(a, b) vmulq_f32((a), (b))
#define V_DIV(a, b) vdivq_f32((a), (b))
#define V_MAX(a, b) vmaxq_f32((a), (b))
#define V_SQRT(a) vsqrtq_f32(a)
#define V_SELGTN(v, m, a, b) vbslq_f32(vorrq_u32(vcgtq_f32((v), (m)), vmvnq_u32(vceqq_f32((v), (v)))), (b), (a))
#define V_MASKLE0(v, m) vreinterpretq_f32_u32(vandq_u32(vcgtq_f32((m), vdupq_n_f32(0.f)), vreinterpretq_u32_f32(v)))

static inline vf v_loadu8(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    uint8x8_t b = vcreate_u8(w);
    return vcvtq_f32_u32(vmovl_u16(vget_low_u16(vmovl_u8(b))));
}
#define V_LOADU8(p) v_loadu8(p)

static inline uint64_t nzmask(const uint8_t *p, int n)
{
    uint64_t m = 0;
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        uint8x16_t v = vld1q_u8(p + j);
        if (vmaxvq_u8(v) == 0)
            continue;
        for (int k = 0; k < 16; k++)
            m |= (uint64_t)(p[j + k] != 0) << (j + k);
    }
    for (; j < n; j++)
        m |= (uint64_t)(p[j] != 0) << j;
    return m;
}

static inline __attribute__((always_inline)) void vtranspose(vf r[4])
{
    float32x4x2_t a = vtrnq_f32(r[0], r[1]), b = vtrnq_f32(r[2], r[3]);
    r[0] = vcombine_f32(vget_low_f32(a.val[0]), vget_low_f32(b.val[0]));
    r[1] = vcombine_f32(vget_low_f32(a.val[1]), vget_low_f32(b.val[1]));
    r[2] = vcombine_f32(vget_high_f32(a.val[0]), vget_high_f32(b.val[0]));
    r[3] = vcombine_f32(vget_high_f32(a.val[1]), vget_high_f32(b.val[1]));
}

static inline vf v_exp(vf x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.3f));
    vf fx = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    x = vfmsq_f32(x, fx, vdupq_n_f32(0.693359375f));
    x = vfmsq_f32(x, fx, vdupq_n_f32(-2.12194440e-4f));
    vf y = vdupq_n_f32(1.9875691500e-4f);
    y = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), y, x);
    y = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), y, x);
    y = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), y, x);
    y = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), y, x);
    y = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), y, x);
    y = vfmaq_f32(vaddq_f32(x, vdupq_n_f32(1.f)), y, vmulq_f32(x, x));
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(fx), vdupq_n_s32(127)), 23);
    return vmulq_f32(y, vreinterpretq_f32_s32(e));
}

#include "kern_simd.h"
