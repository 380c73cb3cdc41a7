/* sid.c: new session and stream ids (libuuid), apart so that readers need no libuuid. */
#include <uuid/uuid.h>

#include "psm.h"

void
psm_new_sid(char out[PSM_SID_LEN + 1])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}
