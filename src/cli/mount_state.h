/* SPDX-License-Identifier: MIT */
/*
 * mount_state.h - where `sealmount mount` leaves its crash records (pipeline.h) and what the
 * commands around it share (mount_state.c). Functions return 0 or -errno.
 */
#pragma once

#include <stddef.h>

#include "sealmount/macros.h"

struct pl_record;

/* The absolute form of mount_point: realpath of its parent + its last component (the last
 * component is a symlink we create, so it is not resolved). *ret malloc'd. */
_must_check_ int mount_state_abspath(const char *mount_point, char **ret) _nonnull_(1, 2);
/* sealmount's private directory for this user: /run/sealmount for root, else
 * $XDG_RUNTIME_DIR/sealmount (when set and absolute) or /tmp/sealmount-UID. Callers create it
 * 0700 and refuse one owned by someone else. -ENAMETOOLONG when it does not fit buf. */
_must_check_ int mount_state_base(char *buf, size_t len) _nonnull_(1);
/* <base>/mounts: the crash records. */
_must_check_ int mount_state_dir(char *buf, size_t len) _nonnull_(1);
/* Clean up after a record's dead owner, with a line per step; logs. */
_must_check_ int mount_state_recover(struct pl_record *rec) _nonnull_(1);
