/* mt_sched: learning-rate schedules (formulas from the PyTorch documentation
 * and source of StepLR, CosineAnnealingLR, ReduceLROnPlateau per epoch and
 * OneCycleLR per batch) and early stopping.  No I/O, no allocation. */
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
    s->total_steps = 1;
    s->pct_start = 0.3;
    s->div_factor = 25.0;
    s->final_div_factor = 1e4;
}

double mt_sched_onecycle_lr(const mt_sched *s, long long t)
{
    /* torch.optim.lr_scheduler.OneCycleLR.get_lr with two phases, operation
     * for operation (Python floats are doubles): phase ends are
     * pct_start*total - 1 and total - 1 (as doubles, not rounded to steps);
     * _annealing_cos(start, end, pct) = end + (start - end)/2 (cos(pi pct) + 1) */
    const double pi = 3.14159265358979323846;
    const double initial = s->base_lr / s->div_factor, peak = s->base_lr;
    const double min_lr = initial / s->final_div_factor;
    const double end0 = s->pct_start * (double)s->total_steps - 1, end1 = (double)s->total_steps - 1;
    double start_step = 0, end_step, from, to;
    if ((double)t <= end0) {
        end_step = end0, from = initial, to = peak;
    } else {
        start_step = end0, end_step = end1, from = peak, to = min_lr;
    }
    /* PyTorch divides by zero here (a phase of no steps); take its end */
    double pct = end_step != start_step ? ((double)t - start_step) / (end_step - start_step) : 1.0;
    double cos_out = cos(pi * pct) + 1;
    return to + (from - to) / 2.0 * cos_out;
}

int mt_sched_per_batch(const mt_sched *s) { return s->kind == MT_SCHED_ONECYCLE; }

double mt_sched_lr(const mt_sched *s)
{
    return s->kind == MT_SCHED_ONECYCLE ? mt_sched_onecycle_lr(s, s->step) : s->lr;
}

double mt_sched_batch_end(mt_sched *s)
{
    s->step++;
    if (s->kind == MT_SCHED_ONECYCLE)
        s->lr = mt_sched_onecycle_lr(s, s->step);
    return s->lr;
}

double mt_sched_epoch_end(mt_sched *s, double metric)
{
    s->epoch++;
    switch (s->kind) {
    case MT_SCHED_NONE:
        break;
    case MT_SCHED_ONECYCLE:
        s->lr = mt_sched_onecycle_lr(s, s->step);
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
    snprintf(buf, cap, "lr=%a best=%a bad=%d epoch=%d early_best=%a early_epoch=%d early_bad=%d step=%lld", s->lr,
             s->best, s->bad_epochs, s->epoch, e->best, e->best_epoch, e->bad_epochs, s->step);
}

int mt_sched_state_parse(const char *text, mt_sched *s, mt_early *e)
{
    double lr, best, ebest;
    int bad, epoch, eepoch, ebad, used = 0, used2 = 0;
    long long step = 0;
    if (sscanf(text, "lr=%la best=%la bad=%d epoch=%d early_best=%la early_epoch=%d early_bad=%d%n", &lr, &best,
               &bad, &epoch, &ebest, &eepoch, &ebad, &used) != 7 ||
        !(lr >= 0) || isnan(best) || isnan(ebest) || bad < 0 || epoch < 0 || eepoch < 0 || ebad < 0)
        return -1;
    /* the step count was added later: optional, and then the last field */
    if (text[used] != '\0' &&
        (sscanf(text + used, " step=%lld%n", &step, &used2) != 1 || text[used + used2] != '\0' || step < 0))
        return -1;
    s->step = step;
    s->lr = lr;
    s->best = best;
    s->bad_epochs = bad;
    s->epoch = epoch;
    e->best = ebest;
    e->best_epoch = eepoch;
    e->bad_epochs = ebad;
    return 0;
}

static const char *const names[] = { "none", "step", "cosine", "plateau", "onecycle" };

int mt_sched_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *mt_sched_name(mt_sched_kind kind)
{
    return (unsigned)kind < sizeof names / sizeof *names ? names[kind] : "?";
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
