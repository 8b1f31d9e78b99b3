/* emit_ttt.c: the C side of the TTT layers (docs/ttt.md): `struct ttt_weights`, each shape's state
 * struct, and NAME(p, st, ...), which unpacks both into the pointers the layer's kernel takes. The
 * kernel itself is kernel IR (kernels_ttt.c), printed by either back end. */
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"

/* Writes tmpl with every "$X" replaced by the value of the substitution named X. */
struct subst { const char *name; char value[72]; };

static void expand(FILE *out, const char *tmpl, const struct subst *subs, int n)
{
    for (const char *p = tmpl; *p; p++) {
        if (*p != '$') {
            fputc(*p, out);
            continue;
        }
        int best = -1;
        size_t best_len = 0;
        for (int i = 0; i < n; i++) {
            size_t len = strlen(subs[i].name);
            if (len > best_len && strncmp(p + 1, subs[i].name, len) == 0)
                best = i, best_len = len;
        }
        if (best < 0) {
            fputc('$', out);
            continue;
        }
        fputs(subs[best].value, out);
        p += best_len;
    }
}

/* struct ttt_weights */
static const char weights_type[] =
    "/* Everything a TTT kernel reads besides its state (docs/ttt.md §1.1 names). */\n"
    "struct ttt_weights {\n"
    "    const float *W1, *b1, *W2, *b2;          /* initial inner weights: [nh][in][out], [nh][1][out] */\n"
    "    const float *norm_w, *norm_b;            /* ttt_norm: per-head LayerNorm [nh][hd] */\n"
    "    const float *lr_bias;                    /* learnable_ttt_lr_bias [nh] (its weight is a matmul) */\n"
    "    const float *token_idx;                  /* learnable_token_idx [b] */\n"
    "    const float *post_w, *post_b;            /* post_norm over the whole width */\n"
    "    const float *conv_q_w, *conv_q_b, *conv_k_w, *conv_k_b; /* share_qk: causal depthwise convs */\n"
    "    const float *rope_cs;                    /* [b][2][hd]: RoPE at in-batch position pos, [cos, cos]\n"
    "                                                and [-sin, sin] of pos / base^(2i / hd) per pair i */\n"
    "    float base_lr, eps;\n"
    "};\n\n";

static const char linear_state[] =
    "/* TTT-Linear state of one layer: $NH heads of $HD */\n"
    "struct $NAME_state {\n"
    "    int ready;                 /* 0 until W, c are taken from the weights */\n"
    "    float W[$NH][$HD][$HD];      /* inner weights at the last mini-batch boundary */\n"
    "    float c[$NH][$HD];\n"
    "    float GW[$NH][$HD][$HD];     /* lr-weighted gradient sums of the current mini-batch */\n"
    "    float gc[$NH][$HD];\n"
    "    float history[$HIST][$D];   /* share_qk: the last conv_kernel - 1 rows of q_proj's output */\n"
    "};\n\n";

static const char mlp_state[] =
    "/* TTT-MLP state of one layer: $NH heads, $HD -> $F -> $HD */\n"
    "struct $NAME_state {\n"
    "    int ready;                 /* 0 until the inner weights are taken from the weights */\n"
    "    float W1[$NH][$HD][$F], c1[$NH][$F], W2[$NH][$F][$HD], c2[$NH][$HD]; /* at the last boundary */\n"
    "    float GW1[$NH][$HD][$F], gc1[$NH][$F], GW2[$NH][$F][$HD], gc2[$NH][$HD]; /* this mini-batch's sums */\n"
    "    float history[$HIST][$D];   /* share_qk: the last conv_kernel - 1 rows of q_proj's output */\n"
    "};\n\n";

void ttt_kernel_name(char *buf, size_t size, const struct ttt_shape *s)
{
    snprintf(buf, size, "ttt_%s_%dx%d_b%d%s", s->mlp ? "mlp" : "linear", s->heads, s->head_dim, s->mini_batch,
             s->conv_kernel > 0 ? "_conv" : "");
}

static void set(struct subst *subs, int *n, const char *name, int value)
{
    subs[*n].name = name;
    snprintf(subs[*n].value, sizeof subs[*n].value, "%d", value);
    (*n)++;
}

static int make_substs(const struct ttt_shape *s, struct subst *subs)
{
    int n = 0;
    subs[n].name = "NAME";
    ttt_kernel_name(subs[n].value, sizeof subs[n].value, s);
    n++;
    subs[n].name = "KIND";
    snprintf(subs[n].value, sizeof subs[n].value, "%s", s->mlp ? "MLP" : "Linear");
    n++;
    set(subs, &n, "NH", s->heads);
    set(subs, &n, "HD", s->head_dim);
    set(subs, &n, "F", s->mlp ? 4 * s->head_dim : s->head_dim);
    set(subs, &n, "D", s->heads * s->head_dim);
    set(subs, &n, "MB", s->mini_batch);
    set(subs, &n, "KS", s->conv_kernel);
    set(subs, &n, "HIST", s->conv_kernel > 1 ? s->conv_kernel - 1 : 1);
    set(subs, &n, "PIECE", ttt_piece_floats(s));
    return n;
}

void emit_ttt_state_type(FILE *out, const struct ttt_shape *s)
{
    struct subst subs[16];
    int n = make_substs(s, subs);
    expand(out, s->mlp ? mlp_state : linear_state, subs, n);
}

void emit_ttt_weights_type(FILE *out) { fputs(weights_type, out); }

void emit_ttt_wrapper(FILE *out, const struct ttt_shape *s, const char *kernel)
{
    char name[64];
    ttt_kernel_name(name, sizeof name, s);
    fprintf(out, "/* TTT-%s, %d heads of %d, mini-batch %d: the layer's weights and state unpacked for %s */\n"
                 "static void %s(const struct ttt_weights *p, struct %s_state *st, const float *xq, const float *xk,\n"
                 "    const float *xv, const float *lr_logit, int64_t pos0, int T, float *work, float *out)\n{\n"
                 "    %s(p->W1, p->b1, ", s->mlp ? "MLP" : "Linear", s->heads, s->head_dim, s->mini_batch, kernel, name, name,
            kernel);
    if (s->mlp)
        fprintf(out, "p->W2, p->b2, ");
    fprintf(out, "p->norm_w, p->norm_b, p->lr_bias, p->token_idx, p->post_w, p->post_b,\n        ");
    if (s->conv_kernel)
        fprintf(out, "p->conv_q_w, p->conv_q_b, p->conv_k_w, p->conv_k_b, ");
    fprintf(out, "p->rope_cs, p->base_lr, p->eps, &st->ready,\n        ");
    if (s->mlp)
        fprintf(out, "&st->W1[0][0][0], &st->c1[0][0], &st->W2[0][0][0], &st->c2[0][0], &st->GW1[0][0][0], &st->gc1[0][0],\n"
                     "        &st->GW2[0][0][0], &st->gc2[0][0], ");
    else
        fprintf(out, "&st->W[0][0][0], &st->c[0][0], &st->GW[0][0][0], &st->gc[0][0], ");
    fprintf(out, "&st->history[0][0], xq, xk, xv, lr_logit, pos0, T, work, out);\n}\n\n");
}
