/* SPDX-License-Identifier: MIT */
/*
 * mount_state.h - the state files that connect `sealmount umount` with the `sealmount mount`
 * process serving a mount point (mount_state.c). Functions return 0 or -errno.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "sealmount/macros.h"

/* The absolute form of mount_point: realpath of its parent + its last component (the last
 * component is a symlink we create, so it is not resolved). *ret malloc'd. */
_must_check_ int mount_state_abspath(const char *mount_point, char **ret) _nonnull_(1, 2);
/* sealmount's private directory for this user: /run/sealmount for root, else
 * $XDG_RUNTIME_DIR/sealmount (when set and absolute) or /tmp/sealmount-UID. Callers create it
 * 0700 and refuse one owned by someone else. -ENAMETOOLONG when it does not fit buf. */
_must_check_ int mount_state_base(char *buf, size_t len) _nonnull_(1);
/* Record this process as the server of abs. */
_must_check_ int mount_state_write(const char *abs) _nonnull_(1);
void mount_state_remove(const char *abs) _nonnull_(1);
/* The live process serving abs; -ENOENT when there is none (a stale file is removed). */
_must_check_ int mount_state_find(const char *abs, pid_t *ret) _nonnull_(1, 2);
