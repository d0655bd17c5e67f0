/* mt_ckpt: model and training-state checkpoints on top of mt_st (safetensors).
 * It decides which tensors go in and checks what comes back against the
 * model; the file format itself (header, offsets, dtypes) is mt_st's job.
 * Tensor names follow PyTorch's state_dict and Adam's state names (exp_avg,
 * exp_avg_sq, momentum_buffer) so the files read naturally from Python. */
#include "mt_ckpt.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZE 65536 /* largest layer width accepted from a file */

/* ------------------------------------------------------------ loading */

static mt_status check_tensor(const mt_st *st, const char *name, int ndim, const mt_st_tensor **out,
                              mt_err *err)
{
    const mt_st_tensor *t = mt_st_find(st, name);
    if (!t)
        return mt_errf(err, MT_EDATA, "%s: tensor '%s' is missing", st->path, name);
    if (t->dtype != MT_ST_F32)
        return mt_errf(err, MT_EDATA, "%s: tensor '%s': dtype %s, expected F32", st->path, name,
                       mt_st_dtype_name(t->dtype));
    if (t->ndim != ndim)
        return mt_errf(err, MT_EDATA, "%s: tensor '%s': %d dimensions, expected %d", st->path, name,
                       t->ndim, ndim);
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] < 1 || t->shape[d] > MAX_SIZE)
            return mt_errf(err, MT_EDATA, "%s: tensor '%s': dimension %d is %zu, expected 1..%d", st->path,
                           name, d, t->shape[d], MAX_SIZE);
    *out = t;
    return MT_OK;
}

/* Parses a whole string as a finite double. */
static int parse_num(const char *s, double *v)
{
    char *end;
    if (!s || !*s)
        return 0;
    errno = 0;
    *v = strtod(s, &end);
    return *end == '\0' && errno == 0 && isfinite(*v);
}

/* Checks the model part of the loaded file c.st (owned: freed on failure). */
static mt_status from_st(mt_ckpt *out, mt_ckpt c, mt_err *err)
{
    mt_status st;
    const char *p = c.st.path;
    int L = 0;
    for (; L <= MT_MAX_LAYERS; L++) {
        char wn[32], bn[32];
        snprintf(wn, sizeof wn, "fc%d.weight", L + 1);
        snprintf(bn, sizeof bn, "fc%d.bias", L + 1);
        if (!mt_st_find(&c.st, wn) && !mt_st_find(&c.st, bn))
            break;
        if (L == MT_MAX_LAYERS) {
            st = mt_errf(err, MT_EDATA, "%s: more than %d layers (found '%s')", p, MT_MAX_LAYERS, wn);
            goto fail;
        }
        const mt_st_tensor *w, *b;
        if ((st = check_tensor(&c.st, wn, 2, &w, err)) || (st = check_tensor(&c.st, bn, 1, &b, err)))
            goto fail;
        if (L == 0)
            c.dims[0] = (int)w->shape[1];
        else if ((int)w->shape[1] != c.dims[L]) {
            st = mt_errf(err, MT_EDATA, "%s: tensor '%s': shape [%zu,%zu] does not take the %d outputs of fc%d",
                         p, wn, w->shape[0], w->shape[1], c.dims[L], L);
            goto fail;
        }
        if (b->shape[0] != w->shape[0]) {
            st = mt_errf(err, MT_EDATA, "%s: tensor '%s': shape [%zu], expected [%zu] to match '%s'", p, bn,
                         b->shape[0], w->shape[0], wn);
            goto fail;
        }
        c.dims[L + 1] = (int)w->shape[0];
        c.n_params += w->shape[0] * w->shape[1] + b->shape[0];
    }
    if (L == 0) {
        st = mt_errf(err, MT_EDATA, "%s: not a model checkpoint (tensor 'fc1.weight' is missing)", p);
        goto fail;
    }
    c.n_layers = L;
    /* a stray "fcN." beyond the chain means a layer went missing in between */
    for (size_t i = 0; i < c.st.n_tensors; i++) {
        const char *n = c.st.tensors[i].name;
        int k;
        char rest[16];
        if (sscanf(n, "fc%d.%15s", &k, rest) == 2 && (k < 1 || k > L)) {
            char en[MT_ESC_CAP];
            st = mt_errf(err, MT_EDATA, "%s: tensor '%s' does not fit the layers fc1..fc%d", p, mt_esc(en, n), L);
            goto fail;
        }
    }
    c.is_state = mt_st_find(&c.st, "train.epoch") != NULL;

    c.mean = 0.1307;
    c.std = 0.3081;
    const char *ms = mt_st_meta_get(&c.st, "norm_mean"), *ss = mt_st_meta_get(&c.st, "norm_std");
    if ((ms && !parse_num(ms, &c.mean)) || (ss && (!parse_num(ss, &c.std) || c.std <= 0))) {
        char em[MT_ESC_CAP], es[MT_ESC_CAP];
        st = mt_errf(err, MT_EDATA, "%s: metadata norm_mean/norm_std: expected numbers (std > 0), got '%s'/'%s'",
                     p, mt_esc(em, ms ? ms : ""), mt_esc(es, ss ? ss : ""));
        goto fail;
    }
    const char *is = mt_st_meta_get(&c.st, "input_shape");
    if (is) {
        int r = 0, q = 0, used = 0;
        if (sscanf(is, "%dx%d%n", &r, &q, &used) != 2 || is[used] != '\0' || r < 1 || q < 1 ||
            (long long)r * q != c.dims[0]) {
            char ei[MT_ESC_CAP];
            st = mt_errf(err, MT_EDATA, "%s: metadata input_shape '%s' does not match %d inputs", p, mt_esc(ei, is),
                         c.dims[0]);
            goto fail;
        }
        c.rows = r;
        c.cols = q;
    } else {
        int s = (int)lround(sqrt((double)c.dims[0]));
        if (s * s == c.dims[0])
            c.rows = c.cols = s;
    }
    *out = c;
    return MT_OK;
fail:
    mt_st_free(&c.st);
    return st;
}

mt_status mt_ckpt_load(const char *path, mt_ckpt *out, mt_err *err)
{
    mt_ckpt c = { 0 };
    mt_status st = mt_st_load(path, &c.st, err);
    return st ? st : from_st(out, c, err);
}

mt_status mt_ckpt_parse(const void *bytes, size_t n, const char *name, mt_ckpt *out, mt_err *err)
{
    mt_ckpt c = { 0 };
    mt_status st = mt_st_parse(bytes, n, name, &c.st, err);
    return st ? st : from_st(out, c, err);
}

void mt_ckpt_free(mt_ckpt *c)
{
    if (!c)
        return;
    mt_st_free(&c->st);
    memset(c, 0, sizeof *c);
}

const char *mt_ckpt_meta(const mt_ckpt *c, const char *key) { return mt_st_meta_get(&c->st, key); }

void mt_ckpt_arch(char *buf, size_t cap, const int *dims, int n_layers)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    for (int l = 0; l <= n_layers && len < cap; l++) {
        int w = snprintf(buf + len, cap - len, "%s%d", l ? "-" : "", dims[l]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

static void copy_weights(const mt_ckpt *c, mt_mlp *m)
{
    for (int i = 0; i < 2 * m->n_layers; i++) {
        int shape[2], nd;
        float *data;
        const char *name = mt_mlp_tensor(m, i, shape, &nd, &data);
        const mt_st_tensor *t = mt_st_find(&c->st, name);
        memcpy(data, t->data, t->nbytes); /* shapes checked by mt_ckpt_load + caller */
    }
}

mt_status mt_ckpt_model(const mt_ckpt *c, mt_mlp *m, mt_err *err)
{
    mt_rng r;
    mt_rng_seed(&r, 0); /* the initial values are overwritten */
    mt_mlp tmp = { 0 };
    mt_status st = mt_mlp_init(&tmp, c->dims, c->n_layers, &r, err);
    if (st)
        return st;
    copy_weights(c, &tmp);
    *m = tmp;
    return MT_OK;
}

static mt_status check_arch(const mt_ckpt *c, const mt_mlp *m, mt_err *err)
{
    if (c->n_layers != m->n_layers) {
        char fa[160], ma[160];
        mt_ckpt_arch(fa, sizeof fa, c->dims, c->n_layers);
        mt_ckpt_arch(ma, sizeof ma, m->dims, m->n_layers);
        return mt_errf(err, MT_EDATA, "%s: the file's model is %s (%d layers), this run's is %s (%d layers)",
                       c->st.path, fa, c->n_layers, ma, m->n_layers);
    }
    for (int i = 0; i < 2 * m->n_layers; i++) {
        int shape[2], nd;
        float *data;
        const char *name = mt_mlp_tensor(m, i, shape, &nd, &data);
        const mt_st_tensor *t = mt_st_find(&c->st, name);
        if (nd == 2 && (t->shape[0] != (size_t)shape[0] || t->shape[1] != (size_t)shape[1]))
            return mt_errf(err, MT_EDATA, "%s: tensor '%s': shape [%zu,%zu] in the file, the model needs [%d,%d]",
                           c->st.path, name, t->shape[0], t->shape[1], shape[0], shape[1]);
        if (nd == 1 && t->shape[0] != (size_t)shape[0])
            return mt_errf(err, MT_EDATA, "%s: tensor '%s': shape [%zu] in the file, the model needs [%d]",
                           c->st.path, name, t->shape[0], shape[0]);
    }
    return MT_OK;
}

mt_status mt_ckpt_weights(const mt_ckpt *c, mt_mlp *m, mt_err *err)
{
    mt_status st = check_arch(c, m, err);
    if (st)
        return st;
    copy_weights(c, m);
    return MT_OK;
}

/* ------------------------------------------------------ training state */

static const char *moment_names(mt_opt_kind kind, int j)
{
    if (kind == MT_OPT_SGD)
        return j == 0 ? "optimizer.momentum_buffer" : NULL;
    if (kind == MT_OPT_ADADELTA) /* torch.optim.Adadelta's state names */
        return j == 0 ? "optimizer.square_avg" : j == 1 ? "optimizer.acc_delta" : NULL;
    return j == 0 ? "optimizer.exp_avg" : j == 1 ? "optimizer.exp_avg_sq" : NULL;
}

mt_status mt_ckpt_restore(const mt_ckpt *c, mt_mlp *m, mt_optim *o, mt_trainer *t,
                          long long *epochs_done, mt_err *err)
{
    const mt_st *st = &c->st;
    const char *p = st->path;
    mt_status s;
    float *mom[2] = { NULL, NULL };
    mt_epoch_saved saved = { 0 };

    if (!c->is_state)
        return mt_errf(err, MT_EDATA, "%s: a model file, not a training state (no 'train.epoch')", p);
    if ((s = check_arch(c, m, err)))
        return s;
    /* the optimizer's moments, one tensor per parameter tensor */
    for (int j = 0; j < 2 && moment_names(o->kind, j); j++) {
        if (!(mom[j] = malloc((m->n_params ? m->n_params : 1) * sizeof(float)))) {
            s = mt_errf(err, MT_ENOMEM, "%s: out of memory", p);
            goto fail;
        }
        for (int i = 0; i < 2 * m->n_layers; i++) {
            int shape[2], nd;
            float *data;
            char name[96];
            const char *pn = mt_mlp_tensor(m, i, shape, &nd, &data);
            size_t sh[2] = { (size_t)shape[0], (size_t)shape[1] }, off = (size_t)(data - m->params);
            snprintf(name, sizeof name, "%s.%s", moment_names(o->kind, j), pn);
            if (!mt_st_find(st, name)) {
                s = mt_errf(err, MT_EDATA, "%s: tensor '%s' is missing (was the state written by another optimizer than %s?)",
                            p, name, mt_optim_name(o->kind));
                goto fail;
            }
            if ((s = mt_st_get_f32(st, name, sh, nd, mom[j] + off, err)))
                goto fail;
        }
        /* second moments, and both of Adadelta's running means of squares, are >= 0 */
        const int nonneg = j == 1 || o->kind == MT_OPT_ADADELTA;
        for (size_t i = 0; i < m->n_params; i++)
            if (!isfinite(mom[j][i]) || (nonneg && mom[j][i] < 0.f)) {
                s = mt_errf(err, MT_EDATA, "%s: inconsistent state: %s holds %s", p, moment_names(o->kind, j),
                            nonneg ? "a negative or non-finite second moment" : "a non-finite value");
                goto fail;
            }
    }
    if ((s = mt_epoch_read(&saved, &t->ep, st, err)))
        goto fail;

    /* everything checked: commit */
    copy_weights(c, m);
    if (mom[0])
        memcpy(o->m, mom[0], m->n_params * sizeof(float));
    if (mom[1] && o->v)
        memcpy(o->v, mom[1], m->n_params * sizeof(float));
    mt_epoch_commit(&t->ep, &saved, &o->step, epochs_done);
fail:
    free(mom[0]);
    free(mom[1]);
    mt_epoch_saved_free(&saved);
    return s;
}

/* ------------------------------------------------------------- saving */

/* Fills ts[0..2L) with the model's tensors; names are mt_mlp's. */
static size_t model_tensors(mt_st_tensor *ts, const mt_mlp *m)
{
    for (int i = 0; i < 2 * m->n_layers; i++) {
        int shape[2], nd;
        float *data;
        mt_st_tensor t = { 0 };
        t.name = mt_mlp_tensor(m, i, shape, &nd, &data);
        t.dtype = MT_ST_F32;
        t.ndim = nd;
        t.shape[0] = (size_t)shape[0];
        t.shape[1] = (size_t)shape[1];
        t.data = data;
        ts[i] = t;
    }
    return (size_t)(2 * m->n_layers);
}

static mt_status write_with_meta(const char *path, const mt_st_tensor *ts, size_t n_ts, const mt_mlp *m,
                                 const char *format, const mt_st_meta *meta, size_t n_meta, mt_err *err)
{
    char arch[160], archs[200];
    mt_ckpt_arch(arch, sizeof arch, m->dims, m->n_layers);
    snprintf(archs, sizeof archs, "mlp %s relu", arch);
    mt_st_meta *all = malloc((n_meta + 2) * sizeof *all);
    if (!all)
        return mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
    all[0] = (mt_st_meta){ "format", format };
    all[1] = (mt_st_meta){ "architecture", archs };
    if (n_meta)
        memcpy(all + 2, meta, n_meta * sizeof *meta);
    mt_status s = mt_st_write(path, ts, n_ts, all, n_meta + 2, err);
    free(all);
    return s;
}

mt_status mt_ckpt_save_model(const char *path, const mt_mlp *m, const mt_st_meta *meta,
                             size_t n_meta, mt_err *err)
{
    mt_st_tensor ts[2 * MT_MAX_LAYERS];
    size_t n = model_tensors(ts, m);
    return write_with_meta(path, ts, n, m, "mnist-train model", meta, n_meta, err);
}

mt_status mt_ckpt_save_state(const char *path, const mt_mlp *m, const mt_optim *o,
                             const mt_trainer *t, long long epochs_done,
                             const mt_st_meta *meta, size_t n_meta, mt_err *err)
{
    enum { MAXT = 2 * MT_MAX_LAYERS * 3 + 8 };
    mt_st_tensor ts[MAXT];
    char names[2][2 * MT_MAX_LAYERS][96];
    size_t n = model_tensors(ts, m), np = n;
    mt_epoch_keep keep;
    for (int j = 0; j < 2 && moment_names(o->kind, j); j++) {
        const float *blk = j == 0 ? o->m : o->v;
        for (size_t i = 0; i < np; i++) {
            mt_st_tensor x = ts[i];
            snprintf(names[j][i], sizeof names[j][i], "%s.%s", moment_names(o->kind, j), ts[i].name);
            x.name = names[j][i];
            x.data = blk + ((const float *)ts[i].data - m->params);
            ts[n++] = x;
        }
    }
    mt_epoch_tensors(ts + n, &keep, &t->ep, o->step, epochs_done);
    n += MT_EPOCH_N_TENSORS;
    return write_with_meta(path, ts, n, m, "mnist-train state", meta, n_meta, err);
}
