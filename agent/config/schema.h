/*
 * schema.h: the key table of agent.ini (config.def) and the value checks;
 * internal to config/ (config.c loads and layers, dump.c prints).
 *
 * Adding a key is one line in config.def plus, when no existing CHECK_ fits,
 * one validator: a CHECK_ value here and its case in schema_check_value().
 */
#ifndef AGENT_CONFIG_SCHEMA_H
#define AGENT_CONFIG_SCHEMA_H

#include <stddef.h>

enum kind {
    KIND_STR,
    KIND_I64,
    KIND_INT,
    KIND_BOOL,
    KIND_LIST,
    KIND_USER_DATA,
    KIND_CDN_ROLE,
    KIND_ON_FAILURE,
    KIND_RESTART_MODE
};

enum check {
    CHECK_NONE,
    CHECK_ABSPATH,
    CHECK_URL,
    CHECK_REGION,
    CHECK_UNIT,
    CHECK_COMMAND,
    CHECK_COMMAND_OR_EMPTY,
    CHECK_HEAP,
    CHECK_UPDATE_URL,
    CHECK_SHA256,
    CHECK_ALIAS,
    CHECK_HOST,
    CHECK_REQUIRE,
    CHECK_TARGET_GROUP,
    CHECK_ELB_NAME,
    CHECK_HOOK,
    CHECK_ASG,
    CHECK_CFN_STACK,
    CHECK_CFN_RESOURCE,
    CHECK_METRICS_PERIOD,
    CHECK_METRICS_NAMESPACE
};

#define KF_SECRET   0x1u
#define KF_REF      0x2u
#define KF_TEMPLATE 0x4u
#define KF_PEM      0x8u /* a PEM value: an absolute path in it is a file: reference */

enum key_id {
#define CONFIG_KEY(id, s, k, field, kind, def, check, min, max, flags, desc) id,
#include "config/config.def"
#undef CONFIG_KEY
    K__MAX
};

struct key_def {
    const char *section;
    const char *key;
    size_t off;
    enum kind kind;
    const char *def;
    enum check check;
    long long min, max;
    unsigned flags;
};

/* Every key of config.def, indexed by enum key_id, in config_dump() order. */
extern const struct key_def schema_keys[K__MAX];

/* The enum key_id of SECTION.KEY, or -1 when there is no such key. */
int schema_find_key(const char *section, const char *key);

/* 1 when section is one of agent.ini's sections (including "properties"). */
int schema_section_known(const char *section);

/* 1 when k is a valid [properties] key name ([A-Za-z0-9_.-]+). */
int schema_prop_key_ok(const char *k);

/*
 * The checks of one key's value v (already expanded; "" of an optional key
 * never gets here): 0 when good, else -1 with the reason in err.
 */
int schema_check_value(const struct key_def *k, const char *v, char *err, size_t errcap);

#endif
