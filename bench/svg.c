/* svg.c - see svg.h. */
#include "svg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define W SVG_WIDTH
#define H SVG_HEIGHT
#define MAX_TICKS 48
#define FONT "Helvetica, Arial, sans-serif"

static const char *const palette[SVG_PALETTE] = { "#0072B2", "#D55E00", "#009E73",
                                                  "#CC79A7", "#E69F00", "#56B4E9" };

/* ------------------------------------------------------------------ text and numbers */

/* Writes s as XML character data or an attribute value. */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (ch >= 0x20 || ch == '\t' || ch == '\n') /* XML 1.0 forbids other controls */
                fputc(ch, f);
        }
    }
}

/* <text> at (x, y); attrs are extra attributes written as they are (our own, never data). */
static void text(FILE *f, double x, double y, const char *anchor, int size, const char *attrs,
                 const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s%s>", x, y,
            anchor, size, attrs ? " " : "", attrs ? attrs : "");
    esc(f, s);
    fputs("</text>\n", f);
}

char *svg_format_si(char *buf, size_t cap, double v)
{
    static const struct {
        double div;
        const char *suffix;
    } si[] = { { 1e9, "G" }, { 1e6, "M" }, { 1e3, "k" } };
    if (!isfinite(v)) {
        snprintf(buf, cap, "-");
        return buf;
    }
    for (size_t i = 0; i < sizeof si / sizeof si[0]; i++)
        if (fabs(v) >= si[i].div * 0.9995) {
            snprintf(buf, cap, "%.3g%s", v / si[i].div, si[i].suffix);
            return buf;
        }
    snprintf(buf, cap, "%.3g", fabs(v) < 1e-12 ? 0.0 : v);
    return buf;
}

static char *tick_label(char *buf, size_t cap, const svg_axis *a, double v)
{
    if (!a->plain || fabs(v) < 1)
        return svg_format_si(buf, cap, v);
    snprintf(buf, cap, "%.0f", v);
    return buf;
}

/* ------------------------------------------------------------------ axes */

typedef struct scale {
    double lo, hi; /* the data range shown */
    double p0, p1; /* its pixels */
    int log;
    double t[MAX_TICKS];
    size_t nt;
} scale;

static int usable(int lg, double v)
{
    return isfinite(v) && (!lg || v > 0);
}

static double tr(const scale *s, double v)
{
    return s->log ? log10(v) : v;
}

static double sc_map(const scale *s, double v)
{
    double a = tr(s, s->lo), b = tr(s, s->hi);
    return s->p0 + (tr(s, v) - a) / (b - a) * (s->p1 - s->p0);
}

static double nice_step(double raw)
{
    double e = pow(10, floor(log10(raw))), f = raw / e;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
}

/* The range and the ticks of axis a over the data range [dmin, dmax] (dmin > dmax: no data). */
static void sc_setup(scale *s, const svg_axis *a, double dmin, double dmax)
{
    int fixed = a->min < a->max && usable(a->log, a->min);
    s->log = a->log;
    s->nt = 0;
    if (fixed) {
        dmin = a->min;
        dmax = a->max;
    } else if (dmin > dmax) {
        dmin = a->log ? 1 : 0;
        dmax = a->log ? 10 : 1;
    }
    if (s->log) {
        s->lo = fixed ? dmin : pow(10, floor(log10(dmin) + 1e-9));
        s->hi = fixed ? dmax : pow(10, ceil(log10(dmax) - 1e-9));
        if (s->hi <= s->lo)
            s->hi = s->lo * 10;
    } else {
        if (!fixed) {
            dmin = dmin > 0 ? 0 : dmin;
            dmax = dmax < 0 ? 0 : dmax;
            if (dmax <= dmin)
                dmax = dmin + 1;
        }
        double step = nice_step((dmax - dmin) / 5);
        s->lo = fixed ? dmin : floor(dmin / step + 1e-9) * step;
        s->hi = fixed ? dmax : ceil(dmax / step - 1e-9) * step;
        if (!a->ticks)
            for (double k = ceil(s->lo / step - 1e-9); k <= floor(s->hi / step + 1e-9) &&
                                                       s->nt < MAX_TICKS; k++)
                s->t[s->nt++] = k * step;
    }
    if (a->ticks) {
        for (size_t i = 0; i < a->nticks && s->nt < MAX_TICKS; i++)
            if (usable(s->log, a->ticks[i]) && a->ticks[i] >= s->lo * (1 - 1e-9) &&
                a->ticks[i] <= s->hi * (1 + 1e-9))
                s->t[s->nt++] = a->ticks[i];
    } else if (s->log) {
        int decades = (int)lround(log10(s->hi / s->lo));
        static const double m125[] = { 1, 2, 5 };
        for (double e = floor(log10(s->lo)); e <= ceil(log10(s->hi)); e++)
            for (int m = 0; m < (decades <= 2 ? 3 : 1); m++) {
                double v = m125[m] * pow(10, e);
                if (v >= s->lo * (1 - 1e-9) && v <= s->hi * (1 + 1e-9) && s->nt < MAX_TICKS)
                    s->t[s->nt++] = v;
            }
    }
}

/* ------------------------------------------------------------------ the document */

static FILE *doc_open(const char *path, const char *title)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"%s\" fill=\"#222222\">\n",
            W, H, W, H, FONT);
    fputs("<title>", f);
    esc(f, title);
    fputs("</title>\n", f);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    text(f, W / 2.0, 26, "middle", 16, "font-weight=\"bold\"", title);
    return f;
}

static int doc_close(FILE *f)
{
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0)
        return -1;
    if (bad) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static void no_data(FILE *f, double x0, double x1, double y0, double y1)
{
    text(f, (x0 + x1) / 2, (y0 + y1) / 2, "middle", 14, "fill=\"#777777\"", "no data");
}

/* The vertical gridlines and labels of a horizontal axis (x) under the plot. */
static void x_axis(FILE *f, const scale *s, const svg_axis *a, double top, double bottom)
{
    char buf[32];
    for (size_t i = 0; i < s->nt; i++) {
        double x = sc_map(s, s->t[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                x, top, x, bottom);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/>\n",
                x, bottom, x, bottom + 5);
        text(f, x, bottom + 19, "middle", 12, NULL, tick_label(buf, sizeof buf, a, s->t[i]));
    }
    text(f, (s->p0 + s->p1) / 2, H - 14, "middle", 13, NULL, a->label);
}

static void frame(FILE *f, double x0, double x1, double y0, double y1)
{
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#444444\"/>\n", x0, y0, x1 - x0, y1 - y0);
}

/* ------------------------------------------------------------------ line charts */

static void marker(FILE *f, int kind, double x, double y, const char *color)
{
    const char *paint = "stroke=\"#ffffff\" stroke-width=\"1\"";
    switch (kind % 4) {
    case 0:
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"%s\" %s/>\n", x, y, color,
                paint);
        break;
    case 1:
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"%s\" %s/>\n",
                x - 4.5, y - 4.5, color, paint);
        break;
    case 2:
        fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\" %s/>\n", x, y - 6,
                x + 5.5, y + 4, x - 5.5, y + 4, color, paint);
        break;
    default:
        fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\" %s/>\n", x,
                y - 6, x + 6, y, x, y + 6, x - 6, y, color, paint);
    }
}

int svg_line_chart(const char *path, const svg_chart *c, const svg_series *s, size_t ns)
{
    const double left = 78, right = W - 176, top = 48, bottom = H - 62, pad = 16;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < ns; i++)
        for (size_t k = 0; k < s[i].n; k++)
            if (usable(c->x.log, s[i].x[k]) && usable(c->y.log, s[i].y[k])) {
                xmin = fmin(xmin, s[i].x[k]);
                xmax = fmax(xmax, s[i].x[k]);
                ymin = fmin(ymin, s[i].y[k]);
                ymax = fmax(ymax, s[i].y[k]);
            }
    scale sx = { .p0 = left + pad, .p1 = right - pad }, sy = { .p0 = bottom, .p1 = top };
    sc_setup(&sx, &c->x, xmin, xmax);
    sc_setup(&sy, &c->y, ymin, ymax);
    FILE *f = doc_open(path, c->title);
    if (!f)
        return -1;

    char buf[32];
    for (size_t i = 0; i < sy.nt; i++) {
        double y = sc_map(&sy, sy.t[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                left, y, right, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/>\n",
                left - 5, y, left, y);
        text(f, left - 8, y + 4, "end", 12, NULL, tick_label(buf, sizeof buf, &c->y, sy.t[i]));
    }
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"13\">", (top + bottom) / 2);
    esc(f, c->y.label);
    fputs("</text>\n", f);
    x_axis(f, &sx, &c->x, top, bottom);
    frame(f, left, right, top, bottom);
    if (xmin > xmax)
        no_data(f, left, right, top, bottom);

    for (size_t i = 0; i < ns; i++) {
        const char *color = palette[i % SVG_PALETTE];
        int pen = 0;
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"", color,
                s[i].dashed ? " stroke-dasharray=\"7 4\"" : "");
        for (size_t k = 0; k < s[i].n; k++) {
            if (!usable(c->x.log, s[i].x[k]) || !usable(c->y.log, s[i].y[k])) {
                pen = 0; /* a gap */
                continue;
            }
            fprintf(f, "%s%.1f %.1f", pen ? "L" : "M", sc_map(&sx, s[i].x[k]),
                    sc_map(&sy, s[i].y[k]));
            pen = 1;
        }
        fputs("\"/>\n", f);
        for (size_t k = 0; k < s[i].n; k++)
            if (usable(c->x.log, s[i].x[k]) && usable(c->y.log, s[i].y[k]))
                marker(f, (int)i, sc_map(&sx, s[i].x[k]), sc_map(&sy, s[i].y[k]), color);
        /* the legend, right of the plot */
        double lx = right + 16, ly = top + 10 + 24.0 * (double)i;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"2\"%s/>\n", lx, ly, lx + 28, ly, color,
                s[i].dashed ? " stroke-dasharray=\"7 4\"" : "");
        marker(f, (int)i, lx + 14, ly, color);
        text(f, lx + 36, ly + 4, "start", 12, NULL, s[i].name);
    }
    return doc_close(f);
}

/* ------------------------------------------------------------------ bar charts */

static int same_group(const svg_bar *b, size_t i)
{
    return i > 0 && (!b[i].label || (b[i - 1].label && !strcmp(b[i].label, b[i - 1].label)));
}

static void value_text(char *buf, size_t cap, int decimals, double v)
{
    if (!isfinite(v))
        snprintf(buf, cap, "n/a");
    else if (decimals >= 0)
        snprintf(buf, cap, "%.*f", decimals, v);
    else
        svg_format_si(buf, cap, v);
}

int svg_bar_chart(const char *path, const svg_chart *c, const svg_bar *b, size_t nb)
{
    const int lg = c->x.log;
    double dmin = INFINITY, dmax = -INFINITY;
    size_t label_len = 0, groups = 0;
    int any_ref = 0;
    for (size_t i = 0; i < nb; i++) {
        double v[2] = { b[i].value, b[i].ref };
        for (int k = 0; k < 2; k++)
            if (usable(lg, v[k])) {
                dmin = fmin(dmin, v[k]);
                dmax = fmax(dmax, v[k]);
            }
        any_ref |= usable(lg, b[i].ref);
        if (b[i].label && strlen(b[i].label) > label_len)
            label_len = strlen(b[i].label);
        groups += !same_group(b, i);
    }
    double left = 16 + 7.0 * (double)label_len;
    left = left < 60 ? 60 : left > 240 ? 240 : left;
    const double right = W - 150, bottom = H - 62;
    const double top = 44 + (c->nlegend || any_ref ? 26 : 0);
    scale sx = { .p0 = left, .p1 = right };
    sc_setup(&sx, &c->x, dmin, dmax);
    FILE *f = doc_open(path, c->title);
    if (!f)
        return -1;

    /* the legend, one row under the title */
    double lx = left;
    for (size_t i = 0; i < c->nlegend; i++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", lx,
                top - 27.0, palette[i % SVG_PALETTE]);
        text(f, lx + 17, top - 17, "start", 12, NULL, c->legend[i]);
        lx += 17 + 7.0 * (double)strlen(c->legend[i]) + 18;
    }
    if (any_ref) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#111111\" "
                   "stroke-width=\"2.5\"/>\n", lx + 5, top - 29.0, lx + 5, top - 13.0);
        text(f, lx + 15, top - 17, "start", 12, NULL, c->ref_name ? c->ref_name : "reference");
    }

    x_axis(f, &sx, &c->x, top, bottom);
    frame(f, left, right, top, bottom);
    if (dmin > dmax)
        no_data(f, left, right, top, bottom);

    /* rows: one unit per bar, half a unit between groups, a fifth above and below */
    const double gap = 0.5, margin = 0.2;
    double units = (double)nb + gap * (double)(groups ? groups - 1 : 0) + 2 * margin;
    double u = (bottom - top) / (units > 0 ? units : 1), y = top + margin * u;
    double thick = u * 0.78, group_y0 = y;
    char buf[64], rbuf[64];
    for (size_t i = 0; i < nb; i++) {
        if (i > 0 && !same_group(b, i))
            y += gap * u;
        if (!same_group(b, i))
            group_y0 = y;
        double by = y + (u - thick) / 2;
        if (usable(lg, b[i].value)) {
            double x1 = sc_map(&sx, fmin(fmax(b[i].value, sx.lo), sx.hi));
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                       "fill=\"%s\"/>\n", left, by, x1 - left > 1 ? x1 - left : 1, thick,
                    palette[(b[i].color < 0 ? 0 : b[i].color) % SVG_PALETTE]);
        }
        if (usable(lg, b[i].ref) && b[i].ref >= sx.lo && b[i].ref <= sx.hi) {
            double rx = sc_map(&sx, b[i].ref);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#111111\" "
                       "stroke-width=\"2.5\"/>\n", rx, by - 4, rx, by + thick + 4);
        }
        /* the value (and the reference) right of the plot */
        value_text(buf, sizeof buf, c->decimals, b[i].value);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" font-weight=\"bold\">", right + 8,
                y + u / 2 + 4);
        esc(f, buf);
        if (usable(lg, b[i].ref)) {
            value_text(rbuf, sizeof rbuf, c->decimals, b[i].ref);
            fputs("<tspan font-weight=\"normal\" fill=\"#555555\" dx=\"8\">ref ", f);
            esc(f, rbuf);
            fputs("</tspan>", f);
        }
        fputs("</text>\n", f);
        y += u;
        if (i + 1 == nb || !same_group(b, i + 1)) { /* the group's label, centred on it */
            size_t first = i;
            while (same_group(b, first))
                first--;
            text(f, left - 8, (group_y0 + y) / 2 + 4, "end", 12, NULL, b[first].label);
        }
    }
    return doc_close(f);
}

/* ------------------------------------------------------------------ the check */

static int fail_at(char *err, size_t cap, const char *s, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_at(char *err, size_t cap, const char *s, size_t at, const char *fmt, ...)
{
    size_t line = 1;
    for (size_t i = 0; i < at; i++)
        line += s[i] == '\n';
    int n = snprintf(err, cap, "line %zu: ", line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < cap)
        vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int name_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == ':' || ch == '.';
}

/* Length of the entity or character reference at s ('&'), or 0 when it is not one. */
static size_t entity_len(const char *s)
{
    static const char *const named[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
    for (size_t i = 0; i < 5; i++)
        if (!strncmp(s, named[i], strlen(named[i])))
            return strlen(named[i]);
    if (s[1] != '#')
        return 0;
    size_t i = 2;
    int hex = s[2] == 'x';
    i += (size_t)hex;
    size_t d = i;
    while (hex ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i]))
        i++;
    return i > d && s[i] == ';' ? i + 1 : 0;
}

static int has_word(const char *v, size_t n, const char *w)
{
    for (size_t i = 0; i + strlen(w) <= n; i++)
        if (!strncasecmp(v + i, w, strlen(w)))
            return 1;
    return 0;
}

int svg_check_wellformed(const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0, room = 1 << 16;
    char *s = malloc(room);
    while (s) {
        n += fread(s + n, 1, room - n - 1, f);
        if (n < room - 1)
            break;
        char *t = realloc(s, room *= 2);
        if (!t)
            free(s);
        s = t;
    }
    fclose(f);
    if (!s) {
        snprintf(err, cap, "out of memory reading %s", path);
        return -1;
    }
    s[n] = '\0';

    enum { DEPTH = 64, NAME = 32 };
    char stack[DEPTH][NAME];
    int depth = 0, roots = 0, rc = 0;
    size_t i = 0;
    while (i < n && rc == 0) {
        if (s[i] == '&') {
            size_t len = entity_len(s + i);
            if (!len)
                rc = fail_at(err, cap, s, i, "'&' that is not an entity");
            i += len;
        } else if (s[i] != '<') {
            if (!depth && !isspace((unsigned char)s[i]))
                rc = fail_at(err, cap, s, i, "text outside the root element");
            i++;
        } else if (!strncmp(s + i, "<?", 2) || !strncmp(s + i, "<!--", 4)) {
            const char *close = s[i + 1] == '?' ? "?>" : "-->";
            char *end = strstr(s + i, close);
            if (!end)
                rc = fail_at(err, cap, s, i, "unterminated %s", s[i + 1] == '?' ? "<?" : "<!--");
            else
                i = (size_t)(end - s) + strlen(close);
        } else if (s[i + 1] == '/') {
            size_t b = i + 2, e = b;
            while (name_char(s[e]))
                e++;
            size_t k = e;
            while (isspace((unsigned char)s[k]))
                k++;
            if (s[k] != '>')
                rc = fail_at(err, cap, s, i, "malformed end tag");
            else if (!depth)
                rc = fail_at(err, cap, s, i, "end tag </%.*s> with nothing open", (int)(e - b),
                             s + b);
            else if (strlen(stack[depth - 1]) != e - b || strncmp(stack[depth - 1], s + b, e - b))
                rc = fail_at(err, cap, s, i, "</%.*s> closes <%s>", (int)(e - b), s + b,
                             stack[depth - 1]);
            else
                depth--;
            i = k + 1;
        } else {
            size_t b = i + 1, e = b;
            while (name_char(s[e]))
                e++;
            if (e == b || e - b >= NAME) {
                rc = fail_at(err, cap, s, i, "bad element name");
                break;
            }
            int is_root = depth == 0, xmlns = 0;
            if (is_root && (++roots > 1 || e - b != 3 || strncmp(s + b, "svg", 3))) {
                rc = fail_at(err, cap, s, i, roots > 1 ? "a second root element"
                                                       : "the root element is not <svg>");
                break;
            }
            size_t k = e;
            for (;;) { /* attributes */
                size_t ws = k;
                while (isspace((unsigned char)s[k]))
                    k++;
                if (s[k] == '>' || !strncmp(s + k, "/>", 2))
                    break;
                size_t an = k;
                while (name_char(s[k]))
                    k++;
                if (k == an || k == ws || s[k] != '=' || (s[k + 1] != '"' && s[k + 1] != '\'')) {
                    rc = fail_at(err, cap, s, an, "malformed attribute in <%.*s>", (int)(e - b),
                                 s + b);
                    break;
                }
                char q = s[k + 1];
                size_t vb = k + 2, ve = vb;
                while (ve < n && s[ve] != q && s[ve] != '<' && rc == 0) {
                    size_t len = s[ve] == '&' ? entity_len(s + ve) : 1;
                    if (!len)
                        rc = fail_at(err, cap, s, ve, "'&' that is not an entity");
                    ve += len ? len : 1;
                }
                if (rc)
                    break;
                if (s[ve] != q) {
                    rc = fail_at(err, cap, s, an, "unterminated attribute value");
                    break;
                }
                if (has_word(s + vb, ve - vb, "nan") || has_word(s + vb, ve - vb, "inf")) {
                    rc = fail_at(err, cap, s, an, "NaN or infinity in attribute %.*s",
                                 (int)(k - an), s + an);
                    break;
                }
                if (k - an == 5 && !strncmp(s + an, "xmlns", 5) && ve - vb == 26 &&
                    !strncmp(s + vb, "http://www.w3.org/2000/svg", 26))
                    xmlns = 1;
                k = ve + 1;
            }
            if (rc)
                break;
            if (is_root && !xmlns) {
                rc = fail_at(err, cap, s, i, "<svg> without xmlns=\"http://www.w3.org/2000/svg\"");
                break;
            }
            if (s[k] == '>') {
                if (depth == DEPTH) {
                    rc = fail_at(err, cap, s, i, "nested deeper than %d", DEPTH);
                    break;
                }
                snprintf(stack[depth++], NAME, "%.*s", (int)(e - b), s + b);
                i = k + 1;
            } else {
                i = k + 2;
            }
        }
    }
    if (rc == 0 && depth)
        rc = fail_at(err, cap, s, n, "<%s> is never closed", stack[depth - 1]);
    if (rc == 0 && roots != 1)
        rc = fail_at(err, cap, s, n, "no root element");
    free(s);
    return rc;
}
