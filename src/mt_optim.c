/* mt_optim: parameter updates.  Adam's and Adadelta's arithmetic lives in the
 * kernel table (hot loops over every parameter); SGD is simple enough to stay
 * here. */
#include "mt_optim.h"
#include "mt_mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mt_status mt_optim_init(mt_optim *o, mt_opt_kind kind, size_t n, mt_err *err)
{
    mt_optim r = { 0 };
    r.kind = kind;
    r.n = n;
    r.m = mt_calloc_aligned(n * sizeof(float));
    if (kind != MT_OPT_SGD)
        r.v = mt_calloc_aligned(n * sizeof(float));
    if (!r.m || (kind != MT_OPT_SGD && !r.v)) {
        free(r.m);
        free(r.v);
        return mt_errf(err, MT_ENOMEM, "optimizer: out of memory for %zu parameters", n);
    }
    *o = r;
    mt_optim_defaults(o);
    return MT_OK;
}

void mt_optim_defaults(mt_optim *o)
{
    /* the defaults of torch.optim's constructors */
    o->lr = o->kind == MT_OPT_SGD ? 0.01f : o->kind == MT_OPT_ADADELTA ? 1.0f : 1e-3f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = o->kind == MT_OPT_ADADELTA ? 1e-6f : 1e-8f;
    o->rho = 0.9f;
    o->weight_decay = o->kind == MT_OPT_ADAMW ? 0.01f : 0.f;
    o->momentum = 0.f;
    o->nesterov = 0;
}

mt_status mt_optim_check(const mt_optim *o, mt_err *err)
{
    const char *name = mt_optim_name(o->kind);
    if (!(o->lr >= 0.f) || !isfinite(o->lr))
        return mt_errf(err, MT_EARG, "%s: learning rate must be finite and >= 0, got %g", name, o->lr);
    if (!(o->eps >= 0.f) || !isfinite(o->eps))
        return mt_errf(err, MT_EARG, "%s: eps must be finite and >= 0, got %g", name, o->eps);
    if (!(o->weight_decay >= 0.f) || !isfinite(o->weight_decay))
        return mt_errf(err, MT_EARG, "%s: weight decay must be finite and >= 0, got %g", name, o->weight_decay);
    if ((o->kind == MT_OPT_ADAM || o->kind == MT_OPT_ADAMW) &&
        (!(o->beta1 >= 0.f && o->beta1 < 1.f) || !(o->beta2 >= 0.f && o->beta2 < 1.f)))
        return mt_errf(err, MT_EARG, "%s: betas must be in [0, 1), got (%g, %g)", name, o->beta1, o->beta2);
    if (o->kind == MT_OPT_ADADELTA && !(o->rho >= 0.f && o->rho <= 1.f))
        return mt_errf(err, MT_EARG, "%s: rho must be in [0, 1], got %g", name, o->rho);
    if (o->kind == MT_OPT_SGD && (!(o->momentum >= 0.f) || !isfinite(o->momentum)))
        return mt_errf(err, MT_EARG, "%s: momentum must be finite and >= 0, got %g", name, o->momentum);
    if (o->nesterov && (o->kind != MT_OPT_SGD || !(o->momentum > 0.f)))
        return mt_errf(err, MT_EARG, "%s: Nesterov momentum needs SGD with momentum > 0", name);
    return MT_OK;
}

void mt_optim_free(mt_optim *o)
{
    if (!o)
        return;
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void mt_optim_step(mt_optim *o, float *params, const float *grads, const mt_kern *k)
{
    mt_optim_begin_step(o);
    mt_optim_step_range(o, params, grads, k, 0, o->n);
}

void mt_optim_begin_step(mt_optim *o)
{
    o->step++;
    /* bias corrections in double: 1 - beta^t loses digits in float for large t */
    o->bc1 = (float)(1.0 - pow(o->beta1, (double)o->step));
    o->bc2 = (float)(1.0 - pow(o->beta2, (double)o->step));
}

void mt_optim_step_range(const mt_optim *o, float *params, const float *grads, const mt_kern *k,
                         size_t lo, size_t hi)
{
    mt_optim_step_buf(o, params + lo, grads + lo, o->m + lo, o->v ? o->v + lo : NULL, hi - lo, k);
}

void mt_optim_step_buf(const mt_optim *o, float *p, const float *g, float *m, float *v, size_t n,
                       const mt_kern *k)
{
    if (o->kind == MT_OPT_SGD) {
        /* torch.optim.SGD: g += wd p; buf = mu buf + g (buf = g on the first
         * step); p -= lr buf, or with Nesterov p -= lr (g + mu buf) */
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + o->weight_decay * p[i];
            if (o->momentum != 0.f) {
                m[i] = o->step == 1 ? gi : o->momentum * m[i] + gi;
                gi = o->nesterov ? gi + o->momentum * m[i] : m[i];
            }
            p[i] -= o->lr * gi;
        }
        return;
    }
    if (o->kind == MT_OPT_ADADELTA) {
        k->adadelta(p, g, m, v, n, o->lr, o->rho, o->eps, o->weight_decay);
        return;
    }
    float l2 = o->kind == MT_OPT_ADAM ? o->weight_decay : 0.f;
    float dec = o->kind == MT_OPT_ADAMW ? o->weight_decay : 0.f;
    k->adam(p, g, m, v, n, o->lr, o->beta1, o->beta2, o->eps, o->bc1, o->bc2, l2, dec);
}

double mt_clip_grad_norm(float *grads, size_t n, double max_norm)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (double)grads[i] * grads[i];
    double norm = sqrt(ss);
    double f = max_norm / (norm + 1e-6);
    if (isfinite(norm) && f < 1.0)
        for (size_t i = 0; i < n; i++)
            grads[i] = (float)(grads[i] * f);
    return norm;
}

static const char *const names[] = { "adam", "adamw", "sgd", "adadelta" };

int mt_optim_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *mt_optim_name(mt_opt_kind kind)
{
    return (unsigned)kind < sizeof names / sizeof *names ? names[kind] : "?";
}
