/* mt_epoch: the sample order, the position inside an epoch and the epoch
 * loop both trainers share, and the train.* tensors of their state files. */
#include "mt_epoch.h"

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

mt_status mt_epoch_init(mt_epoch *e, uint32_t n, int batch_size, uint64_t shuffle_seed, mt_err *err)
{
    mt_epoch r = { 0 };
    r.n = n;
    r.batch_size = batch_size;
    r.shuffle = 1;
    mt_rng_seed(&r.rng, shuffle_seed);
    if (!(r.perm = malloc((n ? n : 1) * sizeof *r.perm)))
        return mt_errf(err, MT_ENOMEM, "trainer: out of memory for %u samples", (unsigned)n);
    for (uint32_t i = 0; i < n; i++)
        r.perm[i] = i;
    *e = r;
    return MT_OK;
}

void mt_epoch_free(mt_epoch *e)
{
    if (!e)
        return;
    free(e->perm);
    memset(e, 0, sizeof *e);
}

mt_status mt_epoch_run(mt_epoch *e, uint32_t n_data, int epoch, const long long *step_count,
                       const mt_epoch_model *m, mt_batch_fn on_batch, void *user, volatile sig_atomic_t *stop,
                       double *avg_loss, int *batches_done, mt_err *err)
{
    const int bs = e->batch_size;
    const uint32_t n = n_data < e->n ? n_data : e->n;
    const int n_batches = (int)((n + (uint32_t)bs - 1) / (uint32_t)bs);
    double running = 0.0, t0 = now();
    int done = 0, b0 = 0;
    mt_status st = MT_OK;

    if (e->in_epoch && e->next_batch > 0 && e->next_batch < n_batches) {
        b0 = done = e->next_batch; /* resume inside an epoch: its order is drawn */
        running = e->running;
    } else if (!e->in_epoch && e->shuffle) {
        mt_rng_shuffle(&e->rng, e->perm, n);
    }
    e->in_epoch = 1;
    e->next_batch = b0;
    e->running = running;
    for (int b = b0; b < n_batches; b++) {
        if (stop && *stop) {
            st = mt_errf(err, MT_EINTR, "interrupted at epoch %d, batch %d/%d", epoch, b, n_batches);
            break;
        }
        if (e->max_steps > 0 && *step_count >= e->max_steps)
            break;
        const uint32_t i0 = (uint32_t)b * (uint32_t)bs, j0 = i0 + (uint32_t)bs;
        const int B = (int)(n - i0 < (uint32_t)bs ? n - i0 : (uint32_t)bs);
        const int B_next = b + 1 < n_batches ? (int)(n - j0 < (uint32_t)bs ? n - j0 : (uint32_t)bs) : 0;
        double sum = 0.0;
        m->step(m->ctx, e->perm + i0, B, B_next ? e->perm + j0 : NULL, B_next, &sum);
        float loss = (float)(sum / B);
        if (!isfinite(loss)) {
            st = mt_errf(err, MT_EDIVERGED, "training diverged at epoch %d, batch %d: loss is %s", epoch, b,
                         isnan(loss) ? "nan" : "inf");
            break;
        }
        if (m->update)
            m->update(m->ctx, B);
        running += loss;
        done = b + 1;
        e->next_batch = done;
        e->running = running;
        if (on_batch) {
            mt_batch_info info = { epoch, b, n_batches, B, loss, running, now() - t0 };
            on_batch(user, &info);
        }
    }
    if (done == n_batches) {
        e->in_epoch = 0;
        e->next_batch = 0;
        e->running = 0.0;
    }
    if (avg_loss)
        *avg_loss = done ? running / done : 0.0;
    if (batches_done)
        *batches_done = done;
    return st;
}

/* ---- state files ---------------------------------------------------------- */

void mt_epoch_tensors(mt_st_tensor *ts, mt_epoch_keep *keep, const mt_epoch *e, long long step,
                      long long epochs_done)
{
    *keep = (mt_epoch_keep){ step, epochs_done, e->in_epoch, e->next_batch, e->running };
    const struct { const char *name; mt_st_dtype dt; size_t len; const void *data; } t[MT_EPOCH_N_TENSORS] = {
        { "optimizer.step", MT_ST_I64, 1, &keep->step },
        { "train.epoch", MT_ST_I64, 1, &keep->epoch },
        { "train.in_epoch", MT_ST_I64, 1, &keep->in_epoch },
        { "train.batch", MT_ST_I64, 1, &keep->batch },
        { "train.loss_sum", MT_ST_F64, 1, &keep->loss_sum },
        { "train.rng", MT_ST_U64, 4, e->rng.s },
        { "train.perm", MT_ST_U32, e->n, e->perm },
    };
    for (int i = 0; i < MT_EPOCH_N_TENSORS; i++)
        ts[i] = (mt_st_tensor){ .name = t[i].name, .dtype = t[i].dt, .ndim = 1, .shape = { t[i].len },
                                .data = t[i].data };
}

static mt_status get_i64(const mt_st *st, const char *name, int64_t *v, mt_err *err)
{
    const size_t one = 1;
    return mt_st_get(st, name, MT_ST_I64, &one, 1, v, err);
}

mt_status mt_epoch_read(mt_epoch_saved *out, const mt_epoch *e, const mt_st *st, mt_err *err)
{
    const char *p = st->path;
    const size_t one = 1, four = 4, n = e->n;
    mt_epoch_saved s = { 0 };
    uint8_t *seen = NULL;
    mt_status r;
    if ((r = get_i64(st, "optimizer.step", &s.k.step, err)) || (r = get_i64(st, "train.epoch", &s.k.epoch, err)) ||
        (r = get_i64(st, "train.in_epoch", &s.k.in_epoch, err)) || (r = get_i64(st, "train.batch", &s.k.batch, err)) ||
        (r = mt_st_get(st, "train.loss_sum", MT_ST_F64, &one, 1, &s.k.loss_sum, err)) ||
        (r = mt_st_get(st, "train.rng", MT_ST_U64, &four, 1, s.rng.s, err)))
        return r;
    const mt_st_tensor *pt = mt_st_find(st, "train.perm");
    if (!pt)
        return mt_errf(err, MT_EDATA, "%s: tensor 'train.perm' is missing", p);
    if (pt->ndim != 1 || pt->shape[0] != n)
        return mt_errf(err, MT_EDATA, "%s: the state orders %zu training samples, this run has %zu "
                       "(the same training data and limit?)", p, pt->ndim == 1 ? pt->shape[0] : 0, n);
    s.perm = malloc((n ? n : 1) * sizeof *s.perm);
    seen = calloc(n ? n : 1, 1);
    if (!s.perm || !seen) {
        r = mt_errf(err, MT_ENOMEM, "%s: out of memory", p);
        goto fail;
    }
    if ((r = mt_st_get(st, "train.perm", MT_ST_U32, &n, 1, s.perm, err)))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (s.perm[i] >= n || seen[s.perm[i]]) {
            r = mt_errf(err, MT_EDATA, "%s: inconsistent state: train.perm is not a permutation of 0..%zu "
                        "(entry %zu is %u)", p, n ? n - 1 : 0, i, (unsigned)s.perm[i]);
            goto fail;
        }
        seen[s.perm[i]] = 1;
    }
    const long long n_batches = ((long long)n + e->batch_size - 1) / e->batch_size;
    const mt_epoch_keep *k = &s.k;
    const char *bad = NULL;
    if (k->epoch < 0 || k->epoch > 1000000000)
        bad = "train.epoch out of range";
    else if (k->step < 0 || k->step > (1LL << 53))
        bad = "optimizer.step out of range";
    else if (k->in_epoch != 0 && k->in_epoch != 1)
        bad = "train.in_epoch is not 0 or 1";
    else if (k->batch < 0 || (k->in_epoch ? k->batch >= n_batches : k->batch != 0))
        bad = "train.batch is outside the epoch";
    else if (!isfinite(k->loss_sum) || k->loss_sum < 0 || (k->batch == 0 && k->loss_sum != 0))
        bad = "train.loss_sum does not fit the position";
    else if (k->step < k->epoch + k->batch)
        bad = "optimizer.step is smaller than the progress it records";
    else if (!(s.rng.s[0] | s.rng.s[1] | s.rng.s[2] | s.rng.s[3]))
        bad = "train.rng is all zero";
    if (bad) {
        r = mt_errf(err, MT_EDATA, "%s: inconsistent state: %s", p, bad);
        goto fail;
    }
    free(seen);
    *out = s;
    return MT_OK;
fail:
    free(seen);
    free(s.perm);
    return r;
}

void mt_epoch_commit(mt_epoch *e, mt_epoch_saved *s, long long *step, long long *epochs_done)
{
    e->rng = s->rng;
    memcpy(e->perm, s->perm, e->n * sizeof *e->perm);
    e->in_epoch = (int)s->k.in_epoch;
    e->next_batch = (int)s->k.batch;
    e->running = s->k.loss_sum;
    *step = s->k.step;
    *epochs_done = s->k.epoch;
    mt_epoch_saved_free(s);
}

void mt_epoch_saved_free(mt_epoch_saved *s)
{
    free(s->perm);
    s->perm = NULL;
}
