#define _GNU_SOURCE
#include "linux_shims.h"
#include <pthread.h>

int tessera_eventfd(unsigned int initval, int flags) {
    return eventfd(initval, flags);
}

void tessera_set_thread_name(const char *name) {
    pthread_setname_np(pthread_self(), name);
}
