/* diag.h: diagnostics. Every error a user can cause is reported as
 *   file:line:col: error: message
 *      <source line>
 *      ^
 * and counted; the driver exits with status 1 and writes nothing when any was reported. */
#ifndef KILN_DIAG_H
#define KILN_DIAG_H
#include <stddef.h>

struct loc {
    const char *file;                /* interned; lives as long as the compilation */
    int line, col;                   /* 1-based; line 0 = no position (whole file) */
};

void diag_error(struct loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_note(struct loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int diag_error_count(void);
/* Diagnostics at a line of `file` are shown where relocate(loc, ctx) says instead, when it names a
   file (kilnc import: a line of the description it generates is shown at the JSON key that line
   came from). file NULL: no relocation. */
void diag_set_relocation(const char *file, struct loc (*relocate)(struct loc loc, void *ctx), void *ctx);
/* Registers a file's text so that diagnostics can print its source lines. */
void diag_add_source(const char *file, const char *text);
/* The closest of candidates[0..n) to name within a small edit distance, or NULL. */
const char *diag_suggest(const char *name, const char *const *candidates, size_t n);
#endif
