/* test_engine: the threaded step is deterministic (bit-identical losses and
 * weights for 1, 2 and 3 threads, and from run to run) for both first-layer
 * paths and every runnable ISA; it computes the same training as the plain
 * single-threaded path up to rounding; the dense/sparse choice follows the
 * batch density; evaluation on the engine matches mt_evaluate; gradient
 * clipping and augmentation keep the thread-count invariance. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "mt_data.h"
#include "mt_engine.h"
#include "mt_train.h"

#define N_TRAIN 500 /* 7 full batches of 64 and one of 52 */
#define SIDE 28

static uint8_t images[N_TRAIN * SIDE * SIDE], labels[N_TRAIN];

/* Options train() gives the engine: gradient clipping and augmentation; the
 * model's shape (default: the seed's 784-128-64-10); and the epochs. */
static float g_clip;
static float g_ls; /* label smoothing */
static int g_epochs = 2;
static const mt_augment *g_aug;
static int g_dims[MT_MAX_LAYERS + 1] = { SIDE * SIDE, 128, 64, 10 }, g_layers = 3;

/* Learnable, MNIST-like data: a class-dependent bar on a blank background,
 * ~85 % zero pixels, plus sparse noise. */
static void make_data(mt_dataset *ds, int dense_noise)
{
    uint64_t s = 12345;
    for (int i = 0; i < N_TRAIN; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int c = (int)((s >> 33) % 10);
        labels[i] = (uint8_t)c;
        uint8_t *p = images + (size_t)i * SIDE * SIDE;
        memset(p, 0, SIDE * SIDE);
        for (int r = 4 + c * 2; r < 8 + c * 2; r++)
            for (int q = 4; q < 24; q++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                p[r * SIDE + q] = (uint8_t)(128 + (s >> 57));
            }
        for (int j = 0; j < SIDE * SIDE; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            if ((s >> 40) % 100 < (uint64_t)(dense_noise ? 70 : 3))
                p[j] = (uint8_t)(1 + (s >> 58));
        }
    }
    memset(ds, 0, sizeof *ds);
    ds->images = images;
    ds->labels = labels;
    ds->n = N_TRAIN;
    ds->rows = ds->cols = SIDE;
    ds->n_classes = 10;
}

/* The kernels the program would pick on this CPU. */
static const mt_kern *auto_kern(void)
{
    const mt_kern *k = NULL;
    mt_err err = { 0 };
    assert_int_equal(mt_kern_select(&k, MT_ISA_AUTO, &err), MT_OK);
    return k;
}

typedef struct {
    float *params; /* final weights (caller frees) */
    size_t n;
    double losses[64];
    int n_losses;
    long long dense, sparse;
} run_out;

static void record_loss(void *user, const mt_batch_info *b)
{
    run_out *o = user;
    if (o->n_losses < 64)
        o->losses[o->n_losses++] = b->loss;
}

/* g_epochs epochs; engine with T threads (T == 0: the plain path, no engine). */
static run_out train(const mt_dataset *ds, const mt_kern *k, int T, mt_path path, mt_opt_kind opt_kind)
{
    run_out out = { 0 };
    mt_mlp m = { 0 };
    mt_optim o = { 0 };
    mt_trainer t = { 0 };
    mt_engine *e = NULL;
    mt_err err = { 0 };
    mt_rng r;
    mt_rng_seed(&r, 7);
    assert_int_equal(mt_mlp_init(&m, g_dims, g_layers, &r, &err), MT_OK);
    assert_int_equal(mt_optim_init(&o, opt_kind, m.n_params, &err), MT_OK);
    mt_optim_defaults(&o);
    o.lr = opt_kind == MT_OPT_SGD ? 0.05f : opt_kind == MT_OPT_ADADELTA ? 1.0f : 2e-3f;
    o.momentum = 0.9f;
    o.weight_decay = opt_kind == MT_OPT_ADAM ? 0.f : 1e-3f;
    assert_int_equal(mt_trainer_init(&t, &m, &o, k, ds->n, 64, 99, &err), MT_OK);
    mt_norm_affine(&t.scale, &t.shift, 0.1307, 0.3081);
    t.label_smoothing = g_ls;
    if (T > 0) {
        assert_int_equal(mt_engine_create(&e, &m, k, T, path, 64, &err), MT_OK);
        mt_engine_set_clip(e, g_clip);
        mt_engine_set_label_smoothing(e, g_ls);
        assert_int_equal(mt_engine_set_augment(e, g_aug, SIDE, SIDE, 5, &err), MT_OK);
        t.engine = e;
    }
    for (int ep = 1; ep <= g_epochs; ep++) {
        double avg;
        int done;
        assert_int_equal(mt_train_epoch(&t, ds, ep, record_loss, &out, NULL, &avg, &done, &err), MT_OK);
    }
    if (e)
        mt_engine_path_counts(e, &out.dense, &out.sparse);
    out.n = m.n_params;
    out.params = malloc(m.n_params * sizeof(float));
    assert_non_null(out.params);
    memcpy(out.params, m.params, m.n_params * sizeof(float));
    mt_engine_free(e);
    mt_trainer_free(&t);
    mt_optim_free(&o);
    mt_mlp_free(&m);
    return out;
}

static void assert_same_bits(const run_out *a, const run_out *b)
{
    assert_int_equal(a->n_losses, b->n_losses);
    assert_memory_equal(a->losses, b->losses, (size_t)a->n_losses * sizeof a->losses[0]);
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->params, b->params, a->n * sizeof(float));
}

static void test_threads_give_bit_identical_training(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    mt_kern_variant v[8];
    int nv = mt_kern_variants(v, 8);
    const mt_opt_kind kinds[] = { MT_OPT_ADAM, MT_OPT_ADAMW, MT_OPT_SGD, MT_OPT_ADADELTA };
    for (int vi = 0; vi < nv; vi++) {
        if (!v[vi].runnable) {
            print_message("skipped: %s (this CPU cannot run it)\n", v[vi].k->name);
            continue;
        }
        for (int p = MT_PATH_DENSE; p <= MT_PATH_SPARSE; p++)
            for (int ki = 0; ki < 4; ki++) {
                if (ki > 0 && p == MT_PATH_DENSE)
                    continue;
                run_out r1 = train(&ds, v[vi].k, 1, (mt_path)p, kinds[ki]);
                run_out r1b = train(&ds, v[vi].k, 1, (mt_path)p, kinds[ki]);
                run_out r2 = train(&ds, v[vi].k, 2, (mt_path)p, kinds[ki]);
                run_out r3 = train(&ds, v[vi].k, 3, (mt_path)p, kinds[ki]);
                assert_int_equal(r1.n_losses, 16);
                assert_same_bits(&r1, &r1b); /* run to run */
                assert_same_bits(&r1, &r2);  /* 1 vs 2 threads */
                assert_same_bits(&r1, &r3);  /* 1 vs 3 threads (ragged splits) */
                assert_true(r1.losses[15] < r1.losses[0]);
                free(r1.params), free(r1b.params), free(r2.params), free(r3.params);
            }
    }
}

/* Past the engine's second thread-count probe (steps 1024-1039 when all
 * threads won the first, sooner when one did: 8 on one thread, then 8 on
 * all), so a two-thread run has switched from all threads to one and back
 * at least once after its first probe, within an epoch: the
 * threads that sat out must pick up the layers above where thread 0 left
 * them. */
static void test_threads_switching_keep_bits(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    /* epochs of 5 steps, so one runs from step 1030 to 1034 (each epoch's
     * start re-syncs the engine, which would hide a stale copy) */
    mt_dataset part = mt_dataset_slice(&ds, 0, 300);
    g_epochs = 210; /* 1050 steps */
    run_out r1 = train(&part, k, 1, MT_PATH_SPARSE, MT_OPT_ADAM);
    run_out r2 = train(&part, k, 2, MT_PATH_SPARSE, MT_OPT_ADAM);
    g_epochs = 2;
    assert_same_bits(&r1, &r2);
    free(r1.params), free(r2.params);
}

/* Runs one probe of p from step p->at with the given one-thread and
 * all-thread step times, one step of the faster mode preempted for a second
 * (the medians must ignore it); checks each step's mode; returns the step
 * after the probe. */
static long long run_probe(mt_probe *p, double one, double all)
{
    const long long at = p->at;
    for (int ph = 0; ph < 2 * MT_PROBE_LEN; ph++) {
        int timed, mode = mt_probe_mode(p, at + ph, &timed);
        assert_true(timed);
        assert_int_equal(mode, ph >= MT_PROBE_LEN);
        double t = mode ? all : one;
        mt_probe_record(p, at + ph, ph % MT_PROBE_LEN == 3 && t == (one < all ? one : all) ? t + 1.0 : t);
    }
    return at + 2 * MT_PROBE_LEN;
}

/* Steps [from, to) run untimed in mode `all`. */
static void assert_stretch(const mt_probe *p, long long from, long long to, int all)
{
    for (long long s = from; s < to; s++) {
        int timed, mode = mt_probe_mode(p, s, &timed);
        if (timed || mode != all) {
            print_error("step %lld: mode %d timed %d, expected mode %d untimed\n", s, mode, timed, all);
            fail();
        }
    }
}

/* The thread-count probe: all threads from the start until the first probe
 * decides; the winner runs until the next probe, MT_PROBE_EVERY steps on
 * when all threads won, MT_PROBE_SOON, then twice that, ... when one did. */
static void test_probe_schedule(void **state)
{
    (void)state;
    mt_probe p;
    mt_probe_init(&p);
    long long s = run_probe(&p, 2e-3, 1e-3); /* two threads twice as fast */
    assert_int_equal(p.at, MT_PROBE_EVERY);
    assert_stretch(&p, s, p.at, 1);
    s = run_probe(&p, 1e-3, 3e-3); /* the second vCPU busy: one thread, and a look again soon */
    assert_int_equal(p.at, MT_PROBE_EVERY + MT_PROBE_SOON);
    assert_stretch(&p, s, p.at, 0);
    long long at = p.at;
    s = run_probe(&p, 1e-3, 3e-3);
    assert_int_equal(p.at, at + 2 * MT_PROBE_SOON);
    assert_stretch(&p, s, p.at, 0);
    for (int i = 0; i < 8; i++) { /* the waits grow up to MT_PROBE_EVERY */
        at = p.at;
        s = run_probe(&p, 1e-3, 3e-3);
        assert_true(p.at - at <= MT_PROBE_EVERY);
    }
    assert_int_equal(p.at - at, MT_PROBE_EVERY);
    at = p.at;
    s = run_probe(&p, 2e-3, 1e-3); /* free again: all threads, and the waits start over */
    assert_int_equal(p.at, at + MT_PROBE_EVERY);
    assert_stretch(&p, s, p.at, 1);
    at = p.at;
    run_probe(&p, 1e-3, 3e-3);
    assert_int_equal(p.at, at + MT_PROBE_SOON);
}

/* The largest difference between two runs' final weights. */
static double max_param_diff(const run_out *a, const run_out *b)
{
    assert_int_equal(a->n, b->n);
    double maxd = 0.0;
    for (size_t i = 0; i < a->n; i++)
        maxd = fmax(maxd, fabs((double)a->params[i] - b->params[i]));
    return maxd;
}

/* The engine trains the same model as the plain path, up to rounding. */
static void test_engine_matches_plain_path(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    run_out ref = train(&ds, mt_kern_ref(), 0, MT_PATH_AUTO, MT_OPT_ADAM);
    for (int p = MT_PATH_DENSE; p <= MT_PATH_SPARSE; p++) {
        run_out e = train(&ds, k, 2, (mt_path)p, MT_OPT_ADAM);
        /* the first losses agree closely; later ones drift only by rounding */
        assert_true(fabs(e.losses[0] - ref.losses[0]) <= 1e-5 * fabs(ref.losses[0]));
        for (int i = 0; i < 16; i++)
            assert_true(fabs(e.losses[i] - ref.losses[i]) <= 2e-3 * fabs(ref.losses[i]) + 1e-4);
        assert_true(max_param_diff(&e, &ref) < 1e-3); /* Adam steps are ~2e-3: a wrong gradient shows at once */
        free(e.params);
    }
    free(ref.params);
}

/* Label smoothing: the engine trains as the plain path does (up to
 * rounding), bit-identically for 1, 2 and 3 threads, and differently from
 * training without it (the setting reaches the loss). */
static void test_label_smoothing_trains_as_plain_path(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    run_out plain = train(&ds, k, 2, MT_PATH_AUTO, MT_OPT_ADAM);
    g_ls = 0.1f;
    run_out ref = train(&ds, mt_kern_ref(), 0, MT_PATH_AUTO, MT_OPT_ADAM);
    run_out r1 = train(&ds, k, 1, MT_PATH_AUTO, MT_OPT_ADAM);
    run_out r2 = train(&ds, k, 2, MT_PATH_AUTO, MT_OPT_ADAM);
    run_out r3 = train(&ds, k, 3, MT_PATH_AUTO, MT_OPT_ADAM);
    g_ls = 0.f;
    assert_same_bits(&r1, &r2);
    assert_same_bits(&r1, &r3);
    assert_true(fabs(r2.losses[0] - ref.losses[0]) <= 1e-5 * fabs(ref.losses[0]));
    for (int i = 0; i < 16; i++)
        assert_true(fabs(r2.losses[i] - ref.losses[i]) <= 2e-3 * fabs(ref.losses[i]) + 1e-4);
    assert_true(max_param_diff(&r2, &ref) < 1e-3);
    /* the smoothed loss is larger from the first batch on: at near-uniform
     * first outputs both are ~log 10, the smoothed one adds 0.1 (mean - nll) */
    assert_true(r2.losses[0] != plain.losses[0]);
    assert_true(max_param_diff(&r2, &plain) > 1e-6);
    free(plain.params), free(ref.params), free(r1.params), free(r2.params), free(r3.params);
}

/* Other shapes: hidden layers that are not whole 64-unit groups (segments of
 * 64 and 36, or 128 and 72 units), four layers, and a single layer (whose
 * outputs are the logits): bit-identical for 1, 2 and 3 threads, and the
 * same training as the plain path up to rounding. */
static void test_other_shapes(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    const int shapes[][MT_MAX_LAYERS + 1] = { { 100, 10 }, { 200, 32, 16, 10 }, { 10 } };
    const int layers[] = { 2, 4, 1 };
    for (int si = 0; si < 3; si++) {
        g_layers = layers[si];
        for (int l = 0; l < g_layers; l++)
            g_dims[l + 1] = shapes[si][l];
        run_out ref = train(&ds, mt_kern_ref(), 0, MT_PATH_AUTO, MT_OPT_ADAM);
        for (int p = MT_PATH_DENSE; p <= MT_PATH_SPARSE; p++) {
            run_out r1 = train(&ds, k, 1, (mt_path)p, MT_OPT_ADAM);
            run_out r2 = train(&ds, k, 2, (mt_path)p, MT_OPT_ADAM);
            run_out r3 = train(&ds, k, 3, (mt_path)p, MT_OPT_ADAM);
            assert_same_bits(&r1, &r2);
            assert_same_bits(&r1, &r3);
            assert_true(fabs(r2.losses[0] - ref.losses[0]) <= 1e-5 * fabs(ref.losses[0]));
            assert_true(max_param_diff(&r2, &ref) < 1e-3);
            free(r1.params), free(r2.params), free(r3.params);
        }
        free(ref.params);
    }
    const int seed[] = { SIDE * SIDE, 128, 64, 10 };
    memcpy(g_dims, seed, sizeof seed);
    g_layers = 3;
}

static void test_auto_path_follows_density(void **state)
{
    (void)state;
    mt_dataset ds;
    const mt_kern *k = auto_kern();
    make_data(&ds, 0); /* ~88 % zeros: sparse */
    run_out a = train(&ds, k, 2, MT_PATH_AUTO, MT_OPT_ADAM);
    assert_int_equal(a.sparse, 16);
    assert_int_equal(a.dense, 0);
    make_data(&ds, 1); /* ~30 % zeros: dense */
    run_out b = train(&ds, k, 2, MT_PATH_AUTO, MT_OPT_ADAM);
    assert_int_equal(b.dense, 16);
    assert_int_equal(b.sparse, 0);
    free(a.params), free(b.params);
}

static void test_engine_evaluation_matches(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    mt_mlp m = { 0 };
    mt_err err = { 0 };
    int dims[4] = { SIDE * SIDE, 128, 64, 10 };
    mt_rng r;
    mt_rng_seed(&r, 3);
    assert_int_equal(mt_mlp_init(&m, dims, 3, &r, &err), MT_OK);
    float scale, shift;
    mt_norm_affine(&scale, &shift, 0.1307, 0.3081);
    mt_eval a, b;
    assert_int_equal(mt_evaluate(&m, mt_kern_ref(), &ds, 128, scale, shift, &a, NULL, NULL, NULL, &err), MT_OK);
    for (int T = 1; T <= 2; T++) {
        mt_engine *e = NULL;
        /* batches of 128 run through an engine made for 48 rows: chunks 48, 48, 32 */
        assert_int_equal(mt_engine_create(&e, &m, k, T, MT_PATH_AUTO, 48, &err), MT_OK);
        assert_int_equal(mt_evaluate_engine(e, &m, k, &ds, 128, scale, shift, &b, NULL, NULL, NULL, &err), MT_OK);
        assert_int_equal(b.total, a.total);
        assert_true(abs((int)b.correct - (int)a.correct) <= 1); /* a tie may break differently */
        assert_true(fabs(b.loss - a.loss) <= 1e-5 * a.loss);
        mt_engine_free(e);
    }
    mt_mlp_free(&m);
}

/* --clip-grad: with clipping active the run is still bit-identical for 1, 2
 * and 3 threads and differs from the unclipped run; a huge limit changes
 * nothing. */
static void test_clip_is_deterministic_and_active(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    for (int p = MT_PATH_DENSE; p <= MT_PATH_SPARSE; p++) {
        g_clip = 0.f;
        run_out r0 = train(&ds, k, 1, (mt_path)p, MT_OPT_ADAM);
        g_clip = 1e30f;
        run_out rh = train(&ds, k, 2, (mt_path)p, MT_OPT_ADAM);
        g_clip = 0.05f;
        run_out r1 = train(&ds, k, 1, (mt_path)p, MT_OPT_ADAM);
        run_out r2 = train(&ds, k, 2, (mt_path)p, MT_OPT_ADAM);
        run_out r3 = train(&ds, k, 3, (mt_path)p, MT_OPT_ADAM);
        g_clip = 0.f;
        assert_same_bits(&r0, &rh);
        assert_same_bits(&r1, &r2);
        assert_same_bits(&r1, &r3);
        assert_true(memcmp(r0.params, r1.params, r0.n * sizeof(float)) != 0);
        assert_true(r1.losses[15] < r1.losses[0]);
        free(r0.params), free(rh.params), free(r1.params), free(r2.params), free(r3.params);
    }
}

/* The clipped gradient is grads * max_norm / (norm + 1e-6), norm the global
 * L2 norm of all gradients, as mt_clip_grad_norm (torch's clip_grad_norm_). */
static void test_clip_matches_clip_grad_norm(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    for (int T = 1; T <= 2; T++) {
        mt_mlp m = { 0 };
        mt_optim o = { 0 };
        mt_engine *e = NULL;
        mt_err err = { 0 };
        int dims[4] = { SIDE * SIDE, 128, 64, 10 };
        mt_rng r;
        mt_rng_seed(&r, 3);
        assert_int_equal(mt_mlp_init(&m, dims, 3, &r, &err), MT_OK);
        assert_int_equal(mt_optim_init(&o, MT_OPT_SGD, m.n_params, &err), MT_OK);
        mt_optim_defaults(&o);
        o.lr = 0.f; /* the update leaves params alone; grads show the clipping */
        assert_int_equal(mt_engine_create(&e, &m, k, T, MT_PATH_SPARSE, 64, &err), MT_OK);
        uint32_t idx[64];
        for (int i = 0; i < 64; i++)
            idx[i] = (uint32_t)(i * 7);
        float scale, shift;
        mt_norm_affine(&scale, &shift, 0.1307, 0.3081);
        /* a bound far above the norm: the exported gradient is the unclipped one */
        mt_engine_set_clip(e, 1e30f);
        mt_engine_step(e, &o, ds.images, ds.labels, idx, 64, scale, shift, NULL);
        mt_engine_export(e, &o);
        float *g = malloc(m.n_params * sizeof *g);
        assert_non_null(g);
        memcpy(g, m.grads, m.n_params * sizeof *g);
        double norm = mt_clip_grad_norm(g, m.n_params, 0.01);
        assert_true(norm > 0.01);
        /* lr 0 left the parameters alone: the same batch again, clipped */
        mt_engine_set_clip(e, 0.01f);
        mt_engine_step(e, &o, ds.images, ds.labels, idx, 64, scale, shift, NULL);
        mt_engine_export(e, &o);
        assert_true(fabs(mt_engine_grad_norm(e) - norm) <= 1e-9 * norm);
        for (size_t i = 0; i < m.n_params; i++)
            assert_true(fabsf(m.grads[i] - g[i]) <= 1e-6f * fabsf(g[i]));
        free(g);
        mt_engine_free(e);
        mt_optim_free(&o);
        mt_mlp_free(&m);
    }
}

/* Augmentation: bit-identical for 1, 2 and 3 threads, different from the
 * plain run, and still learning. */
static void test_augment_is_deterministic(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    const mt_augment aug = { 2.f, 10.f, 0.1f };
    run_out r0 = train(&ds, k, 1, MT_PATH_AUTO, MT_OPT_ADAM);
    g_aug = &aug;
    run_out r1 = train(&ds, k, 1, MT_PATH_AUTO, MT_OPT_ADAM);
    run_out r1b = train(&ds, k, 1, MT_PATH_AUTO, MT_OPT_ADAM);
    run_out r2 = train(&ds, k, 2, MT_PATH_AUTO, MT_OPT_ADAM);
    run_out r3 = train(&ds, k, 3, MT_PATH_AUTO, MT_OPT_ADAM);
    g_aug = NULL;
    assert_same_bits(&r1, &r1b);
    assert_same_bits(&r1, &r2);
    assert_same_bits(&r1, &r3);
    assert_true(memcmp(r0.losses, r1.losses, (size_t)r0.n_losses * sizeof r0.losses[0]) != 0);
    assert_true(r1.losses[15] < r1.losses[0]);
    free(r0.params), free(r1.params), free(r1b.params), free(r2.params), free(r3.params);
}

static void test_augment_refuses_wrong_image_size(void **state)
{
    (void)state;
    mt_mlp m = { 0 };
    mt_engine *e = NULL;
    mt_err err = { 0 };
    int dims[3] = { SIDE * SIDE, 16, 10 };
    mt_rng r;
    mt_rng_seed(&r, 1);
    assert_int_equal(mt_mlp_init(&m, dims, 2, &r, &err), MT_OK);
    assert_int_equal(mt_engine_create(&e, &m, mt_kern_ref(), 2, MT_PATH_AUTO, 8, &err), MT_OK);
    const mt_augment aug = { 1.f, 0.f, 0.f };
    assert_int_equal(mt_engine_set_augment(e, &aug, 27, 28, 1, &err), MT_EARG);
    assert_int_equal(mt_engine_set_augment(e, &aug, 28, 28, 1, &err), MT_OK);
    assert_int_equal(mt_engine_set_augment(e, NULL, 0, 0, 1, &err), MT_OK);
    mt_engine_free(e);
    mt_mlp_free(&m);
}

/* The engine's threads flush denormals to zero (see fp_flush in
 * mt_engine.c): a dead hidden unit's W1 row has a zero gradient, so Adam's
 * first moment m -> 0.9 m; from 1.2e-38 (just above FLT_MIN) that is a
 * denormal, which must come out as 0, on 1 and on 2 threads.  The caller's
 * floating-point mode is left as it was. */
static void test_engine_flushes_denormals(void **state)
{
    (void)state;
    mt_dataset ds;
    make_data(&ds, 0);
    const mt_kern *k = auto_kern();
    mt_err err = { 0 };
    for (int T = 1; T <= 2; T++) {
        mt_mlp m = { 0 };
        mt_optim o = { 0 };
        mt_engine *e = NULL;
        mt_rng r;
        mt_rng_seed(&r, 3);
        assert_int_equal(mt_mlp_init(&m, g_dims, g_layers, &r, &err), MT_OK);
        assert_int_equal(mt_optim_init(&o, MT_OPT_ADAM, m.n_params, &err), MT_OK);
        m.b[0][0] = -1e6f; /* hidden unit 0 never fires */
        float *m0 = o.m + (m.w[0] - m.params), *m1 = o.m + (m.w[0] - m.params) + g_dims[0]; /* rows 0, 1 */
        for (int c = 0; c < g_dims[0]; c++)
            m0[c] = m1[c] = 1.2e-38f;
        assert_int_equal(mt_engine_create(&e, &m, k, T, MT_PATH_AUTO, 64, &err), MT_OK);
        mt_engine_sync(e, &o);
        uint32_t idx[64];
        for (int i = 0; i < 64; i++)
            idx[i] = (uint32_t)i;
        float scale, shift;
        mt_norm_affine(&scale, &shift, 0.1307, 0.3081);
#if defined(__x86_64__)
        _mm_setcsr(_mm_getcsr() & ~0x8040u); /* no FTZ/DAZ here, whatever ran before */
        unsigned csr = _mm_getcsr();
#endif
        for (int step = 0; step < 20; step++) /* past the engine's 8-step single-thread probe */
            assert_true(isfinite(mt_engine_step(e, &o, ds.images, ds.labels, idx, 64, scale, shift, NULL)));
#if defined(__x86_64__)
        assert_int_equal(_mm_getcsr(), csr);
#endif
        mt_engine_export(e, &o);
        for (int c = 0; c < g_dims[0]; c++) {
            if (m0[c] != 0.f)
                fail_msg("%d threads: dead unit's m[%d] = %g, want 0 (flushed)", T, c, (double)m0[c]);
            if (m1[c] == 0.f || fabsf(m1[c]) < FLT_MIN)
                fail_msg("%d threads: live unit's m[%d] = %g, want a normal float", T, c, (double)m1[c]);
        }
        mt_engine_free(e);
        mt_optim_free(&o);
        mt_mlp_free(&m);
    }
}

static void test_engine_refuses_bad_threads(void **state)
{
    (void)state;
    mt_mlp m = { 0 };
    mt_err err = { 0 };
    int dims[3] = { 16, 8, 4 };
    mt_rng r;
    mt_rng_seed(&r, 3);
    assert_int_equal(mt_mlp_init(&m, dims, 2, &r, &err), MT_OK);
    mt_engine *e = NULL;
    assert_int_equal(mt_engine_create(&e, &m, mt_kern_ref(), 0, MT_PATH_AUTO, 8, &err), MT_EARG);
    assert_null(e);
    assert_int_equal(mt_path_parse("sparse"), MT_PATH_SPARSE);
    assert_int_equal(mt_path_parse("fast"), -1);
    mt_engine_free(NULL);
    mt_mlp_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_give_bit_identical_training),
        cmocka_unit_test(test_threads_switching_keep_bits),
        cmocka_unit_test(test_probe_schedule),
        cmocka_unit_test(test_engine_matches_plain_path),
        cmocka_unit_test(test_label_smoothing_trains_as_plain_path),
        cmocka_unit_test(test_other_shapes),
        cmocka_unit_test(test_auto_path_follows_density),
        cmocka_unit_test(test_engine_evaluation_matches),
        cmocka_unit_test(test_engine_flushes_denormals),
        cmocka_unit_test(test_engine_refuses_bad_threads),
        cmocka_unit_test(test_clip_is_deterministic_and_active),
        cmocka_unit_test(test_clip_matches_clip_grad_norm),
        cmocka_unit_test(test_augment_is_deterministic),
        cmocka_unit_test(test_augment_refuses_wrong_image_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
