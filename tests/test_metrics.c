/* mt_metrics: precision, recall, F1 and macro averages against values worked
 * out by hand (and, where torch's environment has it, the same numbers as
 * scikit-learn's definitions give). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mt_metrics.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) <= 1e-12)

/* 3 classes, rows true, columns predicted:
 *        p0 p1 p2   support
 *   t0 [  5  1  0 ]   6
 *   t1 [  2  3  1 ]   6
 *   t2 [  0  0  4 ]   4
 * predicted: 7 4 5; n = 16; trace 12 -> accuracy 0.75
 * class 0: P = 5/7, R = 5/6, F1 = 2*(5/7)(5/6)/((5/7)+(5/6)) = 10/13
 * class 1: P = 3/4, R = 3/6 = 1/2, F1 = 2*(3/4)(1/2)/(5/4) = 3/5
 * class 2: P = 4/5, R = 1, F1 = 2*(4/5)/(9/5) = 8/9
 * macro P = (5/7 + 3/4 + 4/5)/3, R = (5/6 + 1/2 + 1)/3 = 7/9, F1 = (10/13 + 3/5 + 8/9)/3 */
static void test_metrics_match_hand_computed_values(void **state)
{
    (void)state;
    const uint32_t c[9] = { 5, 1, 0, 2, 3, 1, 0, 0, 4 };
    mt_metrics m;
    assert_int_equal(mt_metrics_compute(&m, c, 3, NULL), MT_OK);
    assert_int_equal(m.n, 16);
    NEAR(m.accuracy, 0.75);
    NEAR(m.precision[0], 5.0 / 7);
    NEAR(m.recall[0], 5.0 / 6);
    NEAR(m.f1[0], 10.0 / 13);
    NEAR(m.precision[1], 0.75);
    NEAR(m.recall[1], 0.5);
    NEAR(m.f1[1], 0.6);
    NEAR(m.precision[2], 0.8);
    NEAR(m.recall[2], 1.0);
    NEAR(m.f1[2], 8.0 / 9);
    assert_int_equal(m.support[1], 6);
    assert_int_equal(m.predicted[0], 7);
    assert_int_equal(m.n_present, 3);
    NEAR(m.macro_precision, (5.0 / 7 + 0.75 + 0.8) / 3);
    NEAR(m.macro_recall, 7.0 / 9);
    NEAR(m.macro_f1, (10.0 / 13 + 0.6 + 8.0 / 9) / 3);
}

/* A class never predicted has precision 0; a class absent from both the
 * labels and the predictions is left out of the macro averages. */
static void test_metrics_zero_division_and_absent_classes(void **state)
{
    (void)state;
    /*       p0 p1 p2
     * t0 [  4  0  0 ]
     * t1 [  2  0  0 ]   class 1 never predicted: P = 0, R = 0, F1 = 0
     * t2 [  0  0  0 ]   class 2 absent: not in the macro average */
    const uint32_t c[9] = { 4, 0, 0, 2, 0, 0, 0, 0, 0 };
    mt_metrics m;
    assert_int_equal(mt_metrics_compute(&m, c, 3, NULL), MT_OK);
    NEAR(m.precision[0], 4.0 / 6);
    NEAR(m.recall[0], 1.0);
    NEAR(m.f1[0], 0.8);
    NEAR(m.precision[1], 0.0);
    NEAR(m.f1[1], 0.0);
    assert_int_equal(m.n_present, 2);
    NEAR(m.macro_precision, (4.0 / 6) / 2);
    NEAR(m.macro_recall, 0.5);
    NEAR(m.macro_f1, 0.4);
    const uint32_t zero[4] = { 0 };
    assert_int_equal(mt_metrics_compute(&m, zero, 2, NULL), MT_OK);
    NEAR(m.accuracy, 0.0);
    NEAR(m.macro_f1, 0.0);
    mt_err err = { 0 };
    assert_int_equal(mt_metrics_compute(&m, c, 0, &err), MT_EARG);
    assert_int_equal(mt_metrics_compute(&m, c, MT_METRICS_MAX_CLASSES + 1, &err), MT_EARG);
}

static void test_metrics_json_and_table(void **state)
{
    (void)state;
    const uint32_t c[4] = { 3, 1, 0, 4 };
    mt_metrics m;
    assert_int_equal(mt_metrics_compute(&m, c, 2, NULL), MT_OK);
    char buf[1024];
    const char *names[] = { "T-shirt \"top\"", "Trouser" };
    size_t n = mt_metrics_json(buf, sizeof buf, &m, names);
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf, "{\"per_class\":[{\"class\":0,\"name\":\"T-shirt \\\"top\\\"\",\"precision\":1,"
                             "\"recall\":0.75,\"f1\":0.857143,\"support\":4},{\"class\":1,\"name\":\"Trouser\","
                             "\"precision\":0.8,\"recall\":1,\"f1\":0.888889,\"support\":4}],"
                             "\"macro\":{\"precision\":0.9,\"recall\":0.875,\"f1\":0.873016}}");
    /* truncation reports the full length and stays terminated */
    char small[16];
    assert_int_equal(mt_metrics_json(small, sizeof small, &m, names), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    n = mt_metrics_table(buf, sizeof buf, &m, NULL);
    assert_int_equal(n, strlen(buf));
    assert_non_null(strstr(buf, "           0     1.0000  0.7500  0.8571        4\n"));
    assert_non_null(strstr(buf, "   macro avg     0.9000  0.8750  0.8730        8\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_match_hand_computed_values),
        cmocka_unit_test(test_metrics_zero_division_and_absent_classes),
        cmocka_unit_test(test_metrics_json_and_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
