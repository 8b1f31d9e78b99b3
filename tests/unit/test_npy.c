/* test_npy.c: npy_write/npy_read round trips, hand-made files of every supported version and
 * dtype, the exact message of each malformed-file error, and that a failed write leaves no file. */
#include "check.h"
#include "npy.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static int count_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    int count = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        count += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return count;
}

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    char child[512];
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat st;
        if (stat(child, &st) == 0 && S_ISDIR(st.st_mode))
            remove_dir(child);
        else
            remove(child);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
        perror(path);                /* the test cannot run, rather than fail */
        exit(2);
    }
}

/* A .npy file of the given version with `dict` padded to a 64-byte boundary, then `data`. */
static size_t make_npy(unsigned char *out, int major, const char *dict, const void *data, size_t data_len)
{
    size_t prefix = major == 1 ? 10 : 12, len = strlen(dict);
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    memcpy(out + prefix, dict, len);
    while ((prefix + len + 1) % 64)
        out[prefix + len++] = ' ';
    out[prefix + len++] = '\n';
    for (size_t i = 0; i < prefix - 8; i++)
        out[8 + i] = (unsigned char)(len >> (8 * i));
    memcpy(out + prefix + len, data, data_len);
    return prefix + len + data_len;
}

static void check_round_trip(enum npy_dtype dtype, int rank, const int64_t *shape, const void *data,
                             size_t bytes, const char *name)
{
    char err[512] = "";
    const char *path = check_scratch_path(name);
    CHECK(npy_write(path, dtype, rank, shape, data, err, sizeof err) == 0, "%s", err);
    struct npy_array a;
    CHECK(npy_read(path, &a, err, sizeof err) == 0, "%s", err);
    CHECK(a.dtype == dtype && a.rank == rank, "%s: dtype %d rank %d", name, (int)a.dtype, a.rank);
    for (int i = 0; i < rank && i < a.rank; i++)
        CHECK(a.shape[i] == shape[i], "%s: dim %d is %lld", name, i, (long long)a.shape[i]);
    CHECK(a.count * 4 == bytes && a.data && memcmp(a.data, data, bytes) == 0, "%s: data differs", name);
    struct stat st;
    CHECK(stat(path, &st) == 0 && ((size_t)st.st_size - bytes) % 64 == 0, "%s: data not 64-byte aligned", name);
    npy_free(&a);
    CHECK(a.data == NULL, "npy_free leaves data");
}

static void test_round_trips(void)
{
    int32_t codes[5] = {0, -1, 2047, INT32_MIN, INT32_MAX};
    check_round_trip(NPY_I32, 1, (int64_t[]){5}, codes, sizeof codes, "codes.npy");
    float logits[2 * 1 * 3 * 2];
    for (int i = 0; i < 12; i++)
        logits[i] = (float)i * -0.37f + 1e-30f * (float)i;
    check_round_trip(NPY_F32, 4, (int64_t[]){2, 1, 3, 2}, logits, sizeof logits, "logits.npy");
    check_round_trip(NPY_F32, 2, (int64_t[]){3, 4}, logits, sizeof logits, "matrix.npy");
    check_round_trip(NPY_I32, 0, NULL, codes + 2, 4, "scalar.npy");
    check_round_trip(NPY_F32, 2, (int64_t[]){0, 7}, logits, 0, "empty.npy");

    /* The header is numpy's, byte for byte. */
    FILE *f = fopen(check_scratch_path("matrix.npy"), "rb");
    char bytes[128] = "";
    CHECK(f && fread(bytes, 1, sizeof bytes, f) == sizeof bytes, "cannot reread matrix.npy");
    if (f)
        fclose(f);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    CHECK(memcmp(bytes, "\x93NUMPY\x01\x00\x76\x00", 10) == 0, "preamble differs");
    CHECK(memcmp(bytes + 10, dict, strlen(dict)) == 0 && bytes[127] == '\n' && bytes[126] == ' ',
          "header differs: %.118s", bytes + 10);
    CHECK(count_dir_entries(check_scratch_dir) == 5, "%d files: a temporary file was left", count_dir_entries(check_scratch_dir));
}

static void test_hand_made_files(void)
{
    unsigned char file[512];
    char err[512] = "";
    struct npy_array a;
    int64_t big[3] = {-5, (int64_t)1 << 40, 7};
    size_t len = make_npy(file, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", big, sizeof big);
    write_bytes(check_scratch_path("v1.npy"), file, len);
    CHECK(npy_read(check_scratch_path("v1.npy"), &a, err, sizeof err) == 0, "%s", err);
    CHECK(a.dtype == NPY_I64 && a.rank == 1 && a.shape[0] == 3 && a.count == 3, "v1 i8 header misread");
    CHECK(a.data && ((int64_t *)a.data)[0] == -5 && ((int64_t *)a.data)[1] == (int64_t)1 << 40 &&
          ((int64_t *)a.data)[2] == 7, "v1 i8 values differ");
    npy_free(&a);

    uint8_t bools[6] = {1, 0, 0, 1, 1, 0};
    len = make_npy(file, 2, "{\"shape\": (2L, 3L), \"descr\": \"|b1\", \"fortran_order\": False}", bools, 6);
    write_bytes(check_scratch_path("v2.npy"), file, len);
    CHECK(npy_read(check_scratch_path("v2.npy"), &a, err, sizeof err) == 0, "%s", err);
    CHECK(a.dtype == NPY_U8 && a.rank == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6,
          "v2 b1 header misread");
    CHECK(a.data && memcmp(a.data, bools, 6) == 0, "v2 b1 values differ");
    npy_free(&a);

    float scalar = -2.5f;
    len = make_npy(file, 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &scalar, 4);
    write_bytes(check_scratch_path("v3.npy"), file, len);
    CHECK(npy_read(check_scratch_path("v3.npy"), &a, err, sizeof err) == 0, "%s", err);
    CHECK(a.dtype == NPY_F32 && a.rank == 0 && a.count == 1 && a.data && *(float *)a.data == -2.5f,
          "v3 scalar misread");
    npy_free(&a);
}

/* Writes `bytes` and checks that reading gives exactly "PATH: message". */
static void check_read_error(const void *bytes, size_t len, const char *message)
{
    const char *path = check_scratch_path("bad.npy");
    if (bytes)
        write_bytes(path, bytes, len);
    char err[512] = "", expected[512];
    snprintf(expected, sizeof expected, "%s: %s", path, message);
    struct npy_array a;
    CHECK(npy_read(path, &a, err, sizeof err) == 1, "reading should fail with %s", message);
    CHECK(strcmp(err, expected) == 0, "\n  got      '%s'\n  expected '%s'", err, expected);
    CHECK(a.data == NULL && a.count == 0, "a failed read leaves data");
}

static void test_malformed_files(void)
{
    unsigned char file[512];
    int32_t six[6] = {0};
    size_t len = make_npy(file, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", six, 24);
    file[0] = 'X';
    check_read_error(file, len, "not a .npy file (bad magic)");
    check_read_error("\x93NUM", 4, "not a .npy file (bad magic)");
    file[0] = 0x93;
    check_read_error(file, 9, "truncated header");
    check_read_error(file, 40, "truncated header");
    check_read_error(file, len - 16, "truncated data: the file holds 8 bytes of data but shape (2, 3) needs 24");
    check_read_error(file, len + 4, "extra data: the file holds 28 bytes of data but shape (2, 3) needs 24");
    file[6] = 4;
    check_read_error(file, len, "unsupported .npy version 4.0");

    len = make_npy(file, 1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", six, 24);
    check_read_error(file, len, "fortran_order arrays are not supported (save in C order)");
    len = make_npy(file, 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", six, 24);
    check_read_error(file, len, "unsupported dtype '>f8' (kiln reads '<i4', '<i8', '<f4', '|u1' and '|b1')");
    len = make_npy(file, 1, "{'descr' '<i4', 'fortran_order': False, 'shape': (6,), }", six, 24);
    check_read_error(file, len, "malformed header: expected ':' at byte 19");
    len = make_npy(file, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, -3), }", six, 24);
    check_read_error(file, len, "malformed header: expected a dimension at byte 64");
    len = make_npy(file, 1, "{'descr': '<i4', 'shape': (6,), }", six, 24);
    check_read_error(file, len, "malformed header: no 'fortran_order'");
    len = make_npy(file, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), 'x': 1}", six, 24);
    check_read_error(file, len, "malformed header: unknown key 'x'");
    remove(check_scratch_path("bad.npy"));
    char message[256];
    snprintf(message, sizeof message, "%s", strerror(ENOENT));
    check_read_error(NULL, 0, message);
}

static void test_failed_writes(void)
{
    float values[2] = {1, 2};
    char err[512] = "", expected[512];
    const char *path = check_scratch_path("missing/out.npy");
    snprintf(expected, sizeof expected, "%s: %s", path, strerror(ENOENT));
    CHECK(npy_write(path, NPY_F32, 1, (int64_t[]){2}, values, err, sizeof err) == 1, "write should fail");
    CHECK(strcmp(err, expected) == 0, "\n  got      '%s'\n  expected '%s'", err, expected);
    struct stat st;
    CHECK(stat(check_scratch_path("missing"), &st) != 0, "the write created something");

    /* rename() onto a non-empty directory fails after the data was written: the temporary goes. */
    mkdir(check_scratch_path("taken"), 0700);
    write_bytes(check_scratch_path("taken/x"), "x", 1);
    int before = count_dir_entries(check_scratch_dir);
    path = check_scratch_path("taken");
    CHECK(npy_write(path, NPY_I32, 1, (int64_t[]){2}, values, err, sizeof err) == 1, "write should fail");
    CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':', "error '%s' does not name the file", err);
    CHECK(count_dir_entries(check_scratch_dir) == before, "a temporary file was left after a failed rename");
}

int main(void)
{
    if (check_scratch_open("npy"))
        return 1;
    test_round_trips();
    test_hand_made_files();
    test_malformed_files();
    test_failed_writes();
    remove_dir(check_scratch_dir);
    return check_finish();
}
