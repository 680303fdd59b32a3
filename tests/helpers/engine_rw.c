/* SPDX-License-Identifier: MIT */
/*
 * engine_rw.c - write through the userspace engine, for tests/vm/test-vm-engine.sh ("the
 * engine's writes are readable by the kernel"):
 *
 *   engine_rw IMAGE KEY_FILE OFFSET IN_FILE
 *
 * unlocks IMAGE (a local file) with KEY_FILE's bytes, opens the luks layer read-write and writes
 * IN_FILE's bytes at plaintext byte OFFSET (any alignment: sub-sector writes are
 * read-modify-write), then flushes. Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/buf.h"
#include "sealmount/log.h"
#include "sealmount/luks.h"

static int fail(int r, const char *what)
{
	fprintf(stderr, "engine_rw: %s: %s\n", what, strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	_cleanup_(bdev_freep) struct bdev *lower = NULL, *dev = NULL;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_(secret_freep) struct secret *pass = NULL, *vk = NULL;
	struct luks2_policy pol;
	struct luks_options o = { .rw = true };
	struct buf kb, in;
	char *end;
	uint64_t off;
	int r;

	if (argc != 5)
		return fprintf(stderr, "usage: engine_rw IMAGE KEY_FILE OFFSET IN_FILE\n"), 2;
	secret_set_allow_unlocked(true); /* a test tool */
	off = strtoull(argv[3], &end, 10);
	if (*end)
		return fail(-EINVAL, "OFFSET");
	buf_init(&kb, 8u << 20);
	buf_init(&in, 1u << 30);
	r = buf_append_file(&kb, argv[2]);
	if (r >= 0)
		r = secret_new_copy(kb.data, kb.len, &pass);
	buf_done_wipe(&kb);
	if (r < 0)
		return fail(r, "key file");
	r = buf_append_file(&in, argv[4]);
	if (r < 0)
		return fail(r, "IN_FILE");
	luks2_policy_init(&pol);
	pol.require_integrity = false;
	r = bdev_file_open(argv[1], true, &lower);
	if (r >= 0)
		r = luks2_hdr_load(lower, &pol, &h, NULL);
	if (r < 0)
		return fail(r, "header");
	r = luks_unlock(lower, h, pass, &vk);
	if (r < 0)
		return fail(r, "unlock");
	r = luks_open(TAKE_PTR(lower), h, vk, &o, &dev);
	if (r < 0)
		return fail(r, "open");
	r = bdev_write(dev, in.data, in.len, off);
	if (r >= 0)
		r = bdev_flush(dev);
	buf_done(&in);
	return r < 0 ? fail(r, "write") : 0;
}
