/* IDX loader and data set pairing: good files (gz and plain, both file name
 * spellings) and one test per kind of bad file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mt_data.h"
#include "mt_idx.h"
#include "test_util.h"

static int setup(void **state) { *state = (void *)tu_mkdtemp(); return 0; }
static int teardown(void **state) { tu_rmrf(*state); return 0; }

static void write_named(const char *dir, const char *name, const uint8_t *b, size_t n, int gz)
{
    char p[512];
    tu_path(p, sizeof p, dir, name);
    tu_write(p, b, n, gz);
}

static void expect_fail(const char *dir, const char *name, int ndim, const char *needle)
{
    char p[512];
    mt_idx idx = { 0 };
    mt_err err = { 0 };
    tu_path(p, sizeof p, dir, name);
    mt_status st = mt_idx_load(&idx, p, ndim, &err);
    if (st != MT_EDATA || !strstr(err.msg, needle) || !strstr(err.msg, name))
        fail_msg("status %d, message '%s' (wanted '%s' and the file name)", st, err.msg, needle);
    assert_null(idx.data);
}

static void test_idx_loads_plain_and_gz(void **state)
{
    const char *dir = *state;
    uint8_t px[2 * 3 * 3];
    for (int i = 0; i < 18; i++)
        px[i] = (uint8_t)(i * 14);
    uint32_t d[3] = { 2, 3, 3 };
    size_t n;
    uint8_t *b = tu_idx(&n, 3, d, px);
    write_named(dir, "a.idx", b, n, 0);
    write_named(dir, "a.idx.gz", b, n, 1);
    free(b);
    for (int gz = 0; gz < 2; gz++) {
        char p[512];
        mt_idx idx = { 0 };
        mt_err err = { 0 };
        tu_path(p, sizeof p, dir, gz ? "a.idx.gz" : "a.idx");
        assert_int_equal(mt_idx_load(&idx, p, 3, &err), MT_OK);
        assert_int_equal(idx.ndim, 3);
        assert_int_equal(idx.dims[0], 2);
        assert_int_equal(idx.dims[1], 3);
        assert_int_equal(idx.dims[2], 3);
        assert_int_equal(idx.n_bytes, 18);
        assert_memory_equal(idx.data, px, 18);
        mt_idx_free(&idx);
        mt_idx_free(&idx); /* a zeroed struct frees safely */
    }
    mt_idx_free(NULL);
}

static void test_idx_rejects_bad_magic(void **state)
{
    uint32_t d[1] = { 3 };
    size_t n;
    uint8_t *b = tu_idx(&n, 1, d, NULL);
    write_named(*state, "labels", b, n, 0);
    expect_fail(*state, "labels", 3, "bad magic 0x00000801 (expected 0x00000803");
    b[2] = 0x0d; /* float type */
    write_named(*state, "floats", b, n, 0);
    expect_fail(*state, "floats", 1, "bad magic 0x00000d01");
    free(b);
}

static void test_idx_rejects_truncated_header(void **state)
{
    uint32_t d[3] = { 2, 3, 3 };
    size_t n;
    uint8_t *b = tu_idx(&n, 3, d, NULL);
    write_named(*state, "short", b, 9, 1);
    expect_fail(*state, "short", 3, "truncated: header needs 16 bytes, file has 9");
    write_named(*state, "tiny", b, 2, 0);
    expect_fail(*state, "tiny", 3, "truncated: file has 2 bytes");
    free(b);
}

static void test_idx_rejects_truncated_data(void **state)
{
    uint32_t d[3] = { 2, 3, 3 };
    size_t n;
    uint8_t *b = tu_idx(&n, 3, d, NULL);
    write_named(*state, "cut.gz", b, n - 5, 1);
    expect_fail(*state, "cut.gz", 3, "truncated: header says 34 bytes, file has 29");
    free(b);
}

static void test_idx_rejects_huge_dimensions(void **state)
{
    /* 65536^3 overflows 32 bits and exceeds the plausibility limit; the
     * header is written by hand because the data would not fit in memory */
    uint8_t h[16];
    tu_be32(h, 0x00000803u);
    tu_be32(h + 4, 65536);
    tu_be32(h + 8, 65536);
    tu_be32(h + 12, 65536);
    write_named(*state, "huge", h, 16, 0);
    expect_fail(*state, "huge", 3, "implausible dimension");
    tu_be32(h + 4, 0);
    tu_be32(h + 8, 28);
    tu_be32(h + 12, 28);
    write_named(*state, "zero", h, 16, 0);
    expect_fail(*state, "zero", 3, "implausible dimension 0");
    /* plausible header on a tiny file: reported as truncated, not allocated */
    tu_be32(h + 4, 60000);
    write_named(*state, "lies.gz", h, 16, 1);
    expect_fail(*state, "lies.gz", 3, "truncated: header says 47040016 bytes, file has 16");
}

static void test_idx_rejects_trailing_bytes(void **state)
{
    uint32_t d[1] = { 4 };
    size_t n;
    uint8_t *b = tu_idx(&n, 1, d, NULL);
    uint8_t *c = calloc(n + 3, 1);
    memcpy(c, b, n);
    write_named(*state, "trail.gz", c, n + 3, 1);
    expect_fail(*state, "trail.gz", 1, "trailing bytes after the 12 bytes");
    free(b);
    free(c);
}

static void test_idx_rejects_corrupt_gzip(void **state)
{
    uint32_t d[1] = { 4000 };
    size_t n;
    uint8_t *b = tu_idx(&n, 1, d, NULL);
    for (size_t i = 8; i < n; i++)
        b[i] = (uint8_t)(i * 7);
    write_named(*state, "c.gz", b, n, 1);
    char p[512];
    tu_path(p, sizeof p, *state, "c.gz");
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 40, SEEK_SET);
    fputc(0xff, f);
    fputc(0x00, f);
    fputc(0x13, f);
    fclose(f);
    expect_fail(*state, "c.gz", 1, "corrupt gzip data");
    free(b);
}

static void test_idx_reports_missing_file(void **state)
{
    expect_fail(*state, "nope.gz", 1, "cannot open: No such file or directory");
}

static void test_dataset_finds_both_spellings(void **state)
{
    const char *dir = *state;
    tu_make_dataset(dir, "train", 20, 4, 5, 3, 1, 1);
    /* the test split under the dotted spelling, uncompressed */
    tu_make_dataset(dir, "t10k", 10, 4, 5, 3, 2, 0);
    char a[512], b[512];
    tu_path(a, sizeof a, dir, "t10k-images-idx3-ubyte");
    tu_path(b, sizeof b, dir, "t10k-images.idx3-ubyte");
    assert_int_equal(rename(a, b), 0);
    mt_dataset tr = { 0 }, te = { 0 };
    mt_err err = { 0 };
    assert_int_equal(mt_dataset_load(&tr, dir, "train", 0, 0, &err), MT_OK);
    assert_int_equal(mt_dataset_load(&te, dir, "t10k", 3, 4, &err), MT_OK);
    assert_int_equal(tr.n, 20);
    assert_int_equal(tr.rows, 4);
    assert_int_equal(tr.cols, 5);
    assert_true(tr.n_classes <= 3 && tr.n_classes >= 2);
    assert_int_equal(te.n, 4); /* limit */
    assert_non_null(strstr(te.img_path, "t10k-images.idx3-ubyte"));
    mt_dataset_free(&tr);
    mt_dataset_free(&te);
}

static void test_dataset_slice_is_a_view(void **state)
{
    const char *dir = *state;
    tu_make_dataset(dir, "train", 20, 4, 5, 3, 1, 0);
    mt_dataset ds = { 0 };
    mt_err err = { 0 };
    assert_int_equal(mt_dataset_load(&ds, dir, "train", 0, 0, &err), MT_OK);
    mt_dataset v = mt_dataset_slice(&ds, 15, 10);
    assert_int_equal(v.n, 5); /* clamped to what is there */
    assert_ptr_equal(v.images, ds.images + 15 * 20);
    assert_ptr_equal(v.labels, ds.labels + 15);
    assert_int_equal(v.n_classes, ds.n_classes);
    const uint8_t *first = v.images;
    mt_dataset_free(&v); /* releases nothing: the source stays valid */
    assert_int_equal(ds.images[15 * 20], first[0]);
    mt_dataset_free(&ds);
}

static void test_dataset_rejects_count_mismatch(void **state)
{
    const char *dir = *state;
    tu_make_dataset(dir, "train", 20, 4, 5, 3, 1, 0);
    uint32_t d[1] = { 19 };
    size_t n;
    uint8_t *b = tu_idx(&n, 1, d, NULL);
    write_named(dir, "train-labels-idx1-ubyte", b, n, 0);
    free(b);
    mt_dataset ds = { 0 };
    mt_err err = { 0 };
    assert_int_equal(mt_dataset_load(&ds, dir, "train", 0, 0, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "19 labels but"));
    assert_non_null(strstr(err.msg, "has 20 images"));
}

static void test_dataset_rejects_label_out_of_range(void **state)
{
    const char *dir = *state;
    tu_make_dataset(dir, "train", 20, 4, 5, 3, 1, 0);
    uint8_t lbl[20] = { 0 };
    lbl[7] = 10;
    uint32_t d[1] = { 20 };
    size_t n;
    uint8_t *b = tu_idx(&n, 1, d, lbl);
    write_named(dir, "train-labels-idx1-ubyte", b, n, 0);
    free(b);
    mt_dataset ds = { 0 };
    mt_err err = { 0 };
    assert_int_equal(mt_dataset_load(&ds, dir, "train", 10, 0, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "label 10 at index 7 is not below the number of classes (10)"));
}

static void test_dataset_reports_missing_files(void **state)
{
    mt_dataset ds = { 0 };
    mt_err err = { 0 };
    assert_int_equal(mt_dataset_load(&ds, *state, "train", 10, 0, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "train-images-idx3-ubyte not found ("));
    assert_non_null(strstr(err.msg, *state));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idx_loads_plain_and_gz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_rejects_bad_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_rejects_truncated_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_rejects_truncated_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_rejects_huge_dimensions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_rejects_trailing_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_rejects_corrupt_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_reports_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_finds_both_spellings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_slice_is_a_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_rejects_count_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_rejects_label_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_reports_missing_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
