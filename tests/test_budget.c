/* mt_budget (memory estimate of a run against hand-counted figures, the
 * check's message, available memory from fake /proc and cgroup files, size
 * parsing; a layer-list model's work buffers against what the allocator
 * hands out for them) and mt_labels (empty classes, the label range check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/stat.h>

#include "mt_budget.h"
#include "mt_labels.h"
#include "mt_net.h"
#include "test_util.h"

static void test_budget_counts_model_and_optimizer(void **state)
{
    (void)state;
    const int dims[4] = { 784, 128, 64, 10 };
    mt_budget_in in = { dims, 3, MT_OPT_ADAM, 64, 1000, 2, 60000, 10000, 0, 0, 0 };
    mt_budget b;
    assert_int_equal(mt_budget_compute(&b, &in, NULL), MT_OK);
    const uint64_t P = 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10; /* 109386 */
    assert_true(b.n_params == P);
    assert_true(b.part[MT_BUDGET_MODEL] == P * 8);
    assert_true(b.part[MT_BUDGET_OPTIM] == P * 8);
    in.opt = MT_OPT_SGD;
    assert_int_equal(mt_budget_compute(&b, &in, NULL), MT_OK);
    assert_true(b.part[MT_BUDGET_OPTIM] == P * 4);
    /* data: 60000 * (784 + 1 + 4) + 10000 * (784 + 2 + 40) */
    assert_true(b.part[MT_BUDGET_DATA] == 60000ull * 789 + 10000ull * 826);
    uint64_t sum = 0;
    for (int i = 0; i < MT_BUDGET_N_PARTS; i++)
        sum += b.part[i];
    assert_true(b.total == sum);
    /* the seed's run is tens of MB, not more */
    assert_true(b.total > 50u << 20 && b.total < 200u << 20);
}

static void test_budget_grows_with_threads_and_batch(void **state)
{
    (void)state;
    const int dims[3] = { 784, 256, 10 };
    mt_budget_in in = { dims, 2, MT_OPT_ADAM, 64, 1000, 1, 0, 0, 0, 0, 0 };
    mt_budget b1, b2, b3;
    mt_budget_compute(&b1, &in, NULL);
    in.threads = 2;
    mt_budget_compute(&b2, &in, NULL);
    in.batch_size = 128;
    mt_budget_compute(&b3, &in, NULL);
    assert_true(b2.part[MT_BUDGET_ENGINE] > b1.part[MT_BUDGET_ENGINE]);
    assert_true(b3.part[MT_BUDGET_ENGINE] > b2.part[MT_BUDGET_ENGINE]);
    assert_true(b1.part[MT_BUDGET_MODEL] == b3.part[MT_BUDGET_MODEL]);
}

static void test_budget_huge_hidden_is_refused_with_figures(void **state)
{
    (void)state;
    const int dims[4] = { 784, 30000, 30000, 10 };
    mt_budget_in in = { dims, 3, MT_OPT_ADAM, 64, 1000, 2, 60000, 10000, 0, 0, 0 };
    mt_budget b;
    mt_err err = { 0 };
    assert_int_equal(mt_budget_compute(&b, &in, &err), MT_OK);
    /* 900 M weights in layer 2: 3.6 GB each for params, grads, m, v */
    assert_true(b.part[MT_BUDGET_MODEL] > 7000000000ull);
    assert_int_equal(mt_budget_largest(&b), MT_BUDGET_ENGINE); /* W2's transposed copies */
    assert_int_equal(mt_budget_check(&b, 4ull << 30, "available", &err), MT_EARG);
    assert_non_null(strstr(err.msg, "the run needs about "));
    assert_non_null(strstr(err.msg, "GiB (model and gradients 6.9 GiB, optimizer state 6.9 GiB, engine buffers 14 GiB"));
    assert_non_null(strstr(err.msg, "more than the 4.0 GiB available"));
    assert_null(strstr(err.msg, "--"));
    assert_int_equal(mt_budget_check(&b, b.total, "allowed", &err), MT_OK);
    /* widths far past anything real saturate instead of wrapping */
    const int wide[9] = { 65536, 65536, 65536, 65536, 65536, 65536, 65536, 65536, 65536 };
    mt_budget_in w = { wide, 8, MT_OPT_ADAM, 65536, 65536, 1024, 1ull << 40, 1ull << 40, 0, 0, 0 };
    assert_int_equal(mt_budget_compute(&b, &w, &err), MT_OK);
    assert_true(b.total > (1ull << 50));
    const int bad[2] = { 784, 0 };
    mt_budget_in z = { bad, 1, MT_OPT_ADAM, 64, 1000, 1, 0, 0, 0, 0, 0 };
    assert_int_equal(mt_budget_compute(&b, &z, &err), MT_EARG);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_available_memory_takes_the_lower_of_meminfo_and_cgroup(void **state)
{
    (void)state;
    const char *d = tu_mkdtemp();
    char mi[320], cg[320], root[320], p[400];
    snprintf(mi, sizeof mi, "%s/meminfo", d);
    snprintf(cg, sizeof cg, "%s/cgroup", d);
    snprintf(root, sizeof root, "%s/fs", d);
    write_file(mi, "MemTotal:       24000000 kB\nMemFree:  1 kB\nMemAvailable:   8000000 kB\n");
    assert_true(mt_mem_available_from(mi, NULL, NULL) == 8000000ull * 1024);
    /* cgroup v2: 2 GiB limit, 512 MiB used */
    write_file(cg, "0::/job\n");
    mkdir(root, 0700);
    snprintf(p, sizeof p, "%s/job", root);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/job/memory.max", root);
    write_file(p, "2147483648\n");
    snprintf(p, sizeof p, "%s/job/memory.current", root);
    write_file(p, "536870912\n");
    assert_true(mt_mem_available_from(mi, cg, root) == 1536ull << 20);
    write_file(p, "1\n");
    snprintf(p, sizeof p, "%s/job/memory.max", root);
    write_file(p, "max\n");
    assert_true(mt_mem_available_from(mi, cg, root) == 8000000ull * 1024);
    /* cgroup v1, the container's own cgroup seen as the mount's root */
    write_file(cg, "4:memory:/process_api/x\n0::/\n");
    snprintf(p, sizeof p, "%s/memory", root);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/memory/memory.limit_in_bytes", root);
    write_file(p, "1073741824\n");
    snprintf(p, sizeof p, "%s/memory/memory.usage_in_bytes", root);
    write_file(p, "73741824\n");
    assert_true(mt_mem_available_from(mi, cg, root) == 1000000000ull);
    /* the real machine gives something */
    assert_true(mt_mem_available() > 0);
    tu_rmrf(d);
}

static void test_size_parse_and_format(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(mt_size_parse("512M", &v), 0);
    assert_true(v == 512ull << 20);
    assert_int_equal(mt_size_parse("4G", &v), 0);
    assert_true(v == 4ull << 30);
    assert_int_equal(mt_size_parse("2GiB", &v), 0);
    assert_true(v == 2ull << 30);
    assert_int_equal(mt_size_parse("100k", &v), 0);
    assert_true(v == 102400);
    assert_int_equal(mt_size_parse("1048576", &v), 0);
    assert_true(v == 1048576);
    const char *bad[] = { "", "0", "-1G", " 4G", "4 G", "4X", "1e9", "0x10", "4GG", "99999999999999999999", "20000000T" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (mt_size_parse(bad[i], &v) == 0)
            fail_msg("'%s' was accepted", bad[i]);
    char b[32];
    assert_string_equal(mt_size_str(b, sizeof b, 100), "100 bytes");
    assert_string_equal(mt_size_str(b, sizeof b, 1536), "1.5 KiB");
    assert_string_equal(mt_size_str(b, sizeof b, 300ull << 20), "300 MiB");
    assert_string_equal(mt_size_str(b, sizeof b, 3ull << 30), "3.0 GiB");
}

static void test_labels_report_names_empty_classes(void **state)
{
    (void)state;
    uint8_t y[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 200, 0 };
    mt_class_report r;
    mt_labels_report(&r, y, 12, 201);
    assert_int_equal(r.n_empty, 190);
    assert_int_equal(r.first_empty, 10);
    assert_string_equal(r.ranges, "10-199");
    assert_int_equal(r.min_count, 0);
    mt_labels_report(&r, y, 11, 10);
    assert_int_equal(r.n_empty, 0);
    assert_int_equal(r.first_empty, -1);
    assert_string_equal(r.ranges, "");
    assert_int_equal(r.min_count, 1);
    uint8_t z[4] = { 0, 2, 6, 9 };
    mt_labels_report(&r, z, 4, 10);
    assert_int_equal(r.n_empty, 6);
    assert_string_equal(r.ranges, "1, 3-5, 7-8");
    /* every other class empty: the list is cut, the count stays right */
    uint8_t ev[128];
    for (int i = 0; i < 128; i++)
        ev[i] = (uint8_t)(2 * i);
    mt_labels_report(&r, ev, 128, 256);
    assert_int_equal(r.n_empty, 128);
    assert_non_null(strstr(r.ranges, ", ..."));
    assert_true(strlen(r.ranges) < sizeof r.ranges);
}

static void test_labels_check_names_file_index_and_value(void **state)
{
    (void)state;
    uint8_t y[6] = { 0, 1, 9, 3, 200, 12 };
    mt_err err = { 0 };
    assert_int_equal(mt_labels_check(y, 6, 201, "l.idx", &err), MT_OK);
    assert_int_equal(mt_labels_check(y, 6, 10, "l.idx", &err), MT_EDATA);
    assert_string_equal(err.msg, "l.idx: label 200 at index 4 is not below the number of classes (10)");
}

/* Bytes the allocator has handed out (heap and mmap'd blocks); 0 where it
 * does not say (sanitizers replace malloc). */
static uint64_t allocated(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

/* mt_net_work_bytes sizes mt_net_work_create's buffers by the same code
 * with nothing allocated: it must cover what creating them really takes,
 * with little to spare, and grow with the batch and the threads. */
static void test_net_work_bytes_match_the_allocations(void **state)
{
    (void)state;
    static const char *models[] = { "cnn", "fastcnn", "conv:8:3:same,bn,relu,maxpool,dropout:0.5,flatten,linear:10" };
    static const int shapes[][2] = { { 64, 1 }, { 256, 2 }, { 1000, 3 } };
    mt_err err;
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        mt_net n = { 0 };
        assert_int_equal(mt_net_build(&n, models[m], NULL, 1, 28, 28, 10, &err), MT_OK);
        uint64_t prev = 0;
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            uint64_t est = 0;
            assert_int_equal(mt_net_work_bytes(&n, shapes[i][0], shapes[i][1], &est, &err), MT_OK);
            assert_true(est > prev);
            prev = est;
            uint64_t before = allocated();
            mt_net_work *w = NULL;
            assert_int_equal(mt_net_work_create(&w, &n, shapes[i][0], shapes[i][1], &err), MT_OK);
            uint64_t got = allocated() - before;
            mt_net_work_free(w);
            if (before == 0 && got == 0) {
                print_message("skip - allocator statistics not available (sanitizer build)\n");
                continue;
            }
            if (!(got <= est && est <= got + got / 20 + 65536))
                fail_msg("%s, batch %d, %d threads: estimated %llu bytes, allocated %llu", models[m],
                         shapes[i][0], shapes[i][1], (unsigned long long)est, (unsigned long long)got);
        }
        mt_net_free(&n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_counts_model_and_optimizer),
        cmocka_unit_test(test_budget_grows_with_threads_and_batch),
        cmocka_unit_test(test_budget_huge_hidden_is_refused_with_figures),
        cmocka_unit_test(test_available_memory_takes_the_lower_of_meminfo_and_cgroup),
        cmocka_unit_test(test_size_parse_and_format),
        cmocka_unit_test(test_net_work_bytes_match_the_allocations),
        cmocka_unit_test(test_labels_report_names_empty_classes),
        cmocka_unit_test(test_labels_check_names_file_index_and_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
