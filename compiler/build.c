/* build.c: writes the generated sources and drives the C compiler and archiver. The runtime is
 * found beside the compiler: BUILD/kilnc uses BUILD/libkiln_rt.a and the headers in BUILD/../runtime; with
 * --cc (a cross compiler) the runtime's sources are compiled with that compiler instead. */
#define _XOPEN_SOURCE 700 /* realpath, mkdtemp */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "build.h"

#define CMD_MAX 16384

static char compiler_dir[PATH_MAX]; /* where kilnc lives (the build folder) */

static const char *self_dir(void)
{
    if (!compiler_dir[0]) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        snprintf(compiler_dir, sizeof compiler_dir, "%s", n > 0 ? dirname(exe) : ".");
    }
    return compiler_dir;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}

static int run(const char *cmd)
{
    if (getenv("KILN_VERBOSE"))
        fprintf(stderr, "kilnc: %s\n", cmd);
    int status = system(cmd);
    return status == 0 ? 0 : -1;
}

/* "DIR/NAME.ext" */
static void path_of(char *buf, size_t size, const char *dir, const char *name, const char *ext)
{
    snprintf(buf, size, "%s/%s%s", dir, name, ext);
}

static int write_sources(const struct ir_module *mod, const struct emit_options *eopt, const char *dir,
                         const char *name, bool with_main)
{
    char h[PATH_MAX], c[PATH_MAX], htmp[PATH_MAX + 8], ctmp[PATH_MAX + 8];
    path_of(h, sizeof h, dir, name, ".h");
    path_of(c, sizeof c, dir, name, ".c");
    snprintf(htmp, sizeof htmp, "%s.tmp", h);
    snprintf(ctmp, sizeof ctmp, "%s.tmp", c);
    FILE *hf = fopen(htmp, "w"), *cf = fopen(ctmp, "w");
    if (!hf || !cf) {
        fprintf(stderr, "kilnc: cannot write into %s: %s\n", dir, strerror(errno));
        if (hf)
            fclose(hf), remove(htmp);
        if (cf)
            fclose(cf), remove(ctmp);
        return -1;
    }
    emit_c(mod, eopt, hf, cf);
    if (with_main)
        fprintf(cf, "\n/* The runner CLI (info, forward, bench): built with --emit exe. */\n"
                    "int main(int argc, char **argv)\n{\n    return kiln_cli_main(&%s_desc, argc, argv);\n}\n", name);
    bool ok = !ferror(hf) && !ferror(cf);
    ok = (fclose(hf) == 0) & ok;
    ok = (fclose(cf) == 0) & ok;
    if (!ok || rename(htmp, h) || rename(ctmp, c)) {
        fprintf(stderr, "kilnc: cannot write %s: %s\n", c, strerror(errno));
        remove(htmp), remove(ctmp);
        return -1;
    }
    return 0;
}

/* Appends the runtime's .c files (for a cross compiler) to cmd. */
static void append_runtime_sources(char *cmd, size_t size, const char *runtime_dir)
{
    DIR *d = opendir(runtime_dir);
    if (!d)
        return;
    for (struct dirent *ent; (ent = readdir(d));) {
        size_t len = strlen(ent->d_name);
        if (len > 2 && strcmp(ent->d_name + len - 2, ".c") == 0)
            snprintf(cmd + strlen(cmd), size - strlen(cmd), " %s/%s", runtime_dir, ent->d_name);
    }
    closedir(d);
}

int build_model(const struct ir_module *mod, const struct emit_options *eopt, const struct build_options *bopt)
{
    const char *name = mod->model->name, *dir = bopt->out_dir;
    if (mkdir_p(dir)) {
        fprintf(stderr, "kilnc: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (write_sources(mod, eopt, dir, name, bopt->emit == EMIT_EXE))
        return 1;
    char runtime_dir[PATH_MAX + 16], cmd[2 * CMD_MAX], out[PATH_MAX], tmp[PATH_MAX + 8], src[PATH_MAX];
    snprintf(runtime_dir, sizeof runtime_dir, "%s/../runtime", self_dir());
    /* NAME.h includes kiln_rt.h: ship it beside, so DIR is all a program embedding the model needs. */
    snprintf(cmd, sizeof cmd, "cp '%s/kiln_rt.h' '%s/kiln_rt.h'", runtime_dir, dir);
    if (run(cmd)) {
        fprintf(stderr, "kilnc: cannot copy kiln_rt.h into %s\n", dir);
        return 1;
    }
    if (bopt->emit == EMIT_C)
        return 0;
    const char *cc = bopt->cc ? bopt->cc : "cc";
    const char *extra = getenv("KILN_EXTRA_CFLAGS") ? getenv("KILN_EXTRA_CFLAGS") : "";
    const char *isa = eopt->simde ? "-mavx2 -mfma -mf16c -Wno-psabi" : eopt->target->cflags;
    char base[CMD_MAX], obj[PATH_MAX], objdir[PATH_MAX + 32] = "", abs_rt[PATH_MAX];
    /* (-ffp-contract=off: no compiler fuses a * b + c behind the kernels' back; where they want an
       FMA they say vf_fma, so every target rounds as its kernels read) */
    snprintf(base, sizeof base, "%s -std=c11 -O2 -ffp-contract=off -Wall -Wextra -fopenmp %s -I'%s'", cc, extra,
             runtime_dir);
    path_of(src, sizeof src, dir, name, ".c");
    path_of(obj, sizeof obj, dir, name, ".o");
    int status = 2;

    /* 1. The model, with the target's ISA flags. */
    snprintf(tmp, sizeof tmp, "%s.tmp", obj);
    snprintf(cmd, sizeof cmd, "%s %s -c '%s' -o '%s'", base, isa, src, tmp);
    if (run(cmd) || rename(tmp, obj)) {
        remove(tmp);
        goto failed;
    }
    if (bopt->emit == EMIT_OBJ)
        return 0;
    /* 2. The runtime, without them (its CPU check must run on any CPU): the prebuilt library for the
          host compiler, else its sources compiled by the given one. */
    const char *runtime = NULL;
    char runtime_objs[PATH_MAX + 64];
    if (bopt->cc || bopt->emit == EMIT_LIB) {
        snprintf(objdir, sizeof objdir, "%s/.kiln-build-XXXXXX", dir);
        if (!mkdtemp(objdir) || !realpath(runtime_dir, abs_rt)) {
            fprintf(stderr, "kilnc: cannot create a temporary folder in %s: %s\n", dir, strerror(errno));
            objdir[0] = '\0';
            status = 1;
            goto failed;
        }
        snprintf(cmd, sizeof cmd, "cd '%s' && %s -c", objdir, base);
        append_runtime_sources(cmd, sizeof cmd, abs_rt);
        if (run(cmd))
            goto failed;
        snprintf(runtime_objs, sizeof runtime_objs, "'%s'/*.o", objdir);
        runtime = runtime_objs;
    } else {
        snprintf(runtime_objs, sizeof runtime_objs, "'%s/libkiln_rt.a'", self_dir());
        runtime = runtime_objs;
    }
    /* 3. The archive or the binary. */
    if (bopt->emit == EMIT_LIB) {
        snprintf(out, sizeof out, "%s/lib%s.a", dir, name);
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        remove(tmp);
        snprintf(cmd, sizeof cmd, "ar rcs '%s' '%s' %s", tmp, obj, runtime);
    } else {
        path_of(out, sizeof out, dir, name, "");
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        snprintf(cmd, sizeof cmd, "%s '%s' %s -lm -o '%s'", base, obj, runtime, tmp);
    }
    if (run(cmd) == 0 && rename(tmp, out) == 0)
        status = 0;
    remove(tmp);
failed:
    if (bopt->emit != EMIT_OBJ)
        remove(obj);
    if (objdir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", objdir);
        run(cmd);
    }
    if (status == 2)
        fprintf(stderr, "kilnc: internal error: the C compiler failed on %s (run with KILN_VERBOSE=1 to see the "
                        "commands)\n", src);
    return status;
}
