/* test_tokenizer.c: the SentencePiece shim (runtime/cli/tokenizer.cc) on a 100-piece model that
 * tests/tools/make_tokenizer.sh trains with spm_train: its size, the special pieces, every piece
 * against spm_export_vocab's with "▁" turned into a space, cuts on a UTF-8 character boundary,
 * buffers of 0 and 1 bytes, ids out of range, and the errors of a missing and a garbage file.
 * Without spm_train the test fails: it is a dependency of the build (scripts/deps.sh). */
#include "check.h"
#include "tokenizer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define VOCAB_SIZE 100


/* Runs a shell command the test needs; when it fails (no spm_train), so does the test. */
static void run_or_exit(const char *command)
{
    if (system(command) != 0) {
        fprintf(stderr, "FAIL: %s\n", command);
        check_failed++;
        exit(check_finish());
    }
}

/* "piece\tscore" line's piece with each "▁" a space, in out[size] */
static void expected_piece(const char *line, char *out, size_t size)
{
    size_t written = 0;
    for (const char *at = line; *at && *at != '\t' && *at != '\n' && written + 1 < size;) {
        if (!strncmp(at, "\xE2\x96\x81", 3)) {
            out[written++] = ' ';
            at += 3;
        } else {
            out[written++] = *at++;
        }
    }
    out[written] = '\0';
}

/* Every id's piece against spm_export_vocab's line; fills pieces[id] with the expected text. */
static void check_every_piece(const struct kiln_tokenizer *t, char pieces[VOCAB_SIZE][64])
{
    char command[512], line[256], got[64];
    snprintf(command, sizeof command, "spm_export_vocab --model=%s/tok.model --output=%s/exported.vocab 2>/dev/null",
             check_scratch_dir, check_scratch_dir);
    run_or_exit(command);
    FILE *f = fopen(check_scratch_path("exported.vocab"), "r");
    int id = 0;
    while (f && fgets(line, sizeof line, f) && id < VOCAB_SIZE) {
        expected_piece(line, pieces[id], sizeof pieces[id]);
        size_t len = kiln_tokenizer_piece(t, id, got, sizeof got);
        CHECK(!strcmp(got, pieces[id]), "id %d: \"%s\", spm_export_vocab \"%s\"", id, got, pieces[id]);
        CHECK(len == strlen(pieces[id]), "id %d: length %zu", id, len);
        id++;
    }
    CHECK(id == VOCAB_SIZE, "spm_export_vocab gave %d pieces", id);
    if (f)
        fclose(f);
}

/* The first piece with a multi-byte character after its first byte (" déjà"); -1 when none.
   *at: the character's offset. */
static int piece_with_multibyte(char pieces[VOCAB_SIZE][64], size_t *at)
{
    for (int id = 0; id < VOCAB_SIZE; id++)
        for (size_t i = 1; pieces[id][0] && pieces[id][i]; i++)
            if ((unsigned char)pieces[id][i] >= 0xC0) {
                *at = i;
                return id;
            }
    return -1;
}

static void check_cuts(const struct kiln_tokenizer *t, char pieces[VOCAB_SIZE][64])
{
    char buf[64];
    size_t at = 0;
    int id = piece_with_multibyte(pieces, &at);
    CHECK(id >= 0, "no piece with a multi-byte character after its first byte");
    if (id >= 0) {
        /* room for the character's first byte only: the cut falls before it */
        size_t len = kiln_tokenizer_piece(t, id, buf, at + 2);
        CHECK(len == at && !strncmp(buf, pieces[id], at) && buf[at] == '\0', "id %d cut at %zu: \"%s\" (%zu)", id,
              at, buf, len);
        size_t full = strlen(pieces[id]);
        len = kiln_tokenizer_piece(t, id, buf, full + 1);
        CHECK(len == full && !strcmp(buf, pieces[id]), "id %d in exactly its size: \"%s\"", id, buf);
    }

    int spaced = -1;
    for (int i = 0; i < VOCAB_SIZE && spaced < 0; i++)
        if (pieces[i][0] == ' ' && pieces[i][1])
            spaced = i;
    CHECK(spaced >= 0, "no piece beginning with \"▁\" and more");
    if (spaced >= 0) {
        size_t len = kiln_tokenizer_piece(t, spaced, buf, sizeof buf);
        CHECK(len > 1 && buf[0] == ' ', "id %d: \"%s\"", spaced, buf);
        len = kiln_tokenizer_piece(t, spaced, buf, 2); /* "▁" is 3 bytes in the model, 1 here */
        CHECK(len == 1 && !strcmp(buf, " "), "id %d in 2 bytes: \"%s\"", spaced, buf);
    }

    memset(buf, 'x', sizeof buf);
    CHECK(kiln_tokenizer_piece(t, 3, buf, 0) == 0 && buf[0] == 'x', "a 0-byte buffer was written");
    CHECK(kiln_tokenizer_piece(t, 3, buf, 1) == 0 && buf[0] == '\0', "a 1-byte buffer: \"%s\"", buf);
}

static void check_out_of_range(const struct kiln_tokenizer *t)
{
    const int ids[] = {-1, VOCAB_SIZE, INT_MIN, INT_MAX};
    char buf[16];
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        strcpy(buf, "stale");
        size_t len = kiln_tokenizer_piece(t, ids[i], buf, sizeof buf);
        CHECK(len == 0 && buf[0] == '\0', "id %d: \"%s\"", ids[i], buf);
    }
}

/* The load of path fails with "PATH: cannot load the SentencePiece model: ..." */
static void check_load_error(const char *path)
{
    char err[512] = "", prefix[300];
    snprintf(prefix, sizeof prefix, "%s: cannot load the SentencePiece model: ", path);
    struct kiln_tokenizer *t = kiln_tokenizer_load(path, err, sizeof err);
    CHECK(t == NULL, "%s loaded", path);
    CHECK(!strncmp(err, prefix, strlen(prefix)) && strlen(err) > strlen(prefix), "%s: \"%s\"", path, err);
    kiln_tokenizer_free(t);
}

int main(void)
{
    char command[256], err[512] = "";
    if (check_scratch_open("tokenizer"))
        return 2;
    snprintf(command, sizeof command, "sh tests/tools/make_tokenizer.sh %s/tok %d", check_scratch_dir, VOCAB_SIZE);
    run_or_exit(command);

    struct kiln_tokenizer *t = kiln_tokenizer_load(check_scratch_path("tok.model"), err, sizeof err);
    CHECK(t != NULL, "%s", err);
    if (t) {
        char pieces[VOCAB_SIZE][64] = {{0}}, buf[64];
        CHECK(kiln_tokenizer_size(t) == VOCAB_SIZE, "size %d", kiln_tokenizer_size(t));
        const char *special[] = {"<unk>", "<s>", "</s>"};
        for (int id = 0; id < 3; id++) {
            kiln_tokenizer_piece(t, id, buf, sizeof buf);
            CHECK(!strcmp(buf, special[id]), "id %d: \"%s\"", id, buf);
        }
        check_every_piece(t, pieces);
        check_cuts(t, pieces);
        check_out_of_range(t);
        kiln_tokenizer_free(t);
    }

    check_load_error(check_scratch_path("missing.model"));
    FILE *f = fopen(check_scratch_path("garbage.model"), "wb");
    if (f) {
        fputs("this is not a SentencePiece model\n", f);
        fclose(f);
    }
    check_load_error(check_scratch_path("garbage.model"));
    kiln_tokenizer_free(NULL);

    snprintf(command, sizeof command, "rm -rf %s", check_scratch_dir);
    run_or_exit(command);
    return check_finish();
}
