/* websocket.c: the client side of RFC 6455 for the test clients of tests/serve (see websocket.h): SHA-1
 * and base64 for Sec-WebSocket-Accept, connecting with a deadline, the upgrade, a non-blocking socket
 * pumped by poll(), masked (or, for a test, unmasked) frames out, frames in with fragments, ping and
 * close, UTF-8 checking; and the self-test of these pieces that chat_client --self-test runs. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "websocket.h"

#define WEBSOCKET_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_Noreturn void fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("error: ", stdout);
    vprintf(format, args);
    putchar('\n');
    va_end(args);
    exit(1);
}

double now_ms(void)
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

void buffer_append(struct byte_buffer *b, const void *data, size_t n)
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

bool valid_utf8(const uint8_t *s, size_t n)
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

/* ---- the connection: a non-blocking socket, queued output, WebSocket frames in ---- */

size_t pending_bytes(const struct connection *c)
{
    return c->out.size - c->out_sent;
}

/* Queues one frame; first_byte is FIN, RSV and opcode as sent (a test may set what it should not). */
void queue_frame(struct connection *c, uint8_t first_byte, const uint8_t *payload, size_t n, bool masked)
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

void queue_close(struct connection *c, int status)
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
enum event take_event(struct connection *c)
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
void pump(struct connection *c, double until, bool reading)
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
enum event wait_event(struct connection *c, double until)
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
void hang_up(struct connection *c)
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

int connect_socket(const char *host, const char *port, int receive_buffer, double until)
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

/* Sends the upgrade request for `path` and checks the server's 101; bytes after its headers stay in
   c->in as the first frames. */
void websocket_upgrade(struct connection *c, const char *host, const char *port, const char *path, double until)
{
    uint8_t nonce[16];
    char key[25], request[512], expected_accept[29];
    random_bytes(nonce, sizeof nonce);
    base64(nonce, sizeof nonce, key);
    websocket_accept(key, expected_accept);
    bool ipv6 = strchr(host, ':');
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, ipv6 ? "[" : "", host, ipv6 ? "]" : "", port, key);
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

/* ---- the self-test ---- */

bool self_test_check(bool ok, const char *what)
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
    return self_test_check(ok, "frames: 7/16/64-bit lengths, fragments around a ping, masking");
}

bool websocket_self_test(void)
{
    uint8_t digest[20];
    char text[64], accept[29];
    sha1((const uint8_t *)"abc", 3, digest);
    bool ok = self_test_check(
        !memcmp(digest, "\xa9\x99\x3e\x36\x47\x06\x81\x6a\xba\x3e\x25\x71\x78\x50\xc2\x6c\x9c\xd0\xd8\x9d", 20),
        "SHA-1(\"abc\") (FIPS 180 example)");
    /* 56 bytes: the padding spills into a second block */
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1((const uint8_t *)two_blocks, strlen(two_blocks), digest);
    ok &= self_test_check(
        !memcmp(digest, "\x84\x98\x3e\x44\x1c\x3b\xd2\x6e\xba\xae\x4a\xa1\xf9\x51\x29\xe5\xe5\x46\x70\xf1", 20),
        "SHA-1 of FIPS 180's 448-bit example");
    base64((const uint8_t *)"foob", 4, text);
    ok &= self_test_check(!strcmp(text, "Zm9vYg=="), "base64(\"foob\") (RFC 4648)");
    base64((const uint8_t *)"fooba", 5, text);
    ok &= self_test_check(!strcmp(text, "Zm9vYmE="), "base64(\"fooba\") (RFC 4648)");
    websocket_accept("dGhlIHNhbXBsZSBub25jZQ==", accept);
    ok &= self_test_check(!strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                          "Sec-WebSocket-Accept of RFC 6455's example key");
    ok &= self_test_check(valid_utf8((const uint8_t *)"h\xc3\xa9llo \xe2\x96\x81", 10) &&
                              !valid_utf8((const uint8_t *)"\xc0\xaf", 2) &&
                              !valid_utf8((const uint8_t *)"\xed\xa0\x80", 3),
                          "UTF-8: accepted, overlong and surrogate refused");
    ok &= check_frames();
    return ok;
}
