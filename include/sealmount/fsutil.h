/* SPDX-License-Identifier: MIT */
/*
 * fsutil.h - small file-system helpers shared by the CLI and the volume module.
 */
#pragma once

#include "sealmount/macros.h"

/*
 * Make path a private directory: create it with mode 0700 if missing; an existing one must be a
 * directory (not a symlink) owned by the effective uid, and is tightened to 0700. 0, -ENOTDIR
 * (not ours, or not a directory), or mkdir/lstat/chmod's -errno. The parent is not created.
 */
_must_check_ int fs_mkdir_private(const char *path) _nonnull_(1);
