/* chat_protocol.h: the messages of Moshi's WebSocket protocol (moshi.server, /api/chat) as serve
 * reads them (chat_protocol.c; docs/converse.md, "serve"): a message is assembled from the pieces
 * libwebsockets hands over (a frame may come in several, a message in several frames), then read:
 * its first byte is its kind, the rest its payload. From a client only audio (kind 1: Ogg Opus pages)
 * means something; the other kinds of Moshi's protocol are ignored, as its server does; an empty
 * message, a text message, an unknown kind or a message over CHAT_MAX_MESSAGE bytes closes the
 * conversation, with a WebSocket close status and a reason. No input can make it hold more than
 * CHAT_MAX_MESSAGE bytes. */
#ifndef KILN_CHAT_PROTOCOL_H
#define KILN_CHAT_PROTOCOL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum chat_kind {
    CHAT_HANDSHAKE = 0,              /* server -> client: the conversation is ready */
    CHAT_AUDIO = 1,                  /* both ways: Ogg Opus pages, 24 kHz mono */
    CHAT_TEXT = 2,                   /* server -> client: UTF-8 text */
    CHAT_LAST_KNOWN_KIND = 6,        /* 3..6: Moshi's control, metadata, error and ping: ignored */
};

/* WebSocket close statuses serve sends (RFC 6455 §7.4.1) */
enum chat_close {
    CHAT_CLOSE_UNSUPPORTED = 1003,   /* a text message, an unknown kind */
    CHAT_CLOSE_INVALID = 1007,       /* audio that is not Ogg Opus or does not decode; an empty message */
    CHAT_CLOSE_POLICY = 1008,        /* a client that stops reading */
    CHAT_CLOSE_TOO_BIG = 1009,       /* a message over CHAT_MAX_MESSAGE */
    CHAT_CLOSE_BUSY = 1013,          /* "try again later": --max-conversations reached */
};

#define CHAT_MAX_MESSAGE (1 << 20)
#define CHAT_MAX_REASON 123          /* bytes of a close reason (a close frame's payload is 125) */

/* One conversation's message being assembled */
struct chat_assembler {
    uint8_t *data;
    size_t size, capacity;
};
void chat_assembler_free(struct chat_assembler *a);

/* What a piece completed */
enum chat_event {
    CHAT_MORE,                       /* nothing yet */
    CHAT_IGNORED,                    /* a complete message of a kind a client may send and serve ignores */
    CHAT_AUDIO_MESSAGE,              /* a complete audio message: *payload, *payload_size (may be 0) */
    CHAT_CLOSE,                      /* close the conversation: *status and reason */
};

/* Takes the next piece of a message (final: it ends the message; binary: the message is binary, as
   libwebsockets says of its frames); returns what it completed. A payload points into the assembler,
   valid until the next call. reason gets CHAT_MAX_REASON bytes at most. */
enum chat_event chat_receive(struct chat_assembler *a, const uint8_t *piece, size_t n, bool final, bool binary,
                             const uint8_t **payload, size_t *payload_size, int *status, char *reason,
                             size_t reason_size);
#endif
