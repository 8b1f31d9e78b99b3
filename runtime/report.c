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

void kiln_human_bytes(char *buf, size_t size, double bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4)
        bytes /= 1024, u++;
    snprintf(buf, size, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
}

void kiln_escape(char *buf, size_t size, const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 5 < size; p++) {
        if (*p < 0x20 || *p == 0x7f)
            n += (size_t)snprintf(buf + n, size - n, "\\x%02x", *p);
        else if (*p == '\\')
            buf[n++] = '\\', buf[n++] = '\\';
        else
            buf[n++] = (char)*p;
    }
    if (size)
        buf[n < size ? n : size - 1] = '\0';
}
