#define _GNU_SOURCE
#include "linux_shims.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* include/uapi/asm-generic/socket.h, Linux 6.5; Debian 12's headers predate it */
#endif

int tessera_eventfd(unsigned int initval, int flags) {
    return eventfd(initval, flags);
}

void tessera_set_thread_name(const char *name) {
    pthread_setname_np(pthread_self(), name);
}

int tessera_pidfd_open(int pid) {
    // The raw syscall: glibc grew a wrapper only in 2.36, and pidfds are always close-on-exec.
    return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0u);
}

int tessera_peer_pidfd(int socket) {
    int fd = -1;
    socklen_t length = sizeof fd;
    if (getsockopt(socket, SOL_SOCKET, SO_PEERPIDFD, &fd, &length) != 0) return -1;
    if (length != sizeof fd || fd < 0) { errno = EINVAL; return -1; }
    return fd;
}

int tessera_open_path_nofollow(int dirfd, const char *name) {
    return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

int tessera_open_directory_path(int dirfd, const char *name) {
    return openat(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int tessera_is_on_tmpfs(int fd) {
    struct statfs info;
    if (fstatfs(fd, &info) != 0) return -1;
    return info.f_type == TMPFS_MAGIC ? 1 : 0;
}
