#ifndef TESSERA_CDBUS_SHIM_H
#define TESSERA_CDBUS_SHIM_H
#include <dbus/dbus.h>
#include <sys/eventfd.h>

// libdbus spells its type codes as ((int) 'x') macros, which Swift cannot import.
static const int TESSERA_DBUS_TYPE_INVALID = DBUS_TYPE_INVALID;
static const int TESSERA_DBUS_TYPE_BYTE = DBUS_TYPE_BYTE;
static const int TESSERA_DBUS_TYPE_BOOLEAN = DBUS_TYPE_BOOLEAN;
static const int TESSERA_DBUS_TYPE_INT16 = DBUS_TYPE_INT16;
static const int TESSERA_DBUS_TYPE_UINT16 = DBUS_TYPE_UINT16;
static const int TESSERA_DBUS_TYPE_INT32 = DBUS_TYPE_INT32;
static const int TESSERA_DBUS_TYPE_UINT32 = DBUS_TYPE_UINT32;
static const int TESSERA_DBUS_TYPE_INT64 = DBUS_TYPE_INT64;
static const int TESSERA_DBUS_TYPE_UINT64 = DBUS_TYPE_UINT64;
static const int TESSERA_DBUS_TYPE_DOUBLE = DBUS_TYPE_DOUBLE;
static const int TESSERA_DBUS_TYPE_STRING = DBUS_TYPE_STRING;
static const int TESSERA_DBUS_TYPE_OBJECT_PATH = DBUS_TYPE_OBJECT_PATH;
static const int TESSERA_DBUS_TYPE_SIGNATURE = DBUS_TYPE_SIGNATURE;
static const int TESSERA_DBUS_TYPE_UNIX_FD = DBUS_TYPE_UNIX_FD;
static const int TESSERA_DBUS_TYPE_ARRAY = DBUS_TYPE_ARRAY;
static const int TESSERA_DBUS_TYPE_VARIANT = DBUS_TYPE_VARIANT;
static const int TESSERA_DBUS_TYPE_STRUCT = DBUS_TYPE_STRUCT;
static const int TESSERA_DBUS_TYPE_DICT_ENTRY = DBUS_TYPE_DICT_ENTRY;

// Glibc's Swift module does not export eventfd; the loop thread wakes through one.
static inline int tessera_eventfd(unsigned int initval, int flags) { return eventfd(initval, flags); }

// pthread_setname_np is a GNU extension that the Glibc module does not export; the loop thread
// names itself so it is recognisable in debuggers, top -H and crash reports.
#include <pthread.h>
extern int pthread_setname_np(pthread_t thread, const char *name);
static inline void tessera_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }
#endif
