/* mt_kern: picks the kernel table at run time from CPU features.
 * Only the reference is wired here until the SIMD variants land (issue 3). */
#include <string.h>

#include "mt_kern.h"
#include "kern/kern_impl.h"

static const mt_kern kern_ref = {
    .name = "scalar",
    .linear_fwd = mt_linear_fwd_ref,
    .linear_bwd_w = mt_linear_bwd_w_ref,
    .linear_bwd_x = mt_linear_bwd_x_ref,
    .softmax_xent = mt_softmax_xent_ref,
    .u8_to_f32 = mt_u8_to_f32_ref,
    .adam = mt_adam_ref,
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

int mt_kern_variants(mt_kern_variant *out, int max)
{
    int n = 0;
    if (n < max)
        out[n] = (mt_kern_variant){ MT_ISA_SCALAR, &kern_ref, 1 };
    n++;
    return n;
}

mt_status mt_kern_select(const mt_kern **out, mt_isa isa, mt_err *err)
{
    mt_kern_variant v[8];
    int n = mt_kern_variants(v, 8);
    if (isa == MT_ISA_AUTO) {
        /* variants are listed from slowest to fastest */
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
            return mt_errf(err, MT_EARG, "--isa %s: this CPU does not support it", mt_isa_name(isa));
        *out = v[i].k;
        return MT_OK;
    }
    return mt_errf(err, MT_EARG, "--isa %s: not compiled into this build", mt_isa_name(isa));
}
