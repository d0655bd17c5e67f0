/* mt_ckpt: model and state round trips, the architecture read back from the
 * shapes, exact resume at the library level, and a catalogue of checkpoints
 * that are valid safetensors but wrong for the model (missing tensor, wrong
 * shape or dtype, inconsistent state) -- each MT_EDATA, nothing written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>

#include "mt_ckpt.h"
#include "mt_data.h"
#include "test_util.h"

/* the group's folder holds a small data set */
static int setup(void **state)
{
    tu_group_setup(state);
    tu_make_dataset(tu_group_dir, "train", 300, 6, 6, 4, 3, 0);
    return 0;
}

/* A small trained setup: model 36-16-8-4, Adam, trainer on the data set. */
typedef struct fx {
    mt_dataset ds;
    mt_mlp m;
    mt_optim o;
    mt_trainer t;
} fx;

static void fx_init(fx *f, mt_opt_kind kind, int steps_epochs)
{
    mt_err err = { 0 };
    memset(f, 0, sizeof *f);
    assert_int_equal(mt_dataset_load(&f->ds, tu_group_dir, "train", 4, 0, &err), MT_OK);
    int dims[4] = { 36, 16, 8, 4 };
    mt_rng r;
    mt_rng_seed(&r, 5);
    assert_int_equal(mt_mlp_init(&f->m, dims, 3, &r, &err), MT_OK);
    assert_int_equal(mt_optim_init(&f->o, kind, f->m.n_params, &err), MT_OK);
    f->o.momentum = kind == MT_OPT_SGD ? 0.9f : 0.f;
    assert_int_equal(mt_trainer_init(&f->t, &f->m, &f->o, mt_kern_ref(), f->ds.n, 32, 77, &err), MT_OK);
    mt_norm_affine(&f->t.scale, &f->t.shift, 0.1307, 0.3081);
    for (int ep = 1; ep <= steps_epochs; ep++)
        assert_int_equal(mt_train_epoch(&f->t, &f->ds, ep, NULL, NULL, NULL, NULL, NULL, &err), MT_OK);
}

static void fx_free(fx *f)
{
    mt_trainer_free(&f->t);
    mt_optim_free(&f->o);
    mt_mlp_free(&f->m);
    mt_dataset_free(&f->ds);
}

static void path_of(char *p, size_t cap, const char *name) { tu_path(p, cap, tu_group_dir, name); }

static void test_ckpt_model_round_trip_and_architecture(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, MT_OPT_ADAM, 1);
    char p[512];
    mt_err err = { 0 };
    path_of(p, sizeof p, "model.safetensors");
    const mt_st_meta meta[] = { { "norm_mean", "0.5" }, { "norm_std", "0.25" }, { "input_shape", "6x6" } };
    assert_int_equal(mt_ckpt_save_model(p, &f.m, meta, 3, &err), MT_OK);
    mt_ckpt c = { 0 };
    assert_int_equal(mt_ckpt_load(p, &c, &err), MT_OK);
    assert_int_equal(c.is_state, 0);
    assert_int_equal(c.n_layers, 3);
    assert_int_equal(c.dims[0], 36);
    assert_int_equal(c.dims[1], 16);
    assert_int_equal(c.dims[2], 8);
    assert_int_equal(c.dims[3], 4);
    assert_int_equal(c.n_params, f.m.n_params);
    assert_true(c.mean == 0.5 && c.std == 0.25 && c.rows == 6 && c.cols == 6);
    assert_string_equal(mt_ckpt_meta(&c, "format"), "mnist-train model");
    assert_string_equal(mt_ckpt_meta(&c, "architecture"), "mlp 36-16-8-4 relu");
    assert_int_equal(c.st.n_tensors, 6);
    assert_string_equal(c.st.tensors[0].name, "fc1.weight");
    mt_mlp m2 = { 0 };
    assert_int_equal(mt_ckpt_model(&c, &m2, &err), MT_OK);
    assert_memory_equal(m2.params, f.m.params, f.m.n_params * sizeof(float));
    mt_ckpt_free(&c);
    mt_ckpt_free(&c); /* safe twice */
    mt_mlp_free(&m2);
    fx_free(&f);
}

static void test_ckpt_state_resumes_bit_exactly(void **state)
{
    (void)state;
    for (int kind = MT_OPT_ADAM; kind <= MT_OPT_ADADELTA; kind++) {
        for (int mid = 0; mid < 2; mid++) {
            fx a, b;
            mt_err err = { 0 };
            char p[512];
            path_of(p, sizeof p, "state.safetensors");
            fx_init(&a, (mt_opt_kind)kind, 2);
            if (mid) { /* stop inside epoch 3 after 4 batches */
                a.t.ep.max_steps = a.o.step + 4;
                assert_int_equal(mt_train_epoch(&a.t, &a.ds, 3, NULL, NULL, NULL, NULL, NULL, &err), MT_OK);
                assert_int_equal(a.t.ep.in_epoch, 1);
                assert_int_equal(a.t.ep.next_batch, 4);
                a.t.ep.max_steps = 0;
            }
            assert_int_equal(mt_ckpt_save_state(p, &a.m, &a.o, &a.t, 2, NULL, 0, &err), MT_OK);
            fx_init(&b, (mt_opt_kind)kind, 0); /* fresh: different weights, no progress */
            mt_ckpt c = { 0 };
            long long done = -1;
            assert_int_equal(mt_ckpt_load(p, &c, &err), MT_OK);
            assert_int_equal(c.is_state, 1);
            assert_int_equal(mt_ckpt_restore(&c, &b.m, &b.o, &b.t, &done, &err), MT_OK);
            mt_ckpt_free(&c);
            assert_int_equal(done, 2);
            assert_int_equal(b.o.step, a.o.step);
            assert_int_equal(b.t.ep.in_epoch, a.t.ep.in_epoch);
            assert_int_equal(b.t.ep.next_batch, a.t.ep.next_batch);
            assert_true(b.t.ep.running == a.t.ep.running);
            for (int ep = 3; ep <= 4; ep++) {
                double la, lb;
                assert_int_equal(mt_train_epoch(&a.t, &a.ds, ep, NULL, NULL, NULL, &la, NULL, &err), MT_OK);
                assert_int_equal(mt_train_epoch(&b.t, &b.ds, ep, NULL, NULL, NULL, &lb, NULL, &err), MT_OK);
                assert_true(la == lb);
            }
            assert_memory_equal(a.m.params, b.m.params, a.m.n_params * sizeof(float));
            assert_memory_equal(a.o.m, b.o.m, a.m.n_params * sizeof(float));
            if (kind != MT_OPT_SGD)
                assert_memory_equal(a.o.v, b.o.v, a.m.n_params * sizeof(float));
            assert_memory_equal(a.t.ep.perm, b.t.ep.perm, a.t.ep.n * sizeof(uint32_t));
            fx_free(&a);
            fx_free(&b);
        }
    }
}

/* ---- the catalogue: files mt_st accepts but the model must not */

#define MAXT 64
typedef struct tlist {
    mt_st_tensor t[MAXT];
    size_t n;
    mt_st_meta meta[4];
    size_t n_meta;
    void *bufs[MAXT];
} tlist;

/* Reads a saved state into an editable list (its own copies of the data). */
static void tl_load(tlist *l, const char *p)
{
    mt_st st = { 0 };
    mt_err err = { 0 };
    memset(l, 0, sizeof *l);
    assert_int_equal(mt_st_load(p, &st, &err), MT_OK);
    assert_true(st.n_tensors <= MAXT);
    for (size_t i = 0; i < st.n_tensors; i++) {
        l->t[i] = st.tensors[i];
        l->t[i].name = strdup(st.tensors[i].name);
        l->bufs[i] = malloc(st.tensors[i].nbytes + 1);
        memcpy(l->bufs[i], st.tensors[i].data, st.tensors[i].nbytes);
        l->t[i].data = l->bufs[i];
    }
    l->n = st.n_tensors;
    mt_st_free(&st);
}

static void tl_free(tlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((void *)l->t[i].name);
        free(l->bufs[i]);
    }
}

static mt_st_tensor *tl_find(tlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->t[i].name, name) == 0)
            return &l->t[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

static void tl_remove(tlist *l, const char *name)
{
    mt_st_tensor *t = tl_find(l, name);
    size_t i = (size_t)(t - l->t);
    free((void *)t->name);
    free(l->bufs[i]);
    memmove(&l->t[i], &l->t[i + 1], (l->n - i - 1) * sizeof *t);
    memmove(&l->bufs[i], &l->bufs[i + 1], (l->n - i - 1) * sizeof *l->bufs);
    l->n--;
}

/* Writes the list, then expects load (+ restore into a fresh fixture when
 * restore != 0) to fail with MT_EDATA and a message containing want. */
static void expect_bad(tlist *l, int restore, const char *want)
{
    char p[512];
    mt_err err = { 0 };
    path_of(p, sizeof p, "bad.safetensors");
    assert_int_equal(mt_st_write(p, l->t, l->n, l->meta, l->n_meta, &err), MT_OK);
    mt_ckpt c = { 0 };
    mt_status st = mt_ckpt_load(p, &c, &err);
    if (!st && restore) {
        fx b;
        fx_init(&b, MT_OPT_ADAM, 0);
        float w0 = b.m.params[0];
        long long done = -7;
        st = mt_ckpt_restore(&c, &b.m, &b.o, &b.t, &done, &err);
        assert_true(b.m.params[0] == w0 && done == -7 && b.o.step == 0); /* untouched */
        fx_free(&b);
    }
    mt_ckpt_free(&c);
    if (st != MT_EDATA || !strstr(err.msg, want) || !strstr(err.msg, p))
        fail_msg("wanted MT_EDATA with '%s', got %d '%s'", want, st, err.msg);
    assert_null(strchr(err.msg, '\n'));
}

static void saved_state(tlist *l)
{
    fx a;
    char p[512];
    mt_err err = { 0 };
    fx_init(&a, MT_OPT_ADAM, 1);
    path_of(p, sizeof p, "good.safetensors");
    assert_int_equal(mt_ckpt_save_state(p, &a.m, &a.o, &a.t, 1, NULL, 0, &err), MT_OK);
    fx_free(&a);
    tl_load(l, p);
}

static void test_ckpt_rejects_wrong_model_tensors(void **state)
{
    (void)state;
    tlist l;
    float big[64 * 36] = { 0 };
    double dbl[16 * 36] = { 0 };

    saved_state(&l); tl_remove(&l, "fc2.bias"); expect_bad(&l, 0, "'fc2.bias' is missing"); tl_free(&l);
    saved_state(&l); tl_remove(&l, "fc1.weight"); expect_bad(&l, 0, "'fc1.weight' is missing"); tl_free(&l);
    saved_state(&l); tl_remove(&l, "fc1.weight"); tl_remove(&l, "fc1.bias");
    expect_bad(&l, 0, "not a model checkpoint"); tl_free(&l);
    saved_state(&l); tl_remove(&l, "fc2.weight"); tl_remove(&l, "fc2.bias");
    expect_bad(&l, 0, "does not fit the layers fc1..fc1"); tl_free(&l);
    /* wrong shape: fc2 takes 12 inputs but fc1 gives 16 */
    saved_state(&l); { mt_st_tensor *t = tl_find(&l, "fc2.weight"); t->shape[1] = 12; t->data = big; }
    expect_bad(&l, 0, "does not take the 16 outputs of fc1"); tl_free(&l);
    saved_state(&l); { mt_st_tensor *t = tl_find(&l, "fc3.bias"); t->shape[0] = 3; }
    expect_bad(&l, 0, "'fc3.bias': shape [3], expected [4]"); tl_free(&l);
    saved_state(&l); { mt_st_tensor *t = tl_find(&l, "fc1.weight"); t->ndim = 3; t->shape[2] = 1; }
    expect_bad(&l, 0, "3 dimensions, expected 2"); tl_free(&l);
    /* wrong dtype */
    saved_state(&l); { mt_st_tensor *t = tl_find(&l, "fc1.weight"); t->dtype = MT_ST_F64; t->data = dbl; }
    expect_bad(&l, 0, "dtype F64, expected F32"); tl_free(&l);
    saved_state(&l); { mt_st_tensor *t = tl_find(&l, "fc1.bias"); t->dtype = MT_ST_F16; }
    expect_bad(&l, 0, "dtype F16"); tl_free(&l);
    /* bad metadata */
    saved_state(&l); l.meta[0] = (mt_st_meta){ "norm_std", "-1" }; l.n_meta = 1;
    expect_bad(&l, 0, "norm_std"); tl_free(&l);
    saved_state(&l); l.meta[0] = (mt_st_meta){ "input_shape", "28x28" }; l.n_meta = 1;
    expect_bad(&l, 0, "input_shape '28x28' does not match 36"); tl_free(&l);
}

static void put_i64(tlist *l, const char *name, int64_t v)
{
    memcpy(l->bufs[tl_find(l, name) - l->t], &v, sizeof v);
}

static void test_ckpt_rejects_inconsistent_state(void **state)
{
    (void)state;
    tlist l;
    saved_state(&l); tl_remove(&l, "optimizer.exp_avg_sq.fc2.weight");
    expect_bad(&l, 1, "'optimizer.exp_avg_sq.fc2.weight' is missing"); tl_free(&l);
    saved_state(&l); tl_find(&l, "optimizer.exp_avg.fc1.bias")->shape[0] = 8;
    expect_bad(&l, 1, "optimizer.exp_avg.fc1.bias"); tl_free(&l);
    saved_state(&l); tl_remove(&l, "train.rng"); expect_bad(&l, 1, "'train.rng'"); tl_free(&l);
    saved_state(&l); tl_find(&l, "optimizer.step")->dtype = MT_ST_U64;
    expect_bad(&l, 1, "optimizer.step"); tl_free(&l);
    saved_state(&l); { uint32_t *p = l.bufs[tl_find(&l, "train.perm") - l.t]; p[3] = p[4]; }
    expect_bad(&l, 1, "not a permutation"); tl_free(&l);
    saved_state(&l); { uint32_t *p = l.bufs[tl_find(&l, "train.perm") - l.t]; p[0] = 300; }
    expect_bad(&l, 1, "not a permutation"); tl_free(&l);
    saved_state(&l); tl_find(&l, "train.perm")->shape[0] = 200;
    expect_bad(&l, 1, "orders 200 training samples, this run has 300"); tl_free(&l);
    saved_state(&l); memset(l.bufs[tl_find(&l, "train.rng") - l.t], 0, 32);
    expect_bad(&l, 1, "train.rng is all zero"); tl_free(&l);
    saved_state(&l); put_i64(&l, "train.in_epoch", 1); put_i64(&l, "train.batch", 10);
    expect_bad(&l, 1, "train.batch is outside the epoch"); tl_free(&l);
    saved_state(&l); put_i64(&l, "train.batch", 2);
    expect_bad(&l, 1, "train.batch is outside the epoch"); tl_free(&l);
    saved_state(&l); put_i64(&l, "train.in_epoch", 2); expect_bad(&l, 1, "in_epoch"); tl_free(&l);
    saved_state(&l); put_i64(&l, "train.epoch", -1); expect_bad(&l, 1, "train.epoch out of range"); tl_free(&l);
    saved_state(&l); put_i64(&l, "optimizer.step", 0);
    expect_bad(&l, 1, "smaller than the progress"); tl_free(&l);
    saved_state(&l); ((float *)l.bufs[tl_find(&l, "optimizer.exp_avg_sq.fc3.weight") - l.t])[5] = -1.f;
    expect_bad(&l, 1, "negative or non-finite second moment"); tl_free(&l);
    saved_state(&l); ((float *)l.bufs[tl_find(&l, "optimizer.exp_avg.fc1.weight") - l.t])[0] = NAN;
    expect_bad(&l, 1, "non-finite"); tl_free(&l);
    saved_state(&l); { double nanv = NAN; memcpy(l.bufs[tl_find(&l, "train.loss_sum") - l.t], &nanv, 8); }
    expect_bad(&l, 1, "train.loss_sum"); tl_free(&l);
    /* a model file is not a state */
    saved_state(&l); tl_remove(&l, "train.epoch"); expect_bad(&l, 1, "not a training state"); tl_free(&l);
}

static void test_ckpt_weights_checks_the_model_shape(void **state)
{
    (void)state;
    fx a;
    fx_init(&a, MT_OPT_ADAM, 0);
    char p[512];
    mt_err err = { 0 };
    path_of(p, sizeof p, "m.safetensors");
    assert_int_equal(mt_ckpt_save_model(p, &a.m, NULL, 0, &err), MT_OK);
    mt_ckpt c = { 0 };
    assert_int_equal(mt_ckpt_load(p, &c, &err), MT_OK);
    mt_rng r;
    mt_rng_seed(&r, 1);
    int d1[4] = { 36, 12, 8, 4 }, d2[3] = { 36, 16, 4 };
    mt_mlp m1 = { 0 }, m2 = { 0 };
    assert_int_equal(mt_mlp_init(&m1, d1, 3, &r, &err), MT_OK);
    assert_int_equal(mt_mlp_init(&m2, d2, 2, &r, &err), MT_OK);
    float w0 = m1.params[0];
    assert_int_equal(mt_ckpt_weights(&c, &m1, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "'fc1.weight': shape [16,36] in the file, the model needs [12,36]"));
    assert_true(m1.params[0] == w0);
    assert_int_equal(mt_ckpt_weights(&c, &m2, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "36-16-8-4 (3 layers), this run's is 36-16-4 (2 layers)"));
    /* a model file cannot be restored as a state */
    long long done;
    assert_int_equal(mt_ckpt_restore(&c, &a.m, &a.o, &a.t, &done, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "not a training state"));
    mt_ckpt_free(&c);
    /* unwritable target: MT_EIO, nothing left behind */
    assert_int_equal(mt_ckpt_save_model("/nonexistent-dir/x.safetensors", &a.m, NULL, 0, &err), MT_EIO);
    mt_mlp_free(&m1);
    mt_mlp_free(&m2);
    fx_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckpt_model_round_trip_and_architecture),
        cmocka_unit_test(test_ckpt_state_resumes_bit_exactly),
        cmocka_unit_test(test_ckpt_rejects_wrong_model_tensors),
        cmocka_unit_test(test_ckpt_rejects_inconsistent_state),
        cmocka_unit_test(test_ckpt_weights_checks_the_model_shape),
    };
    return cmocka_run_group_tests(tests, setup, tu_group_teardown);
}
