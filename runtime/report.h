/* report.h: the runtime's error messages: "PREFIX: message" into the caller's buffer (report.c). */
#ifndef KILN_REPORT_H
#define KILN_REPORT_H
#include <stddef.h>

/* Writes "prefix: " and the formatted message into err; returns 1 (the runtime's failure status). */
int kiln_report(char *err, size_t errlen, const char *prefix, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* text into buf (at most size - 1 bytes, always terminated), each control byte (< 0x20, 0x7f) and
   backslash written as \xNN or \\, so that names read from a file print as one readable line. */
void kiln_escape(char *buf, size_t size, const char *text);
/* "1.50 GiB", "512 B": bytes in binary units, into buf */
void kiln_human_bytes(char *buf, size_t size, double bytes);
#endif
