/* mt_mlp: the model's forward/backward passes over the kernel table.
 * It owns parameter and gradient storage; it does not know about optimizers,
 * data sets or files. Reference: the seed's DigitClassifier (seed_mnist.py). */
#include "mt_mlp.h"
#include "mt_mem.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mt_status mt_mlp_init(mt_mlp *m, const int *dims, int n_layers, mt_rng *rng, mt_err *err)
{
    mt_mlp r = { 0 };
    if (n_layers < 1 || n_layers > MT_MAX_LAYERS)
        return mt_errf(err, MT_EARG, "model: %d layers (must be 1..%d)", n_layers, MT_MAX_LAYERS);
    r.n_layers = n_layers;
    size_t n = 0;
    for (int l = 0; l <= n_layers; l++) {
        if (dims[l] < 1 || dims[l] > 1 << 20)
            return mt_errf(err, MT_EARG, "model: layer size %d out of range", dims[l]);
        r.dims[l] = dims[l];
        if (l < n_layers)
            n += (size_t)dims[l + 1] * dims[l] + dims[l + 1];
    }
    r.n_params = n;
    r.params = mt_alloc_aligned(n * sizeof(float));
    r.grads = mt_calloc_aligned(n * sizeof(float));
    if (!r.params || !r.grads) {
        free(r.params);
        free(r.grads);
        return mt_errf(err, MT_ENOMEM, "model: out of memory for %zu parameters", n);
    }
    float *p = r.params, *g = r.grads;
    for (int l = 0; l < n_layers; l++) {
        size_t nw = (size_t)dims[l + 1] * dims[l];
        r.w[l] = p; r.dw[l] = g; p += nw; g += nw;
        r.b[l] = p; r.db[l] = g; p += dims[l + 1]; g += dims[l + 1];
        float bound = 1.0f / sqrtf((float)dims[l]);
        for (size_t i = 0; i < nw; i++)
            r.w[l][i] = mt_rng_uniform(rng, -bound, bound);
        for (int i = 0; i < dims[l + 1]; i++)
            r.b[l][i] = mt_rng_uniform(rng, -bound, bound);
    }
    *m = r;
    return MT_OK;
}

void mt_mlp_free(mt_mlp *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->grads);
    memset(m, 0, sizeof *m);
}

mt_status mt_mlp_work_init(mt_mlp_work *w, const mt_mlp *m, int max_B, mt_err *err)
{
    mt_mlp_work r = { 0 };
    r.max_B = max_B;
    for (int l = 0; l <= m->n_layers; l++) {
        r.act[l] = malloc((size_t)max_B * m->dims[l] * sizeof(float));
        r.dact[l] = l ? malloc((size_t)max_B * m->dims[l] * sizeof(float)) : NULL;
        if (!r.act[l] || (l && !r.dact[l]))
            goto fail;
    }
    r.losses = malloc((size_t)max_B * sizeof(float));
    if (!r.losses)
        goto fail;
    *w = r;
    return MT_OK;
fail:
    mt_mlp_work_free(&r);
    return mt_errf(err, MT_ENOMEM, "model: out of memory for batch buffers (%d rows)", max_B);
}

void mt_mlp_work_free(mt_mlp_work *w)
{
    if (!w)
        return;
    for (int l = 0; l <= MT_MAX_LAYERS; l++) {
        free(w->act[l]);
        free(w->dact[l]);
    }
    free(w->losses);
    memset(w, 0, sizeof *w);
}

void mt_mlp_forward(const mt_mlp *m, mt_mlp_work *w, int B, const mt_kern *k)
{
    assert(B <= w->max_B);
    for (int l = 0; l < m->n_layers; l++) {
        int relu = l + 1 < m->n_layers;
        k->linear_fwd(w->act[l + 1], w->act[l], m->w[l], m->b[l], B, m->dims[l], m->dims[l + 1], relu);
    }
}

double mt_mlp_loss(const mt_mlp *m, mt_mlp_work *w, const uint8_t *labels, int B,
                   float dscale, const mt_kern *k)
{
    int L = m->n_layers;
    return k->softmax_xent(w->dact[L], w->losses, w->act[L], labels, B, m->dims[L], dscale);
}

void mt_mlp_backward(mt_mlp *m, mt_mlp_work *w, int B, const mt_kern *k)
{
    for (int l = m->n_layers - 1; l >= 0; l--) {
        k->linear_bwd_w(m->dw[l], m->db[l], w->dact[l + 1], w->act[l], B, m->dims[l], m->dims[l + 1]);
        /* no input gradient for the first layer: nothing below it learns */
        if (l > 0)
            k->linear_bwd_x(w->dact[l], w->dact[l + 1], m->w[l], w->act[l], B, m->dims[l], m->dims[l + 1]);
    }
}

void mt_mlp_zero_grad(mt_mlp *m)
{
    memset(m->grads, 0, m->n_params * sizeof(float));
}

const char *mt_mlp_tensor(const mt_mlp *m, int i, int shape[2], int *ndim, float **data)
{
    static const char *const names[2 * MT_MAX_LAYERS] = {
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias",
        "fc4.weight", "fc4.bias", "fc5.weight", "fc5.bias", "fc6.weight", "fc6.bias",
        "fc7.weight", "fc7.bias", "fc8.weight", "fc8.bias",
    };
    assert(i >= 0 && i < 2 * m->n_layers);
    int l = i / 2;
    if (i % 2 == 0) {
        shape[0] = m->dims[l + 1];
        shape[1] = m->dims[l];
        *ndim = 2;
        *data = m->w[l];
    } else {
        shape[0] = m->dims[l + 1];
        shape[1] = 0;
        *ndim = 1;
        *data = m->b[l];
    }
    return names[i];
}

int mt_mlp_parse_hidden(const char *s, int *hidden, int max)
{
    int n = 0;
    if (*s == '\0')
        return 0; /* no hidden layer: logistic regression */
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 1 || v > 65536 || n >= max)
            return -1;
        hidden[n++] = (int)v;
        if (*end == '\0')
            return n;
        if (*end != ',')
            return -1;
        s = end + 1;
    }
}
