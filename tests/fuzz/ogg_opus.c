/* ogg_opus.c: fuzzes the Ogg Opus reader (runtime/cli/ogg_opus.c over libogg and libopus: pages and
 * their checksums, the OpusHead and OpusTags packets, Opus packets). The input's first byte says how
 * one reader is fed the rest: bit 7 chooses 48 kHz over 24; bit 6 sets the checksum of every page
 * found in the rest first (else nearly every mutation of a page ends at its checksum, and the
 * headers and the decoder are seldom reached); bits 0 to 5 are m, the pieces (0: all at once, 1: a
 * byte at a time, more: pieces of 1 to m * m bytes, pseudo-random from m, so that pages split
 * anywhere). Every packet decoded must hold at most OGG_OPUS_MAX_PACKET_SAMPLES finite samples; a
 * failure must leave a message, and every feed after it fail with the same one. */
#include <math.h>
#include <ogg/ogg.h>
#include "fuzz.h"
#include "ogg_opus.h"

/* Sets the checksum of each whole page in bytes (a capture pattern, then its header and body). */
static void set_page_checksums(uint8_t *bytes, size_t size)
{
    for (size_t at = 0; at + 27 <= size;) {
        size_t header = 27 + (size_t)bytes[at + 26], body = 0;
        if (memcmp(bytes + at, "OggS", 4) != 0 || at + header > size) {
            at++;
            continue;
        }
        for (size_t i = 27; i < header; i++)
            body += bytes[at + i];
        if (at + header + body > size) {
            at++;
            continue;
        }
        ogg_page page = {bytes + at, (long)header, bytes + at + header, (long)body};
        ogg_page_checksum_set(&page);
        at += header + body;
    }
}

static void check_pcm(void *context, const float *pcm, int count)
{
    FUZZ_CHECK(count >= 0 && count <= OGG_OPUS_MAX_PACKET_SAMPLES);
    for (int i = 0; i < count; i++)
        FUZZ_CHECK(isfinite(pcm[i]));
    *(long long *)context += count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned pieces = data[0] & 0x3f;
    struct ogg_opus_reader *r = ogg_opus_reader_new(data[0] & 0x80 ? 48000 : 24000);
    FUZZ_CHECK(r);
    uint8_t *stream = malloc(size - 1 ? size - 1 : 1); /* of the exact size: ASan sees any over-read */
    FUZZ_CHECK(stream);
    memcpy(stream, data + 1, size - 1);
    if (data[0] & 0x40)
        set_page_checksums(stream, size - 1);
    data = stream, size--;
    char err[512] = "", first_err[512] = "";
    long long samples = 0;
    uint32_t random = pieces;
    for (size_t at = 0; at < size;) {
        size_t n = size - at;
        if (pieces == 1) {
            n = 1;
        } else if (pieces > 1) {
            random = random * 1103515245u + 12345u;
            size_t piece = 1 + (random >> 8) % (pieces * pieces);
            n = piece < n ? piece : n;
        }
        int status = ogg_opus_read_feed(r, data + at, n, check_pcm, &samples, err, sizeof err);
        FUZZ_CHECK(status == 0 || (status == 1 && err[0] >= 'a' && err[0] <= 'z'));
        if (first_err[0])
            FUZZ_CHECK(status == 1 && strcmp(err, first_err) == 0);
        else if (status == 1)
            memcpy(first_err, err, sizeof err);
        at += n;
    }
    volatile long long keep = samples;
    (void)keep;
    ogg_opus_reader_free(r);
    free(stream);
    return 0;
}
