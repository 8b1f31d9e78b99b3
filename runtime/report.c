/* report.c: see report.h. */
#include <stdarg.h>
#include <stdio.h>
#include "report.h"

int kiln_report(char *err, size_t errlen, const char *prefix, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s: ", prefix);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return 1;
}
