/*
 * userdata: finds the agent's overlays in EC2 user data (design.md §3.3).
 *
 * - gzip (magic 1f 8b) is inflated first, to at most USERDATA_MAX_INFLATED;
 * - a first line "#wcs-agent" (then LF, CRLF or the end; trailing blanks
 *   allowed) makes the whole text one overlay named "user-data"; the first
 *   line is an INI comment, so overlay line numbers are user-data line
 *   numbers;
 * - a MIME multi-part document (cloud-init style: a header block with
 *   "Content-Type: multipart/...; boundary=...", optionally after
 *   "MIME-Version: 1.0") gives one overlay per part whose Content-Type is
 *   text/x-wcs-agent, named "user-data part N" where N counts every part of
 *   the document from 1; base64 and quoted-printable transfer encodings are
 *   decoded, 7bit / 8bit / binary taken as they are; other parts are left
 *   to cloud-init;
 * - anything else (a shell script, #cloud-config) is not for the agent.
 */
#ifndef AGENT_CONFIG_USERDATA_H
#define AGENT_CONFIG_USERDATA_H

#include <stddef.h>

#include "config/config.h"
#include "core/rc.h"

/* The most bytes gzip-compressed user data may inflate to. */
#define USERDATA_MAX_INFLATED (256 * 1024)

enum userdata_kind {
    USERDATA_NONE,              /* no user data (empty) */
    USERDATA_OVERLAY,           /* "#wcs-agent" text */
    USERDATA_MULTIPART_OVERLAY, /* MIME multi-part with text/x-wcs-agent parts */
    USERDATA_OTHER              /* not for the agent */
};

/*
 * The result of userdata_parse().  overlays[0..n) point into storage owned
 * by the struct (names and decoded texts, wiped on cleanup since user data
 * may carry literal secrets); n is 0 unless kind is an overlay kind.
 */
struct userdata {
    enum userdata_kind kind;
    struct config_overlay *overlays;
    size_t n;
    char **storage; /* private: the strings behind overlays */
    size_t n_storage;
};

/* "none", "overlay", "multipart-overlay" or "other"; never NULL. */
const char *userdata_kind_str(enum userdata_kind kind);

/*
 * Classifies len bytes of user data (borrowed) and extracts the overlays
 * into *out (release with userdata_cleanup(); *out is written only on
 * success).  AGENT_OK; AGENT_ERR_TOOBIG when gzip data inflates past
 * USERDATA_MAX_INFLATED; AGENT_ERR_PARSE for corrupt gzip data or a
 * multi-part document that is malformed (no boundary, no closing boundary, a
 * bad header, bad base64 or an unknown transfer encoding in an agent part;
 * quoted-printable is decoded leniently: a stray "=" stays); AGENT_ERR_NOMEM.  Failures put a
 * one-line reason in err[errcap] (without "user-data:" in front).
 */
enum agent_rc userdata_parse(const void *data, size_t len, struct userdata *out, char *err,
                             size_t errcap);

/* Releases (wiping the texts) everything *ud holds and zeroes it; accepts NULL. */
void userdata_cleanup(struct userdata *ud);

#endif
