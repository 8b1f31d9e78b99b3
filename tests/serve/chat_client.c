/* chat_client: a test client for a system binary's `serve` (runtime/cli/serve.c), which speaks the
 * protocol of Kyutai's moshi.server. WebSocket (RFC 6455) through tests/serve/websocket.h, its own code
 * over plain POSIX sockets, so that it can also send what no well-behaved client would; Ogg Opus through
 * runtime/cli/ogg_opus.h.
 *
 *   chat_client --port P [--host 127.0.0.1] [--mode MODE] [--frames N] [--expect-audio-frames M]
 *               [--realtime] [--malformed opcode|rsv1|unmasked] [--timeout S]
 *   chat_client --self-test      SHA-1, base64, the Sec-WebSocket-Accept of RFC 6455's example, frame
 *                                lengths and fragments, the bad-Opus page; prints "self-test: ok"
 *
 * The protocol: a WebSocket at /api/chat, no subprotocol; every message binary, its first byte its kind:
 * 0x00 the server's handshake (the conversation is ready), 0x01 Ogg Opus pages (24 kHz mono; the first
 * message of each side carries the two header pages), 0x02 the server's text (UTF-8).
 *
 * Modes (--mode, default normal). Each waits at most --timeout seconds (default 60) from its start.
 *   normal          waits for 0x00, sends N frames (default 25) of 1920 samples of a 300 Hz sine under
 *                   a 2 Hz swell, one 0x01 message each (--realtime: one per 80 ms, else as fast as the
 *                   socket takes them, reading all the while); decodes every 0x01 reply. Succeeds once
 *                   M * 1920 samples arrived (--expect-audio-frames, required), then sends close 1000 and
 *                   waits (another --timeout) for the server's close.
 *   malformed-frame after 0x00, a frame with a reserved opcode 0x3 (--malformed opcode, the default), with
 *                   RSV1 set (rsv1) or unmasked (unmasked), each carrying a valid first audio message;
 *                   succeeds when the server closes, with a close frame of any status or by dropping it.
 *   bad-opus        after 0x00, the header pages and a page whose Opus packet cannot decode (its Ogg
 *                   checksum right); succeeds on close status 1007 with a reason.
 *   text-message    after 0x00, a text frame; succeeds on close status 1003 with a reason.
 *   unknown-kind    after 0x00, a binary message of kind 0x7f; succeeds on close status 1003 with a reason.
 *   stop-reading    a small receive buffer; after 0x00, sends N frames as fast as possible, never reads
 *                   again, keeps the socket open until --timeout has passed; exits 0.
 *   expect-refusal  succeeds when, after the upgrade, the server closes with status 1013 and a reason.
 *   bad-handshake   asks for an upgrade at /elsewhere, then sends bytes that are not HTTP on a second
 *                   connection; succeeds when neither is upgraded (an HTTP status other than 101, or the
 *                   connection dropped): prints "rejected: HTTP 404" or "rejected: eof" for each.
 *
 * Stdout, one line per event, for a shell test to grep (times from the first audio frame sent):
 *   handshake 12.3 ms                       0x00 came 12.3 ms after the upgrade's 101
 *   audio frame 5 at 431.0 ms               the 5th 0x01 message (counting from 1)
 *   text "hello"                            a 0x02 message (", \ and control bytes escaped)
 *   closed: status 1007 "reason"            the server's close frame (1005 when it held no status)
 *   closed: eof                             the server dropped the connection
 *   refused: status 1013 "reason"
 *   done: N frames sent, M audio frames (S samples) received, T text messages, p50 X ms p99 Y ms between frames
 *   error: ...                              and exit 1: no connection ("error: cannot connect ..."), a
 *                                           timeout, or any protocol violation by the server */
#include <math.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ogg_opus.h"
#include "websocket.h"

#define SAMPLE_RATE 24000
#define FRAME 1920 /* samples in one 80 ms frame */
#define FRAME_MS 80.0
#define SEND_QUEUE_LIMIT (64 * 1024) /* queued bytes above which normal mode waits to send more */

enum kind { KIND_HANDSHAKE = 0x00, KIND_AUDIO = 0x01, KIND_TEXT = 0x02, KIND_UNKNOWN = 0x7f };

/* A message of Moshi's protocol: its kind byte, then bytes[n], in one binary frame */
static void queue_message(struct connection *c, enum kind kind, const uint8_t *bytes, size_t n)
{
    struct byte_buffer message = {0};
    uint8_t kind_byte = kind;
    buffer_append(&message, &kind_byte, 1);
    buffer_append(&message, bytes, n);
    queue_frame(c, FIN | OP_BINARY, message.data, message.size, true);
    byte_buffer_free(&message);
}

/* ---- the test audio ---- */

/* Frame `index` of a 300 Hz sine at 24 kHz whose amplitude swells between 0.1 and 0.5 twice a second */
static void test_signal(int index, float pcm[FRAME])
{
    const double two_pi = 6.283185307179586;
    for (int i = 0; i < FRAME; i++) {
        double t = (double)(index * FRAME + i) / SAMPLE_RATE;
        pcm[i] = (float)((0.3 + 0.2 * sin(two_pi * 2 * t)) * sin(two_pi * 300 * t));
    }
}

/* Appends frame `index`'s Ogg page (after the two header pages, for the first) to pages */
static void encode_frame(struct ogg_opus_writer *writer, int index, struct byte_buffer *pages)
{
    float pcm[FRAME];
    char err[256];
    test_signal(index, pcm);
    if (ogg_opus_write(writer, pcm, FRAME, pages, err, sizeof err))
        fail("cannot encode the test signal: %s", err);
}

/* A code-3 Opus packet (TOC 0xFB: CELT, 20 ms frames) claiming 63 frames, 1.26 s where a packet holds at
   most 120 ms: no decoder takes it */
static const uint8_t undecodable_packet[] = {0xFB, 0x3F};

/* The two header pages and a first audio page whose packet is undecodable_packet: the page's lacing and
   checksum made right again, so that only the Opus layer can object */
static void bad_opus_stream(struct byte_buffer *out)
{
    struct ogg_opus_writer *writer = ogg_opus_writer_new(SAMPLE_RATE);
    struct byte_buffer pages = {0};
    if (!writer)
        fail("out of memory");
    encode_frame(writer, 0, &pages);
    ogg_sync_state sync;
    ogg_sync_init(&sync);
    memcpy(ogg_sync_buffer(&sync, (long)pages.size), pages.data, pages.size);
    ogg_sync_wrote(&sync, (long)pages.size);
    ogg_page page;
    for (int index = 0; ogg_sync_pageout(&sync, &page) == 1; index++) {
        if (index < 2) {
            buffer_append(out, page.header, (size_t)page.header_len);
            buffer_append(out, page.body, (size_t)page.body_len);
            continue;
        }
        uint8_t header[28];
        memcpy(header, page.header, 26); /* capture pattern to page sequence number, and the checksum */
        header[26] = 1;                  /* one lacing value: the packet's length */
        header[27] = sizeof undecodable_packet;
        ogg_page bad = {.header = header, .header_len = sizeof header, .body = (unsigned char *)undecodable_packet,
                        .body_len = sizeof undecodable_packet};
        ogg_page_checksum_set(&bad);
        buffer_append(out, header, sizeof header);
        buffer_append(out, undecodable_packet, sizeof undecodable_packet);
    }
    ogg_sync_clear(&sync);
    byte_buffer_free(&pages);
    ogg_opus_writer_free(writer);
}

/* ---- what the server sends in a conversation ---- */

static void print_quoted(const uint8_t *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            printf("\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] == 0x7f)
            printf("\\x%02x", s[i]);
        else
            putchar(s[i]);
    }
    putchar('"');
}

struct reception {
    struct ogg_opus_reader *reader;
    double start;                  /* ms, now_ms's clock: when the first audio frame was sent */
    long samples;                  /* decoded */
    int audio_messages, text_messages;
    double *arrivals;              /* ms after start, one per audio message */
};

static void count_samples(void *context, const float *pcm, int count)
{
    (void)pcm;
    ((struct reception *)context)->samples += count;
}

static void take_server_message(const struct connection *c, struct reception *r)
{
    const uint8_t *m = c->message.data;
    size_t n = c->message.size;
    char err[256];
    if (c->message_opcode != OP_BINARY)
        fail("the server sent a text WebSocket message; the protocol's messages are binary");
    if (!n)
        fail("the server sent an empty message, without a kind byte");
    if (m[0] == KIND_AUDIO) {
        if (ogg_opus_read_feed(r->reader, m + 1, n - 1, count_samples, r, err, sizeof err))
            fail("the server's audio message %d does not decode: %s", r->audio_messages + 1, err);
        if (!(r->arrivals = realloc(r->arrivals, (size_t)(r->audio_messages + 1) * sizeof *r->arrivals)))
            fail("out of memory");
        r->arrivals[r->audio_messages++] = now_ms() - r->start;
        printf("audio frame %d at %.1f ms\n", r->audio_messages, r->arrivals[r->audio_messages - 1]);
    } else if (m[0] == KIND_TEXT) {
        if (!valid_utf8(m + 1, n - 1))
            fail("the server's text message is not UTF-8");
        r->text_messages++;
        fputs("text ", stdout);
        print_quoted(m + 1, n - 1);
        putchar('\n');
    } else if (m[0] == KIND_HANDSHAKE) {
        fail("the server sent a second handshake message");
    } else {
        fail("the server sent a message of unknown kind 0x%02x", m[0]);
    }
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of the gaps between audio messages; 0 with fewer than 2 */
static double gap_quantile(const struct reception *r, double q)
{
    int n = r->audio_messages - 1;
    if (n < 1)
        return 0;
    double *gaps = malloc((size_t)n * sizeof *gaps);
    if (!gaps)
        fail("out of memory");
    for (int i = 0; i < n; i++)
        gaps[i] = r->arrivals[i + 1] - r->arrivals[i];
    qsort(gaps, (size_t)n, sizeof *gaps, compare_doubles);
    double gap = gaps[(int)ceil(q * n) - 1];
    free(gaps);
    return gap;
}

static void print_close(const char *what, const struct connection *c)
{
    printf("%s: status %d ", what, c->close_status);
    print_quoted(c->close_reason, c->close_reason_size);
    putchar('\n');
}

/* ---- the modes ---- */

enum mode { NORMAL, MALFORMED_FRAME, BAD_OPUS, TEXT_MESSAGE, UNKNOWN_KIND, STOP_READING, EXPECT_REFUSAL, BAD_HANDSHAKE,
            MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"normal",       "malformed-frame", "bad-opus",       "text-message",
                                                   "unknown-kind", "stop-reading",    "expect-refusal", "bad-handshake"};
enum malformation { RESERVED_OPCODE, RSV1_SET, UNMASKED, MALFORMATION_COUNT };
static const char *const malformation_names[MALFORMATION_COUNT] = {"opcode", "rsv1", "unmasked"};

struct options {
    const char *host, *port;
    enum mode mode;
    enum malformation malformation;
    int frames, expect_audio_frames; /* expect_audio_frames: -1 when not given */
    bool realtime;
    double timeout_s;
};

/* Connects, upgrades and, unless the refusal is what is awaited, waits for the 0x00 message. */
static void open_conversation(struct connection *c, const struct options *o, double until)
{
    *c = (struct connection){.fd = connect_socket(o->host, o->port, o->mode == STOP_READING ? 4096 : 0, until)};
    websocket_upgrade(c, o->host, o->port, "/api/chat", until);
    if (o->mode == EXPECT_REFUSAL)
        return;
    double upgraded = now_ms();
    enum event e = wait_event(c, until);
    if (e == EVENT_NONE)
        fail("timeout: no handshake message within %g s", o->timeout_s);
    if (e == EVENT_EOF)
        fail("the server closed the connection before its handshake message");
    if (e == EVENT_CLOSE) {
        print_close("closed", c);
        fail("the server closed the connection before its handshake message");
    }
    if (c->message_opcode != OP_BINARY || !c->message.size || c->message.data[0] != KIND_HANDSHAKE)
        fail("the server's first message is not the 0x00 handshake (%s, %zu bytes, first 0x%02x)",
             c->message_opcode == OP_TEXT ? "text" : "binary", c->message.size,
             c->message.size ? c->message.data[0] : 0);
    printf("handshake %.1f ms\n", now_ms() - upgraded);
}

static int run_normal(const struct options *o, double until)
{
    struct connection c;
    open_conversation(&c, o, until);
    struct ogg_opus_writer *writer = ogg_opus_writer_new(SAMPLE_RATE);
    struct reception r = {.reader = ogg_opus_reader_new(SAMPLE_RATE), .start = now_ms()};
    struct byte_buffer pages = {0};
    if (!writer || !r.reader)
        fail("out of memory");
    long wanted = (long)o->expect_audio_frames * FRAME;
    int sent = 0;
    while (r.samples < wanted) {
        enum event e = take_event(&c);
        if (e == EVENT_MESSAGE) {
            take_server_message(&c, &r);
            continue;
        }
        if (e == EVENT_CLOSE) {
            print_close("closed", &c);
            fail("the server closed the connection after %ld of %ld samples", r.samples, wanted);
        }
        if (c.eof)
            fail("the server dropped the connection after %ld of %ld samples", r.samples, wanted);
        double now = now_ms(), next_send = o->realtime ? r.start + sent * FRAME_MS : now;
        if (now >= until)
            fail("timeout: %ld of %ld samples within %g s", r.samples, wanted, o->timeout_s);
        bool may_send = sent < o->frames && pending_bytes(&c) < SEND_QUEUE_LIMIT;
        if (may_send && now >= next_send) {
            pages.size = 0;
            encode_frame(writer, sent++, &pages);
            queue_message(&c, KIND_AUDIO, pages.data, pages.size);
            continue;
        }
        pump(&c, may_send && next_send < until ? next_send : until, true);
    }
    queue_close(&c, 1000);
    double close_until = now_ms() + o->timeout_s * 1000;
    enum event e;
    while ((e = wait_event(&c, close_until)) == EVENT_MESSAGE)
        take_server_message(&c, &r);
    if (e == EVENT_EOF)
        fail("the server dropped the connection without answering the close");
    if (e == EVENT_NONE)
        fail("timeout: no close from the server within %g s of the client's", o->timeout_s);
    print_close("closed", &c);
    printf("done: %d frames sent, %d audio frames (%ld samples) received, %d text messages, "
           "p50 %.1f ms p99 %.1f ms between frames\n",
           sent, r.audio_messages, r.samples, r.text_messages, gap_quantile(&r, 0.5), gap_quantile(&r, 0.99));
    hang_up(&c);
    byte_buffer_free(&pages);
    free(r.arrivals);
    ogg_opus_reader_free(r.reader);
    ogg_opus_writer_free(writer);
    return 0;
}

/* Waits for the server to close; wanted_status 0 takes any close frame, or the connection dropped. */
static int expect_close(struct connection *c, int wanted_status, double until, double timeout_s)
{
    enum event e;
    while ((e = wait_event(c, until)) == EVENT_MESSAGE)
        ;
    if (e == EVENT_NONE)
        fail("timeout: the server kept the connection open for %g s", timeout_s);
    if (e == EVENT_EOF && wanted_status)
        fail("the server dropped the connection; expected a close with status %d", wanted_status);
    if (e == EVENT_EOF)
        puts("closed: eof");
    else
        print_close("closed", c);
    if (wanted_status && c->close_status != wanted_status)
        fail("expected close status %d, got %d", wanted_status, c->close_status);
    if (wanted_status && !c->close_reason_size)
        fail("the close with status %d has no reason", wanted_status);
    hang_up(c);
    return 0;
}

static int run_misbehaving(const struct options *o, double until)
{
    struct connection c;
    struct byte_buffer stream = {0};
    open_conversation(&c, o, until);
    int wanted_status = 1003;
    if (o->mode == MALFORMED_FRAME) {
        /* a valid first audio message: only its framing is wrong */
        struct ogg_opus_writer *writer = ogg_opus_writer_new(SAMPLE_RATE);
        uint8_t kind = KIND_AUDIO;
        if (!writer)
            fail("out of memory");
        buffer_append(&stream, &kind, 1);
        encode_frame(writer, 0, &stream);
        ogg_opus_writer_free(writer);
        static const uint8_t first_bytes[MALFORMATION_COUNT] = {FIN | 0x3, FIN | RSV1 | OP_BINARY, FIN | OP_BINARY};
        queue_frame(&c, first_bytes[o->malformation], stream.data, stream.size, o->malformation != UNMASKED);
        wanted_status = 0;
    } else if (o->mode == BAD_OPUS) {
        bad_opus_stream(&stream);
        queue_message(&c, KIND_AUDIO, stream.data, stream.size);
        wanted_status = 1007;
    } else if (o->mode == TEXT_MESSAGE) {
        queue_frame(&c, FIN | OP_TEXT, (const uint8_t *)"hello", 5, true);
    } else {
        queue_message(&c, KIND_UNKNOWN, (const uint8_t *)"hello", 5);
    }
    byte_buffer_free(&stream);
    return expect_close(&c, wanted_status, until, o->timeout_s);
}

static int run_stop_reading(const struct options *o, double until)
{
    struct connection c;
    open_conversation(&c, o, until);
    struct ogg_opus_writer *writer = ogg_opus_writer_new(SAMPLE_RATE);
    struct byte_buffer pages = {0};
    if (!writer)
        fail("out of memory");
    for (int i = 0; i < o->frames; i++) {
        pages.size = 0;
        encode_frame(writer, i, &pages);
        queue_message(&c, KIND_AUDIO, pages.data, pages.size);
    }
    size_t total = pending_bytes(&c), before = c.bytes_written;
    while (pending_bytes(&c) && !c.write_failed && now_ms() < until)
        pump(&c, until, false);
    printf("stop-reading: %zu of %zu bytes of %d frames written%s; holding the connection\n",
           c.bytes_written - before, total, o->frames, c.write_failed ? " (then the server refused more)" : "");
    for (double left; (left = until - now_ms()) > 0;)
        poll(NULL, 0, (int)ceil(left));
    close(c.fd);
    byte_buffer_free(&pages);
    ogg_opus_writer_free(writer);
    return 0;
}

static int run_expect_refusal(const struct options *o, double until)
{
    struct connection c;
    open_conversation(&c, o, until);
    enum event e = wait_event(&c, until);
    if (e == EVENT_NONE)
        fail("timeout: no refusal within %g s", o->timeout_s);
    if (e == EVENT_EOF)
        fail("the server dropped the connection instead of closing it with status 1013");
    if (e == EVENT_MESSAGE && c.message_opcode == OP_BINARY && c.message.size && c.message.data[0] == KIND_HANDSHAKE)
        fail("a 0x00 handshake came instead of the refusal");
    if (e == EVENT_MESSAGE)
        fail("a message came instead of the refusal");
    print_close("refused", &c);
    if (c.close_status != 1013)
        fail("expected close status 1013, got %d", c.close_status);
    if (!c.close_reason_size)
        fail("the refusal has no reason");
    hang_up(&c);
    return 0;
}

/* ---- the self-test: websocket.c's, then the bad-Opus stream's ---- */

static void ignore_pcm(void *context, const float *pcm, int count)
{
    (void)context, (void)pcm, (void)count;
}

/* The bad stream's pages pass libogg's checksum, its packet fails libopus, and ogg_opus_reader
   refuses it while it takes the same stream made of good frames. */
static bool check_bad_opus(void)
{
    struct byte_buffer bad = {0}, good = {0};
    bad_opus_stream(&bad);
    ogg_sync_state sync;
    ogg_sync_init(&sync);
    memcpy(ogg_sync_buffer(&sync, (long)bad.size), bad.data, bad.size);
    ogg_sync_wrote(&sync, (long)bad.size);
    ogg_page page;
    int pages = 0, result;
    while ((result = ogg_sync_pageout(&sync, &page)) == 1)
        pages++;
    ogg_sync_clear(&sync);
    bool ok = self_test_check(pages == 3 && result == 0, "bad-opus stream: 3 pages with right checksums");

    int error;
    OpusDecoder *decoder = opus_decoder_create(SAMPLE_RATE, 1, &error);
    float pcm[OGG_OPUS_MAX_PACKET_SAMPLES];
    ok &= self_test_check(decoder && opus_decode_float(decoder, undecodable_packet, sizeof undecodable_packet, pcm,
                                                       OGG_OPUS_MAX_PACKET_SAMPLES, 0) == OPUS_INVALID_PACKET,
                          "bad-opus packet: libopus says OPUS_INVALID_PACKET");
    opus_decoder_destroy(decoder);

    struct ogg_opus_writer *writer = ogg_opus_writer_new(SAMPLE_RATE);
    for (int i = 0; writer && i < 3; i++)
        encode_frame(writer, i, &good);
    struct ogg_opus_reader *good_reader = ogg_opus_reader_new(SAMPLE_RATE);
    struct ogg_opus_reader *bad_reader = ogg_opus_reader_new(SAMPLE_RATE);
    char err[256] = "";
    ok &= self_test_check(
        good_reader && !ogg_opus_read_feed(good_reader, good.data, good.size, ignore_pcm, NULL, err, sizeof err),
        "ogg_opus_reader takes 3 good frames");
    ok &= self_test_check(
        bad_reader && ogg_opus_read_feed(bad_reader, bad.data, bad.size, ignore_pcm, NULL, err, sizeof err),
        "ogg_opus_reader refuses the bad-opus stream");
    printf("self-test: (its message: %s)\n", err);
    ogg_opus_reader_free(good_reader);
    ogg_opus_reader_free(bad_reader);
    ogg_opus_writer_free(writer);
    byte_buffer_free(&bad);
    byte_buffer_free(&good);
    return ok;
}

static int self_test(void)
{
    bool ok = websocket_self_test();
    ok &= check_bad_opus();
    puts(ok ? "self-test: ok" : "self-test: FAILED");
    return ok ? 0 : 1;
}

/* ---- the command line ---- */

static int name_index(const char *name, const char *const *names, int count, const char *option)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(name, names[i]))
            return i;
    fail("%s %s: not one of the choices (see the header of tests/serve/chat_client.c)", option, name);
}

static int count_argument(const char *text, const char *option)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (*end || end == text || value < 0 || value > 1000000)
        fail("%s %s: not a count", option, text);
    return (int)value;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.host = "127.0.0.1", .frames = 25, .expect_audio_frames = -1, .timeout_s = 60};
    for (int i = 1; i < argc; i++) {
        const char *option = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(option, "--realtime")) {
            o->realtime = true;
            continue;
        }
        if (!value)
            fail("%s: unknown, or missing its value", option);
        i++;
        if (!strcmp(option, "--host"))
            o->host = value;
        else if (!strcmp(option, "--port"))
            o->port = value;
        else if (!strcmp(option, "--frames"))
            o->frames = count_argument(value, option);
        else if (!strcmp(option, "--expect-audio-frames"))
            o->expect_audio_frames = count_argument(value, option);
        else if (!strcmp(option, "--mode"))
            o->mode = name_index(value, mode_names, MODE_COUNT, option);
        else if (!strcmp(option, "--malformed"))
            o->malformation = name_index(value, malformation_names, MALFORMATION_COUNT, option);
        else if (!strcmp(option, "--timeout"))
            o->timeout_s = atof(value);
        else
            fail("%s: unknown option", option);
    }
    if (!o->port)
        fail("--port is required");
    if (o->mode == NORMAL && o->expect_audio_frames < 0)
        fail("--expect-audio-frames is required in normal mode");
    if (!(o->timeout_s > 0))
        fail("--timeout must be a positive number of seconds");
}

/* One connection that must not become a WebSocket: request[n] sent, then its answer's status line (or EOF)
   read; exits 1 on a 101 */
static void expect_rejection(const struct options *o, const char *request, size_t n, double until)
{
    struct connection c = {.fd = connect_socket(o->host, o->port, 0, until)};
    buffer_append(&c.out, request, n);
    for (;;) {
        const char *eol = c.in.size ? memchr(c.in.data, '\n', c.in.size) : NULL;
        int status = 0;
        if (eol && sscanf((const char *)c.in.data, "HTTP/1.%*d %d", &status) == 1 && status != 101) {
            printf("rejected: HTTP %d\n", status);
            break;
        }
        if (eol)
            fail("the server answered \"%.*s\"", (int)(eol - (const char *)c.in.data), (const char *)c.in.data);
        if (c.eof) {
            printf("rejected: eof\n");
            break;
        }
        if (now_ms() >= until)
            fail("timeout: the server kept the connection open without answering");
        pump(&c, until, true);
    }
    close(c.fd);
    free(c.in.data), free(c.out.data);
}

static int run_bad_handshake(const struct options *o, double until)
{
    char request[512];
    int n = snprintf(request, sizeof request, "GET /elsewhere HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n", o->host, o->port);
    expect_rejection(o, request, (size_t)n, until);
    static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP at all\r\n\r\n";
    expect_rejection(o, garbage, sizeof garbage - 1, until);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && !strcmp(argv[1], "--self-test"))
        return self_test();
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ignore, NULL); /* a write to a closed socket fails with EPIPE instead */
    struct options o;
    parse_options(argc, argv, &o);
    double until = now_ms() + o.timeout_s * 1000;
    switch (o.mode) {
    case NORMAL: return run_normal(&o, until);
    case STOP_READING: return run_stop_reading(&o, until);
    case EXPECT_REFUSAL: return run_expect_refusal(&o, until);
    case BAD_HANDSHAKE: return run_bad_handshake(&o, until);
    default: return run_misbehaving(&o, until);
    }
}
