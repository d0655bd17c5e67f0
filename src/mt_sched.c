/* mt_sched: per-epoch learning-rate schedules (formulas from the PyTorch
 * documentation of StepLR, CosineAnnealingLR and ReduceLROnPlateau) and
 * early stopping.  No I/O, no allocation. */
#include "mt_sched.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void mt_sched_init(mt_sched *s, mt_sched_kind kind, double base_lr)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->base_lr = s->lr = base_lr;
    s->step_size = 1;
    s->gamma = 0.1;
    s->t_max = 1;
    s->patience = 10;
    s->threshold = 1e-4;
    s->best = INFINITY;
}

double mt_sched_epoch_end(mt_sched *s, double metric)
{
    s->epoch++;
    switch (s->kind) {
    case MT_SCHED_NONE:
        break;
    case MT_SCHED_STEP:
        /* lr = base * gamma^floor(epoch / step_size) */
        s->lr = s->base_lr * pow(s->gamma, (double)(s->epoch / (s->step_size > 0 ? s->step_size : 1)));
        break;
    case MT_SCHED_COSINE: {
        /* eta_min + (base - eta_min) (1 + cos(pi T_cur / T_max)) / 2; the
         * closed form, which PyTorch's recursive update equals */
        int t = s->epoch < s->t_max ? s->epoch : s->t_max;
        s->lr = s->min_lr + (s->base_lr - s->min_lr) * (1 + cos(3.14159265358979323846 * t / (s->t_max > 0 ? s->t_max : 1))) / 2;
        break;
    }
    case MT_SCHED_PLATEAU:
        if (isnan(metric))
            break;
        /* mode "min", threshold_mode "rel": better when metric < best (1 - threshold) */
        if (metric < s->best * (1 - s->threshold)) {
            s->best = metric;
            s->bad_epochs = 0;
        } else if (++s->bad_epochs > s->patience) {
            double lr = s->lr * s->gamma;
            s->lr = lr > s->min_lr ? lr : s->min_lr;
            s->bad_epochs = 0;
        }
        break;
    }
    return s->lr;
}

void mt_sched_state_text(char *buf, size_t cap, const mt_sched *s, const mt_early *e)
{
    snprintf(buf, cap, "lr=%a best=%a bad=%d epoch=%d early_best=%a early_epoch=%d early_bad=%d", s->lr, s->best,
             s->bad_epochs, s->epoch, e->best, e->best_epoch, e->bad_epochs);
}

int mt_sched_state_parse(const char *text, mt_sched *s, mt_early *e)
{
    double lr, best, ebest;
    int bad, epoch, eepoch, ebad, used = 0;
    if (sscanf(text, "lr=%la best=%la bad=%d epoch=%d early_best=%la early_epoch=%d early_bad=%d%n", &lr, &best,
               &bad, &epoch, &ebest, &eepoch, &ebad, &used) != 7 || text[used] != '\0' ||
        !(lr >= 0) || isnan(best) || isnan(ebest) || bad < 0 || epoch < 0 || eepoch < 0 || ebad < 0)
        return -1;
    s->lr = lr;
    s->best = best;
    s->bad_epochs = bad;
    s->epoch = epoch;
    e->best = ebest;
    e->best_epoch = eepoch;
    e->bad_epochs = ebad;
    return 0;
}

int mt_sched_parse(const char *name)
{
    static const char *const names[] = { "none", "step", "cosine", "plateau" };
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void mt_early_init(mt_early *e, int patience, double min_delta)
{
    memset(e, 0, sizeof *e);
    e->patience = patience;
    e->min_delta = min_delta;
    e->best = INFINITY;
}

int mt_early_update(mt_early *e, int epoch, double loss)
{
    if (loss < e->best - e->min_delta) {
        e->best = loss;
        e->best_epoch = epoch;
        e->bad_epochs = 0;
        return 1;
    }
    e->bad_epochs++;
    return 0;
}

int mt_early_should_stop(const mt_early *e)
{
    return e->patience > 0 && e->bad_epochs >= e->patience;
}
