/* mt_nettrain: mt_train's epoch and evaluation loops and mt_ckpt's state
 * files for the layer-list models (mt_net).  The step itself (threads,
 * determinism) is mt_net_step's. */
#include "mt_nettrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

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
    r.net = net, r.opt = opt, r.k = k, r.pool = pool, r.n = n, r.batch_size = batch_size;
    r.shuffle = 1;
    r.dropout_seed = dropout_seed;
    mt_rng_seed(&r.rng, shuffle_seed);
    r.perm = malloc((n ? n : 1) * sizeof *r.perm);
    r.labels = malloc((size_t)batch_size);
    r.x = malloc((size_t)batch_size * in_pixels(net) * sizeof *r.x);
    if (!r.perm || !r.labels || !r.x) {
        st = mt_errf(err, MT_ENOMEM, "trainer: out of memory for %u samples", (unsigned)n);
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        r.perm[i] = i;
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
    free(t->perm);
    free(t->labels);
    free(t->x);
    mt_net_work_free(t->work);
    memset(t, 0, sizeof *t);
}

mt_status mt_net_train_epoch(mt_net_trainer *t, const mt_dataset *ds, int epoch, mt_batch_fn on_batch,
                             void *user, volatile sig_atomic_t *stop, double *avg_loss,
                             int *batches_done, mt_err *err)
{
    const int bs = t->batch_size;
    const uint32_t n = ds->n < t->n ? ds->n : t->n;
    const int n_batches = (int)((n + (uint32_t)bs - 1) / (uint32_t)bs);
    double running = 0.0, t0 = now();
    int done = 0, b0 = 0;
    mt_status st = MT_OK;
    if ((size_t)ds->rows * ds->cols != in_pixels(t->net))
        return mt_errf(err, MT_EDATA, "%s: images of %ux%u, model '%s' takes %dx%d", ds->img_path,
                       ds->rows, ds->cols, t->net->model, t->net->in_h, t->net->in_w);
    if (t->in_epoch && t->next_batch > 0 && t->next_batch < n_batches) {
        b0 = done = t->next_batch; /* resume inside an epoch: its order is drawn */
        running = t->running;
    } else if (!t->in_epoch && t->shuffle) {
        mt_rng_shuffle(&t->rng, t->perm, n);
    }
    t->in_epoch = 1;
    t->next_batch = b0;
    t->running = running;
    for (int b = b0; b < n_batches; b++) {
        if (stop && *stop) {
            st = mt_errf(err, MT_EINTR, "interrupted at epoch %d, batch %d/%d", epoch, b, n_batches);
            break;
        }
        if (t->max_steps > 0 && t->opt->step >= t->max_steps)
            break;
        uint32_t i0 = (uint32_t)b * (uint32_t)bs;
        int B = (int)(n - i0 < (uint32_t)bs ? n - i0 : (uint32_t)bs);
        mt_dataset_gather(t->x, t->labels, ds, t->perm + i0, B, t->scale, t->shift, t->k);
        double sum = mt_net_step(t->net, t->work, t->pool, t->x, t->labels, B, t->dropout_seed,
                                 (uint64_t)t->opt->step, t->k);
        float loss = (float)(sum / B);
        if (!isfinite(loss)) {
            st = mt_errf(err, MT_EDIVERGED, "training diverged at epoch %d, batch %d: loss is %s", epoch, b, isnan(loss) ? "nan" : "inf");
            break;
        }
        mt_optim_step(t->opt, t->net->params, t->net->grads, t->k);
        running += loss;
        done = b + 1;
        t->next_batch = done;
        t->running = running;
        if (on_batch) {
            mt_batch_info info = { epoch, b, n_batches, B, loss, running, now() - t0 };
            on_batch(user, &info);
        }
    }
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

enum { S_M, S_V, S_STEP, S_EPOCH, S_IN, S_BATCH, S_LOSS, S_RNG, S_PERM, S_DSEED, N_STATE };
static const char *state_names[N_STATE] = {
    "optimizer.m", "optimizer.v", "optimizer.step", "train.epoch", "train.in_epoch", "train.batch",
    "train.loss_sum", "train.rng", "train.perm", "train.dropout_seed",
};

mt_status mt_net_save_state(const char *path, const mt_net_trainer *t, long long epochs_done,
                            const mt_st_meta *meta, size_t n_meta, mt_err *err)
{
    const mt_net *net = t->net;
    const mt_optim *o = t->opt;
    int nt = mt_net_n_tensors(net);
    mt_st_tensor *ts = calloc((size_t)nt + N_STATE, sizeof *ts);
    char (*names)[64] = calloc((size_t)nt + 1, sizeof *names);
    mt_status st;
    if (!ts || !names) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < nt; i++)
        mt_net_tensor(net, i, names[i], sizeof names[i], &ts[i]);
    long long step = o->step, in_epoch = t->in_epoch, batch = t->next_batch;
    double loss = t->running;
    size_t m = (size_t)nt;
#define ADD(id, dt, nd, s0, ptr) \
    ts[m++] = (mt_st_tensor){ .name = state_names[id], .dtype = dt, .ndim = nd, .shape = { s0 }, .data = ptr }
    if (o->m)
        ADD(S_M, MT_ST_F32, 1, o->n, o->m);
    if (o->v)
        ADD(S_V, MT_ST_F32, 1, o->n, o->v);
    ADD(S_STEP, MT_ST_I64, 1, 1, &step);
    ADD(S_EPOCH, MT_ST_I64, 1, 1, &epochs_done);
    ADD(S_IN, MT_ST_I64, 1, 1, &in_epoch);
    ADD(S_BATCH, MT_ST_I64, 1, 1, &batch);
    ADD(S_LOSS, MT_ST_F64, 1, 1, &loss);
    ADD(S_RNG, MT_ST_U64, 1, 4, t->rng.s);
    ADD(S_PERM, MT_ST_U32, 1, t->n, t->perm);
    ADD(S_DSEED, MT_ST_U64, 1, 1, &t->dropout_seed);
#undef ADD
    st = mt_st_write(path, ts, m, meta, n_meta, err);
done:
    free(ts);
    free(names);
    return st;
}

mt_status mt_net_restore_state(const mt_st *st, mt_net_trainer *t, long long *epochs_done, mt_err *err)
{
    mt_optim *o = t->opt;
    long long step, epoch, in_epoch, batch;
    double loss;
    uint64_t rng[4], dseed;
    size_t one = 1, four = 4, n = t->n, np = o->n;
    float *m = NULL, *v = NULL;
    uint32_t *perm = malloc((n ? n : 1) * sizeof *perm);
    mt_status s;
    if (!perm) {
        s = mt_errf(err, MT_ENOMEM, "%s: out of memory", st->path);
        goto done;
    }
    if ((o->m && !(m = malloc(np * sizeof *m))) || (o->v && !(v = malloc(np * sizeof *v)))) {
        s = mt_errf(err, MT_ENOMEM, "%s: out of memory", st->path);
        goto done;
    }
    if ((s = mt_st_get(st, state_names[S_STEP], MT_ST_I64, &one, 1, &step, err)) ||
        (s = mt_st_get(st, state_names[S_EPOCH], MT_ST_I64, &one, 1, &epoch, err)) ||
        (s = mt_st_get(st, state_names[S_IN], MT_ST_I64, &one, 1, &in_epoch, err)) ||
        (s = mt_st_get(st, state_names[S_BATCH], MT_ST_I64, &one, 1, &batch, err)) ||
        (s = mt_st_get(st, state_names[S_LOSS], MT_ST_F64, &one, 1, &loss, err)) ||
        (s = mt_st_get(st, state_names[S_RNG], MT_ST_U64, &four, 1, rng, err)) ||
        (s = mt_st_get(st, state_names[S_PERM], MT_ST_U32, &n, 1, perm, err)) ||
        (s = mt_st_get(st, state_names[S_DSEED], MT_ST_U64, &one, 1, &dseed, err)) ||
        (m && (s = mt_st_get_f32(st, state_names[S_M], &np, 1, m, err))) ||
        (v && (s = mt_st_get_f32(st, state_names[S_V], &np, 1, v, err))))
        goto done;
    /* consistency: a permutation, a position inside the epoch, a live PRNG */
    {
        uint8_t *seen = calloc(n ? n : 1, 1);
        int ok = seen != NULL;
        for (size_t i = 0; ok && i < n; i++)
            ok = perm[i] < n && !seen[perm[i]]++;
        free(seen);
        if (!ok || step < 0 || epoch < 0 || batch < 0 || (in_epoch != 0 && in_epoch != 1) ||
            (rng[0] | rng[1] | rng[2] | rng[3]) == 0 || !isfinite(loss)) {
            s = mt_errf(err, MT_EDATA, "%s: inconsistent training state (order, position, step or PRNG)",
                        st->path);
            goto done;
        }
        for (size_t i = 0; v && i < np; i++)
            if (!(v[i] >= 0.f) || !isfinite(m ? m[i] : 0.f)) {
                s = mt_errf(err, MT_EDATA, "%s: optimizer moments not finite or negative", st->path);
                goto done;
            }
    }
    /* the weights last: mt_net_load checks all before copying */
    if ((s = mt_net_load(t->net, st, err)))
        goto done;
    if (m)
        memcpy(o->m, m, np * sizeof *m);
    if (v)
        memcpy(o->v, v, np * sizeof *v);
    o->step = step;
    memcpy(t->rng.s, rng, sizeof rng);
    memcpy(t->perm, perm, n * sizeof *perm);
    t->in_epoch = (int)in_epoch, t->next_batch = (int)batch, t->running = loss;
    t->dropout_seed = dseed;
    *epochs_done = epoch;
done:
    free(perm), free(m), free(v);
    return s;
}
