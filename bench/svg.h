/* svg.h - a small SVG 1.1 chart writer for `recsys-bench report`, with no dependencies: line
 * charts (series of points over linear or log10 axes, markers, legend) and horizontal bar
 * charts (bars grouped by label, optional reference marks, legend), plus a well-formedness
 * check for the report's self-test.
 *
 * Every chart is a standalone document of SVG_WIDTH x SVG_HEIGHT pixels on a white background
 * (readable in a browser and on GitHub in light and dark mode); every text is escaped (&, <, >,
 * quotes; control characters dropped). A value that cannot be drawn (NaN, infinite, or <= 0 on
 * a log axis) is skipped: a line breaks there, a bar shows "n/a". A chart with nothing to draw
 * says "no data". Numbers are written with the C locale's decimal point (recsys-bench never
 * calls setlocale). */
#ifndef RECSYS_BENCH_SVG_H
#define RECSYS_BENCH_SVG_H

#include <stddef.h>

#define SVG_WIDTH 720
#define SVG_HEIGHT 420
#define SVG_PALETTE 6 /* colours before they repeat (Okabe-Ito, colour-blind safe) */

typedef struct svg_axis {
    const char *label;    /* axis title */
    int log;              /* 1 = log10 scale */
    double min, max;      /* the range; min >= max = from the data (a log axis to whole decades,
                             a linear one to a "nice" step, including 0) */
    const double *ticks;  /* tick positions (those inside the range are used); NULL = automatic:
                             1-2-5 steps, or decades (with 2 and 5 when the range spans <= 2) */
    size_t nticks;
    int plain;            /* 1 = tick labels as plain numbers (10000), not with k/M/G (10k) */
} svg_axis;

typedef struct svg_series {
    const char *name;     /* legend text */
    const double *x, *y;  /* n points, in x order */
    size_t n;
    int dashed;           /* 1 = a dashed line */
} svg_series;

typedef struct svg_bar {
    const char *label;    /* category, left of the bar; a bar with the same label as the one
                             before it (or NULL) joins its group, drawn under one label */
    double value;         /* bar length */
    int color;            /* palette index, the legend entry of the same index */
    double ref;           /* a reference mark across this bar; NaN = none */
} svg_bar;

typedef struct svg_chart {
    const char *title;
    svg_axis x, y;              /* bar charts: x is the value axis, y is not used */
    const char *const *legend;  /* bar charts: names of palette colours 0..nlegend-1 */
    size_t nlegend;             /* (0 = no colour legend) */
    const char *ref_name;       /* bar charts: legend text of the reference marks */
    int decimals;               /* bar value texts: digits after the point; < 0 = 3 significant
                                   digits with a k/M/G suffix */
} svg_chart;

/** Writes a line chart of ns series to path (created or truncated). Series i is drawn in
 *  palette colour i with marker shape i (circle, square, triangle, diamond, ...).
 *  Returns 0, or -1 with errno set when the file cannot be written. */
int svg_line_chart(const char *path, const svg_chart *c, const svg_series *s, size_t ns);

/** Writes a horizontal bar chart of nb bars to path, top to bottom in array order, with each
 *  value (and reference, when there is one) printed right of the plot. Returns 0, or -1 with
 *  errno set. */
int svg_bar_chart(const char *path, const svg_chart *c, const svg_bar *b, size_t nb);

/** v with 3 significant digits and a k/M/G suffix ("2.15M", "720k", "0.05", "-"
 *  for NaN) into buf; returns buf. */
char *svg_format_si(char *buf, size_t cap, double v);

/** Checks that the file at path is well-formed XML as this writer produces it: one root <svg>
 *  element with the SVG namespace, tags balanced and properly nested, attribute values quoted,
 *  only the five predefined entities or character references, no NaN or infinity in an
 *  attribute. Not a validating parser: no DTD, no encoding check. Returns 0, or -1 with a
 *  message (the line and what is wrong) in err. */
int svg_check_wellformed(const char *path, char *err, size_t cap);

#endif
