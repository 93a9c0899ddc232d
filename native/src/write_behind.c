// Map writes off the JavaScript thread, so that JavaScript can plan the next batch while the kernel writes the
// last one (the planner hands over its batches as it finishes them, and a pass at 10k services spends as long in
// the kernel as in planning). One writer thread for the process and one queue, in the order jobs were queued.
//
// Which job may be written when: each job has a level (the planner's make-before-break step: IDs, backends, slots,
// masters). A job may start once every job queued before it with a lower level is written; jobs of the same level
// do not wait for each other. So whatever is in the maps at any moment is closed under "depends on": no master
// before its slots, no slot before its backend, as in a strictly ordered queue, and yet the writes of one chunk
// need not wait for the top-level writes of the last. ORDERED jobs (the default) wait for every job before them.
//
// The JavaScript thread helps: when it is more than BACKLOG jobs ahead of the writer (it plans faster than one
// thread writes), it writes the oldest job it may while queueing, and settle() writes rather than waits. The two
// then write different maps or different keys at once (the kernel's hash maps lock per bucket: two threads wrote
// 220,000 entries in 82 ms where one took 160). On a 2-core node the JavaScript thread used to wait about 100 ms
// for the writer at the end of a full pass; now the two end within a few ms of each other.
//
// A failed job stops the queue: the jobs that have not started are dropped unwritten (what already started
// finishes, and it depended only on jobs that were written). settle() writes or waits until the queue is empty and
// reports that failure once. The bytes are copied at queue time, so the caller may reuse its buffers.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "addon.h"
#include "bpf_cmd.h"

// A job that waits for every job queued before it, whatever their level.
#define ORDERED 255u
// How many jobs the JavaScript thread may queue ahead of the writers before it writes one itself (about two chunks
// of a pass; 2, 4, 8 and 16 were tried: 8 gave the shortest cold passes, by less than the noise between runs).
#define BACKLOG 8u

typedef struct job {
  struct job *next;
  uint32_t seq;
  int32_t fd;
  uint32_t count, key_size, value_size, elem_flags;
  uint32_t level;
  bool started;
  uint8_t *bytes; // count keys, then count values
} job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
// Broadcast when a job is queued or finished: either may make a job writable, or the queue empty.
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
// Every job not finished yet (started ones included), in queue order.
static job *head, *tail;
static uint32_t waiting; // queued, not started
static bool started;
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

// The oldest job that may start now (see the top of this file), or NULL. Called with mu held.
static job *writable(void) {
  uint32_t lowest_before = ORDERED; // the lowest level of the unfinished jobs before the one looked at
  for (job *j = head; j != NULL; j = j->next) {
    bool free_to_go = j->level == ORDERED ? j == head : j->level <= lowest_before;
    if (!j->started && free_to_go) return j;
    if (j->level < lowest_before) lowest_before = j->level;
    if (j->level == ORDERED) return NULL; // nothing after an unfinished ordered job may start before it
  }
  return NULL;
}

// Writes j, which the caller has just taken (mu held on entry and on return), then takes it off the queue.
static void run(job *j) {
  j->started = true;
  waiting--;
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
  job **at = &head;
  job *prev = NULL;
  while (*at != j) {
    prev = *at;
    at = &(*at)->next;
  }
  *at = j->next;
  if (tail == j) tail = prev;
  pthread_cond_broadcast(&changed);
  // Freed without the lock: giving a large buffer back may unmap it, and the other thread need not wait for that.
  pthread_mutex_unlock(&mu);
  free(j->bytes);
  free(j);
  pthread_mutex_lock(&mu);
}

static void *writer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    job *j = writable();
    if (j == NULL) {
      pthread_cond_wait(&changed, &mu);
      continue;
    }
    run(j);
  }
  return NULL;
}

// queueUpdate(fd, keys, values, count, elemFlags, level?) -> seq. keys and values hold count packed entries each;
// level (0..254) as at the top of this file, ORDERED when absent.
static napi_value queue_update(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  int32_t fd;
  uint32_t count, elem_flags, level = ORDERED;
  void *keys, *values;
  size_t key_len, value_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], NULL, &key_len, &keys, NULL, NULL) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], NULL, &value_len, &values, NULL, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok || napi_get_value_uint32(env, argv[4], &elem_flags) != napi_ok ||
      (argc > 5 && napi_get_value_uint32(env, argv[5], &level) != napi_ok) || level > ORDERED) {
    napi_throw_type_error(env, "ERR_INVALID_ARG",
                          "queueUpdate(fd, keys: Uint8Array, values: Uint8Array, count, flags, level?: 0..255)");
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
             .value_size = (uint32_t)(value_len / count), .elem_flags = elem_flags, .level = level,
             .bytes = bytes};
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
  waiting++;
  pthread_cond_broadcast(&changed);
  // Far ahead of the writer: write the oldest job that may go (maybe one of another map) on this thread.
  if (waiting > BACKLOG) {
    job *mine = writable();
    if (mine != NULL) run(mine);
  }
  pthread_mutex_unlock(&mu);
  napi_value r;
  napi_create_uint32(env, seq, &r);
  return r;
}

// settle() -> undefined, or { seq, errno, code, processed } of the first job that failed since the last settle.
// Writes what it may of the queue on this thread meanwhile.
static napi_value settle(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&mu);
  while (head != NULL) {
    job *mine = writable();
    if (mine != NULL) run(mine);
    else pthread_cond_wait(&changed, &mu);
  }
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
