#include "node/notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

enum agent_rc
notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t salen;
    size_t n;
    ssize_t sent;
    int fd;

    if (path == NULL || path[0] == '\0')
        return AGENT_ERR_ABSENT;
    n = strlen(path);
    /* An absolute path, or '@' for the abstract namespace (as systemd does). */
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
        log_errx("notify: NOTIFY_SOCKET is not a socket path: %s", path);
        return AGENT_ERR_IO;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        log_err("notify: socket");
        return AGENT_ERR_IO;
    }
    do {
        sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    } while (sent == -1 && errno == EINTR);
    if (sent == -1) {
        log_err("notify: send to %s", path);
        close(fd);
        return AGENT_ERR_IO;
    }
    close(fd);
    return AGENT_OK;
}
