/* audio.c: a codec's audio files (audio.h). A file that starts as a .npy does is read by npy.c;
 * anything else by libsndfile (its samples as floats in [-1, 1], whatever their encoding), the
 * channels averaged into one and the rate converted by libsoxr at its high quality. */
#define _POSIX_C_SOURCE 200809L /* getpid, with any compiler's -std=c11 */
#include "audio.h"
#include "npy.h"
#include "report.h"
#include "safetensors.h" /* (st_format_shape) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* (a cross compiler sees the host's headers but has no library of them to link: kilnc then
   compiles the runtime with KILN_NO_SNDFILE) */
#if !defined(KILN_NO_SNDFILE) && defined(__has_include)
#if __has_include(<sndfile.h>) && __has_include(<soxr.h>)
#define HAVE_SNDFILE 1
#endif
#endif
#ifdef HAVE_SNDFILE
#include <sndfile.h>
#include <soxr.h>
#endif

#define MAX_SAMPLES ((int64_t)1 << 35) /* 16 days at 24 kHz: a file claiming more is refused */

static int is_npy(const char *path)
{
    char magic[6] = {0};
    FILE *f = fopen(path, "rb");
    const int yes = f && fread(magic, 1, sizeof magic, f) == sizeof magic && memcmp(magic, "\x93NUMPY", 6) == 0;
    if (f)
        fclose(f);
    return yes;
}

/* float32 [1, 1, N], [1, N] or [N], taken to be at the codec's rate */
static int read_npy(const char *path, float **samples, int64_t *n, char *err, size_t errlen)
{
    struct npy_array a;
    if (npy_read(path, &a, err, errlen))
        return 1;
    const int mono = (a.rank == 1) || (a.rank == 2 && a.shape[0] == 1) || (a.rank == 3 && a.shape[0] == 1 && a.shape[1] == 1);
    if (a.dtype != NPY_F32 || !mono) {
        static const char *const dtypes[] = {"int32", "int64", "float32", "uint8"};
        char shape[160];
        st_format_shape(shape, sizeof shape, a.rank, a.shape);
        kiln_report(err, errlen, path, "audio must be float32 of shape [1, 1, N], [1, N] or [N] (one channel at the "
                    "codec's rate); it is %s of shape %s", dtypes[a.dtype], shape);
        npy_free(&a);
        return 1;
    }
    *samples = a.data;               /* (npy_read allocated count floats: handed over) */
    *n = (int64_t)a.count;
    if (!*samples) /* (N = 0: still an array to free) */
        *samples = malloc(1);
    return *samples ? 0 : kiln_report(err, errlen, path, "out of memory");
}

#ifdef HAVE_SNDFILE
int audio_has_sndfile(void) { return 1; }

/* x[n] at in_rate -> *out at out_rate (*out_n samples), libsoxr's high quality */
static int resample(const char *path, const float *x, int64_t n, int in_rate, int out_rate, float **out,
                    int64_t *out_n, char *err, size_t errlen)
{
    const size_t olen = (size_t)((double)n * out_rate / in_rate + 0.5);
    *out = malloc(olen * sizeof **out + 1);
    if (!*out)
        return kiln_report(err, errlen, path, "out of memory resampling %lld samples", (long long)n);
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
    size_t done = 0;
    soxr_error_t problem = soxr_oneshot(in_rate, out_rate, 1, x, (size_t)n, NULL, *out, olen, &done, &io, &quality, NULL);
    if (problem) {
        free(*out);
        *out = NULL;
        return kiln_report(err, errlen, path, "cannot resample from %d Hz to %d Hz: %s", in_rate, out_rate, problem);
    }
    *out_n = (int64_t)done;
    return 0;
}

/* Anything libsndfile reads: frames of `channels` interleaved floats, averaged, resampled */
static int read_sndfile(const char *path, int sample_rate, float **samples, int64_t *n, char *err, size_t errlen)
{
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f)
        return kiln_report(err, errlen, path, "cannot read audio: %s", sf_strerror(NULL));
    const int64_t frames = info.frames, channels = info.channels;
    if (channels < 1 || info.samplerate < 1 || frames < 0 || frames > MAX_SAMPLES / channels) {
        sf_close(f);
        return kiln_report(err, errlen, path, "cannot read audio: %lld frames of %d channels at %d Hz",
                           (long long)frames, info.channels, info.samplerate);
    }
    float *interleaved = malloc((size_t)(frames * channels) * sizeof *interleaved + 1);
    float *mono = channels > 1 ? malloc((size_t)frames * sizeof *mono + 1) : interleaved;
    if (!interleaved || !mono) {
        sf_close(f);
        free(interleaved);
        free(mono);
        return kiln_report(err, errlen, path, "out of memory for %lld samples", (long long)(frames * channels));
    }
    const sf_count_t got = sf_readf_float(f, interleaved, frames);
    sf_close(f);
    if (got != frames) {
        if (mono != interleaved)
            free(mono);
        free(interleaved);
        return kiln_report(err, errlen, path, "cannot read audio: %lld of its %lld frames read", (long long)got,
                           (long long)frames);
    }
    if (channels > 1) {
        for (int64_t t = 0; t < frames; t++) {
            float sum = 0.0f;
            for (int64_t c = 0; c < channels; c++)
                sum += interleaved[t * channels + c];
            mono[t] = sum / (float)channels;
        }
        free(interleaved);
        fprintf(stderr, "note: %s: %lld channels mixed down to mono (their mean)\n", path, (long long)channels);
    }
    if (info.samplerate == sample_rate) {
        *samples = mono, *n = frames;
        return 0;
    }
    const int rc = resample(path, mono, frames, info.samplerate, sample_rate, samples, n, err, errlen);
    free(mono);
    if (!rc)
        fprintf(stderr, "note: %s: resampled from %d Hz to %d Hz (libsoxr)\n", path, info.samplerate, sample_rate);
    return rc;
}

/* A WAV of x[n] at path, through a temporary file renamed into place */
static int write_wav(const char *path, enum audio_format format, const float *x, int64_t n, int sample_rate,
                     char *err, size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    SF_INFO info = {.samplerate = sample_rate, .channels = 1,
                    .format = SF_FORMAT_WAV | (format == AUDIO_WAV_S16 ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT)};
    SNDFILE *f = sf_open(tmp, SFM_WRITE, &info);
    if (!f)
        return kiln_report(err, errlen, path, "cannot write: %s", sf_strerror(NULL));
    sf_command(f, SFC_SET_CLIPPING, NULL, SF_TRUE); /* (16-bit: past full scale clips, never wraps) */
    const sf_count_t wrote = sf_writef_float(f, x, n);
    char problem[256];
    snprintf(problem, sizeof problem, "%s", sf_strerror(f));
    const int closed = sf_close(f) == 0;
    if (wrote != n || !closed || rename(tmp, path) != 0) {
        const int e = errno;
        remove(tmp);
        return kiln_report(err, errlen, path, "cannot write: %s", wrote != n ? problem : strerror(e));
    }
    return 0;
}
#else
int audio_has_sndfile(void) { return 0; }

static int read_sndfile(const char *path, int sample_rate, float **samples, int64_t *n, char *err, size_t errlen)
{
    (void)sample_rate, (void)samples, (void)n;
    return kiln_report(err, errlen, path, "not a .npy file, and this binary was built without libsndfile: it reads "
                       "float32 .npy audio only");
}

static int write_wav(const char *path, enum audio_format format, const float *x, int64_t n, int sample_rate,
                     char *err, size_t errlen)
{
    (void)format, (void)x, (void)n, (void)sample_rate;
    return kiln_report(err, errlen, path, "this binary was built without libsndfile: it writes .npy audio only");
}
#endif

int audio_read(const char *path, int sample_rate, float **samples, int64_t *n, char *err, size_t errlen)
{
    *samples = NULL, *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return kiln_report(err, errlen, path, "%s", strerror(errno));
    fclose(f);
    return is_npy(path) ? read_npy(path, samples, n, err, errlen)
                        : read_sndfile(path, sample_rate, samples, n, err, errlen);
}

int audio_write(const char *path, enum audio_format format, const float *x, int64_t n, int sample_rate, char *err,
                size_t errlen)
{
    if (format != AUDIO_NPY)
        return write_wav(path, format, x, n, sample_rate, err, errlen);
    const int64_t shape[3] = {1, 1, n};
    return npy_write(path, NPY_F32, 3, shape, x, err, errlen);
}
