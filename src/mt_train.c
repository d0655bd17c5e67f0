/* mt_train: the training and evaluation loops (seed_mnist.py's train() and
 * test()).  Per batch: gather + normalize, forward, loss, backward, step. */
#include "mt_train.h"

#include "mt_engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

mt_status mt_trainer_init(mt_trainer *t, mt_mlp *model, mt_optim *opt, const mt_kern *k,
                          uint32_t n, int batch_size, uint64_t shuffle_seed, mt_err *err)
{
    mt_status st;
    mt_trainer r = { 0 };
    r.model = model;
    r.opt = opt;
    r.k = k;
    r.n = n;
    r.batch_size = batch_size;
    r.shuffle = 1;
    mt_rng_seed(&r.rng, shuffle_seed);
    r.perm = malloc((n ? n : 1) * sizeof *r.perm);
    r.labels = malloc((size_t)batch_size);
    if (!r.perm || !r.labels) {
        st = mt_errf(err, MT_ENOMEM, "trainer: out of memory for %u samples", (unsigned)n);
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        r.perm[i] = i;
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
    free(t->perm);
    free(t->labels);
    mt_mlp_work_free(&t->work);
    memset(t, 0, sizeof *t);
}

mt_status mt_train_epoch(mt_trainer *t, const mt_dataset *ds, int epoch, mt_batch_fn on_batch,
                         void *user, volatile sig_atomic_t *stop, double *avg_loss,
                         int *batches_done, mt_err *err)
{
    const int bs = t->batch_size;
    const uint32_t n = ds->n < t->n ? ds->n : t->n;
    const int n_batches = (int)((n + (uint32_t)bs - 1) / (uint32_t)bs);
    double running = 0.0, t0 = now();
    int done = 0, b0 = 0;
    mt_status st = MT_OK;

    if (t->in_epoch && t->next_batch > 0 && t->next_batch < n_batches) {
        b0 = done = t->next_batch; /* resume inside an epoch: its order is drawn */
        running = t->running;
    } else if (!t->in_epoch && t->shuffle) {
        mt_rng_shuffle(&t->rng, t->perm, n);
    }
    t->in_epoch = 1;
    t->next_batch = b0;
    t->running = running;
    if (t->engine) /* the engine holds the first layer while it trains */
        mt_engine_sync(t->engine, t->opt);
    for (int b = b0; b < n_batches; b++) {
        if (stop && *stop) {
            st = mt_errf(err, MT_EINTR, "interrupted at epoch %d, batch %d/%d", epoch, b, n_batches);
            break;
        }
        if (t->max_steps > 0 && t->opt->step >= t->max_steps)
            break;
        uint32_t i0 = (uint32_t)b * (uint32_t)bs;
        int B = (int)(n - i0 < (uint32_t)bs ? n - i0 : (uint32_t)bs);
        /* the threaded engine's whole step, or the plain reference path */
        double sum;
        if (t->engine) {
            if (b + 1 < n_batches) { /* the next batch's random rows, fetched while this one trains */
                uint32_t j0 = i0 + (uint32_t)bs;
                mt_engine_prefetch(t->engine, ds->images, t->perm + j0,
                                   (int)(n - j0 < (uint32_t)bs ? n - j0 : (uint32_t)bs));
            }
            sum = mt_engine_step(t->engine, t->opt, ds->images, ds->labels, t->perm + i0, B, t->scale,
                                 t->shift, t->labels);
        } else {
            mt_dataset_gather(t->work.act[0], t->labels, ds, t->perm + i0, B, t->scale, t->shift, t->k);
            mt_mlp_forward(t->model, &t->work, B, t->k);
            const int L = t->model->n_layers;
            sum = t->k->softmax_xent_ls(t->work.dact[L], t->work.losses, t->work.act[L], t->labels, B,
                                        t->model->dims[L], 1.0f / (float)B, t->label_smoothing);
        }
        float loss = (float)(sum / B);
        if (!isfinite(loss)) {
            st = mt_errf(err, MT_EDIVERGED, "training diverged at epoch %d, batch %d: loss is %s", epoch, b, isnan(loss) ? "nan" : "inf");
            break;
        }
        if (!t->engine) { /* backward and update */
            mt_mlp_zero_grad(t->model);
            mt_mlp_backward(t->model, &t->work, B, t->k);
            mt_optim_step(t->opt, t->model->params, t->model->grads, t->k);
        }
        running += loss;
        done = b + 1;
        t->next_batch = done;
        t->running = running;
        if (on_batch) {
            mt_batch_info info = { epoch, b, n_batches, B, loss, running, now() - t0 };
            on_batch(user, &info);
        }
    }
    if (t->engine)
        mt_engine_export(t->engine, t->opt);
    if (done == n_batches) {
        t->in_epoch = 0;
        t->next_batch = 0;
        t->running = 0.0;
    }
    if (avg_loss)
        *avg_loss = done ? running / done : 0.0;
    if (batches_done)
        *batches_done = done;
    return st;
}

/* The evaluation loop on either the plain model forward (e == NULL) or the
 * engine's threaded one. */
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
