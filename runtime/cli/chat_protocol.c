/* chat_protocol.c: see chat_protocol.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chat_protocol.h"

void chat_assembler_free(struct chat_assembler *a)
{
    free(a->data);
    *a = (struct chat_assembler){0};
}

static enum chat_event close_with(int *status, int code, char *reason, size_t size, const char *text)
{
    *status = code;
    snprintf(reason, size < CHAT_MAX_REASON + 1 ? size : CHAT_MAX_REASON + 1, "%s", text);
    return CHAT_CLOSE;
}

enum chat_event chat_receive(struct chat_assembler *a, const uint8_t *piece, size_t n, bool final, bool binary,
                             const uint8_t **payload, size_t *payload_size, int *status, char *reason,
                             size_t reason_size)
{
    if (n > CHAT_MAX_MESSAGE - a->size) {
        a->size = 0;
        return close_with(status, CHAT_CLOSE_TOO_BIG, reason, reason_size, "a message over 1 MiB");
    }
    if (a->size + n > a->capacity) {
        size_t capacity = a->capacity ? a->capacity : 4096;
        while (capacity < a->size + n)
            capacity *= 2;
        uint8_t *grown = realloc(a->data, capacity);
        if (!grown)
            return close_with(status, CHAT_CLOSE_TOO_BIG, reason, reason_size, "out of memory for a message");
        a->data = grown, a->capacity = capacity;
    }
    if (n)
        memcpy(a->data + a->size, piece, n);
    a->size += n;
    if (!final)
        return CHAT_MORE;
    const size_t size = a->size;
    a->size = 0; /* (the next piece starts the next message) */
    if (!binary)
        return close_with(status, CHAT_CLOSE_UNSUPPORTED, reason, reason_size,
                          "text messages are not part of the protocol: binary messages, kind byte first");
    if (size == 0)
        return close_with(status, CHAT_CLOSE_INVALID, reason, reason_size, "an empty message: no kind byte");
    const int kind = a->data[0];
    if (kind == CHAT_AUDIO) {
        *payload = a->data + 1;
        *payload_size = size - 1;
        return CHAT_AUDIO_MESSAGE;
    }
    if (kind <= CHAT_LAST_KNOWN_KIND)
        return CHAT_IGNORED;
    char text[64];
    snprintf(text, sizeof text, "unknown message kind %d", kind);
    return close_with(status, CHAT_CLOSE_UNSUPPORTED, reason, reason_size, text);
}
