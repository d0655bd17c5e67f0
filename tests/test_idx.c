/* IDX loader and data set pairing: good files (gz and plain, both file name
 * spellings) and one test per kind of bad file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---- whole-buffer inflating: members, trailers, claims, memory ---------- */

static uint8_t *slurp(const char *dir, const char *name, size_t *n)
{
    char p[512];
    tu_path(p, sizeof p, dir, name);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* The gzip form of buf, as gzip(1) would write it. */
static uint8_t *gz_bytes(const char *dir, const uint8_t *buf, size_t n, size_t *out_n)
{
    write_named(dir, "tmp.gz", buf, n, 1);
    return slurp(dir, "tmp.gz", out_n);
}

static void expect_loads(const char *dir, const char *name, int ndim, const uint8_t *data, size_t n)
{
    char p[512];
    mt_idx idx = { 0 };
    mt_err err = { 0 };
    tu_path(p, sizeof p, dir, name);
    if (mt_idx_load(&idx, p, ndim, &err) != MT_OK)
        fail_msg("%s: %s", name, err.msg);
    assert_int_equal(idx.n_bytes, n);
    assert_memory_equal(idx.data, data, n);
    mt_idx_free(&idx);
}

static void test_idx_reads_concatenated_gzip_members(void **state)
{
    const char *dir = *state;
    uint8_t px[3000];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 31 + 7);
    uint32_t d[3] = { 30, 10, 10 };
    size_t n, n1, n2, n3;
    uint8_t *b = tu_idx(&n, 3, d, px);
    /* three members split inside the header and inside the data: the last
     * trailer's ISIZE (a hint) is far below the whole */
    uint8_t *g1 = gz_bytes(dir, b, 6, &n1), *g2 = gz_bytes(dir, b + 6, 2000, &n2),
            *g3 = gz_bytes(dir, b + 2006, n - 2006, &n3);
    uint8_t *all = malloc(n1 + n2 + n3);
    assert_non_null(all);
    memcpy(all, g1, n1);
    memcpy(all + n1, g2, n2);
    memcpy(all + n1 + n2, g3, n3);
    write_named(dir, "multi.gz", all, n1 + n2 + n3, 0);
    expect_loads(dir, "multi.gz", 3, px, sizeof px);
    free(b);
    free(g1);
    free(g2);
    free(g3);
    free(all);
}

static void test_idx_ignores_bytes_after_the_last_member(void **state)
{
    /* zlib's gzread ignores what follows a member unless it starts another
     * one; the reader keeps that, and a false start is corrupt data */
    const char *dir = *state;
    uint8_t lbl[4] = { 1, 2, 3, 4 };
    uint32_t d[1] = { 4 };
    size_t n, ng;
    uint8_t *b = tu_idx(&n, 1, d, lbl);
    uint8_t *g = gz_bytes(dir, b, n, &ng);
    uint8_t *t = malloc(ng + 16);
    assert_non_null(t);
    memcpy(t, g, ng);
    memcpy(t + ng, "garbage!", 8);
    write_named(dir, "garbage.gz", t, ng + 8, 0);
    expect_loads(dir, "garbage.gz", 1, lbl, 4);
    t[ng] = 0x1f; /* a lone first magic byte is not a member either */
    write_named(dir, "onebyte.gz", t, ng + 1, 0);
    expect_loads(dir, "onebyte.gz", 1, lbl, 4);
    memcpy(t + ng, "\x1f\x8b\x08garbage", 10);
    write_named(dir, "falsestart.gz", t, ng + 10, 0);
    expect_fail(dir, "falsestart.gz", 1, "corrupt gzip data");
    free(b);
    free(g);
    free(t);
}

static void test_idx_rejects_a_cut_gzip_stream(void **state)
{
    const char *dir = *state;
    uint8_t px[2000];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * i);
    uint32_t d[3] = { 20, 10, 10 };
    size_t n, ng;
    uint8_t *b = tu_idx(&n, 3, d, px);
    uint8_t *g = gz_bytes(dir, b, n, &ng);
    size_t cuts[] = { 1, 5, 12, ng / 2, ng - 8, ng - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_named(dir, "cut.gz", g, cuts[i], 0);
        /* one byte is no gzip magic: a plain file too short for a header */
        expect_fail(dir, "cut.gz", 3, cuts[i] == 1 ? "truncated" : "corrupt gzip data");
    }
    g[ng - 3] ^= 0x40; /* ISIZE no longer matches the data */
    write_named(dir, "isize.gz", g, ng, 0);
    expect_fail(dir, "isize.gz", 3, "corrupt gzip data");
    free(b);
    free(g);
}

/* Runs fn in a child whose address space is capped 256 MiB above what it
 * uses now, so a reader that allocates what a header or trailer claims
 * (2 GiB and more) fails there with MT_ENOMEM instead of passing unseen.
 * ASan reserves terabytes of shadow, so under it the cap is skipped. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
static void in_capped_child(void (*fn)(const char *), const char *dir)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
#ifndef TU_ASAN
        long vm_kb = 0;
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "VmSize: %ld kB", &vm_kb) == 1)
                break;
        if (f)
            fclose(f);
        if (vm_kb > 0) {
            struct rlimit rl = { (rlim_t)vm_kb * 1024 + ((rlim_t)256 << 20), RLIM_INFINITY };
            setrlimit(RLIMIT_AS, &rl);
        }
#endif
        fn(dir);
        _exit(0);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
}

static void child_expect(const char *dir, const char *name, int ndim, const char *needle)
{
    char p[512];
    mt_idx idx = { 0 };
    mt_err err = { 0 };
    tu_path(p, sizeof p, dir, name);
    mt_status st = mt_idx_load(&idx, p, ndim, &err);
    if (st != MT_EDATA || !strstr(err.msg, needle)) {
        fprintf(stderr, "%s: status %d, message '%s' (wanted '%s')\n", name, st, err.msg, needle);
        _exit(1);
    }
}

static void lying_claims(const char *dir)
{
    child_expect(dir, "claim2g", 3, "truncated: header says 2147483664 bytes, file has 16");
    child_expect(dir, "claim2g.gz", 3, "truncated: header says 2147483664 bytes, file has 16");
    child_expect(dir, "isize4g.gz", 1, "corrupt gzip data");
}

static void test_idx_allocates_no_claimed_size_before_reading(void **state)
{
    const char *dir = *state;
    uint8_t h[16];
    tu_be32(h, 0x00000803u);
    tu_be32(h + 4, 32768); /* 32768 x 256 x 256 = 2 GiB, exactly the plausibility limit */
    tu_be32(h + 8, 256);
    tu_be32(h + 12, 256);
    write_named(dir, "claim2g", h, 16, 0);
    write_named(dir, "claim2g.gz", h, 16, 1);
    /* a gzip trailer claiming ~4 GiB of output for a 12-byte file */
    uint8_t lbl[4] = { 1, 2, 3, 4 };
    uint32_t d[1] = { 4 };
    size_t n, ng;
    uint8_t *b = tu_idx(&n, 1, d, lbl);
    uint8_t *g = gz_bytes(dir, b, n, &ng);
    memset(g + ng - 4, 0xff, 4);
    write_named(dir, "isize4g.gz", g, ng, 0);
    in_capped_child(lying_claims, dir);
    free(b);
    free(g);
}

static void test_idx_parse_reads_memory_like_a_file(void **state)
{
    const char *dir = *state;
    uint8_t px[2 * 3 * 3];
    for (int i = 0; i < 18; i++)
        px[i] = (uint8_t)(200 - i);
    uint32_t d[3] = { 2, 3, 3 };
    size_t n, ng;
    uint8_t *b = tu_idx(&n, 3, d, px);
    uint8_t *g = gz_bytes(dir, b, n, &ng);
    for (int gz = 0; gz < 2; gz++) {
        mt_idx idx = { 0 };
        mt_err err = { 0 };
        assert_int_equal(mt_idx_parse(&idx, gz ? g : b, gz ? ng : n, "mem", 3, &err), MT_OK);
        assert_int_equal(idx.dims[0], 2);
        assert_int_equal(idx.n_bytes, 18);
        assert_memory_equal(idx.data, px, 18);
        mt_idx_free(&idx);
        /* the same checks as a file: one byte short */
        assert_int_equal(mt_idx_parse(&idx, b, n - 1, "mem", 3, &err), MT_EDATA);
        assert_non_null(strstr(err.msg, "mem: truncated: header says 34 bytes, file has 33"));
        assert_null(idx.data);
    }
    mt_idx idx = { 0 };
    mt_err err = { 0 };
    assert_int_equal(mt_idx_parse(&idx, b, 0, "empty", 3, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "empty: truncated: file has 0 bytes"));
    free(b);
    free(g);
}

static void test_dataset_loads_splits_in_parallel_like_one_by_one(void **state)
{
    const char *dir = *state;
    tu_make_dataset(dir, "train", 300, 6, 7, 4, 1, 1);
    tu_make_dataset(dir, "t10k", 50, 6, 7, 4, 2, 0);
    const char *splits[2] = { "train", "t10k" };
    uint32_t limits[2] = { 0, 20 };
    mt_dataset two[2], tr = { 0 }, te = { 0 };
    mt_err err = { 0 };
    assert_int_equal(mt_dataset_load_splits(two, dir, splits, limits, 2, 0, &err), MT_OK);
    assert_int_equal(mt_dataset_load(&tr, dir, "train", 0, 0, &err), MT_OK);
    assert_int_equal(mt_dataset_load(&te, dir, "t10k", tr.n_classes, 20, &err), MT_OK);
    assert_int_equal(two[0].n, tr.n);
    assert_int_equal(two[1].n, 20);
    assert_int_equal(two[0].n_classes, tr.n_classes);
    assert_int_equal(two[1].n_classes, tr.n_classes);
    assert_memory_equal(two[0].images, tr.images, 300 * 42);
    assert_memory_equal(two[0].labels, tr.labels, 300);
    assert_memory_equal(two[1].images, te.images, 50 * 42);
    mt_dataset_free(&two[0]);
    mt_dataset_free(&two[1]);
    mt_dataset_free(&tr);
    mt_dataset_free(&te);
    /* the first error in file order wins, and nothing is written */
    uint32_t dl[1] = { 50 };
    uint8_t lbl[50] = { 0 };
    lbl[3] = 9;
    size_t n;
    uint8_t *b = tu_idx(&n, 1, dl, lbl);
    write_named(dir, "t10k-labels-idx1-ubyte", b, n, 0);
    free(b);
    memset(two, 0, sizeof two);
    assert_int_equal(mt_dataset_load_splits(two, dir, splits, limits, 2, 0, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "label 9 at index 3 is not below the number of classes"));
    assert_null(two[0].images);
    write_named(dir, "train-images-idx3-ubyte.gz", (const uint8_t *)"\x1f\x8b junk", 7, 0);
    assert_int_equal(mt_dataset_load_splits(two, dir, splits, limits, 2, 0, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "train-images-idx3-ubyte.gz: corrupt gzip data"));
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
        cmocka_unit_test_setup_teardown(test_idx_reads_concatenated_gzip_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_ignores_bytes_after_the_last_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_rejects_a_cut_gzip_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_allocates_no_claimed_size_before_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_parse_reads_memory_like_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_loads_splits_in_parallel_like_one_by_one, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
