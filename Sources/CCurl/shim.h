#ifndef TESSERA_CCURL_SHIM_H
#define TESSERA_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one fixed-arity
// wrapper per argument type.
static inline CURLcode tessera_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode tessera_curl_set_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode tessera_curl_set_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*tessera_curl_data_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode tessera_curl_set_callback(CURL *handle, CURLoption option, tessera_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode tessera_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
#endif
