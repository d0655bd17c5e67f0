/* app_report: --report FILE.html for `train` and `eval`: gathers the run's
 * numbers and pictures (learning curves, confusion heatmap, most confident
 * mistakes, a prediction grid, drawn by mt_viz into a temporary folder) and
 * has mt_report write them as one self-contained HTML page. */
#ifndef APP_REPORT_H
#define APP_REPORT_H

#include "app_config.h"
#include "app_log.h"
#include "app_viz.h"
#include "mt_data.h"
#include "mt_report.h"
#include "mt_train.h"

/* Writes cfg->report after the final test (v filled as for app_viz_report,
 * ev its totals).  summary / timing (n_summary, n_timing entries) are the
 * command's own lines (model, checkpoint, seconds), shown before / as the
 * page's numbers; title names the run ("Training run", "Evaluation").
 * Logs "Wrote FILE (HTML report, ...)" and a "report" event.  MT_EIO when the
 * file or the temporary pictures cannot be written; MT_ENOMEM. */
mt_status app_report_write(app_log *lg, const app_config *cfg, const app_viz *v, const mt_dataset *test,
                           const mt_eval *ev, const char *title, const mt_report_kv *summary, int n_summary,
                           const mt_report_kv *timing, int n_timing, mt_err *err);

#endif
