/* tests for mt_st: round trip, header padding, atomic writes, a catalogue of
 * corrupt files (one test each), a small mutation fuzz loop, and interop with
 * numpy/torch through tests/st_interop.py. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mt_st.h"

static char tmpdir[64];

/* ---- helpers -------------------------------------------------------------- */

static char *tpath(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long sz = ftell(fp);
    assert_true(sz >= 0);
    rewind(fp);
    unsigned char *p = malloc((size_t)sz + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *n = (size_t)sz;
    return p;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A file with header length field n64, hlen header bytes and dlen data bytes
 * (0, 1, 2, ... mod 251). */
static void write_raw(const char *path, uint64_t n64, const char *hdr, size_t hlen, size_t dlen)
{
    unsigned char *buf = malloc(8 + hlen + dlen + 1);
    assert_non_null(buf);
    put_le64(buf, n64);
    memcpy(buf + 8, hdr, hlen);
    for (size_t i = 0; i < dlen; i++)
        buf[8 + hlen + i] = (unsigned char)(i % 251);
    write_bytes(path, buf, 8 + hlen + dlen);
    free(buf);
}

/* Loads path, expects MT_EDATA, a message naming the file and containing
 * needle, and *out left zeroed. */
static void expect_edata(const char *path, const char *needle)
{
    mt_st st = {0};
    mt_err e = {0};
    mt_status s = mt_st_load(path, &st, &e);
    if (s != MT_EDATA || !strstr(e.msg, path) || !strstr(e.msg, needle)) {
        print_error("status %d, message \"%s\"; wanted MT_EDATA with \"%s\"\n", (int)s, e.msg,
                    needle);
        mt_st_free(&st);
        fail();
    }
    assert_int_equal(e.code, MT_EDATA);
    if (getenv("MT_ST_VERBOSE")) /* MT_ST_VERBOSE=1 shows the catalogue's messages */
        print_message("%s\n", e.msg);
    assert_null(st.tensors);
    assert_null(st.buf);
    assert_null(st.path);
    assert_int_equal(st.n_tensors, 0);
}

/* A file whose header is the JSON text hdr (unpadded) followed by dlen data
 * bytes; it must be rejected with a message containing needle. */
static void corrupt_case(const char *name, const char *hdr, size_t dlen, const char *needle)
{
    const char *p = tpath(name);
    write_raw(p, strlen(hdr), hdr, strlen(hdr), dlen);
    expect_edata(p, needle);
}

static int count_temp_files(const char *prefix)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    size_t pl = strlen(prefix);
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (strncmp(de->d_name, prefix, pl) == 0 && strstr(de->d_name + pl, ".tmp"))
            n++;
    closedir(d);
    return n;
}

static int rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return -1;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -1;
        for (struct dirent *de; (de = readdir(d)) != NULL;) {
            char sub[512];
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mt_st_test.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return rm_rf(tmpdir);
}

/* ---- a set of tensors used by several tests -------------------------------- */

typedef struct {
    float w[3 * 4], b[3], w2[2 * 3], b2[2];
    uint64_t step[1], rng[4];
    double hist[2];
    uint8_t labels[3];
    mt_st_tensor t[8];
    mt_st_meta m[2];
} interop_set;

/* Must match expected() in tests/st_interop.py. */
static void fill_interop(interop_set *s)
{
    for (int i = 0; i < 12; i++)
        s->w[i] = (float)i * 0.25f - 1.f;
    s->b[0] = 0.5f, s->b[1] = -0.5f, s->b[2] = 1.5f;
    for (int i = 0; i < 6; i++)
        s->w2[i] = (float)i * -0.125f;
    s->b2[0] = 0.1f, s->b2[1] = -0.2f;
    s->step[0] = 12345678901234u;
    s->rng[0] = 0xDEADBEEFCAFEBABEu, s->rng[1] = 1, s->rng[2] = UINT64_MAX, s->rng[3] = 0;
    s->hist[0] = 3.141592653589793, s->hist[1] = -1e300;
    s->labels[0] = 0, s->labels[1] = 7, s->labels[2] = 255;
    mt_st_tensor t[8] = {
        {.name = "fc1.weight", .dtype = MT_ST_F32, .ndim = 2, .shape = {3, 4}, .data = s->w},
        {.name = "fc1.bias", .dtype = MT_ST_F32, .ndim = 1, .shape = {3}, .data = s->b},
        {.name = "fc2.weight", .dtype = MT_ST_F32, .ndim = 2, .shape = {2, 3}, .data = s->w2},
        {.name = "fc2.bias", .dtype = MT_ST_F32, .ndim = 1, .shape = {2}, .data = s->b2},
        {.name = "train.step", .dtype = MT_ST_U64, .ndim = 1, .shape = {1}, .data = s->step},
        {.name = "train.rng", .dtype = MT_ST_U64, .ndim = 1, .shape = {4}, .data = s->rng},
        {.name = "hist", .dtype = MT_ST_F64, .ndim = 1, .shape = {2}, .data = s->hist},
        {.name = "labels", .dtype = MT_ST_U8, .ndim = 1, .shape = {3}, .data = s->labels},
    };
    memcpy(s->t, t, sizeof t);
    s->m[0] = (mt_st_meta){"format", "pt"};
    s->m[1] = (mt_st_meta){"note", "h\xc3\xa9llo \"q\"\n"};
}

/* ---- round trip ------------------------------------------------------------ */

/* Names and keys come from the file: a newline or an escape sequence in
 * one must not reach the one-line message raw (a fuzzing finding). */
static void test_st_messages_escape_names_from_the_file(void **state)
{
    (void)state;
    corrupt_case("esc1.safetensors",
                 "{\"fc1.we\\nght\\u001b[31m\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,400]}}", 4,
                 "tensor 'fc1.we\\nght\\x1b[31m': data_offsets [0, 400] out of range");
    corrupt_case("esc2.safetensors",
                 "{\"a\\n\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"b\\r\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "tensor 'b\\r' at [0, 4] overlaps tensor 'a\\n'");
    corrupt_case("esc3.safetensors", "{\"__metadata__\":{\"k\\u001b\":1}}", 0, "metadata 'k\\x1b' is a number");
    corrupt_case("esc4.safetensors", "{\"t\":{\"dtype\":\"\\n\\u001b\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "unknown dtype '\\n\\x1b'");
}

static void test_st_round_trip_is_bit_identical(void **state)
{
    (void)state;
    float w[3 * 4];
    for (int i = 0; i < 12; i++)
        w[i] = (float)i * 0.1f - 0.3f;
    uint32_t bits[4] = {0x7fc12345u /* NaN with payload */, 0x80000000u /* -0 */,
                        0x00000001u /* denormal */, 0x7f800000u /* inf */};
    memcpy(&w[8], bits, sizeof bits);
    double d[3] = {3.141592653589793, -1e300, 5e-324};
    int64_t step = -5;
    uint64_t rng[4] = {0xDEADBEEFCAFEBABEu, 1, UINT64_MAX, 0};
    uint8_t u8[3] = {1, 2, 255};
    uint32_t u32[2] = {0xFFFFFFFFu, 42};
    const char *odd = "we\"ird\\name\n\ttab \xc3\xbcnicode";
    mt_st_tensor t[] = {
        {.name = "fc1.weight", .dtype = MT_ST_F32, .ndim = 2, .shape = {3, 4}, .data = w},
        {.name = "d", .dtype = MT_ST_F64, .ndim = 1, .shape = {3}, .data = d},
        {.name = "step", .dtype = MT_ST_I64, .ndim = 0, .data = &step},
        {.name = "rng", .dtype = MT_ST_U64, .ndim = 1, .shape = {4}, .data = rng},
        {.name = "empty", .dtype = MT_ST_F32, .ndim = 2, .shape = {0, 3}, .data = NULL},
        {.name = odd, .dtype = MT_ST_U8, .ndim = 1, .shape = {3}, .data = u8},
        {.name = "u32", .dtype = MT_ST_U32, .ndim = 3, .shape = {1, 2, 1}, .data = u32},
    };
    const size_t nt = sizeof t / sizeof *t;
    mt_st_meta m[] = {{"format", "pt"}, {"config", "{\"lr\": 0.001}\n"}, {"empty", ""},
                      {"ke\"y", "v\\al\x01"}};
    const char *p = tpath("round.safetensors");
    mt_err e = {0};
    assert_int_equal(mt_st_write(p, t, nt, m, 4, &e), MT_OK);

    mt_st st = {0};
    assert_int_equal(mt_st_load(p, &st, &e), MT_OK);
    assert_int_equal(st.n_tensors, nt);
    assert_int_equal(st.n_meta, 4);
    assert_string_equal(st.path, p);
    for (size_t i = 0; i < nt; i++) {
        const mt_st_tensor *r = &st.tensors[i];
        assert_string_equal(r->name, t[i].name); /* header order is kept */
        assert_ptr_equal(mt_st_find(&st, t[i].name), r);
        assert_int_equal(r->dtype, t[i].dtype);
        assert_int_equal(r->ndim, t[i].ndim);
        size_t n = mt_st_dtype_size(t[i].dtype);
        for (int k = 0; k < t[i].ndim; k++) {
            assert_int_equal(r->shape[k], t[i].shape[k]);
            n *= t[i].shape[k];
        }
        assert_int_equal(r->nbytes, n);
        if (n)
            assert_memory_equal(r->data, t[i].data, n);
    }
    /* the data area starts 8-aligned, and the first tensor with it */
    assert_int_equal((uintptr_t)st.tensors[0].data % 8, 0);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(mt_st_meta_get(&st, m[i].key), m[i].value);
    assert_null(mt_st_meta_get(&st, "nope"));
    assert_null(mt_st_find(&st, "nope"));

    /* typed copies */
    float w2[12] = {0};
    assert_int_equal(mt_st_get_f32(&st, "fc1.weight", (size_t[]){3, 4}, 2, w2, &e), MT_OK);
    assert_memory_equal(w2, w, sizeof w);
    int64_t step2 = 0;
    assert_int_equal(mt_st_get(&st, "step", MT_ST_I64, NULL, 0, &step2, &e), MT_OK);
    assert_true(step2 == -5);
    uint64_t rng2[4] = {0};
    assert_int_equal(mt_st_get(&st, "rng", MT_ST_U64, (size_t[]){4}, 1, rng2, &e), MT_OK);
    assert_memory_equal(rng2, rng, sizeof rng);
    mt_st_free(&st);
    assert_null(st.tensors);
    mt_st_free(&st); /* twice is fine: it zeroes */
    mt_st_free(NULL);
}

static void test_st_empty_file_round_trip(void **state)
{
    (void)state;
    const char *p = tpath("empty.safetensors");
    mt_err e = {0};
    assert_int_equal(mt_st_write(p, NULL, 0, NULL, 0, &e), MT_OK);
    size_t n;
    unsigned char *b = read_bytes(p, &n);
    assert_int_equal(n, 16); /* length + "{}      " */
    assert_memory_equal(b + 8, "{}      ", 8);
    free(b);
    mt_st st = {0};
    assert_int_equal(mt_st_load(p, &st, &e), MT_OK);
    assert_int_equal(st.n_tensors, 0);
    assert_int_equal(st.n_meta, 0);
    mt_st_free(&st);
}

static void test_st_get_reports_missing_dtype_and_shape(void **state)
{
    (void)state;
    interop_set s;
    fill_interop(&s);
    const char *p = tpath("get.safetensors");
    mt_err e = {0};
    assert_int_equal(mt_st_write(p, s.t, 8, s.m, 2, &e), MT_OK);
    mt_st st = {0};
    assert_int_equal(mt_st_load(p, &st, &e), MT_OK);
    float dst[12];
    memset(dst, 0x55, sizeof dst);

    assert_int_equal(mt_st_get_f32(&st, "fc3.weight", (size_t[]){3, 4}, 2, dst, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "tensor 'fc3.weight' is missing"));

    assert_int_equal(mt_st_get_f32(&st, "hist", (size_t[]){2}, 1, dst, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "tensor 'hist': dtype F32 expected, found F64"));

    assert_int_equal(mt_st_get_f32(&st, "fc1.weight", (size_t[]){4, 3}, 2, dst, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "tensor 'fc1.weight': shape [4, 3] expected, found [3, 4]"));

    assert_int_equal(mt_st_get_f32(&st, "fc1.weight", (size_t[]){12}, 1, dst, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "shape [12] expected, found [3, 4]"));

    assert_int_equal(mt_st_get_f32(&st, "fc1.bias", NULL, 0, dst, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "shape [] expected, found [3]"));

    for (int i = 0; i < 12; i++) /* dst untouched by the failures */
        assert_int_equal(((unsigned char *)dst)[i], 0x55);
    mt_st_free(&st);
}

/* ---- header padding and alignment ------------------------------------------ */

static void test_st_header_is_padded_to_8(void **state)
{
    (void)state;
    float v[5] = {1, 2, 3, 4, 5};
    char name[32];
    for (int len = 1; len <= 16; len++) { /* every residue of the header length */
        memset(name, 'x', (size_t)len);
        name[len] = '\0';
        mt_st_tensor t = {.name = name, .dtype = MT_ST_F32, .ndim = 1, .shape = {5}, .data = v};
        const char *p = tpath("pad.safetensors");
        mt_err e = {0};
        assert_int_equal(mt_st_write(p, &t, 1, NULL, 0, &e), MT_OK);
        size_t n;
        unsigned char *b = read_bytes(p, &n);
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
            hlen = (hlen << 8) | b[i];
        assert_int_equal(hlen % 8, 0);
        assert_int_equal(n, 8 + hlen + sizeof v);
        assert_int_equal(b[8], '{');
        size_t close = 8 + (size_t)hlen - 1; /* the last '}' then only spaces */
        while (b[close] == ' ')
            close--;
        assert_int_equal(b[close], '}');
        assert_true(8 + hlen - 1 - close < 8);
        assert_memory_equal(b + 8 + hlen, v, sizeof v); /* little-endian host */
        free(b);
    }
}

static void test_st_unpadded_file_loads_aligned(void **state)
{
    (void)state;
    /* header of 61 bytes: the data area is at file offset 69, not aligned */
    const char *h = "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}     ";
    size_t hl = strlen(h);
    assert_int_not_equal((8 + hl) % 8, 0);
    double v[2] = {1.25, -7.5};
    unsigned char buf[128];
    put_le64(buf, hl);
    memcpy(buf + 8, h, hl);
    memcpy(buf + 8 + hl, v, sizeof v);
    const char *p = tpath("unpadded.safetensors");
    write_bytes(p, buf, 8 + hl + sizeof v);
    mt_st st = {0};
    mt_err e = {0};
    assert_int_equal(mt_st_load(p, &st, &e), MT_OK);
    const mt_st_tensor *t = mt_st_find(&st, "a");
    assert_non_null(t);
    assert_int_equal((uintptr_t)t->data % 8, 0);
    assert_true(((const double *)t->data)[1] == -7.5);
    mt_st_free(&st);
    /* the same bytes through mt_st_parse */
    assert_int_equal(mt_st_parse(buf, 8 + hl + sizeof v, "mem", &st, &e), MT_OK);
    assert_int_equal((uintptr_t)mt_st_find(&st, "a")->data % 8, 0);
    assert_string_equal(st.path, "mem");
    mt_st_free(&st);
}

/* ---- atomic writes ---------------------------------------------------------- */

static void test_st_write_to_missing_dir_is_eio(void **state)
{
    (void)state;
    float v[2] = {1, 2};
    mt_st_tensor t = {.name = "v", .dtype = MT_ST_F32, .ndim = 1, .shape = {2}, .data = v};
    const char *p = tpath("no/such/dir/x.safetensors");
    mt_err e = {0};
    assert_int_equal(mt_st_write(p, &t, 1, NULL, 0, &e), MT_EIO);
    assert_non_null(strstr(e.msg, p));
    assert_null(strchr(e.msg, '\n'));
}

static void test_st_write_over_directory_fails_cleanly(void **state)
{
    (void)state;
    const char *p = tpath("isadir");
    assert_int_equal(mkdir(p, 0755), 0);
    float v[2] = {1, 2};
    mt_st_tensor t = {.name = "v", .dtype = MT_ST_F32, .ndim = 1, .shape = {2}, .data = v};
    mt_err e = {0};
    assert_int_equal(mt_st_write(p, &t, 1, NULL, 0, &e), MT_EIO);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "is a directory, not a regular file: not replaced"));
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(count_temp_files("isadir"), 0);
}

/* A real write failure: RLIMIT_FSIZE makes write(2) fail with EFBIG once the
 * temporary file would grow past the limit (SIGXFSZ ignored). */
static void test_st_failed_write_leaves_old_file_intact(void **state)
{
    (void)state;
    const char *p = tpath("keep.safetensors");
    float small[4] = {1, 2, 3, 4};
    mt_st_tensor t = {.name = "w", .dtype = MT_ST_F32, .ndim = 1, .shape = {4}, .data = small};
    mt_err e = {0};
    assert_int_equal(mt_st_write(p, &t, 1, NULL, 0, &e), MT_OK);
    assert_int_equal(chmod(p, 0600), 0);
    size_t n0;
    unsigned char *before = read_bytes(p, &n0);

    size_t nbig = 1 << 16;
    float *big = calloc(nbig, sizeof *big);
    assert_non_null(big);
    mt_st_tensor tb = {.name = "w", .dtype = MT_ST_F32, .ndim = 1, .shape = {nbig}, .data = big};

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    mt_status s = mt_st_write(p, &tb, 1, NULL, 0, &e);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);
    free(big);

    assert_int_equal(s, MT_EIO);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "cannot write"));
    size_t n1;
    unsigned char *after = read_bytes(p, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    assert_int_equal(count_temp_files("keep.safetensors"), 0);

    /* a successful rewrite keeps the mode of the file it replaces */
    assert_int_equal(mt_st_write(p, &t, 1, NULL, 0, &e), MT_OK);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(count_temp_files("keep.safetensors"), 0);
}

static void test_st_write_rejects_invalid_lists(void **state)
{
    (void)state;
    float v[2] = {1, 2};
    const char *p = tpath("never.safetensors");
    mt_err e = {0};
    mt_st_tensor dup[2] = {
        {.name = "a", .dtype = MT_ST_F32, .ndim = 1, .shape = {2}, .data = v},
        {.name = "a", .dtype = MT_ST_F32, .ndim = 1, .shape = {2}, .data = v},
    };
    assert_int_equal(mt_st_write(p, dup, 2, NULL, 0, &e), MT_EARG);
    assert_non_null(strstr(e.msg, "'a' appears twice"));
    mt_st_tensor bad = dup[0];
    bad.name = "__metadata__";
    assert_int_equal(mt_st_write(p, &bad, 1, NULL, 0, &e), MT_EARG);
    bad = dup[0];
    bad.ndim = MT_ST_MAX_DIMS + 1;
    assert_int_equal(mt_st_write(p, &bad, 1, NULL, 0, &e), MT_EARG);
    bad = dup[0];
    bad.data = NULL;
    assert_int_equal(mt_st_write(p, &bad, 1, NULL, 0, &e), MT_EARG);
    bad = dup[0];
    bad.ndim = 3;
    bad.shape[0] = bad.shape[1] = bad.shape[2] = (size_t)1 << 30;
    assert_int_equal(mt_st_write(p, &bad, 1, NULL, 0, &e), MT_EARG);
    assert_non_null(strstr(e.msg, "overflows"));
    bad = dup[0];
    bad.name = "caf\xe9";
    assert_int_equal(mt_st_write(p, &bad, 1, NULL, 0, &e), MT_EARG);
    assert_non_null(strstr(e.msg, "not valid UTF-8"));
    mt_st_meta m[2] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(mt_st_write(p, NULL, 0, m, 2, &e), MT_EARG);
    assert_non_null(strstr(e.msg, "'k' appears twice"));
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(count_temp_files("never"), 0);
}

/* ---- catalogue of corrupt files ---------------------------------------------- */

static const char *valid_hdr =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[16,20]}}";

static void test_st_catalogue_baseline_is_valid(void **state)
{
    (void)state; /* the hand-made template the corrupt cases are cut from loads */
    const char *p = tpath("valid.st");
    write_raw(p, strlen(valid_hdr), valid_hdr, strlen(valid_hdr), 20);
    mt_st st = {0};
    mt_err e = {0};
    assert_int_equal(mt_st_load(p, &st, &e), MT_OK);
    assert_int_equal(st.n_tensors, 2);
    assert_string_equal(mt_st_meta_get(&st, "format"), "pt");
    mt_st_free(&st);
}

static void test_st_rejects_empty_file(void **state)
{
    (void)state;
    const char *p = tpath("empty.st");
    write_bytes(p, "", 0);
    expect_edata(p, "file is 0 bytes, too short");
}

static void test_st_rejects_truncated_length_field(void **state)
{
    (void)state;
    const char *p = tpath("short.st");
    write_bytes(p, "\x10\0\0\0\0", 5);
    expect_edata(p, "file is 5 bytes, too short for the 8-byte header length");
}

static void test_st_rejects_truncated_header(void **state)
{
    (void)state;
    const char *p = tpath("cut_header.st");
    size_t hl = strlen(valid_hdr);
    write_raw(p, hl, valid_hdr, hl / 2, 0); /* cut in the middle of the header */
    expect_edata(p, "exceeds the file");
}

static void test_st_rejects_truncated_data(void **state)
{
    (void)state;
    const char *p = tpath("cut_data.st");
    size_t hl = strlen(valid_hdr);
    write_raw(p, hl, valid_hdr, hl, 19); /* one byte short */
    expect_edata(p, "tensor 'b': data_offsets [16, 20] out of range (data area is 19 bytes)");
}

static void test_st_rejects_huge_header_length(void **state)
{
    (void)state;
    const char *p = tpath("huge.st");
    write_raw(p, UINT64_MAX, "{}", 2, 0);
    expect_edata(p, "header length 18446744073709551615 is too large");
    write_raw(p, 100000001, "{}", 2, 0);
    expect_edata(p, "header length 100000001 is too large (limit 100000000 bytes)");
}

static void test_st_rejects_header_length_beyond_file(void **state)
{
    (void)state;
    const char *p = tpath("beyond.st");
    write_raw(p, 3, "{}", 2, 0);
    expect_edata(p, "header length 3 exceeds the file (only 2 bytes follow");
}

static void test_st_rejects_bad_json(void **state)
{
    (void)state;
    corrupt_case("badjson.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], ", 0,
                 "header is not valid JSON");
    corrupt_case("badjson2.st", "{\"a\" 1}", 0, "header is not valid JSON");
}

static void test_st_rejects_data_after_json(void **state)
{
    (void)state;
    corrupt_case("trailing.st", "{}  x", 0, "data after the JSON object");
}

static void test_st_rejects_header_not_object(void **state)
{
    (void)state;
    corrupt_case("array.st", "[1, 2]", 0, "header is not a JSON object");
    corrupt_case("string.st", "\"{}\"", 0, "header is not a JSON object");
    corrupt_case("spacefirst.st", " {}", 0, "header is not a JSON object");
    corrupt_case("emptyhdr.st", "", 0, "empty header");
}

static void test_st_rejects_control_bytes_in_header(void **state)
{
    (void)state;
    const char *p = tpath("nul.st");
    const char h[] = "{\"a\0b\":{}}";
    write_raw(p, sizeof h - 1, h, sizeof h - 1, 0);
    expect_edata(p, "control character 0x00");
}

static void test_st_rejects_invalid_utf8(void **state)
{
    (void)state;
    corrupt_case("latin1.st", "{\"__metadata__\":{\"k\":\"caf\xe9\"}}", 0,
                 "header byte 25 (0xe9) is not valid UTF-8");
    corrupt_case("overlong.st", "{\"\xc0\xaf\":{}}", 0, "header byte 2 (0xc0) is not valid UTF-8");
    corrupt_case("surrogate.st", "{\"\xed\xa0\x80\":{}}", 0, "is not valid UTF-8");
    corrupt_case("cut_utf8.st", "{\"\xe2\x82\":{}}", 0, "is not valid UTF-8");
}

static void test_st_rejects_entry_not_object(void **state)
{
    (void)state;
    corrupt_case("entry.st", "{\"a\": 5}", 0, "tensor 'a': entry is a number");
}

static void test_st_rejects_missing_field(void **state)
{
    (void)state;
    corrupt_case("nofield.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
                 "tensor 'a': missing field 'data_offsets'");
}

static void test_st_rejects_duplicate_field(void **state)
{
    (void)state;
    corrupt_case("dupfield.st",
                 "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                 4, "tensor 'a': field 'dtype' appears twice");
}

static void test_st_rejects_unknown_dtype(void **state)
{
    (void)state;
    corrupt_case("dtype.st", "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "tensor 'a': unknown dtype 'F33'");
    corrupt_case("dtype2.st", "{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "tensor 'a': dtype is a number (expected a string)");
}

static void test_st_rejects_negative_shape(void **state)
{
    (void)state;
    corrupt_case("negshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1,2],\"data_offsets\":[0,4]}}",
                 4, "tensor 'a': shape[0] is -1 (expected a non-negative integer)");
}

static void test_st_rejects_non_integer_shape(void **state)
{
    (void)state;
    corrupt_case("fracshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
                 4, "tensor 'a': shape[0] is 1.5");
    corrupt_case("strshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,8]}}",
                 8, "tensor 'a': shape[1] is a string");
    corrupt_case("bigshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}",
                 4, "tensor 'a': shape[0] is 1.0000000000000001e+300");
    corrupt_case("objshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}",
                 4, "tensor 'a': shape is an object (expected an array)");
}

static void test_st_rejects_too_many_dims(void **state)
{
    (void)state;
    corrupt_case("dims.st",
                 "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
                 1, "tensor 'a': shape has 9 dimensions (at most 8 supported)");
}

static void test_st_rejects_shape_overflow(void **state)
{
    (void)state;
    corrupt_case("overflow.st",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                 4, "tensor 'a': shape [4294967296, 4294967296] of F32 is too large");
    corrupt_case("overflow2.st",
                 "{\"a\":{\"dtype\":\"F64\",\"shape\":[67108864,67108864],\"data_offsets\":[0,4]}}",
                 4, "is too large (byte size overflows)");
}

static void test_st_rejects_offsets_out_of_range(void **state)
{
    (void)state;
    corrupt_case("model.safetensors",
                 "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,999]}}", 400,
                 "tensor 'fc1.weight': data_offsets [0, 999] out of range (data area is 400 bytes)");
}

static void test_st_rejects_begin_after_end(void **state)
{
    (void)state;
    corrupt_case("backwards.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
                 "tensor 'a': data_offsets [8, 4] begin > end");
}

static void test_st_rejects_malformed_offsets(void **state)
{
    (void)state;
    corrupt_case("offs1.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                 "data_offsets is an array of the wrong length");
    corrupt_case("offs2.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4,
                 "data_offsets [0, a string] (expected two non-negative integers)");
    corrupt_case("offs3.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
                 "data_offsets [-4, 0]");
    corrupt_case("offs4.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":0}}", 4,
                 "data_offsets is a number");
}

static void test_st_rejects_size_mismatch(void **state)
{
    (void)state;
    corrupt_case("size.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12,
                 "tensor 'a': data_offsets [0, 12] span 12 bytes, but shape [2, 2] of F32 needs 16");
}

static void test_st_rejects_overlapping_tensors(void **state)
{
    (void)state;
    corrupt_case("overlap.st",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                 24, "tensor 'b' at [8, 24] overlaps tensor 'a'");
    corrupt_case("overlap_same.st",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                 16, "overlaps");
}

static void test_st_rejects_hole_in_data(void **state)
{
    (void)state;
    corrupt_case("hole.st",
                 "{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[20,36]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                 36, "hole in the data area: bytes [16, 20) belong to no tensor");
    corrupt_case("hole_start.st", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                 8, "hole in the data area: bytes [0, 4)");
}

static void test_st_rejects_trailing_data(void **state)
{
    (void)state;
    corrupt_case("trail.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 20,
                 "4 trailing bytes in the data area");
    corrupt_case("trail0.st", "{}", 3, "3 trailing bytes");
}

static void test_st_rejects_non_string_metadata(void **state)
{
    (void)state;
    corrupt_case("meta.st", "{\"__metadata__\":{\"ok\":\"x\",\"k\":1}}", 0,
                 "metadata 'k' is a number (expected a string)");
    corrupt_case("meta2.st", "{\"__metadata__\":{\"k\":{\"nested\":\"x\"}}}", 0,
                 "metadata 'k' is an object");
    corrupt_case("meta3.st", "{\"__metadata__\":[\"x\"]}", 0,
                 "__metadata__ is an array (expected an object of strings)");
}

static void test_st_rejects_duplicate_tensor_names(void **state)
{
    (void)state;
    corrupt_case("dup.st",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                 12, "tensor 'a' appears twice");
}

static void test_st_rejects_duplicate_metadata(void **state)
{
    (void)state;
    corrupt_case("dupmeta.st", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
                 "metadata key 'k' appears twice");
    corrupt_case("dupmeta2.st", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                 "'__metadata__' appears twice");
}

static void test_st_rejects_missing_file_and_directory(void **state)
{
    (void)state;
    expect_edata(tpath("does_not_exist.st"), "cannot open");
    const char *d = tpath("adir");
    assert_int_equal(mkdir(d, 0755), 0);
    expect_edata(d, "not a regular file");
}

/* ---- fuzz ------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void) /* xorshift64*, fixed seed */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717u;
}

static void test_st_fuzz_never_crashes(void **state)
{
    (void)state;
    interop_set s;
    fill_interop(&s);
    const char *p = tpath("fuzz_src.safetensors");
    mt_err e = {0};
    assert_int_equal(mt_st_write(p, s.t, 8, s.m, 2, &e), MT_OK);
    size_t n;
    unsigned char *orig = read_bytes(p, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | orig[i];
    size_t hend = 8 + (size_t)hl; /* end of the header */
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    static const char alphabet[] = "{}[]\",:0123456789-.eE tfn\\u";
    int n_ok = 0, n_bad = 0;
    const char *fp = tpath("fuzz.safetensors");

    for (int it = 0; it < 4000; it++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int kind = (int)(rnd() % 5);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++) {
            /* mostly inside the header, where the parser lives */
            size_t at = (rnd() % 4) ? rnd() % hend : rnd() % n;
            if (kind == 0)
                buf[at] ^= (unsigned char)(1u << (rnd() % 8));
            else if (kind == 1)
                buf[at] = (unsigned char)alphabet[rnd() % (sizeof alphabet - 1)];
            else if (kind == 2)
                buf[at] = (unsigned char)rnd();
        }
        if (kind == 3)
            len = (size_t)(rnd() % n);
        if (kind == 4) /* a nearby header length */
            put_le64(buf, (uint64_t)((int64_t)(hend - 8) + (int64_t)(rnd() % 33) - 16));

        mt_st st = {0};
        mt_status r;
        if (it % 40 == 0) { /* through a real file too */
            write_bytes(fp, buf, len);
            r = mt_st_load(fp, &st, &e);
        } else {
            r = mt_st_parse(buf, len, "fuzz", &st, &e);
        }
        if (r != MT_OK && r != MT_EDATA) {
            print_error("iteration %d: status %d: %s\n", it, (int)r, e.msg);
            fail();
        }
        if (r == MT_OK) {
            n_ok++;
            unsigned sum = 0; /* touch every byte the reader hands out */
            for (size_t i = 0; i < st.n_tensors; i++) {
                const mt_st_tensor *t = &st.tensors[i];
                for (size_t k = 0; k < t->nbytes; k++)
                    sum += ((const unsigned char *)t->data)[k];
                void *copy = malloc(t->nbytes ? t->nbytes : 1);
                assert_non_null(copy);
                assert_int_equal(mt_st_get(&st, t->name, t->dtype, t->shape, t->ndim, copy, &e),
                                 MT_OK);
                free(copy);
            }
            for (size_t i = 0; i < st.n_meta; i++)
                sum += (unsigned)strlen(st.meta[i].value);
            (void)sum;
        } else {
            n_bad++;
            assert_non_null(strstr(e.msg, it % 40 == 0 ? fp : "fuzz"));
        }
        mt_st_free(&st);
    }
    print_message("fuzz: 4000 mutations, %d loaded, %d rejected with MT_EDATA\n", n_ok, n_bad);
    assert_true(n_ok > 0 && n_bad > 0);
    free(buf);
    free(orig);
}

/* ---- interop with numpy / torch ---------------------------------------------- */

static const char *interop_script(void)
{
    static char path[512];
    const char *f = __FILE__, *slash = strrchr(f, '/');
    int dl = slash ? (int)(slash - f + 1) : 0;
    snprintf(path, sizeof path, "%.*sst_interop.py", dl, f);
    return path;
}

static int python_has_numpy(void)
{
    if (access("/usr/bin/python3", X_OK) != 0)
        return 0;
    return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

static int run_script(const char *mode, const char *file)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' %s '%s'", interop_script(), mode, file);
    fflush(stdout);
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_st_interop_python_reads_our_file(void **state)
{
    (void)state;
    if (!python_has_numpy()) {
        print_message("skipped: /usr/bin/python3 with numpy not found\n");
        skip();
    }
    if (access(interop_script(), R_OK) != 0) {
        print_message("skipping: %s not found (run from the repository root)\n", interop_script());
        skip();
    }
    interop_set s;
    fill_interop(&s);
    const char *p = tpath("interop.safetensors");
    mt_err e = {0};
    assert_int_equal(mt_st_write(p, s.t, 8, s.m, 2, &e), MT_OK);
    assert_int_equal(run_script("check", p), 0);
}

static void test_st_interop_we_read_python_file(void **state)
{
    (void)state;
    if (!python_has_numpy() || access(interop_script(), R_OK) != 0) {
        print_message("skipping: /usr/bin/python3 with numpy or %s not found\n", interop_script());
        skip();
    }
    const char *p = tpath("from_numpy.safetensors");
    assert_int_equal(run_script("write", p), 0);
    mt_st st = {0};
    mt_err e = {0};
    if (mt_st_load(p, &st, &e) != MT_OK) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_int_equal(st.n_tensors, 5);
    assert_string_equal(mt_st_meta_get(&st, "written_by"), "numpy");
    float a[3];
    assert_int_equal(mt_st_get_f32(&st, "a.f32", (size_t[]){1, 3}, 2, a, &e), MT_OK);
    assert_true(a[0] == 1.5f && a[1] == -2.25f && a[2] == 3.0f);
    int64_t b[2];
    assert_int_equal(mt_st_get(&st, "b.i64", MT_ST_I64, (size_t[]){2}, 1, b, &e), MT_OK);
    assert_true(b[0] == -1 && b[1] == ((int64_t)1 << 62));
    uint8_t c[3];
    assert_int_equal(mt_st_get(&st, "c.u8", MT_ST_U8, (size_t[]){3}, 1, c, &e), MT_OK);
    assert_true(c[0] == 9 && c[1] == 8 && c[2] == 7);
    const mt_st_tensor *h = mt_st_find(&st, "d.f16");
    assert_non_null(h);
    assert_int_equal(h->dtype, MT_ST_F16);
    uint16_t half; /* at data offset 31: misaligned, so copy (see mt_st_tensor.data) */
    memcpy(&half, h->data, sizeof half);
    assert_int_equal(half, 0x3E00); /* 1.5 in binary16 */
    double d;
    assert_int_equal(mt_st_get(&st, "e.f64", MT_ST_F64, (size_t[]){1}, 1, &d, &e), MT_OK);
    assert_true(d == 0.1);
    mt_st_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_round_trip_is_bit_identical),
        cmocka_unit_test(test_st_empty_file_round_trip),
        cmocka_unit_test(test_st_get_reports_missing_dtype_and_shape),
        cmocka_unit_test(test_st_header_is_padded_to_8),
        cmocka_unit_test(test_st_unpadded_file_loads_aligned),
        cmocka_unit_test(test_st_write_to_missing_dir_is_eio),
        cmocka_unit_test(test_st_write_over_directory_fails_cleanly),
        cmocka_unit_test(test_st_failed_write_leaves_old_file_intact),
        cmocka_unit_test(test_st_write_rejects_invalid_lists),
        cmocka_unit_test(test_st_catalogue_baseline_is_valid),
        cmocka_unit_test(test_st_rejects_empty_file),
        cmocka_unit_test(test_st_rejects_truncated_length_field),
        cmocka_unit_test(test_st_rejects_truncated_header),
        cmocka_unit_test(test_st_rejects_truncated_data),
        cmocka_unit_test(test_st_rejects_huge_header_length),
        cmocka_unit_test(test_st_rejects_header_length_beyond_file),
        cmocka_unit_test(test_st_rejects_bad_json),
        cmocka_unit_test(test_st_rejects_data_after_json),
        cmocka_unit_test(test_st_rejects_header_not_object),
        cmocka_unit_test(test_st_rejects_control_bytes_in_header),
        cmocka_unit_test(test_st_rejects_invalid_utf8),
        cmocka_unit_test(test_st_rejects_entry_not_object),
        cmocka_unit_test(test_st_rejects_missing_field),
        cmocka_unit_test(test_st_rejects_duplicate_field),
        cmocka_unit_test(test_st_rejects_unknown_dtype),
        cmocka_unit_test(test_st_rejects_negative_shape),
        cmocka_unit_test(test_st_rejects_non_integer_shape),
        cmocka_unit_test(test_st_rejects_too_many_dims),
        cmocka_unit_test(test_st_rejects_shape_overflow),
        cmocka_unit_test(test_st_rejects_offsets_out_of_range),
        cmocka_unit_test(test_st_rejects_begin_after_end),
        cmocka_unit_test(test_st_rejects_malformed_offsets),
        cmocka_unit_test(test_st_rejects_size_mismatch),
        cmocka_unit_test(test_st_rejects_overlapping_tensors),
        cmocka_unit_test(test_st_rejects_hole_in_data),
        cmocka_unit_test(test_st_rejects_trailing_data),
        cmocka_unit_test(test_st_rejects_non_string_metadata),
        cmocka_unit_test(test_st_rejects_duplicate_tensor_names),
        cmocka_unit_test(test_st_rejects_duplicate_metadata),
        cmocka_unit_test(test_st_rejects_missing_file_and_directory),
        cmocka_unit_test(test_st_fuzz_never_crashes),
        cmocka_unit_test(test_st_messages_escape_names_from_the_file),
        cmocka_unit_test(test_st_interop_python_reads_our_file),
        cmocka_unit_test(test_st_interop_we_read_python_file),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
