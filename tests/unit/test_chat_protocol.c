/* test_chat_protocol.c: chat_receive's exact results: an audio message whole, byte by byte, split
 * after its kind byte and ended by an empty piece (the payload's bytes, an empty payload); the kinds
 * serve ignores; the closes with their status and reason (a text message, an unknown kind, an empty
 * message, a message over CHAT_MAX_MESSAGE at exactly the piece that passes it); reasons cut to
 * the buffer and never over CHAT_MAX_REASON; messages in a row that do not mix. */
#include "chat_protocol.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static const char *text_reason = "text messages are not part of the protocol: binary messages, kind byte first";

/* What one call returned */
struct result {
    enum chat_event event;
    const uint8_t *payload;
    size_t payload_size;
    int status;
    char reason[CHAT_MAX_REASON + 1]; /* as serve.c's close_reason */
};

static struct result receive(struct chat_assembler *a, const void *piece, size_t n, bool final, bool binary)
{
    struct result r = {.status = -1};
    memset(r.reason, 'x', sizeof r.reason - 1);
    r.event = chat_receive(a, piece, n, final, binary, &r.payload, &r.payload_size, &r.status, r.reason,
                           sizeof r.reason);
    return r;
}

/* A whole message, one piece */
static struct result message(struct chat_assembler *a, const void *bytes, size_t n)
{
    return receive(a, bytes, n, true, true);
}

static bool is_audio(struct result r, const void *payload, size_t n)
{
    return r.event == CHAT_AUDIO_MESSAGE && r.payload_size == n && (n == 0 || memcmp(r.payload, payload, n) == 0);
}

static bool is_close(struct result r, int status, const char *reason)
{
    return r.event == CHAT_CLOSE && r.status == status && strcmp(r.reason, reason) == 0;
}

static void test_audio(void)
{
    static const uint8_t msg[] = {CHAT_AUDIO, 'O', 'g', 'g', 'S', 0, 2, 0xff};
    struct chat_assembler a = {0};
    struct result r = message(&a, msg, sizeof msg);
    CHECK(is_audio(r, msg + 1, sizeof msg - 1), "one piece: event %d, %zu bytes", r.event, r.payload_size);
    CHECK(r.payload == a.data + 1 && a.size == 0, "the payload is the assembler's, which is empty again");

    bool more = true;
    for (size_t i = 0; i + 1 < sizeof msg; i++)
        more &= receive(&a, msg + i, 1, false, true).event == CHAT_MORE;
    r = receive(&a, msg + sizeof msg - 1, 1, true, true);
    CHECK(more && is_audio(r, msg + 1, sizeof msg - 1), "a byte a piece: event %d, %zu bytes", r.event,
          r.payload_size);

    CHECK(receive(&a, msg, 1, false, true).event == CHAT_MORE, "the kind byte alone is not a message");
    r = receive(&a, msg + 1, sizeof msg - 1, true, true);
    CHECK(is_audio(r, msg + 1, sizeof msg - 1), "split after the kind byte: event %d, %zu bytes", r.event,
          r.payload_size);

    receive(&a, msg, 3, false, true);
    receive(&a, NULL, 0, false, true);
    receive(&a, msg + 3, sizeof msg - 3, false, true);
    r = receive(&a, NULL, 0, true, true);
    CHECK(is_audio(r, msg + 1, sizeof msg - 1), "ended by an empty final piece: event %d, %zu bytes", r.event,
          r.payload_size);

    r = message(&a, msg, 1);
    CHECK(is_audio(r, NULL, 0) && r.payload == a.data + 1, "the kind byte alone: an empty payload (event %d, %zu)",
          r.event, r.payload_size);
    receive(&a, msg, 1, false, true);
    r = receive(&a, NULL, 0, true, true);
    CHECK(is_audio(r, NULL, 0), "the kind byte, then an empty final piece: event %d", r.event);
    chat_assembler_free(&a);
    CHECK(!a.data && a.size == 0 && a.capacity == 0, "freed");
}

static void test_ignored(void)
{
    struct chat_assembler a = {0};
    for (int kind = 0; kind <= CHAT_LAST_KNOWN_KIND; kind++) {
        if (kind == CHAT_AUDIO)
            continue;
        const uint8_t msg[] = {(uint8_t)kind, 'h', 'i'};
        struct result r = message(&a, msg, sizeof msg), alone = message(&a, msg, 1);
        CHECK(r.event == CHAT_IGNORED && r.status == -1 && alone.event == CHAT_IGNORED,
              "kind %d: events %d and %d alone", kind, r.event, alone.event);
        receive(&a, msg, 1, false, true);
        r = receive(&a, msg + 1, 2, true, true);
        CHECK(r.event == CHAT_IGNORED, "kind %d in two pieces: event %d", kind, r.event);
    }
    chat_assembler_free(&a);
}

static void test_closes(void)
{
    struct chat_assembler a = {0};
    static const uint8_t audio[] = {CHAT_AUDIO, 1, 2, 3}, unknown[] = {0x7f, 'x'}, high[] = {0xff};
    struct result r = receive(&a, audio, sizeof audio, true, false);
    CHECK(is_close(r, CHAT_CLOSE_UNSUPPORTED, text_reason), "a text message: %d '%s'", r.status, r.reason);
    receive(&a, audio, 2, false, false);
    r = receive(&a, audio + 2, 2, true, false);
    CHECK(is_close(r, CHAT_CLOSE_UNSUPPORTED, text_reason) && a.size == 0, "a text message in pieces: %d '%s'",
          r.status, r.reason);
    r = receive(&a, NULL, 0, true, false);
    CHECK(is_close(r, CHAT_CLOSE_UNSUPPORTED, text_reason), "an empty text message: %d '%s'", r.status, r.reason);

    r = message(&a, unknown, sizeof unknown);
    CHECK(is_close(r, CHAT_CLOSE_UNSUPPORTED, "unknown message kind 127"), "kind 0x7f: %d '%s'", r.status, r.reason);
    r = message(&a, unknown, 1);
    CHECK(is_close(r, CHAT_CLOSE_UNSUPPORTED, "unknown message kind 127"), "kind 0x7f alone: %d '%s'", r.status,
          r.reason);
    r = message(&a, high, 1);
    CHECK(is_close(r, CHAT_CLOSE_UNSUPPORTED, "unknown message kind 255"), "kind 0xff: %d '%s'", r.status, r.reason);
    r = message(&a, (const uint8_t[]){CHAT_LAST_KNOWN_KIND + 1}, 1);
    CHECK(is_close(r, CHAT_CLOSE_UNSUPPORTED, "unknown message kind 7"), "kind 7: %d '%s'", r.status, r.reason);

    r = message(&a, NULL, 0);
    CHECK(is_close(r, CHAT_CLOSE_INVALID, "an empty message: no kind byte"), "an empty message: %d '%s'", r.status,
          r.reason);
    receive(&a, NULL, 0, false, true);
    r = receive(&a, NULL, 0, true, true);
    CHECK(is_close(r, CHAT_CLOSE_INVALID, "an empty message: no kind byte"), "empty pieces: %d '%s'", r.status,
          r.reason);
    chat_assembler_free(&a);
}

/* CHAT_MAX_MESSAGE bytes make a message; one more closes with 1009 at the piece that passes it, which
   is dropped, and the assembler is empty again. serve drops the connection after any close, so what
   follows a 1009 is never fed there; what is tested here is that the assembler is left consistent
   (empty, no more than CHAT_MAX_MESSAGE bytes held, reusable): the next piece starts a new message.
   (The rest of the oversized message, were it fed, would be read as new messages.) */
static void test_too_big(void)
{
    enum { PIECE = 64 * 1024 };
    uint8_t *bytes = malloc(CHAT_MAX_MESSAGE + 1); /* (any piece of it may be fed) */
    if (!bytes) {
        perror("malloc");
        exit(2);
    }
    for (size_t i = 0; i < CHAT_MAX_MESSAGE + 1; i++)
        bytes[i] = (uint8_t)(i * 7 + 1);
    bytes[0] = CHAT_AUDIO;
    struct chat_assembler a = {0};
    bool more = true;
    for (int i = 0; i < CHAT_MAX_MESSAGE / PIECE - 1; i++)
        more &= receive(&a, bytes, PIECE, false, true).event == CHAT_MORE;
    struct result r = receive(&a, bytes, PIECE, true, true);
    CHECK(more && r.event == CHAT_AUDIO_MESSAGE && r.payload_size == CHAT_MAX_MESSAGE - 1 &&
              memcmp(r.payload + CHAT_MAX_MESSAGE - PIECE - 1, bytes, PIECE) == 0,
          "exactly CHAT_MAX_MESSAGE bytes: event %d, %zu bytes", r.event, r.payload_size);

    for (int i = 0; i < CHAT_MAX_MESSAGE / PIECE; i++)
        more &= receive(&a, bytes, PIECE, false, true).event == CHAT_MORE;
    CHECK(more && a.size == CHAT_MAX_MESSAGE, "1 MiB held: %zu", a.size);
    r = receive(&a, bytes, 1, false, true);
    CHECK(is_close(r, CHAT_CLOSE_TOO_BIG, "a message over 1 MiB") && a.size == 0 && a.capacity <= CHAT_MAX_MESSAGE,
          "a byte over: %d '%s', %zu bytes held of %zu", r.status, r.reason, a.size, a.capacity);

    for (int i = 0; i < CHAT_MAX_MESSAGE / PIECE / 2; i++)
        receive(&a, bytes, PIECE, false, true);
    r = receive(&a, bytes, CHAT_MAX_MESSAGE / 2 + 1, true, true);
    CHECK(is_close(r, CHAT_CLOSE_TOO_BIG, "a message over 1 MiB") && a.size == 0,
          "a final piece over: %d '%s'", r.status, r.reason);
    r = receive(&a, bytes, SIZE_MAX, true, true);
    CHECK(is_close(r, CHAT_CLOSE_TOO_BIG, "a message over 1 MiB"), "a piece of SIZE_MAX bytes: %d", r.status);

    const uint8_t next[] = {CHAT_AUDIO, 'n'};
    r = message(&a, next, sizeof next);
    CHECK(is_audio(r, next + 1, 1), "the next message after a 1009: event %d, %zu bytes", r.event, r.payload_size);
    chat_assembler_free(&a);
    free(bytes);
}

/* The reason is cut to the buffer, and never takes more than CHAT_MAX_REASON bytes and its NUL (every
   reason chat_receive gives is shorter, 77 bytes at most, so the cap itself is not seen here: what is
   checked is that nothing past the reason's NUL is written, whatever the buffer). */
static void test_reason_sizes(void)
{
    struct chat_assembler a = {0};
    char reason[256];
    const uint8_t *payload = NULL;
    size_t payload_size = 0;
    int status = 0;
    static const size_t sizes[] = {1, 2, 8, 24, CHAT_MAX_REASON + 1, sizeof reason};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        memset(reason, 'x', sizeof reason);
        enum chat_event e = chat_receive(&a, NULL, 0, true, false, &payload, &payload_size, &status, reason, sizes[i]);
        const size_t n = strnlen(reason, sizeof reason);
        bool untouched = true;
        for (size_t j = n + 1; j < sizeof reason; j++)
            untouched &= reason[j] == 'x';
        const size_t expected = sizes[i] - 1 < strlen(text_reason) ? sizes[i] - 1 : strlen(text_reason);
        CHECK(e == CHAT_CLOSE && n == expected && n <= CHAT_MAX_REASON && untouched &&
                  strncmp(reason, text_reason, n) == 0,
              "a buffer of %zu: '%s' (%zu)", sizes[i], reason, n);
    }
    memset(reason, 'x', sizeof reason);
    chat_receive(&a, (const uint8_t[]){0x80}, 1, true, true, &payload, &payload_size, &status, reason, 8);
    CHECK(strcmp(reason, "unknown") == 0 && reason[8] == 'x', "kind 0x80 in 8 bytes: '%s'", reason);
    status = 0;
    reason[0] = 'x';
    CHECK(chat_receive(&a, NULL, 0, true, true, &payload, &payload_size, &status, reason, 0) == CHAT_CLOSE &&
              status == CHAT_CLOSE_INVALID && reason[0] == 'x',
          "no room for a reason: %d, '%c'", status, reason[0]);
    chat_assembler_free(&a);
}

static void test_in_a_row(void)
{
    struct chat_assembler a = {0};
    const uint8_t first[] = {CHAT_AUDIO, 'a', 'a', 'a', 'a', 'a'}, second[] = {CHAT_AUDIO, 'b'},
                  ignored[] = {3, 'c', 'c', 'c'}, third[] = {CHAT_AUDIO, 'd', 'd'};
    receive(&a, first, 2, false, true);
    struct result r = receive(&a, first + 2, sizeof first - 2, true, true);
    CHECK(is_audio(r, first + 1, sizeof first - 1), "first: %zu bytes", r.payload_size);
    r = message(&a, second, sizeof second);
    CHECK(is_audio(r, second + 1, 1), "second after a longer one: %zu bytes", r.payload_size);
    r = message(&a, ignored, sizeof ignored);
    CHECK(r.event == CHAT_IGNORED, "ignored: event %d", r.event);
    receive(&a, third, 1, false, true);
    r = receive(&a, third + 1, 2, true, true);
    CHECK(is_audio(r, third + 1, 2), "third after an ignored one: %zu bytes", r.payload_size);
    r = message(&a, second, 1);
    CHECK(is_audio(r, NULL, 0), "an empty payload after a longer one: %zu bytes", r.payload_size);
    chat_assembler_free(&a);
}

int main(void)
{
    test_audio();
    test_ignored();
    test_closes();
    test_too_big();
    test_reason_sizes();
    test_in_a_row();
    return check_finish();
}
