#ifndef TESSERA_STATIC_STUBS_H
#define TESSERA_STATIC_STUBS_H
// What the fully static release `tessera` defines itself instead of taking it from an archive:
// - the libsystemd (sd-daemon.h) functions systemd_stubs.c stands in for; see that file for why a
//   D-Bus client never reaches them;
// - the Swift runtime's argv functions (swift_argv.c), so its CommandLine.cpp object, which reads
//   /proc/self/maps at every start of a static executable, is not linked.
int sd_listen_fds(int unset_environment);
int sd_is_socket(int fd, int family, int type, int listening);
char **_swift_stdlib_getUnsafeArgvArgc(int *outArgLen);
void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc);
#endif
