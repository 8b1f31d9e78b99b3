/* audio.h: a codec's audio files (audio.c): mono float samples in [-1, 1] at the codec's rate.
 * .npy float32 [1, 1, N] ([N] and [1, N] read too) at that rate; anything libsndfile reads (.wav,
 * .flac, .ogg, ...) mixed down to mono and resampled (libsoxr) to it, each said on stderr; .wav
 * written in 32-bit float or 16-bit PCM. A binary built without libsndfile (a cross compiler
 * without it: KILN_NO_SNDFILE) reads and writes .npy only. Every error names the file. */
#ifndef KILN_AUDIO_H
#define KILN_AUDIO_H
#include <stddef.h>
#include <stdint.h>

/* How audio_write stores samples */
enum audio_format {
    AUDIO_NPY,                       /* float32 [1, 1, N] */
    AUDIO_WAV_F32,                   /* WAV, 32-bit float */
    AUDIO_WAV_S16,                   /* WAV, 16-bit PCM (clipped to [-1, 1]) */
};

/* The samples of path, mono at sample_rate, in a new array (*samples, *n of them; free it).
   Returns 0, or 1 with "PATH: message" in err. */
int audio_read(const char *path, int sample_rate, float **samples, int64_t *n, char *err, size_t errlen);
/* Writes x[n] to path as `format` (a WAV records sample_rate). Returns 0, or 1 with err. */
int audio_write(const char *path, enum audio_format format, const float *x, int64_t n, int sample_rate, char *err,
                size_t errlen);
/* Whether this binary reads and writes audio through libsndfile (else .npy only) */
int audio_has_sndfile(void);
#endif
