/* npy.c: reads NumPy .npy files (format 1.0, 2.0 and 3.0) and writes format 1.0.
 * Layout: "\x93NUMPY", major, minor, the header length (u16 LE in 1.0, u32 LE after), a Python
 * dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
 * spaces and a '\n' so that the data starts on a multiple of 64 bytes, then the data in C order. */
#define _POSIX_C_SOURCE 200809L /* fileno, with any compiler's -std=c11 */
#include "npy.h"
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAX_RANK 8
#define NPY_MAX_HEADER_BYTES (1u << 20)

static const struct {
    const char *descr;
    enum npy_dtype dtype;
    size_t size;
} npy_types[] = {
    {"<i4", NPY_I32, 4}, {"<i8", NPY_I64, 8}, {"<f4", NPY_F32, 4}, {"|u1", NPY_U8, 1}, {"|b1", NPY_U8, 1},
};
#define NPY_NUM_TYPES (sizeof npy_types / sizeof npy_types[0])

/* A shape as Python writes it: "()", "(40,)", "(2, 3)". */
static void format_tuple(char *buf, size_t len, int rank, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < rank && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%" PRId64 "%s", i ? ", " : "", shape[i],
                                 rank == 1 ? "," : "");
    if (used < len)
        snprintf(buf + used, len - used, ")");
}

/* ---- Reading: the header dict is scanned by a cursor over [p, end). ---- */

struct dict_scan {
    const char *start, *p, *end;
    size_t file_offset;              /* of the header's first byte, for error positions */
    const char *path;
    char *err;
    size_t errlen;
};

static int expected(struct dict_scan *s, const char *what)
{
    return kiln_report(s->err, s->errlen, s->path, "malformed header: expected %s at byte %zu", what,
                s->file_offset + (size_t)(s->p - s->start));
}

static int accept(struct dict_scan *s, char c)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
        s->p++;
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string ('...' or "..."), without escapes; points text/len into the header. */
static int parse_quoted(struct dict_scan *s, const char **text, size_t *len)
{
    char quote = accept(s, '\'') ? '\'' : accept(s, '"') ? '"' : 0;
    if (!quote)
        return expected(s, "a quoted string");
    *text = s->p;
    while (s->p < s->end && *s->p != quote)
        s->p++;
    if (s->p == s->end)
        return expected(s, "a closing quote");
    *len = (size_t)(s->p++ - *text);
    return 0;
}

static int parse_shape(struct dict_scan *s, struct npy_array *a)
{
    if (!accept(s, '('))
        return expected(s, "'('");
    a->rank = 0;
    while (!accept(s, ')')) {
        if (a->rank == NPY_MAX_RANK)
            return kiln_report(s->err, s->errlen, s->path, "shape has more than %d dimensions", NPY_MAX_RANK);
        if (s->p == s->end || *s->p < '0' || *s->p > '9')
            return expected(s, "a dimension");
        int64_t dim = 0;
        for (; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++) {
            if (dim > (INT64_MAX - 9) / 10)
                return kiln_report(s->err, s->errlen, s->path, "shape has a dimension too large");
            dim = dim * 10 + (*s->p - '0');
        }
        accept(s, 'L');              /* Python 2 wrote long integers as 3L */
        a->shape[a->rank++] = dim;
        if (!accept(s, ',') && !(s->p < s->end && *s->p == ')'))
            return expected(s, "',' or ')'");
    }
    return 0;
}

/* One "'key': value" entry; descr is returned as text into the header. */
static int parse_entry(struct dict_scan *s, struct npy_array *a, const char **descr, size_t *descr_len,
                       int *fortran_order, int *have_shape)
{
    const char *key;
    size_t key_len;
    if (parse_quoted(s, &key, &key_len))
        return 1;
    if (!accept(s, ':'))
        return expected(s, "':'");
    if (key_len == 5 && !memcmp(key, "descr", 5))
        return parse_quoted(s, descr, descr_len);
    if (key_len == 5 && !memcmp(key, "shape", 5)) {
        *have_shape = 1;
        return parse_shape(s, a);
    }
    if (key_len != 13 || memcmp(key, "fortran_order", 13))
        return kiln_report(s->err, s->errlen, s->path, "malformed header: unknown key '%.*s'", (int)key_len, key);
    accept(s, ' ');
    size_t left = (size_t)(s->end - s->p);
    *fortran_order = left >= 4 && !memcmp(s->p, "True", 4) ? 1 : left >= 5 && !memcmp(s->p, "False", 5) ? 0 : -1;
    if (*fortran_order < 0)
        return expected(s, "True or False");
    s->p += *fortran_order ? 4 : 5;
    return 0;
}

/* Parses the dict and sets dtype, rank, shape and count. */
static int parse_header(struct dict_scan *s, struct npy_array *a, size_t *item_size)
{
    const char *descr = NULL;
    size_t descr_len = 0;
    int fortran_order = -1, have_shape = 0;
    if (!accept(s, '{'))
        return expected(s, "'{'");
    while (!accept(s, '}')) {
        if (parse_entry(s, a, &descr, &descr_len, &fortran_order, &have_shape))
            return 1;
        if (!accept(s, ',') && !(s->p < s->end && *s->p == '}'))
            return expected(s, "',' or '}'");
    }
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n'))
        s->p++;
    if (s->p != s->end)
        return expected(s, "the end of the header");
    if (!descr || fortran_order < 0 || !have_shape)
        return kiln_report(s->err, s->errlen, s->path, "malformed header: no '%s'",
                    !descr ? "descr" : fortran_order < 0 ? "fortran_order" : "shape");
    if (fortran_order)
        return kiln_report(s->err, s->errlen, s->path, "fortran_order arrays are not supported (save in C order)");
    size_t t = 0;
    while (t < NPY_NUM_TYPES && (strlen(npy_types[t].descr) != descr_len ||
                                 memcmp(npy_types[t].descr, descr, descr_len)))
        t++;
    if (t == NPY_NUM_TYPES)
        return kiln_report(s->err, s->errlen, s->path,
                    "unsupported dtype '%.*s' (kiln reads '<i4', '<i8', '<f4', '|u1' and '|b1')", (int)descr_len, descr);
    a->dtype = npy_types[t].dtype;
    *item_size = npy_types[t].size;
    a->count = 1;
    for (int i = 0; i < a->rank; i++) {
        if (a->shape[i] && a->count > SIZE_MAX / *item_size / (uint64_t)a->shape[i])
            return kiln_report(s->err, s->errlen, s->path, "shape is too large");
        a->count *= (size_t)a->shape[i];
    }
    return 0;
}

/* Reads the preamble and header, then exactly count * item_size bytes of data. */
static int read_file(FILE *file, const char *path, struct npy_array *a, char *err, size_t errlen)
{
    unsigned char preamble[12];
    size_t got = fread(preamble, 1, 10, file);
    if (got < 6 || memcmp(preamble, "\x93NUMPY", 6))
        return kiln_report(err, errlen, path, "not a .npy file (bad magic)");
    if (got < 10)
        return kiln_report(err, errlen, path, "truncated header");
    int major = preamble[6], minor = preamble[7];
    if (major < 1 || major > 3)
        return kiln_report(err, errlen, path, "unsupported .npy version %d.%d", major, minor);
    size_t preamble_len = major == 1 ? 10 : 12, header_len = preamble[8] | (size_t)preamble[9] << 8;
    if (major > 1) {
        if (fread(preamble + 10, 1, 2, file) != 2)
            return kiln_report(err, errlen, path, "truncated header");
        header_len |= (size_t)preamble[10] << 16 | (size_t)preamble[11] << 24;
    }
    if (header_len > NPY_MAX_HEADER_BYTES)
        return kiln_report(err, errlen, path, "header length %zu is over the limit of %u bytes", header_len,
                    NPY_MAX_HEADER_BYTES);
    char *header = malloc(header_len + 1);
    if (!header)
        return kiln_report(err, errlen, path, "out of memory");
    struct dict_scan scan = {header, header, header + header_len, preamble_len, path, err, errlen};
    size_t item_size = 0;
    int rc = fread(header, 1, header_len, file) != header_len ? kiln_report(err, errlen, path, "truncated header")
                                                               : parse_header(&scan, a, &item_size);
    free(header);
    if (rc)
        return 1;

    struct stat st;
    if (fstat(fileno(file), &st) != 0)
        return kiln_report(err, errlen, path, "%s", strerror(errno));
    size_t data_bytes = a->count * item_size;
    long long file_data_bytes = (long long)st.st_size - (long long)(preamble_len + header_len);
    if (file_data_bytes != (long long)data_bytes) {
        char shape[200];
        format_tuple(shape, sizeof shape, a->rank, a->shape);
        return kiln_report(err, errlen, path, "%s: the file holds %lld bytes of data but shape %s needs %zu",
                    file_data_bytes < (long long)data_bytes ? "truncated data" : "extra data",
                    file_data_bytes, shape, data_bytes);
    }
    a->data = malloc(data_bytes ? data_bytes : 1);
    if (!a->data)
        return kiln_report(err, errlen, path, "out of memory (%zu bytes)", data_bytes);
    if (fread(a->data, 1, data_bytes, file) != data_bytes)
        return kiln_report(err, errlen, path, "read error: %s", ferror(file) ? strerror(errno) : "file shrank");
    return 0;
}

int npy_read(const char *path, struct npy_array *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    FILE *file = fopen(path, "rb");
    if (!file)
        return kiln_report(err, errlen, path, "%s", strerror(errno));
    int rc = read_file(file, path, a, err, errlen);
    fclose(file);
    if (rc)
        npy_free(a);
    return rc;
}

/* ---- Writing ---- */

/* Writes the whole file to an open stream; returns 0 or an errno value. */
static int write_stream(FILE *file, const char *descr, int rank, const int64_t *shape, const void *data,
                        size_t data_bytes)
{
    char header[512], tuple[256];
    format_tuple(tuple, sizeof tuple, rank, shape);
    int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple);
    while ((10 + len + 1) % 64)      /* numpy pads with spaces so that the data is 64-byte aligned */
        header[len++] = ' ';
    header[len++] = '\n';
    unsigned char preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 0xFF),
                                  (unsigned char)(len >> 8)};
    errno = 0;
    if (fwrite(preamble, 1, sizeof preamble, file) != sizeof preamble ||
        fwrite(header, 1, (size_t)len, file) != (size_t)len ||
        (data_bytes && fwrite(data, 1, data_bytes, file) != data_bytes) || fflush(file) != 0)
        return errno ? errno : EIO;
    return 0;
}

int npy_write(const char *path, enum npy_dtype dtype, int rank, const int64_t *shape, const void *data,
              char *err, size_t errlen)
{
    size_t t = 0;
    while (t < NPY_NUM_TYPES && npy_types[t].dtype != dtype)
        t++;
    if (t == NPY_NUM_TYPES || rank < 0 || rank > NPY_MAX_RANK)
        return kiln_report(err, errlen, path, "cannot write dtype %d with rank %d", (int)dtype, rank);
    size_t data_bytes = npy_types[t].size;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] && data_bytes > SIZE_MAX / (uint64_t)shape[i]))
            return kiln_report(err, errlen, path, "cannot write shape entry %" PRId64, shape[i]);
        data_bytes *= (size_t)shape[i];
    }

    size_t temp_len = strlen(path) + 32;
    char *temp_path = malloc(temp_len);
    if (!temp_path)
        return kiln_report(err, errlen, path, "out of memory");
    snprintf(temp_path, temp_len, "%s.tmp.%ld", path, (long)getpid());
    FILE *file = fopen(temp_path, "wb");
    int error = file ? write_stream(file, npy_types[t].descr, rank, shape, data, data_bytes) : errno;
    if (file && fclose(file) != 0 && !error)
        error = errno ? errno : EIO;
    if (!error && rename(temp_path, path) != 0)
        error = errno;
    if (error && file)
        remove(temp_path);
    free(temp_path);
    return error ? kiln_report(err, errlen, path, "%s", strerror(error)) : 0;
}

void npy_free(struct npy_array *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}
