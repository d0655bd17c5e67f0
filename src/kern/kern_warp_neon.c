/* The augmentation warp, 4 pixels of a row at a time (NEON, AArch64): the
 * reference's operations lane by lane (vmulq and vaddq apart, never fused;
 * vrndmq floor; vcvtnq round to nearest even as lrintf); NEON has no gather,
 * so the taps are read from the zero-bordered copy lane by lane. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include <arm_neon.h>

#include "kern_warp_impl.h"

void mt_warp_u8_neon(uint8_t *dst, const uint8_t *src, int rows, int cols,
                     float dx, float dy, float cs, float sn, float inv)
{
    if (rows > MT_WARP_MAX || cols > MT_WARP_MAX) {
        mt_warp_u8_ref(dst, src, rows, cols, dx, dy, cs, sn, inv);
        return;
    }
    uint8_t pad[MT_WARP_BUF];
    mt_warp_border(pad, src, rows, cols);
    const int pw = cols + 2 * MT_WARP_PAD;
    const float cy = (rows - 1) * 0.5f, cx = (cols - 1) * 0.5f;
    const float32x4_t vcx = vdupq_n_f32(cx), vcy = vdupq_n_f32(cy), vdx = vdupq_n_f32(dx);
    const float32x4_t vcs = vdupq_n_f32(cs), vsn = vdupq_n_f32(sn), vinv = vdupq_n_f32(inv);
    const float32x4_t one = vdupq_n_f32(1.f);
    const int32_t lane_init[4] = { 0, 1, 2, 3 };
    const int32x4_t lane = vld1q_s32(lane_init), lo = vdupq_n_s32(-MT_WARP_PAD);
    const int32x4_t hix = vdupq_n_s32(cols), hiy = vdupq_n_s32(rows);
    const int32x4_t vpw = vdupq_n_s32(pw), off = vdupq_n_s32(MT_WARP_PAD * pw + MT_WARP_PAD);
    for (int y = 0; y < rows; y++) {
        const float v = (float)y - cy - dy;
        const float32x4_t sv = vmulq_f32(vsn, vdupq_n_f32(v)), cv = vmulq_f32(vcs, vdupq_n_f32(v));
        for (int x = 0; x < cols; x += 4) {
            float32x4_t u = vcvtq_f32_s32(vaddq_s32(vdupq_n_s32(x), lane));
            u = vsubq_f32(vsubq_f32(u, vcx), vdx);
            float32x4_t sx = vmulq_f32(vsubq_f32(vmulq_f32(vcs, u), sv), vinv);
            float32x4_t sy = vmulq_f32(vaddq_f32(vmulq_f32(vsn, u), cv), vinv);
            sx = vaddq_f32(sx, vcx);
            sy = vaddq_f32(sy, vcy);
            const float32x4_t fx = vrndmq_f32(sx), fy = vrndmq_f32(sy);
            const int32x4_t ix = vminq_s32(vmaxq_s32(vcvtq_s32_f32(fx), lo), hix);
            const int32x4_t iy = vminq_s32(vmaxq_s32(vcvtq_s32_f32(fy), lo), hiy);
            int32_t at[4];
            vst1q_s32(at, vaddq_s32(vaddq_s32(vmulq_s32(iy, vpw), ix), off));
            float t00[4], t01[4], t10[4], t11[4];
            for (int i = 0; i < 4; i++) {
                t00[i] = pad[at[i]];
                t01[i] = pad[at[i] + 1];
                t10[i] = pad[at[i] + pw];
                t11[i] = pad[at[i] + pw + 1];
            }
            const float32x4_t p00 = vld1q_f32(t00), p01 = vld1q_f32(t01);
            const float32x4_t p10 = vld1q_f32(t10), p11 = vld1q_f32(t11);
            const float32x4_t ax = vsubq_f32(sx, fx), ay = vsubq_f32(sy, fy);
            const float32x4_t bx = vsubq_f32(one, ax), by = vsubq_f32(one, ay);
            const float32x4_t t = vaddq_f32(vmulq_f32(bx, p00), vmulq_f32(ax, p01));
            const float32x4_t b = vaddq_f32(vmulq_f32(bx, p10), vmulq_f32(ax, p11));
            const float32x4_t val = vaddq_f32(vmulq_f32(by, t), vmulq_f32(ay, b));
            /* saturating narrows clamp to 0..255 */
            const uint16x4_t r16 = vqmovun_s32(vcvtnq_s32_f32(val));
            const uint8x8_t r8 = vqmovn_u16(vcombine_u16(r16, r16));
            uint8_t out[8];
            vst1_u8(out, r8);
            const int n = cols - x < 4 ? cols - x : 4;
            for (int i = 0; i < n; i++)
                dst[(size_t)y * cols + x + i] = out[i];
        }
    }
}
