// kube-lb native addon: only the syscalls that TypeScript cannot make (bpf(2), raw packet sockets, a BPF
// program's ring buffer on the event loop).
// Each area registers its functions from its own file; all encoding and policy live in TypeScript.
#include <node_api.h>
#include "addon.h"

static napi_value init(napi_env env, napi_value exports) {
  if (kl_bpf_init(env, exports) == NULL) return NULL;
  if (kl_arp_init(env, exports) == NULL) return NULL;
  if (kl_map_watch_init(env, exports) == NULL) return NULL;
  if (kl_write_behind_init(env, exports) == NULL) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
