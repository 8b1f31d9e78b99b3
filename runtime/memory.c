/* memory.c: the memory guard. Before a model's weights are loaded or generated, what they and one
 * stream will take is compared with what this process can still get: the smaller of the kernel's
 * MemAvailable and the room left under its cgroup's memory.max, or KILN_MEM_AVAILABLE=BYTES (tests).
 * Too much is refused with both figures and the weight formats that would fit, instead of the
 * process being killed by the kernel's out-of-memory handler part way through. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kiln_rt.h"
#include "report.h" /* (kiln_human_bytes) */

/* The first number after `key` in the file, or -1 (a missing file, key or number; "max") */
static int64_t read_number(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int64_t value = -1;
    while (value < 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, strlen(key)) != 0)
            continue;
        char *end;
        long long n = strtoll(line + strlen(key), &end, 10);
        if (end != line + strlen(key) && n >= 0)
            value = n;
    }
    fclose(f);
    return value;
}

/* The room under this process's cgroup (v2): memory.max less memory.current, or -1 where none is set */
static int64_t cgroup_room(void)
{
    char line[512], dir[600];
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return -1;
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, "0::", 3) == 0;
    fclose(f);
    if (!found)
        return -1;
    line[strcspn(line, "\n")] = '\0';
    snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", strcmp(line + 3, "/") ? line + 3 : "");
    char max_path[640], current_path[640];
    snprintf(max_path, sizeof max_path, "%s/memory.max", dir);
    snprintf(current_path, sizeof current_path, "%s/memory.current", dir);
    const int64_t max = read_number(max_path, ""), current = read_number(current_path, "");
    if (max < 0)
        return -1;
    return current >= 0 && current < max ? max - current : 0;
}

/* What this process can still allocate, and where the figure comes from; -1 when unknown. */
static int64_t available(const char **source)
{
    const char *forced = getenv("KILN_MEM_AVAILABLE");
    if (forced && *forced) {
        *source = "KILN_MEM_AVAILABLE";
        return strtoll(forced, NULL, 10);
    }
    int64_t kib = read_number("/proc/meminfo", "MemAvailable:"), room = cgroup_room();
    int64_t bytes = kib >= 0 ? kib * 1024 : -1;
    *source = "MemAvailable";
    if (room >= 0 && (bytes < 0 || room < bytes))
        bytes = room, *source = "the cgroup's memory.max";
    return bytes;
}

int kiln_memory_guard(const struct kiln_model_desc *desc, int64_t staging_bytes, char *err, size_t errlen)
{
    const char *source;
    const int64_t room = available(&source);
    const int64_t weights = (int64_t)kiln_weights_bytes(desc), stream = (int64_t)desc->stream_bytes;
    if (room < 0 || weights + stream + staging_bytes <= room)
        return 0;
    char need[32], have[32], whole[32], stream_text[32], fits[256] = "";
    kiln_human_bytes(need, sizeof need, (double)weights);
    kiln_human_bytes(stream_text, sizeof stream_text, (double)stream);
    kiln_human_bytes(whole, sizeof whole, (double)(weights + stream + staging_bytes));
    kiln_human_bytes(have, sizeof have, (double)room);
    size_t n = 0;
    bool known = false; /* (whether the descriptor says what other formats would take) */
    for (int f = 0; f < KILN_NUM_FORMATS; f++) {
        known |= desc->weight_bytes_as[f] != 0;
        if (!desc->weight_bytes_as[f] || desc->weight_bytes_as[f] + stream > room || desc->weight_bytes_as[f] >= weights)
            continue;
        char size[32];
        kiln_human_bytes(size, sizeof size, (double)desc->weight_bytes_as[f]);
        n += (size_t)snprintf(fits + n, sizeof fits - n, "%s%s (%s)", n ? " or " : "", kiln_format_option(f), size);
        if (n >= sizeof fits)
            break;
    }
    snprintf(err, errlen,
             "not enough memory: the weights need %s in %s and a stream %s (%s in all), and %s is available (%s)%s%s%s%s",
             need, desc->weight_format, stream_text, whole, have, source, known ? "; " : "",
             !known ? "" : n ? "built with kilnc --weights " : "no weight format kiln builds would fit", n ? fits : "",
             n ? " they would fit" : "");
    return 1;
}
