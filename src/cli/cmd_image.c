/* SPDX-License-Identifier: MIT */
/*
 * cmd_image.c - `sealmount image SUBCOMMAND`: dispatch to the subcommands, each with its own
 * options and help (inspect, create, upload, decrypt).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command *const subcommands[] = {
	&cmd_image_inspect, &cmd_image_create, &cmd_image_upload,
	&cmd_image_decrypt, &cmd_image_seal,   &cmd_image_sign,
};

static int run(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("image", "missing subcommand (%s)",
				       "inspect, create, upload, decrypt, seal or sign");
	if (streq(argv[1], "--help") || streq(argv[1], "-h"))
		return cli_help(&cmd_image);
	for (size_t i = 0; i < ELEMENTSOF(subcommands); i++)
		if (streq(argv[1], subcommands[i]->name))
			return subcommands[i]->run(argc - 1, argv + 1);
	return cli_usage_error("image",
			       "unknown subcommand '%s' (inspect, create, upload, decrypt, "
			       "seal or sign)",
			       argv[1]);
}

const struct cli_command cmd_image = {
	.name = "image",
	.summary = "Create, seal, sign, inspect, decrypt or upload an encrypted LUKS2 image",
	.usage =
		"Usage: sealmount image SUBCOMMAND [OPTIONS]\n"
		"\n"
		"  sealmount image inspect IMAGE_OR_URL  validate the LUKS2 header, show it\n"
		"  sealmount image create -o IMAGE ...   build an encrypted image from a\n"
		"                                        directory (no root needed)\n"
		"  sealmount image upload IMAGE URL      upload an image as a page or block blob\n"
		"  sealmount image decrypt IMAGE ...     write the verified plaintext of an image\n"
		"  sealmount image seal IMAGE            append a dm-verity tree, print its root\n"
		"  sealmount image sign IMAGE ...        sign a sealed image's root hash\n"
		"\n"
		"`sealmount image SUBCOMMAND --help` shows the options of one subcommand.\n",
	.run = run,
};
