// The physical limit for `npm run bench -- maps`: writes the same Cilium lb4 entries the reconciler writes for
// S services x B backends (backends, slots, revNAT, masters; Cilium 1.18 layout) into pinned maps with raw
// bpf() calls, and prints {"entries":N,"ms":T,"cpu_ms":C}: wall and CPU (user+system) time of the updates only
// (entries are encoded before).
//   maps-baseline DIR SERVICES BACKENDS single|batch [ID_TABLE]
// ID_TABLE: the pin of kube-lb's service ID table (created by the bench, as the reconciler creates it): its one record
// per service is written after the Cilium entries and timed apart, as "id_entries", "id_ms" and "id_cpu_ms". A first
// programming writes those records too; a repair of Cilium's maps does not.
// single: one BPF_MAP_UPDATE_ELEM per entry (what a tight C writer does); batch: one BPF_MAP_UPDATE_BATCH per map.
#include "bpf-pinned.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


struct packed {
  uint8_t *keys, *values;
  size_t key_size, value_size, count;
};

static void put16be(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 255; }
static void put32be(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static void write_single(int fd, struct packed *p) {
  union bpf_attr attr;
  for (size_t i = 0; i < p->count; i++) {
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = fd;
    attr.key = (uint64_t)(uintptr_t)(p->keys + i * p->key_size);
    attr.value = (uint64_t)(uintptr_t)(p->values + i * p->value_size);
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
      fprintf(stderr, "update: %s\n", strerror(errno));
      exit(1);
    }
  }
}

static void write_batch(int fd, struct packed *p) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.batch.map_fd = fd;
  attr.batch.keys = (uint64_t)(uintptr_t)p->keys;
  attr.batch.values = (uint64_t)(uintptr_t)p->values;
  attr.batch.count = p->count;
  if (sys_bpf(BPF_MAP_UPDATE_BATCH, &attr) < 0) {
    fprintf(stderr, "update batch: %s\n", strerror(errno));
    exit(1);
  }
}

static struct packed alloc_packed(size_t n, size_t ks, size_t vs) {
  struct packed p = {calloc(n, ks), calloc(n, vs), ks, vs, 0};
  if (!p.keys || !p.values) exit(1);
  return p;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s DIR SERVICES BACKENDS single|batch [ID_TABLE]\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  size_t services = strtoul(argv[2], NULL, 10), backends = strtoul(argv[3], NULL, 10);
  int batch = strcmp(argv[4], "batch") == 0;
  int svc_fd = open_pinned(dir, "cilium_lb4_services_v2", 0);
  int be_fd = open_pinned(dir, "cilium_lb4_backends_v3", 0);
  int rn_fd = open_pinned(dir, "cilium_lb4_reverse_nat", 0);

  size_t nb = services * backends;
  struct packed be = alloc_packed(nb, 4, 12), slots = alloc_packed(nb, 12, 12);
  struct packed rn = alloc_packed(services, 2, 6), masters = alloc_packed(services, 12, 12);
  // kube-lb's service ID record: the frontend (address and port big-endian, proto, scope) -> its service ID.
  struct packed ids = alloc_packed(services, 8, 4);
  uint32_t next_backend = 0xfffffffe;
  for (size_t s = 0; s < services; s++) {
    uint32_t vip = 0x0a800000u + (uint32_t)s; // 10.128.0.0 + s
    uint16_t id = (uint16_t)(0xfffe - s);
    for (size_t b = 0; b < backends; b++) {
      uint32_t bid = next_backend--;
      uint8_t *k = be.keys + be.count * 4, *v = be.values + be.count * 12;
      memcpy(k, &bid, 4);
      put32be(v, (10u << 24) | ((64u + (uint32_t)b) << 16) | (uint32_t)s);
      put16be(v + 4, 30080);
      v[6] = 6;
      be.count++;
      uint8_t *sk = slots.keys + slots.count * 12, *sv = slots.values + slots.count * 12;
      put32be(sk, vip);
      put16be(sk + 4, 80);
      uint16_t slot = (uint16_t)(b + 1);
      memcpy(sk + 6, &slot, 2);
      sk[8] = 6;
      memcpy(sv, &bid, 4);
      put16be(sv + 6, id);
      sv[8] = 0x60;
      slots.count++;
    }
    put16be(rn.keys + rn.count * 2, id);
    put32be(rn.values + rn.count * 6, vip);
    put16be(rn.values + rn.count * 6 + 4, 80);
    rn.count++;
    uint8_t *mk = masters.keys + masters.count * 12, *mv = masters.values + masters.count * 12;
    put32be(mk, vip);
    put16be(mk + 4, 80);
    mk[8] = 6;
    uint16_t count = (uint16_t)backends;
    memcpy(mv + 4, &count, 2);
    put16be(mv + 6, id);
    mv[8] = 0x60;
    masters.count++;
    uint8_t *ik = ids.keys + ids.count * 8;
    put32be(ik, vip);
    put16be(ik + 4, 80);
    ik[6] = 6;
    uint32_t service_id = id;
    memcpy(ids.values + ids.count * 4, &service_id, 4);
    ids.count++;
  }

  struct timespec a, b, ca, cb;
  clock_gettime(CLOCK_MONOTONIC, &a);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
  void (*write)(int, struct packed *) = batch ? write_batch : write_single;
  write(be_fd, &be);
  write(svc_fd, &slots);
  write(rn_fd, &rn);
  write(svc_fd, &masters);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  double cpu_ms = (cb.tv_sec - ca.tv_sec) * 1e3 + (cb.tv_nsec - ca.tv_nsec) / 1e6;
  printf("{\"entries\":%zu,\"ms\":%.3f,\"cpu_ms\":%.3f", be.count + slots.count + rn.count + masters.count, ms, cpu_ms);
  if (argc == 6) {
    int ids_fd = open_pinned_path(argv[5], 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
    write(ids_fd, &ids);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf(",\"id_entries\":%zu,\"id_ms\":%.3f,\"id_cpu_ms\":%.3f", ids.count,
           (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6,
           (cb.tv_sec - ca.tv_sec) * 1e3 + (cb.tv_nsec - ca.tv_nsec) / 1e6);
  }
  printf("}\n");
  return 0;
}
