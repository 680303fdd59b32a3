/* SPDX-License-Identifier: MIT */
/* Target: sm_config_parse_json() and sm_config_parse_base64() (src/sidecar/config.c) on
 * arbitrary bytes: both forms the sidecar accepts (a --config file, EncfsSideCarArgs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/config.h"
#include "sealmount/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[SM_CONFIG_ERR_MAX];
	struct sm_config *c = NULL;
	char *s;

	log_set_level(LOG_LVL_ERROR);
	if (sm_config_parse_json(data, size, &c, err) == 0)
		sm_config_free(c);
	c = NULL;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (sm_config_parse_base64(s, &c, err) == 0)
		sm_config_free(c);
	free(s);
	return 0;
}
