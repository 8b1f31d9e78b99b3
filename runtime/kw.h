/* kw.h: the packed weight file (.kw) of one compiled model (kw.c). A .kw holds the weights exactly
 * as the binary's kernels read them (folds applied, packed for the target), so loading is an mmap:
 *   [header, 4096 bytes][offsets: one u64 per weight, in bytes][padding to 4096][the arena]
 * The header names the model and a hash of its weight layout; a .kw loads only into a binary
 * compiled with the same layout. */
#ifndef KILN_KW_H
#define KILN_KW_H
#include <stdbool.h>
#include "kiln_rt.h"

/* The bytes weight w occupies in its planned layout and format (weights.c). */
size_t weights_stored_bytes(const struct kiln_weight_desc *w);
/* How many of those values are NaN or Inf */
size_t weights_count_nonfinite(const struct kiln_weight_desc *w, const void *data);

/* Whether the file at path starts like a .kw. */
bool kw_is_kw(const char *path);
/* Writes w (loaded for desc) to path (through a temporary file, renamed). Returns 0, or 1 with err. */
int kw_write(const struct kiln_model_desc *desc, const struct kiln_weights *w, const char *path, char *err,
             size_t errlen);
/* Maps path and points a weight table into it; copy: into memory of its own instead (huge pages,
   kiln_alloc_streamed; the file unmapped), after the memory guard. Returns 0, or 1 with
   "PATH: message" in err. */
int kw_load(const struct kiln_model_desc *desc, const char *path, bool copy, struct kiln_weights *out, char *err,
            size_t errlen);
#endif
