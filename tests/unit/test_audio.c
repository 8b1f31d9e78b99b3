/* test_audio.c: a codec's audio files (runtime/cli/audio.c): a 48 kHz stereo WAV written by libsndfile
 * read back mono at 24 kHz (its length, the tone's amplitude and phase, the notes on stderr); WAV
 * round trips in 32-bit float (exact) and 16-bit PCM (clipped); .npy in each shape it accepts; and
 * the exact message of each error. */
#include "audio.h"
#include "check.h"
#include "npy.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PI 3.14159265358979323846

static char dir[64] = "/tmp/kiln_test_audio_XXXXXX";
static char log_path[128];
static int saved_stderr = -1;

/* stderr into log_path until captured() returns what was written there */
static void capture(void)
{
    fflush(stderr);
    saved_stderr = dup(2);
    FILE *f = fopen(log_path, "w");
    CHECK(f && dup2(fileno(f), 2) >= 0, "cannot redirect stderr");
    if (f)
        fclose(f);
}

static const char *captured(void)
{
    static char text[1024];
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(log_path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

static void path_in_dir(char *path, size_t size, const char *name) { snprintf(path, size, "%s/%s", dir, name); }

/* 1 s of 48 kHz stereo: left 0.5 sin(440 Hz), right 0.3 sin(440 Hz); read as 24 kHz mono, 0.4 sin */
static void test_stereo_48k(void)
{
    enum { RATE = 48000, N = 48000 };
    char path[128], expected[512];
    path_in_dir(path, sizeof path, "stereo.wav");
    SF_INFO info = {.samplerate = RATE, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_24};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    static float frames[2 * N];
    for (int i = 0; i < N; i++) {
        const float s = sinf(2 * (float)PI * 440 * (float)i / RATE);
        frames[2 * i] = 0.5f * s, frames[2 * i + 1] = 0.3f * s;
    }
    CHECK(f && sf_writef_float(f, frames, N) == N && sf_close(f) == 0, "cannot write %s", path);
    float *x = NULL;
    int64_t n = 0;
    char err[512] = "";
    capture();
    const int rc = audio_read(path, 24000, &x, &n, err, sizeof err);
    const char *notes = captured();
    CHECK(rc == 0, "%s", err);
    CHECK(n == 24000, "%lld samples at 24 kHz from 1 s at 48 kHz", (long long)n);
    snprintf(expected, sizeof expected, "note: %s: 2 channels mixed down to mono (their mean)\n"
             "note: %s: resampled from 48000 Hz to 24000 Hz (libsoxr)\n", path, path);
    CHECK(strcmp(notes, expected) == 0, "\n  got      '%s'\n  expected '%s'", notes, expected);
    /* away from the ends (the resampler's filter rings there): 0.4 sin(440 Hz) in phase */
    double worst = 0, peak = 0;
    for (int64_t i = 1000; x && i < n - 1000; i++) {
        const double want = 0.4 * sin(2 * PI * 440 * (double)i / 24000);
        worst = fmax(worst, fabs(x[i] - want));
        peak = fmax(peak, fabs(x[i]));
    }
    CHECK(worst < 1e-3, "resampled tone off by %g", worst);
    CHECK(fabs(peak - 0.4) < 1e-3, "resampled tone's peak %g, not 0.4", peak);
    free(x);
}

static void test_wav_round_trips(void)
{
    enum { N = 1000 };
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = 1.5f * sinf((float)i * 0.05f) + (i == 7 ? -3.0f : 0.0f); /* beyond full scale at times */
    char path[128], err[512] = "";
    path_in_dir(path, sizeof path, "f32.wav");
    CHECK(audio_write(path, AUDIO_WAV_F32, x, N, 24000, err, sizeof err) == 0, "%s", err);
    float *y = NULL;
    int64_t n = 0;
    capture();
    CHECK(audio_read(path, 24000, &y, &n, err, sizeof err) == 0, "%s", err);
    CHECK(captured()[0] == '\0', "notes for a mono file at the codec's rate");
    CHECK(n == N && y && memcmp(x, y, sizeof x) == 0, "32-bit float WAV not read back exactly (%lld samples)",
          (long long)n);
    free(y);
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    CHECK(f && info.samplerate == 24000 && info.channels == 1 && info.format == (SF_FORMAT_WAV | SF_FORMAT_FLOAT),
          "f32 WAV header: %d Hz, %d channels, format %#x", info.samplerate, info.channels, info.format);
    if (f)
        sf_close(f);

    path_in_dir(path, sizeof path, "s16.wav");
    CHECK(audio_write(path, AUDIO_WAV_S16, x, N, 24000, err, sizeof err) == 0, "%s", err);
    CHECK(audio_read(path, 24000, &y, &n, err, sizeof err) == 0, "%s", err);
    int wrong = n == N ? 0 : -1;
    for (int i = 0; y && i < n; i++) {
        const float clipped = x[i] > 1 ? 1 : x[i] < -1 ? -1 : x[i];
        wrong += fabsf(y[i] - clipped) > 1.0f / 32767;
    }
    CHECK(wrong == 0, "%d samples of the 16-bit WAV differ from the clipped input", wrong);
    free(y);
    f = sf_open(path, SFM_READ, &info);
    CHECK(f && info.format == (SF_FORMAT_WAV | SF_FORMAT_PCM_16), "s16 WAV format %#x", info.format);
    if (f)
        sf_close(f);
}

static void test_npy(void)
{
    enum { N = 100 };
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i / N - 0.5f;
    char path[128], err[512] = "", expected[512];
    path_in_dir(path, sizeof path, "x.npy");
    CHECK(audio_write(path, AUDIO_NPY, x, N, 24000, err, sizeof err) == 0, "%s", err);
    struct npy_array a;
    CHECK(npy_read(path, &a, err, sizeof err) == 0 && a.dtype == NPY_F32 && a.rank == 3 && a.shape[0] == 1 &&
          a.shape[1] == 1 && a.shape[2] == N, "audio_write's .npy is not float32 [1, 1, %d]", N);
    npy_free(&a);
    const int64_t shapes[3][3] = {{1, 1, N}, {1, N}, {N}};
    for (int rank = 3; rank >= 1; rank--) {
        CHECK(npy_write(path, NPY_F32, rank, shapes[3 - rank], x, err, sizeof err) == 0, "%s", err);
        float *y = NULL;
        int64_t n = 0;
        CHECK(audio_read(path, 16000, &y, &n, err, sizeof err) == 0, "rank %d: %s", rank, err);
        CHECK(n == N && y && memcmp(x, y, sizeof x) == 0, "rank %d .npy not read back exactly", rank);
        free(y);
    }
    const int64_t stereo[2] = {2, N / 2};
    npy_write(path, NPY_F32, 2, stereo, x, err, sizeof err);
    float *y = NULL;
    int64_t n = 0;
    snprintf(expected, sizeof expected, "%s: audio must be float32 of shape [1, 1, N], [1, N] or [N] (one channel at "
             "the codec's rate); it is float32 of shape [2, 50]", path);
    CHECK(audio_read(path, 24000, &y, &n, err, sizeof err) == 1 && strcmp(err, expected) == 0 && !y,
          "\n  got      '%s'\n  expected '%s'", err, expected);
    const int32_t ints[3] = {1, 2, 3};
    const int64_t three[1] = {3};
    npy_write(path, NPY_I32, 1, three, ints, err, sizeof err);
    snprintf(expected, sizeof expected, "%s: audio must be float32 of shape [1, 1, N], [1, N] or [N] (one channel at "
             "the codec's rate); it is int32 of shape [3]", path);
    CHECK(audio_read(path, 24000, &y, &n, err, sizeof err) == 1 && strcmp(err, expected) == 0,
          "\n  got      '%s'\n  expected '%s'", err, expected);
    const int64_t empty[3] = {1, 1, 0};
    npy_write(path, NPY_F32, 3, empty, x, err, sizeof err);
    CHECK(audio_read(path, 24000, &y, &n, err, sizeof err) == 0 && n == 0 && y, "an empty .npy: %s", err);
    free(y);
    remove(path);
}

static void test_errors(void)
{
    char path[128], err[512] = "", expected[512];
    float *y = NULL;
    int64_t n = 0;
    path_in_dir(path, sizeof path, "missing.wav");
    snprintf(expected, sizeof expected, "%s: %s", path, strerror(ENOENT));
    CHECK(audio_read(path, 24000, &y, &n, err, sizeof err) == 1 && strcmp(err, expected) == 0,
          "\n  got      '%s'\n  expected '%s'", err, expected);
    path_in_dir(path, sizeof path, "noise.wav");
    FILE *f = fopen(path, "wb");
    CHECK(f && fputs("not audio at all, not even close", f) >= 0 && fclose(f) == 0, "cannot write %s", path);
    snprintf(expected, sizeof expected, "%s: cannot read audio: ", path);
    CHECK(audio_read(path, 24000, &y, &n, err, sizeof err) == 1 && strncmp(err, expected, strlen(expected)) == 0,
          "\n  got      '%s'\n  expected '%s...'", err, expected);
    remove(path);
    path_in_dir(path, sizeof path, "no/such/dir.wav");
    const float x[1] = {0};
    snprintf(expected, sizeof expected, "%s: cannot write: ", path);
    CHECK(audio_write(path, AUDIO_WAV_F32, x, 1, 24000, err, sizeof err) == 1 &&
          strncmp(err, expected, strlen(expected)) == 0, "\n  got      '%s'\n  expected '%s...'", err, expected);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(log_path, sizeof log_path, "%s/stderr.log", dir);
    CHECK(audio_has_sndfile(), "the runtime was built without libsndfile");
    test_stereo_48k();
    test_wav_round_trips();
    test_npy();
    test_errors();
    static const char *const files[] = {"stereo.wav", "f32.wav", "s16.wav", "stderr.log"};
    for (int i = 0; i < 4; i++) {
        char path[128];
        path_in_dir(path, sizeof path, files[i]);
        remove(path);
    }
    rmdir(dir);
    return check_finish();
}
