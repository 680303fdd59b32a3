/* SPDX-License-Identifier: MIT */
/*
 * procenv.c - the helper processes' environment and forgetting a variable (procenv.h).
 */
#define _GNU_SOURCE
#include "sealmount/procenv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

static char *child_env[2] = { (char *)DEFAULT_PATH, NULL };
static pthread_once_t child_env_once = PTHREAD_ONCE_INIT;

static void build_child_env(void)
{
	/* secure_getenv: PATH only decides where helpers are found; a set-id caller's is not
	 * trusted (the default is used). */
	const char *path = secure_getenv("PATH");
	char *entry;

	if (!path || !*path || asprintf(&entry, "PATH=%s", path) < 0)
		return; /* the default */
	child_env[0] = entry; /* kept for the life of the process */
}

char *const *proc_child_env(void)
{
	(void)pthread_once(&child_env_once, build_child_env);
	return child_env;
}

void proc_env_forget(const char *name)
{
	size_t n = strlen(name);

	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			explicit_bzero(*e + n + 1, strlen(*e + n + 1));
	(void)unsetenv(name);
}
