/* fuzz_config: the JSON config loader (app_config_parse) on arbitrary text, and
 * app_config_set on one option (picked by the first byte) with the rest as its
 * value, as the command line would pass it.  Whatever is accepted must
 * print back as JSON that loads again to the same settings. */
#include <string.h>

#include "fuzz_util.h"
#include "app_config.h"

static void one_line(const mt_err *e)
{
    if (!e->msg[0] || strchr(e->msg, '\n') || strchr(e->msg, '\x1b'))
        abort(); /* user text is escaped in messages */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = malloc(size);
    if (!text)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    app_config c;
    mt_err err = { 0 };
    app_config_defaults(&c);
    int n_opts;
    const app_optdef *opts = app_config_options(&n_opts);
    mt_status s;
    if (data[0] & 0x80)
        s = app_config_set(&c, &opts[(data[0] & 0x7f) % n_opts], text, "--fuzz", &err);
    else
        s = app_config_parse(&c, text, "fuzz.json", &err);
    if (s != MT_OK) {
        one_line(&err);
    } else {
        char *json = app_config_to_json(&c, 0);
        if (json) {
            app_config d;
            app_config_defaults(&d);
            if (app_config_parse(&d, json, "round-trip", &err) != MT_OK)
                abort();
            char *again = app_config_to_json(&d, 0);
            if (again && strcmp(again, json) != 0)
                abort();
            free(again);
            free(json);
        }
    }
    free(text);
    return 0;
}
