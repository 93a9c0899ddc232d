// The two raw bpf() helpers the benchmark's C programs share: the syscall, and opening a pinned map.
#pragma once
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline long sys_bpf(enum bpf_cmd cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

// The map pinned at PATH opened with `file_flags` (0 or BPF_F_RDONLY); exits with a message when it cannot be.
static inline int open_pinned_path(const char *path, uint32_t file_flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.pathname = (uint64_t)(uintptr_t)path;
  attr.file_flags = file_flags;
  long fd = sys_bpf(BPF_OBJ_GET, &attr);
  if (fd < 0) {
    fprintf(stderr, "open %s: %s\n", path, strerror(errno));
    exit(1);
  }
  return (int)fd;
}

// DIR/NAME, as open_pinned_path.
static inline int open_pinned(const char *dir, const char *name, uint32_t file_flags) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return open_pinned_path(path, file_flags);
}
