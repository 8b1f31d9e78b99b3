/* process.c: argument vectors and posix_spawnp (process.h). kilnc runs the C compiler, the archiver
 * and nothing else through here; there is no system() or popen() in kilnc. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "process.h"

extern char **environ;

static void *checked(void *p)
{
    if (!p) {
        fprintf(stderr, "kilnc: out of memory\n");
        exit(2);
    }
    return p;
}

void arg_push(struct arg_list *a, const char *word)
{
    if (a->count + 2 > a->capacity) {
        a->capacity = a->capacity ? 2 * a->capacity : 16;
        a->argv = checked(realloc(a->argv, (size_t)a->capacity * sizeof *a->argv));
    }
    a->argv[a->count++] = checked(strdup(word));
    a->argv[a->count] = NULL;
}

void arg_push_words(struct arg_list *a, const char *words)
{
    static const char space[] = " \t\n\r\f\v";
    for (const char *p = words ? words + strspn(words, space) : ""; *p; p += strspn(p, space)) {
        size_t n = strcspn(p, space);
        char *word = checked(strndup(p, n));
        arg_push(a, word);
        free(word);
        p += n;
    }
}

void arg_free(struct arg_list *a)
{
    for (int i = 0; i < a->count; i++)
        free(a->argv[i]);
    free(a->argv);
    *a = (struct arg_list){0};
}

/* The command as a reader could paste it into a shell: words with anything but [A-Za-z0-9_./=+,:-]
   in single quotes. Only printed, never run. */
static void print_command(const struct arg_list *a)
{
    fputs("kilnc:", stderr);
    for (int i = 0; i < a->count; i++) {
        const char *w = a->argv[i];
        if (*w && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=+,:-") == strlen(w)) {
            fprintf(stderr, " %s", w);
            continue;
        }
        fputs(" '", stderr);
        for (; *w; w++)
            fputs(*w == '\'' ? "'\\''" : (char[2]){*w, 0}, stderr);
        fputc('\'', stderr);
    }
    fputc('\n', stderr);
}

static pid_t start(const struct arg_list *a, posix_spawn_file_actions_t *actions)
{
    if (getenv("KILN_VERBOSE"))
        print_command(a);
    pid_t pid;
    int err = posix_spawnp(&pid, a->argv[0], actions, NULL, a->argv, environ);
    if (err) {
        fprintf(stderr, "kilnc: cannot run %s: %s\n", a->argv[0], strerror(err));
        return -1;
    }
    return pid;
}

pid_t spawn_start(const struct arg_list *a)
{
    return start(a, NULL);
}

bool spawn_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool spawn_run(const struct arg_list *a)
{
    pid_t pid = spawn_start(a);
    return pid > 0 && spawn_wait(pid);
}

bool spawn_first_line(const struct arg_list *a, char *line, size_t size)
{
    int fd[2];
    if (pipe(fd))
        return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fd[1], 1);
    posix_spawn_file_actions_addclose(&actions, fd[0]);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = start(a, &actions);
    posix_spawn_file_actions_destroy(&actions);
    close(fd[1]);
    FILE *out = fdopen(fd[0], "r");
    bool got = out && fgets(line, (int)size, out);
    if (out) {
        while (fgetc(out) != EOF) /* drain, so that the child never blocks on a full pipe */
            ;
        fclose(out);
    } else {
        close(fd[0]);
    }
    bool ok = pid > 0 && spawn_wait(pid) && got;
    if (ok)
        line[strcspn(line, "\n")] = '\0';
    return ok;
}

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

bool program_exists(const char *program)
{
    if (!*program)
        return false;
    if (strchr(program, '/'))
        return executable(program);
    const char *path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
    for (const char *p = path;; p++) {
        size_t n = strcspn(p, ":");
        char candidate[4096];
        if (snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, n ? p : ".", program) < (int)sizeof candidate &&
            executable(candidate))
            return true;
        p += n;
        if (!*p)
            return false;
    }
}
