/* A minimal stand-in for the part of cmocka 1.1.5 that tests/test_kern.c uses,
 * so the same test source runs on an aarch64 cross build under qemu-user
 * (Debian has no arm64 libcmocka for a cross sysroot).  Used only by
 * tests/cross/run_neon.sh; native builds use the real cmocka. */
#ifndef MT_CROSS_CMOCKA_H
#define MT_CROSS_CMOCKA_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);
struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};
#define cmocka_unit_test(f) { #f, f, NULL, NULL, NULL }

static jmp_buf shim_jb;
static int shim_result; /* 0 ok, 1 failed, 2 skipped */

static void print_message(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void print_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}
static void print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void print_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}
static void shim_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    shim_result = 1;
    longjmp(shim_jb, 1);
}
#define skip() do { shim_result = 2; longjmp(shim_jb, 1); } while (0)
#define fail_msg(...) do { print_error(__VA_ARGS__); print_error("\n"); shim_fail("fail_msg", __FILE__, __LINE__); } while (0)
#define assert_true(c) do { if (!(c)) shim_fail(#c, __FILE__, __LINE__); } while (0)
#define assert_non_null(p) assert_true((p) != NULL)
#define assert_null(p) assert_true((p) == NULL)
#define assert_int_equal(a, b) assert_true((long long)(a) == (long long)(b))
#define assert_ptr_equal(a, b) assert_true((const void *)(a) == (const void *)(b))
#define assert_string_equal(a, b) assert_true(strcmp((a), (b)) == 0)
#define assert_memory_equal(a, b, n) assert_true(memcmp((a), (b), (n)) == 0)

/* One test; setjmp lives here so no loop variable is live across longjmp. */
static void shim_run_one(const struct CMUnitTest *t)
{
    void *state = t->initial_state;
    shim_result = 0;
    if (setjmp(shim_jb) == 0)
        t->test_func(&state);
}

static int _cmocka_run_group_tests(const char *group, const struct CMUnitTest *t, size_t n,
                                   CMFixtureFunction s, CMFixtureFunction td)
{
    (void)s, (void)td;
    int failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        printf("[ RUN      ] %s\n", t[i].name);
        fflush(stdout);
        shim_run_one(&t[i]);
        printf("%s %s\n", shim_result == 0 ? "[       OK ]" : shim_result == 2 ? "[  SKIPPED ]" : "[  FAILED  ]",
               t[i].name);
        failed += shim_result == 1;
        skipped += shim_result == 2;
    }
    printf("[==========] %s: %zu test(s) run, %d failed, %d skipped.\n", group, n, failed, skipped);
    return failed;
}
#define cmocka_run_group_tests(t, s, td) \
    _cmocka_run_group_tests("tests", (t), sizeof(t) / sizeof *(t), (s), (td))

#endif
