/*
 * origin: where each effective value of a load came from, and the sources
 * the load looked at (internal to config/; the API is config_origin(),
 * config_source() and config_origin_format() in config.h).
 *
 * The loader records a source for every file, conf.d folder, overlay and
 * environment variable it looks at; build() records the assignment each
 * effective value (each list item, each property) came from.  The records
 * then belong to the struct agent_config.
 */
#ifndef AGENT_CONFIG_ORIGIN_H
#define AGENT_CONFIG_ORIGIN_H

#include <stddef.h>

#include "config/config.h"
#include "core/rc.h"

struct origin_rec {
    char *key;   /* "section.key" */
    size_t item; /* the list item; 0 for a scalar key */
    char *name;  /* behind o.name */
    struct config_origin o;
};

struct config_origins {
    struct origin_rec *recs;
    size_t n, cap;
    struct config_source *src;
    char **src_names; /* behind src[i].name */
    size_t n_src;
};

/* An empty record set; NULL when out of memory. */
struct config_origins *origins_new(void);

/* Frees o and what it holds; accepts NULL. */
void origins_free(struct config_origins *o);

/* A source looked at (name copied).  AGENT_OK or AGENT_ERR_NOMEM. */
enum agent_rc origins_add_source(struct config_origins *o, enum config_origin_kind kind,
                                 const char *name, int is_dir, int present, size_t bytes);

/* The origin of value item of key (strings copied).  AGENT_OK or AGENT_ERR_NOMEM. */
enum agent_rc origins_add(struct config_origins *o, const char *key, size_t item,
                          enum config_origin_kind kind, const char *name, int line);

#endif
