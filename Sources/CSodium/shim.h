#ifndef TESSERA_CSODIUM_SHIM_H
#define TESSERA_CSODIUM_SHIM_H
// libsodium: X25519 + XSalsa20-Poly1305 (crypto_box_beforenm, crypto_secretbox_easy) for
// oidc-agent's socket protocol. Swift imports sodium.h as is; nothing needs a shim.
#include <sodium.h>
#endif
