/* mt_kern: picks the kernel table at run time from CPU features.
 * Each SIMD variant is compiled with its own target flags, so the binary runs
 * on any CPU of its architecture; a variant is only called when
 * __builtin_cpu_supports() says the CPU (and OS) can run it. */
#include <string.h>

#include "mt_kern.h"
#include "kern/kern_impl.h"

#if defined(__x86_64__) || defined(__i386__)
#define MT_HAVE_X86 1
#endif
#if defined(__aarch64__)
#define MT_HAVE_NEON 1
#endif

static const mt_kern kern_ref = {
    .name = "scalar",
    .linear_fwd = mt_linear_fwd_ref,
    .linear_bwd_w = mt_linear_bwd_w_ref,
    .linear_bwd_x = mt_linear_bwd_x_ref,
    .softmax_xent = mt_softmax_xent_ref,
    .softmax_xent_ls = mt_softmax_xent_ls_ref,
    .u8_to_f32 = mt_u8_to_f32_ref,
    .adam = mt_adam_ref,
    .adadelta = mt_adadelta_ref,
    .linear_fwd_t = mt_linear_fwd_t_ref,
    .linear_fwd_t_acc = mt_linear_fwd_t_acc_ref,
    .linear_bwd_w_cols = mt_linear_bwd_w_cols_ref,
    .transpose = mt_transpose_ref,
    .sparse_row_list = mt_sparse_row_list_ref,
    .sparse_fwd_rows = mt_sparse_fwd_rows_ref,
    .sparse_masks = mt_sparse_masks_ref,
    .sparse_bwd_masks = mt_sparse_bwd_masks_ref,
    .linear_bwd_wt = mt_linear_bwd_wt_ref,
    .colsum_acc = mt_colsum_acc_ref,
    .gemm = mt_gemm_ref,
    .gemm_gather = mt_gemm_gather_ref,
    .maxpool2_fwd = mt_maxpool2_fwd_ref,
    .maxpool2_bwd = mt_maxpool2_bwd_ref,
    .col2im = mt_col2im_ref,
};

static const char *const isa_names[] = { "auto", "scalar", "avx2", "avx512", "neon" };

const mt_kern *mt_kern_ref(void) { return &kern_ref; }

int mt_isa_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof isa_names / sizeof *isa_names); i++)
        if (strcmp(s, isa_names[i]) == 0)
            return i;
    return -1;
}

const char *mt_isa_name(mt_isa isa)
{
    return (unsigned)isa < sizeof isa_names / sizeof *isa_names ? isa_names[isa] : "?";
}

#ifdef MT_HAVE_X86
static int cpu_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int cpu_avx512(void)
{
    /* gcc's and clang's cpu_supports also check that the OS saves the zmm state. */
    __builtin_cpu_init();
    return cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
#endif

int mt_kern_variants(mt_kern_variant *out, int max)
{
    /* Listed from slowest to fastest: MT_ISA_AUTO takes the last runnable one. */
    mt_kern_variant all[4];
    int n = 0;
    all[n++] = (mt_kern_variant){ MT_ISA_SCALAR, &kern_ref, 1 };
#ifdef MT_HAVE_X86
    all[n++] = (mt_kern_variant){ MT_ISA_AVX2, &mt_kern_avx2, cpu_avx2() };
    all[n++] = (mt_kern_variant){ MT_ISA_AVX512, &mt_kern_avx512, cpu_avx512() };
#endif
#ifdef MT_HAVE_NEON
    all[n++] = (mt_kern_variant){ MT_ISA_NEON, &mt_kern_neon, 1 };
#endif
    for (int i = 0; i < n && i < max; i++)
        out[i] = all[i];
    return n;
}

mt_status mt_kern_select(const mt_kern **out, mt_isa isa, mt_err *err)
{
    mt_kern_variant v[8];
    int n = mt_kern_variants(v, 8);
    if (isa == MT_ISA_AUTO) {
        for (int i = n - 1; i >= 0; i--)
            if (v[i].runnable) {
                *out = v[i].k;
                return MT_OK;
            }
    }
    for (int i = 0; i < n; i++) {
        if (v[i].isa != isa)
            continue;
        if (!v[i].runnable)
            return mt_errf(err, MT_EARG, "kernels %s: this CPU does not support them", mt_isa_name(isa));
        *out = v[i].k;
        return MT_OK;
    }
    return mt_errf(err, MT_EARG, "kernels %s: not compiled into this build (%s)", mt_isa_name(isa),
#if defined(MT_HAVE_X86)
                   "x86-64 builds have scalar, avx2, avx512"
#elif defined(MT_HAVE_NEON)
                   "aarch64 builds have scalar, neon"
#else
                   "this architecture has only scalar"
#endif
    );
}

