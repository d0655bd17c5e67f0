/* test_nettrain: the layer-list models' epoch loop, evaluation and state
 * files: a run stopped inside an epoch, saved and restored into fresh
 * objects continues to the same bits as an uninterrupted run (shuffling,
 * dropout streams, bn statistics and Adam state included), on 1 and 2
 * threads; evaluation agrees with predictions; with $MNIST_DATA, fastcnn
 * learns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt_nettrain.h"

enum { NS = 40, SIDE = 8, BS = 8 };
static uint8_t images[NS * SIDE * SIDE], labels[NS];

static mt_dataset synthetic(void)
{
    mt_rng r;
    mt_rng_seed(&r, 4);
    for (int i = 0; i < NS; i++) {
        labels[i] = (uint8_t)(i % 10);
        for (int p = 0; p < SIDE * SIDE; p++) /* a class-dependent blob plus noise */
            images[i * SIDE * SIDE + p] =
                (uint8_t)((p % 10 == labels[i] ? 200 : 0) + mt_rng_below(&r, 50));
    }
    mt_dataset ds = { .images = images, .labels = labels, .n = NS, .rows = SIDE, .cols = SIDE, .n_classes = 10 };
    return ds;
}

typedef struct {
    mt_net net;
    mt_optim opt;
    mt_pool *pool;
    mt_net_trainer tr;
} run;

static void run_init(run *r, int threads)
{
    mt_err err;
    mt_rng init;
    memset(r, 0, sizeof *r);
    assert_int_equal(mt_net_build(&r->net, "conv:4:3,bn,relu,maxpool,dropout:0.3,flatten,linear:10", NULL, 1,
                                  SIDE, SIDE, 10, &err), MT_OK);
    mt_rng_seed(&init, 1);
    mt_net_init(&r->net, &init);
    assert_int_equal(mt_optim_init(&r->opt, MT_OPT_ADAM, r->net.n_params, &err), MT_OK);
    mt_optim_defaults(&r->opt);
    r->opt.lr = 0.01f;
    assert_int_equal(mt_pool_create(&r->pool, threads, &err), MT_OK);
    assert_int_equal(mt_net_trainer_init(&r->tr, &r->net, &r->opt, mt_kern_ref(), r->pool, NS, BS, 7, 9, &err),
                     MT_OK);
    mt_norm_affine(&r->tr.scale, &r->tr.shift, 0.1307, 0.3081);
}

static void run_free(run *r)
{
    mt_net_trainer_free(&r->tr);
    mt_pool_free(r->pool);
    mt_optim_free(&r->opt);
    mt_net_free(&r->net);
}

static void test_resume_inside_an_epoch_is_bit_exact(void **state)
{
    (void)state;
    mt_dataset ds = synthetic();
    mt_err err;
    for (int threads = 1; threads <= 2; threads++) {
        run a, b, c;
        double loss;
        int done;
        run_init(&a, threads);
        for (int e = 1; e <= 2; e++)
            assert_int_equal(mt_net_train_epoch(&a.tr, &ds, e, NULL, NULL, NULL, &loss, &done, &err), MT_OK);
        /* b: stopped after 7 steps (epoch 2, batch 2), saved, restored into c */
        run_init(&b, threads);
        b.tr.ep.max_steps = 7;
        assert_int_equal(mt_net_train_epoch(&b.tr, &ds, 1, NULL, NULL, NULL, &loss, &done, &err), MT_OK);
        assert_int_equal(mt_net_train_epoch(&b.tr, &ds, 2, NULL, NULL, NULL, &loss, &done, &err), MT_OK);
        assert_int_equal(done, 2);
        char path[] = "/tmp/test_nettrain_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        mt_st_meta meta = { "model", b.net.model };
        assert_int_equal(mt_net_save_state(path, &b.tr, 1, &meta, 1, &err), MT_OK);
        run_init(&c, threads);
        mt_st st = { 0 };
        long long epochs = -1;
        assert_int_equal(mt_st_load(path, &st, &err), MT_OK);
        assert_int_equal(mt_net_restore_state(&st, &c.tr, &epochs, &err), MT_OK);
        mt_st_free(&st);
        unlink(path);
        assert_true(epochs == 1 && c.opt.step == 7 && c.tr.ep.in_epoch && c.tr.ep.next_batch == 2);
        assert_int_equal(mt_net_train_epoch(&c.tr, &ds, 2, NULL, NULL, NULL, &loss, &done, &err), MT_OK);
        assert_int_equal(done, NS / BS);
        assert_memory_equal(a.net.params, c.net.params, a.net.n_params * sizeof(float));
        assert_memory_equal(a.net.buffers, c.net.buffers, a.net.n_buffers * sizeof(float));
        assert_memory_equal(a.opt.v, c.opt.v, a.net.n_params * sizeof(float));
        assert_true(a.net.bn_batches == c.net.bn_batches && a.opt.step == c.opt.step);
        /* and it learned something: the loss went down from log(10) */
        print_message("epoch 2 mean loss %.4f\n", loss);
        assert_true(loss < 2.302); /* log(10): chance */
        run_free(&a), run_free(&b), run_free(&c);
    }
}

static void test_restore_rejects_another_model(void **state)
{
    (void)state;
    mt_dataset ds = synthetic();
    mt_err err;
    run a;
    run_init(&a, 1);
    double loss;
    int done;
    assert_int_equal(mt_net_train_epoch(&a.tr, &ds, 1, NULL, NULL, NULL, &loss, &done, &err), MT_OK);
    char path[] = "/tmp/test_nettrain_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(mt_net_save_state(path, &a.tr, 1, NULL, 0, &err), MT_OK);
    mt_net other = { 0 };
    mt_optim o = { 0 };
    mt_net_trainer t = { 0 };
    assert_int_equal(mt_net_build(&other, "flatten,linear:10", NULL, 1, SIDE, SIDE, 10, &err), MT_OK);
    assert_int_equal(mt_optim_init(&o, MT_OPT_ADAM, other.n_params, &err), MT_OK);
    assert_int_equal(mt_net_trainer_init(&t, &other, &o, mt_kern_ref(), NULL, NS, BS, 7, 9, &err), MT_OK);
    mt_st st = { 0 };
    long long epochs = -1;
    assert_int_equal(mt_st_load(path, &st, &err), MT_OK);
    assert_int_equal(mt_net_restore_state(&st, &t, &epochs, &err), MT_EDATA);
    assert_true(epochs == -1 && o.step == 0);
    mt_st_free(&st);
    unlink(path);
    mt_net_trainer_free(&t), mt_optim_free(&o), mt_net_free(&other);
    run_free(&a);
}

/* The position a state records must fit this run's epoch: the checks the
 * MLP's states have (mt_epoch_read), with nothing restored on failure. */
static void test_restore_checks_the_position(void **state)
{
    (void)state;
    mt_dataset ds = synthetic();
    mt_err err;
    run a, b;
    run_init(&a, 1);
    a.tr.ep.max_steps = 2; /* stop inside the epoch */
    double loss;
    int done;
    assert_int_equal(mt_net_train_epoch(&a.tr, &ds, 1, NULL, NULL, NULL, &loss, &done, &err), MT_OK);
    assert_true(a.tr.ep.in_epoch && a.tr.ep.next_batch == 2);
    char path[] = "/tmp/test_nettrain_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(mt_net_save_state(path, &a.tr, 0, NULL, 0, &err), MT_OK);
    static const struct { const char *tensor; int64_t value; const char *why; } bad[] = {
        { "train.batch", 1000, "train.batch is outside the epoch" },
        { "train.in_epoch", 2, "train.in_epoch is not 0 or 1" },
        { "optimizer.step", 1, "optimizer.step is smaller than the progress it records" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mt_st st = { 0 };
        assert_int_equal(mt_st_load(path, &st, &err), MT_OK);
        const mt_st_tensor *t = mt_st_find(&st, bad[i].tensor);
        assert_non_null(t);
        memcpy((void *)t->data, &bad[i].value, sizeof bad[i].value);
        run_init(&b, 1);
        long long epochs = -1;
        assert_int_equal(mt_net_restore_state(&st, &b.tr, &epochs, &err), MT_EDATA);
        if (!strstr(err.msg, bad[i].why))
            fail_msg("%s = %lld: '%s' lacks '%s'", bad[i].tensor, (long long)bad[i].value, err.msg, bad[i].why);
        assert_true(epochs == -1 && b.opt.step == 0 && !b.tr.ep.in_epoch);
        mt_st_free(&st);
        run_free(&b);
    }
    unlink(path);
    run_free(&a);
}

static void test_evaluate_agrees_with_predict(void **state)
{
    (void)state;
    mt_dataset ds = synthetic();
    mt_err err;
    run a;
    run_init(&a, 2);
    double loss;
    int done;
    assert_int_equal(mt_net_train_epoch(&a.tr, &ds, 1, NULL, NULL, NULL, &loss, &done, &err), MT_OK);
    mt_eval ev;
    uint8_t preds[NS];
    float probs[NS * 10];
    uint32_t conf[100] = { 0 };
    assert_int_equal(mt_net_evaluate(&a.net, a.tr.work, a.pool, mt_kern_ref(), &ds, BS, a.tr.scale, a.tr.shift,
                                     &ev, preds, probs, conf, &err), MT_OK);
    uint32_t diag = 0, total = 0;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++)
            total += conf[i * 10 + j], diag += i == j ? conf[i * 10 + j] : 0;
    assert_true(ev.total == NS && total == NS && diag == ev.correct);
    for (int i = 0; i < NS; i++) {
        float s = 0.f;
        for (int c = 0; c < 10; c++)
            s += probs[i * 10 + c], assert_true(probs[i * 10 + c] <= probs[i * 10 + preds[i]]);
        assert_true(s > 0.999f && s < 1.001f);
    }
    run_free(&a);
}

/* With real MNIST: fastcnn learns to > 90 % in one short epoch. */
static void test_fastcnn_learns_mnist(void **state)
{
    (void)state;
    const char *dir = getenv("MNIST_DATA");
    if (!dir || !*dir) {
        print_message("skipped: set MNIST_DATA to a folder with MNIST\n");
        skip();
    }
    mt_dataset tr = { 0 }, te = { 0 };
    mt_err err;
    if (mt_dataset_load(&tr, dir, "train", 10, 6000, &err) || mt_dataset_load(&te, dir, "t10k", 10, 2000, &err)) {
        print_message("skipped: %s\n", err.msg);
        skip();
    }
    const mt_kern *k = NULL;
    assert_int_equal(mt_kern_select(&k, MT_ISA_AUTO, &err), MT_OK);
    mt_net net = { 0 };
    mt_optim opt = { 0 };
    mt_pool *pool = NULL;
    mt_net_trainer t = { 0 };
    mt_rng init;
    mt_rng_seed(&init, 1);
    assert_int_equal(mt_net_build(&net, "fastcnn", NULL, 1, 28, 28, 10, &err), MT_OK);
    mt_net_init(&net, &init);
    assert_int_equal(mt_optim_init(&opt, MT_OPT_ADAM, net.n_params, &err), MT_OK);
    mt_optim_defaults(&opt);
    opt.lr = 2e-3f;
    assert_int_equal(mt_pool_create(&pool, 2, &err), MT_OK);
    assert_int_equal(mt_net_trainer_init(&t, &net, &opt, k, pool, tr.n, 64, 3, 4, &err), MT_OK);
    mt_norm_affine(&t.scale, &t.shift, 0.1307, 0.3081);
    double loss;
    int done;
    assert_int_equal(mt_net_train_epoch(&t, &tr, 1, NULL, NULL, NULL, &loss, &done, &err), MT_OK);
    mt_eval ev;
    assert_int_equal(mt_net_evaluate(&net, t.work, pool, k, &te, 64, t.scale, t.shift, &ev, NULL, NULL, NULL, &err),
                     MT_OK);
    print_message("fastcnn, 6000 samples, 1 epoch: test accuracy %.2f %%\n", 100.0 * ev.correct / ev.total);
    assert_true(ev.correct > 0.9 * ev.total);
    mt_net_trainer_free(&t), mt_pool_free(pool), mt_optim_free(&opt), mt_net_free(&net);
    mt_dataset_free(&tr), mt_dataset_free(&te);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_inside_an_epoch_is_bit_exact),
        cmocka_unit_test(test_restore_rejects_another_model),
        cmocka_unit_test(test_restore_checks_the_position),
        cmocka_unit_test(test_evaluate_agrees_with_predict),
        cmocka_unit_test(test_fastcnn_learns_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
