/*
 * safepath: may the agent (root) trust a path it reads a secret from or
 * edits in place?  OpenSSH's check of authorized_keys paths, adapted to a
 * WCS tree that is root:flashphoner and group-writable by design.
 *
 * The path is walked from "/" one component at a time, following symbolic
 * links.  It is refused when
 *   - a component (a folder, a link, the file) is owned by a user other
 *     than root or the agent's own uid: that user could change it;
 *   - a symbolic link sits in a folder that others may write (owned by
 *     another user, or group-writable for a group other than root's or the
 *     agent's, or world-writable) without the sticky bit: they could plant
 *     or swap the link (a group member replacing flashphoner.properties
 *     with a link to a root file);
 *   - the file is not a regular file, or has more than one hard link while
 *     its folder is writable by others (a planted hard link).
 * So /usr/local/FlashphonerWebCallServer -> FlashphonerWebCallServer-<version>
 * (a root-owned link in root-owned /usr/local) passes, and so does a regular
 * root-owned file in the group-writable conf/ folder.
 */
#ifndef AGENT_CORE_SAFEPATH_H
#define AGENT_CORE_SAFEPATH_H

#include <stddef.h>

#include "core/rc.h"

/*
 * Walks path (absolute) as above.  AGENT_OK with *real (malloc'd) the file
 * the path names, links resolved; AGENT_ERR_ABSENT when a component does
 * not exist (a dangling link included); AGENT_ERR_INVAL when refused;
 * AGENT_ERR_IO, AGENT_ERR_NOMEM.  On failure why[cap] says what and where,
 * e.g. "/w/conf/flashphoner.properties is a symbolic link in /w/conf, which
 * group 1001 may write"; nothing is logged.
 */
enum agent_rc safepath_resolve(const char *path, char **real, char *why, size_t cap);

#endif
