#ifndef TESSERA_CLIBSECRETHEADERS_H
#define TESSERA_CLIBSECRETHEADERS_H
// libsecret's and GLib's real headers, for KeyringTests only: it checks that the few types and
// constants Sources/CLibSecret declares by hand (so that tesserad need not link libsecret) match them.
#include <libsecret/secret.h>
#endif
