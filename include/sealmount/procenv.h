/* SPDX-License-Identifier: MIT */
/*
 * procenv.h - what this process's environment hands on, and what it keeps (docs/threat-model.md,
 * Secrets).
 *
 * The sidecar's configuration arrives in the environment (EncfsSideCarArgs, Microsoft's
 * interface), and it may carry a SAS and a vault bearer token. Once parsed it is forgotten:
 * proc_env_forget() removes the variable and wipes its bytes where the kernel shows them
 * (/proc/PID/environ reads the process's original environment area, not environ[], so
 * unsetenv() alone would leave it readable there). Helper processes (fuse2fs, fusermount3,
 * mke2fs, e2fsck) never see this process's environment: they get proc_child_env() instead.
 */
#pragma once

/* The environment for helper processes: PATH - this process's, or "/usr/sbin:/usr/bin:/sbin:/bin"
 * without one (or when running set-id) - and nothing else. Built once, never changed (safe from
 * any thread); do not free. */
char *const *proc_child_env(void);

/* Wipe the value of every "NAME=..." entry of environ in place, then unsetenv(name). Call while
 * the process has one thread (environ is not locked). */
void proc_env_forget(const char *name);
