/*
 * tarball: the checks and the unpacking of a WCS tarball for the update step
 * (wcs/update.h steps 2 and 4), with GNU tar run through core/spawn (argv
 * only, never a shell).
 *
 * The listing (`tar --list --verbose --numeric-owner --quoting-style=c`)
 * is refused when any entry is absolute, has a ".." component, is not a
 * file, folder, symlink or hard link, sits below a symlink of the archive,
 * or links out of the archive; the sizes of its regular files are added up
 * (update.max_unpacked_bytes); then the top folder, its install.sh and its
 * WCS.version (<top>/WCS.version, else <top>/conf/WCS.version, else
 * <top>/server/conf/WCS.version) are found.  Unpacking uses
 * `tar --extract ... --no-same-owner`, then clears every setuid and setgid
 * bit (and the sticky bit of files) it unpacked.  Log lines read "update: ...": this
 * module serves the update step alone.
 */
#ifndef AGENT_WCS_TARBALL_H
#define AGENT_WCS_TARBALL_H

#include <stddef.h>

#include "core/clock.h"
#include "core/rc.h"

/* Each tar run (list, extract) is killed after this long. */
#define TARBALL_TAR_TIMEOUT_MS (10LL * 60 * 1000)
/* The largest tar listing accepted (about 100 000 entries). */
#define TARBALL_LISTING_MAX (16u * 1024u * 1024u)

/* What tarball_check_listing() learned from a tarball listing. */
struct tarball_layout {
    char *top;                /* the top folder ("" when install.sh is at the root); malloc'd */
    char *install_member;     /* the stored name of install.sh; malloc'd */
    char *version_member;     /* the stored name of WCS.version; malloc'd */
    size_t entries;           /* number of entries listed */
    unsigned long long bytes; /* what its regular files unpack to, added up (saturating) */
};

/*
 * Checks the output of `tar --list --verbose --numeric-owner
 * --quoting-style=c` (text[0..len), borrowed) with the rules above,
 * and finds the top folder, install.sh and WCS.version.  Lines starting
 * with "tar: " (diagnostics) are ignored.  On success fills *out (release
 * with tarball_layout_free()).  Returns AGENT_OK; AGENT_ERR_INVAL for a
 * refused entry; AGENT_ERR_PARSE for a line that is not a GNU tar listing
 * line, an empty listing, or no install.sh / WCS.version at the top;
 * AGENT_ERR_NOMEM.  reason[cap] (may be NULL when cap is 0) gets a short
 * reason naming the entry on failure.  Never logs.  Exposed for tests and
 * the fuzz target.
 */
enum agent_rc tarball_check_listing(const char *text, size_t len, struct tarball_layout *out,
                                    char *reason, size_t cap);

/* Frees the strings of l and clears it; accepts NULL. */
void tarball_layout_free(struct tarball_layout *l);

/*
 * Lists the tarball at path with tar and checks the listing
 * (tarball_check_listing).  On success fills *lay (release with
 * tarball_layout_free()).  On failure logs, puts a one-line reason for the
 * state into detail[cap] and returns AGENT_ERR_PARSE (not a readable
 * tar.gz, or no install.sh / WCS.version), AGENT_ERR_INVAL (a refused
 * entry), AGENT_ERR_TOOBIG (listing over TARBALL_LISTING_MAX),
 * AGENT_ERR_TIMEOUT, AGENT_ERR_IO or AGENT_ERR_NOMEM.
 */
enum agent_rc tarball_inspect(const char *path, const struct deadline *dl,
                              struct tarball_layout *lay, char *detail, size_t cap);

/*
 * Extracts the whole tarball (member NULL) or one stored member into the
 * folder dir, then clears the setuid and setgid bits under dir (and the
 * sticky bit of what is not a folder).  On failure logs and sets
 * detail[cap]: AGENT_ERR_PARSE (tar failed), AGENT_ERR_TIMEOUT,
 * AGENT_ERR_IO (tar not started, or a mode not cleared).
 */
enum agent_rc tarball_extract(const char *path, const char *dir, const char *member,
                              const struct deadline *dl, char *detail, size_t cap);

/*
 * A stored name without empty and "." components and without a trailing
 * slash, malloc'd; *dotdot = 1 when a component is "..".  NULL on out of
 * memory.
 */
char *tarball_normalize(const char *name, int *dotdot);

#endif
