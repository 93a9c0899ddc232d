// BPF map syscalls for the dataplane. This file only moves bytes between JS buffers and bpf(2) and reports
// errno; every layout, byte order and policy decision lives in TypeScript (src/native/bpf.ts is the only
// caller). Each function here reads its arguments and makes one call of bpf_cmd.c, which holds the attr of every
// command; the results below turn what it returned into a JS value or the thrown error. File descriptors are
// returned to JS as plain numbers and closed by the facade.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "addon.h"
#include "bpf_cmd.h"

// ------------------------------------------------------------------------------------------ errors

// Throws an Error whose `code` is the errno name ("ENOENT"), with `errno` (number) and `syscall` (the bpf
// command). `processed` is set for batch commands (how many elements the kernel handled before failing).
static void throw_errno(napi_env env, int err, const char *op, int64_t processed) {
  char namebuf[KL_ERRNO_NAME_SIZE];
  const char *name = kl_errno_name(err, namebuf);
  char msg[160];
  snprintf(msg, sizeof(msg), "%s: %s (%s)", op, strerror(err), name);
  kl_throw_syscall(env, name, err, op, msg, processed);
}

static void throw_type(napi_env env, const char *msg) { napi_throw_type_error(env, "ERR_INVALID_ARG", msg); }

// ------------------------------------------------------------------------------------------ arguments

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

// Accepts any Uint8Array (Node Buffers are Uint8Arrays). Its length is not checked here: the kernel reads or
// writes the map's key or value size through the pointer, and src/native/bpf.ts passes buffers of those sizes.
static bool get_bytes(napi_env env, napi_value v, void **data) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (!is_typed) {
    throw_type(env, "expected a Uint8Array");
    return false;
  }
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, NULL, data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    throw_type(env, "expected a Uint8Array");
    return false;
  }
  return true;
}

// A Uint8Array, or NULL for null or undefined.
static bool get_bytes_or_null(napi_env env, napi_value v, void **data) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) {
    *data = NULL;
    return true;
  }
  return get_bytes(env, v, data);
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

// ------------------------------------------------------------------------------------------ results

static napi_value num_u32(napi_env env, uint32_t v) {
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

static napi_value boolean(napi_env env, bool v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

// True, with op's error thrown, when r (what a kl_bpf_* call returned) is -errno.
static bool failed(napi_env env, long r, const char *op, int64_t processed) {
  if (r >= 0) return false;
  throw_errno(env, (int)-r, op, processed);
  return true;
}

// A command that returns a new descriptor: its number.
static napi_value fd_result(napi_env env, long r, const char *op) {
  if (failed(env, r, op, -1)) return NULL;
  napi_value fd;
  napi_create_int32(env, (int32_t)r, &fd);
  return fd;
}

// A command that returns nothing: undefined.
static napi_value done_result(napi_env env, long r, const char *op) {
  if (failed(env, r, op, -1)) return NULL;
  return kl_undefined(env);
}

// A command whose ENOENT means "not there" (an absent key, the end of the map): false then, else true.
static napi_value found_result(napi_env env, long r, const char *op) {
  if (r == -ENOENT) return boolean(env, false);
  if (failed(env, r, op, -1)) return NULL;
  return boolean(env, true);
}

// ------------------------------------------------------------------------------------------ objects

// objGet(path, fileFlags) -> fd
static napi_value obj_get(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[4096];
  uint32_t flags;
  if (!kl_args(env, info, 2, argv) || !get_string(env, argv[0], path, sizeof(path)) || !get_u32(env, argv[1], &flags))
    return NULL;
  return fd_result(env, kl_bpf_obj(BPF_OBJ_GET, path, 0, flags), "BPF_OBJ_GET");
}

// objPin(fd, path)
static napi_value obj_pin(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  char path[4096];
  if (!kl_args(env, info, 2, argv) || !get_i32(env, argv[0], &fd) || !get_string(env, argv[1], path, sizeof(path)))
    return NULL;
  return done_result(env, kl_bpf_obj(BPF_OBJ_PIN, path, fd, 0), "BPF_OBJ_PIN");
}

// mapCreate(type, keySize, valueSize, maxEntries, flags, name, innerMapFd) -> fd; innerMapFd < 0 means none.
static napi_value map_create(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  uint32_t type, key_size, value_size, max_entries, flags;
  int32_t inner_fd;
  char name[64];
  if (!kl_args(env, info, 7, argv) || !get_u32(env, argv[0], &type) || !get_u32(env, argv[1], &key_size) ||
      !get_u32(env, argv[2], &value_size) || !get_u32(env, argv[3], &max_entries) || !get_u32(env, argv[4], &flags) ||
      !get_string(env, argv[5], name, sizeof(name)) || !get_i32(env, argv[6], &inner_fd))
    return NULL;
  return fd_result(env, kl_bpf_map_create(type, key_size, value_size, max_entries, flags, name, inner_fd),
                   "BPF_MAP_CREATE");
}

// mapGetFdById(id) -> fd
static napi_value map_get_fd_by_id(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t id;
  if (!kl_args(env, info, 1, argv) || !get_u32(env, argv[0], &id)) return NULL;
  return fd_result(env, kl_bpf_map_get_fd_by_id(id), "BPF_MAP_GET_FD_BY_ID");
}

static void set_u32(napi_env env, napi_value obj, const char *key, uint32_t v) {
  napi_set_named_property(env, obj, key, num_u32(env, v));
}

// mapInfo(fd) -> { type, id, keySize, valueSize, maxEntries, flags, name }
static napi_value map_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!kl_args(env, info, 1, argv) || !get_i32(env, argv[0], &fd)) return NULL;
  struct bpf_map_info mi;
  if (failed(env, kl_bpf_map_info(fd, &mi), "BPF_OBJ_GET_INFO_BY_FD", -1)) return NULL;
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
  if (!kl_args(env, info, 1, argv) || !get_i32(env, argv[0], &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) {
    throw_errno(env, errno, "close", -1);
    return NULL;
  }
  return kl_undefined(env);
}

// ------------------------------------------------------------------------------------------ elements

// lookup(fd, key, valueOut) -> boolean (false when the key is absent)
static napi_value map_lookup(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  void *key, *value;
  if (!kl_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &key) ||
      !get_bytes(env, argv[2], &value))
    return NULL;
  return found_result(env, kl_bpf_elem(BPF_MAP_LOOKUP_ELEM, fd, key, value, 0), "BPF_MAP_LOOKUP_ELEM");
}

// update(fd, key, value, flags)
static napi_value map_update(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd;
  uint32_t flags;
  void *key, *value;
  if (!kl_args(env, info, 4, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &key) ||
      !get_bytes(env, argv[2], &value) || !get_u32(env, argv[3], &flags))
    return NULL;
  return done_result(env, kl_bpf_elem(BPF_MAP_UPDATE_ELEM, fd, key, value, flags), "BPF_MAP_UPDATE_ELEM");
}

// delete(fd, key) -> boolean (false when the key was already absent)
static napi_value map_delete(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  void *key;
  if (!kl_args(env, info, 2, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &key))
    return NULL;
  return found_result(env, kl_bpf_elem(BPF_MAP_DELETE_ELEM, fd, key, NULL, 0), "BPF_MAP_DELETE_ELEM");
}

// nextKey(fd, key | null, nextOut) -> boolean (false at the end of the map)
static napi_value map_next_key(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  void *key, *next;
  if (!kl_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd) || !get_bytes_or_null(env, argv[1], &key) ||
      !get_bytes(env, argv[2], &next))
    return NULL;
  return found_result(env, kl_bpf_elem(BPF_MAP_GET_NEXT_KEY, fd, key, next, 0), "BPF_MAP_GET_NEXT_KEY");
}

// ------------------------------------------------------------------------------------------ batches

// lookupBatch(fd, inToken | null, outToken, keysOut, valuesOut, maxCount) -> { count, done }
// The kernel signals the end of the map with ENOENT, possibly together with a last partial batch.
static napi_value map_lookup_batch(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t fd;
  uint32_t count;
  void *in_tok, *out_tok, *keys, *values;
  if (!kl_args(env, info, 6, argv) || !get_i32(env, argv[0], &fd) || !get_bytes_or_null(env, argv[1], &in_tok) ||
      !get_bytes(env, argv[2], &out_tok) || !get_bytes(env, argv[3], &keys) ||
      !get_bytes(env, argv[4], &values) || !get_u32(env, argv[5], &count))
    return NULL;
  long r = kl_bpf_batch(BPF_MAP_LOOKUP_BATCH, fd, in_tok, out_tok, keys, values, &count, 0);
  if (r != -ENOENT && failed(env, r, "BPF_MAP_LOOKUP_BATCH", (int64_t)count)) return NULL;
  napi_value obj;
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "count", num_u32(env, count));
  napi_set_named_property(env, obj, "done", boolean(env, r == -ENOENT));
  return obj;
}

// Runs BPF_MAP_UPDATE_BATCH or BPF_MAP_DELETE_BATCH; returns how many elements the kernel handled. On failure
// the error carries `processed` (a missing key stops a delete batch with ENOENT at that element).
static napi_value run_batch(napi_env env, enum bpf_cmd cmd, const char *op, int32_t fd, void *keys, void *values,
                            uint32_t count, uint32_t elem_flags) {
  long r = kl_bpf_batch(cmd, fd, NULL, NULL, keys, values, &count, elem_flags);
  if (failed(env, r, op, (int64_t)count)) return NULL;
  return num_u32(env, count);
}

// updateBatch(fd, keys, values, count, elemFlags) -> count
static napi_value map_update_batch(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd;
  uint32_t count, elem_flags;
  void *keys, *values;
  if (!kl_args(env, info, 5, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &keys) ||
      !get_bytes(env, argv[2], &values) || !get_u32(env, argv[3], &count) || !get_u32(env, argv[4], &elem_flags))
    return NULL;
  return run_batch(env, BPF_MAP_UPDATE_BATCH, "BPF_MAP_UPDATE_BATCH", fd, keys, values, count, elem_flags);
}

// deleteBatch(fd, keys, count) -> count
static napi_value map_delete_batch(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  uint32_t count;
  void *keys;
  if (!kl_args(env, info, 3, argv) || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &keys) ||
      !get_u32(env, argv[2], &count))
    return NULL;
  return run_batch(env, BPF_MAP_DELETE_BATCH, "BPF_MAP_DELETE_BATCH", fd, keys, NULL, count, 0);
}

// ------------------------------------------------------------------------------------------ registration

napi_value kl_bpf_init(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      KL_FUNCTION("bpfObjGet", obj_get),
      KL_FUNCTION("bpfObjPin", obj_pin),
      KL_FUNCTION("bpfMapCreate", map_create),
      KL_FUNCTION("bpfMapGetFdById", map_get_fd_by_id),
      KL_FUNCTION("bpfMapInfo", map_info),
      KL_FUNCTION("bpfClose", fd_close),
      KL_FUNCTION("bpfMapLookup", map_lookup),
      KL_FUNCTION("bpfMapUpdate", map_update),
      KL_FUNCTION("bpfMapDelete", map_delete),
      KL_FUNCTION("bpfMapNextKey", map_next_key),
      KL_FUNCTION("bpfMapLookupBatch", map_lookup_batch),
      KL_FUNCTION("bpfMapUpdateBatch", map_update_batch),
      KL_FUNCTION("bpfMapDeleteBatch", map_delete_batch),
  };
  return kl_define(env, exports, props, sizeof(props) / sizeof(props[0]));
}
