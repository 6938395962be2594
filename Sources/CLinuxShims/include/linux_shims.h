#ifndef TESSERA_CLINUXSHIMS_H
#define TESSERA_CLINUXSHIMS_H
// Linux calls that Glibc's Swift module does not export, each behind a fixed-arity wrapper.
// (The DBus module's loop thread uses both; they have nothing to do with libdbus itself.)
#include <sys/eventfd.h>

/// eventfd(2): the loop thread's wake-up descriptor. Returns the descriptor, or -1 with errno set.
int tessera_eventfd(unsigned int initval, int flags);

/// Names the calling thread (at most 15 bytes are kept), so it is recognisable in debuggers,
/// `top -H` and crash reports.
void tessera_set_thread_name(const char *name);

#endif
