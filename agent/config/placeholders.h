/*
 * placeholders: the {name} placeholders of config values (design.md §3.2).
 *
 *   {instance_id} {region} {az} {instance_type} {local_ipv4} {public_ipv4}
 *   {public_or_local_ipv4} {wcs_home} {service} {tag:KEY}
 *
 * A '{' opens a placeholder that must be closed by '}' on the same value; a
 * '}' outside a placeholder is an ordinary character.  There is no escape.
 * Expansion is one pass: a fact's value is never scanned again.
 */
#ifndef AGENT_CONFIG_PLACEHOLDERS_H
#define AGENT_CONFIG_PLACEHOLDERS_H

#include <stddef.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/rc.h"

/*
 * Expands every placeholder of in (borrowed) and appends the result to out.
 *
 * With facts == NULL only the syntax is checked (an unterminated or unknown
 * placeholder is still an error) and in is appended verbatim.  Otherwise
 * each placeholder takes its fact: {public_or_local_ipv4} is public_ipv4 when
 * present, else local_ipv4; {tag:KEY} needs facts->tags_enabled and the tag;
 * {wcs_home} and {service} take the arguments of the same names (NULL: the
 * placeholder is not allowed in this value, e.g. {wcs_home} in wcs.home).
 *
 * AGENT_OK; AGENT_ERR_PARSE (syntax: "{tag:: unterminated placeholder"),
 * AGENT_ERR_INVAL (unknown placeholder), AGENT_ERR_ABSENT (the fact is
 * missing: "{tag:Origin}: tag not found", "{public_ipv4}: this instance has
 * no public IPv4 address", "{tag:X}: instance metadata tags are not
 * enabled"), AGENT_ERR_INVAL also for a {tag:KEY} whose tag discovery skipped
 * (facts->bad_tag_keys: a control character in its value), each with a one-line reason in
 * err[errcap] that starts with the placeholder; AGENT_ERR_TOOBIG past out->max; AGENT_ERR_NOMEM. On
 * failure out may hold a partial result: reset it.
 */
enum agent_rc placeholders_expand(const char *in, const struct config_facts *facts,
                                  const char *wcs_home, const char *service, struct buf *out,
                                  char *err, size_t errcap);

/* 1 when s contains a {tag:KEY} placeholder (its value cannot be known without facts). */
int placeholders_has_tag(const char *s);

#endif
