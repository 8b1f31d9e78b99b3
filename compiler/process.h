/* process.h: running programs without a shell (process.c). An argument vector is built word by word,
 * so no path, flag or file name is ever parsed by a shell: spaces, quotes and `;` in it stay in it. */
#ifndef KILN_PROCESS_H
#define KILN_PROCESS_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct arg_list {
    char **argv;                     /* NULL-terminated, each string owned */
    int count, capacity;
};

void arg_push(struct arg_list *a, const char *word);
/* Pushes each whitespace-separated word of words (NULL: none); nothing is quoted or expanded. */
void arg_push_words(struct arg_list *a, const char *words);
void arg_free(struct arg_list *a);

/* Starts argv[0] (searched in PATH), returns its pid or -1 (message printed). With KILN_VERBOSE
   set, the command is printed first. */
pid_t spawn_start(const struct arg_list *a);
/* Waits for pid; true when it exited with status 0. */
bool spawn_wait(pid_t pid);
/* spawn_start + spawn_wait. */
bool spawn_run(const struct arg_list *a);
/* Runs the command and returns its first line of standard output (stderr discarded), or false. */
bool spawn_first_line(const struct arg_list *a, char *line, size_t size);
/* Whether `program` names an executable file: a path with a '/', or a name found in PATH. */
bool program_exists(const char *program);
#endif
