// The attr of each bpf(2) command kube-lb makes (see bpf_cmd.h): everything else zeroed, as the kernel requires
// of the fields a command does not use.
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "bpf_cmd.h"

static uint64_t ptr_to_u64(const void *p) { return (uint64_t)(uintptr_t)p; }

// The one place the syscall is made; errno is read before anything else can change it.
static long run(enum bpf_cmd cmd, union bpf_attr *attr) {
  long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
  return r < 0 ? -errno : r;
}

long kl_bpf_obj(enum bpf_cmd cmd, const char *path, int32_t fd, uint32_t file_flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.pathname = ptr_to_u64(path);
  attr.bpf_fd = (uint32_t)fd;
  attr.file_flags = file_flags;
  return run(cmd, &attr);
}

long kl_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags,
                       const char *name, int32_t inner_fd) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = type;
  attr.key_size = key_size;
  attr.value_size = value_size;
  attr.max_entries = max_entries;
  attr.map_flags = flags;
  if (inner_fd >= 0) attr.inner_map_fd = (uint32_t)inner_fd;
  // The pinned path carries the full name.
  memcpy(attr.map_name, name, strnlen(name, BPF_OBJ_NAME_LEN - 1));
  return run(BPF_MAP_CREATE, &attr);
}

long kl_bpf_map_get_fd_by_id(uint32_t id) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_id = id;
  return run(BPF_MAP_GET_FD_BY_ID, &attr);
}

long kl_bpf_map_info(int32_t fd, struct bpf_map_info *info) {
  memset(info, 0, sizeof(*info));
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = (uint32_t)fd;
  attr.info.info_len = sizeof(*info);
  attr.info.info = ptr_to_u64(info);
  return run(BPF_OBJ_GET_INFO_BY_FD, &attr);
}

long kl_bpf_elem(enum bpf_cmd cmd, int32_t fd, const void *key, void *value, uint64_t flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = (uint32_t)fd;
  attr.key = ptr_to_u64(key);
  attr.value = ptr_to_u64(value); // the same slot as next_key
  attr.flags = flags;
  return run(cmd, &attr);
}

long kl_bpf_batch(enum bpf_cmd cmd, int32_t fd, void *in_batch, void *out_batch, void *keys, void *values,
                  uint32_t *count, uint64_t elem_flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.batch.map_fd = (uint32_t)fd;
  attr.batch.in_batch = ptr_to_u64(in_batch);
  attr.batch.out_batch = ptr_to_u64(out_batch);
  attr.batch.keys = ptr_to_u64(keys);
  attr.batch.values = ptr_to_u64(values);
  attr.batch.count = *count;
  attr.batch.elem_flags = elem_flags;
  long r = run(cmd, &attr);
  *count = attr.batch.count;
  return r;
}
