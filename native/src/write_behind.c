// Map writes on a thread of their own, in the order they were queued, so that JavaScript can plan the next
// batch while the kernel writes the last one (the planner hands over its batches as it finishes them, and a
// pass at 10k services spends as long in the kernel as in planning). One writer thread for the process, one
// FIFO. A failed job stops the queue: the jobs queued after it are dropped unwritten, because the planner's
// order makes every prefix of a pass consistent but not every subset. settle() waits for the queue to be empty
// and reports that failure once. The bytes are copied at queue time, so the caller may reuse its buffers.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "addon.h"
#include "bpf_cmd.h"

typedef struct job {
  struct job *next;
  uint32_t seq;
  int32_t fd;
  uint32_t count, key_size, value_size, elem_flags;
  uint8_t *bytes;  // count keys, then count values
} job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static job *head, *tail;
static bool busy, started;
static uint32_t next_seq = 1;
// The first failure since the last settle: the job, its errno, how many elements the kernel had written.
static struct {
  bool set;
  uint32_t seq;
  int err;
  uint32_t processed;
} failure;

// One BPF_MAP_UPDATE_BATCH; where the map type has no batch ops (the kernel refuses before writing anything),
// one BPF_MAP_UPDATE_ELEM per entry, as BpfMap.updateMany does. Returns 0 or an errno.
static int write_job(const job *j, uint32_t *processed) {
  uint8_t *keys = j->bytes;
  uint8_t *values = j->bytes + (size_t)j->count * j->key_size;
  uint32_t done = j->count;
  long r = kl_bpf_batch(BPF_MAP_UPDATE_BATCH, j->fd, NULL, NULL, keys, values, &done, j->elem_flags);
  if (r >= 0) return 0;
  int err = (int)-r;
  bool no_batch = err == EINVAL || err == EOPNOTSUPP || err == 524 /* ENOTSUPP */;
  if (!no_batch || done != 0) {
    *processed = done;
    return err;
  }
  for (uint32_t i = 0; i < j->count; i++) {
    r = kl_bpf_elem(BPF_MAP_UPDATE_ELEM, j->fd, keys + (size_t)i * j->key_size, values + (size_t)i * j->value_size,
                    j->elem_flags);
    if (r < 0) {
      *processed = i;
      return (int)-r;
    }
  }
  return 0;
}

static void *writer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (head == NULL) pthread_cond_wait(&queued, &mu);
    job *j = head;
    head = j->next;
    if (head == NULL) tail = NULL;
    busy = true;
    bool skip = failure.set;
    pthread_mutex_unlock(&mu);
    uint32_t processed = 0;
    int err = skip ? 0 : write_job(j, &processed);
    pthread_mutex_lock(&mu);
    if (err != 0 && !failure.set) {
      failure.set = true;
      failure.seq = j->seq;
      failure.err = err;
      failure.processed = processed;
    }
    free(j->bytes);
    free(j);
    busy = false;
    if (head == NULL) pthread_cond_broadcast(&idle);
  }
  return NULL;
}

// queueUpdate(fd, keys, values, count, elemFlags) -> seq. keys and values hold count packed entries each.
static napi_value queue_update(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t fd;
  uint32_t count, elem_flags;
  void *keys, *values;
  size_t key_len, value_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], NULL, &key_len, &keys, NULL, NULL) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], NULL, &value_len, &values, NULL, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok || napi_get_value_uint32(env, argv[4], &elem_flags) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "queueUpdate(fd, keys: Uint8Array, values: Uint8Array, count, flags)");
    return NULL;
  }
  if (count == 0 || key_len % count != 0 || value_len % count != 0) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "queueUpdate: keys and values must hold count whole entries");
    return NULL;
  }
  job *j = calloc(1, sizeof(job));
  uint8_t *bytes = malloc(key_len + value_len);
  if (j == NULL || bytes == NULL) {
    free(j);
    free(bytes);
    napi_throw_error(env, "ENOMEM", "queueUpdate: out of memory");
    return NULL;
  }
  memcpy(bytes, keys, key_len);
  memcpy(bytes + key_len, values, value_len);
  *j = (job){.fd = fd, .count = count, .key_size = (uint32_t)(key_len / count),
             .value_size = (uint32_t)(value_len / count), .elem_flags = elem_flags, .bytes = bytes};
  pthread_mutex_lock(&mu);
  if (!started) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&t, &attr, writer, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0) {
      pthread_mutex_unlock(&mu);
      free(bytes);
      free(j);
      napi_throw_error(env, "EAGAIN", "queueUpdate: cannot start the writer thread");
      return NULL;
    }
    started = true;
  }
  // Read under the lock: once it is released, the writer may write and free the job at any moment.
  const uint32_t seq = next_seq++;
  j->seq = seq;
  if (tail) tail->next = j;
  else head = j;
  tail = j;
  pthread_cond_signal(&queued);
  pthread_mutex_unlock(&mu);
  napi_value r;
  napi_create_uint32(env, seq, &r);
  return r;
}

// settle() -> undefined, or { seq, errno, code, processed } of the first job that failed since the last settle.
static napi_value settle(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&mu);
  while (head != NULL || busy) pthread_cond_wait(&idle, &mu);
  bool failed = failure.set;
  uint32_t seq = failure.seq, processed = failure.processed;
  int err = failure.err;
  failure.set = false;
  pthread_mutex_unlock(&mu);
  napi_value r;
  if (!failed) {
    napi_get_undefined(env, &r);
    return r;
  }
  napi_value v;
  napi_create_object(env, &r);
  napi_create_uint32(env, seq, &v);
  napi_set_named_property(env, r, "seq", v);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, r, "errno", v);
  char namebuf[KL_ERRNO_NAME_SIZE];
  napi_create_string_utf8(env, kl_errno_name(err, namebuf), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, r, "code", v);
  napi_create_uint32(env, processed, &v);
  napi_set_named_property(env, r, "processed", v);
  return r;
}

napi_value kl_write_behind_init(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      KL_FUNCTION("bpfQueueUpdate", queue_update),
      KL_FUNCTION("bpfQueueSettle", settle),
  };
  return kl_define(env, exports, props, sizeof(props) / sizeof(props[0]));
}
