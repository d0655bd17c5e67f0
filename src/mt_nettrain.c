/* mt_nettrain: mt_train's epoch and evaluation loops and mt_ckpt's state
 * files for the layer-list models (mt_net).  The step itself (threads,
 * determinism) is mt_net_step's. */
#include "mt_nettrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t in_pixels(const mt_net *net)
{
    return (size_t)net->in_c * net->in_h * net->in_w;
}

mt_status mt_net_trainer_init(mt_net_trainer *t, mt_net *net, mt_optim *opt, const mt_kern *k,
                              mt_pool *pool, uint32_t n, int batch_size, uint64_t shuffle_seed,
                              uint64_t dropout_seed, mt_err *err)
{
    mt_status st;
    mt_net_trainer r = { 0 };
    r.net = net, r.opt = opt, r.k = k, r.pool = pool;
    r.dropout_seed = dropout_seed;
    if ((st = mt_epoch_init(&r.ep, n, batch_size, shuffle_seed, err)))
        return st;
    r.labels = malloc((size_t)batch_size);
    r.x = malloc((size_t)batch_size * in_pixels(net) * sizeof *r.x);
    if (!r.labels || !r.x) {
        st = mt_errf(err, MT_ENOMEM, "trainer: out of memory for %u samples", (unsigned)n);
        goto fail;
    }
    if ((st = mt_net_work_create(&r.work, net, batch_size, pool ? mt_pool_threads(pool) : 1, err)))
        goto fail;
    *t = r;
    return MT_OK;
fail:
    mt_net_trainer_free(&r);
    return st;
}

void mt_net_trainer_free(mt_net_trainer *t)
{
    if (!t)
        return;
    mt_epoch_free(&t->ep);
    free(t->labels);
    free(t->x);
    mt_net_work_free(t->work);
    memset(t, 0, sizeof *t);
}

typedef struct {
    mt_net_trainer *t;
    const mt_dataset *ds;
} step_ctx;

/* Gather, then forward and backward on the pool (gradients, bn statistics). */
static void net_step(void *ctx, const uint32_t *idx, int B, const uint32_t *next, int B_next, double *sum)
{
    mt_net_trainer *t = ((step_ctx *)ctx)->t;
    (void)next, (void)B_next;
    mt_dataset_gather(t->x, t->labels, ((step_ctx *)ctx)->ds, idx, B, t->scale, t->shift, t->k);
    *sum = mt_net_step(t->net, t->work, t->pool, t->x, t->labels, B, t->dropout_seed, (uint64_t)t->opt->step, t->k);
}

static void net_update(void *ctx, int B)
{
    mt_net_trainer *t = ((step_ctx *)ctx)->t;
    (void)B;
    mt_optim_step(t->opt, t->net->params, t->net->grads, t->k);
}

mt_status mt_net_train_epoch(mt_net_trainer *t, const mt_dataset *ds, int epoch, mt_batch_fn on_batch,
                             void *user, volatile sig_atomic_t *stop, double *avg_loss,
                             int *batches_done, mt_err *err)
{
    if ((size_t)ds->rows * ds->cols != in_pixels(t->net))
        return mt_errf(err, MT_EDATA, "%s: images of %ux%u, model '%s' takes %dx%d", ds->img_path,
                       ds->rows, ds->cols, t->net->model, t->net->in_h, t->net->in_w);
    step_ctx c = { t, ds };
    const mt_epoch_model m = { net_step, net_update, &c };
    return mt_epoch_run(&t->ep, ds->n, epoch, &t->opt->step, &m, on_batch, user, stop, avg_loss, batches_done, err);
}

mt_status mt_net_evaluate(const mt_net *net, mt_net_work *w, mt_pool *pool, const mt_kern *k,
                          const mt_dataset *ds, int batch_size, float scale, float shift, mt_eval *out,
                          uint8_t *preds, float *probs, uint32_t *confusion, mt_err *err)
{
    const int K = net->n_classes;
    const size_t px = in_pixels(net);
    mt_status st = MT_OK;
    if ((size_t)ds->rows * ds->cols != px)
        return mt_errf(err, MT_EDATA, "%s: images of %ux%u, model '%s' takes %dx%d", ds->img_path,
                       ds->rows, ds->cols, net->model, net->in_h, net->in_w);
    uint32_t *idx = malloc((size_t)batch_size * sizeof *idx);
    uint8_t *y = malloc((size_t)batch_size);
    float *x = malloc((size_t)batch_size * px * sizeof *x);
    float *logits = malloc((size_t)batch_size * K * sizeof *logits);
    float *d = malloc((size_t)batch_size * K * sizeof *d);
    double loss_sum = 0.0;
    uint32_t correct = 0;
    if (!idx || !y || !x || !logits || !d) {
        st = mt_errf(err, MT_ENOMEM, "evaluate: out of memory");
        goto done;
    }
    for (uint32_t i0 = 0; i0 < ds->n; i0 += (uint32_t)batch_size) {
        int B = (int)(ds->n - i0 < (uint32_t)batch_size ? ds->n - i0 : (uint32_t)batch_size);
        for (int i = 0; i < B; i++)
            idx[i] = i0 + (uint32_t)i;
        mt_dataset_gather(x, y, ds, idx, B, scale, shift, k);
        mt_net_predict(net, w, pool, x, (size_t)B, logits, k);
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
        /* softmax - onehot with dscale 1 also yields the probabilities */
        loss_sum += k->softmax_xent(d, NULL, logits, y, B, K, 1.0f);
        if (probs)
            for (int i = 0; i < B; i++)
                for (int c = 0; c < K; c++)
                    probs[(size_t)(i0 + i) * K + c] = d[(size_t)i * K + c] + (c == y[i] ? 1.f : 0.f);
    }
    out->loss = ds->n ? loss_sum / ds->n : 0.0;
    out->correct = correct;
    out->total = ds->n;
done:
    free(idx), free(y), free(x), free(logits), free(d);
    return st;
}

/* ======================================================================== */
/* State files                                                               */
/* ======================================================================== */

/* The optimizer's two flat blocks (Adam's moments, SGD's momentum in m,
 * Adadelta's running means) and the net's own dropout stream; mt_epoch
 * adds the order and position. */
static const char *const M_NAME = "optimizer.m", *const V_NAME = "optimizer.v", *const DSEED_NAME = "train.dropout_seed";

mt_status mt_net_save_state(const char *path, const mt_net_trainer *t, long long epochs_done,
                            const mt_st_meta *meta, size_t n_meta, mt_err *err)
{
    const mt_net *net = t->net;
    const mt_optim *o = t->opt;
    int nt = mt_net_n_tensors(net);
    mt_st_tensor *ts = calloc((size_t)nt + 3 + MT_EPOCH_N_TENSORS, sizeof *ts);
    char (*names)[64] = calloc((size_t)nt + 1, sizeof *names);
    mt_epoch_keep keep;
    mt_status st;
    if (!ts || !names) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < nt; i++)
        mt_net_tensor(net, i, names[i], sizeof names[i], &ts[i]);
    size_t m = (size_t)nt;
    if (o->m)
        ts[m++] = (mt_st_tensor){ .name = M_NAME, .dtype = MT_ST_F32, .ndim = 1, .shape = { o->n }, .data = o->m };
    if (o->v)
        ts[m++] = (mt_st_tensor){ .name = V_NAME, .dtype = MT_ST_F32, .ndim = 1, .shape = { o->n }, .data = o->v };
    ts[m++] = (mt_st_tensor){ .name = DSEED_NAME, .dtype = MT_ST_U64, .ndim = 1, .shape = { 1 },
                              .data = &t->dropout_seed };
    mt_epoch_tensors(ts + m, &keep, &t->ep, o->step, epochs_done);
    m += MT_EPOCH_N_TENSORS;
    st = mt_st_write(path, ts, m, meta, n_meta, err);
done:
    free(ts);
    free(names);
    return st;
}

mt_status mt_net_restore_state(const mt_st *st, mt_net_trainer *t, long long *epochs_done, mt_err *err)
{
    mt_optim *o = t->opt;
    uint64_t dseed;
    size_t one = 1, np = o->n;
    float *m = NULL, *v = NULL;
    mt_epoch_saved saved = { 0 };
    mt_status s;
    if ((o->m && !(m = malloc(np * sizeof *m))) || (o->v && !(v = malloc(np * sizeof *v)))) {
        s = mt_errf(err, MT_ENOMEM, "%s: out of memory", st->path);
        goto done;
    }
    if ((s = mt_epoch_read(&saved, &t->ep, st, err)) ||
        (s = mt_st_get(st, DSEED_NAME, MT_ST_U64, &one, 1, &dseed, err)) ||
        (m && (s = mt_st_get_f32(st, M_NAME, &np, 1, m, err))) ||
        (v && (s = mt_st_get_f32(st, V_NAME, &np, 1, v, err))))
        goto done;
    for (size_t i = 0; v && i < np; i++)
        if (!(v[i] >= 0.f) || !isfinite(m ? m[i] : 0.f)) {
            s = mt_errf(err, MT_EDATA, "%s: optimizer moments not finite or negative", st->path);
            goto done;
        }
    /* the weights last: mt_net_load checks all before copying */
    if ((s = mt_net_load(t->net, st, err)))
        goto done;
    if (m)
        memcpy(o->m, m, np * sizeof *m);
    if (v)
        memcpy(o->v, v, np * sizeof *v);
    t->dropout_seed = dseed;
    mt_epoch_commit(&t->ep, &saved, &o->step, epochs_done);
done:
    mt_epoch_saved_free(&saved);
    free(m), free(v);
    return s;
}
