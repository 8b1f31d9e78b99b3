/* websocket.h: the client side of RFC 6455 for the test clients of tests/serve (websocket.c), over plain
 * POSIX sockets, able to send what no well-behaved client would (any first byte, unmasked frames).
 *
 * A connection is a non-blocking socket with a queue of bytes to write and the bytes read; nothing
 * moves until pump() (or wait_event(), hang_up()) is called. The server's frames are taken as events:
 * a whole data message, reassembled from its fragments, or the server's close; pings are answered with
 * pongs and a close with a close, by queueing them. Any violation of the protocol by the server ends
 * the program through fail().
 *
 *   struct connection c = {.fd = connect_socket("127.0.0.1", "8998", 0, until)};
 *   websocket_upgrade(&c, "127.0.0.1", "8998", "/api/chat", until);
 *   queue_frame(&c, FIN | OP_BINARY, bytes, n, true);
 *   if (wait_event(&c, until) == EVENT_MESSAGE) ... c.message_opcode, c.message.data[0 .. c.message.size) ...
 *   queue_close(&c, 1000);
 *   while (wait_event(&c, until) == EVENT_MESSAGE) ;
 *   hang_up(&c);
 *
 * Times are milliseconds on now_ms()'s clock; `until` is a deadline on it. */
#ifndef KILN_TESTS_WEBSOCKET_H
#define KILN_TESTS_WEBSOCKET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ogg_opus.h" /* struct byte_buffer, byte_buffer_free */

/* The longest data message the server may send: a kind byte of Moshi's protocol and the most
   ogg_opus_read_feed takes */
#define MAX_MESSAGE (OGG_OPUS_MAX_PIECE + 1)

enum opcode { OP_CONTINUATION = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa };
#define FIN 0x80
#define RSV1 0x40

/* Prints "error: " and the message on stdout and exits 1. */
_Noreturn void fail(const char *format, ...);
/* Milliseconds on the monotonic clock */
double now_ms(void);
/* Appends data[n] to b, growing it (fail() when out of memory) */
void buffer_append(struct byte_buffer *b, const void *data, size_t n);
/* Whether s[n] is UTF-8: no overlong forms, surrogates or code points above U+10FFFF */
bool valid_utf8(const uint8_t *s, size_t n);

/* ---- the connection ---- */

struct connection {
    int fd;
    struct byte_buffer out; /* queued bytes; out.data[out_sent..out.size) not yet written */
    size_t out_sent, bytes_written;
    bool write_failed;      /* the server refused more (EPIPE, reset): queued output is dropped */
    struct byte_buffer in;  /* bytes read and not yet taken as frames */
    bool eof;               /* the server closed (or reset) its side */
    struct byte_buffer message; /* the data message being assembled from its fragments */
    int message_opcode;     /* OP_TEXT or OP_BINARY while a message is open or ready, else 0 */
    bool message_ready;
    bool close_sent;
    int close_status;       /* of the server's close frame (1005: it held none) */
    uint8_t close_reason[124];
    size_t close_reason_size;
};

enum event { EVENT_NONE, EVENT_MESSAGE, EVENT_CLOSE, EVENT_EOF };

/* A non-blocking TCP socket (TCP_NODELAY) connected to host:port by `until`; receive_buffer, when not 0,
   its SO_RCVBUF. fail() when no address takes the connection. */
int connect_socket(const char *host, const char *port, int receive_buffer, double until);
/* Sends the upgrade request for `path` and checks the server's 101; bytes after its headers stay in
   c->in as the first frames. */
void websocket_upgrade(struct connection *c, const char *host, const char *port, const char *path, double until);

/* Bytes queued and not yet written */
size_t pending_bytes(const struct connection *c);
/* Queues one frame; first_byte is FIN, RSV and opcode as sent (a test may set what it should not). */
void queue_frame(struct connection *c, uint8_t first_byte, const uint8_t *payload, size_t n, bool masked);
/* Queues a close frame with `status` */
void queue_close(struct connection *c, int status);

/* The next event among the bytes already read: a whole data message (in c->message, until the next
   call), the server's close, or EVENT_NONE when no frame is complete. */
enum event take_event(struct connection *c);
/* Waits until the socket can move bytes or `until` passes, then writes what it can of the queue and,
   when reading, reads what has come. */
void pump(struct connection *c, double until, bool reading);
/* The next event, reading until one comes (EVENT_EOF: the server dropped the connection) or `until`
   passes (EVENT_NONE). */
enum event wait_event(struct connection *c, double until);
/* Writes what is queued (a close's answer), for at most a second, and closes the socket. */
void hang_up(struct connection *c);

/* ---- the self-test ---- */

/* Prints "self-test: ok   what" or "self-test: FAIL what"; returns ok. */
bool self_test_check(bool ok, const char *what);
/* SHA-1, base64, the Sec-WebSocket-Accept of RFC 6455's example, UTF-8, frame lengths, fragments and
   masking, each reported through self_test_check; whether all passed. */
bool websocket_self_test(void);
#endif
