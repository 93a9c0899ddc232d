#ifndef KUBE_LB_BPF_CMD_H
#define KUBE_LB_BPF_CMD_H
// bpf(2) commands, one function per shape of their attr, for bpf.c (called from JS) and write_behind.c (called
// from its writer thread). No N-API here, so the writer thread can use them too: each returns what the kernel
// returned (a descriptor, or 0) or -errno, read right after the call.
#include <linux/bpf.h>
#include <stdint.h>

// BPF_OBJ_GET (fd unused) and BPF_OBJ_PIN (file_flags unused).
long kl_bpf_obj(enum bpf_cmd cmd, const char *path, int32_t fd, uint32_t file_flags);

// BPF_MAP_CREATE; inner_fd < 0 means none. The kernel keeps at most 15 characters of the name.
long kl_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags,
                       const char *name, int32_t inner_fd);

// BPF_MAP_GET_FD_BY_ID.
long kl_bpf_map_get_fd_by_id(uint32_t id);

// BPF_OBJ_GET_INFO_BY_FD for a map.
long kl_bpf_map_info(int32_t fd, struct bpf_map_info *info);

// BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM (value NULL) and BPF_MAP_GET_NEXT_KEY (value is
// where the next key goes, key NULL for the first): the kernel reads next_key from value's slot of the attr.
long kl_bpf_elem(enum bpf_cmd cmd, int32_t fd, const void *key, void *value, uint64_t flags);

// BPF_MAP_LOOKUP_BATCH (with the in/out tokens), BPF_MAP_UPDATE_BATCH and BPF_MAP_DELETE_BATCH (values NULL).
// *count goes in as how many elements to handle and comes back as how many the kernel handled, on failure too.
long kl_bpf_batch(enum bpf_cmd cmd, int32_t fd, void *in_batch, void *out_batch, void *keys, void *values,
                  uint32_t *count, uint64_t elem_flags);

#endif
