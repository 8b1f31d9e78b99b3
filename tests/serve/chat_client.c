/* chat_client: a test client for a system binary's `serve` (runtime/cli/serve.c), which speaks the
 * protocol of Kyutai's moshi.server. Its own WebSocket code (RFC 6455) over plain POSIX sockets, so that
 * it can also send what no well-behaved client would; Ogg Opus through runtime/cli/ogg_opus.h.
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
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "ogg_opus.h"

#define SAMPLE_RATE 24000
#define FRAME 1920 /* samples in one 80 ms frame */
#define FRAME_MS 80.0
#define MAX_MESSAGE (OGG_OPUS_MAX_PIECE + 1) /* a kind byte and the most the Opus reader takes */
#define SEND_QUEUE_LIMIT (64 * 1024)         /* queued bytes above which normal mode waits to send more */
#define WEBSOCKET_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum kind { KIND_HANDSHAKE = 0x00, KIND_AUDIO = 0x01, KIND_TEXT = 0x02, KIND_UNKNOWN = 0x7f };
enum opcode { OP_CONTINUATION = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa };
#define FIN 0x80
#define RSV1 0x40

_Noreturn static void fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("error: ", stdout);
    vprintf(format, args);
    putchar('\n');
    va_end(args);
    exit(1);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void random_bytes(uint8_t *out, size_t n)
{
    static FILE *urandom;
    if (!urandom && !(urandom = fopen("/dev/urandom", "rb")))
        fail("cannot open /dev/urandom: %s", strerror(errno));
    if (fread(out, 1, n, urandom) != n)
        fail("cannot read /dev/urandom");
}

static void buffer_append(struct byte_buffer *b, const void *data, size_t n)
{
    if (b->size + n > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->size + n)
            capacity *= 2;
        if (!(b->data = realloc(b->data, capacity)))
            fail("out of memory");
        b->capacity = capacity;
    }
    if (n)
        memcpy(b->data + b->size, data, n);
    b->size += n;
}

static void buffer_consume(struct byte_buffer *b, size_t n)
{
    memmove(b->data, b->data + n, b->size - n);
    b->size -= n;
}

/* ---- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept ---- */

static uint32_t rotate_left(uint32_t x, int n)
{
    return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const uint8_t *block)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 |
               block[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rotate_left(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = rotate_left(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rotate_left(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1(const uint8_t *data, size_t n, uint8_t digest[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t whole = n / 64 * 64;
    for (size_t i = 0; i < whole; i += 64)
        sha1_block(h, data + i);
    /* the rest, 0x80, zeros, and the length in bits (64-bit big-endian) end the last block or two */
    uint8_t tail[128] = {0};
    size_t rest = n - whole, tail_size = rest + 9 <= 64 ? 64 : 128;
    memcpy(tail, data + whole, rest);
    tail[rest] = 0x80;
    for (int i = 0; i < 8; i++)
        tail[tail_size - 1 - i] = (uint8_t)((uint64_t)n * 8 >> 8 * i);
    for (size_t i = 0; i < tail_size; i += 64)
        sha1_block(h, tail + i);
    for (int i = 0; i < 20; i++)
        digest[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* out holds 4 * ceil(n / 3) + 1 characters */
static void base64(const uint8_t *in, size_t n, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        *out++ = i + 2 < n ? alphabet[v & 63] : '=';
    }
    *out = 0;
}

static void websocket_accept(const char *key, char accept[29])
{
    char text[128];
    snprintf(text, sizeof text, "%s" WEBSOCKET_GUID, key);
    uint8_t digest[20];
    sha1((const uint8_t *)text, strlen(text), digest);
    base64(digest, sizeof digest, accept);
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    static const uint32_t smallest[5] = {0, 0, 0x80, 0x800, 0x10000}; /* by length: no overlong forms */
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t length = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (!length || i + length > n)
            return false;
        uint32_t code = length == 1 ? b : b & (0x7F >> length);
        for (size_t k = 1; k < length; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            code = code << 6 | (s[i + k] & 0x3F);
        }
        if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
            return false;
        i += length;
    }
    return true;
}

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

/* ---- the connection: a non-blocking socket, queued output, WebSocket frames in ---- */

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

static size_t pending_bytes(const struct connection *c)
{
    return c->out.size - c->out_sent;
}

/* Queues one frame; first_byte is FIN, RSV and opcode as sent (a test may set what it should not). */
static void queue_frame(struct connection *c, uint8_t first_byte, const uint8_t *payload, size_t n, bool masked)
{
    uint8_t header[14], mask_bit = masked ? 0x80 : 0, key[4];
    size_t h = 0;
    header[h++] = first_byte;
    if (n < 126) {
        header[h++] = mask_bit | (uint8_t)n;
    } else if (n < 65536) {
        header[h++] = mask_bit | 126;
        header[h++] = (uint8_t)(n >> 8);
        header[h++] = (uint8_t)n;
    } else {
        header[h++] = mask_bit | 127;
        for (int i = 7; i >= 0; i--)
            header[h++] = (uint8_t)((uint64_t)n >> 8 * i);
    }
    if (masked) {
        random_bytes(key, sizeof key);
        memcpy(header + h, key, sizeof key);
        h += sizeof key;
    }
    buffer_append(&c->out, header, h);
    size_t start = c->out.size;
    buffer_append(&c->out, payload, n);
    for (size_t i = 0; masked && i < n; i++)
        c->out.data[start + i] ^= key[i % 4];
}

static void queue_message(struct connection *c, enum kind kind, const uint8_t *bytes, size_t n)
{
    struct byte_buffer message = {0};
    uint8_t kind_byte = kind;
    buffer_append(&message, &kind_byte, 1);
    buffer_append(&message, bytes, n);
    queue_frame(c, FIN | OP_BINARY, message.data, message.size, true);
    byte_buffer_free(&message);
}

static void queue_close(struct connection *c, int status)
{
    uint8_t payload[2] = {(uint8_t)(status >> 8), (uint8_t)status};
    queue_frame(c, FIN | OP_CLOSE, payload, sizeof payload, true);
    c->close_sent = true;
}

/* What a peer may put in a close frame (RFC 6455 7.4, and IANA's 1012-1014) */
static bool sendable_close_status(int status)
{
    return (status >= 1000 && status <= 1003) || (status >= 1007 && status <= 1014) ||
           (status >= 3000 && status <= 4999);
}

static void take_close(struct connection *c, const uint8_t *payload, size_t n)
{
    if (n == 1)
        fail("the server's close frame holds 1 byte: a status takes 2");
    c->close_status = n ? payload[0] << 8 | payload[1] : 1005;
    if (n && !sendable_close_status(c->close_status))
        fail("the server's close status %d is not one a peer may send", c->close_status);
    c->close_reason_size = n ? n - 2 : 0;
    memcpy(c->close_reason, payload + 2 * (n > 0), c->close_reason_size);
    if (!valid_utf8(c->close_reason, c->close_reason_size))
        fail("the server's close reason is not UTF-8");
    if (!c->close_sent)
        queue_close(c, n ? c->close_status : 1000);
}

enum event { EVENT_NONE, EVENT_MESSAGE, EVENT_CLOSE, EVENT_EOF };

/* A frame of the server's; control frames are answered here (ping: pong; close: close). */
static enum event take_frame(struct connection *c, bool fin, int opcode, const uint8_t *payload, size_t n)
{
    if (opcode >= OP_CLOSE) {
        if (!fin || n > 125)
            fail("the server sent a control frame (opcode 0x%x) fragmented or over 125 bytes", opcode);
        if (opcode == OP_CLOSE) {
            take_close(c, payload, n);
            return EVENT_CLOSE;
        }
        if (opcode == OP_PING)
            queue_frame(c, FIN | OP_PONG, payload, n, true);
        else if (opcode != OP_PONG)
            fail("the server sent a frame with the reserved opcode 0x%x", opcode);
        return EVENT_NONE;
    }
    if (opcode == OP_CONTINUATION && !c->message_opcode)
        fail("the server sent a continuation frame outside a fragmented message");
    if (opcode == OP_TEXT || opcode == OP_BINARY) {
        if (c->message_opcode)
            fail("the server began a message inside a fragmented one");
        c->message_opcode = opcode;
    } else if (opcode != OP_CONTINUATION) {
        fail("the server sent a frame with the reserved opcode 0x%x", opcode);
    }
    if (c->message.size + n > MAX_MESSAGE)
        fail("the server sent a message over %d bytes", MAX_MESSAGE);
    buffer_append(&c->message, payload, n);
    c->message_ready = fin;
    return fin ? EVENT_MESSAGE : EVENT_NONE;
}

/* The next event among the bytes already read: a whole data message (in c->message, until the next
   call), the server's close, or EVENT_NONE when no frame is complete. */
static enum event take_event(struct connection *c)
{
    if (c->message_ready) {
        c->message.size = 0;
        c->message_opcode = 0;
        c->message_ready = false;
    }
    for (;;) {
        const uint8_t *p = c->in.data;
        if (c->in.size < 2)
            return EVENT_NONE;
        if (p[0] & 0x70)
            fail("the server sent a frame with RSV bits set (0x%02x), no extension agreed", p[0]);
        if (p[1] & 0x80)
            fail("the server sent a masked frame");
        uint64_t length = p[1] & 0x7f;
        size_t header = 2;
        if (length == 126)
            header = 4;
        else if (length == 127)
            header = 10;
        if (c->in.size < header)
            return EVENT_NONE;
        if (header > 2)
            length = 0;
        for (size_t i = 2; i < header; i++)
            length = length << 8 | p[i];
        if (length > MAX_MESSAGE)
            fail("the server sent a frame of %llu bytes", (unsigned long long)length);
        if (c->in.size < header + length)
            return EVENT_NONE;
        enum event e = take_frame(c, p[0] & FIN, p[0] & 0x0f, p + header, (size_t)length);
        buffer_consume(&c->in, header + (size_t)length);
        if (e != EVENT_NONE)
            return e;
    }
}

static void write_some(struct connection *c)
{
    ssize_t n = write(c->fd, c->out.data + c->out_sent, pending_bytes(c));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0) {
        c->write_failed = true;
        n = (ssize_t)pending_bytes(c);
    } else
        c->bytes_written += (size_t)n;
    c->out_sent += (size_t)n;
    if (c->out_sent == c->out.size)
        c->out.size = c->out_sent = 0;
}

static void read_some(struct connection *c)
{
    uint8_t bytes[65536];
    ssize_t n = read(c->fd, bytes, sizeof bytes);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0)
        c->eof = true;
    else
        buffer_append(&c->in, bytes, (size_t)n);
}

/* Waits until the socket can move bytes or `until` (ms, now_ms's clock) passes, then writes what it
   can of the queue and, when reading, reads what has come. */
static void pump(struct connection *c, double until, bool reading)
{
    if (c->write_failed)
        c->out.size = c->out_sent = 0;
    struct pollfd p = {.fd = c->fd, .events = (short)((reading ? POLLIN : 0) | (pending_bytes(c) ? POLLOUT : 0))};
    double wait = until - now_ms();
    if (poll(&p, 1, wait <= 0 ? 0 : (int)ceil(wait)) < 0 && errno != EINTR)
        fail("poll: %s", strerror(errno));
    if (pending_bytes(c) && (p.revents & (POLLOUT | POLLERR | POLLHUP)))
        write_some(c);
    if (reading && (p.revents & (POLLIN | POLLERR | POLLHUP)))
        read_some(c);
}

/* The next event, reading until one comes (EVENT_EOF: the server dropped the connection) or `until`
   passes (EVENT_NONE). */
static enum event wait_event(struct connection *c, double until)
{
    for (;;) {
        enum event e = take_event(c);
        if (e != EVENT_NONE)
            return e;
        if (c->eof)
            return EVENT_EOF;
        if (now_ms() >= until)
            return EVENT_NONE;
        pump(c, until, true);
    }
}

/* Writes what is queued (a close's answer), for at most a second, and closes the socket. */
static void hang_up(struct connection *c)
{
    double until = now_ms() + 1000;
    while (pending_bytes(c) && !c->write_failed && now_ms() < until)
        pump(c, until, false);
    close(c->fd);
    byte_buffer_free(&c->out);
    byte_buffer_free(&c->in);
    byte_buffer_free(&c->message);
}

/* ---- connecting and the upgrade ---- */

static int connect_socket(const char *host, const char *port, int receive_buffer, double until)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *addresses;
    int status = getaddrinfo(host, port, &hints, &addresses);
    if (status)
        fail("cannot connect to %s:%s: %s", host, port, gai_strerror(status));
    int error = ETIMEDOUT;
    for (struct addrinfo *a = addresses; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            error = errno;
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (receive_buffer)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
        error = connect(fd, a->ai_addr, a->ai_addrlen) ? errno : 0;
        if (error == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            double wait = until - now_ms();
            socklen_t size = sizeof error;
            if (poll(&p, 1, wait <= 0 ? 0 : (int)ceil(wait)) == 1)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
            else
                error = ETIMEDOUT;
        }
        if (!error) {
            int on = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            freeaddrinfo(addresses);
            return fd;
        }
        close(fd);
    }
    freeaddrinfo(addresses);
    fail("cannot connect to %s:%s: %s", host, port, strerror(error));
}

/* The value of header `name` in a response's header lines, trimmed, into value (empty when absent) */
static bool header_value(const char *headers, const char *name, char *value, size_t size)
{
    size_t name_length = strlen(name);
    for (const char *line = strstr(headers, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, name_length) || line[name_length] != ':')
            continue;
        const char *start = line + name_length + 1, *end = strstr(start, "\r\n");
        while (*start == ' ' || *start == '\t')
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        snprintf(value, size, "%.*s", (int)(end - start), start);
        return true;
    }
    value[0] = 0;
    return false;
}

static bool has_token(const char *list, const char *token)
{
    size_t length = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!strncasecmp(p, token, length) && (p[length] == 0 || p[length] == ',' || p[length] == ' '))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

/* Sends the upgrade request for /api/chat and checks the server's 101; bytes after its headers stay in
   c->in as the first frames. */
static void upgrade(struct connection *c, const char *host, const char *port, double until)
{
    uint8_t nonce[16];
    char key[25], request[512], expected_accept[29];
    random_bytes(nonce, sizeof nonce);
    base64(nonce, sizeof nonce, key);
    websocket_accept(key, expected_accept);
    bool ipv6 = strchr(host, ':');
    int n = snprintf(request, sizeof request,
                     "GET /api/chat HTTP/1.1\r\nHost: %s%s%s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     ipv6 ? "[" : "", host, ipv6 ? "]" : "", port, key);
    buffer_append(&c->out, request, (size_t)n);
    size_t end = 0;
    for (;;) {
        for (end = 0; end + 4 <= c->in.size && memcmp(c->in.data + end, "\r\n\r\n", 4); end++)
            ;
        if (end + 4 <= c->in.size)
            break;
        if (c->in.size > 16384)
            fail("the upgrade response's headers run over 16 KiB");
        if (c->eof)
            fail("the server closed the connection before answering the upgrade");
        if (now_ms() >= until)
            fail("timeout: no answer to the upgrade");
        pump(c, until, true);
    }
    char *headers = malloc(end + 3), value[256];
    if (!headers)
        fail("out of memory");
    memcpy(headers, c->in.data, end + 2); /* the last header line keeps its \r\n */
    headers[end + 2] = 0;
    buffer_consume(&c->in, end + 4);
    int status = 0;
    if (sscanf(headers, "HTTP/1.1 %d", &status) != 1 || status != 101)
        fail("the upgrade was answered with \"%.*s\", not 101", (int)strcspn(headers, "\r"), headers);
    if (!header_value(headers, "Upgrade", value, sizeof value) || strcasecmp(value, "websocket"))
        fail("the 101 response's Upgrade is \"%s\", not websocket", value);
    if (!header_value(headers, "Connection", value, sizeof value) || !has_token(value, "upgrade"))
        fail("the 101 response's Connection is \"%s\", without upgrade", value);
    if (!header_value(headers, "Sec-WebSocket-Accept", value, sizeof value) || strcmp(value, expected_accept))
        fail("the 101 response's Sec-WebSocket-Accept is \"%s\", not \"%s\"", value, expected_accept);
    if (header_value(headers, "Sec-WebSocket-Protocol", value, sizeof value))
        fail("the server chose the subprotocol \"%s\", which was not asked for", value);
    if (header_value(headers, "Sec-WebSocket-Extensions", value, sizeof value))
        fail("the server chose the extension \"%s\", which was not asked for", value);
    free(headers);
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
    upgrade(c, o->host, o->port, until);
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

/* ---- the self-test ---- */

static bool check(bool ok, const char *what)
{
    printf("self-test: %s %s\n", ok ? "ok  " : "FAIL", what);
    return ok;
}

/* Frames of 5, 300 and 70000 bytes (the three length forms), a message in two fragments around a ping,
   each read back as the server's would be; and a masked frame unmasked by hand. */
static bool check_frames(void)
{
    struct connection c = {.fd = -1};
    static uint8_t payload[70000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    static const size_t sizes[] = {5, 300, 70000};
    for (int i = 0; i < 3; i++)
        queue_frame(&c, FIN | OP_BINARY, payload, sizes[i], false);
    queue_frame(&c, OP_BINARY, payload, 10, false);
    queue_frame(&c, FIN | OP_PING, payload, 3, false);
    queue_frame(&c, FIN | OP_CONTINUATION, payload + 10, 20, false);
    bool ok = true;
    struct byte_buffer swap = c.in;
    c.in = c.out, c.out = swap;
    for (int i = 0; i < 4; i++) {
        size_t size = i < 3 ? sizes[i] : 30;
        ok &= take_event(&c) == EVENT_MESSAGE && c.message.size == size && !memcmp(c.message.data, payload, size);
    }
    ok &= take_event(&c) == EVENT_NONE && c.in.size == 0;
    ok &= c.out.size == 2 + 4 + 3 && c.out.data[0] == (FIN | OP_PONG) && c.out.data[1] == (0x80 | 3); /* the pong */
    c.out.size = 0;
    queue_frame(&c, FIN | OP_BINARY, payload, 300, true);
    const uint8_t *key = c.out.data + 4;
    for (int i = 0; i < 300; i++)
        ok &= (c.out.data[8 + i] ^ key[i % 4]) == payload[i];
    ok &= c.out.data[1] == (0x80 | 126) && c.out.size == 308;
    byte_buffer_free(&c.in);
    byte_buffer_free(&c.out);
    byte_buffer_free(&c.message);
    return check(ok, "frames: 7/16/64-bit lengths, fragments around a ping, masking");
}

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
    bool ok = check(pages == 3 && result == 0, "bad-opus stream: 3 pages with right checksums");

    int error;
    OpusDecoder *decoder = opus_decoder_create(SAMPLE_RATE, 1, &error);
    float pcm[OGG_OPUS_MAX_PACKET_SAMPLES];
    ok &= check(decoder && opus_decode_float(decoder, undecodable_packet, sizeof undecodable_packet, pcm,
                                             OGG_OPUS_MAX_PACKET_SAMPLES, 0) == OPUS_INVALID_PACKET,
                "bad-opus packet: libopus says OPUS_INVALID_PACKET");
    opus_decoder_destroy(decoder);

    struct ogg_opus_writer *writer = ogg_opus_writer_new(SAMPLE_RATE);
    for (int i = 0; writer && i < 3; i++)
        encode_frame(writer, i, &good);
    struct ogg_opus_reader *good_reader = ogg_opus_reader_new(SAMPLE_RATE);
    struct ogg_opus_reader *bad_reader = ogg_opus_reader_new(SAMPLE_RATE);
    char err[256] = "";
    ok &= check(good_reader && !ogg_opus_read_feed(good_reader, good.data, good.size, ignore_pcm, NULL, err, sizeof err),
                "ogg_opus_reader takes 3 good frames");
    ok &= check(bad_reader && ogg_opus_read_feed(bad_reader, bad.data, bad.size, ignore_pcm, NULL, err, sizeof err),
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
    uint8_t digest[20];
    char text[64], accept[29];
    sha1((const uint8_t *)"abc", 3, digest);
    bool ok = check(!memcmp(digest, "\xa9\x99\x3e\x36\x47\x06\x81\x6a\xba\x3e\x25\x71\x78\x50\xc2\x6c\x9c\xd0\xd8\x9d", 20),
                    "SHA-1(\"abc\") (FIPS 180 example)");
    /* 56 bytes: the padding spills into a second block */
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1((const uint8_t *)two_blocks, strlen(two_blocks), digest);
    ok &= check(!memcmp(digest, "\x84\x98\x3e\x44\x1c\x3b\xd2\x6e\xba\xae\x4a\xa1\xf9\x51\x29\xe5\xe5\x46\x70\xf1", 20),
                "SHA-1 of FIPS 180's 448-bit example");
    base64((const uint8_t *)"foob", 4, text);
    ok &= check(!strcmp(text, "Zm9vYg=="), "base64(\"foob\") (RFC 4648)");
    base64((const uint8_t *)"fooba", 5, text);
    ok &= check(!strcmp(text, "Zm9vYmE="), "base64(\"fooba\") (RFC 4648)");
    websocket_accept("dGhlIHNhbXBsZSBub25jZQ==", accept);
    ok &= check(!strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "Sec-WebSocket-Accept of RFC 6455's example key");
    ok &= check(valid_utf8((const uint8_t *)"h\xc3\xa9llo \xe2\x96\x81", 10) && !valid_utf8((const uint8_t *)"\xc0\xaf", 2) &&
                    !valid_utf8((const uint8_t *)"\xed\xa0\x80", 3),
                "UTF-8: accepted, overlong and surrogate refused");
    ok &= check_frames();
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
