/* fuzz_st: the safetensors parser (mt_st_parse) on arbitrary bytes, then
 * every accessor on whatever it accepted; and the same bytes through the
 * file reader (mt_st_load) every 16th input, which must agree with it. */
#include <string.h>

#include "fuzz_util.h"
#include "mt_st.h"

static void one_line(const mt_err *e)
{
    if (!e->msg[0] || strchr(e->msg, '\n'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_st st = { 0 };
    mt_err err = { 0 };
    mt_status s = mt_st_parse(data, size, "fuzz.safetensors", &st, &err);
    if (s != MT_OK) {
        one_line(&err);
    } else {
        for (size_t i = 0; i < st.n_tensors; i++) {
            const mt_st_tensor *t = &st.tensors[i];
            if (mt_st_find(&st, t->name) != t)
                abort();
            /* read every byte the parser vouched for */
            unsigned acc = 0;
            for (size_t b = 0; b < t->nbytes; b++)
                acc += ((const unsigned char *)t->data)[b];
            (void)acc;
            if (t->nbytes <= (1u << 16)) {
                void *dst = malloc(t->nbytes ? t->nbytes : 1);
                if (!dst)
                    abort();
                if (mt_st_get(&st, t->name, t->dtype, t->shape, t->ndim, dst, &err) != MT_OK)
                    abort(); /* its own dtype and shape must be accepted */
                /* a wrong shape must be refused without touching dst */
                size_t wrong[MT_ST_MAX_DIMS + 1] = { 0 };
                memcpy(wrong, t->shape, sizeof t->shape);
                wrong[0] += 1;
                if (t->ndim > 0 && mt_st_get(&st, t->name, t->dtype, wrong, t->ndim, dst, &err) == MT_OK)
                    abort();
                free(dst);
            }
        }
        for (size_t i = 0; i < st.n_meta; i++)
            if (mt_st_meta_get(&st, st.meta[i].key) == NULL)
                abort();
    }
    mt_st_free(&st);

    static unsigned count;
    if (count++ % 16 == 0) {
        mt_st st2 = { 0 };
        mt_err err2 = { 0 };
        mt_status s2 = mt_st_load(fuzz_file(0, ".safetensors", data, size), &st2, &err2);
        if ((s2 == MT_OK) != (s == MT_OK))
            abort();
        mt_st_free(&st2);
    }
    return 0;
}
