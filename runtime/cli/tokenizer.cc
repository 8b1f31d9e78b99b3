/* tokenizer.cc: the extern "C" shim over libsentencepiece that tokenizer.h declares, the only C++ in
 * the project. No exception leaves it: a load that throws (std::bad_alloc) is a load error, and a
 * piece is copied into the caller's buffer without allocating. */
#include "tokenizer.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <memory>
#include <new>
#include <string>

struct kiln_tokenizer {
    sentencepiece::SentencePieceProcessor processor;
};

static struct kiln_tokenizer *load_error(const char *path, const char *message, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: cannot load the SentencePiece model: %s", path, message);
    return nullptr;
}

extern "C" struct kiln_tokenizer *kiln_tokenizer_load(const char *path, char *err, size_t errlen)
{
    try {
        std::unique_ptr<kiln_tokenizer> t(new kiln_tokenizer);
        const sentencepiece::util::Status status = t->processor.Load(path);
        if (!status.ok())
            return load_error(path, status.message(), err, errlen);
        return t.release();
    } catch (const std::bad_alloc &) {
        return load_error(path, "out of memory", err, errlen);
    } catch (const std::exception &e) {
        return load_error(path, e.what(), err, errlen);
    }
}

extern "C" void kiln_tokenizer_free(struct kiln_tokenizer *t)
{
    delete t;
}

extern "C" int kiln_tokenizer_size(const struct kiln_tokenizer *t)
{
    return t->processor.GetPieceSize();
}

/* Bytes in the UTF-8 character that starts with `lead` (1 for a stray continuation byte) */
static size_t utf8_char_bytes(unsigned char lead)
{
    return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

extern "C" size_t kiln_tokenizer_piece(const struct kiln_tokenizer *t, int id, char *buf, size_t size)
{
    static const char word_boundary[] = "\xE2\x96\x81"; /* "▁" (U+2581), SentencePiece's space */
    if (size == 0)
        return 0;
    size_t written = 0;
    if (id >= 0 && id < t->processor.GetPieceSize()) {
        const std::string &piece = t->processor.IdToPiece(id);
        for (size_t at = 0; at < piece.size();) {
            size_t bytes = utf8_char_bytes((unsigned char)piece[at]);
            if (bytes > piece.size() - at)
                bytes = piece.size() - at;
            const bool is_space = piece.compare(at, bytes, word_boundary) == 0;
            const size_t out_bytes = is_space ? 1 : bytes;
            if (written + out_bytes >= size)
                break;
            if (is_space)
                buf[written] = ' ';
            else
                piece.copy(buf + written, bytes, at);
            written += out_bytes;
            at += bytes;
        }
    }
    buf[written] = '\0';
    return written;
}
