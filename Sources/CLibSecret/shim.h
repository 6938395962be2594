#ifndef TESSERA_CLIBSECRET_SHIM_H
#define TESSERA_CLIBSECRET_SHIM_H
#include <libsecret/secret.h>
#endif
