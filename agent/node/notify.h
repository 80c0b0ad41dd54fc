/*
 * notify: sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.
 */
#ifndef AGENT_NODE_NOTIFY_H
#define AGENT_NODE_NOTIFY_H

#include "core/rc.h"

/*
 * Sends state (e.g. "READY=1" or "STATUS=...") to the service manager.
 * AGENT_ERR_ABSENT when NOTIFY_SOCKET is not set (not under systemd, not an
 * error for callers that only notify when they can); AGENT_ERR_IO (logged)
 * when the socket cannot be reached.
 */
enum agent_rc notify_send(const char *state);

#endif
