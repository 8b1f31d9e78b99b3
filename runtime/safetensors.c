/* safetensors.c: opens a .safetensors file over mmap and validates its header with a small
 * hand-written JSON scanner (no JSON library: the runtime runs on bare targets).
 * File layout: u64 LE header length N, N bytes of JSON, then the data section that every
 * tensor's data_offsets [begin, end) index. The scanner never reads past the header's end. */
#define _DEFAULT_SOURCE /* madvise (st_release) */
#include "safetensors.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "safetensors.c converts F32 data with memcpy: it assumes a little-endian host"
#endif

#define ST_MAX_HEADER_BYTES 100000000u /* the reference implementation's limit */

static const struct {
    const char *name;
    size_t size;
} dtype_sizes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"I64", 8}, {"I32", 4},     {"I16", 2},
    {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2},  {"U8", 1},  {"BOOL", 1},    {"F8_E4M3", 1},
    {"F8_E5M2", 1},
};

size_t st_dtype_size(const char *dtype_name)
{
    for (size_t i = 0; i < sizeof dtype_sizes / sizeof dtype_sizes[0]; i++)
        if (strcmp(dtype_name, dtype_sizes[i].name) == 0)
            return dtype_sizes[i].size;
    return 0;
}

/* snprintf at buf[*used], keeping *used the length the whole text would have (as snprintf does). */
static void append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    size_t at = *used < len ? *used : len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, len - at, fmt, ap);
    va_end(ap);
    *used += n > 0 ? (size_t)n : 0;
}

void st_format_shape(char *buf, size_t len, int rank, const int64_t *shape)
{
    size_t used = 0;
    append(buf, len, &used, "[");
    for (int i = 0; i < rank; i++)
        append(buf, len, &used, "%s%" PRId64, i ? ", " : "", shape[i]);
    append(buf, len, &used, "]");
}

/* ---- The header scanner. Every function returns 0, or 1 with "PATH: message" in err. ---- */

struct scan {
    const char *path;
    char *err;
    size_t errlen;
    const uint8_t *file;             /* the mapping: error positions are file offsets */
    const uint8_t *p, *end;          /* the unread part of the header */
    const uint8_t *data;             /* the data section, data_size bytes */
    size_t data_size;
    int tensor_capacity;
};

/* "PATH: message", the message escaped (kiln_escape): it may quote names read from the file. */
static int fail(struct scan *s, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    int n = snprintf(s->err, s->errlen, "%s: ", s->path);
    if (n >= 0 && (size_t)n < s->errlen)
        kiln_escape(s->err + n, s->errlen - (size_t)n, message);
    return 1;
}

static int expected(struct scan *s, const char *what)
{
    return fail(s, "header is not valid JSON: expected %s at byte %zu", what, (size_t)(s->p - s->file));
}

static void skip_space(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Consumes c (after white space) if it is next. */
static int accept(struct scan *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == (uint8_t)c) {
        s->p++;
        return 1;
    }
    return 0;
}

static int expect(struct scan *s, char c)
{
    char what[4] = {'\'', c, '\'', 0};
    return accept(s, c) ? 0 : expected(s, what);
}

static int hex4(struct scan *s, const uint8_t *q, uint32_t *value)
{
    *value = 0;
    for (int i = 0; i < 4; i++, q++) {
        int digit = q >= s->end ? -1
                  : *q >= '0' && *q <= '9' ? *q - '0'
                  : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10
                  : *q >= 'A' && *q <= 'F' ? *q - 'A' + 10 : -1;
        if (digit < 0) {
            s->p = q;
            return expected(s, "a hex digit");
        }
        *value = *value << 4 | (uint32_t)digit;
    }
    return 0;
}

static char *put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        *out++ = (char)cp;
    } else if (cp < 0x800) {
        *out++ = (char)(0xC0 | cp >> 6);
        *out++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *out++ = (char)(0xE0 | cp >> 12);
        *out++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *out++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *out++ = (char)(0xF0 | cp >> 18);
        *out++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *out++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *out++ = (char)(0x80 | (cp & 0x3F));
    }
    return out;
}

/* Decodes the escape after a backslash at s->p (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs
   joined); \u0000 is refused since names are C strings. The decoded bytes never outnumber the
   escape's, so decoding in place into a buffer of the raw length is safe. */
static int decode_escape(struct scan *s, char **out)
{
    static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
    const char *simple = s->p < s->end && *s->p ? strchr(simple_in, *s->p) : NULL;
    if (simple) {
        *(*out)++ = simple_out[simple - simple_in];
        s->p++;
        return 0;
    }
    if (s->p >= s->end || *s->p != 'u')
        return expected(s, "an escape character");
    uint32_t cp, low;
    if (hex4(s, s->p + 1, &cp))
        return 1;
    s->p += 5;
    if (cp >= 0xD800 && cp < 0xDC00) {
        if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
            return expected(s, "a low surrogate");
        if (hex4(s, s->p + 2, &low))
            return 1;
        if (low < 0xDC00 || low > 0xDFFF)
            return expected(s, "a low surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        s->p += 6;
    } else if ((cp >= 0xDC00 && cp < 0xE000) || cp == 0) {
        s->p -= 6;
        return expected(s, cp ? "no lone low surrogate" : "no NUL character");
    }
    *out = put_utf8(*out, cp);
    return 0;
}

/* Reads a JSON string into a malloc'd C string. */
static int parse_string(struct scan *s, char **result)
{
    *result = NULL;
    if (!accept(s, '"'))
        return expected(s, "a string");
    const uint8_t *q = s->p;
    for (; q < s->end && *q != '"'; q++)
        if (*q == '\\' && q + 1 < s->end)
            q++;                     /* an escaped quote does not end the string */
    if (q >= s->end) {
        s->p = s->end;
        return expected(s, "'\"' closing a string");
    }
    char *text = malloc((size_t)(q - s->p) + 1), *out = text;
    if (!text)
        return fail(s, "out of memory reading the header");
    while (*s->p != '"') {
        if (*s->p < 0x20) {
            free(text);
            return expected(s, "no control character in a string");
        }
        if (*s->p == '\\') {
            s->p++;
            if (decode_escape(s, &out)) {
                free(text);
                return 1;
            }
        } else {
            *out++ = (char)*s->p++;
        }
    }
    s->p++;
    *out = 0;
    *result = text;
    return 0;
}

/* Reads a number that must be a non-negative integer; the tensor and field name it in errors. */
static int parse_count(struct scan *s, const char *tensor, const char *field, int64_t *value)
{
    skip_space(s);
    const uint8_t *start = s->p;
    while (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || *s->p == '-' || *s->p == '+' ||
                             *s->p == '.' || *s->p == 'e' || *s->p == 'E'))
        s->p++;
    if (s->p == start)
        return expected(s, "a number");
    *value = 0;
    for (const uint8_t *q = start; q < s->p; q++) {
        if (*q < '0' || *q > '9' || *value > (INT64_MAX - (*q - '0')) / 10)
            return fail(s, "tensor '%s': %s holds %.*s, not a non-negative integer", tensor, field,
                        (int)(s->p - start), (const char *)start);
        *value = *value * 10 + (*q - '0');
    }
    return 0;
}

static int parse_count_list(struct scan *s, const char *tensor, const char *field, int64_t *values,
                            int max, int *count)
{
    *count = 0;
    if (expect(s, '['))
        return 1;
    if (accept(s, ']'))
        return 0;
    do {
        if (*count == max)
            return fail(s, "tensor '%s': %s has more than %d entries", tensor, field, max);
        if (parse_count(s, tensor, field, &values[(*count)++]))
            return 1;
    } while (accept(s, ','));
    return expect(s, ']');
}

/* "__metadata__": an object of strings, checked and dropped. */
static int parse_metadata(struct scan *s)
{
    skip_space(s);
    if (s->p >= s->end || *s->p != '{')
        return fail(s, "__metadata__ must be an object of strings (byte %zu)", (size_t)(s->p - s->file));
    s->p++;
    if (accept(s, '}'))
        return 0;
    do {
        char *key, *text;
        if (parse_string(s, &key))
            return 1;
        if (expect(s, ':')) {
            free(key);
            return 1;
        }
        skip_space(s);
        if (s->p < s->end && *s->p != '"') {
            int rc = fail(s, "__metadata__ '%s' is not a string (byte %zu): safetensors metadata maps strings to strings",
                          key, (size_t)(s->p - s->file));
            free(key);
            return rc;
        }
        free(key);
        if (parse_string(s, &text))
            return 1;
        free(text);
    } while (accept(s, ','));
    return expect(s, '}');
}

static int parse_dtype(struct scan *s, struct st_tensor *t)
{
    char *name;
    if (parse_string(s, &name))
        return 1;
    if (!st_dtype_size(name)) {
        fail(s, "tensor '%s': unknown dtype '%s'", t->name, name);
        free(name);
        return 1;
    }
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", name);
    t->dtype = !strcmp(name, "F32") ? ST_F32 : !strcmp(name, "BF16") ? ST_BF16
             : !strcmp(name, "F16") ? ST_F16 : ST_OTHER;
    free(name);
    return 0;
}

/* The bytes a tensor's shape and dtype need, or -1 past INT64_MAX. */
static int64_t shape_bytes(const struct st_tensor *t)
{
    int64_t bytes = (int64_t)st_dtype_size(t->dtype_name);
    for (int i = 0; i < t->rank; i++)
        if (t->shape[i] == 0)
            return 0;
    for (int i = 0; i < t->rank; i++) {
        if (bytes > INT64_MAX / t->shape[i])
            return -1;
        bytes *= t->shape[i];
    }
    return bytes;
}

/* Checks data_offsets against the data section and the byte size against shape and dtype. */
static int locate_data(struct scan *s, struct st_tensor *t, const int64_t *offsets, int num_offsets)
{
    if (num_offsets != 2)
        return fail(s, "tensor '%s': data_offsets must be [begin, end]", t->name);
    int64_t begin = offsets[0], end = offsets[1];
    if (begin > end)
        return fail(s, "tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] end before they begin",
                    t->name, begin, end);
    if ((uint64_t)end > s->data_size)
        return fail(s, "tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] past the end of the data (%zu bytes)",
                    t->name, begin, end, s->data_size);
    int64_t needed = shape_bytes(t);
    char shape[160];
    st_format_shape(shape, sizeof shape, t->rank, t->shape);
    if (needed != end - begin)
        return fail(s, "tensor '%s': shape %s of %s needs %s%" PRId64 " bytes but data_offsets [%" PRId64
                    ", %" PRId64 "] hold %" PRId64, t->name, shape, t->dtype_name, needed < 0 ? "more than " : "",
                    needed < 0 ? INT64_MAX : needed, begin, end, end - begin);
    t->data = s->data + begin;
    t->nbytes = (size_t)(end - begin);
    return 0;
}

static int parse_field(struct scan *s, struct st_tensor *t, const char *key, int64_t *offsets, int *num_offsets)
{
    int is_dtype = !strcmp(key, "dtype"), is_shape = !strcmp(key, "shape");
    int is_offsets = !strcmp(key, "data_offsets");
    if (!is_dtype && !is_shape && !is_offsets)
        return fail(s, "tensor '%s': unknown field '%s'", t->name, key);
    if ((is_dtype && t->dtype_name[0]) || (is_shape && t->rank >= 0) || (is_offsets && *num_offsets >= 0))
        return fail(s, "tensor '%s': duplicate field '%s'", t->name, key);
    if (expect(s, ':'))
        return 1;
    if (is_dtype)
        return parse_dtype(s, t);
    if (is_shape)
        return parse_count_list(s, t->name, "shape", t->shape, 8, &t->rank);
    return parse_count_list(s, t->name, "data_offsets", offsets, 2, num_offsets);
}

/* One tensor entry: {"dtype": str, "shape": [ints], "data_offsets": [begin, end]}. */
static int parse_tensor(struct scan *s, struct st_tensor *t)
{
    int64_t offsets[2];
    int num_offsets = -1;
    t->rank = -1;
    if (expect(s, '{'))
        return 1;
    if (!accept(s, '}')) {
        do {
            char *key;
            if (parse_string(s, &key))
                return 1;
            int rc = parse_field(s, t, key, offsets, &num_offsets);
            free(key);
            if (rc)
                return 1;
        } while (accept(s, ','));
        if (expect(s, '}'))
            return 1;
    }
    const char *missing = !t->dtype_name[0] ? "dtype" : t->rank < 0 ? "shape"
                        : num_offsets < 0 ? "data_offsets" : NULL;
    if (missing)
        return fail(s, "tensor '%s': missing %s", t->name, missing);
    return locate_data(s, t, offsets, num_offsets);
}

/* The whole header: one object of "__metadata__" and tensor entries, then only white space. */
static int parse_header(struct scan *s, struct st_file *f)
{
    if (expect(s, '{'))
        return 1;
    if (!accept(s, '}')) {
        do {
            char *key;
            if (parse_string(s, &key))
                return 1;
            if (expect(s, ':')) {
                free(key);
                return 1;
            }
            if (!strcmp(key, "__metadata__")) {
                free(key);
                if (parse_metadata(s))
                    return 1;
                continue;
            }
            if (f->num_tensors == s->tensor_capacity) {
                int capacity = s->tensor_capacity ? 2 * s->tensor_capacity : 64;
                struct st_tensor *grown = realloc(f->tensors, (size_t)capacity * sizeof *grown);
                if (!grown) {
                    free(key);
                    return fail(s, "out of memory reading the header");
                }
                f->tensors = grown;
                s->tensor_capacity = capacity;
            }
            struct st_tensor *t = &f->tensors[f->num_tensors++];
            memset(t, 0, sizeof *t);
            t->name = key;
            if (parse_tensor(s, t))
                return 1;
        } while (accept(s, ','));
        if (expect(s, '}'))
            return 1;
    }
    skip_space(s);
    return s->p == s->end ? 0 : expected(s, "the end of the header");
}

/* ---- Whole-file checks ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct st_tensor *)a)->name, ((const struct st_tensor *)b)->name);
}

static int by_data_start(const void *a, const void *b)
{
    const struct st_tensor *x = *(const struct st_tensor *const *)a, *y = *(const struct st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Sorts the tensors by name (for st_find) and refuses duplicate names and overlapping data. */
static int check_layout(struct scan *s, struct st_file *f)
{
    size_t n = (size_t)f->num_tensors;
    if (n == 0)
        return 0;
    qsort(f->tensors, n, sizeof *f->tensors, by_name);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name))
            return fail(s, "duplicate tensor '%s'", f->tensors[i].name);
    const struct st_tensor **order = malloc(n * sizeof *order);
    if (!order)
        return fail(s, "out of memory reading the header");
    size_t nonempty = 0;
    for (size_t i = 0; i < n; i++)
        if (f->tensors[i].nbytes)
            order[nonempty++] = &f->tensors[i];
    qsort(order, nonempty, sizeof *order, by_data_start);
    int rc = 0;
    for (size_t i = 1; i < nonempty && !rc; i++) {
        const struct st_tensor *a = order[i - 1], *b = order[i];
        size_t a_begin = (size_t)(a->data - s->data), b_begin = (size_t)(b->data - s->data);
        if (a_begin + a->nbytes > b_begin)
            rc = fail(s, "tensors '%s' and '%s' overlap: data_offsets [%zu, %zu] and [%zu, %zu]", a->name,
                      b->name, a_begin, a_begin + a->nbytes, b_begin, b_begin + b->nbytes);
    }
    free(order);
    return rc;
}

static int map_file(struct scan *s, struct st_file *f)
{
    int fd = open(s->path, O_RDONLY);
    if (fd < 0)
        return fail(s, "%s", strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = fail(s, "%s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = fail(s, "not a regular file");
    else if (st.st_size < 8)
        rc = fail(s, "file too short for a safetensors header (%lld bytes)", (long long)st.st_size);
    else if ((uint64_t)st.st_size > SIZE_MAX)
        rc = fail(s, "file too large to map");
    if (!rc) {
        f->map_size = (size_t)st.st_size;
        f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            rc = fail(s, "cannot map the file: %s", strerror(errno));
        }
    }
    close(fd);
    return rc;
}

int st_open(const char *path, struct st_file *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    struct scan s = {.path = path, .err = err, .errlen = errlen};
    if (map_file(&s, f)) {
        st_close(f);
        return 1;
    }
    const uint8_t *bytes = f->map;
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; i--)
        header_bytes = header_bytes << 8 | bytes[i];
    int rc = 0;
    if (header_bytes > f->map_size - 8)
        rc = fail(&s, "header length %" PRIu64 " past the end of the file (%zu bytes)", header_bytes, f->map_size);
    else if (header_bytes > ST_MAX_HEADER_BYTES)
        rc = fail(&s, "header length %" PRIu64 " over the limit of %u bytes", header_bytes, ST_MAX_HEADER_BYTES);
    if (!rc) {
        s.file = bytes;
        s.p = bytes + 8;
        s.end = s.data = bytes + 8 + header_bytes;
        s.data_size = f->map_size - 8 - (size_t)header_bytes;
        rc = parse_header(&s, f) || check_layout(&s, f);
    }
    if (rc)
        st_close(f);
    return rc;
}

static int compare_key(const void *key, const void *tensor)
{
    return strcmp(key, ((const struct st_tensor *)tensor)->name);
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
    if (!f->num_tensors)
        return NULL;
    return bsearch(name, f->tensors, (size_t)f->num_tensors, sizeof *f->tensors, compare_key);
}

static float float_from_bits(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* IEEE half -> single, exact: subnormals become normal floats, inf stays inf, NaN keeps its payload. */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exponent = h >> 10 & 0x1F, mantissa = h & 0x3FF;
    if (exponent == 0) {
        float magnitude = (float)mantissa * 0x1p-24f;
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31)
        return float_from_bits(sign | 0x7F800000u | mantissa << 13);
    return float_from_bits(sign | (exponent + 112) << 23 | mantissa << 13);
}

void st_to_f32_range(const struct st_tensor *t, size_t first, size_t count, float *dst)
{
    if (t->dtype == ST_F32) {
        memcpy(dst, t->data + 4 * first, 4 * count);
        return;
    }
    const uint8_t *src = t->data + 2 * first;
    if (t->dtype == ST_BF16)
        for (size_t i = 0; i < count; i++)
            dst[i] = float_from_bits((uint32_t)src[2 * i] << 16 | (uint32_t)src[2 * i + 1] << 24);
    else if (t->dtype == ST_F16)
        for (size_t i = 0; i < count; i++)
            dst[i] = f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
}

void st_to_f32(const struct st_tensor *t, float *dst)
{
    size_t size = st_dtype_size(t->dtype_name);
    if (size)
        st_to_f32_range(t, 0, t->nbytes / size, dst);
}

void st_release(const struct st_file *f, const struct st_tensor *t)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), base = (uintptr_t)f->map;
    const uintptr_t first = ((uintptr_t)t->data - base + page - 1) / page * page, end = ((uintptr_t)t->data - base + t->nbytes) / page * page;
    if (end > first)
        madvise((char *)f->map + first, end - first, MADV_DONTNEED);
}

void st_close(struct st_file *f)
{
    for (int i = 0; i < f->num_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    if (f->map)
        munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}
