/*
 * str: string and number helpers that fail instead of truncating, the
 * wiping of secrets, and small validators.
 */
#ifndef AGENT_CORE_STR_H
#define AGENT_CORE_STR_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

/* Copies src into dst[cap]; AGENT_ERR_TOOBIG (dst = "") when it does not fit. */
enum agent_rc str_copy(char *dst, size_t cap, const char *src);

/* Copies n bytes of src into dst[cap] and terminates; TOOBIG when n >= cap. */
enum agent_rc str_copyn(char *dst, size_t cap, const char *src, size_t n);

/* malloc'd copies; NULL on out of memory (or when s is NULL). */
char *str_dup(const char *s);

char *str_ndup(const char *s, size_t n);

/*
 * Parses a whole decimal integer in [min, max]: optional sign, digits, no
 * spaces, nothing after.  AGENT_ERR_INVAL on anything else, out unchanged.
 */
enum agent_rc str_to_ll(const char *s, long long min, long long max, long long *out);

/* As str_to_ll for an int. */
enum agent_rc str_to_int(const char *s, int min, int max, int *out);

/* true/false, yes/no, on/off, 1/0 (case-insensitive). */
enum agent_rc str_to_bool(const char *s, int *out);

/* 1 when s starts with prefix. */
int str_has_prefix(const char *s, const char *prefix);

/* 1 when s ends with suffix. */
int str_has_suffix(const char *s, const char *suffix);

/* Removes leading and trailing ASCII whitespace in place; returns s moved past the lead. */
char *str_trim(char *s);

/* Case-insensitive ASCII comparison of whole strings / of n bytes. */
int str_casecmp(const char *a, const char *b);

int str_ncasecmp(const char *a, const char *b, size_t n);

/* Overwrites n bytes in a way the compiler cannot remove. */
void str_wipe(void *p, size_t n);

/* Wipes a NUL-terminated secret and frees it; accepts NULL. */
void str_free_secret(char *s);

/* Lower-case hex of n bytes into out[cap] (cap >= 2n+1); TOOBIG otherwise. */
enum agent_rc str_hex(const unsigned char *p, size_t n, char *out, size_t cap);

/* SHA-256 of n bytes as 64 lower-case hex digits plus NUL. */
void str_sha256_hex(const void *p, size_t n, char out[65]);

/*
 * Decodes base64 (standard alphabet, whitespace ignored, padding optional)
 * and appends the bytes to out.  AGENT_ERR_PARSE on a bad character.
 */
enum agent_rc str_base64_decode(const char *s, size_t n, struct buf *out);

/*
 * Splits s on runs of spaces and tabs into a NULL-terminated malloc'd argv
 * (no quoting, no shell).  AGENT_ERR_INVAL when s holds no word.  Free with
 * str_argv_free().
 */
enum agent_rc str_split_argv(const char *s, char ***out);

void str_argv_free(char **argv);

/* 1 when every byte of s[0..n) is printable ASCII other than space (0x21..0x7e). */
int str_is_graphic(const char *s, size_t n);

/* 1 when s is 1..max bytes long and holds no control character (< 0x20, 0x7f); NULL is 0. */
int str_is_text(const char *s, size_t max);

/* The value of the hex digit c (either case), or -1. */
int str_hex_value(int c);

/* Validators: 1 when s is well formed. */
int str_is_instance_id(const char *s); /* i- followed by 8 or 17 hex digits */

int str_is_region(const char *s); /* e.g. eu-west-1, us-gov-west-1, cn-north-1 */

int str_is_arn(const char *s); /* arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE */

int str_is_ipv4(const char *s); /* dotted quad */

#endif
