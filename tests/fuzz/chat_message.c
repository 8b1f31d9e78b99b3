/* chat_message.c: fuzzes serve's reading of a client's messages (runtime/cli/chat_protocol.c, then
 * runtime/cli/ogg_opus.c) as serve.c's LWS_CALLBACK_RECEIVE does it: the input is the pieces
 * libwebsockets hands over, each fed to chat_receive of one assembler; the payload of every audio
 * message goes to one ogg_opus_reader at 24 kHz. After a CHAT_CLOSE or a reader error nothing more
 * is fed (serve closes the conversation). Each piece is a header byte, then its bytes:
 *   bit 7: final (the piece ends the message)   bit 6: binary (the frame's opcode)
 *   bits 0 to 5, L:  0..60: the next L bytes
 *                    61: a 16-bit little-endian length, then that many bytes
 *                    62: a byte e, then one byte: 2^(e mod 22) copies of it (1 byte to 2 MiB, so
 *                        that small inputs reach CHAT_MAX_MESSAGE; sizes spread by their exponent,
 *                        since a run's time goes with the bytes it feeds)
 *                    63: the rest of the input
 * A piece cut short by the end of the input is fed as it is. Besides chat_protocol.h's promises (at
 * most CHAT_MAX_MESSAGE bytes held, a close status of enum chat_close with a non-empty reason of at
 * most CHAT_MAX_REASON bytes, a payload inside the assembler), every event must be the one a copy of
 * the message kept here says (its size, kind byte, payload), and every decoded packet must hold at
 * most OGG_OPUS_MAX_PACKET_SAMPLES finite samples. Page checksums are left as they are: the reader's
 * depths are tests/fuzz/ogg_opus.c's. */
#include <math.h>
#include "chat_protocol.h"
#include "fuzz.h"
#include "ogg_opus.h"

#define REPEAT_MAX ((size_t)1 << 21)
#define REASON_ROOM 256 /* more than CHAT_MAX_REASON + 1: what lies past that must stay untouched */

/* Kept from one input to the next (never freed, always reachable): a megabyte of fresh pages costs
   more than the rest of a run. A repeated piece ends where the buffer ends, so that ASan sees any
   read past it. */
static uint8_t *repeated_buffer(void)
{
    static uint8_t *buffer;
    if (!buffer)
        buffer = malloc(REPEAT_MAX);
    FUZZ_CHECK(buffer);
    return buffer;
}

/* The message so far, as the harness sees it: its bytes (CHAT_MAX_MESSAGE at most) */
struct copy {
    uint8_t *bytes;
    size_t size;
};

static struct copy copy_new(void)
{
    static uint8_t *bytes;
    if (!bytes)
        bytes = malloc(CHAT_MAX_MESSAGE);
    FUZZ_CHECK(bytes);
    return (struct copy){bytes, 0};
}

static void check_pcm(void *context, const float *pcm, int count)
{
    FUZZ_CHECK(count >= 0 && count <= OGG_OPUS_MAX_PACKET_SAMPLES);
    for (int i = 0; i < count; i++)
        FUZZ_CHECK(isfinite(pcm[i]));
    *(long long *)context += count;
}

/* Checks a close: its status, its reason, and that it is the one expected. */
static void check_close(int status, const char *reason, int expected)
{
    FUZZ_CHECK(status == CHAT_CLOSE_UNSUPPORTED || status == CHAT_CLOSE_INVALID || status == CHAT_CLOSE_POLICY ||
               status == CHAT_CLOSE_TOO_BIG || status == CHAT_CLOSE_BUSY);
    FUZZ_CHECK(status == expected);
    const char *end = memchr(reason, 0, CHAT_MAX_REASON + 1);
    FUZZ_CHECK(end && end > reason);
    for (size_t i = CHAT_MAX_REASON + 1; i < REASON_ROOM; i++)
        FUZZ_CHECK((uint8_t)reason[i] == 0xa5);
}

/* Checks what a final piece completed against the message's copy; returns whether the conversation
   goes on (the reader is fed the audio). */
static bool check_message(enum chat_event event, const struct chat_assembler *a, const struct copy *message,
                          bool binary, const uint8_t *payload, size_t payload_size, int status, const char *reason,
                          struct ogg_opus_reader *r, long long *samples)
{
    const int kind = message->size ? message->bytes[0] : -1;
    FUZZ_CHECK(event != CHAT_MORE && a->size == 0); /* (a final piece ends its message) */
    if (event == CHAT_IGNORED) {
        FUZZ_CHECK(binary && (kind == CHAT_HANDSHAKE || (kind > CHAT_AUDIO && kind <= CHAT_LAST_KNOWN_KIND)));
        return true;
    }
    if (event == CHAT_CLOSE) {
        check_close(status, reason,
                    !binary || kind > CHAT_LAST_KNOWN_KIND ? CHAT_CLOSE_UNSUPPORTED
                    : kind < 0                            ? CHAT_CLOSE_INVALID
                                                          : -1);
        return false;
    }
    FUZZ_CHECK(event == CHAT_AUDIO_MESSAGE && binary && kind == CHAT_AUDIO && payload_size == message->size - 1);
    const uint8_t *end = a->data + a->capacity;
    FUZZ_CHECK(payload > a->data && payload <= end && payload_size <= (size_t)(end - payload));
    FUZZ_CHECK(payload_size == 0 || memcmp(payload, message->bytes + 1, payload_size) == 0);
    char err[512] = "";
    if (ogg_opus_read_feed(r, payload, payload_size, check_pcm, samples, err, sizeof err)) {
        FUZZ_CHECK(err[0] >= 'a' && err[0] <= 'z');
        return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chat_assembler a = {0};
    struct ogg_opus_reader *r = ogg_opus_reader_new(24000);
    FUZZ_CHECK(r);
    struct copy message = copy_new();
    long long samples = 0;
    for (size_t at = 0; at < size;) {
        const uint8_t header = data[at++];
        const bool final = header & 0x80, binary = header & 0x40;
        const unsigned code = header & 0x3f;
        size_t n = code == 63 ? size - at : code;
        const uint8_t *piece = data + at;
        if (code == 61) {
            if (size - at < 2)
                break;
            n = (size_t)data[at] | (size_t)data[at + 1] << 8;
            piece = data + (at += 2);
        }
        if (code == 62) {
            if (size - at < 2)
                break;
            n = (size_t)1 << data[at] % 22;
            piece = memset(repeated_buffer() + REPEAT_MAX - n, data[at + 1], n);
            at += 2;
        } else {
            n = n < size - at ? n : size - at;
            at += n;
        }

        const uint8_t *payload = NULL;
        size_t payload_size = 0;
        int status = 0;
        char reason[REASON_ROOM];
        memset(reason, 0xa5, sizeof reason);
        const enum chat_event event =
            chat_receive(&a, piece, n, final, binary, &payload, &payload_size, &status, reason, sizeof reason);
        FUZZ_CHECK(a.size <= CHAT_MAX_MESSAGE && a.size <= a.capacity);
        if (message.size + n > CHAT_MAX_MESSAGE) {
            FUZZ_CHECK(event == CHAT_CLOSE);
            check_close(status, reason, CHAT_CLOSE_TOO_BIG);
            break;
        }
        if (n)
            memcpy(message.bytes + message.size, piece, n);
        message.size += n;
        if (!final) {
            FUZZ_CHECK(event == CHAT_MORE && a.size == message.size);
            continue;
        }
        if (!check_message(event, &a, &message, binary, payload, payload_size, status, reason, r, &samples))
            break;
        message.size = 0;
    }
    volatile long long keep = samples;
    (void)keep;
    ogg_opus_reader_free(r);
    chat_assembler_free(&a);
    return 0;
}
