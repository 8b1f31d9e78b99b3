/* ogg_opus.c: see ogg_opus.h. libogg does the framing (pages, lacing, checksums) and libopus the
 * codec; this file makes and checks Opus's two header packets (RFC 7845 §5), puts each audio packet
 * on a page of its own as sphn does, and bounds what the reader keeps of an untrusted stream. */
#include "ogg_opus.h"

#include <ogg/ogg.h>
#include <opus/opus.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_SERIAL 42        /* sphn's */
#define PRE_SKIP 3840           /* sphn's (80 ms at 48 kHz, the unit RFC 7845 gives it at any rate) */
#define MAX_ENCODED_BYTES 4000  /* the most one encoded packet takes (libopus's recommended bound) */
#define MAX_PACKET_BYTES 61440  /* the largest packet the reader takes: RFC 7845 §6's bound on audio */
#define OPUS_HEAD_BYTES 19      /* OpusHead of mapping family 0 */
#define VENDOR "kiln"
#define OPUS_TAGS_BYTES (8 + 4 + (int)sizeof VENDOR - 1 + 4) /* magic, vendor length, vendor, 0 tags */

/* What one packet's page takes: the 27-byte header, the lacing values, the packet. */
static size_t page_bytes(size_t packet_bytes)
{
    return 27 + packet_bytes / 255 + 1 + packet_bytes;
}

static void put_le(unsigned char *p, unsigned value, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(value >> (8 * i));
}

/* The message into err; returns 1. */
static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 1;
}

void byte_buffer_free(struct byte_buffer *b)
{
    free(b->data);
    *b = (struct byte_buffer){0};
}

/* Room for `extra` more bytes, the capacity doubling; 1 when out of memory (b unchanged). */
static int byte_buffer_reserve(struct byte_buffer *b, size_t extra)
{
    if (b->capacity - b->size >= extra)
        return 0;
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity - b->size < extra) {
        if (capacity > SIZE_MAX / 2)
            return 1;
        capacity *= 2;
    }
    uint8_t *data = realloc(b->data, capacity);
    if (!data)
        return 1;
    b->data = data;
    b->capacity = capacity;
    return 0;
}

/* ---- Writing ---- */

struct ogg_opus_writer {
    int sample_rate;
    OpusEncoder *encoder;               /* the stream's rate, mono, VOIP */
    ogg_stream_state stream;
    ogg_int64_t packets;                /* put into the stream: OpusHead, OpusTags, then one per frame */
    ogg_int64_t samples;                /* appended so far: the granule position, at the stream's rate (sphn's) */
    unsigned char encoded[MAX_ENCODED_BYTES]; /* the packet being encoded */
};

struct ogg_opus_writer *ogg_opus_writer_new(int sample_rate)
{
    if (sample_rate != 24000 && sample_rate != 48000)
        return NULL;
    struct ogg_opus_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    int error;
    w->sample_rate = sample_rate;
    w->encoder = opus_encoder_create(sample_rate, 1, OPUS_APPLICATION_VOIP, &error);
    if (!w->encoder || ogg_stream_init(&w->stream, STREAM_SERIAL) != 0) {
        opus_encoder_destroy(w->encoder);
        free(w);
        return NULL;
    }
    return w;
}

void ogg_opus_writer_free(struct ogg_opus_writer *w)
{
    if (!w)
        return;
    opus_encoder_destroy(w->encoder);
    ogg_stream_clear(&w->stream);
    free(w);
}

/* Puts one packet into the stream as a page of its own and appends the page to out, whose room the
   caller reserved; 1 when libogg is out of memory. */
static int append_packet_page(struct ogg_opus_writer *w, unsigned char *bytes, size_t n, struct byte_buffer *out)
{
    ogg_packet packet = {.packet = bytes, .bytes = (long)n, .b_o_s = w->packets == 0,
                         .granulepos = w->samples, .packetno = w->packets};
    ogg_page page;
    if (ogg_stream_packetin(&w->stream, &packet) != 0 || !ogg_stream_flush(&w->stream, &page))
        return 1;
    memcpy(out->data + out->size, page.header, (size_t)page.header_len);
    out->size += (size_t)page.header_len;
    memcpy(out->data + out->size, page.body, (size_t)page.body_len);
    out->size += (size_t)page.body_len;
    w->packets++;
    return 0;
}

/* OpusHead and OpusTags, each on its page (RFC 7845 §5.1, §5.2). */
static int append_header_pages(struct ogg_opus_writer *w, struct byte_buffer *out)
{
    unsigned char head[OPUS_HEAD_BYTES] = "OpusHead";
    head[8] = 1;                                     /* version */
    head[9] = 1;                                     /* channels */
    put_le(head + 10, PRE_SKIP, 2);
    put_le(head + 12, (unsigned)w->sample_rate, 4);  /* the input's rate */
    put_le(head + 16, 0, 2);                         /* output gain */
    head[18] = 0;                                    /* channel mapping family */
    unsigned char tags[OPUS_TAGS_BYTES] = "OpusTags";
    put_le(tags + 8, sizeof VENDOR - 1, 4);
    memcpy(tags + 12, VENDOR, sizeof VENDOR - 1);
    put_le(tags + 12 + sizeof VENDOR - 1, 0, 4);     /* no tags */
    return append_packet_page(w, head, sizeof head, out) || append_packet_page(w, tags, sizeof tags, out);
}

/* What Opus takes at this rate, e.g. "60, 120, ..., 2400 or 2880" at 24 kHz (2.5 to 120 ms). */
static void frame_sizes_text(char *text, size_t size, int sample_rate)
{
    static const int ms_times_2[] = {5, 10, 20, 40, 80, 120, 160, 200, 240}; /* 2.5 to 120 ms, doubled */
    const int count = (int)(sizeof ms_times_2 / sizeof ms_times_2[0]);
    size_t used = 0;
    for (int i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(text + used, size - used, "%s%d", i == 0 ? "" : i == count - 1 ? " or " : ", ",
                                 sample_rate / 2000 * ms_times_2[i]);
}

int ogg_opus_write(struct ogg_opus_writer *w, const float *pcm, int n, struct byte_buffer *out, char *err,
                   size_t errlen)
{
    /* All the room first: a failure leaves out as it was. */
    size_t room = page_bytes(MAX_ENCODED_BYTES);
    if (w->packets == 0)
        room += page_bytes(OPUS_HEAD_BYTES) + page_bytes(OPUS_TAGS_BYTES);
    if (byte_buffer_reserve(out, room) != 0)
        return fail(err, errlen, "out of memory for %zu more bytes of Ogg pages", room);
    opus_int32 encoded = opus_encode_float(w->encoder, pcm, n, w->encoded, (opus_int32)sizeof w->encoded);
    if (encoded == OPUS_BAD_ARG) {
        char sizes[128];
        frame_sizes_text(sizes, sizeof sizes, w->sample_rate);
        return fail(err, errlen, "a frame of %d samples does not encode at %d Hz: %s (Opus takes 2.5 to 120 ms: %s samples)",
                    n, w->sample_rate, opus_strerror(encoded), sizes);
    }
    if (encoded < 0)
        return fail(err, errlen, "a frame of %d samples does not encode: %s", n, opus_strerror(encoded));
    if (w->packets == 0 && append_header_pages(w, out) != 0)
        return fail(err, errlen, "out of memory in libogg for the header pages");
    w->samples += n;
    if (append_packet_page(w, w->encoded, (size_t)encoded, out) != 0)
        return fail(err, errlen, "out of memory in libogg for a page of %d bytes", (int)encoded);
    return 0;
}

/* ---- Reading ---- */

struct ogg_opus_reader {
    OpusDecoder *decoder;               /* the reader's rate, mono */
    ogg_sync_state sync;                /* bytes not yet in a page: less than one page after each feed */
    ogg_stream_state stream;            /* once has_stream: the serial of the first page */
    int has_stream;
    long long pages, packets;           /* read so far; packet 0 is OpusHead, 1 OpusTags, then audio */
    long long bytes;                    /* in the pages read: where the next page starts */
    char failure[256];                  /* the first error, which every later feed repeats */
    float pcm[OGG_OPUS_MAX_PACKET_SAMPLES]; /* one packet decoded */
};

struct ogg_opus_reader *ogg_opus_reader_new(int sample_rate)
{
    if (sample_rate != 24000 && sample_rate != 48000)
        return NULL;
    struct ogg_opus_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    int error;
    r->decoder = opus_decoder_create(sample_rate, 1, &error);
    if (!r->decoder) {
        free(r);
        return NULL;
    }
    ogg_sync_init(&r->sync);
    return r;
}

void ogg_opus_reader_free(struct ogg_opus_reader *r)
{
    if (!r)
        return;
    opus_decoder_destroy(r->decoder);
    ogg_sync_clear(&r->sync);
    if (r->has_stream)
        ogg_stream_clear(&r->stream);
    free(r);
}

/* Keeps the message as the reader's failure and copies it into err; returns 1. */
static int reader_fail(struct ogg_opus_reader *r, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reader_fail(struct ogg_opus_reader *r, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->failure, sizeof r->failure, fmt, ap);
    va_end(ap);
    return fail(err, errlen, "%s", r->failure);
}

/* RFC 7845 §5.1: the magic, a version of major 0, 1 or 2 channels in mapping family 0. The output
   gain goes to the decoder; the pre-skip is not trimmed (sphn's reader keeps those samples too). */
static int read_opus_head(struct ogg_opus_reader *r, const ogg_packet *packet, char *err, size_t errlen)
{
    const unsigned char *b = packet->packet;
    if (packet->bytes < 8 || memcmp(b, "OpusHead", 8) != 0)
        return reader_fail(r, err, errlen, "not an Ogg Opus stream: its first packet is not OpusHead");
    if (packet->bytes < OPUS_HEAD_BYTES)
        return reader_fail(r, err, errlen, "truncated OpusHead: %ld bytes, not %d", packet->bytes, OPUS_HEAD_BYTES);
    if (b[8] > 15)
        return reader_fail(r, err, errlen, "unknown OpusHead version %d (major version %d; only 0 exists)", b[8], b[8] >> 4);
    if (b[9] != 1 && b[9] != 2)
        return reader_fail(r, err, errlen, "an OpusHead of %d channels: only mono and stereo are read", b[9]);
    if (b[18] != 0)
        return reader_fail(r, err, errlen, "an OpusHead of channel mapping family %d: only family 0 is read", b[18]);
    int gain = (b[16] | b[17] << 8) - (b[17] & 0x80 ? 1 << 16 : 0); /* Q7.8 dB, signed */
    if (opus_decoder_ctl(r->decoder, OPUS_SET_GAIN(gain)) != OPUS_OK)
        return reader_fail(r, err, errlen, "the OpusHead's output gain %d does not apply", gain);
    return 0;
}

static int read_packet(struct ogg_opus_reader *r, const ogg_packet *packet,
                       void (*on_pcm)(void *context, const float *pcm, int count), void *context, char *err,
                       size_t errlen)
{
    long long index = r->packets++;
    if (packet->bytes > MAX_PACKET_BYTES)
        return reader_fail(r, err, errlen, "packet %lld has %ld bytes: more than the %d an Ogg Opus packet may have",
                           index, packet->bytes, MAX_PACKET_BYTES);
    if (index == 0)
        return read_opus_head(r, packet, err, errlen);
    if (index == 1) {
        if (packet->bytes < 8 || memcmp(packet->packet, "OpusTags", 8) != 0)
            return reader_fail(r, err, errlen, "not an Ogg Opus stream: its second packet is not OpusTags");
        return 0;
    }
    if (packet->bytes == 0)
        return reader_fail(r, err, errlen, "packet %lld is empty: an Opus packet has at least its TOC byte", index);
    int count = opus_decode_float(r->decoder, packet->packet, (opus_int32)packet->bytes, r->pcm,
                                  OGG_OPUS_MAX_PACKET_SAMPLES, 0);
    if (count < 0)
        return reader_fail(r, err, errlen, "packet %lld does not decode as Opus: %s", index, opus_strerror(count));
    on_pcm(context, r->pcm, count);
    return 0;
}

/* Takes the page into the stream and reads every packet it ends. What stays in libogg's stream
   state is then the start of one unfinished packet, at most MAX_PACKET_BYTES. */
static int read_page(struct ogg_opus_reader *r, ogg_page *page,
                     void (*on_pcm)(void *context, const float *pcm, int count), void *context, char *err,
                     size_t errlen)
{
    long long number = ++r->pages;
    int serial = ogg_page_serialno(page);
    if (!r->has_stream) {
        if (ogg_stream_init(&r->stream, serial) != 0)
            return reader_fail(r, err, errlen, "out of memory for an Ogg stream");
        r->has_stream = 1;
    } else if (serial != r->stream.serialno) {
        return reader_fail(r, err, errlen, "page %lld belongs to another logical stream (serial %u, not %u): "
                           "chained or multiplexed streams are not read", number, (unsigned)serial,
                           (unsigned)r->stream.serialno);
    }
    if (ogg_stream_pagein(&r->stream, page) != 0)
        return reader_fail(r, err, errlen, "page %lld is of Ogg version %d: only 0 exists", number, ogg_page_version(page));
    r->bytes += page->header_len + page->body_len;
    ogg_packet packet;
    for (int got; (got = ogg_stream_packetout(&r->stream, &packet)) != 0;) {
        if (got < 0)
            return reader_fail(r, err, errlen, "a page is missing before page %lld: the page sequence skips", number);
        if (read_packet(r, &packet, on_pcm, context, err, errlen) != 0)
            return 1;
    }
    long unfinished = r->stream.body_fill - r->stream.body_returned;
    if (unfinished > MAX_PACKET_BYTES)
        return reader_fail(r, err, errlen, "packet %lld is still unfinished after %ld bytes (page %lld): more than the %d an "
                           "Ogg Opus packet may have", r->packets, unfinished, number, MAX_PACKET_BYTES);
    return 0;
}

/* libogg's ogg_sync_pageout returns -1 when the bytes where a page must start are not one: either no
   capture pattern there, or a page whose checksum fails. The bytes it is about to read tell which. */
static int next_bytes_are_capture_pattern(const ogg_sync_state *sync)
{
    return sync->fill - sync->returned >= 4 && memcmp(sync->data + sync->returned, "OggS", 4) == 0;
}

int ogg_opus_read_feed(struct ogg_opus_reader *r, const uint8_t *data, size_t n,
                       void (*on_pcm)(void *context, const float *pcm, int count), void *context, char *err,
                       size_t errlen)
{
    if (r->failure[0])
        return fail(err, errlen, "%s", r->failure);
    if (n > OGG_OPUS_MAX_PIECE)
        return reader_fail(r, err, errlen, "a piece of %zu bytes: more than the %d one feed takes", n, OGG_OPUS_MAX_PIECE);
    if (n == 0)
        return 0;
    char *buffer = ogg_sync_buffer(&r->sync, (long)n);
    if (!buffer)
        return reader_fail(r, err, errlen, "out of memory for %zu bytes of Ogg stream", n);
    memcpy(buffer, data, n);
    ogg_sync_wrote(&r->sync, (long)n);
    for (;;) {
        int at_capture_pattern = next_bytes_are_capture_pattern(&r->sync);
        ogg_page page;
        int got = ogg_sync_pageout(&r->sync, &page);
        if (got == 0)
            return 0;
        if (got < 0 && !at_capture_pattern && r->pages == 0)
            return reader_fail(r, err, errlen, "not an Ogg stream: no capture pattern (\"OggS\") at its start");
        if (got < 0 && !at_capture_pattern)
            return reader_fail(r, err, errlen, "bytes that are not Ogg at byte %lld: no capture pattern where page %lld must start",
                               r->bytes, r->pages + 1);
        if (got < 0)
            return reader_fail(r, err, errlen, "page %lld (byte %lld) fails its Ogg checksum", r->pages + 1, r->bytes);
        if (read_page(r, &page, on_pcm, context, err, errlen) != 0)
            return 1;
    }
}
