#ifndef TESSERA_CLINUXSHIMS_H
#define TESSERA_CLINUXSHIMS_H
// Linux calls that Glibc's Swift module does not export, each behind a fixed-arity wrapper.
// (The DBus module's loop thread uses the first two; the caller lookup the process ones.)
#include <sys/eventfd.h>

/// eventfd(2): the loop thread's wake-up descriptor. Returns the descriptor, or -1 with errno set.
int tessera_eventfd(unsigned int initval, int flags);

/// Names the calling thread (at most 15 bytes are kept), so it is recognisable in debuggers,
/// `top -H` and crash reports.
void tessera_set_thread_name(const char *name);

/// pidfd_open(2) (Linux 5.3): a close-on-exec descriptor for the process `pid` is now, which keeps
/// naming that process after it exits, whatever later takes its pid. -1 with errno set.
int tessera_pidfd_open(int pid);

/// getsockopt(SO_PEERPIDFD) (Linux 6.5): a pidfd of the process that connected `socket`, taken by
/// the kernel at connect time. -1 with errno set (ENOPROTOOPT on older kernels).
int tessera_peer_pidfd(int socket);

/// openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC): a handle on the file itself, never on
/// what a symlink points to, that opens nothing (no FIFO wait, no device side effect). Swift's
/// Glibc lacks O_PATH. -1 with errno set.
int tessera_open_path_nofollow(int dirfd, const char *name);

/// openat(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC), following a magic link such as
/// /proc/PID/root (which is the point: it leads into the process's own root). -1 with errno set.
int tessera_open_directory_path(int dirfd, const char *name);

/// 1 when `fd` is on a tmpfs, 0 when not, -1 with errno set.
int tessera_is_on_tmpfs(int fd);

#endif
