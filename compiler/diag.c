/* diag.c: diagnostics in the form `file:line:col: error: message`, followed by the source line and
 * a caret under the column (chibicc, cproc), and "did you mean" suggestions. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "diag.h"

/* The texts of the files read so far, to quote their lines. */
struct source {
    char *file;
    char *text;
};

static struct source *sources;
static size_t source_count, source_cap;
static int error_count;

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p) {
        fputs("kilnc: out of memory\n", stderr);
        exit(2);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

void diag_add_source(const char *file, const char *text)
{
    for (size_t i = 0; i < source_count; i++) {
        if (strcmp(sources[i].file, file) == 0) {
            free(sources[i].text);
            sources[i].text = xstrdup(text);
            return;
        }
    }
    if (source_count == source_cap) {
        source_cap = source_cap ? 2 * source_cap : 8;
        sources = xrealloc(sources, source_cap * sizeof *sources);
    }
    sources[source_count].file = xstrdup(file);
    sources[source_count].text = xstrdup(text);
    source_count++;
}

static const char *source_text(const char *file)
{
    for (size_t i = 0; i < source_count; i++)
        if (strcmp(sources[i].file, file) == 0)
            return sources[i].text;
    return NULL;
}

/* Finds line `line` (1-based) of text: its start and length without the newline (or "\r\n"). */
static const char *find_line(const char *text, int line, size_t *len)
{
    const char *p = text;
    for (int l = 1; l < line; l++) {
        p = strchr(p, '\n');
        if (!p)
            return NULL;
        p++;
    }
    size_t n = strcspn(p, "\n");
    if (n > 0 && p[n - 1] == '\r')
        n--;
    *len = n;
    return p;
}

/* Prints the source line of loc (at most WINDOW bytes around the column, control characters shown
   as '?') and a caret line whose tabs mirror the source's, so that the caret lines up. */
static void print_excerpt(struct loc loc)
{
    enum { WINDOW = 160, BEFORE = 100 };
    const char *text = loc.file ? source_text(loc.file) : NULL;
    size_t len;
    const char *line = text && loc.line > 0 ? find_line(text, loc.line, &len) : NULL;
    if (!line)
        return;
    size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0;
    if (col > len)
        col = len;
    size_t start = col > BEFORE ? col - BEFORE : 0;
    size_t end = len - start > WINDOW ? start + WINDOW : len;
    if (end < col)
        end = col;
    const char *prefix = start > 0 ? "..." : "";
    fputs(prefix, stderr);
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)line[i];
        fputc(c == '\t' || (c >= 0x20 && c != 0x7f) ? c : '?', stderr);
    }
    fputs(end < len ? "...\n" : "\n", stderr);
    fprintf(stderr, "%*s", (int)strlen(prefix), "");
    for (size_t i = start; i < col; i++)
        fputc(line[i] == '\t' ? '\t' : ' ', stderr);
    fputs("^\n", stderr);
}

static struct {
    char *file;
    struct loc (*relocate)(struct loc loc, void *ctx);
    void *ctx;
} relocation;

void diag_set_relocation(const char *file, struct loc (*relocate)(struct loc loc, void *ctx), void *ctx)
{
    free(relocation.file);
    relocation.file = file ? xstrdup(file) : NULL;
    relocation.relocate = relocate;
    relocation.ctx = ctx;
}

static void report(struct loc loc, const char *kind, const char *fmt, va_list ap)
{
    fflush(stdout);
    if (relocation.file && loc.file && loc.line > 0 && strcmp(loc.file, relocation.file) == 0) {
        struct loc moved = relocation.relocate(loc, relocation.ctx);
        if (moved.file)
            loc = moved;
    }
    if (!loc.file)
        fprintf(stderr, "kilnc: %s: ", kind);
    else if (loc.line <= 0)
        fprintf(stderr, "%s: %s: ", loc.file, kind);
    else
        fprintf(stderr, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col, kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    print_excerpt(loc);
}

void diag_error(struct loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(loc, "error", fmt, ap);
    va_end(ap);
    error_count++;
}

void diag_note(struct loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(loc, "note", fmt, ap);
    va_end(ap);
}

int diag_error_count(void)
{
    return error_count;
}

/* Levenshtein distance with one rolling row; names are short, longer ones are not compared. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX || lb > MAX)
        return (size_t)-1;
    size_t row[MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *diag_suggest(const char *name, const char *const *candidates, size_t n)
{
    size_t limit = strlen(name) / 3;
    if (limit < 1)
        limit = 1;
    const char *best = NULL;
    size_t best_distance = limit + 1;
    for (size_t i = 0; i < n; i++) {
        if (!candidates[i] || strcmp(candidates[i], name) == 0)
            continue;
        size_t d = edit_distance(name, candidates[i]);
        if (d < best_distance) {
            best = candidates[i];
            best_distance = d;
        }
    }
    return best;
}
