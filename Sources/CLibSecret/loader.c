#include "clibsecret.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

// libsecret's and GLib's entry points, resolved once from libsecret's handle (dlsym searches the
// library and then its dependencies: GLib, GObject, GIO).
static struct {
    int (*password_storev_sync)(const void *, void *, const char *, const char *, const char *, void *, tessera_gerror **);
    char *(*password_lookupv_nonpageable_sync)(const void *, void *, void *, tessera_gerror **);
    void (*password_free)(char *);
    tessera_glist *(*password_searchv_sync)(const void *, void *, int, void *, tessera_gerror **);
    int (*password_clearv_sync)(const void *, void *, void *, tessera_gerror **);
    void *(*retrievable_get_attributes)(void *);
    void *(*schema_newv)(const char *, int, void *);
    void (*schema_unref)(void *);
    uint32_t (*secret_error_get_quark)(void);
    uint32_t (*dbus_error_quark)(void);
    uint32_t (*io_error_quark)(void);
    char *(*dbus_error_get_remote_error)(const tessera_gerror *);
    void (*error_free)(tessera_gerror *);
    void (*free)(void *);
    char *(*strdup)(const char *);
    unsigned (*str_hash)(const void *);
    int (*str_equal)(const void *, const void *);
    void *(*hash_table_new_full)(unsigned (*)(const void *), int (*)(const void *, const void *), void (*)(void *),
                                 void (*)(void *));
    int (*hash_table_insert)(void *, void *, void *);
    void *(*hash_table_lookup)(void *, const void *);
    void (*hash_table_unref)(void *);
    void (*list_free_full)(tessera_glist *, void (*)(void *));
    void (*object_unref)(void *);
    void (*thread_pool_set_max_idle_time)(unsigned);
    size_t (*type_from_name)(const char *);
} api;

// libsecret's enum types, registered by calling their `*_get_type` (those missing from an older
// libsecret are skipped: it cannot use them either).
static const char *const enum_type_functions[] = {
    "secret_schema_attribute_type_get_type", "secret_schema_flags_get_type", "secret_schema_type_get_type",
    "secret_search_flags_get_type", "secret_service_flags_get_type", "secret_collection_flags_get_type",
    "secret_collection_create_flags_get_type", "secret_item_flags_get_type", "secret_item_create_flags_get_type",
    "secret_backend_flags_get_type", "secret_error_get_type",
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *library_handle;
static int opened, prepared;
static const char *failure;
static char failure_text[512];

// With `lock` held. Opens once; the outcome is kept.
static const char *open_library(const char *library) {
    if (opened) return failure;
    opened = 1;
    // RTLD_LOCAL keeps GLib's symbols out of the global namespace.
    library_handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!library_handle) {
        const char *reason = dlerror();
        snprintf(failure_text, sizeof failure_text, "cannot load libsecret: %s", reason ? reason : "unknown error");
        failure = failure_text;
        return failure;
    }
#define RESOLVE(field, name)                                                                              \
    do {                                                                                                  \
        *(void **)&api.field = dlsym(library_handle, name);                                               \
        if (!api.field) {                                                                                 \
            snprintf(failure_text, sizeof failure_text, "%s lacks %s (too old a libsecret or GLib)", library, name); \
            failure = failure_text;                                                                       \
            return failure;                                                                               \
        }                                                                                                 \
    } while (0)
    RESOLVE(password_storev_sync, "secret_password_storev_sync");
    RESOLVE(password_lookupv_nonpageable_sync, "secret_password_lookupv_nonpageable_sync");
    RESOLVE(password_free, "secret_password_free");
    RESOLVE(password_searchv_sync, "secret_password_searchv_sync");
    RESOLVE(password_clearv_sync, "secret_password_clearv_sync");
    RESOLVE(retrievable_get_attributes, "secret_retrievable_get_attributes");
    RESOLVE(schema_newv, "secret_schema_newv");
    RESOLVE(schema_unref, "secret_schema_unref");
    RESOLVE(secret_error_get_quark, "secret_error_get_quark");
    RESOLVE(dbus_error_quark, "g_dbus_error_quark");
    RESOLVE(io_error_quark, "g_io_error_quark");
    RESOLVE(dbus_error_get_remote_error, "g_dbus_error_get_remote_error");
    RESOLVE(error_free, "g_error_free");
    RESOLVE(free, "g_free");
    RESOLVE(strdup, "g_strdup");
    RESOLVE(str_hash, "g_str_hash");
    RESOLVE(str_equal, "g_str_equal");
    RESOLVE(hash_table_new_full, "g_hash_table_new_full");
    RESOLVE(hash_table_insert, "g_hash_table_insert");
    RESOLVE(hash_table_lookup, "g_hash_table_lookup");
    RESOLVE(hash_table_unref, "g_hash_table_unref");
    RESOLVE(list_free_full, "g_list_free_full");
    RESOLVE(object_unref, "g_object_unref");
    RESOLVE(thread_pool_set_max_idle_time, "g_thread_pool_set_max_idle_time");
    RESOLVE(type_from_name, "g_type_from_name");
#undef RESOLVE
    return NULL;
}

const char *tessera_secret_load(const char *library) {
    pthread_mutex_lock(&lock);
    const char *result = open_library(library);
    if (!result && !prepared) {
        prepared = 1;
        // Under the lock, so no keyring call (each one loads first) runs before this is done.
        for (size_t i = 0; i < sizeof enum_type_functions / sizeof *enum_type_functions; i++) {
            size_t (*get_type)(void);
            *(void **)&get_type = dlsym(library_handle, enum_type_functions[i]);
            if (get_type) (void)get_type();
        }
        // libsecret's GTasks run on GLib's thread pool, whose spare workers wait 15 s for work and
        // then retire: one wake-up of an idle service after every keyring call. With no time limit
        // the spares (at most two, GLib's default) stay parked instead. Process-wide; GLib is only
        // here for libsecret.
        api.thread_pool_set_max_idle_time(0);
    }
    pthread_mutex_unlock(&lock);
    return result;
}

int tessera_secret_type_is_registered(const char *library, const char *name) {
    pthread_mutex_lock(&lock);
    int result = open_library(library) ? -1 : api.type_from_name(name) != 0;
    pthread_mutex_unlock(&lock);
    return result;
}

int tessera_secret_password_storev_sync(const tessera_secret_schema *schema, tessera_gtable *attributes,
                                        const char *collection, const char *label, const char *password,
                                        tessera_gerror **error) {
    return api.password_storev_sync(schema, attributes, collection, label, password, NULL, error);
}
char *tessera_secret_password_lookupv_nonpageable_sync(const tessera_secret_schema *schema, tessera_gtable *attributes,
                                                       tessera_gerror **error) {
    return api.password_lookupv_nonpageable_sync(schema, attributes, NULL, error);
}
void tessera_secret_password_free(char *password) { api.password_free(password); }
tessera_glist *tessera_secret_password_searchv_sync(const tessera_secret_schema *schema, tessera_gtable *attributes,
                                                    int flags, tessera_gerror **error) {
    return api.password_searchv_sync(schema, attributes, flags, NULL, error);
}
int tessera_secret_password_clearv_sync(const tessera_secret_schema *schema, tessera_gtable *attributes,
                                        tessera_gerror **error) {
    return api.password_clearv_sync(schema, attributes, NULL, error);
}
tessera_gtable *tessera_secret_retrievable_get_attributes(void *item) { return api.retrievable_get_attributes(item); }
void tessera_secret_list_free(tessera_glist *list) { api.list_free_full(list, api.object_unref); }

tessera_gtable *tessera_secret_schema_types_new(void) {
    return api.hash_table_new_full(api.str_hash, api.str_equal, api.free, NULL);
}
void tessera_secret_schema_types_insert(tessera_gtable *types, const char *name, int type) {
    // The table maps attribute names to GINT_TO_POINTER(type); STRING is 0, i.e. NULL.
    api.hash_table_insert(types, api.strdup(name), (void *)(intptr_t)type);
}
tessera_secret_schema *tessera_secret_schema_newv(const char *name, tessera_gtable *types) {
    return api.schema_newv(name, 0 /* SECRET_SCHEMA_NONE */, types);
}
void tessera_secret_schema_unref(tessera_secret_schema *schema) { api.schema_unref(schema); }

tessera_gtable *tessera_gtable_new_strings(void) {
    return api.hash_table_new_full(api.str_hash, api.str_equal, api.free, api.free);
}
void tessera_gtable_insert(tessera_gtable *table, const char *key, const char *value) {
    api.hash_table_insert(table, api.strdup(key), api.strdup(value));
}
const char *tessera_gtable_lookup(tessera_gtable *table, const char *key) { return api.hash_table_lookup(table, key); }
void tessera_gtable_unref(tessera_gtable *table) { api.hash_table_unref(table); }

void tessera_gerror_free(tessera_gerror *error) { api.error_free(error); }
char *tessera_gerror_remote_name(const tessera_gerror *error) { return api.dbus_error_get_remote_error(error); }
void tessera_g_free(void *memory) { api.free(memory); }
uint32_t tessera_secret_error_quark(void) { return api.secret_error_get_quark(); }
uint32_t tessera_g_dbus_error_quark(void) { return api.dbus_error_quark(); }
uint32_t tessera_g_io_error_quark(void) { return api.io_error_quark(); }
