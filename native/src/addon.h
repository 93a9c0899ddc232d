#ifndef KUBE_LB_ADDON_H
#define KUBE_LB_ADDON_H
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>

// Each returns exports on success, NULL with a pending JS exception on failure.
napi_value kl_bpf_init(napi_env env, napi_value exports); // bpf.c: BPF maps
napi_value kl_arp_init(napi_env env, napi_value exports); // arp.c: gratuitous ARP and ARP probes on raw packet sockets
napi_value kl_map_watch_init(napi_env env, napi_value exports); // map_watch.c: events of changed BPF maps
napi_value kl_write_behind_init(napi_env env, napi_value exports); // write_behind.c: ordered map writes off the JS thread

// What the areas share on the JS side (napi_common.c).

// One exported function in an area's property table, registered with kl_define.
#define KL_FUNCTION(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}
napi_value kl_define(napi_env env, napi_value exports, const napi_property_descriptor *props, size_t count);

// Reads `want` arguments into argv; throws a TypeError when fewer were passed.
bool kl_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);

napi_value kl_undefined(napi_env env);

// The errno name ("ENOENT"), or "E<number>" written to buf for a number the C library has no name for.
#define KL_ERRNO_NAME_SIZE 16
const char *kl_errno_name(int err, char buf[static KL_ERRNO_NAME_SIZE]);

// Throws an Error whose `code` is `code` (an errno name), with `errno` (the number), `syscall` (what failed) and,
// when processed >= 0, `processed` (how many elements a batch command handled before it failed). The TypeScript
// facades read these properties; `message` is only for people.
void kl_throw_syscall(napi_env env, const char *code, int err, const char *syscall, const char *message,
                      int64_t processed);

#endif
