// Stand-ins for the two libsystemd functions that Debian's static libdbus-1.a refers to, so the
// release `tessera` can be a fully static executable without libsystemd (and the six libraries it
// pulls in: libgcrypt, liblzma, libzstd, liblz4, libcap, libgpg-error).
//
// libdbus calls them only in _dbus_listen_systemd_sockets(), which a *server* uses to take over
// sockets passed by systemd socket activation (a "systemd:" listen address). `tessera` is a D-Bus
// client: it never listens, so these are never reached. Should they ever be, they answer the way
// libsystemd does outside socket activation: no sockets were passed (0), and "not a socket" (0).
//
// Compiled only in release (TESSERA_STATIC_CLI, set in Package.swift), the configuration that links
// libdbus-1.a; debug builds link the shared libdbus with the real libsystemd. Weak, so a real
// libsystemd in the link would win. SwiftPM hands the target's object file to the linker directly, so
// nothing has to refer to it.
#include "static_stubs.h"

#ifdef TESSERA_STATIC_CLI
__attribute__((weak)) int sd_listen_fds(int unset_environment) {
    (void)unset_environment;
    return 0;
}

__attribute__((weak)) int sd_is_socket(int fd, int family, int type, int listening) {
    (void)fd; (void)family; (void)type; (void)listening;
    return 0;
}
#endif
