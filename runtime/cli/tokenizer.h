/* tokenizer.h: the text of a conversation, as Moshi's server shows it: a SentencePiece model (the
 * tokenizer_spm_32k_3.model shipped with every Moshi checkpoint) turns a text token into its piece,
 * "▁" (U+2581) turned into a space. libsentencepiece is C++ only: tokenizer.cc is the one small
 * extern "C" shim over it, the only C++ in the project, linked into the command line only. A binary
 * built without libsentencepiece (KILN_NO_SENTENCEPIECE: a runtime compiled by another --cc) has
 * none of these functions; its converse and serve write token ids. */
#ifndef KILN_TOKENIZER_H
#define KILN_TOKENIZER_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

struct kiln_tokenizer;
/* Loads a SentencePiece model; NULL with "PATH: message" in err when it cannot. */
struct kiln_tokenizer *kiln_tokenizer_load(const char *path, char *err, size_t errlen);
void kiln_tokenizer_free(struct kiln_tokenizer *t);
/* Pieces in its vocabulary (what a model's text_card must equal) */
int kiln_tokenizer_size(const struct kiln_tokenizer *t);
/* Token id's piece, each "▁" a space, NUL-terminated in buf[size] (cut to fit on a UTF-8 character
   boundary); its length. An id outside [0, size) gives "". */
size_t kiln_tokenizer_piece(const struct kiln_tokenizer *t, int id, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
