/* SPDX-License-Identifier: MIT */
/*
 * verity_dm - drive the kernel engine's dm-verity piece (verity_dm.h) for tests/vm/test-vm-verity.sh:
 *
 *   verity_dm copy DEVICE NAME TRUST OUT      activate, copy /dev/mapper/NAME to OUT, deactivate
 *   verity_dm run DEVICE NAME TRUST -- CMD... activate, run CMD with VERITY_DEV=/dev/mapper/NAME,
 *                                             deactivate; CMD's exit status
 *   TRUST: --root-hash HEX | --publisher-key FILE [--min-version N]
 *
 * DEVICE is a block device (a loop device) holding a whole sealed image; the seal is found with
 * verity_locate() and, with a publisher key, the root hash taken from the verified signature
 * block (verity_signed_root), as the pipeline does. Exit codes: 0 ok; 2 the seal or the
 * activation was refused (message on stderr); 3 a read of the device failed (the byte offset
 * is printed: "EIO at byte N"); 1 anything else.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sealmount/log.h"
#include "sealmount/verity_dm.h"
#include "sealmount/verity_sig.h"

#define CHUNK (1u << 20)

extern char **environ;

struct args {
	const char *mode, *device, *name, *root_hex, *key, *out;
	uint64_t min_version;
	char **cmd;
};

static int usage(void)
{
	fprintf(stderr, "usage: verity_dm copy|run DEVICE NAME (--root-hash HEX | --publisher-key "
			"FILE [--min-version N]) (OUT | -- CMD...)\n");
	return 1;
}

static int parse(int argc, char **argv, struct args *a)
{
	int i = 4;

	if (argc < 6)
		return -1;
	a->mode = argv[1], a->device = argv[2], a->name = argv[3];
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2]; i += 2) {
		if (streq(argv[i], "--root-hash"))
			a->root_hex = argv[i + 1];
		else if (streq(argv[i], "--publisher-key"))
			a->key = argv[i + 1];
		else if (streq(argv[i], "--min-version"))
			a->min_version = strtoull(argv[i + 1], NULL, 10);
		else
			return -1;
	}
	if (!a->root_hex == !a->key || i >= argc)
		return -1;
	if (streq(a->mode, "copy") && i + 1 == argc)
		a->out = argv[i];
	else if (streq(a->mode, "run") && streq(argv[i], "--") && i + 1 < argc)
		a->cmd = argv + i + 1;
	else
		return -1;
	return 0;
}

/* The image's seal and the trusted root hash. */
static int trust(const struct args *a, struct verity_image *img, uint8_t root[32])
{
	struct verity_pubkey *k = NULL;
	struct bdev *dev = NULL;
	struct diag d = { 0 };
	int r;

	r = bdev_file_open(a->device, false, &dev);
	if (r == 0)
		r = verity_locate(dev, img, &d);
	if (r == 0 && a->root_hex)
		r = verity_root_parse(a->root_hex, root);
	if (r == 0 && a->key) {
		r = verity_pubkey_load(a->key, &k, &d);
		if (r == 0)
			r = verity_signed_root(dev, img, k, a->min_version, root, NULL, &d);
		verity_pubkey_free(k);
	}
	bdev_free(dev);
	if (r < 0)
		fprintf(stderr, "verity_dm: %s: %s (%s)\n", a->device, diag_text(&d, "refused"),
			strerror(-r));
	return r;
}

static int copy(const char *dev, const char *out, uint64_t size)
{
	int in = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	void *buf = NULL;
	int rc = 0;

	if (in < 0 || fd < 0 || posix_memalign(&buf, 4096, CHUNK) != 0)
		return 1;
	for (uint64_t off = 0; off < size && rc == 0; off += CHUNK) {
		size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		ssize_t got = pread(in, buf, n, (off_t)off);

		if (got < 0 && errno == EIO) {
			/* find the block: 4 KiB reads from here */
			for (uint64_t b = off; b < off + n; b += 4096)
				if (pread(in, buf, 4096, (off_t)b) < 0) {
					printf("EIO at byte %" PRIu64 "\n", b);
					break;
				}
			rc = 3;
		} else if (got != (ssize_t)n || write(fd, buf, n) != (ssize_t)n) {
			rc = 1;
		}
	}
	free(buf);
	close(in);
	close(fd);
	return rc;
}

static int run(char **cmd, const char *dev)
{
	pid_t pid;
	int st;

	if (setenv("VERITY_DEV", dev, 1) < 0 ||
	    posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ))
		return 1;
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct verity_image img;
	struct verity_dm *v = NULL;
	struct diag d = { 0 };
	uint8_t root[32];
	int r, rc;

	if (parse(argc, argv, &a) < 0)
		return usage();
	if (trust(&a, &img, root) < 0)
		return 2;
	r = verity_dm_activate(
		&(struct verity_dm_args){
			.name = a.name, .device = a.device, .img = &img, .root_hash = root },
		&v, &d);
	if (r < 0) {
		fprintf(stderr, "verity_dm: activation refused: %s (%s)\n", diag_text(&d, "?"),
			strerror(-r));
		return 2;
	}
	rc = a.out ? copy(verity_dm_device(v), a.out, img.g.data_size) :
		     run(a.cmd, verity_dm_device(v));
	printf("corrupted: %s\n", verity_dm_corrupted(v) ? "yes" : "no");
	if (verity_dm_deactivate(v) < 0 && rc == 0)
		rc = 1;
	return rc;
}
