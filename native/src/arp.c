// L2 syscalls for the speaker: send Ethernet frames on a raw AF_PACKET socket (gratuitous ARP), receive the ARP
// frames of one interface (the duplicate-address probe listens for answers), and create the TAP link that VIP
// routes point at. Frames are built in TypeScript (src/core/l2/arp-frame.ts); this file only
// moves bytes and reports errno. File descriptors go to JS as numbers; src/native/arp.ts closes them.
//
// Why a TAP link: the kernel answers ARP for a proxied VIP only while the VIP routes out of a device other than
// the one the request came in on. A TAP link without TUNSETPERSIST disappears when its last descriptor closes,
// so when the speaker dies — even by SIGKILL — the routes through it vanish and the node stops answering at once
// instead of answering for VIPs that another node has taken over.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "addon.h"

// Error with `code` = errno name, `errno` = number, `syscall` = what failed.
static napi_value l2_throw(napi_env env, int err, const char *what) {
  const char *name = strerrorname_np(err);
  char msg[160];
  snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
  kl_throw_syscall(env, name ? name : "EUNKNOWN", err, what, msg, -1);
  return NULL;
}

// Closes `fd` after `what` failed on it and throws that failure (errno read before close can change it).
static napi_value l2_close_throw(napi_env env, int fd, const char *what) {
  int err = errno;
  close(fd);
  return l2_throw(env, err, what);
}

static napi_value l2_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static bool l2_i32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) == napi_ok) return true;
  napi_throw_type_error(env, "ERR_INVALID_ARG", "expected an integer");
  return false;
}

// The bytes of a Uint8Array argument; throws a TypeError naming `what` for anything else.
static bool l2_bytes(napi_env env, napi_value v, const char *what, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &offset) == napi_ok && type == napi_uint8_array) return true;
  char msg[64];
  snprintf(msg, sizeof(msg), "%s must be a Uint8Array", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
  return false;
}

// l2PacketOpen(): fd. Protocol 0: the socket only sends, it never receives a copy of the segment's traffic.
static napi_value packet_open(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return l2_throw(env, errno, "socket(AF_PACKET)");
  return l2_int(env, fd);
}

// l2PacketSend(fd, ifindex, etherType, frame): bytes sent. `frame` is a whole Ethernet frame (header included);
// its first six bytes, the destination MAC, also go in the link-layer address the kernel wants.
static napi_value packet_send(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, ifindex, ethertype;
  if (!kl_args(env, info, 4, argv) || !l2_i32(env, argv[0], &fd) || !l2_i32(env, argv[1], &ifindex) ||
      !l2_i32(env, argv[2], &ethertype)) {
    return NULL;
  }
  void *data;
  size_t len;
  if (!l2_bytes(env, argv[3], "frame", &data, &len)) return NULL;
  if (len < ETH_HLEN) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "frame shorter than an Ethernet header");
    return NULL;
  }
  struct sockaddr_ll to;
  memset(&to, 0, sizeof(to));
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons((uint16_t)ethertype);
  to.sll_ifindex = ifindex;
  to.sll_halen = ETH_ALEN;
  memcpy(to.sll_addr, data, ETH_ALEN);
  ssize_t sent = sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof(to));
  if (sent < 0) return l2_throw(env, errno, "sendto(AF_PACKET)");
  return l2_int(env, sent);
}

// l2ArpListen(ifindex): fd of a non-blocking AF_PACKET socket that receives every ARP frame seen on `ifindex`
// (PACKET_HOST, broadcast and frames for other hosts alike: a probe's answer is unicast to the prober's MAC, but
// another host's own probe or announcement is broadcast). Opened only for the length of a probe, so the speaker
// never copies the segment's ARP traffic otherwise.
static napi_value arp_listen(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t ifindex;
  if (!kl_args(env, info, 1, argv) || !l2_i32(env, argv[0], &ifindex)) return NULL;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ARP));
  if (fd < 0) return l2_throw(env, errno, "socket(AF_PACKET, ETH_P_ARP)");
  struct sockaddr_ll at;
  memset(&at, 0, sizeof(at));
  at.sll_family = AF_PACKET;
  at.sll_protocol = htons(ETH_P_ARP);
  at.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&at, sizeof(at)) < 0) return l2_close_throw(env, fd, "bind(AF_PACKET)");
  return l2_int(env, fd);
}

// l2PacketRecv(fd, buffer): length of the next frame copied into `buffer` (truncated to its size), or -1 when
// none is queued (the socket never blocks the event loop).
static napi_value packet_recv(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  if (!kl_args(env, info, 2, argv) || !l2_i32(env, argv[0], &fd)) return NULL;
  void *data;
  size_t len;
  if (!l2_bytes(env, argv[1], "buffer", &data, &len)) return NULL;
  ssize_t got = recv(fd, data, len, MSG_DONTWAIT);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return l2_int(env, -1);
    return l2_throw(env, errno, "recv(AF_PACKET)");
  }
  return l2_int(env, got);
}

// l2TapOpen(name): fd of a new, non-persistent TAP link called `name` (no packet-information header).
static napi_value tap_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kl_args(env, info, 1, argv)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || len == 0 || len >= IFNAMSIZ ||
      napi_get_value_string_utf8(env, argv[0], ifr.ifr_name, IFNAMSIZ, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "name must be a string of 1 to 15 bytes");
    return NULL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return l2_throw(env, errno, "open(/dev/net/tun)");
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return l2_close_throw(env, fd, "ioctl(TUNSETIFF)");
  return l2_int(env, fd);
}

// l2Close(fd)
static napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!kl_args(env, info, 1, argv) || !l2_i32(env, argv[0], &fd)) return NULL;
  if (close(fd) < 0) return l2_throw(env, errno, "close");
  return NULL;
}

napi_value kl_arp_init(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      KL_FUNCTION("l2PacketOpen", packet_open),
      KL_FUNCTION("l2PacketSend", packet_send),
      KL_FUNCTION("l2ArpListen", arp_listen),
      KL_FUNCTION("l2PacketRecv", packet_recv),
      KL_FUNCTION("l2TapOpen", tap_open),
      KL_FUNCTION("l2Close", close_fd),
  };
  return kl_define(env, exports, props, sizeof(props) / sizeof(props[0]));
}
