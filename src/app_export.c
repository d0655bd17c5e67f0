/* app_export: the `export` command: a checkpoint (either kind) written as an
 * ONNX model (mt_onnx) that onnxruntime, browsers and phones run; the input
 * shape and normalization come from the checkpoint. */
#include "app_cmd.h"

#include <stdio.h>
#include <string.h>

#include "app_ckpt.h"
#include "app_exit.h"
#include "app_opt.h"

int app_cmd_export(int argc, char **argv)
{
    app_args a;
    app_log lg;
    mt_err err = { 0 };
    mt_status st;
    app_model md = { 0 };

    app_log_init(&lg, app_opt_wants_json(argc, argv), "off");
    if ((st = app_opt_parse(&a, APP_CMD_EXPORT, argc, argv, NULL, &err)))
        return app_fail(&lg, &err, "export");
    if (a.help) {
        app_opt_help(stdout, APP_CMD_EXPORT, "mnist-train export --checkpoint FILE --onnx FILE.onnx",
                     "Write a checkpoint (model or training state) as an ONNX model (opset 13) for\n"
                     "onnxruntime, browsers (onnxruntime-web) and phones. Input 'input': float\n"
                     "[N,1,28,28], raw pixels in [0,1] (byte/255; the checkpoint's normalization is inside\n"
                     "the graph). Output 'logits': float [N,K]; apply softmax for probabilities.");
        return APP_EXIT_OK;
    }
    app_log_init(&lg, a.cfg.json, "off");
    if (a.n_pos > 0) {
        st = mt_errf(&err, MT_EARG, "unexpected argument '%.100s'", a.pos[0]);
        goto fail;
    }
    if (!a.cfg.checkpoint[0] || !a.cfg.onnx[0]) {
        st = mt_errf(&err, MT_EARG, "%s is required (mnist-train export --checkpoint FILE --onnx FILE.onnx)",
                     a.cfg.checkpoint[0] ? "--onnx FILE" : "--checkpoint FILE");
        goto fail;
    }
    if ((st = app_model_open(&md, a.cfg.checkpoint, &err)))
        goto fail;
    st = app_ckpt_save_onnx(&lg, a.cfg.onnx, md.is_net ? NULL : &md.m, md.is_net ? &md.net : NULL, md.ck.rows,
                            md.ck.cols, md.ck.mean, md.ck.std, &err);
fail:
    app_model_free(&md);
    return st ? app_fail(&lg, &err, "export") : APP_EXIT_OK;
}
