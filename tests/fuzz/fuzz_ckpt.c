/* fuzz_ckpt: both checkpoint loaders on arbitrary bytes.  mt_ckpt_parse
 * checks the model part; an accepted file then builds its model
 * (mt_ckpt_model) and, when it claims to be a training state, is restored
 * into a model, an optimizer (the kind chosen by the last byte) and a trainer
 * sized by its own train.perm, as --resume does. */
#include <string.h>

#include "fuzz_util.h"
#include "mt_ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_ckpt c = { 0 };
    mt_err err = { 0 };
    if (mt_ckpt_parse(data, size, "fuzz.safetensors", &c, &err) != MT_OK) {
        if (!err.msg[0] || strchr(err.msg, '\n'))
            abort();
        return 0;
    }
    /* keep each run small: the loader accepts layers up to 65536 wide */
    if (c.n_params > (1u << 20)) {
        mt_ckpt_free(&c);
        return 0;
    }
    mt_mlp m = { 0 };
    if (mt_ckpt_model(&c, &m, &err) == MT_OK && c.is_state) {
        mt_optim o = { 0 };
        mt_trainer t = { 0 };
        const mt_st_tensor *perm = mt_st_find(&c.st, "train.perm");
        uint32_t n = perm && perm->ndim == 1 && perm->shape[0] <= 4096 ? (uint32_t)perm->shape[0] : 16;
        mt_opt_kind kind = (mt_opt_kind)(size ? data[size - 1] % 3 : 0);
        if (mt_optim_init(&o, kind, m.n_params, &err) == MT_OK &&
            mt_trainer_init(&t, &m, &o, mt_kern_ref(), n, 8, 1, &err) == MT_OK) {
            long long epochs = -1;
            mt_status s = mt_ckpt_restore(&c, &m, &o, &t, &epochs, &err);
            if (s == MT_OK && (epochs < 0 || t.ep.next_batch < 0))
                abort();
            if (s != MT_OK && (!err.msg[0] || strchr(err.msg, '\n')))
                abort();
        }
        mt_trainer_free(&t);
        mt_optim_free(&o);
    }
    mt_mlp_free(&m);
    mt_ckpt_free(&c);
    return 0;
}
