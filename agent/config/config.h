/*
 * config: the layered configuration of design.md §3 -> struct agent_config.
 *
 * Layers, lowest to highest: built-in defaults, the config file, conf.d/NAME.ini files
 * beside it (byte order of names), the user-data overlays, the environment
 * (§3.5), --set options.  A scalar key given again in a higher layer replaces
 * the lower value; a list key may be given several times in one layer, and
 * the highest layer that sets it wins as a whole.
 *
 * Every error (parse error, over-long line, unknown section or key, bad
 * value, bad placeholder) is collected as "FILE:LINE: message" and loading
 * goes on, so that all of them can be reported; then config_load() returns
 * AGENT_ERR_CONFIG and no config.  Errors come in layer order, then line
 * order.  A value is checked in every layer that gives it, even when a
 * higher layer overrides it.
 *
 * INI rules (inih r55, read through our own line reader): a line holds at
 * most CONFIG_LINE_MAX bytes (without its LF / CRLF); section and key names
 * at most CONFIG_NAME_MAX; "key = value" or "key: value"; ';' or '#' starts
 * a comment line, " ;" an inline comment; leading blanks are ignored (there
 * are no multi-line values: an indented line is a line of its own).  A
 * config file that is group- or world-writable is refused (its commands run
 * as root).
 *
 * Values: "" unsets an optional key; for a list key, "" empties the list in
 * its layer (--set ready.require=); for properties.KEY it means "remove
 * KEY".  Literal secrets (licence.key, tls.private_key,
 * tls.keystore_password not given as a reference) are taken verbatim: no
 * placeholder expansion, never quoted in an error.  Every value is refused
 * when it holds CR, LF or NUL.
 */
#ifndef AGENT_CONFIG_CONFIG_H
#define AGENT_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

#define CONFIG_DEFAULT_PATH "/etc/wcs-agent/agent.ini"
#define CONFIG_LINE_MAX     199 /* bytes in one INI line: Debian inih r55 INI_MAX_LINE - 1 */
#define CONFIG_NAME_MAX     49  /* bytes in a section or key name (inih r55 buffers) */

/* A list of strings (list keys). */
struct config_list {
    char **items;
    size_t n;
};

/* A free [properties] key; value "" means: remove the key. */
struct config_prop {
    char *key;
    char *value;
};

enum config_user_data {
    CONFIG_USER_DATA_APPLY,
    CONFIG_USER_DATA_IGNORE
};

enum config_cdn_role {
    CONFIG_CDN_UNSET, /* leave every cdn_* key alone */
    CONFIG_CDN_OFF,
    CONFIG_CDN_ORIGIN,
    CONFIG_CDN_EDGE,
    CONFIG_CDN_TRANSCODER
};

enum config_on_failure {
    CONFIG_ON_FAILURE_ABANDON,
    CONFIG_ON_FAILURE_CONTINUE
};

/* restart.mode (design.md §8.3): what a restart on a node with live calls does. */
enum config_restart_mode {
    CONFIG_RESTART_DRAIN, /* drain, restart, ready, register, undrain */
    CONFIG_RESTART_NOW,   /* restart at once (warns with the connection count) */
    CONFIG_RESTART_DEFER  /* apply the files, record pending.restart, do not restart */
};

/*
 * The effective configuration.  Strings are never NULL for keys that have a
 * default; optional keys without a value are NULL.  After a load with facts,
 * every placeholder is expanded.  Secret-bearing keys (licence.key,
 * tls.private_key, tls.keystore_password and any value that is a literal
 * from user data) hold a reference or a literal: see secretref.h.
 */
struct agent_config {
    struct {
        char *state_dir;
        enum config_user_data user_data;
        int64_t deadline_s;
        char *console; /* the serial console the failure line goes to (§8.6) */
    } agent;

    struct {
        char *endpoint;
        int64_t timeout_ms;
        int attempts;
    } imds;

    struct {
        char *region; /* NULL: from IMDS */
    } aws;

    struct {
        char *home;
        char *service;
        char *restart_command;
        char *status_command;
        char *enable_command; /* "" = do not enable */
        char *heap;           /* "keep", "4g", "50%" */
    } wcs;

    struct {
        int enabled;
        char *url;
        char *sha256; /* NULL or 64 hex digits */
        int64_t max_bytes;
        int64_t max_unpacked_bytes;
    } update;

    struct {
        char *key; /* secret reference or literal, NULL: none */
        char *command;
        int release; /* run release_command at the end of a drain */
        char *release_command;
        int activate_in_warm_pool;
    } licence;

    struct {
        char *certificate;
        char *chain;
        char *private_key;
        char *keystore;
        char *keystore_password;
        char *alias;
    } tls;

    struct {
        enum config_cdn_role role;
        char *point_of_entry;
        char *ip;
        char *groups;
    } cdn;

    struct {
        struct config_prop *items; /* in key order of first appearance */
        size_t n;
    } properties;

    struct {
        char *url;
        int64_t timeout_s;
        int64_t interval_ms;
        struct config_list require;
    } ready;

    struct {
        struct config_list target_group;
        int port;
        struct config_list classic_elb;
        int wait_healthy;
        int deregister_on_stop;
    } reg;

    struct {
        char *lifecycle_hook;
        char *asg;
        char *cfn_stack;
        char *cfn_resource;
        enum config_on_failure on_failure;
        char *terminate_hook; /* NULL: discovered (EC2_INSTANCE_TERMINATING) */
        int tag_instance;     /* write the wcs-agent:result tag (§8.6) */
    } signal;

    struct {
        int64_t interval_s;
        int64_t reconcile_interval_s; /* 0: off */
    } watch;

    struct {
        struct config_list until; /* conditions, ready.require syntax */
        int64_t timeout_s;
        int64_t spot_margin_s;
        int64_t stop_timeout_s;
        int on_standby;
        int on_rebalance;
        int cdn_route_away;
        char *rest_url;
    } drain;

    struct {
        enum config_restart_mode mode;
    } restart;

    struct {
        int enabled;
        int64_t period_s; /* 10, 30 (high resolution) or a multiple of 60 */
        char *namespace;
        int per_instance;
    } metrics;

    struct {
        char *stats_url; /* template: {private_ip}, {instance_id} unexpanded */
    } fleet;

    /* Keys (section.key) whose value came from user data as a literal secret. */
    struct config_list literal_secrets_from_user_data;

    /*
     * Keys (section.key) whose effective value is a secret reference as the
     * operator wrote it in a config layer; see config_is_reference().
     */
    struct config_list references;

    /* Where each effective value came from and what was read: config_origin(), config_source(). */
    struct config_origins *origins;
};

/* A user-data overlay: INI text and the name used in errors ("user-data", "user-data part 2"). */
struct config_overlay {
    const char *name;
    const char *text;
    size_t len;
};

/* The facts placeholders expand to; NULL members are absent facts. */
struct config_facts {
    const char *instance_id;
    const char *region;
    const char *az;
    const char *instance_type;
    const char *local_ipv4;
    const char *public_ipv4;
    int tags_enabled;
    const char *const *tag_keys; /* n_tags keys and values */
    const char *const *tag_values;
    size_t n_tags;
    const char *const *bad_tag_keys; /* tags skipped as unusable (control characters) */
    size_t n_bad_tags;
};

struct config_input {
    const char *path;        /* config file; NULL: WCS_AGENT_CONFIG, else CONFIG_DEFAULT_PATH */
    int path_required;       /* 1: a missing file is an error (given with -c or WCS_AGENT_CONFIG) */
    const char *const *sets; /* --set "SECTION.KEY=VALUE" options */
    size_t n_sets;
    const struct config_overlay *overlays; /* user-data overlays, in order */
    size_t n_overlays;
    const struct config_facts *facts; /* NULL: placeholders are checked for syntax only */
    int check_files; /* check-config: a file: reference that cannot be read is an error */
    const char
        *state_dir; /* --state-dir: agent.state_dir over every layer (origin "--state-dir") */
};

/* The errors of one load, each "FILE:LINE: message" (or "--set: message", "env NAME: ..."). */
struct config_diag {
    char **lines;
    size_t n;
};

/*
 * Loads every layer of in.  AGENT_OK with *out set (free with
 * config_free()); AGENT_ERR_CONFIG with every error in diag (release with
 * config_diag_cleanup()); AGENT_ERR_NOMEM.
 */
enum agent_rc config_load(const struct config_input *in, struct agent_config **out,
                          struct config_diag *diag);

/*
 * As config_load(), with text[0..len) (borrowed) as the config file, named
 * name in errors ("config" when NULL); in->path is not read and no conf.d is
 * read.  For tests and fuzzing.
 */
enum agent_rc config_load_string(const char *name, const char *text, size_t len,
                                 const struct config_input *in, struct agent_config **out,
                                 struct config_diag *diag);

/* Frees cfg, wiping every secret value first; accepts NULL. */
void config_free(struct agent_config *cfg);

/*
 * 1 when the effective value of name ("licence.key", "cdn.point_of_entry",
 * any key that may hold a secret reference) is a reference that the
 * operator wrote; 0 when it is a literal, including a value that looks like
 * a reference because a placeholder ({tag:KEY}) produced it.
 */
int config_is_reference(const struct agent_config *cfg, const char *name);

void config_diag_cleanup(struct config_diag *diag);

/*
 * Appends the effective configuration as INI text to out, every section and
 * key, with secret values (licence.key, tls.private_key,
 * tls.keystore_password given as literals, and literals from user data)
 * printed as "***" and secret references shown as they are.
 */
enum agent_rc config_dump(const struct agent_config *cfg, struct buf *out);

/* What kind of layer a value came from (check-config --show-origin). */
enum config_origin_kind {
    CONFIG_ORIGIN_DEFAULT,   /* built in */
    CONFIG_ORIGIN_FILE,      /* the config file or a conf.d file */
    CONFIG_ORIGIN_USER_DATA, /* a user-data overlay */
    CONFIG_ORIGIN_ENV,       /* an environment variable (design.md §3.5) */
    CONFIG_ORIGIN_SET        /* a --set option */
};

/* The assignment an effective value came from; name points into the config. */
struct config_origin {
    enum config_origin_kind kind;
    const char *name; /* the file's path, the overlay's name ("user-data part 2"), the
                         variable; "" for DEFAULT and SET */
    int line;         /* the line in the file or overlay (1-based); 0 for the other kinds */
};

/*
 * The origin of the effective value of name ("agent.deadline",
 * "properties.ip"); of a list key, of its item (from 0; an empty list has
 * the origin of what emptied it, or DEFAULT).  A known key that no layer
 * set is DEFAULT.  AGENT_OK; AGENT_ERR_ABSENT when the config has no such
 * value.
 */
enum agent_rc config_origin(const struct agent_config *cfg, const char *name, size_t item,
                            struct config_origin *out);

/*
 * o as check-config --show-origin prints it: "file:PATH:LINE",
 * "user-data:LINE" (the overlay's name, then the line), "env:NAME", "--set"
 * or "default".  Truncated to cap.
 */
void config_origin_format(const struct config_origin *o, char *out, size_t cap);

/* A source a load looked at, in layer order (files, overlays, environment). */
struct config_source {
    enum config_origin_kind kind; /* FILE, USER_DATA or ENV */
    const char *name;             /* the path, the overlay's name or the variable */
    int is_dir;                   /* the conf.d folder: listed when absent or without *.ini */
    int present;                  /* 0: looked for and absent (an optional file or folder) */
    size_t bytes;                 /* what was read (FILE, USER_DATA) */
};

/* The i-th source the load of cfg looked at, or NULL past the last. */
const struct config_source *config_source(const struct agent_config *cfg, size_t i);

/*
 * As config_dump(), one line per effective value with its origin and no
 * section headers: "ORIGIN<TAB>section.key = value" (config_origin_format();
 * a list key gives one line per item), secrets masked alike.
 */
enum agent_rc config_dump_origins(const struct agent_config *cfg, struct buf *out);

/* "off", "origin", "edge", "transcoder", or "" for CONFIG_CDN_UNSET (the cdn.role spelling). */
const char *config_cdn_role_str(enum config_cdn_role role);

/* "drain", "now" or "defer" (the restart.mode spelling). */
const char *config_restart_mode_str(enum config_restart_mode mode);

/* 1 when section.key is a known key (properties.* always is). */
int config_key_known(const char *section, const char *key);

#endif
