#ifndef TESSERA_SYSTEMD_STUBS_H
#define TESSERA_SYSTEMD_STUBS_H
// The libsystemd (sd-daemon.h) functions systemd_stubs.c stands in for in the static release
// `tessera`; see that file for why they are never reached by a D-Bus client.
int sd_listen_fds(int unset_environment);
int sd_is_socket(int fd, int family, int type, int listening);
#endif
