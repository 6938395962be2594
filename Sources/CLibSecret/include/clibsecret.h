#ifndef TESSERA_CLIBSECRET_H
#define TESSERA_CLIBSECRET_H
// libsecret, loaded on the first keyring call. tesserad does not link libsecret: linking it mapped
// GLib, GObject, GIO and seven more libraries into every tesserad at exec (≈ 2 MiB resident, see
// README, Performance), though the keyring is first used by the first token call or the tray.
// `tessera_secret_load` dlopens libsecret-1.so.0 once and registers its enum types; every other
// function here forwards to libsecret's or GLib's own and may only be called after it succeeded.
//
// No GLib header is included: GLib's headers need pkg-config's include flags, and a system-library
// target that supplies them also links the libraries. The few types and constants used are
// declared here with GLib's stable ABI layout and values (GLib 2.x, libsecret 0.18+); KeyringTests
// compares each against the real headers.
#include <stddef.h>
#include <stdint.h>

/// GError: `GQuark domain; gint code; gchar *message;`.
typedef struct tessera_gerror {
    uint32_t domain;
    int32_t code;
    char *message;
} tessera_gerror;

/// GList: `gpointer data; GList *next; GList *prev;`.
typedef struct tessera_glist {
    void *data;
    struct tessera_glist *next;
    struct tessera_glist *prev;
} tessera_glist;

/// A SecretSchema (opaque here).
typedef struct tessera_secret_schema tessera_secret_schema;
/// A GHashTable of strings to strings (libsecret's attribute form; opaque here).
typedef struct tessera_gtable tessera_gtable;

// SecretSchemaAttributeType
#define TESSERA_SECRET_ATTRIBUTE_STRING 0
#define TESSERA_SECRET_ATTRIBUTE_INTEGER 1
// SecretSearchFlags
#define TESSERA_SECRET_SEARCH_ALL 2
// SECRET_COLLECTION_DEFAULT
#define TESSERA_SECRET_COLLECTION_DEFAULT "default"
// SecretError codes
#define TESSERA_SECRET_ERROR_IS_LOCKED 2
#define TESSERA_SECRET_ERROR_NO_SUCH_OBJECT 3
// GDBusError codes
#define TESSERA_G_DBUS_ERROR_SERVICE_UNKNOWN 2
#define TESSERA_G_DBUS_ERROR_NAME_HAS_NO_OWNER 3
#define TESSERA_G_DBUS_ERROR_ACCESS_DENIED 9
#define TESSERA_G_DBUS_ERROR_AUTH_FAILED 10
#define TESSERA_G_DBUS_ERROR_DISCONNECTED 15
#define TESSERA_G_DBUS_ERROR_SPAWN_EXEC_FAILED 23
#define TESSERA_G_DBUS_ERROR_SPAWN_CHILD_EXITED 25
#define TESSERA_G_DBUS_ERROR_SPAWN_FAILED 27
#define TESSERA_G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND 31
// GIOErrorEnum codes
#define TESSERA_G_IO_ERROR_FAILED 0
#define TESSERA_G_IO_ERROR_NOT_FOUND 1
#define TESSERA_G_IO_ERROR_PERMISSION_DENIED 14
#define TESSERA_G_IO_ERROR_CLOSED 18
#define TESSERA_G_IO_ERROR_CANCELLED 19
#define TESSERA_G_IO_ERROR_CONNECTION_REFUSED 39
#define TESSERA_G_IO_ERROR_BROKEN_PIPE 44

/// Loads `library` (libsecret-1.so.0; tests name a missing one), once per process: later calls
/// return the first outcome whatever they name. Then registers libsecret's enum GTypes, serially,
/// before any keyring call can run (libsecret 0.20 registers them without a once-guard), and lets
/// GLib's idle pool threads park instead of retiring after 15 s. NULL on success, else why not.
const char *tessera_secret_load(const char *library);

/// Whether the GLib type system knows `name`, without registering anything; -1 when libsecret
/// cannot be opened. Opens the library without `tessera_secret_load`'s set-up (for a test that
/// the set-up registers the types).
int tessera_secret_type_is_registered(const char *library, const char *name);

// libsecret's non-variadic password functions (the cancellable is always NULL).
int tessera_secret_password_storev_sync(const tessera_secret_schema *schema, tessera_gtable *attributes,
                                        const char *collection, const char *label, const char *password,
                                        tessera_gerror **error);
char *tessera_secret_password_lookupv_nonpageable_sync(const tessera_secret_schema *schema, tessera_gtable *attributes,
                                                       tessera_gerror **error);
/// Wipes the password, then frees it.
void tessera_secret_password_free(char *password);
/// A list of SecretRetrievable objects; free with `tessera_secret_list_free`.
tessera_glist *tessera_secret_password_searchv_sync(const tessera_secret_schema *schema, tessera_gtable *attributes,
                                                    int flags, tessera_gerror **error);
int tessera_secret_password_clearv_sync(const tessera_secret_schema *schema, tessera_gtable *attributes,
                                        tessera_gerror **error);
/// The item's attributes, transfer full.
tessera_gtable *tessera_secret_retrievable_get_attributes(void *item);
/// Unrefs every object in the list, then frees the list.
void tessera_secret_list_free(tessera_glist *list);

/// A new table of attribute names (copied) to TESSERA_SECRET_ATTRIBUTE_* types, for `tessera_secret_schema_newv`.
tessera_gtable *tessera_secret_schema_types_new(void);
void tessera_secret_schema_types_insert(tessera_gtable *types, const char *name, int type);
/// `secret_schema_newv` with no flags; the schema keeps its own copy of `types`.
tessera_secret_schema *tessera_secret_schema_newv(const char *name, tessera_gtable *types);
void tessera_secret_schema_unref(tessera_secret_schema *schema);

/// A new table owning copies of its string keys and values.
tessera_gtable *tessera_gtable_new_strings(void);
/// Inserts copies of `key` and `value`.
void tessera_gtable_insert(tessera_gtable *table, const char *key, const char *value);
const char *tessera_gtable_lookup(tessera_gtable *table, const char *key);
void tessera_gtable_unref(tessera_gtable *table);

void tessera_gerror_free(tessera_gerror *error);
/// The D-Bus error name a GDBus error carries, or NULL; free with `tessera_g_free`.
char *tessera_gerror_remote_name(const tessera_gerror *error);
void tessera_g_free(void *memory);
uint32_t tessera_secret_error_quark(void);
uint32_t tessera_g_dbus_error_quark(void);
uint32_t tessera_g_io_error_quark(void);

#endif
