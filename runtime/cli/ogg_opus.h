/* ogg_opus.h: Ogg Opus streams as Moshi's server and clients exchange them (ogg_opus.c, over libopus
 * and libogg): mono audio at 24 kHz (or 48 kHz), float samples in [-1, 1].
 *
 * The writer makes what sphn's OpusStreamWriter makes: a first page holding the OpusHead packet
 * (version 1, 1 channel, pre-skip 3840, the input rate, gain 0, mapping 0), a second the OpusTags
 * packet (vendor "kiln", no tags), then one page per appended frame of audio, each one Opus packet
 * (encoder: the stream's rate, mono, OPUS_APPLICATION_VOIP), granule position the samples appended
 * so far (at the stream's rate, as sphn counts them; RFC 7845 counts at 48 kHz), stream serial 42.
 *
 * The reader takes any Ogg Opus stream in pieces as they arrive (a page may be split between two
 * pieces, a piece hold several pages): the OpusHead and OpusTags packets are checked and skipped,
 * every other packet decoded (a stereo stream mixed down to mono by the decoder, the OpusHead's
 * output gain applied). The pre-skip is not trimmed: as from sphn's reader, every packet's samples
 * come back, so a stream of N samples written reads as N. Memory stays bounded whatever the input:
 * a piece of more than OGG_OPUS_MAX_PIECE bytes is refused, and the reader keeps less than one page
 * of bytes and one packet of at most 61,440 bytes (RFC 7845's bound) between feeds. */
#ifndef KILN_OGG_OPUS_H
#define KILN_OGG_OPUS_H
#include <stddef.h>
#include <stdint.h>

#define OGG_OPUS_MAX_PIECE (1 << 20)     /* bytes one ogg_opus_read_feed takes at most */
#define OGG_OPUS_MAX_PACKET_SAMPLES 5760 /* 120 ms at 48 kHz: the most one Opus packet decodes to */

/* A growable byte buffer (what the writer appends its pages to) */
struct byte_buffer {
    uint8_t *data;
    size_t size, capacity;
};
void byte_buffer_free(struct byte_buffer *b);

struct ogg_opus_writer;
/* sample_rate 24000 or 48000; NULL when out of memory or the rate is another. */
struct ogg_opus_writer *ogg_opus_writer_new(int sample_rate);
void ogg_opus_writer_free(struct ogg_opus_writer *w);
/* Encodes pcm[n] (n an Opus frame size at the rate: 2.5 to 120 ms, e.g. 1920 = 80 ms at 24 kHz) as
   one packet and appends its page to out, after the two header pages on the first call. Returns 0,
   or 1 with a message in err (a size Opus does not take, out of memory). */
int ogg_opus_write(struct ogg_opus_writer *w, const float *pcm, int n, struct byte_buffer *out, char *err,
                   size_t errlen);

struct ogg_opus_reader;
/* Decodes at sample_rate, 24000 or 48000 (whatever the stream's); NULL when out of memory or the
   rate is another. */
struct ogg_opus_reader *ogg_opus_reader_new(int sample_rate);
void ogg_opus_reader_free(struct ogg_opus_reader *r);
/* Takes the next n bytes of the stream; every packet completed by them is decoded and its samples
   handed to on_pcm(context, pcm, count) in order (count <= OGG_OPUS_MAX_PACKET_SAMPLES). Returns 0, or
   1 with a message in err, after which the reader takes nothing more (every later call returns 1 with
   the same message): bytes that are not Ogg (no capture pattern where a page must start), a page
   that fails its checksum, a first packet that is not OpusHead (or a second that is not OpusTags),
   a header of another major version, of other than 1 or 2 channels or of a mapping family other
   than 0, a page of another logical stream (chained or multiplexed streams), a missing page, a
   packet empty or over 61,440 bytes, a packet that does not decode, a piece larger than
   OGG_OPUS_MAX_PIECE. (Fewer than 27 bytes that are not Ogg wait for more: a page header has 27.) */
int ogg_opus_read_feed(struct ogg_opus_reader *r, const uint8_t *data, size_t n,
                       void (*on_pcm)(void *context, const float *pcm, int count), void *context, char *err,
                       size_t errlen);
#endif
