/* kw.c: writing and mapping packed weight files (kw.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kw.h"
#include "pages.h"
#include "report.h"

#define KW_PAGE 4096
/* (version 1: offsets and the arena's size in floats, f32 only; 2: no weight formats' text) */
static const char kw_magic[8] = "KILNKW3";

struct kw_header {
    char magic[8];
    char model[64];
    char target[16];
    char weights[96];                /* the weight formats, as info names them ("q4 with text head q8") */
    uint64_t layout_hash;            /* of every weight's name, shape, fold (and its kind), packing and format */
    uint64_t num_weights;
    uint64_t arena_bytes;
    uint64_t data_offset;            /* bytes from the file's start to the arena */
};

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t layout_hash(const struct kiln_model_desc *desc)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL, desc->target, strlen(desc->target) + 1);
    for (int i = 0; i < desc->num_weights; i++) {
        const struct kiln_weight_desc *w = &desc->weights[i];
        int64_t fields[] = {w->rank, w->fold_alpha, w->pack_nr, w->pack_rows, w->pack_gated, w->format, w->rounding};
        h = fnv(h, w->name, strlen(w->name) + 1);
        h = fnv(h, w->shape, (size_t)w->rank * sizeof w->shape[0]);
        h = fnv(h, fields, sizeof fields);
        if (w->fold != KILN_FOLD_COLUMNS) /* (hashed only when it is not the default: the hashes of .kw files
                                              written before folds had kinds stay as they were) */
            h = fnv(h, &w->fold, sizeof w->fold);
        if (w->transposed) /* (likewise) */
            h = fnv(h, &w->transposed, sizeof w->transposed);
    }
    return h;
}

static const char *field(const struct kiln_model_desc *desc, const void *table, int i)
{
    return *(const char *const *)((const char *)table + desc->weights[i].field_offset);
}

bool kw_is_kw(const char *path)
{
    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    bool yes = f && fread(magic, 1, sizeof magic, f) == sizeof magic && !memcmp(magic, kw_magic, 6); /* any version */
    if (f)
        fclose(f);
    return yes;
}

static size_t offsets_end(size_t num_weights)
{
    size_t end = KW_PAGE + num_weights * sizeof(uint64_t);
    return (end + KW_PAGE - 1) / KW_PAGE * KW_PAGE;
}

int kw_write(const struct kiln_model_desc *desc, const struct kiln_weights *w, const char *path, char *err,
             size_t errlen)
{
    struct kw_header h = {.layout_hash = layout_hash(desc), .num_weights = (uint64_t)desc->num_weights,
                          .arena_bytes = w->arena_bytes, .data_offset = offsets_end((size_t)desc->num_weights)};
    memcpy(h.magic, kw_magic, sizeof h.magic);
    snprintf(h.model, sizeof h.model, "%s", desc->name);
    snprintf(h.target, sizeof h.target, "%s", desc->target);
    snprintf(h.weights, sizeof h.weights, "%s", desc->weight_format);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return kiln_report(err, errlen, path, "%s", strerror(errno));
    char page[KW_PAGE] = {0};
    memcpy(page, &h, sizeof h);
    bool ok = fwrite(page, 1, sizeof page, f) == sizeof page;
    for (int i = 0; ok && i < desc->num_weights; i++) {
        uint64_t offset = (uint64_t)(field(desc, w->table, i) - (const char *)w->arena);
        ok = fwrite(&offset, sizeof offset, 1, f) == 1;
    }
    size_t pad = h.data_offset - KW_PAGE - (size_t)desc->num_weights * sizeof(uint64_t);
    ok = ok && fwrite(page, 1, pad, f) == pad; /* page is zeros past the header */
    memset(page, 0, sizeof h);
    ok = ok && fwrite(w->arena, 1, w->arena_bytes, f) == w->arena_bytes;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path)) {
        int e = errno;
        remove(tmp);
        return kiln_report(err, errlen, path, "cannot write: %s", strerror(e));
    }
    return 0;
}

int kw_load(const struct kiln_model_desc *desc, const char *path, bool copy, struct kiln_weights *out, char *err,
            size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return kiln_report(err, errlen, path, "%s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || (size_t)st.st_size < KW_PAGE) {
        close(fd);
        return kiln_report(err, errlen, path, "truncated packed weight file");
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return kiln_report(err, errlen, path, "cannot map: %s", strerror(errno));
    struct kw_header h;
    memcpy(&h, map, sizeof h);
    const char *problem = NULL;
    char why[512];
    if (memcmp(h.magic, kw_magic, 6))
        problem = "not a kiln packed weight file";
    else if (memcmp(h.magic, kw_magic, sizeof kw_magic))
        problem = "packed by an older kiln (another file format); pack it again with this binary";
    else if (strncmp(h.model, desc->name, sizeof h.model) || strncmp(h.target, desc->target, sizeof h.target) ||
             h.layout_hash != layout_hash(desc) || h.num_weights != (uint64_t)desc->num_weights) {
        snprintf(why, sizeof why, "packed for %.63s (target %.15s, weights %.95s), and this binary is %s (target %s, "
                 "weights %s): another weight layout; pack it again with this binary", h.model, h.target, h.weights,
                 desc->name, desc->target, desc->weight_format);
        problem = why;
    } else if (h.data_offset != offsets_end((size_t)h.num_weights) || (uint64_t)st.st_size < h.data_offset ||
               h.arena_bytes > (uint64_t)st.st_size - h.data_offset)
        problem = "truncated packed weight file";
    const uint64_t *offsets = (const uint64_t *)((const char *)map + KW_PAGE);
    for (uint64_t i = 0; !problem && i < h.num_weights; i++)
        if (offsets[i] > h.arena_bytes || weights_stored_bytes(&desc->weights[i]) > h.arena_bytes - offsets[i])
            problem = "a weight's data is past the end of the file";
        else if (offsets[i] % KILN_ALIGN)
            problem = "a weight's data is not aligned";
    out->table = calloc(1, desc->weights_struct_size ? desc->weights_struct_size : 1);
    if (problem || !out->table) {
        munmap(map, (size_t)st.st_size);
        free(out->table);
        out->table = NULL;
        return kiln_report(err, errlen, path, "%s", problem ? problem : "out of memory");
    }
    const char *arena = (const char *)map + h.data_offset;
    out->map = map;
    out->map_bytes = (size_t)st.st_size;
    out->arena_bytes = h.arena_bytes;
    if (copy) { /* (into huge pages of its own: kiln_set_copy_weights) */
        const int refused = kiln_memory_guard(desc, 0, err, errlen);
        if (refused || !(out->arena = kiln_alloc_streamed(h.arena_bytes, arena))) {
            kiln_weights_free(out);
            return refused ? 1 : kiln_report(err, errlen, path, "out of memory (%" PRIu64 " bytes to copy it into)", h.arena_bytes);
        }
        arena = out->arena;
    }
    for (int i = 0; i < desc->num_weights; i++)
        *(const char **)((char *)out->table + desc->weights[i].field_offset) = arena + offsets[i];
    if (copy) { /* (the offsets read: the mapping is no longer needed) */
        munmap(out->map, out->map_bytes);
        out->map = NULL, out->map_bytes = 0;
    }
    return 0;
}
