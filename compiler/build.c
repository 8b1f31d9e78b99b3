/* build.c: writes the generated sources and drives the C compiler and archiver, each run with an
 * argument vector (process.h), never through a shell. The runtime is found beside the compiler:
 * BUILD/kilnc uses BUILD/libkiln_rt.a and the headers in BUILD/../runtime; with --cc (another
 * compiler, a cross compiler) and for --emit lib the runtime's sources are compiled instead. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "build.h"
#include "process.h"

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

/* "DIR/NAME.ext" */
static void path_of(char *buf, size_t size, const char *dir, const char *name, const char *ext)
{
    snprintf(buf, size, "%s/%s%s", dir, name, ext);
}

/* The program's main(), C for either back end (the executable is linked by the C compiler anyway). */
static void write_main(FILE *out, const char *name)
{
    fprintf(out, "\n/* The runner CLI (info, forward, bench): built with --emit exe. */\n"
                 "int main(int argc, char **argv)\n{\n    return kiln_cli_main(&%s_desc, argc, argv);\n}\n", name);
}

/* NAME.h, and NAME.c (the C back end: with main() for an executable) or NAME.o (the LLVM back end's). */
static int write_sources(const struct ir_module *mod, const struct emit_options *eopt, const char *dir,
                         const char *name, bool with_main)
{
    const bool llvm = eopt->backend == BACKEND_LLVM;
    char h[PATH_MAX], c[PATH_MAX], k[PATH_MAX], htmp[PATH_MAX + 8], ctmp[PATH_MAX + 8], ktmp[PATH_MAX + 8];
    path_of(h, sizeof h, dir, name, ".h");
    path_of(c, sizeof c, dir, name, llvm ? "_main.c" : ".c");
    path_of(k, sizeof k, dir, name, ".o");
    snprintf(htmp, sizeof htmp, "%s.tmp", h);
    snprintf(ctmp, sizeof ctmp, "%s.tmp", c);
    snprintf(ktmp, sizeof ktmp, "%s.tmp", k);
    struct emit_options options = *eopt;
    if (llvm)
        options.llvm_object = ktmp;
    FILE *hf = fopen(htmp, "w"), *cf = fopen(ctmp, "w");
    if (!hf || !cf) {
        fprintf(stderr, "kilnc: cannot write into %s: %s\n", dir, strerror(errno));
        if (hf)
            fclose(hf), remove(htmp);
        if (cf)
            fclose(cf), remove(ctmp);
        return -1;
    }
    const bool emitted = emit_model(mod, &options, hf, cf);
    if (with_main && llvm)
        fprintf(cf, "/* %s_main.c: the program of model %s (its code is in %s.o). */\n#include \"%s.h\"\n", name, name, name,
                name);
    if (with_main)
        write_main(cf, name);
    bool ok = !ferror(hf) && !ferror(cf);
    ok = (fclose(hf) == 0) & ok;
    ok = (fclose(cf) == 0) & ok;
    if (!emitted) { /* (the LLVM back end said why) */
        remove(htmp), remove(ctmp), remove(ktmp);
        return -2;
    }
    if (llvm && !with_main) /* (nothing of C) */
        remove(ctmp);
    if (!ok || rename(htmp, h) || ((!llvm || with_main) && rename(ctmp, c)) || (llvm && rename(ktmp, k))) {
        fprintf(stderr, "kilnc: cannot write %s: %s\n", c, strerror(errno));
        remove(htmp), remove(ctmp), remove(ktmp);
        return -1;
    }
    return 0;
}

/* Copies src to dst (through dst.tmp and a rename). */
static int copy_file(const char *src, const char *dst)
{
    char tmp[3 * PATH_MAX], buf[1 << 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    FILE *in = fopen(src, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
    bool ok = out != NULL;
    for (size_t n; ok && (n = fread(buf, 1, sizeof buf, in)) > 0;)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    if (out)
        ok = (fclose(out) == 0) & ok;
    if (in)
        fclose(in);
    if (!ok || rename(tmp, dst)) {
        fprintf(stderr, "kilnc: cannot copy %s to %s: %s\n", src, dst, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* The target triple a C compiler builds for: `CC -dumpmachine` (x86_64-linux-gnu, aarch64-linux-gnu). */
static bool compiler_triple(const char *cc, char *triple, size_t size)
{
    struct arg_list a = {0};
    arg_push(&a, cc);
    arg_push(&a, "-dumpmachine");
    bool ok = spawn_first_line(&a, triple, size);
    arg_free(&a);
    return ok && triple[0];
}

/* Its architecture: the triple's first word (x86_64, aarch64). */
static bool compiler_arch(const char *cc, char *arch, size_t size)
{
    bool ok = compiler_triple(cc, arch, size);
    if (ok)
        arch[strcspn(arch, "-")] = '\0';
    return ok && arch[0];
}

/* Refuses, before anything is written, a compiler that is not there or builds for another
   architecture than the target's. Returns 0 or 1 (message printed). */
static int check_compiler(const struct emit_options *eopt, const struct build_options *bopt)
{
    const char *cc = bopt->cc ? bopt->cc : "cc";
    if (!program_exists(cc)) {
        if (strchr(cc, '/'))
            fprintf(stderr, "kilnc: error: C compiler '%s' is not an executable file; name another with --cc\n", cc);
        else
            fprintf(stderr, "kilnc: error: C compiler '%s' not found in PATH; install it or name another with --cc%s\n",
                    cc, cc[strcspn(cc, " \t")] ? " (--cc names one program; flags go in --cflags)" : "");
        return 1;
    }
    char arch[256];
    if (!compiler_arch(cc, arch, sizeof arch)) {
        fprintf(stderr, "kilnc: error: '%s -dumpmachine' failed: --cc wants a C compiler (gcc, clang or a cross "
                        "compiler such as aarch64-linux-gnu-gcc)\n", cc);
        return 1;
    }
    const struct target *t = eopt->target;
    const char *wants = eopt->simde ? "x86_64" : strcmp(t->name, "neon") == 0 ? "aarch64" : t->width > 1 ? "x86_64" : NULL;
    if (!wants || strcmp(arch, wants) == 0)
        return 0;
    if (eopt->simde)
        fprintf(stderr, "kilnc: error: --simde builds for an x86-64 host, and '%s' compiles for %s: drop --simde "
                        "(or --cc)\n", cc, arch);
    else if (strcmp(wants, "aarch64") == 0)
        fprintf(stderr, "kilnc: error: --target %s needs a C compiler for aarch64, and '%s' compiles for %s: add "
                        "--cc aarch64-linux-gnu-gcc (a cross compiler), %s\n", t->name, cc, arch,
                eopt->backend == BACKEND_LLVM ? "or --emit obj (LLVM's object needs no C compiler)"
                                              : "--simde (to run it on this host through SIMDe) or --emit c");
    else
        fprintf(stderr, "kilnc: error: --target %s needs a C compiler for x86_64, and '%s' compiles for %s: use "
                        "--target neon or scalar, or another --cc\n", t->name, cc, arch);
    return 1;
}

/* Whether the C compiler finds every one of libraries[count] ("libsndfile.so"): each a path
   `CC -print-file-name=LIB` names (a cross compiler sees the host's headers, not its libraries). */
static bool finds_libraries(const char *cc, const char *const *libraries, int count)
{
    bool found = true;
    for (int i = 0; i < count && found; i++) {
        struct arg_list a = {0};
        char flag[256], path[PATH_MAX];
        snprintf(flag, sizeof flag, "-print-file-name=%s", libraries[i]);
        arg_push(&a, cc);
        arg_push(&a, flag);
        found = spawn_first_line(&a, path, sizeof path) && path[0] == '/';
        arg_free(&a);
    }
    return found;
}

/* The libraries of the command line (runtime/cli/), each group linked where the C compiler finds
   all of its libraries, else its part of the command line compiled without it (the macro): a codec's
   audio files (.npy only without them), the server (libwebsockets, Ogg Opus) and the text of
   `converse` and `serve` (SentencePiece, through its C++ shim: token ids without it). */
struct cli_libraries {
    const char *macro, *link;
    const char *libraries[3];
    int count;
    bool system_only;                /* (only a system binary, LM and codec, links them) */
};
static const struct cli_libraries cli_library_groups[] = {
    {"KILN_NO_SNDFILE", "-lsndfile -lsoxr", {"libsndfile.so", "libsoxr.so"}, 2, false},
    {"KILN_NO_SERVER", "-lwebsockets -lopus -logg", {"libwebsockets.so", "libopus.so", "libogg.so"}, 3, true},
    {"KILN_NO_SENTENCEPIECE", "-lsentencepiece -lstdc++", {"libsentencepiece.so", "libstdc++.so"}, 2, true},
};
#define NUM_CLI_LIBRARY_GROUPS (int)(sizeof cli_library_groups / sizeof cli_library_groups[0])

/* The compiler and the flags every compile gets: no shell splits them, kilnc does (KILN_EXTRA_CFLAGS
   and --cflags, on whitespace). */
static void compile_command(struct arg_list *a, const struct build_options *bopt, const char *runtime_dir)
{
    arg_push(a, bopt->cc ? bopt->cc : "cc");
    /* (-ffp-contract=off: no compiler fuses a * b + c behind the kernels' back; where they want an
       FMA they say vf_fma, so every target rounds as its kernels read) */
    arg_push_words(a, "-std=c11 -O2 -ffp-contract=off -Wall -Wextra -fopenmp");
    arg_push_words(a, getenv("KILN_EXTRA_CFLAGS"));
    arg_push_words(a, bopt->cflags);
    arg_push(a, "-I");
    arg_push(a, runtime_dir);
}

/* Compiles every C source of runtime_dir/sub (sub "": the runtime itself; "cli": its command line,
   with the macros of the library groups not found) into objdir, all at once; their object paths go
   to objs. */
static bool compile_runtime(const struct build_options *bopt, const char *runtime_dir, const char *sub,
                            const bool *found, const char *objdir, struct arg_list *objs)
{
    char folder[2 * PATH_MAX];
    snprintf(folder, sizeof folder, "%s%s%s", runtime_dir, sub[0] ? "/" : "", sub);
    DIR *d = opendir(folder);
    if (!d) {
        fprintf(stderr, "kilnc: cannot read the runtime's sources in %s: %s\n", folder, strerror(errno));
        return false;
    }
    pid_t pids[64];
    int started = 0;
    bool ok = true;
    for (struct dirent *ent; ok && (ent = readdir(d));) {
        size_t len = strlen(ent->d_name);
        if (len < 3 || strcmp(ent->d_name + len - 2, ".c") != 0)
            continue;
        char src[3 * PATH_MAX], obj[3 * PATH_MAX];
        snprintf(src, sizeof src, "%s/%s", folder, ent->d_name);
        snprintf(obj, sizeof obj, "%s/%s%s%.*s.o", objdir, sub, sub[0] ? "_" : "", (int)len - 2, ent->d_name);
        struct arg_list a = {0};
        compile_command(&a, bopt, runtime_dir);
        if (sub[0]) {
            arg_push(&a, "-I");
            arg_push(&a, folder);
            for (int g = 0; g < NUM_CLI_LIBRARY_GROUPS; g++)
                if (!found[g]) {
                    arg_push(&a, "-D");
                    arg_push(&a, cli_library_groups[g].macro);
                }
        }
        arg_push(&a, "-c");
        arg_push(&a, src);
        arg_push(&a, "-o");
        arg_push(&a, obj);
        pid_t pid = started < 64 ? spawn_start(&a) : -1;
        arg_free(&a);
        if (pid > 0) {
            pids[started++] = pid;
            arg_push(objs, obj);
        }
        ok = pid > 0;
    }
    closedir(d);
    for (int i = 0; i < started; i++)
        ok = spawn_wait(pids[i]) & ok;
    return ok;
}

/* What a successful build wrote, on stdout. */
static void report(const struct build_unit *units, int count, const struct build_options *bopt, const char *dir)
{
    static const char *const kinds[] = {"C source", "an object", "a static library of the model and the runtime",
                                        "an executable"};
    static const char *const products[] = {"%s.c", "%s.o", "lib%s.a", "%s"};
    const char *name = units[0].mod->name;
    const struct emit_options *eopt = units[0].emit;
    char product[PATH_MAX];
    snprintf(product, sizeof product, products[bopt->emit], name);
    const bool llvm = eopt->backend == BACKEND_LLVM;
    if (count == 1)
        printf("kilnc: wrote %s/%s (%s for target %s%s%s), beside %s%s.h and kiln_rt.h\n", dir, product,
               kinds[bopt->emit], eopt->target->name, eopt->simde ? " through SIMDe" : "", llvm ? ", by LLVM" : "",
               bopt->emit == EMIT_C || llvm ? "" : "the C source, ", name);
    else
        printf("kilnc: wrote %s/%s (%s of language model %s%s and codec %s for target %s%s), beside %s%s.h, %s.h "
               "and kiln_rt.h\n", dir, bopt->emit == EMIT_C ? "" : product,
               bopt->emit == EMIT_C ? "C sources" : bopt->emit == EMIT_LIB ? "a static library" : "an executable", name,
               llvm ? " (by LLVM)" : "", units[1].mod->name, eopt->target->name, eopt->simde ? " through SIMDe" : "",
               bopt->emit == EMIT_C ? "" : "the C sources, ", name, units[1].mod->name);
}

/* The program's main() of a system (a language model and its codec) in DIR/NAME_main.c. */
static int write_system_main(const char *dir, const char *lm, const char *codec)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s_main.c", dir, lm);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "kilnc: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "/* %s_main.c: the program of language model %s and codec %s: converse, serve and both models'\n"
               " * commands (kiln_rt.h, kiln_system_cli_main). */\n#include \"%s.h\"\n#include \"%s.h\"\n\n"
               "int main(int argc, char **argv)\n{\n    return kiln_system_cli_main(&%s_desc, &%s_desc, argc, argv);\n}\n",
            lm, lm, codec, lm, codec, lm, codec);
    if ((fclose(f) != 0) | (rename(tmp, path) != 0)) {
        fprintf(stderr, "kilnc: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

int build_model(const struct build_unit *units, int count, const struct build_options *bopt)
{
    const char *name = units[0].mod->name, *dir = bopt->out_dir;
    const struct emit_options *eopt = units[0].emit;
    const bool llvm = eopt->backend == BACKEND_LLVM, system = count > 1;
    /* (the LLVM back end's object needs no C compiler; a library or program is linked by one) */
    const bool needs_cc = bopt->emit != EMIT_C && (!llvm || bopt->emit != EMIT_OBJ || bopt->cc);
    if (needs_cc && check_compiler(eopt, bopt))
        return 1;
    if (mkdir_p(dir)) {
        fprintf(stderr, "kilnc: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* The scalar target has no architecture of its own: the LLVM back end's object is for the C
       compiler's (a cross compiler's), so that the two link. */
    char triple[256];
    const bool cc_triple = bopt->cc && compiler_triple(bopt->cc, triple, sizeof triple);
    const bool with_main = !system && bopt->emit == EMIT_EXE;
    for (int u = 0; u < count; u++) {
        struct emit_options options = *units[u].emit;
        if (options.backend == BACKEND_LLVM && options.target->width == 1 && cc_triple)
            options.llvm_triple = triple;
        const int written = write_sources(units[u].mod, &options, dir, units[u].mod->name, with_main);
        if (written)
            return written == -2 ? 2 : 1;
    }
    if (system && bopt->emit != EMIT_LIB && write_system_main(dir, name, units[1].mod->name))
        return 1;
    char runtime_dir[PATH_MAX + 16], path[2 * PATH_MAX], out[PATH_MAX], tmp[3 * PATH_MAX], src[2 * PATH_MAX];
    char obj[BUILD_MAX_UNITS][PATH_MAX], objdir[PATH_MAX + 32] = "";
    snprintf(runtime_dir, sizeof runtime_dir, "%s/../runtime", self_dir());
    /* NAME.h includes kiln_rt.h (and it kiln_format.h): ship them beside, so DIR is all a program
       embedding the model needs. */
    static const char *const headers[] = {"kiln_rt.h", "kiln_format.h"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", runtime_dir, headers[i]);
        snprintf(path, sizeof path, "%s/%s", dir, headers[i]);
        if (copy_file(src, path))
            return 1;
    }
    if (bopt->emit == EMIT_C || (llvm && bopt->emit == EMIT_OBJ)) {
        report(units, count, bopt, dir);
        return 0;
    }
    /* (the program's main: in NAME.c, or NAME_main.c for LLVM's object and for a system) */
    path_of(src, sizeof src, dir, name, llvm || system ? "_main.c" : ".c");
    int status = 2, compiled = 0, linked_from = 0; /* (runtime_objs[linked_from..] are linked) */
    const bool exe = bopt->emit == EMIT_EXE;
    bool found[NUM_CLI_LIBRARY_GROUPS];
    struct arg_list cmd = {0}, runtime_objs = {0};

    /* 1. Each model, with the target's ISA flags (the LLVM back end wrote its object already). */
    for (int u = 0; u < count; u++, compiled++) {
        const struct emit_options *e = units[u].emit;
        char c_source[PATH_MAX];
        path_of(obj[u], sizeof obj[u], dir, units[u].mod->name, ".o");
        if (e->backend == BACKEND_LLVM)
            continue;
        path_of(c_source, sizeof c_source, dir, units[u].mod->name, ".c");
        snprintf(tmp, sizeof tmp, "%s.tmp", obj[u]);
        arg_free(&cmd);
        compile_command(&cmd, bopt, runtime_dir);
        arg_push_words(&cmd, target_isa(e->target, e->simde)->cflags);
        if (e->simde)
            arg_push(&cmd, "-Wno-psabi");
        arg_push(&cmd, "-c");
        arg_push(&cmd, c_source);
        arg_push(&cmd, "-o");
        arg_push(&cmd, tmp);
        if (!spawn_run(&cmd) || rename(tmp, obj[u])) {
            remove(tmp);
            goto failed;
        }
    }
    if (bopt->emit == EMIT_OBJ) {
        status = 0;
        goto failed;
    }
    /* 2. The runtime, without them (its CPU check must run on any CPU): the prebuilt libraries for
          the host compiler, else its sources compiled by the given one; an executable's command line
          with the libraries of cli_library_groups that are there (a system's all of them). A
          library holds the runtime without its command line: libc, libm and OpenMP only. */
    for (int g = 0; g < NUM_CLI_LIBRARY_GROUPS; g++) {
        const struct cli_libraries *lib = &cli_library_groups[g];
        found[g] = exe && (system || !lib->system_only) &&
                   finds_libraries(bopt->cc ? bopt->cc : "cc", lib->libraries, lib->count);
    }
    if (bopt->cc || bopt->emit == EMIT_LIB) {
        /* (the C++ of SentencePiece's shim is the prebuilt library's only) */
        found[NUM_CLI_LIBRARY_GROUPS - 1] = false;
        snprintf(objdir, sizeof objdir, "%s/.kiln-build-XXXXXX", dir);
        if (!mkdtemp(objdir)) {
            fprintf(stderr, "kilnc: cannot create a temporary folder in %s: %s\n", dir, strerror(errno));
            objdir[0] = '\0';
            status = 1;
            goto failed;
        }
        if ((exe && !compile_runtime(bopt, runtime_dir, "cli", found, objdir, &runtime_objs)) ||
            !compile_runtime(bopt, runtime_dir, "", found, objdir, &runtime_objs))
            goto failed;
        if (exe) { /* (an archive, as the prebuilt ones: the program links the members it uses) */
            snprintf(path, sizeof path, "%s/libkiln.a", objdir);
            arg_free(&cmd);
            arg_push(&cmd, "ar");
            arg_push(&cmd, "rcs");
            arg_push(&cmd, path);
            for (int i = 0; i < runtime_objs.count; i++)
                arg_push(&cmd, runtime_objs.argv[i]);
            if (!spawn_run(&cmd))
                goto failed;
            arg_push(&runtime_objs, path);
            linked_from = runtime_objs.count - 1;
        }
    } else {
        snprintf(path, sizeof path, "%s/libkiln_cli.a", self_dir());
        arg_push(&runtime_objs, path);
        snprintf(path, sizeof path, "%s/libkiln_rt.a", self_dir());
        arg_push(&runtime_objs, path);
    }
    /* 3. The archive or the binary. */
    arg_free(&cmd);
    if (bopt->emit == EMIT_LIB) {
        snprintf(out, sizeof out, "%s/lib%s.a", dir, name);
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        remove(tmp);
        arg_push(&cmd, "ar");
        arg_push(&cmd, "rcs");
        arg_push(&cmd, tmp);
    } else {
        path_of(out, sizeof out, dir, name, "");
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        compile_command(&cmd, bopt, runtime_dir);
    }
    for (int u = 0; u < count; u++)
        arg_push(&cmd, obj[u]);
    if ((llvm || system) && exe)
        arg_push(&cmd, src); /* (main) */
    for (int i = linked_from; i < runtime_objs.count; i++)
        arg_push(&cmd, runtime_objs.argv[i]);
    if (exe) {
        for (int g = 0; g < NUM_CLI_LIBRARY_GROUPS; g++)
            if (found[g])
                arg_push_words(&cmd, cli_library_groups[g].link);
        arg_push(&cmd, "-lm");
        arg_push(&cmd, "-o");
        arg_push(&cmd, tmp);
    }
    if (spawn_run(&cmd) && rename(tmp, out) == 0)
        status = 0;
    remove(tmp);
failed:
    if (bopt->emit != EMIT_OBJ) {
        for (int u = 0; u < compiled; u++)
            remove(obj[u]);
        if ((llvm || system) && exe)
            remove(src);
    }
    if (objdir[0]) {
        for (int i = 0; i < runtime_objs.count; i++) /* (the archive among them) */
            remove(runtime_objs.argv[i]);
        rmdir(objdir);
    }
    arg_free(&cmd);
    arg_free(&runtime_objs);
    if (status == 0)
        report(units, count, bopt, dir);
    else if (status == 2 && (bopt->cflags || getenv("KILN_EXTRA_CFLAGS")))
        fprintf(stderr, "kilnc: error: the C compiler failed on %s with the flags added by --cflags or "
                        "KILN_EXTRA_CFLAGS (run with KILN_VERBOSE=1 to see the commands)\n", src);
    else if (status == 2)
        fprintf(stderr, "kilnc: internal error: the C compiler failed on %s (run with KILN_VERBOSE=1 to see the "
                        "commands)\n", src);
    return status;
}
