// BPF map syscalls (filled by the dataplane work).
#include "addon.h"

napi_value kl_bpf_init(napi_env env, napi_value exports) {
  (void)env;
  return exports;
}
