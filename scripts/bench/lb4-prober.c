// The prober of `npm run bench -- maps`: keeps looking every VIP up the way the datapath does (master entry, one
// backend slot, that slot's backend, the revNAT entry) while another process prunes and kube-lb repairs, and
// reports how long each VIP's lookups missed as this prober saw it. A lookup misses when the entry is absent or
// its bytes differ from what kube-lb programmed.
//   lb4-prober DIR CHECKS
// CHECKS (written by the bench): u32 vips, u32 slots, then per VIP 2 + 2*slots records of
// {u8 map (0 services, 1 backends, 2 revNAT), u8 key_len, u8 value_len, u8 pad, u8 key[16], u8 value[16]}:
// master, revNAT, then slot and backend for each slot. Slots are visited in turn, one per VIP per round.
// Runs until stdin closes, then prints one JSON line.
#include "bpf-pinned.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct check {
  uint8_t map, key_len, value_len, pad;
  uint8_t key[16], value[16];
};


static int fds[3];
static uint64_t lookups, failed;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int ok(const struct check *c) {
  uint8_t value[64];
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = fds[c->map];
  attr.key = (uint64_t)(uintptr_t)c->key;
  attr.value = (uint64_t)(uintptr_t)value;
  lookups++;
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0 || memcmp(value, c->value, c->value_len) != 0) {
    failed++;
    return 0;
  }
  return 1;
}

static uint32_t vips, slots;
static struct check *checks;
static uint64_t *down_since, *down_total;
static uint32_t *down_times;
static uint32_t ndown; // VIPs down now

// One VIP, as a packet of round `round` would find it: every lookup of the chain is done (a real datapath stops
// at the first miss; the count of failed lookups here is per entry).
static void probe(uint32_t v, uint64_t round) {
  const struct check *c = checks + (size_t)v * (2 + 2 * slots);
  uint32_t s = (uint32_t)(round % slots);
  int up = ok(&c[0]) & ok(&c[1]) & ok(&c[2 + 2 * s]) & ok(&c[3 + 2 * s]);
  uint64_t t = now_ns();
  if (!up && !down_since[v]) {
    down_since[v] = t;
    down_times[v]++;
    ndown++;
  } else if (up && down_since[v]) {
    down_total[v] += t - down_since[v];
    down_since[v] = 0;
    ndown--;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s DIR CHECKS\n", argv[0]);
    return 2;
  }
  fds[0] = open_pinned(argv[1], "cilium_lb4_services_v2", BPF_F_RDONLY);
  fds[1] = open_pinned(argv[1], "cilium_lb4_backends_v3", BPF_F_RDONLY);
  fds[2] = open_pinned(argv[1], "cilium_lb4_reverse_nat", BPF_F_RDONLY);
  FILE *f = fopen(argv[2], "rb");
  if (!f || fread(&vips, 4, 1, f) != 1 || fread(&slots, 4, 1, f) != 1 || slots == 0) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 1;
  }
  size_t n = (size_t)vips * (2 + 2 * slots);
  checks = calloc(n, sizeof(*checks));
  down_since = calloc(vips, 8);
  down_total = calloc(vips, 8);
  down_times = calloc(vips, 4);
  if (!checks || !down_since || !down_total || !down_times || fread(checks, sizeof(*checks), n, f) != n) {
    fprintf(stderr, "cannot read %zu checks from %s\n", n, argv[2]);
    return 1;
  }
  fclose(f);
  printf("ready\n");
  fflush(stdout);

  struct pollfd in = {.fd = 0, .events = POLLIN};
  uint64_t round = 0, round_ns_max = 0, start = now_ns();
  for (;; round++) {
    uint64_t r0 = now_ns();
    for (uint32_t v = 0; v < vips; v++) {
      probe(v, round);
      // VIPs seen down are looked at again every 64 VIPs while there are few of them, so their gap is measured
      // to about 64 probes rather than to a whole round.
      if ((v & 63) == 63 && ndown > 0 && ndown <= 256)
        for (uint32_t w = 0; w < vips; w++)
          if (down_since[w]) probe(w, round);
    }
    uint64_t took = now_ns() - r0;
    if (round > 0 && took > round_ns_max) round_ns_max = took;
    if (poll(&in, 1, 0) > 0) break; // stdin readable (closed or a line): stop
  }
  uint64_t elapsed = now_ns() - start;
  uint32_t missed = 0, still_down = 0;
  printf("{\"rounds\":%llu,\"round_ms\":%.3f,\"round_ms_max\":%.3f,\"lookups\":%llu,\"failed_lookups\":%llu,\"gaps_ms\":[",
         (unsigned long long)round, round ? elapsed / 1e6 / round : 0, round_ns_max / 1e6, (unsigned long long)lookups,
         (unsigned long long)failed);
  for (uint32_t v = 0; v < vips; v++) {
    if (down_since[v]) still_down++;
    if (down_times[v] == 0) continue;
    printf("%s%.3f", missed++ ? "," : "", down_total[v] / 1e6);
  }
  printf("],\"vips_missed\":%u,\"vips_still_down\":%u}\n", missed, still_down);
  return 0;
}
