#include "ccurl.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

// libcurl's entry points, resolved once by tessera_curl_load.
static struct {
    CURLcode (*global_init)(long);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *failure;
static char failure_text[512];

static void load(void) {
    // The SONAME the -dev package's libcurl.so points to; RTLD_LOCAL keeps its symbols (and
    // OpenSSL's) out of the global namespace.
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *reason = dlerror();
        snprintf(failure_text, sizeof failure_text, "cannot load libcurl: %s", reason ? reason : "unknown error");
        failure = failure_text;
        return;
    }
#define RESOLVE(field, name)                                                                              \
    do {                                                                                                  \
        *(void **)&api.field = dlsym(library, name);                                                      \
        if (!api.field) {                                                                                 \
            snprintf(failure_text, sizeof failure_text, "libcurl.so.4 lacks %s (too old a libcurl)", name); \
            failure = failure_text;                                                                       \
            return;                                                                                       \
        }                                                                                                 \
    } while (0)
    RESOLVE(global_init, "curl_global_init");
    RESOLVE(multi_init, "curl_multi_init");
    RESOLVE(multi_add_handle, "curl_multi_add_handle");
    RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
    RESOLVE(multi_perform, "curl_multi_perform");
    RESOLVE(multi_poll, "curl_multi_poll");
    RESOLVE(multi_wakeup, "curl_multi_wakeup");
    RESOLVE(multi_info_read, "curl_multi_info_read");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
#undef RESOLVE
}

const char *tessera_curl_load(void) {
    pthread_once(&once, load);
    return failure;
}

CURLcode tessera_curl_global_init(long flags) { return api.global_init(flags); }
CURLM *tessera_curl_multi_init(void) { return api.multi_init(); }
CURLMcode tessera_curl_multi_add_handle(CURLM *multi, CURL *easy) { return api.multi_add_handle(multi, easy); }
CURLMcode tessera_curl_multi_remove_handle(CURLM *multi, CURL *easy) { return api.multi_remove_handle(multi, easy); }
CURLMcode tessera_curl_multi_perform(CURLM *multi, int *running) { return api.multi_perform(multi, running); }
CURLMcode tessera_curl_multi_poll(CURLM *multi, struct curl_waitfd *extra, unsigned int count, int timeout_ms, int *ready) {
    return api.multi_poll(multi, extra, count, timeout_ms, ready);
}
CURLMcode tessera_curl_multi_wakeup(CURLM *multi) { return api.multi_wakeup(multi); }
CURLMsg *tessera_curl_multi_info_read(CURLM *multi, int *left) { return api.multi_info_read(multi, left); }
CURL *tessera_curl_easy_init(void) { return api.easy_init(); }
void tessera_curl_easy_cleanup(CURL *easy) { api.easy_cleanup(easy); }
const char *tessera_curl_easy_strerror(CURLcode code) { return api.easy_strerror(code); }
struct curl_slist *tessera_curl_slist_append(struct curl_slist *list, const char *text) { return api.slist_append(list, text); }
void tessera_curl_slist_free_all(struct curl_slist *list) { api.slist_free_all(list); }

CURLcode tessera_curl_set_long(CURL *handle, CURLoption option, long value) { return api.easy_setopt(handle, option, value); }
CURLcode tessera_curl_set_offset(CURL *handle, CURLoption option, curl_off_t value) { return api.easy_setopt(handle, option, value); }
CURLcode tessera_curl_set_pointer(CURL *handle, CURLoption option, const void *value) { return api.easy_setopt(handle, option, value); }
CURLcode tessera_curl_set_callback(CURL *handle, CURLoption option, tessera_curl_data_callback value) {
    return api.easy_setopt(handle, option, value);
}
CURLcode tessera_curl_get_long(CURL *handle, CURLINFO info, long *value) { return api.easy_getinfo(handle, info, value); }
