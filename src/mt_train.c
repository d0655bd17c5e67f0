/* mt_train: the training and evaluation loops (seed_mnist.py's train() and
 * test()).  Per batch: gather + normalize, forward, loss, backward, step. */
#include "mt_train.h"

#include "mt_engine.h"

#include <stdlib.h>
#include <string.h>

mt_status mt_trainer_init(mt_trainer *t, mt_mlp *model, mt_optim *opt, const mt_kern *k,
                          uint32_t n, int batch_size, uint64_t shuffle_seed, mt_err *err)
{
    mt_status st;
    mt_trainer r = { 0 };
    r.model = model;
    r.opt = opt;
    r.k = k;
    if ((st = mt_epoch_init(&r.ep, n, batch_size, shuffle_seed, err)))
        return st;
    if (!(r.labels = malloc((size_t)batch_size))) {
        st = mt_errf(err, MT_ENOMEM, "trainer: out of memory for %u samples", (unsigned)n);
        goto fail;
    }
    if ((st = mt_mlp_work_init(&r.work, model, batch_size, err)))
        goto fail;
    *t = r;
    return MT_OK;
fail:
    mt_trainer_free(&r);
    return st;
}

void mt_trainer_free(mt_trainer *t)
{
    if (!t)
        return;
    mt_epoch_free(&t->ep);
    free(t->labels);
    mt_mlp_work_free(&t->work);
    memset(t, 0, sizeof *t);
}

typedef struct {
    mt_trainer *t;
    const mt_dataset *ds;
} step_ctx;

/* The threaded engine's whole step, update included (the next batch's
 * random rows fetched while this one trains). */
static void engine_step(void *ctx, const uint32_t *idx, int B, const uint32_t *next, int B_next, double *sum)
{
    mt_trainer *t = ((step_ctx *)ctx)->t;
    const mt_dataset *ds = ((step_ctx *)ctx)->ds;
    if (next)
        mt_engine_prefetch(t->engine, ds->images, next, B_next);
    *sum = mt_engine_step(t->engine, t->opt, ds->images, ds->labels, idx, B, t->scale, t->shift, t->labels);
}

/* The plain reference path: forward and loss, then backward and update. */
static void plain_step(void *ctx, const uint32_t *idx, int B, const uint32_t *next, int B_next, double *sum)
{
    mt_trainer *t = ((step_ctx *)ctx)->t;
    (void)next, (void)B_next;
    mt_dataset_gather(t->work.act[0], t->labels, ((step_ctx *)ctx)->ds, idx, B, t->scale, t->shift, t->k);
    mt_mlp_forward(t->model, &t->work, B, t->k);
    const int L = t->model->n_layers;
    *sum = t->k->softmax_xent_ls(t->work.dact[L], t->work.losses, t->work.act[L], t->labels, B,
                                 t->model->dims[L], 1.0f / (float)B, t->label_smoothing);
}

static void plain_update(void *ctx, int B)
{
    mt_trainer *t = ((step_ctx *)ctx)->t;
    mt_mlp_zero_grad(t->model);
    mt_mlp_backward(t->model, &t->work, B, t->k);
    mt_optim_step(t->opt, t->model->params, t->model->grads, t->k);
}

mt_status mt_train_epoch(mt_trainer *t, const mt_dataset *ds, int epoch, mt_batch_fn on_batch,
                         void *user, volatile sig_atomic_t *stop, double *avg_loss,
                         int *batches_done, mt_err *err)
{
    step_ctx c = { t, ds };
    if (t->engine) /* the engine holds the first layer while it trains */
        mt_engine_sync(t->engine, t->opt);
    const mt_epoch_model m = { t->engine ? engine_step : plain_step, t->engine ? NULL : plain_update, &c };
    mt_status st = mt_epoch_run(&t->ep, ds->n, epoch, &t->opt->step, &m, on_batch, user, stop, avg_loss,
                                batches_done, err);
    if (t->engine)
        mt_engine_export(t->engine, t->opt);
    return st;
}

static mt_status evaluate(const mt_mlp *m, const mt_kern *k, struct mt_engine *e, const mt_dataset *ds,
                          int batch_size, float scale, float shift, mt_eval *out, uint8_t *preds,
                          float *probs, uint32_t *confusion, mt_err *err)
{
    mt_status st;
    mt_mlp_work w = { 0 };
    const int K = m->dims[m->n_layers];
    uint32_t *idx = malloc((size_t)batch_size * sizeof *idx);
    uint8_t *y = malloc((size_t)batch_size);
    float *dlogits = e ? malloc((size_t)batch_size * K * sizeof *dlogits) : NULL;
    float *elogits = e ? malloc((size_t)batch_size * K * sizeof *elogits) : NULL;
    double loss_sum = 0.0;
    uint32_t correct = 0;
    if (!idx || !y || (e && (!dlogits || !elogits))) {
        st = mt_errf(err, MT_ENOMEM, "evaluate: out of memory");
        goto fail;
    }
    if (!e && (st = mt_mlp_work_init(&w, m, batch_size, err)))
        goto fail;
    for (uint32_t i0 = 0; i0 < ds->n; i0 += (uint32_t)batch_size) {
        int B = (int)(ds->n - i0 < (uint32_t)batch_size ? ds->n - i0 : (uint32_t)batch_size);
        const float *logits;
        if (e) {
            mt_engine_forward(e, ds->images + (size_t)i0 * ds->rows * ds->cols, B, scale, shift, elogits);
            logits = elogits;
            memcpy(y, ds->labels + i0, (size_t)B);
        } else {
            for (int i = 0; i < B; i++)
                idx[i] = i0 + (uint32_t)i;
            mt_dataset_gather(w.act[0], y, ds, idx, B, scale, shift, k);
            mt_mlp_forward(m, &w, B, k);
            logits = w.act[m->n_layers];
        }
        for (int i = 0; i < B; i++) {
            const float *z = logits + (size_t)i * K;
            int best = 0; /* first maximum, as torch.max */
            for (int c = 1; c < K; c++)
                if (z[c] > z[best])
                    best = c;
            correct += best == y[i];
            if (preds)
                preds[i0 + i] = (uint8_t)best;
            if (confusion)
                confusion[(size_t)y[i] * K + best]++;
        }
        /* the gradient buffer receives softmax - onehot; with dscale 1 it
         * also yields the probabilities */
        if (e)
            loss_sum += k->softmax_xent(dlogits, NULL, logits, y, B, K, 1.0f);
        else
            loss_sum += mt_mlp_loss(m, &w, y, B, 1.0f, k);
        if (probs) {
            const float *d = e ? dlogits : w.dact[m->n_layers];
            for (int i = 0; i < B; i++)
                for (int c = 0; c < K; c++)
                    probs[(size_t)(i0 + i) * K + c] = d[(size_t)i * K + c] + (c == y[i] ? 1.f : 0.f);
        }
    }
    out->loss = ds->n ? loss_sum / ds->n : 0.0;
    out->correct = correct;
    out->total = ds->n;
fail:
    mt_mlp_work_free(&w);
    free(idx);
    free(y);
    free(dlogits);
    free(elogits);
    return st;
}

mt_status mt_evaluate(const mt_mlp *m, const mt_kern *k, const mt_dataset *ds, int batch_size,
                      float scale, float shift, mt_eval *out, uint8_t *preds, float *probs,
                      uint32_t *confusion, mt_err *err)
{
    return evaluate(m, k, NULL, ds, batch_size, scale, shift, out, preds, probs, confusion, err);
}

mt_status mt_evaluate_engine(struct mt_engine *e, const mt_mlp *m, const mt_kern *k, const mt_dataset *ds,
                             int batch_size, float scale, float shift, mt_eval *out, uint8_t *preds,
                             float *probs, uint32_t *confusion, mt_err *err)
{
    return evaluate(m, k, e, ds, batch_size, scale, shift, out, preds, probs, confusion, err);
}
