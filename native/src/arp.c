// Gratuitous ARP on a raw AF_PACKET socket (filled by the L2 work).
#include "addon.h"

napi_value kl_arp_init(napi_env env, napi_value exports) {
  (void)env;
  return exports;
}
