/* mt_labels: per-class counts and the label-range check (no I/O). */
#include "mt_labels.h"

#include <stdio.h>
#include <string.h>

/* Appends "a" or "a-b" (with ", " before all but the first) to r; "..." once full. */
static void add_range(mt_class_report *r, size_t *len, int a, int b, int *full)
{
    char t[32];
    if (*full)
        return;
    int n = a == b ? snprintf(t, sizeof t, "%s%d", *len ? ", " : "", a)
                   : snprintf(t, sizeof t, "%s%d-%d", *len ? ", " : "", a, b);
    if (*len + (size_t)n + 6 >= sizeof r->ranges) {
        memcpy(r->ranges + *len, ", ...", 6);
        *len += 5;
        *full = 1;
        return;
    }
    memcpy(r->ranges + *len, t, (size_t)n + 1);
    *len += (size_t)n;
}

void mt_labels_report(mt_class_report *out, const uint8_t *labels, size_t n, int n_classes)
{
    uint32_t count[256] = { 0 };
    mt_class_report r;
    memset(&r, 0, sizeof r);
    r.n_classes = n_classes;
    r.first_empty = -1;
    for (size_t i = 0; i < n; i++)
        count[labels[i]]++;
    if (n_classes > 256)
        n_classes = 256; /* uint8 labels */
    size_t len = 0;
    int full = 0;
    r.min_count = n_classes > 0 ? count[0] : 0;
    for (int c = 0; c < n_classes; c++) {
        r.min_count = count[c] < r.min_count ? count[c] : r.min_count;
        if (count[c])
            continue;
        int e = c;
        while (e + 1 < n_classes && count[e + 1] == 0)
            e++;
        if (r.first_empty < 0)
            r.first_empty = c;
        r.n_empty += e - c + 1;
        add_range(&r, &len, c, e, &full);
        c = e;
    }
    *out = r;
}

mt_status mt_labels_check(const uint8_t *labels, size_t n, int n_classes, const char *file, mt_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= n_classes)
            return mt_errf(err, MT_EDATA, "%s: label %d at index %zu is not below the number of classes (%d)",
                           file, labels[i], i, n_classes);
    return MT_OK;
}
