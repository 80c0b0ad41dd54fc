/*
 * layers.h: the first half of a config load, internal to config/ (config.c
 * holds the second half: expansion, validation, the result).
 *
 * Every layer (built-in defaults, the file, conf.d, user-data overlays, the
 * environment, --set) is collected, unvalidated, into one list of
 * assignments in struct loader, each with its origin, line and layer.
 * Errors go to the loader's diagnostics, sorted and handed out at the end
 * (layers_emit_diag).
 */
#ifndef AGENT_CONFIG_LAYERS_H
#define AGENT_CONFIG_LAYERS_H

#include <stddef.h>

#include "config/config.h"
#include "core/rc.h"

/* A [properties] assignment. */
#define KEY_PROP (-1)

/* Layers, lowest to highest; each file and each overlay is a layer of its own. */
#define LAYER_DEFAULT 0
#define LAYER_FILE    1
#define LAYER_CONFD   2
#define LAYER_OVERLAY 100000
#define LAYER_ENV     200000
#define LAYER_SET     300000

#define CONFIG_FILE_MAX  (1024 * 1024)
#define CONFIG_VALUE_MAX 4096
#define EXPANDED_MAX     8192
#define DIAG_MAX         100   /* errors handed to the caller */
#define DIAG_KEEP        10000 /* errors kept for sorting */

struct assign {
    int key;     /* enum key_id or KEY_PROP */
    char *prop;  /* the properties key */
    char *value; /* raw, then expanded */
    const char *origin;
    int line; /* 0: the origin has no lines */
    int layer;
    size_t seq;
    int from_user_data;
    int bad;     /* reported by validation */
    int no_fact; /* a default whose fact is missing: dropped, reported only where needed */
    int is_ref;  /* a KF_REF key whose value, as written, is a secret reference */
};

struct diag_entry {
    int layer;
    int line;
    size_t seq;
    char *text;
};

enum section_state {
    SEC_NONE, /* before the first [section] */
    SEC_OK,
    SEC_UNKNOWN, /* reported at the header: its keys are ignored */
    SEC_BROKEN   /* a bad header line: its keys are ignored */
};

struct loader {
    const struct config_input *in;
    struct config_diag *diag;
    enum agent_rc fatal; /* NOMEM: stop */
    int n_errors;        /* every error, kept or not */
    struct diag_entry *entries;
    size_t n_entries, cap_entries;

    struct assign *a;
    size_t n, cap, seq;
    char **origins;
    size_t n_origins;
    struct config_origins *prov; /* the sources looked at; handed to the result */

    /* The source being read. */
    const char *origin;
    int layer;
    int from_user_data;
    const char *text;
    size_t len, pos;
    int lineno;
    int line_bad;
    int first_syntax_error;
    enum section_state sec;

    /* Expansion context. */
    struct config_facts facts; /* in->facts with region = the effective region */
    int have_facts;
    int home_bad;    /* wcs.home is wrong: values using {wcs_home} are not checked */
    int service_bad; /* the same for wcs.service and {service} */
};

/* An error of an assignment of any layer (counted; its text kept for the caller). */
void layers_diag_at(struct loader *L, int layer, const char *origin, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Hands the kept errors, sorted by layer, line and order, to L->diag. */
void layers_emit_diag(struct loader *L);

/* The built-in default of every key (LAYER_DEFAULT). */
void layers_load_defaults(struct loader *L);

/* One INI text (the file, or a user-data overlay when from_user_data) as a layer. */
void layers_load_text(struct loader *L, const char *origin, const char *text, size_t len, int layer,
                      int from_user_data);

/* The file at path as a layer (its absence is an error only when required). */
void layers_load_file(struct loader *L, const char *path, int required, int layer);

/* The *.ini files of conf.d/ beside path, in name order, each a layer of its own. */
void layers_load_confd(struct loader *L, const char *path);

/* The AWS environment variables that map to keys (LAYER_ENV). */
void layers_load_env(struct loader *L);

/* The --set SECTION.KEY=VALUE options (LAYER_SET). */
void layers_load_sets(struct loader *L);

/* 1 when agent.user_data is ignore in the files or --set (the overlays are then skipped). */
int layers_user_data_ignored(const struct loader *L);

/* The kind of origin of an assignment of layer (config_origin()). */
enum config_origin_kind layers_origin_kind(int layer);

/* Frees what the loader holds (not the loader). */
void layers_cleanup(struct loader *L);

#endif
