/* mt_labels: sanity of a label set against a class count.  A stray label
 * (one 200 in a 10-class file) would otherwise make a 201-class model in
 * silence, with classes 10..199 never seen. */
#ifndef MT_LABELS_H
#define MT_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"

typedef struct mt_class_report {
    int n_classes;       /* as given */
    int n_empty;         /* classes 0..n_classes-1 without any sample */
    int first_empty;     /* smallest such class, -1 if none */
    uint32_t min_count;  /* samples in the rarest class (0 when some are empty) */
    char ranges[160];    /* the empty classes as ranges, "10-199" or "3, 5, 7-9";
                            cut with ", ..." when long */
} mt_class_report;

/* Counts the samples of each class 0..n_classes-1 in labels (n) into *out
 * (labels >= n_classes are not counted: see mt_labels_check). */
void mt_labels_report(mt_class_report *out, const uint8_t *labels, size_t n, int n_classes);

/* MT_OK when every label is below n_classes; else MT_EDATA naming the first
 * offender: "FILE: label 200 at index 5 is not below the number of classes (10)". */
mt_status mt_labels_check(const uint8_t *labels, size_t n, int n_classes, const char *file, mt_err *err);

#endif
