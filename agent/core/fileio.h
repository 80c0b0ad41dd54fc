/*
 * fileio: reading capped files and writing files atomically.
 */
#ifndef AGENT_CORE_FILEIO_H
#define AGENT_CORE_FILEIO_H

#include <sys/types.h>

#include <stddef.h>

#include "core/buf.h"
#include "core/rc.h"

/*
 * Appends the whole file to out (at most out->max bytes).  AGENT_ERR_ABSENT
 * when it does not exist, AGENT_ERR_TOOBIG when larger, AGENT_ERR_IO
 * otherwise (logged with the path).
 */
enum agent_rc fileio_read(const char *path, struct buf *out);

/* Existing file's owner and mode are kept; mode applies only to a new file. */
#define FILEIO_KEEP_MODE 0x1
/* Do not log failures (the caller reports them). */
#define FILEIO_QUIET 0x2

/*
 * Replaces path with data atomically: a temporary file in the same folder,
 * write, fchmod/fchown, fsync, rename over path, fsync of the folder.  On any
 * failure the temporary file is removed and path is untouched.  With
 * FILEIO_KEEP_MODE an existing file keeps its owner, group and mode;
 * otherwise the file gets mode (umask not applied).
 */
enum agent_rc fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                  int flags);

/*
 * As fileio_write_atomic with an explicit owner and group (-1 keeps the
 * current one) for files such as the keystore.
 */
enum agent_rc fileio_write_atomic_owner(const char *path, const void *data, size_t len, mode_t mode,
                                        uid_t uid, gid_t gid);

/* 1 when the file at path exists and holds exactly data. */
int fileio_same_content(const char *path, const void *data, size_t len);

/*
 * As fileio_read, but a symbolic link or anything other than a regular file
 * at path is refused (AGENT_ERR_INVAL, logged with the path); for a file
 * whose path safepath_resolve() has just checked.
 */
enum agent_rc fileio_read_regular(const char *path, struct buf *out);

/*
 * Opens path read-only and refuses it (AGENT_ERR_INVAL, logged with the
 * path) when it is not a regular file, is group- or world-writable, is
 * owned by a user other than root or the agent, is readable by its group
 * (and not by everyone) while that group is not root's, the agent's or
 * reader_gid (a file for another group's service: /etc/shadow, root:shadow
 * 0640), or its path fails safepath_resolve() (a folder on the way owned by
 * another user, a link in a folder others may write); the file checks are
 * made on the open descriptor.  reader_gid is the one other group that may
 * read a secret the agent reads (the WCS group), (gid_t)-1 for none.  Reads
 * the file into out.
 */
enum agent_rc fileio_read_private(const char *path, gid_t reader_gid, struct buf *out);

/*
 * The mode, owner and group rules of fileio_read_private() on path's
 * status alone (check-config: nothing is opened or read).  AGENT_OK, or
 * AGENT_ERR_INVAL / ABSENT / IO with the reason in why[cap].
 */
enum agent_rc fileio_check_private(const char *path, gid_t reader_gid, char *why, size_t cap);

/*
 * Removes the temporary files (".<name>.XXXXXX", regular files only) that an
 * interrupted atomic write of path left beside it, logging each at info.
 * Only where no other writer of path is at work; failures are logged, not
 * returned.
 */
void fileio_remove_stale_temps(const char *path);

/* mkdir -p with mode for the folders it creates. */
enum agent_rc fileio_mkdir_p(const char *path, mode_t mode);

#endif
