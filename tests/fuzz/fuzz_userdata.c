/*
 * Fuzz target: user-data classification (gzip, "#wcs-agent", MIME
 * multi-part with base64 / quoted-printable parts); the overlays found are
 * then loaded by config as user-data layers, with instance facts.
 */
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/userdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tag_keys[] = {"Origin"};
    static const char *const tag_values[] = {"10.1.2.3"};
    struct config_facts facts = {
        "i-0abc1234def567890", "eu-west-1", "eu-west-1b", "c5.large", "10.0.1.23",
        "203.0.113.10",        1,           tag_keys,     tag_values, 1};
    struct userdata ud = {0};
    struct config_input in = {0};
    struct config_diag diag = {0};
    struct agent_config *cfg = NULL;
    char err[256];

    if (userdata_parse(data, size, &ud, err, sizeof(err)) != AGENT_OK)
        return 0;
    if (ud.n > 0) {
        in.overlays = ud.overlays;
        in.n_overlays = ud.n;
        in.facts = &facts;
        config_load_string("fuzz", "", 0, &in, &cfg, &diag);
        config_free(cfg);
        config_diag_cleanup(&diag);
    }
    userdata_cleanup(&ud);
    return 0;
}
