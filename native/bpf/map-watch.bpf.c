// Tells kube-lb, within microseconds, that another process changed one of the BPF maps it programs.
//
// One BTF raw tracepoint on syscall exit (tp_btf/sys_exit): for every successful bpf(2) map update or delete,
// single or batch, the map is found from the caller's fd, and when its kernel ID is listed in `watched` (written
// by kube-lb) the change is counted; a change made by another process is also reported, with its key, through
// the `events` ring buffer. kube-lb's own writes are counted but not reported: the counters let it tell that
// nothing changed since a pass without re-reading 200,000 entries.
// Why a syscall tracepoint and not fexit on the kernel's htab functions: fexit needs BPF trampolines, which some
// kernels refuse (this lab's VM answers EPERM), and kernel-internal function names move; the syscall ABI does
// not. What it cannot see: writes made by BPF programs through helpers (Cilium's datapath never writes the lb4
// service, backend or revNAT maps) — the reconciler's periodic full re-read stays as the safety net.
// The cost: it runs on the exit of every syscall on the node (measured +55 ns per syscall on the lab VM, most of
// it the kernel taking its traced-syscall path); for any other syscall it returns after one compare.
// Built with clang -target bpf at addon build time; loaded and attached by libbpf (native/src/map_watch.c).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

// Only the fields read, relocated by name against the running kernel's BTF (CO-RE).
struct bpf_map {
  __u32 key_size;
  __u32 id;
} __attribute__((preserve_access_index));

struct file {
  void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
  unsigned int max_fds;
  struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
  struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
  struct files_struct *files;
} __attribute__((preserve_access_index));

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
  unsigned long di;
  unsigned long si;
  unsigned long orig_ax;
} __attribute__((preserve_access_index));
#define SYSCALL_NR(r) BPF_CORE_READ(r, orig_ax)
#define SYSCALL_ARG1(r) BPF_CORE_READ(r, di)
#define SYSCALL_ARG2(r) BPF_CORE_READ(r, si)
#define NR_BPF 321
#elif defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
  __u64 regs[31];
} __attribute__((preserve_access_index));
struct pt_regs {
  struct user_pt_regs user_regs;
  __u64 orig_x0;
  __s32 syscallno;
} __attribute__((preserve_access_index));
#define SYSCALL_NR(r) BPF_CORE_READ(r, syscallno)
#define SYSCALL_ARG1(r) BPF_CORE_READ(r, orig_x0)
#define SYSCALL_ARG2(r) BPF_CORE_READ(r, user_regs.regs[1])
#define NR_BPF 280
#else
#error "map-watch.bpf.c: set -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64"
#endif

#define MAX_WATCHED 16
#define MAX_KEY 16

enum { OP_UPDATE = 1, OP_DELETE = 2, OP_BATCH = 3 };

// Layout shared with map_watch.c and src/native/map-watch.ts (16 bytes + key). For OP_BATCH, `count` is the
// number of elements the kernel handled and no key is sent.
struct event {
  __u32 map_id;
  __u32 tgid;
  __u8 op;
  __u8 key_size;
  __u16 flags;
  __u32 count;
  __u64 ns; // bpf_ktime_get_ns(): CLOCK_MONOTONIC, comparable with any process's clock on the node
  __u8 key[MAX_KEY];
};

// event.flags
#define FLAG_WRITTEN_BACK 1 // the kernel write-back below put the deleted entry back before the syscall returned

struct counts {
  __u64 changes; // successful changes, kube-lb's own included (a batch counts as one)
  __u64 foreign; // changes made by another process
  __u64 dropped; // foreign changes not reported (ring buffer full)
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, MAX_WATCHED);
  __type(key, __u32);   // map ID
  __type(value, __u32); // slot in `counters`
} watched SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, MAX_WATCHED);
  __type(key, __u32);
  __type(value, struct counts);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32); // kube-lb's tgid
} self SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 22); // 4 MiB: about 130,000 queued events
} events SEC(".maps");

// Kernel write-back. kube-lb mirrors its own entries of the services, backends and revNAT maps into own_*; when
// another process deletes one of them, it goes back into the map from here, in the deleting process's own
// syscall exit, before that process sees its delete return: a lookup can only miss it in between. Only with
// BPF_NOEXIST, so nothing anyone wrote meanwhile is overwritten. lb_* are placeholders that the loader replaces
// with the real maps (bpf_map__reuse_fd) and own_* get their shapes; `writeback` holds the three maps' kernel IDs
// (0: off). Without them, the placeholders stay unused.
#define LB_MAP(name)                              \
  struct {                                        \
    __uint(type, BPF_MAP_TYPE_HASH);              \
    __uint(max_entries, 1);                       \
    __uint(key_size, 4);                          \
    __uint(value_size, 4);                        \
    __uint(map_flags, BPF_F_NO_PREALLOC);         \
  } name SEC(".maps")
LB_MAP(lb_services);
LB_MAP(lb_backends);
LB_MAP(lb_rev_nat);
LB_MAP(own_services);
LB_MAP(own_backends);
LB_MAP(own_rev_nat);

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __type(value, __u32); // kernel map ID of services, backends, revNAT
} writeback SEC(".maps");

#define WRITE_BACK(role, own, lb)                                      \
  do {                                                                 \
    __u32 r = role;                                                    \
    __u32 *w = bpf_map_lookup_elem(&writeback, &r);                    \
    if (w && *w == id) {                                               \
      void *v = bpf_map_lookup_elem(&own, key);                        \
      return v && bpf_map_update_elem(&lb, key, v, BPF_NOEXIST) == 0;  \
    }                                                                  \
  } while (0)

static __always_inline int write_back(__u32 id, const void *key) {
  WRITE_BACK(0, own_services, lb_services);
  WRITE_BACK(1, own_backends, lb_backends);
  WRITE_BACK(2, own_rev_nat, lb_rev_nat);
  return 0;
}

// The leading fields of union bpf_attr for the element and the batch commands.
struct elem_attr {
  __u32 map_fd;
  __u32 pad;
  __u64 key;
};

struct batch_attr {
  __u64 in_batch, out_batch, keys, values;
  __u32 count;
  __u32 map_fd;
};

static __always_inline struct bpf_map *map_of_fd(__u32 fd) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds)) return 0;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *f = 0;
  bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
  if (!f) return 0;
  return BPF_CORE_READ(f, private_data);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret) {
  if (ret < 0 || SYSCALL_NR(regs) != NR_BPF) return 0;
  long cmd = SYSCALL_ARG1(regs);
  const void *uattr = (const void *)SYSCALL_ARG2(regs);
  __u8 op;
  __u32 fd, count = 0;
  __u64 ukey = 0;
  if (cmd == BPF_MAP_UPDATE_ELEM || cmd == BPF_MAP_DELETE_ELEM || cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM) {
    struct elem_attr a;
    if (bpf_probe_read_user(&a, sizeof(a), uattr)) return 0;
    op = cmd == BPF_MAP_UPDATE_ELEM ? OP_UPDATE : OP_DELETE;
    fd = a.map_fd;
    ukey = a.key;
  } else if (cmd == BPF_MAP_UPDATE_BATCH || cmd == BPF_MAP_DELETE_BATCH || cmd == BPF_MAP_LOOKUP_AND_DELETE_BATCH) {
    struct batch_attr a;
    if (bpf_probe_read_user(&a, sizeof(a), uattr)) return 0;
    op = OP_BATCH;
    fd = a.map_fd;
    count = a.count;
  } else {
    return 0;
  }
  struct bpf_map *map = map_of_fd(fd);
  if (!map) return 0;
  __u32 id = BPF_CORE_READ(map, id);
  __u32 *slot = bpf_map_lookup_elem(&watched, &id);
  if (!slot) return 0;
  struct counts *c = bpf_map_lookup_elem(&counters, slot);
  if (!c) return 0;
  __sync_fetch_and_add(&c->changes, 1);
  __u32 zero = 0;
  __u32 *me = bpf_map_lookup_elem(&self, &zero);
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (me && *me == tgid) return 0;
  __sync_fetch_and_add(&c->foreign, 1);
  __u32 size = op == OP_BATCH ? 0 : BPF_CORE_READ(map, key_size);
  if (size > MAX_KEY) size = MAX_KEY;
  __u8 key[MAX_KEY] = {};
  if (size && bpf_probe_read_user(key, size, (const void *)ukey)) size = 0;
  __u16 flags = op == OP_DELETE && size && write_back(id, key) ? FLAG_WRITTEN_BACK : 0;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    __sync_fetch_and_add(&c->dropped, 1);
    return 0;
  }
  e->map_id = id;
  e->tgid = tgid;
  e->op = op;
  e->key_size = size;
  e->flags = flags;
  e->count = count;
  e->ns = bpf_ktime_get_ns();
  __builtin_memcpy(e->key, key, sizeof(e->key));
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
