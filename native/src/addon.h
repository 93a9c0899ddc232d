#ifndef KUBE_LB_ADDON_H
#define KUBE_LB_ADDON_H
#include <node_api.h>

// Each returns exports on success, NULL with a pending JS exception on failure.
napi_value kl_bpf_init(napi_env env, napi_value exports); // bpf.c: BPF maps
napi_value kl_arp_init(napi_env env, napi_value exports); // arp.c: gratuitous ARP and ARP probes on raw packet sockets
napi_value kl_map_watch_init(napi_env env, napi_value exports); // map_watch.c: events of changed BPF maps
napi_value kl_write_behind_init(napi_env env, napi_value exports); // write_behind.c: ordered map writes off the JS thread

#endif
