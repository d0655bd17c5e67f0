/* app_fetch: the `fetch` command: downloads and verifies a data set into its
 * folder, or with --verify only checks what is there. */
#include "app_cmd.h"

#include <stdio.h>

#include "app_data.h"
#include "app_exit.h"
#include "app_opt.h"

int app_cmd_fetch(int argc, char **argv)
{
    app_args a;
    app_log lg;
    app_data_dir d;
    mt_err err = { 0 };
    int n_files = 0, n_down = 0, n_present = 0;

    app_log_init(&lg, app_opt_wants_json(argc, argv), "off");
    mt_status st = app_opt_parse(&a, APP_CMD_FETCH, argc, argv, NULL, &err);
    if (st)
        return app_fail(&lg, &err, "fetch");
    if (a.help) {
        app_opt_help(stdout, APP_CMD_FETCH, "mnist-train fetch [OPTIONS]",
                     "Download the data set into its folder (default: $MNIST_DATA for mnist, else\n"
                     "./data/<dataset>; fashion-mnist also uses /usr/share/datasets/fashion-mnist when that\n"
                     "has the files), checking every file's size and CRC-32.  Files already there and valid\n"
                     "are kept.");
        return APP_EXIT_OK;
    }
    app_log_init(&lg, a.cfg.json, a.cfg.progress);
    if (a.n_pos > 0) {
        char e[MT_ESC_CAP];
        mt_errf(&err, MT_EARG, "unexpected argument '%s'", mt_esc(e, a.pos[0]));
        return app_fail(&lg, &err, "fetch");
    }
    app_data_locate(&d, &a.cfg);
    if ((st = app_data_fetch(&a.cfg, &d, a.cfg.verify, &lg, &n_files, &n_down, &n_present, &err)))
        return app_fail(&lg, &err, "fetch");
    app_log_info(&lg, "%s: all %d files in %s are valid%s", a.cfg.dataset, n_files, d.path,
                 a.cfg.verify || n_down ? "" : " (nothing to download)");
    app_ev *e = app_ev_new("fetch");
    app_ev_str(e, "dataset", a.cfg.dataset);
    app_ev_str(e, "dir", d.path);
    app_ev_int(e, "files", n_files);
    if (!a.cfg.verify) {
        app_ev_int(e, "downloaded", n_down);
        app_ev_int(e, "present", n_present);
    }
    app_ev_emit(&lg, e);
    return APP_EXIT_OK;
}
