/* serve.c: `NAME serve` (docs/converse.md, "serve"): the protocol of Moshi's moshi.server over
 * libwebsockets. A WebSocket at /api/chat is one conversation: its own kiln_conversation over the
 * one loaded model, its own Ogg Opus reader and writer. The server sends 0x00 once the conversation
 * is ready; every 0x01 message from the client carries Ogg Opus pages, decoded (ogg_opus.c) into the
 * conversation's waiting audio as they come. Frames are stepped on the service thread when the
 * client's socket can take their answer, one frame or one message per turn of each conversation, so
 * that conversations take turns frame by frame; each frame's audio (one Ogg page) and text go back as
 * 0x01 and 0x02 messages (nothing during the model's first frames, as Moshi's server). Up to
 * --max-conversations at once; one more is closed with status 1013 and a reason. A conversation whose
 * client breaks the protocol (chat_protocol.h) or sends Opus that does not decode is closed alone; so
 * is one whose client stops reading (SERVE_MAX_QUEUED bytes wait for it) or sends audio faster than
 * it is answered (SERVE_MAX_WAITING_FRAMES wait). */
#ifdef KILN_NO_SERVER
#include "system_cli.h"

int serve_main(const struct system_desc *s, int argc, char **argv)
{
    (void)s, (void)argc, (void)argv;
    fprintf(stderr, "%s serve: error: this binary was built without libwebsockets, libopus and libogg (its C "
                    "compiler found none to link)\n", cli_prog);
    return 1;
}
#else
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "chat_protocol.h"
#include "ogg_opus.h"
#include "system_cli.h"

#define SERVE_MAX_QUEUED (256 * 1024) /* bytes waiting for a client before it counts as not reading */
#define SERVE_MAX_WAITING_FRAMES 375   /* frames of the user's audio waiting to be stepped (30 s) */
#define SERVE_MAX_CONVERSATIONS 64

struct server {
    const struct system_desc *desc;
    struct kiln_model lm, codec;
    struct kiln_sampling sampling;
    struct system_text text;
    int max_conversations, active, opened;
};

/* A message waiting to be sent: LWS_PRE bytes of room, then the message */
struct out_message {
    struct out_message *next;
    size_t size;
    unsigned char bytes[];
};

/* One connection (libwebsockets' per-session data, zeroed) */
struct session {
    int id;
    bool refused, started;
    struct kiln_conversation *conversation;
    struct ogg_opus_reader *reader;
    struct ogg_opus_writer *writer;
    struct chat_assembler assembler;
    struct byte_buffer pages;
    float *pcm, *model_pcm;          /* the user's audio waiting [pcm_capacity], a frame of the model's */
    int pcm_start, pcm_count, pcm_capacity; /* pcm[pcm_start..pcm_start + pcm_count) waits */
    int64_t frames;
    double compute_s;
    struct out_message *head, *tail;
    size_t queued;
    int close_status;                /* nonzero: close with it and close_reason */
    char close_reason[CHAT_MAX_REASON + 1];
};

static struct server server;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Marks the session to be closed with status and text (cut to a close frame's room) */
static void set_close(struct session *s, int status, const char *text)
{
    size_t n = strlen(text);
    n = n < CHAT_MAX_REASON ? n : CHAT_MAX_REASON;
    memcpy(s->close_reason, text, n);
    s->close_reason[n] = '\0';
    s->close_status = status;
}

/* Queues kind + payload[n] for the client; 0, or 1 (the session closing) when out of memory or over
   SERVE_MAX_QUEUED */
static int queue_message(struct session *s, int kind, const void *payload, size_t n)
{
    if (s->close_status)
        return 1;
    if (s->queued + n + 1 > SERVE_MAX_QUEUED) {
        s->close_status = CHAT_CLOSE_POLICY;
        snprintf(s->close_reason, sizeof s->close_reason, "the client stopped reading: %zu bytes wait for it", s->queued);
        return 1;
    }
    struct out_message *m = malloc(sizeof *m + LWS_PRE + 1 + n);
    if (!m) {
        set_close(s, CHAT_CLOSE_TOO_BIG, "out of memory");
        return 1;
    }
    m->next = NULL;
    m->size = 1 + n;
    m->bytes[LWS_PRE] = (unsigned char)kind;
    if (n)
        memcpy(m->bytes + LWS_PRE + 1, payload, n);
    if (s->tail)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    s->queued += m->size;
    return 0;
}

/* The first waiting frame of the user's audio through the conversation; its audio and text queued */
static void step_frame(struct session *s)
{
    const struct kiln_model_desc *codec = server.desc->codec;
    const double t0 = cli_seconds_now();
    const int32_t token = kiln_conversation_step(s->conversation, s->pcm + s->pcm_start, s->model_pcm);
    s->compute_s += cli_seconds_now() - t0;
    s->frames++;
    s->pcm_start += codec->frame_size;
    s->pcm_count -= codec->frame_size;
    if (token < 0)
        return;
    char err[256], piece[256];
    s->pages.size = 0;
    if (ogg_opus_write(s->writer, s->model_pcm, codec->frame_size, &s->pages, err, sizeof err)) {
        set_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, err);
        return;
    }
    if (queue_message(s, CHAT_AUDIO, s->pages.data, s->pages.size))
        return;
    const size_t n = system_text_of(&server.text, token, piece, sizeof piece);
    if (n)
        queue_message(s, CHAT_TEXT, piece, n);
}

/* ogg_opus_read_feed's samples: they wait for their turn (step_frame) */
static void on_pcm(void *context, const float *pcm, int count)
{
    struct session *s = context;
    if (s->close_status)
        return;
    if (s->pcm_start + s->pcm_count + count > s->pcm_capacity) {
        memmove(s->pcm, s->pcm + s->pcm_start, (size_t)s->pcm_count * sizeof *s->pcm);
        s->pcm_start = 0;
    }
    if (s->pcm_count + count > s->pcm_capacity) {
        set_close(s, CHAT_CLOSE_POLICY, "the client sends audio faster than it is answered: 30 s of it wait");
        return;
    }
    memcpy(s->pcm + s->pcm_start + s->pcm_count, pcm, (size_t)count * sizeof *pcm);
    s->pcm_count += count;
}

static void session_free(struct session *s)
{
    kiln_conversation_free(s->conversation);
    ogg_opus_reader_free(s->reader);
    ogg_opus_writer_free(s->writer);
    chat_assembler_free(&s->assembler);
    byte_buffer_free(&s->pages);
    free(s->pcm), free(s->model_pcm);
    for (struct out_message *m = s->head, *next; m; m = next)
        next = m->next, free(m);
    s->head = s->tail = NULL;
}

/* A new conversation: 0, or 1 when out of memory */
static int session_start(struct session *s)
{
    const struct kiln_model_desc *codec = server.desc->codec;
    s->conversation = kiln_conversation_new(&server.lm, &server.codec, &server.sampling);
    s->reader = ogg_opus_reader_new(codec->sample_rate);
    s->writer = ogg_opus_writer_new(codec->sample_rate);
    s->pcm_capacity = SERVE_MAX_WAITING_FRAMES * codec->frame_size + OGG_OPUS_MAX_PACKET_SAMPLES;
    s->pcm = malloc((size_t)s->pcm_capacity * sizeof *s->pcm);
    s->model_pcm = malloc((size_t)codec->frame_size * sizeof *s->model_pcm);
    return !s->conversation || !s->reader || !s->writer || !s->pcm || !s->model_pcm;
}

/* Closes the connection with the session's status and reason (the callback returns this) */
static int close_session(struct lws *wsi, struct session *s)
{
    lws_close_reason(wsi, (enum lws_close_status)s->close_status, (unsigned char *)s->close_reason,
                     strlen(s->close_reason));
    fprintf(stderr, "%s serve: conversation %d closed (%d): %s\n", cli_prog, s->id, s->close_status, s->close_reason);
    return -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct session *s = user;
    char err[256];
    switch (reason) {
    case LWS_CALLBACK_HTTP: /* (anything but the WebSocket) */
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "kiln serve: the conversation's WebSocket is at /api/chat");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[256] = "";
        return lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0 || strcmp(uri, "/api/chat") != 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        s->id = ++server.opened;
        if (server.active >= server.max_conversations) {
            s->refused = true;
            s->close_status = CHAT_CLOSE_BUSY;
            snprintf(s->close_reason, sizeof s->close_reason, "%d conversations already (--max-conversations %d): "
                     "try again later", server.active, server.max_conversations);
        } else {
            server.active++;
            s->started = true;
            if (session_start(s))
                set_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory for a conversation");
            else {
                queue_message(s, CHAT_HANDSHAKE, NULL, 0);
                fprintf(stderr, "%s serve: conversation %d opened (%d of %d)\n", cli_prog, s->id, server.active,
                        server.max_conversations);
            }
        }
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        if (s->close_status)
            return 0;
        const uint8_t *payload = NULL;
        size_t payload_size = 0;
        int status = 0;
        const bool final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
        switch (chat_receive(&s->assembler, in, len, final, lws_frame_is_binary(wsi), &payload, &payload_size, &status,
                             s->close_reason, sizeof s->close_reason)) {
        case CHAT_CLOSE:
            s->close_status = status;
            return close_session(wsi, s);
        case CHAT_AUDIO_MESSAGE:
            if (ogg_opus_read_feed(s->reader, payload, payload_size, on_pcm, s, err, sizeof err))
                set_close(s, CHAT_CLOSE_INVALID, err);
            if (s->close_status)
                return close_session(wsi, s);
            if (s->head || s->pcm_count >= server.desc->codec->frame_size)
                lws_callback_on_writable(wsi);
            return 0;
        default:
            return 0;
        }
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        /* (one message a turn; with none waiting, a frame stepped first) */
        const int F = server.desc->codec->frame_size;
        if (!s->head && !s->close_status && s->pcm_count >= F)
            step_frame(s);
        if (s->close_status)
            return close_session(wsi, s);
        struct out_message *m = s->head;
        if (m) {
            if (lws_write(wsi, m->bytes + LWS_PRE, m->size, LWS_WRITE_BINARY) < (int)m->size)
                return -1;
            s->head = m->next;
            if (!s->head)
                s->tail = NULL;
            s->queued -= m->size;
            free(m);
        }
        if (s->head || s->pcm_count >= F)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        if (s->started) {
            server.active--;
            fprintf(stderr, "%s serve: conversation %d ended after %lld frames (%.2f ms a frame)\n", cli_prog, s->id,
                    (long long)s->frames, s->frames ? s->compute_s * 1e3 / (double)s->frames : 0.0);
        }
        session_free(s);
        s->started = false;
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"moshi-chat", callback, sizeof(struct session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The address host names ("localhost": 127.0.0.1; an IPv4 one first) as a number, for libwebsockets,
   which binds to numbers and interface names; 0, or 1 when it names none */
static int numeric_host(const char *host, char *out, size_t size)
{
    for (int family = 0; family < 2; family++) {
        struct addrinfo hints = {.ai_family = family ? AF_UNSPEC : AF_INET, .ai_socktype = SOCK_STREAM}, *found;
        if (getaddrinfo(host, NULL, &hints, &found) != 0)
            continue;
        int rc = getnameinfo(found->ai_addr, found->ai_addrlen, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST);
        freeaddrinfo(found);
        if (rc == 0)
            return 0;
    }
    return 1;
}

/* Whether address:port can be listened on (bound as libwebsockets binds, then let go), so that a port
   in use is said before libwebsockets fails on it (which leaks in that path); 0, or errno */
static int bind_error(const char *address, int port)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM}, *found;
    if (getaddrinfo(address, service, &hints, &found) != 0)
        return EADDRNOTAVAIL;
    int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol), on = 1, error = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, found->ai_addr, found->ai_addrlen) != 0)
        error = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(found);
    return error;
}

int serve_main(const struct system_desc *d, int argc, char **argv)
{
    struct system_weights weights = {0};
    const char *host = "127.0.0.1", *tokenizer = NULL;
    int port = 8998, threads = 0;
    server = (struct server){.desc = d, .sampling = KILN_SAMPLING_DEFAULT, .max_conversations = 2};
    const struct cli_option opts[] = {
        SYSTEM_WEIGHT_OPTIONS(&weights),
        SYSTEM_SAMPLING_OPTIONS(&server.sampling),
        {"--host", OPT_TEXT, &host, 0, 0, NULL},
        {"--port", OPT_INT, &port, 0, 65535, NULL},
        {"--max-conversations", OPT_INT, &server.max_conversations, 1, SERVE_MAX_CONVERSATIONS, NULL},
        {"--tokenizer", OPT_TEXT, &tokenizer, 0, 0, NULL},
        cli_threads_option(&threads),
    };
    if (cli_parse_options("serve", argc, argv, opts, CLI_NUM_OPTIONS(opts)))
        return 1;
    kiln_set_threads(threads);
    if (system_text_open(d, "serve", tokenizer, &server.text))
        return 1;
    if (system_load(d, "serve", &weights, &server.lm, &server.codec)) {
        system_text_close(&server.text);
        return 1;
    }
    char address[256] = "";
    const int busy = numeric_host(host, address, sizeof address) ? 0 : bind_error(address, port);
    if (!address[0] || busy) {
        if (busy)
            fprintf(stderr, "%s serve: error: cannot listen on %s port %d: %s\n", cli_prog, host, port, strerror(busy));
        else
            fprintf(stderr, "%s serve: error: --host %s names no address\n", cli_prog, host);
        kiln_model_free(&server.lm), kiln_model_free(&server.codec);
        system_text_close(&server.text);
        return 1;
    }
    lws_set_log_level(0, NULL); /* (its errors in listening are said below) */
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = strcmp(address, "0.0.0.0") == 0 ? NULL : address;
    info.protocols = protocols;
    info.gid = -1, info.uid = -1;
    info.options = strchr(address, ':') ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6;
    struct lws_context *context = lws_create_context(&info);
    struct lws_vhost *vhost = context ? lws_get_vhost_by_name(context, "default") : NULL;
    lws_set_log_level(LLL_ERR, NULL);
    int rc = 0;
    if (!context || !vhost || lws_get_vhost_listen_port(vhost) <= 0) {
        fprintf(stderr, "%s serve: error: cannot listen on %s port %d (in use, or not an address of this machine)\n",
                cli_prog, host, port);
        rc = 1;
    } else {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        const bool v6 = strchr(host, ':') != NULL;
        printf("%s serve: listening on http://%s%s%s:%d/api/chat (up to %d conversations)\n", cli_prog, v6 ? "[" : "",
               host, v6 ? "]" : "", lws_get_vhost_listen_port(vhost), server.max_conversations);
        fflush(stdout);
        while (!interrupted && lws_service(context, 0) >= 0)
            ;
        fprintf(stderr, "%s serve: stopped after %d conversations\n", cli_prog, server.opened);
    }
    if (context)
        lws_context_destroy(context);
    kiln_model_free(&server.lm), kiln_model_free(&server.codec);
    system_text_close(&server.text);
    return rc;
}
#endif
