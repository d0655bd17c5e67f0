/* Config table, JSON config files and their errors, precedence, and the
 * --print-config round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "app_config.h"

static void test_defaults_are_the_seed_recipe(void **state)
{
    (void)state;
    app_config c;
    app_config_defaults(&c);
    assert_int_equal(c.epochs, 5);
    assert_int_equal(c.batch_size, 64);
    assert_int_equal(c.test_batch_size, 1000);
    assert_true(c.lr == 0.001 && c.mean == 0.1307 && c.std == 0.3081);
    assert_string_equal(c.optimizer, "adam");
    assert_string_equal(c.hidden, "128,64");
    assert_int_equal(c.shuffle, 1);
    assert_int_equal(c.log_interval, 100);
    /* every default in the table parses under its own rules */
    int n;
    const app_optdef *t = app_config_options(&n);
    for (int i = 0; i < n; i++) {
        mt_err err = { 0 };
        assert_int_equal(app_config_set(&c, &t[i], t[i].def, t[i].name, &err), MT_OK);
        assert_ptr_equal(app_config_find(t[i].name), &t[i]);
    }
}

static void expect_set_error(const char *name, const char *value, const char *needle)
{
    app_config c;
    mt_err err = { 0 };
    app_config_defaults(&c);
    mt_status st = app_config_set(&c, app_config_find(name), value, name, &err);
    if (st != MT_EARG || !strstr(err.msg, needle))
        fail_msg("%s=%s: status %d, '%s'", name, value, st, err.msg);
}

static void test_set_rejects_bad_values(void **state)
{
    (void)state;
    expect_set_error("epochs", "-1", "expected an integer from 1 to 100000, got '-1'");
    expect_set_error("epochs", "99999999999", "got '99999999999'");
    expect_set_error("epochs", "2.5", "expected an integer");
    expect_set_error("epochs", "", "expected an integer");
    expect_set_error("lr", "abc", "expected a number");
    expect_set_error("lr", "nan", "expected a number");
    expect_set_error("lr", "0", "expected a number");
    expect_set_error("batch-size", "0", "from 1 to 65536");
    expect_set_error("optimizer", "rmsprop", "expected one of adam|adamw|sgd|adadelta, got 'rmsprop'");
    expect_set_error("isa", "sse9", "expected one of auto|scalar|avx2|avx512|neon");
}

static void expect_json_error(const char *json, const char *needle)
{
    app_config c, before;
    mt_err err = { 0 };
    app_config_defaults(&c);
    before = c;
    mt_status st = app_config_parse(&c, json, "cfg.json", &err);
    if (st != MT_EARG || !strstr(err.msg, needle) || strncmp(err.msg, "cfg.json: ", 10) != 0)
        fail_msg("%s: status %d, '%s' (wanted '%s')", json, st, err.msg, needle);
    assert_memory_equal(&c, &before, sizeof c); /* all or nothing */
}

static void test_json_errors_name_the_key(void **state)
{
    (void)state;
    expect_json_error("{\"training\": {\"epochs\": 3, \"epohcs\": 4}}", "training.epohcs: unknown key");
    expect_json_error("{\"training\": {\"epochs\": \"5\"}}", "training.epochs: expected a number, got \"5\"");
    expect_json_error("{\"training\": {\"epochs\": 0}}", "training.epochs: expected an integer from 1 to 100000, got 0");
    expect_json_error("{\"training\": {\"epochs\": 1.5}}", "expected an integer");
    expect_json_error("{\"output\": {\"json\": 1}}", "output.json: expected true or false, got 1");
    expect_json_error("{\"optimizer\": {\"name\": \"lbfgs\"}}", "optimizer.name: expected one of adam|adamw|sgd|adadelta");
    expect_json_error("{\"training\": {\"epochs\": 2, \"epochs\": 3}}", "training.epochs: key appears twice");
    expect_json_error("[1, 2]", "expected a JSON object at the top level");
    expect_json_error("{\n  \"training\": {\n    \"epochs\": 5,,\n  }\n}", "line 3, column 18: malformed JSON");
    expect_json_error("", "line 1, column 1: malformed JSON");
}

static void test_json_applies_nested_keys(void **state)
{
    (void)state;
    app_config c;
    mt_err err = { 0 };
    app_config_defaults(&c);
    assert_int_equal(app_config_parse(&c, "{\"optimizer\": {\"name\": \"adamw\", \"lr\": 0.01},"
                                         " \"training\": {\"shuffle\": false, \"epochs\": 2},"
                                         " \"data\": {\"train_limit\": 2000}}", "x.json", &err), MT_OK);
    assert_string_equal(c.optimizer, "adamw");
    assert_true(c.lr == 0.01);
    assert_int_equal(c.shuffle, 0);
    assert_int_equal(c.epochs, 2);
    assert_int_equal(c.train_limit, 2000);
    assert_int_equal(c.batch_size, 64); /* untouched keys keep their value */
}

static void test_print_config_round_trips(void **state)
{
    (void)state;
    app_config a, b;
    mt_err err = { 0 };
    app_config_defaults(&a);
    assert_int_equal(app_config_parse(&a, "{\"training\": {\"epochs\": 7, \"seed\": 123456789012},"
                                         " \"data\": {\"dir\": \"/tmp/q\\\"x\"}}", "a", &err), MT_OK);
    char *s = app_config_to_json(&a, 1);
    assert_non_null(s);
    app_config_defaults(&b);
    assert_int_equal(app_config_parse(&b, s, "printed", &err), MT_OK);
    assert_memory_equal(&a, &b, sizeof a);
    free(s);
}

static void test_load_reports_missing_file(void **state)
{
    (void)state;
    app_config c;
    mt_err err = { 0 };
    app_config_defaults(&c);
    assert_int_equal(app_config_load(&c, "/nonexistent/c.json", &err), MT_EARG);
    assert_non_null(strstr(err.msg, "/nonexistent/c.json: cannot open config"));
}

static void test_integers_are_only_sign_and_digits(void **state)
{
    (void)state;
    expect_set_error("epochs", "1e3", "got '1e3'");
    expect_set_error("epochs", "0x10", "got '0x10'");
    expect_set_error("epochs", " 5", "got ' 5'");
    expect_set_error("epochs", "5 ", "got '5 '");
    expect_set_error("epochs", "5.0", "expected an integer");
    expect_set_error("epochs", "+", "expected an integer");
    expect_set_error("seed", "99999999999999999999999", "expected an integer");
    expect_set_error("lr", "0x1p-3", "got '0x1p-3'");
    expect_set_error("lr", " 0.1", "got ' 0.1'");
    expect_set_error("lr", "inf", "got 'inf'");
    expect_set_error("lr", "1e999", "got '1e999'");
    app_config c;
    mt_err err = { 0 };
    app_config_defaults(&c);
    assert_int_equal(app_config_set(&c, app_config_find("epochs"), "+7", "epochs", &err), MT_OK);
    assert_int_equal(c.epochs, 7);
    assert_int_equal(app_config_set(&c, app_config_find("seed"), "9007199254740991", "seed", &err), MT_OK);
    assert_true(c.seed == 9007199254740991LL);
    assert_int_equal(app_config_set(&c, app_config_find("lr"), ".5e-1", "lr", &err), MT_OK);
    assert_true(c.lr == 0.05);
    assert_int_equal(app_config_set(&c, app_config_find("lr"), "3.", "lr", &err), MT_OK);
    assert_true(c.lr == 3.0);
}

static void test_messages_escape_user_text(void **state)
{
    (void)state;
    /* a key with a newline and an escape sequence stays on one line, without ESC */
    expect_json_error("{\"a\\nb\\u001b[31m\": 1}", "cfg.json: a\\nb\\x1b[31m: unknown key");
    expect_set_error("optimizer", "x\ty\x7f\xff", "got 'x\\ty\\x7f\\xff'");
    char longv[200];
    memset(longv, 'z', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    app_config c;
    mt_err err = { 0 };
    app_config_defaults(&c);
    assert_int_equal(app_config_set(&c, app_config_find("optimizer"), longv, "--optimizer", &err), MT_EARG);
    assert_non_null(strstr(err.msg, "zzz...'"));
    assert_true(strlen(err.msg) < 160);
    /* an infinite number is shown as such, not as JSON's null */
    expect_json_error("{\"optimizer\": {\"lr\": 1e999}}", "optimizer.lr: expected a number from 1e-12 to 100, got inf");
    expect_json_error("{\"optimizer\": {\"lr\": -1e999}}", "got -inf");
    /* a value too long to show is cut */
    expect_json_error("{\"training\": {\"epochs\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}}",
                      "1,1,1...");
}

static void test_json_string_with_nul_is_refused(void **state)
{
    (void)state;
    expect_json_error("{\"data\": {\"dir\": \"ab\\u0000cd\"}}", "line 1, column 21: a string holds \\u0000");
    expect_json_error("{\"data\\u0000x\": 1}", "a string holds \\u0000");
    /* an escaped backslash before u0000 is not a NUL */
    app_config c;
    mt_err err = { 0 };
    app_config_defaults(&c);
    assert_int_equal(app_config_parse(&c, "{\"data\": {\"dir\": \"a\\\\u0000\"}}", "x", &err), MT_OK);
    assert_string_equal(c.data_dir, "a\\u0000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_seed_recipe),
        cmocka_unit_test(test_set_rejects_bad_values),
        cmocka_unit_test(test_json_errors_name_the_key),
        cmocka_unit_test(test_json_applies_nested_keys),
        cmocka_unit_test(test_print_config_round_trips),
        cmocka_unit_test(test_load_reports_missing_file),
        cmocka_unit_test(test_integers_are_only_sign_and_digits),
        cmocka_unit_test(test_messages_escape_user_text),
        cmocka_unit_test(test_json_string_with_nul_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
