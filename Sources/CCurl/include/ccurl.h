#ifndef TESSERA_CCURL_H
#define TESSERA_CCURL_H
// libcurl, loaded on first use. tesserad does not link libcurl: the library and the ~25 it pulls
// in (OpenSSL, GnuTLS via librtmp, Kerberos, LDAP, libssh2, …) were a third of its resident
// memory and of its start-up, and a service answering cached tokens may never make a request.
// `tessera_curl_load` dlopens libcurl.so.4 once; every other function here forwards to libcurl's
// own of the same name and may only be called after it succeeded. curl.h supplies the types and
// constants only.
#include <curl/curl.h>

/// Loads libcurl (once; later calls return the first outcome). NULL on success, else why not.
const char *tessera_curl_load(void);

CURLcode tessera_curl_global_init(long flags);
CURLM *tessera_curl_multi_init(void);
CURLMcode tessera_curl_multi_add_handle(CURLM *multi, CURL *easy);
CURLMcode tessera_curl_multi_remove_handle(CURLM *multi, CURL *easy);
CURLMcode tessera_curl_multi_perform(CURLM *multi, int *running);
CURLMcode tessera_curl_multi_poll(CURLM *multi, struct curl_waitfd *extra, unsigned int count, int timeout_ms, int *ready);
CURLMcode tessera_curl_multi_wakeup(CURLM *multi);
CURLMsg *tessera_curl_multi_info_read(CURLM *multi, int *left);
CURL *tessera_curl_easy_init(void);
void tessera_curl_easy_cleanup(CURL *easy);
const char *tessera_curl_easy_strerror(CURLcode code);
struct curl_slist *tessera_curl_slist_append(struct curl_slist *list, const char *text);
void tessera_curl_slist_free_all(struct curl_slist *list);

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one fixed-arity
// wrapper per argument type.
CURLcode tessera_curl_set_long(CURL *handle, CURLoption option, long value);
CURLcode tessera_curl_set_offset(CURL *handle, CURLoption option, curl_off_t value);
CURLcode tessera_curl_set_pointer(CURL *handle, CURLoption option, const void *value);
typedef size_t (*tessera_curl_data_callback)(char *data, size_t size, size_t count, void *context);
CURLcode tessera_curl_set_callback(CURL *handle, CURLoption option, tessera_curl_data_callback value);
CURLcode tessera_curl_get_long(CURL *handle, CURLINFO info, long *value);

#endif
