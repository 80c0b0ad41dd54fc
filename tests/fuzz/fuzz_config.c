/*
 * Fuzz target: the config loader (inih through our line reader, every
 * validator, placeholder expansion) on an arbitrary config file text.
 * Inputs of odd length are loaded with instance facts (placeholders
 * expanded), even ones without (syntax only).  A valid config is dumped.
 */
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tag_keys[] = {"Origin", "Name", "TargetGroup"};
    static const char *const tag_values[] = {
        "10.1.2.3", "edge-1",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/wcs/6d0ecf831eec9f09"};
    struct config_facts facts = {"i-0abc1234def567890",
                                 "eu-west-1",
                                 "eu-west-1b",
                                 "c5.large",
                                 "10.0.1.23",
                                 NULL,
                                 1,
                                 tag_keys,
                                 tag_values,
                                 3};
    struct config_input in = {0};
    struct config_diag diag = {0};
    struct agent_config *cfg = NULL;
    struct buf out;

    if (size % 2 == 1)
        in.facts = &facts;
    if (config_load_string("fuzz", (const char *)data, size, &in, &cfg, &diag) == AGENT_OK) {
        buf_init(&out, 1024 * 1024);
        config_dump(cfg, &out);
        buf_reset(&out);
        config_dump_origins(cfg, &out);
        buf_cleanup(&out);
    }
    config_free(cfg);
    config_diag_cleanup(&diag);
    return 0;
}
