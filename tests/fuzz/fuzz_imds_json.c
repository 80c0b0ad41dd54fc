/*
 * Fuzz target: the IMDS JSON parsers (identity document and role
 * credentials).  Whatever is accepted must hold only well-formed values;
 * whatever is refused must leave the outputs untouched.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/imds.h"
#include "core/log.h"
#include "core/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    const char *json = (const char *)data;
    struct imds_facts f;
    struct imds_role_creds rc;
    char *keep;
    size_t i;

    /* The parsers log why they refuse; keep the fuzzer's output clean. */
    if (quiet == -1) {
        quiet = open("/dev/null", O_WRONLY);
        if (quiet != -1)
            log_set_fd(quiet);
    }

    memset(&f, 0, sizeof(f));
    if (imds_parse_identity(json, size, &f) == AGENT_OK) {
        if ((f.region != NULL && !str_is_region(f.region)) ||
            (f.instance_id != NULL && !str_is_instance_id(f.instance_id)) ||
            (f.local_ipv4 != NULL && !str_is_ipv4(f.local_ipv4)))
            abort();
        /* A second pass fills nothing that is already set. */
        keep = f.region;
        if (imds_parse_identity(json, size, &f) != AGENT_OK || f.region != keep)
            abort();
    } else if (f.region != NULL || f.account_id != NULL || f.image_id != NULL ||
               f.instance_id != NULL || f.instance_type != NULL || f.availability_zone != NULL ||
               f.local_ipv4 != NULL) {
        abort();
    }
    imds_facts_cleanup(&f);

    memset(&rc, 0, sizeof(rc));
    if (imds_parse_role_creds(json, size, &rc) == AGENT_OK) {
        const char *v[3] = {rc.access_key_id, rc.secret_access_key, rc.token};

        for (i = 0; i < 3; i++) {
            const char *p;

            if (v[i] == NULL || v[i][0] == '\0')
                abort();
            for (p = v[i]; *p != '\0'; p++) {
                if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
                    abort();
            }
        }
    } else if (rc.access_key_id != NULL || rc.secret_access_key != NULL || rc.token != NULL ||
               rc.expiration != 0) {
        abort();
    }
    imds_role_creds_cleanup(&rc);
    return 0;
}
