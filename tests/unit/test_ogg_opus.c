/* test_ogg_opus.c: the Ogg Opus writer's pages byte for byte (sphn's header pages, one page per frame,
 * granules), round trips through the reader fed in awkward pieces (and what comes back: the count,
 * Opus's delay, the quality), a stereo stream read as mono, the output gain, and the exact message of
 * each error. Streams the writer cannot make are made here with libogg and libopus. */
#include "check.h"
#include "ogg_opus.h"

#include <ogg/ogg.h>
#include <opus/opus.h>
#include <stdlib.h>
#include <string.h>

#define RATE 24000
#define FRAME 1920      /* 80 ms at 24 kHz, as Moshi's clients send */
#define FRAMES 25
#define TONE_HZ 440.0
#define PI 3.14159265358979323846

static float sine[FRAME * FRAMES];

/* ---- Streams as bytes ---- */

/* One page of a stream: its header (27 bytes and the lacing values) and body. */
struct page_view {
    unsigned char *start;
    size_t header_len, body_len;
};

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t value = 0;
    for (int i = bytes - 1; i >= 0; i--)
        value = value << 8 | p[i];
    return value;
}

/* Splits a stream into its pages; returns how many (at most max), or -1 if it is not pages. */
static int split_pages(unsigned char *bytes, size_t size, struct page_view *pages, int max)
{
    int count = 0;
    for (size_t at = 0; at < size; count++) {
        if (count == max || size - at < 27 || memcmp(bytes + at, "OggS", 4) != 0 || size - at < 27u + bytes[at + 26])
            return -1;
        struct page_view page = {bytes + at, 27u + bytes[at + 26], 0};
        for (int i = 0; i < bytes[at + 26]; i++)
            page.body_len += bytes[at + 27 + i];
        if (size - at < page.header_len + page.body_len)
            return -1;
        pages[count] = page;
        at += page.header_len + page.body_len;
    }
    return count;
}

/* Recomputes a page's checksum after its bytes were changed. */
static void fix_checksum(struct page_view page)
{
    ogg_page og = {page.start, (long)page.header_len, page.start + page.header_len, (long)page.body_len};
    ogg_page_checksum_set(&og);
}

static int checksum_is_right(struct page_view page)
{
    unsigned char copy[27 + 255 + 4000];
    if (page.header_len + page.body_len > sizeof copy)
        return 0;
    memcpy(copy, page.start, page.header_len + page.body_len);
    fix_checksum((struct page_view){copy, page.header_len, page.body_len});
    return memcmp(copy + 22, page.start + 22, 4) == 0;
}

static void append(struct byte_buffer *b, const void *bytes, size_t n)
{
    if (b->size + n > b->capacity) {
        b->capacity = 2 * (b->size + n);
        b->data = realloc(b->data, b->capacity);
        if (!b->data) {
            perror("realloc");           /* the test cannot run, rather than fail */
            exit(2);
        }
    }
    memcpy(b->data + b->size, bytes, n);
    b->size += n;
}

struct packet {
    const unsigned char *bytes;
    size_t len;
};

/* A stream of the given serial holding the packets, one page each (as the writer makes them). */
static void make_stream(struct byte_buffer *out, int serial, const struct packet *packets, int count)
{
    ogg_stream_state stream;
    ogg_stream_init(&stream, serial);
    for (int i = 0; i < count; i++) {
        ogg_packet op = {(unsigned char *)packets[i].bytes, (long)packets[i].len, i == 0, 0, i, i};
        ogg_page page;
        ogg_stream_packetin(&stream, &op);
        while (ogg_stream_flush(&stream, &page)) {
            append(out, page.header, (size_t)page.header_len);
            append(out, page.body, (size_t)page.body_len);
        }
    }
    ogg_stream_clear(&stream);
}

static void make_opus_head(unsigned char head[19], int version, int channels, int gain, int family)
{
    memcpy(head, "OpusHead", 8);
    head[8] = (unsigned char)version;
    head[9] = (unsigned char)channels;
    head[10] = 0x00, head[11] = 0x0f;                            /* pre-skip 3840 */
    head[12] = 0xc0, head[13] = 0x5d, head[14] = 0, head[15] = 0; /* 24000 Hz */
    head[16] = (unsigned char)(gain & 0xff), head[17] = (unsigned char)((gain >> 8) & 0xff);
    head[18] = (unsigned char)family;
}

static const unsigned char opus_tags[20] = "OpusTags\4\0\0\0kiln\0\0\0\0";

/* The sine through the writer, FRAME samples a page. */
static void write_sine(struct byte_buffer *out)
{
    struct ogg_opus_writer *w = ogg_opus_writer_new(RATE);
    char err[256] = "";
    for (int f = 0; f < FRAMES; f++)
        CHECK(ogg_opus_write(w, sine + f * FRAME, FRAME, out, err, sizeof err) == 0, "%s", err);
    ogg_opus_writer_free(w);
}

/* ---- Reading ---- */

struct decoded {
    float pcm[FRAME * FRAMES * 2];
    int count, calls;
    int overflow;                        /* more samples than pcm holds */
};

static void collect(void *context, const float *pcm, int count)
{
    struct decoded *d = context;
    d->calls++;
    if (count > OGG_OPUS_MAX_PACKET_SAMPLES || d->count + count > (int)(sizeof d->pcm / sizeof d->pcm[0])) {
        d->overflow = 1;
        return;
    }
    memcpy(d->pcm + d->count, pcm, (size_t)count * sizeof *pcm);
    d->count += count;
}

/* Feeds the stream to a new reader in pieces whose sizes cycle through piece_sizes (an empty list:
   all at once); returns what the last feed returned, its message in err. */
static int read_stream(int rate, const unsigned char *bytes, size_t size, const size_t *piece_sizes,
                       int num_sizes, struct decoded *d, char *err, size_t errlen)
{
    struct ogg_opus_reader *r = ogg_opus_reader_new(rate);
    memset(d, 0, sizeof *d);
    int status = 0;
    for (size_t at = 0, i = 0; at < size && status == 0; i++) {
        size_t n = num_sizes ? piece_sizes[i % (size_t)num_sizes] : size;
        n = n < size - at ? n : size - at;
        status = ogg_opus_read_feed(r, bytes + at, n, collect, d, err, errlen);
        at += n;
    }
    ogg_opus_reader_free(r);
    return status;
}

/* got[lag + i] against want[i] over [from, to): signal to error in dB. */
static double snr_db(const float *want, const float *got, int lag, int from, int to)
{
    double signal = 0, error = 0;
    for (int i = from; i < to; i++) {
        signal += (double)want[i] * want[i];
        error += ((double)got[i + lag] - want[i]) * ((double)got[i + lag] - want[i]);
    }
    return 10 * log10(signal / error);
}

/* The sinusoid of TONE_HZ nearest to x[from, to) (least squares): its amplitude, its phase as a
   delay behind sine[] in samples (modulo one period), and the rest of x as SNR in dB. */
struct tone_fit {
    double amplitude, delay, snr_db;
};

static struct tone_fit fit_tone(const float *x, int from, int to)
{
    double w = 2 * PI * TONE_HZ / RATE, ss = 0, sc = 0, cc = 0, xs = 0, xc = 0;
    for (int i = from; i < to; i++) {
        double s = sin(w * i), c = cos(w * i);
        ss += s * s, sc += s * c, cc += c * c, xs += x[i] * s, xc += x[i] * c;
    }
    double det = ss * cc - sc * sc, a = (xs * cc - xc * sc) / det, b = (xc * ss - xs * sc) / det;
    double signal = 0, rest = 0, period = RATE / TONE_HZ;
    for (int i = from; i < to; i++) {
        double fitted = a * sin(w * i) + b * cos(w * i);
        signal += fitted * fitted;
        rest += (x[i] - fitted) * (x[i] - fitted);
    }
    return (struct tone_fit){sqrt(a * a + b * b), fmod(-atan2(b, a) / w + 2 * period, period), 10 * log10(signal / rest)};
}

/* ---- Tests ---- */

static void test_pages(void)
{
    struct byte_buffer out = {0};
    write_sine(&out);
    struct page_view pages[FRAMES + 3];
    int count = split_pages(out.data, out.size, pages, FRAMES + 3);
    CHECK(count == FRAMES + 2, "%d pages, want the 2 header pages and one per frame", count);
    if (count != FRAMES + 2) {
        byte_buffer_free(&out);
        return;
    }
    for (int i = 0; i < count; i++) {
        const unsigned char *h = pages[i].start;
        CHECK(h[4] == 0 && h[5] == (i == 0 ? 2 : 0), "page %d: version %d, flags %d (BOS on page 1 only)", i, h[4], h[5]);
        CHECK(get_le(h + 14, 4) == 42 && get_le(h + 18, 4) == (uint64_t)i, "page %d: serial %llu, sequence %llu", i,
              (unsigned long long)get_le(h + 14, 4), (unsigned long long)get_le(h + 18, 4));
        uint64_t granule = i < 2 ? 0 : (uint64_t)(i - 1) * FRAME;
        CHECK(get_le(h + 6, 8) == granule, "page %d: granule %llu, want %llu", i, (unsigned long long)get_le(h + 6, 8),
              (unsigned long long)granule);
        CHECK(h[pages[i].header_len - 1] < 255, "page %d: its packet does not end on it", i);
        CHECK(checksum_is_right(pages[i]), "page %d: checksum", i);
    }
    const unsigned char head[19] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1, 0x00, 0x0f,
                                    0xc0, 0x5d, 0, 0, 0, 0, 0};
    CHECK(pages[0].header_len == 28 && pages[0].body_len == 19 && memcmp(pages[0].start + 28, head, 19) == 0,
          "OpusHead differs (magic, version 1, 1 channel, pre-skip 3840, 24000 Hz, gain 0, family 0)");
    CHECK(pages[1].header_len == 28 && pages[1].body_len == 20 && memcmp(pages[1].start + 28, opus_tags, 20) == 0,
          "OpusTags differs (magic, vendor \"kiln\", 0 tags)");
    byte_buffer_free(&out);
}

/* Every frame size Opus takes at 24 kHz, one after another: each a page, decoded to as many samples. */
static void test_frame_sizes(void)
{
    static const int sizes[] = {60, 120, 240, 480, 960, 1440, 1920, 2400, 2880};
    const int num_sizes = (int)(sizeof sizes / sizeof sizes[0]);
    struct ogg_opus_writer *w = ogg_opus_writer_new(RATE);
    struct byte_buffer out = {0};
    char err[256] = "";
    int at = 0;
    for (int i = 0; i < num_sizes; at += sizes[i++])
        CHECK(ogg_opus_write(w, sine + at, sizes[i], &out, err, sizeof err) == 0, "%d samples: %s", sizes[i], err);
    ogg_opus_writer_free(w);
    struct page_view pages[16];
    CHECK(split_pages(out.data, out.size, pages, 16) == num_sizes + 2, "one page per frame");
    static struct decoded d;
    CHECK(read_stream(RATE, out.data, out.size, NULL, 0, &d, err, sizeof err) == 0, "%s", err);
    CHECK(d.calls == num_sizes && d.count == at, "%d packets of %d samples in all, want %d of %d", d.calls, d.count,
          num_sizes, at);
    byte_buffer_free(&out);
}

/* The sine there and back, the stream fed whole, a byte at a time, and in pieces that split pages. */
static void test_round_trip(void)
{
    struct byte_buffer out = {0};
    write_sine(&out);
    static struct decoded whole, bytes, pieces;
    static const size_t piece_sizes[] = {5, 100, 47, 1, 300, 13, 2000, 28};
    char err[256] = "";
    CHECK(read_stream(RATE, out.data, out.size, NULL, 0, &whole, err, sizeof err) == 0, "%s", err);
    CHECK(read_stream(RATE, out.data, out.size, (size_t[]){1}, 1, &bytes, err, sizeof err) == 0, "%s", err);
    CHECK(read_stream(RATE, out.data, out.size, piece_sizes, 8, &pieces, err, sizeof err) == 0, "%s", err);
    CHECK(whole.count == FRAME * FRAMES && whole.calls == FRAMES && !whole.overflow, "%d samples in %d calls, want %d in %d",
          whole.count, whole.calls, FRAME * FRAMES, FRAMES);
    CHECK(bytes.count == whole.count && memcmp(bytes.pcm, whole.pcm, sizeof whole.pcm) == 0, "fed a byte at a time: differs");
    CHECK(pieces.count == whole.count && memcmp(pieces.pcm, whole.pcm, sizeof whole.pcm) == 0, "fed in pieces: differs");

    /* The decoder's output lags its input by the encoder's lookahead: 156 samples at 24 kHz (6.5 ms:
       CELT's 2.5 ms overlap and SILK's 4 ms), not the header's pre-skip (3840 at 48 kHz, 80 ms, sphn's
       generous value). Measured with libopus 1.3.1: a chirp (200 Hz up to 6 kHz) matches best at
       exactly 156 samples; this 440 Hz sine, whose phase the codec turns by a little more, best at
       154 (SNR 27.8 dB; 14.4 at 156), and the tone fitted to the output lags it by 154.3 samples,
       amplitude 0.502, the rest of the output 40.6 dB below it. The bounds leave 7 to 8 dB. */
    int error;
    OpusEncoder *encoder = opus_encoder_create(RATE, 1, OPUS_APPLICATION_VOIP, &error);
    opus_int32 lookahead = 0;
    opus_encoder_ctl(encoder, OPUS_GET_LOOKAHEAD(&lookahead));
    opus_encoder_destroy(encoder);
    CHECK(lookahead == 156, "the encoder's lookahead is %d samples", (int)lookahead);
    const int from = 4000, to = FRAME * FRAMES - 2000; /* past the start, short of the last packets */
    int best_lag = lookahead;                          /* within half a period of the sine: one match */
    for (int lag = lookahead - 27; lag <= lookahead + 27; lag++)
        if (snr_db(sine, whole.pcm, lag, from, to) > snr_db(sine, whole.pcm, best_lag, from, to))
            best_lag = lag;
    double best_snr = snr_db(sine, whole.pcm, best_lag, from, to);
    CHECK(abs(best_lag - lookahead) <= 3 && best_snr > 20, "the decoded sine matches best %d samples late, SNR %.1f dB",
          best_lag, best_snr);
    struct tone_fit fit = fit_tone(whole.pcm, from, to);
    double period = RATE / TONE_HZ, delay = fit.delay + period * round((lookahead - fit.delay) / period);
    CHECK(fabs(fit.amplitude - 0.5) < 0.02 && fit.snr_db > 32 && fabs(delay - lookahead) < 3,
          "the decoded tone: amplitude %.4f, %.2f samples late, the rest %.1f dB below it", fit.amplitude, delay, fit.snr_db);
    printf("round trip: %d samples, best match %d samples late (SNR %.1f dB), the tone %.2f late, amplitude %.4f, rest -%.1f dB\n",
           whole.count, best_lag, best_snr, delay, fit.amplitude, fit.snr_db);
    byte_buffer_free(&out);
}

/* A stereo stream (libopus's own encoder, the sine on both sides) reads as the mono sine. */
static void test_stereo(void)
{
    static float stereo[2 * FRAME];
    static unsigned char encoded[FRAMES][4000];
    struct packet packets[FRAMES + 2];
    unsigned char head[19];
    make_opus_head(head, 1, 2, 0, 0);
    packets[0] = (struct packet){head, 19};
    packets[1] = (struct packet){opus_tags, 20};
    int error;
    OpusEncoder *encoder = opus_encoder_create(RATE, 2, OPUS_APPLICATION_VOIP, &error);
    for (int f = 0; f < FRAMES; f++) {
        for (int i = 0; i < FRAME; i++)
            stereo[2 * i] = stereo[2 * i + 1] = sine[f * FRAME + i];
        int len = opus_encode_float(encoder, stereo, FRAME, encoded[f], 4000);
        CHECK(len > 0, "stereo frame %d: %s", f, opus_strerror(len));
        packets[f + 2] = (struct packet){encoded[f], len > 0 ? (size_t)len : 0};
    }
    opus_encoder_destroy(encoder);
    struct byte_buffer stream = {0};
    make_stream(&stream, 42, packets, FRAMES + 2);
    static struct decoded d;
    char err[256] = "";
    CHECK(read_stream(RATE, stream.data, stream.size, (size_t[]){333}, 1, &d, err, sizeof err) == 0, "%s", err);
    CHECK(d.count == FRAME * FRAMES, "%d samples from the stereo stream", d.count);
    /* Measured: amplitude 0.507, the rest 39.4 dB below the tone. */
    struct tone_fit fit = fit_tone(d.pcm, 4000, FRAME * FRAMES - 2000);
    CHECK(fabs(fit.amplitude - 0.5) < 0.02 && fit.snr_db > 32, "stereo as mono: amplitude %.4f, the rest %.1f dB below",
          fit.amplitude, fit.snr_db);
    printf("stereo as mono: amplitude %.4f, rest -%.1f dB\n", fit.amplitude, fit.snr_db);
    byte_buffer_free(&stream);
}

/* The OpusHead's output gain applies: -6.02 dB (Q7.8: -1541) halves every sample. */
static void test_output_gain(void)
{
    struct byte_buffer out = {0};
    write_sine(&out);
    static struct decoded plain, quieter;
    char err[256] = "";
    CHECK(read_stream(RATE, out.data, out.size, NULL, 0, &plain, err, sizeof err) == 0, "%s", err);
    struct page_view pages[FRAMES + 2];
    split_pages(out.data, out.size, pages, FRAMES + 2);
    int gain = -1541;
    pages[0].start[28 + 16] = (unsigned char)(gain & 0xff), pages[0].start[28 + 17] = (unsigned char)((gain >> 8) & 0xff);
    fix_checksum(pages[0]);
    CHECK(read_stream(RATE, out.data, out.size, NULL, 0, &quieter, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < plain.count; i++)
        plain.pcm[i] *= 0.5f;
    CHECK(quieter.count == plain.count && rel_error(quieter.pcm, plain.pcm, (size_t)plain.count) < 1e-3,
          "a gain of -6.02 dB: %g from half the samples", rel_error(quieter.pcm, plain.pcm, (size_t)plain.count));
    byte_buffer_free(&out);
}

/* Reading `bytes` (in pieces of piece_size, 0: whole) fails with exactly `message`, and so does
   every feed after it. */
static void check_read_error(const unsigned char *bytes, size_t size, size_t piece_size, const char *message)
{
    static struct decoded d;
    char err[512] = "";
    size_t sizes[1] = {piece_size};
    CHECK(read_stream(RATE, bytes, size, sizes, piece_size ? 1 : 0, &d, err, sizeof err) == 1, "should fail: %s", message);
    CHECK(strcmp(err, message) == 0, "\n  got      '%s'\n  expected '%s'", err, message);
}

static void test_read_errors(void)
{
    char err[512] = "";
    struct byte_buffer good = {0};
    write_sine(&good);
    struct byte_buffer bad = {0};
    append(&bad, good.data, good.size);
    struct page_view pages[FRAMES + 2];
    split_pages(bad.data, bad.size, pages, FRAMES + 2);

    const char garbage[] = "RIFF....WAVEfmt this is a wave file, not an Ogg stream";
    check_read_error((const unsigned char *)garbage, sizeof garbage, 0,
                     "not an Ogg stream: no capture pattern (\"OggS\") at its start");
    check_read_error((const unsigned char *)garbage, sizeof garbage, 1,
                     "not an Ogg stream: no capture pattern (\"OggS\") at its start");

    /* Page 3's packet made invalid (code 3, a count of 0 frames), its checksum recomputed: only Opus fails. */
    unsigned char *packet = pages[2].start + pages[2].header_len;
    unsigned char saved[2] = {packet[0], packet[1]};
    packet[0] |= 3, packet[1] = 0;
    fix_checksum(pages[2]);
    check_read_error(bad.data, bad.size, 0, "packet 2 does not decode as Opus: corrupted stream");
    /* The same bytes without the checksum recomputed. */
    packet[0] = saved[0], packet[1] = saved[1];
    check_read_error(bad.data, bad.size, 7, "page 3 (byte 95) fails its Ogg checksum");
    fix_checksum(pages[2]);

    /* Garbage where page 4 must start; page 4 left out. */
    size_t page4 = (size_t)(pages[3].start - bad.data);
    memcpy(bad.data + page4, "Oggs", 4);
    char message[256];
    snprintf(message, sizeof message, "bytes that are not Ogg at byte %zu: no capture pattern where page 4 must start", page4);
    check_read_error(bad.data, bad.size, 1000, message);
    memcpy(bad.data + page4, "OggS", 4);
    memmove(bad.data + page4, pages[4].start, bad.size - (size_t)(pages[4].start - bad.data));
    check_read_error(bad.data, bad.size - pages[3].header_len - pages[3].body_len, 0,
                     "a page is missing before page 4: the page sequence skips");

    /* Headers: the first packet not OpusHead, the second not OpusTags, versions, channels, families. */
    unsigned char head[19], audio[1] = {0xf8};            /* a CELT packet of 20 ms, silence */
    struct packet packets[3] = {{opus_tags, 20}, {opus_tags, 20}, {audio, 1}};
    const struct {
        int version, channels, family;
        const char *message;
    } heads[] = {
        {16, 1, 0, "unknown OpusHead version 16 (major version 1; only 0 exists)"},
        {1, 3, 0, "an OpusHead of 3 channels: only mono and stereo are read"},
        {1, 0, 0, "an OpusHead of 0 channels: only mono and stereo are read"},
        {1, 2, 1, "an OpusHead of channel mapping family 1: only family 0 is read"},
        {0, 1, 0, NULL},
        {15, 2, 0, NULL},
    };
    for (int i = 0; i < (int)(sizeof heads / sizeof heads[0]) + 3; i++) {
        struct byte_buffer stream = {0};
        const char *expected = "not an Ogg Opus stream: its first packet is not OpusHead";
        if (i < (int)(sizeof heads / sizeof heads[0])) {
            make_opus_head(head, heads[i].version, heads[i].channels, 0, heads[i].family);
            packets[0] = (struct packet){head, 19}, packets[1] = (struct packet){opus_tags, 20};
            expected = heads[i].message;
        } else if (i == (int)(sizeof heads / sizeof heads[0]) + 1) {
            packets[0] = (struct packet){head, 18};
            expected = "truncated OpusHead: 18 bytes, not 19";
        } else if (i == (int)(sizeof heads / sizeof heads[0]) + 2) {
            packets[0] = (struct packet){head, 19}, packets[1] = (struct packet){head, 19};
            expected = "not an Ogg Opus stream: its second packet is not OpusTags";
        } else {
            packets[0] = (struct packet){opus_tags, 20};
        }
        make_stream(&stream, 9, packets, 3);
        if (expected) {
            check_read_error(stream.data, stream.size, 0, expected);
        } else {
            static struct decoded d;
            CHECK(read_stream(RATE, stream.data, stream.size, NULL, 0, &d, err, sizeof err) == 0 && d.count == 480,
                  "OpusHead version %d, %d channels: %s, %d samples", heads[i].version, heads[i].channels, err, d.count);
        }
        byte_buffer_free(&stream);
    }

    /* An empty packet; a packet larger than RFC 7845 allows (spread over two pages); another stream after this one. */
    make_opus_head(head, 1, 1, 0, 0);
    static unsigned char large[70000];
    struct packet empty[3] = {{head, 19}, {opus_tags, 20}, {audio, 0}}, oversized[3] = {{head, 19}, {opus_tags, 20}, {large, sizeof large}};
    struct byte_buffer stream = {0};
    make_stream(&stream, 42, empty, 3);
    check_read_error(stream.data, stream.size, 0, "packet 2 is empty: an Opus packet has at least its TOC byte");
    stream.size = 0;
    make_stream(&stream, 42, oversized, 3);
    check_read_error(stream.data, stream.size, 0,
                     "packet 2 is still unfinished after 65025 bytes (page 3): more than the 61440 an Ogg Opus packet may have");
    stream.size = 0;
    append(&stream, good.data, good.size);
    make_stream(&stream, 7, empty, 2);
    check_read_error(stream.data, stream.size, 0,
                     "page 28 belongs to another logical stream (serial 7, not 42): chained or multiplexed streams are not read");
    byte_buffer_free(&stream);

    /* A piece over the limit; and after any error, every feed fails at once with the same message. */
    struct ogg_opus_reader *r = ogg_opus_reader_new(RATE);
    unsigned char *huge = calloc(OGG_OPUS_MAX_PIECE + 1, 1);
    static struct decoded d;
    memset(&d, 0, sizeof d);
    CHECK(ogg_opus_read_feed(r, huge, OGG_OPUS_MAX_PIECE + 1, collect, &d, err, sizeof err) == 1 &&
              strcmp(err, "a piece of 1048577 bytes: more than the 1048576 one feed takes") == 0, "got '%s'", err);
    err[0] = '\0';
    CHECK(ogg_opus_read_feed(r, good.data, good.size, collect, &d, err, sizeof err) == 1 &&
              strcmp(err, "a piece of 1048577 bytes: more than the 1048576 one feed takes") == 0 && d.calls == 0,
          "after the error: '%s', %d calls", err, d.calls);
    ogg_opus_reader_free(r);
    free(huge);
    byte_buffer_free(&good);
    byte_buffer_free(&bad);
}

static void test_writer_errors(void)
{
    CHECK(ogg_opus_writer_new(44100) == NULL && ogg_opus_reader_new(16000) == NULL, "rates other than 24 and 48 kHz");
    struct ogg_opus_writer *w = ogg_opus_writer_new(RATE);
    struct byte_buffer out = {0};
    char err[512] = "";
    CHECK(ogg_opus_write(w, sine, 1000, &out, err, sizeof err) == 1 && out.size == 0, "1000 samples: written");
    CHECK(strcmp(err, "a frame of 1000 samples does not encode at 24000 Hz: invalid argument (Opus takes 2.5 to 120 ms: "
                      "60, 120, 240, 480, 960, 1440, 1920, 2400 or 2880 samples)") == 0, "got '%s'", err);
    CHECK(ogg_opus_write(w, sine, 3840, &out, err, sizeof err) == 1 && out.size == 0, "160 ms: written");
    CHECK(ogg_opus_write(w, sine, 480, &out, err, sizeof err) == 0, "%s", err);
    struct page_view pages[4];
    CHECK(split_pages(out.data, out.size, pages, 4) == 3 && get_le(pages[2].start + 6, 8) == 480,
          "after refused frames: the headers, then one page of granule 480");
    ogg_opus_writer_free(w);
    byte_buffer_free(&out);

    /* 48 kHz: the header says so, and 20 ms frames come back whole. */
    w = ogg_opus_writer_new(48000);
    static float silence[960];
    for (int i = 0; i < 3; i++)
        CHECK(ogg_opus_write(w, silence, 960, &out, err, sizeof err) == 0, "%s", err);
    ogg_opus_writer_free(w);
    CHECK(out.size > 47 && get_le(out.data + 28 + 12, 4) == 48000, "the OpusHead's rate at 48 kHz");
    static struct decoded d;
    CHECK(read_stream(48000, out.data, out.size, (size_t[]){64}, 1, &d, err, sizeof err) == 0 && d.count == 3 * 960,
          "48 kHz: %d samples (%s)", d.count, err);
    byte_buffer_free(&out);
}

int main(void)
{
    for (int i = 0; i < FRAME * FRAMES; i++)
        sine[i] = 0.5f * (float)sin(2 * PI * TONE_HZ * i / RATE);
    test_pages();
    test_frame_sizes();
    test_round_trip();
    test_stereo();
    test_output_gain();
    test_read_errors();
    test_writer_errors();
    return check_finish();
}
