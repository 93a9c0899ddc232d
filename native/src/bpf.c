// BPF map syscalls for the dataplane. This file only moves bytes between JS buffers and bpf(2) and reports
// errno; every layout, byte order and policy decision lives in TypeScript (src/native/bpf.ts is the only
// caller). File descriptors are returned to JS as plain numbers and closed by the facade; every error path in
// here closes what it opened before throwing.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "addon.h"

static long sys_bpf(enum bpf_cmd cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static uint64_t ptr_to_u64(const void *p) { return (uint64_t)(uintptr_t)p; }

// ------------------------------------------------------------------------------------------ errors

// Throws an Error whose `code` is the errno name ("ENOENT"), with `errno` (number) and `syscall` (the bpf
// command). `processed` is set for batch commands (how many elements the kernel handled before failing).
static void throw_errno(napi_env env, int err, const char *op, int64_t processed) {
  const char *name = strerrorname_np(err);
  char codebuf[16];
  if (name == NULL) {
    snprintf(codebuf, sizeof(codebuf), "E%d", err);
    name = codebuf;
  }
  char msg[160];
  snprintf(msg, sizeof(msg), "%s: %s (%s)", op, strerror(err), name);
  napi_value code, message, error, num, sys;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, op, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  if (processed >= 0) {
    napi_value p;
    napi_create_int64(env, processed, &p);
    napi_set_named_property(env, error, "processed", p);
  }
  napi_throw(env, error);
}

static void throw_type(napi_env env, const char *msg) { napi_throw_type_error(env, "ERR_INVALID_ARG", msg); }

// ------------------------------------------------------------------------------------------ arguments

#define MAX_ARGS 8

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = MAX_ARGS;
  napi_value tmp[MAX_ARGS];
  if (napi_get_cb_info(env, info, &argc, tmp, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    throw_type(env, "too few arguments");
    return false;
  }
  for (size_t i = 0; i < want; i++) argv[i] = tmp[i];
  return true;
}

static bool get_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    throw_type(env, "expected an unsigned 32-bit integer");
    return false;
  }
  return true;
}

static bool get_i32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    throw_type(env, "expected a 32-bit integer");
    return false;
  }
  return true;
}

// Accepts any Uint8Array (Node Buffers are Uint8Arrays).
static bool get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (!is_typed) {
    throw_type(env, "expected a Uint8Array");
    return false;
  }
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    throw_type(env, "expected a Uint8Array");
    return false;
  }
  return true;
}

static bool is_null_or_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

// Reads a string argument into buf (NUL-terminated); fails if it does not fit.
static bool get_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
    throw_type(env, "expected a string");
    return false;
  }
  if (len + 1 >= size) {
    throw_type(env, "string too long");
    return false;
  }
  return true;
}

static napi_value num_u32(napi_env env, uint32_t v) {
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

static napi_value num_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value boolean(napi_env env, bool v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

static napi_value undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

// ------------------------------------------------------------------------------------------ objects

// objGet(path, fileFlags) -> fd
static napi_value obj_get(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[4096];
  uint32_t flags;
  if (!get_args(env, info, 2, argv) || !get_string(env, argv[0], path, sizeof(path)) || !get_u32(env, argv[1], &flags))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.pathname = ptr_to_u64(path);
  attr.file_flags = flags;
  long fd = sys_bpf(BPF_OBJ_GET, &attr);
  if (fd < 0) {
    throw_errno(env, errno, "BPF_OBJ_GET", -1);
    return NULL;
  }
  return num_i32(env, (int32_t)fd);
}

// objPin(fd, path)
static napi_value obj_pin(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  char path[4096];
  if (!get_args(env, info, 2, argv) || !get_i32(env, argv[0], &fd) || !get_string(env, argv[1], path, sizeof(path)))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.pathname = ptr_to_u64(path);
  attr.bpf_fd = (uint32_t)fd;
  if (sys_bpf(BPF_OBJ_PIN, &attr) < 0) {
    throw_errno(env, errno, "BPF_OBJ_PIN", -1);
    return NULL;
  }
  return undefined(env);
}

// mapCreate(type, keySize, valueSize, maxEntries, flags, name, innerMapFd) -> fd; innerMapFd < 0 means none.
static napi_value map_create(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  uint32_t type, key_size, value_size, max_entries, flags;
  int32_t inner_fd;
  char name[64];
  if (!get_args(env, info, 7, argv) || !get_u32(env, argv[0], &type) || !get_u32(env, argv[1], &key_size) ||
      !get_u32(env, argv[2], &value_size) || !get_u32(env, argv[3], &max_entries) || !get_u32(env, argv[4], &flags) ||
      !get_string(env, argv[5], name, sizeof(name)) || !get_i32(env, argv[6], &inner_fd))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = type;
  attr.key_size = key_size;
  attr.value_size = value_size;
  attr.max_entries = max_entries;
  attr.map_flags = flags;
  if (inner_fd >= 0) attr.inner_map_fd = (uint32_t)inner_fd;
  // The kernel keeps at most 15 characters of the name; the pinned path carries the full one.
  size_t name_len = strnlen(name, BPF_OBJ_NAME_LEN - 1);
  memcpy(attr.map_name, name, name_len);
  long fd = sys_bpf(BPF_MAP_CREATE, &attr);
  if (fd < 0) {
    throw_errno(env, errno, "BPF_MAP_CREATE", -1);
    return NULL;
  }
  return num_i32(env, (int32_t)fd);
}

// mapGetFdById(id) -> fd
static napi_value map_get_fd_by_id(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t id;
  if (!get_args(env, info, 1, argv) || !get_u32(env, argv[0], &id)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_id = id;
  long fd = sys_bpf(BPF_MAP_GET_FD_BY_ID, &attr);
  if (fd < 0) {
    throw_errno(env, errno, "BPF_MAP_GET_FD_BY_ID", -1);
    return NULL;
  }
  return num_i32(env, (int32_t)fd);
}

static void set_u32(napi_env env, napi_value obj, const char *key, uint32_t v) {
  napi_set_named_property(env, obj, key, num_u32(env, v));
}

// mapInfo(fd) -> { type, id, keySize, valueSize, maxEntries, flags, name }
static napi_value map_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_i32(env, argv[0], &fd)) return NULL;
  struct bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = (uint32_t)fd;
  attr.info.info_len = sizeof(mi);
  attr.info.info = ptr_to_u64(&mi);
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0) {
    throw_errno(env, errno, "BPF_OBJ_GET_INFO_BY_FD", -1);
    return NULL;
  }
  napi_value obj, name;
  napi_create_object(env, &obj);
  set_u32(env, obj, "type", mi.type);
  set_u32(env, obj, "id", mi.id);
  set_u32(env, obj, "keySize", mi.key_size);
  set_u32(env, obj, "valueSize", mi.value_size);
  set_u32(env, obj, "maxEntries", mi.max_entries);
  set_u32(env, obj, "flags", mi.map_flags);
  napi_create_string_utf8(env, mi.name, strnlen(mi.name, sizeof(mi.name)), &name);
  napi_set_named_property(env, obj, "name", name);
  return obj;
}

// close(fd)
static napi_value fd_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_i32(env, argv[0], &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) {
    throw_errno(env, errno, "close", -1);
    return NULL;
  }
  return undefined(env);
}

// ------------------------------------------------------------------------------------------ elements

// lookup(fd, key, valueOut) -> boolean (false when the key is absent)
static napi_value map_lookup(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  void *key, *value;
  size_t klen, vlen;
  if (!get_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &key, &klen) ||
      !get_bytes(env, argv[2], &value, &vlen))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = (uint32_t)fd;
  attr.key = ptr_to_u64(key);
  attr.value = ptr_to_u64(value);
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0) {
    if (errno == ENOENT) return boolean(env, false);
    throw_errno(env, errno, "BPF_MAP_LOOKUP_ELEM", -1);
    return NULL;
  }
  return boolean(env, true);
}

// update(fd, key, value, flags)
static napi_value map_update(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd;
  uint32_t flags;
  void *key, *value;
  size_t klen, vlen;
  if (!get_args(env, info, 4, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &key, &klen) ||
      !get_bytes(env, argv[2], &value, &vlen) || !get_u32(env, argv[3], &flags))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = (uint32_t)fd;
  attr.key = ptr_to_u64(key);
  attr.value = ptr_to_u64(value);
  attr.flags = flags;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
    throw_errno(env, errno, "BPF_MAP_UPDATE_ELEM", -1);
    return NULL;
  }
  return undefined(env);
}

// delete(fd, key) -> boolean (false when the key was already absent)
static napi_value map_delete(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  void *key;
  size_t klen;
  if (!get_args(env, info, 2, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &key, &klen))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = (uint32_t)fd;
  attr.key = ptr_to_u64(key);
  if (sys_bpf(BPF_MAP_DELETE_ELEM, &attr) < 0) {
    if (errno == ENOENT) return boolean(env, false);
    throw_errno(env, errno, "BPF_MAP_DELETE_ELEM", -1);
    return NULL;
  }
  return boolean(env, true);
}

// nextKey(fd, key | null, nextOut) -> boolean (false at the end of the map)
static napi_value map_next_key(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  void *key = NULL, *next;
  size_t klen, nlen;
  if (!get_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd)) return NULL;
  if (!is_null_or_undefined(env, argv[1]) && !get_bytes(env, argv[1], &key, &klen)) return NULL;
  if (!get_bytes(env, argv[2], &next, &nlen)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = (uint32_t)fd;
  attr.key = ptr_to_u64(key);
  attr.next_key = ptr_to_u64(next);
  if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr) < 0) {
    if (errno == ENOENT) return boolean(env, false);
    throw_errno(env, errno, "BPF_MAP_GET_NEXT_KEY", -1);
    return NULL;
  }
  return boolean(env, true);
}

// ------------------------------------------------------------------------------------------ batches

// lookupBatch(fd, inToken | null, outToken, keysOut, valuesOut, maxCount) -> { count, done }
// The kernel signals the end of the map with ENOENT, possibly together with a last partial batch.
static napi_value map_lookup_batch(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t fd;
  uint32_t max_count;
  void *in_tok = NULL, *out_tok, *keys, *values;
  size_t l1, l2, l3, l4;
  if (!get_args(env, info, 6, argv) || !get_i32(env, argv[0], &fd)) return NULL;
  if (!is_null_or_undefined(env, argv[1]) && !get_bytes(env, argv[1], &in_tok, &l1)) return NULL;
  if (!get_bytes(env, argv[2], &out_tok, &l2) || !get_bytes(env, argv[3], &keys, &l3) ||
      !get_bytes(env, argv[4], &values, &l4) || !get_u32(env, argv[5], &max_count))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.batch.map_fd = (uint32_t)fd;
  attr.batch.in_batch = ptr_to_u64(in_tok);
  attr.batch.out_batch = ptr_to_u64(out_tok);
  attr.batch.keys = ptr_to_u64(keys);
  attr.batch.values = ptr_to_u64(values);
  attr.batch.count = max_count;
  bool done = false;
  if (sys_bpf(BPF_MAP_LOOKUP_BATCH, &attr) < 0) {
    if (errno != ENOENT) {
      throw_errno(env, errno, "BPF_MAP_LOOKUP_BATCH", (int64_t)attr.batch.count);
      return NULL;
    }
    done = true;
  }
  napi_value obj;
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "count", num_u32(env, attr.batch.count));
  napi_set_named_property(env, obj, "done", boolean(env, done));
  return obj;
}

// Runs BPF_MAP_UPDATE_BATCH or BPF_MAP_DELETE_BATCH; returns how many elements the kernel handled. On failure
// the error carries `processed` (a missing key stops a delete batch with ENOENT at that element).
static napi_value run_batch(napi_env env, enum bpf_cmd cmd, const char *op, int32_t fd, void *keys, void *values,
                            uint32_t count, uint32_t elem_flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.batch.map_fd = (uint32_t)fd;
  attr.batch.keys = ptr_to_u64(keys);
  attr.batch.values = ptr_to_u64(values);
  attr.batch.count = count;
  attr.batch.elem_flags = elem_flags;
  if (sys_bpf(cmd, &attr) < 0) {
    throw_errno(env, errno, op, (int64_t)attr.batch.count);
    return NULL;
  }
  return num_u32(env, attr.batch.count);
}

// updateBatch(fd, keys, values, count, elemFlags) -> count
static napi_value map_update_batch(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd;
  uint32_t count, elem_flags;
  void *keys, *values;
  size_t l1, l2;
  if (!get_args(env, info, 5, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &keys, &l1) ||
      !get_bytes(env, argv[2], &values, &l2) || !get_u32(env, argv[3], &count) || !get_u32(env, argv[4], &elem_flags))
    return NULL;
  return run_batch(env, BPF_MAP_UPDATE_BATCH, "BPF_MAP_UPDATE_BATCH", fd, keys, values, count, elem_flags);
}

// deleteBatch(fd, keys, count) -> count
static napi_value map_delete_batch(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  uint32_t count;
  void *keys;
  size_t l1;
  if (!get_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &keys, &l1) ||
      !get_u32(env, argv[2], &count))
    return NULL;
  return run_batch(env, BPF_MAP_DELETE_BATCH, "BPF_MAP_DELETE_BATCH", fd, keys, NULL, count, 0);
}

// ------------------------------------------------------------------------------------------ registration

napi_value kl_bpf_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bpfObjGet", NULL, obj_get, NULL, NULL, NULL, napi_default, NULL},
      {"bpfObjPin", NULL, obj_pin, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapCreate", NULL, map_create, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapGetFdById", NULL, map_get_fd_by_id, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapInfo", NULL, map_info, NULL, NULL, NULL, napi_default, NULL},
      {"bpfClose", NULL, fd_close, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapLookup", NULL, map_lookup, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapUpdate", NULL, map_update, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapDelete", NULL, map_delete, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapNextKey", NULL, map_next_key, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapLookupBatch", NULL, map_lookup_batch, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapUpdateBatch", NULL, map_update_batch, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapDeleteBatch", NULL, map_delete_batch, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}
