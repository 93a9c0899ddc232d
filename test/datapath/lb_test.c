// TEST-ONLY DATAPATH. Not a product dataplane: it exists so that tests can prove, with real packets, that the
// entries kube-lb writes into Cilium-shaped lb4 maps are the entries Cilium's node-port path needs.
//
// Attached at tc ingress of the LB node's netdev, it reads the maps the way Cilium's nodeport_lb4() treats
// external traffic:
//   - master lookup with scope 0 and the version's protocol rule (proto forced to 0 for 1.14–1.16; exact then
//     0 for 1.17/1.18; exact only for 1.19);
//   - count == 0 drops (no service); a master without ROUTABLE drops (DROP_IS_CLUSTER_IP);
//   - SOURCE_RANGE: the client must match cilium_lb4_source_range (inverted by SOURCE_RANGE_DENY on 1.17+);
//   - backend pick: random slot 1..count then the slot's backend_id, or with maglev the service's inner table
//     indexed by a flow hash modulo M; a missing slot, table or backend drops;
//   - DNAT to backend address:port and SNAT to the node address, FIB lookup, redirect out;
//   - replies: reverse SNAT from a small conntrack of this program, then reverse DNAT with the service's
//     cilium_lb4_reverse_nat entry (a missing entry drops the reply, as in Cilium).
// Existing flows keep their backend (conntrack) while it exists; a TCP SYN always picks afresh.
// Not modelled: session affinity, DSR, IP options and fragments, ICMP, L7, NAT46.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef MAGLEV_M
#define MAGLEV_M 16381
#endif
#define AF_INET 2

#define SVC_FLAG_ROUTABLE 0x40
#define SVC_FLAG_SOURCE_RANGE 0x80
#define SVC_FLAG2_SOURCE_RANGE_DENY 0x40

// What the loader writes into klb_config[0].
#define PROTO_ANY 0         /* 1.14–1.16: lb4_key.proto is always 0 */
#define PROTO_EXACT_THEN_ANY 1 /* 1.17, 1.18 */
#define PROTO_EXACT 2       /* 1.19 */

struct lb4_key {
  __be32 address;
  __be16 dport;
  __u16 backend_slot;
  __u8 proto;
  __u8 scope;
  __u8 pad[2];
};

struct lb4_service {
  __u32 backend_id; // union with affinity_timeout / l7 proxy port on masters
  __u16 count;
  __u16 rev_nat_index; // network byte order, used as stored
  __u8 flags;
  __u8 flags2;
  __u16 tail; // pad or qcount
};

struct lb4_backend {
  __be32 address;
  __be16 port;
  __u8 proto;
  __u8 flags;
  __u8 tail[4];
};

struct lb4_reverse_nat {
  __be32 address;
  __be16 port;
} __attribute__((packed));

struct lb4_src_range_key {
  __u32 prefixlen;
  __u16 rev_nat_id;
  __u16 pad;
  __be32 addr;
};

struct maglev_lut {
  __u32 backend_ids[MAGLEV_M];
};

struct klb_config {
  __u32 proto_mode;
  __u32 maglev;
  __be32 snat_addr;
  __u32 flags2_deny; // 1 when SOURCE_RANGE_DENY exists (1.17+)
};

struct ct_key {
  __be32 client;
  __be32 vip;
  __be16 cport;
  __be16 vport;
  __u8 proto;
  __u8 pad[3];
};

struct ct_val {
  __u32 backend_id;
  __be16 snat_port;
  __u16 rev_nat_index;
};

struct ct_rev_key {
  __be32 backend;
  __be32 node;
  __be16 bport;
  __be16 nport;
  __u8 proto;
  __u8 pad[3];
};

struct ct_rev_val {
  __be32 client;
  __be16 cport;
  __u16 rev_nat_index;
};

// Cilium's maps, reused from their pins by the loader (bpftool "map name X pinned PATH").
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, struct lb4_key);
  __type(value, struct lb4_service);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_lb4_services_v2 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u32);
  __type(value, struct lb4_backend);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_lb4_backends_v3 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u16);
  __type(value, struct lb4_reverse_nat);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_lb4_reverse_nat SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __type(key, struct lb4_src_range_key);
  __type(value, __u8);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_lb4_source_range SEC(".maps");

struct maglev_inner {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(struct maglev_lut));
  __uint(max_entries, 1);
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __type(key, __u16);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __array(values, struct maglev_inner);
} cilium_lb4_maglev SEC(".maps");

// This program's own state.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, struct klb_config);
  __uint(max_entries, 1);
} klb_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __type(key, struct ct_key);
  __type(value, struct ct_val);
  __uint(max_entries, 65536);
} klb_ct SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __type(key, struct ct_rev_key);
  __type(value, struct ct_rev_val);
  __uint(max_entries, 65536);
} klb_ct_rev SEC(".maps");

#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define IP_SRC_OFF (IP_OFF + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (IP_OFF + offsetof(struct iphdr, daddr))
#define L4_OFF (IP_OFF + sizeof(struct iphdr))

struct flow {
  __be32 saddr;
  __be32 daddr;
  __be16 sport;
  __be16 dport;
  __u8 proto;
  __u8 syn;
  __u16 tot_len;
};

static __always_inline __u32 flow_hash(const struct flow *f) {
  __u32 h = f->saddr * 0x9e3779b1u;
  h ^= f->daddr + 0x7f4a7c15u + (h << 6) + (h >> 2);
  h ^= (((__u32)f->sport << 16) | f->dport) * 0x85ebca6bu;
  h ^= f->proto;
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  return h;
}

static __always_inline int l4_csum_off(__u8 proto) {
  return proto == IPPROTO_TCP ? L4_OFF + offsetof(struct tcphdr, check) : L4_OFF + offsetof(struct udphdr, check);
}

// Rewrites addresses and ports, fixing the IP and L4 checksums (a UDP checksum of 0 stays 0).
static __always_inline int rewrite(struct __sk_buff *skb, const struct flow *f, __be32 saddr, __be16 sport,
                                   __be32 daddr, __be16 dport) {
  int csum_off = l4_csum_off(f->proto);
  __u64 l4flags = BPF_F_PSEUDO_HDR;
  int l4csum = 1;
  if (f->proto == IPPROTO_UDP) {
    __u16 check = 0;
    if (bpf_skb_load_bytes(skb, csum_off, &check, sizeof(check)) < 0) return -1;
    l4csum = check != 0;
    l4flags |= BPF_F_MARK_MANGLED_0;
  }
  if (l4csum) {
    if (bpf_l4_csum_replace(skb, csum_off, f->saddr, saddr, l4flags | sizeof(saddr)) < 0) return -1;
    if (bpf_l4_csum_replace(skb, csum_off, f->daddr, daddr, l4flags | sizeof(daddr)) < 0) return -1;
    if (bpf_l4_csum_replace(skb, csum_off, f->sport, sport, sizeof(sport)) < 0) return -1;
    if (bpf_l4_csum_replace(skb, csum_off, f->dport, dport, sizeof(dport)) < 0) return -1;
  }
  if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, f->saddr, saddr, sizeof(saddr)) < 0) return -1;
  if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, f->daddr, daddr, sizeof(daddr)) < 0) return -1;
  if (bpf_skb_store_bytes(skb, IP_SRC_OFF, &saddr, sizeof(saddr), 0) < 0) return -1;
  if (bpf_skb_store_bytes(skb, IP_DST_OFF, &daddr, sizeof(daddr), 0) < 0) return -1;
  if (bpf_skb_store_bytes(skb, L4_OFF, &sport, sizeof(sport), 0) < 0) return -1;
  if (bpf_skb_store_bytes(skb, L4_OFF + 2, &dport, sizeof(dport), 0) < 0) return -1;
  return 0;
}

// Routes the rewritten packet like Cilium's FIB-based redirect: fill in the MACs, or let the kernel resolve
// the neighbour.
static __always_inline int forward(struct __sk_buff *skb, const struct flow *f, __be32 saddr, __be32 daddr) {
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.l4_protocol = f->proto;
  fib.tot_len = f->tot_len;
  fib.ipv4_src = saddr;
  fib.ipv4_dst = daddr;
  fib.ifindex = skb->ingress_ifindex;
  long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
  if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
    if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), fib.dmac, ETH_ALEN, 0) < 0) return TC_ACT_SHOT;
    if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_source), fib.smac, ETH_ALEN, 0) < 0) return TC_ACT_SHOT;
    return bpf_redirect(fib.ifindex, 0);
  }
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
    struct bpf_redir_neigh nh = {.nh_family = AF_INET, .ipv4_nh = fib.ipv4_dst};
    return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
  }
  return TC_ACT_SHOT;
}

static __always_inline int parse(struct __sk_buff *skb, struct flow *f) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return -1;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff))) return -1;
  if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP) return -1;
  f->saddr = ip->saddr;
  f->daddr = ip->daddr;
  f->proto = ip->protocol;
  f->tot_len = bpf_ntohs(ip->tot_len);
  f->syn = 0;
  if (f->proto == IPPROTO_TCP) {
    struct tcphdr *tcp = (void *)(ip + 1);
    if ((void *)(tcp + 1) > end) return -1;
    f->sport = tcp->source;
    f->dport = tcp->dest;
    f->syn = tcp->syn && !tcp->ack;
  } else {
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end) return -1;
    f->sport = udp->source;
    f->dport = udp->dest;
  }
  return 0;
}

static __always_inline int reply(struct __sk_buff *skb, const struct flow *f, const struct ct_rev_val *rv) {
  __u16 index = rv->rev_nat_index;
  struct lb4_reverse_nat *rn = bpf_map_lookup_elem(&cilium_lb4_reverse_nat, &index);
  if (!rn) return TC_ACT_SHOT;
  __be32 vip = rn->address;
  __be16 vport = rn->port;
  __be32 client = rv->client;
  __be16 cport = rv->cport;
  if (rewrite(skb, f, vip, vport, client, cport) < 0) return TC_ACT_SHOT;
  return forward(skb, f, vip, client);
}

static __always_inline struct lb4_service *lookup_master(struct lb4_key *key, const struct flow *f,
                                                         const struct klb_config *cfg) {
  key->address = f->daddr;
  key->dport = f->dport;
  key->backend_slot = 0;
  key->scope = 0;
  key->proto = cfg->proto_mode == PROTO_ANY ? 0 : f->proto;
  struct lb4_service *svc = bpf_map_lookup_elem(&cilium_lb4_services_v2, key);
  if (!svc && cfg->proto_mode == PROTO_EXACT_THEN_ANY) {
    key->proto = 0;
    svc = bpf_map_lookup_elem(&cilium_lb4_services_v2, key);
  }
  return svc;
}

static __always_inline int source_allowed(const struct lb4_service *svc, const struct flow *f,
                                          const struct klb_config *cfg) {
  if (!(svc->flags & SVC_FLAG_SOURCE_RANGE)) return 1;
  struct lb4_src_range_key k = {.prefixlen = 64, .rev_nat_id = svc->rev_nat_index, .addr = f->saddr};
  int found = bpf_map_lookup_elem(&cilium_lb4_source_range, &k) != NULL;
  if (cfg->flags2_deny && (svc->flags2 & SVC_FLAG2_SOURCE_RANGE_DENY)) return !found;
  return found;
}

static __always_inline __u32 pick_backend(struct lb4_key *key, const struct lb4_service *svc, const struct flow *f,
                                          const struct klb_config *cfg) {
  if (cfg->maglev) {
    __u16 index = svc->rev_nat_index;
    void *inner = bpf_map_lookup_elem(&cilium_lb4_maglev, &index);
    if (!inner) return 0;
    __u32 zero = 0;
    struct maglev_lut *lut = bpf_map_lookup_elem(inner, &zero);
    if (!lut) return 0;
    __u32 cell = flow_hash(f) % MAGLEV_M;
    // The compiler knows the bound; the verifier must be told, so keep the check from being folded away.
    asm volatile("" : "+r"(cell));
    if (cell >= MAGLEV_M) return 0;
    return lut->backend_ids[cell];
  }
  key->backend_slot = (bpf_get_prandom_u32() % svc->count) + 1;
  struct lb4_service *slot = bpf_map_lookup_elem(&cilium_lb4_services_v2, key);
  return slot ? slot->backend_id : 0;
}

// A source port for the SNATed flow: the client's if free for this backend, else one of a few hashed ones.
static __always_inline int snat_port(const struct flow *f, __be32 node, const struct lb4_backend *be, __be16 *out) {
  struct ct_rev_key rk = {.backend = be->address, .node = node, .bport = be->port, .proto = f->proto};
  __u32 h = flow_hash(f);
#pragma unroll
  for (int i = 0; i < 8; i++) {
    __be16 port = i == 0 ? f->sport : bpf_htons(32768 + ((h + i * 7919) & 0x7fff));
    rk.nport = port;
    struct ct_rev_val *cur = bpf_map_lookup_elem(&klb_ct_rev, &rk);
    if (!cur || (cur->client == f->saddr && cur->cport == f->sport)) {
      *out = port;
      return 0;
    }
  }
  return -1;
}

SEC("tc")
int klb_lb_ingress(struct __sk_buff *skb) {
  struct flow f = {};
  if (parse(skb, &f) < 0) return TC_ACT_OK;
  __u32 zero = 0;
  struct klb_config *cfg = bpf_map_lookup_elem(&klb_config, &zero);
  if (!cfg) return TC_ACT_OK;

  struct ct_rev_key rk = {.backend = f.saddr, .node = f.daddr, .bport = f.sport, .nport = f.dport, .proto = f.proto};
  struct ct_rev_val *rv = bpf_map_lookup_elem(&klb_ct_rev, &rk);
  if (rv) return reply(skb, &f, rv);

  struct lb4_key key = {};
  struct lb4_service *svc = lookup_master(&key, &f, cfg);
  if (!svc) return TC_ACT_OK; // not a service: the node's own traffic
  if (svc->count == 0) return TC_ACT_SHOT;
  if (!(svc->flags & SVC_FLAG_ROUTABLE)) return TC_ACT_SHOT;
  if (!source_allowed(svc, &f, cfg)) return TC_ACT_SHOT;

  struct ct_key ck = {.client = f.saddr, .vip = f.daddr, .cport = f.sport, .vport = f.dport, .proto = f.proto};
  struct ct_val *cv = bpf_map_lookup_elem(&klb_ct, &ck);
  __u32 backend_id = 0;
  __be16 sport = 0;
  struct lb4_backend *be = NULL;
  if (cv && !f.syn && cv->rev_nat_index == svc->rev_nat_index) {
    be = bpf_map_lookup_elem(&cilium_lb4_backends_v3, &cv->backend_id);
    if (be) {
      backend_id = cv->backend_id;
      sport = cv->snat_port;
    }
  }
  if (!be) {
    backend_id = pick_backend(&key, svc, &f, cfg);
    if (!backend_id) return TC_ACT_SHOT;
    be = bpf_map_lookup_elem(&cilium_lb4_backends_v3, &backend_id);
    if (!be) return TC_ACT_SHOT;
    if (snat_port(&f, cfg->snat_addr, be, &sport) < 0) return TC_ACT_SHOT;
    struct ct_val nv = {.backend_id = backend_id, .snat_port = sport, .rev_nat_index = svc->rev_nat_index};
    bpf_map_update_elem(&klb_ct, &ck, &nv, BPF_ANY);
    struct ct_rev_key nrk = {.backend = be->address, .node = cfg->snat_addr, .bport = be->port, .nport = sport, .proto = f.proto};
    struct ct_rev_val nrv = {.client = f.saddr, .cport = f.sport, .rev_nat_index = svc->rev_nat_index};
    bpf_map_update_elem(&klb_ct_rev, &nrk, &nrv, BPF_ANY);
  }
  __be32 baddr = be->address;
  __be16 bport = be->port;
  __be32 node = cfg->snat_addr;
  if (rewrite(skb, &f, node, sport, baddr, bport) < 0) return TC_ACT_SHOT;
  return forward(skb, &f, node, baddr);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
