// Loads native/bpf/map-watch.bpf.o with libbpf, attaches its program, and consumes the ring buffer on a thread of
// its own: each event is seen within microseconds whatever the JavaScript thread is doing (a pass, a garbage
// collection), so the addon's write-back (below) does not wait for it. Events are then handed to JS through a
// uv_async wake-up.
// Everything else (which maps, what an event means, what to repair) lives in src/native/map-watch.ts and the
// dataplane. Loading needs CAP_BPF + CAP_PERFMON (or root) and a kernel with BTF; every
// failure throws with libbpf's own words, and the caller falls back to polling.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "addon.h"

#define MAX_WATCHED 16
#define MAX_LINKS 8
#define EVENT_SIZE 40 // struct event in map-watch.bpf.c
#define COUNTS_SIZE 24
#define WRITE_BACK_ROLES 3 // services, backends, revNAT: the order of the writeback map in map-watch.bpf.c
// The consumer thread's nice value. A prune deletes entries as fast as one core allows; when the thread wakes up for
// a deletion it should run at once, not wait behind the deleting process, the JavaScript thread or V8's workers
// (on a 2-core VM at 1,000 services: prune_gap_ms_p99 7.6-54.7 ms at nice 0, 2.7-5.1 at -10). Needs CAP_SYS_NICE.
#define CONSUMER_NICE -10

struct watch {
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  struct bpf_object *obj;
  struct bpf_link *links[MAX_LINKS];
  int nlinks;
  struct ring_buffer *rb;
  int watched_fd, counters_fd;
  uint32_t write_back_ids[WRITE_BACK_ROLES];
  // Roles the program may not write (BPF_F_RDONLY_PROG): the addon writes them back itself as each event is
  // consumed, from the same mirror, before any JavaScript runs. -1 / 0 where off.
  int user_fd[WRITE_BACK_ROLES];
  uint32_t user_id[WRITE_BACK_ROLES];
  int own_fd[WRITE_BACK_ROLES];
  // The consumer thread, woken by the ring buffer or by stop_fd (close).
  pthread_t thread;
  bool thread_started;
  // Set by the thread as it starts (under lock, then signalled): 0, or the errno of setting CONSUMER_NICE.
  pthread_cond_t started;
  bool nice_known;
  int nice_err;
  int stop_fd;
  uv_async_t wake; // the thread's "events pending" to the JS thread
  bool delivering;
  // Events consumed but not yet handed to JS, guarded by lock.
  pthread_mutex_t lock;
  unsigned char *buf;
  size_t n, cap;
  bool oom;
  // The addon's write-backs so far: how many, how many came more than 1 ms after the deleting syscall's exit, and
  // the longest such gap. Written by the consumer thread only, read by JS (relaxed atomics: figures, not sync).
  uint64_t wb_count, wb_over_1ms, wb_max_ns;
};

// libbpf reports why a load failed through its print callback: keep the tail for the error message.
static char libbpf_log[2048];

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  vsnprintf(line, sizeof(line), fmt, ap);
  size_t used = strlen(libbpf_log), add = strlen(line);
  if (add >= sizeof(libbpf_log)) return 0;
  if (used + add >= sizeof(libbpf_log)) {
    memmove(libbpf_log, libbpf_log + add, used - add + 1);
    used -= add;
  }
  memcpy(libbpf_log + used, line, add + 1);
  return 0;
}

static void throw_libbpf(napi_env env, const char *what, int err) {
  char msg[2600];
  snprintf(msg, sizeof(msg), "%s: %s%s%s", what, strerror(err < 0 ? -err : err), libbpf_log[0] ? "\n" : "",
           libbpf_log);
  napi_throw_error(env, "EMAPWATCH", msg);
}

#define EV_MAP_ID 0
#define EV_OP 8
#define EV_KEY_SIZE 9
#define EV_FLAGS 10
#define EV_NS 16 // bpf_ktime_get_ns() at the deleting syscall's exit: CLOCK_MONOTONIC
#define EV_KEY 24
#define OP_DELETE 2
#define FLAG_WRITTEN_BACK_KERNEL 1
#define FLAG_WRITTEN_BACK_ADDON 2

// The addon's write-back of an event just consumed (see struct watch): a delete of a mirrored key on a map the
// program cannot write goes back now, only where nothing took its place (BPF_NOEXIST).
static void write_back_in_addon(struct watch *w, unsigned char *ev) {
  uint16_t flags;
  uint32_t id;
  memcpy(&flags, ev + EV_FLAGS, 2);
  memcpy(&id, ev + EV_MAP_ID, 4);
  if (ev[EV_OP] != OP_DELETE || (flags & FLAG_WRITTEN_BACK_KERNEL) || ev[EV_KEY_SIZE] == 0) return;
  for (int r = 0; r < WRITE_BACK_ROLES; r++) {
    if (w->user_fd[r] < 0 || w->user_id[r] != id) continue;
    unsigned char value[256];
    if (bpf_map_lookup_elem(w->own_fd[r], ev + EV_KEY, value) == 0 &&
        bpf_map_update_elem(w->user_fd[r], ev + EV_KEY, value, BPF_NOEXIST) == 0) {
      flags |= FLAG_WRITTEN_BACK_ADDON;
      memcpy(ev + EV_FLAGS, &flags, 2);
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      uint64_t deleted, back = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
      memcpy(&deleted, ev + EV_NS, 8);
      uint64_t gap = back > deleted ? back - deleted : 0;
      __atomic_store_n(&w->wb_count, w->wb_count + 1, __ATOMIC_RELAXED);
      if (gap > 1000000) __atomic_store_n(&w->wb_over_1ms, w->wb_over_1ms + 1, __ATOMIC_RELAXED);
      if (gap > w->wb_max_ns) __atomic_store_n(&w->wb_max_ns, gap, __ATOMIC_RELAXED);
    }
    return;
  }
}

// On the consumer thread, for each event: the addon's write-back first, then the event is queued for JS.
static int on_sample(void *ctx, void *data, size_t size) {
  struct watch *w = ctx;
  if (size < EVENT_SIZE) return 0;
  unsigned char ev[EVENT_SIZE];
  memcpy(ev, data, EVENT_SIZE);
  write_back_in_addon(w, ev);
  pthread_mutex_lock(&w->lock);
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 1024;
    unsigned char *grown = realloc(w->buf, cap * EVENT_SIZE);
    if (!grown) {
      w->oom = true; // counted as lost by the caller: it re-reads the maps
      pthread_mutex_unlock(&w->lock);
      return 0;
    }
    w->buf = grown;
    w->cap = cap;
  }
  memcpy(w->buf + w->n * EVENT_SIZE, ev, EVENT_SIZE);
  w->n++;
  pthread_mutex_unlock(&w->lock);
  return 0;
}

static void *consume(void *arg) {
  struct watch *w = arg;
  // Linux keeps a nice value per thread: who 0 is this thread alone.
  int nice_err = setpriority(PRIO_PROCESS, 0, CONSUMER_NICE) == 0 ? 0 : errno;
  pthread_mutex_lock(&w->lock);
  w->nice_err = nice_err;
  w->nice_known = true;
  pthread_cond_signal(&w->started);
  pthread_mutex_unlock(&w->lock);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event in = {.events = EPOLLIN};
  in.data.fd = ring_buffer__epoll_fd(w->rb);
  epoll_ctl(ep, EPOLL_CTL_ADD, in.data.fd, &in);
  in.data.fd = w->stop_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, w->stop_fd, &in);
  for (;;) {
    struct epoll_event out[2];
    int n = epoll_wait(ep, out, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    bool stop = n < 0;
    for (int i = 0; i < n; i++) stop |= out[i].data.fd == w->stop_fd;
    if (stop) break;
    if (ring_buffer__consume(w->rb) > 0) uv_async_send(&w->wake);
  }
  close(ep);
  return NULL;
}

// Moves the pending events into a Buffer (undefined when there are none). `lost` is set when memory ran out.
static napi_value take_events(napi_env env, struct watch *w) {
  napi_value out;
  pthread_mutex_lock(&w->lock);
  bool oom = w->oom;
  if (w->n == 0 && !oom) {
    pthread_mutex_unlock(&w->lock);
    napi_get_undefined(env, &out);
    return out;
  }
  void *data;
  napi_create_buffer_copy(env, w->n * EVENT_SIZE, w->buf, &data, &out);
  w->n = 0;
  w->oom = false;
  pthread_mutex_unlock(&w->lock);
  if (oom) {
    napi_value t;
    napi_get_boolean(env, true, &t);
    napi_set_named_property(env, out, "lost", t);
  }
  return out;
}

static void on_wake(uv_async_t *handle) {
  struct watch *w = handle->data;
  if (!w->delivering) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value buf = take_events(env, w);
  napi_valuetype type;
  napi_typeof(env, buf, &type);
  if (type != napi_undefined) {
    napi_value cb, recv, result;
    napi_get_reference_value(env, w->callback, &cb);
    napi_get_global(env, &recv); // MakeCallback wants an object receiver
    if (napi_make_callback(env, w->async, recv, cb, 1, &buf, &result) == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

// Stops and joins the consumer thread (nothing is consumed or written back after this returns).
static void stop_thread(struct watch *w) {
  if (!w->thread_started) return;
  uint64_t one = 1;
  if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one)) {
    // An eventfd write only fails on overflow, which a single write cannot cause.
  }
  pthread_join(w->thread, NULL);
  w->thread_started = false;
}

static void free_watch(struct watch *w) {
  stop_thread(w);
  if (w->stop_fd >= 0) close(w->stop_fd);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->started);
  for (int r = 0; r < WRITE_BACK_ROLES; r++)
    if (w->user_fd[r] >= 0) close(w->user_fd[r]);
  if (w->rb) ring_buffer__free(w->rb);
  for (int i = 0; i < w->nlinks; i++) bpf_link__destroy(w->links[i]);
  if (w->obj) bpf_object__close(w->obj);
  free(w->buf);
  free(w);
}

static void on_closed(uv_handle_t *handle) { free_watch(handle->data); }

// The open watch passed as the first of `want` arguments (argv gets all of them); NULL with an exception set.
static struct watch *watch_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  struct watch *w = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != want || napi_get_value_external(env, argv[0], (void **)&w) != napi_ok || w == NULL || w->obj == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "not an open map watch");
    return NULL;
  }
  return w;
}

static const char *const LB_MAPS[WRITE_BACK_ROLES] = {"lb_services", "lb_backends", "lb_rev_nat"};
static const char *const OWN_MAPS[WRITE_BACK_ROLES] = {"own_services", "own_backends", "own_rev_nat"};

// Points the write-back at the real maps before load: lb_* become them, own_* take their shapes. Returns 0 or
// -errno; ids[] gets each map's kernel ID (0 for a role left off, or for a map programs may not write).
static int prepare_write_back(struct watch *w, const int32_t *fds, uint32_t *ids) {
  for (int r = 0; r < WRITE_BACK_ROLES; r++) {
    ids[r] = 0;
    if (fds[r] < 0) continue;
    struct bpf_map_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, len);
    if (bpf_obj_get_info_by_fd(fds[r], &info, &len) != 0) return -errno;
    if (info.value_size > 256) return -E2BIG;
    struct bpf_map *lb = bpf_object__find_map_by_name(w->obj, LB_MAPS[r]);
    struct bpf_map *own = bpf_object__find_map_by_name(w->obj, OWN_MAPS[r]);
    if (!lb || !own) return -ENOENT;
    int err = bpf_map__set_key_size(own, info.key_size);
    if (!err) err = bpf_map__set_value_size(own, info.value_size);
    if (!err) err = bpf_map__set_max_entries(own, info.max_entries);
    if (err) return err;
    if (info.map_flags & BPF_F_RDONLY_PROG) {
      // A map its owner made read-only to programs (Cilium's services map): the addon writes it back instead.
      w->user_fd[r] = fcntl(fds[r], F_DUPFD_CLOEXEC, 0);
      if (w->user_fd[r] < 0) return -errno;
      w->user_id[r] = info.id;
      continue;
    }
    if ((err = bpf_map__reuse_fd(lb, fds[r])) != 0) return err;
    ids[r] = info.id;
  }
  return 0;
}

// mapWatchOpen(objectPath, selfTgid, onEvents, writeBackFds?: Int32Array(3) of services, backends, revNAT map fds,
// -1 to leave a role off) → handle
static napi_value watch_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t len;
  uint32_t tgid;
  int32_t fds[WRITE_BACK_ROLES] = {-1, -1, -1};
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &tgid) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "mapWatchOpen(objectPath, selfTgid, onEvents, writeBackFds?)");
    return NULL;
  }
  if (argc >= 4) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined) {
      napi_typedarray_type type;
      size_t count;
      void *data;
      if (napi_get_typedarray_info(env, argv[3], &type, &count, &data, NULL, NULL) != napi_ok || type != napi_int32_array ||
          count != WRITE_BACK_ROLES) {
        napi_throw_type_error(env, "ERR_INVALID_ARG", "mapWatchOpen: writeBackFds must be an Int32Array(3)");
        return NULL;
      }
      memcpy(fds, data, sizeof(fds));
    }
  }
  libbpf_log[0] = '\0';
  libbpf_set_print(capture_print);
  struct watch *w = calloc(1, sizeof(*w));
  if (!w) {
    napi_throw_error(env, "ENOMEM", "mapWatchOpen: out of memory");
    return NULL;
  }
  w->env = env;
  w->stop_fd = -1;
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->started, NULL);
  for (int r = 0; r < WRITE_BACK_ROLES; r++) w->user_fd[r] = -1;
  int err = 0;
  const char *step = "open";
  w->obj = bpf_object__open_file(path, NULL);
  if (!w->obj) {
    err = -errno;
    goto fail;
  }
  step = "write-back maps";
  uint32_t ids[WRITE_BACK_ROLES];
  if ((err = prepare_write_back(w, fds, ids)) != 0) goto fail;
  step = "load";
  if ((err = bpf_object__load(w->obj)) != 0) goto fail;
  step = "write-back IDs";
  struct bpf_map *writeback = bpf_object__find_map_by_name(w->obj, "writeback");
  if (!writeback) {
    err = -ENOENT;
    goto fail;
  }
  memcpy(w->write_back_ids, ids, sizeof(ids));
  for (int r = 0; r < WRITE_BACK_ROLES; r++) w->own_fd[r] = bpf_map__fd(bpf_object__find_map_by_name(w->obj, OWN_MAPS[r]));
  for (uint32_t r = 0; r < WRITE_BACK_ROLES; r++) {
    if (bpf_map_update_elem(bpf_map__fd(writeback), &r, &ids[r], BPF_ANY) != 0) {
      err = -errno;
      goto fail;
    }
  }
  step = "attach";
  struct bpf_program *prog;
  bpf_object__for_each_program(prog, w->obj) {
    if (w->nlinks == MAX_LINKS) {
      err = -E2BIG;
      goto fail;
    }
    struct bpf_link *link = bpf_program__attach(prog);
    if (!link) {
      err = -errno;
      goto fail;
    }
    w->links[w->nlinks++] = link;
  }
  step = "maps";
  struct bpf_map *watched = bpf_object__find_map_by_name(w->obj, "watched");
  struct bpf_map *counters = bpf_object__find_map_by_name(w->obj, "counters");
  struct bpf_map *self = bpf_object__find_map_by_name(w->obj, "self");
  struct bpf_map *events = bpf_object__find_map_by_name(w->obj, "events");
  if (!watched || !counters || !self || !events) {
    err = -ENOENT;
    goto fail;
  }
  w->watched_fd = bpf_map__fd(watched);
  w->counters_fd = bpf_map__fd(counters);
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(self), &zero, &tgid, BPF_ANY) != 0) {
    err = -errno;
    goto fail;
  }
  step = "ring buffer";
  w->rb = ring_buffer__new(bpf_map__fd(events), on_sample, w, NULL);
  if (!w->rb) {
    err = -errno;
    goto fail;
  }
  step = "consumer thread";
  w->stop_fd = eventfd(0, EFD_CLOEXEC);
  if (w->stop_fd < 0) {
    err = -errno;
    goto fail;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_async_init(loop, &w->wake, on_wake) != 0) {
    err = -EINVAL;
    goto fail;
  }
  w->wake.data = w;
  uv_unref((uv_handle_t *)&w->wake); // a watch never keeps the process alive on its own
  w->delivering = true;
  if ((err = -pthread_create(&w->thread, NULL, consume, w)) != 0) {
    w->delivering = false;
    uv_close((uv_handle_t *)&w->wake, on_closed); // frees w (the thread never ran)
    w = NULL;
    goto fail_freed;
  }
  w->thread_started = true;
  pthread_mutex_lock(&w->lock);
  while (!w->nice_known) pthread_cond_wait(&w->started, &w->lock);
  pthread_mutex_unlock(&w->lock);
  napi_value name;
  napi_create_string_utf8(env, "kube-lb map watch", NAPI_AUTO_LENGTH, &name);
  napi_value resource;
  napi_create_object(env, &resource);
  napi_create_reference(env, argv[2], 1, &w->callback);
  napi_async_init(env, resource, name, &w->async);
  napi_value handle;
  napi_create_external(env, w, NULL, NULL, &handle);
  return handle;
fail:
  free_watch(w);
fail_freed:;
  char what[64];
  snprintf(what, sizeof(what), "map watch %s", step);
  throw_libbpf(env, what, err);
  return NULL;
}

// mapWatchSet(handle, ids: Uint32Array): watch exactly these map IDs (slot i counts ids[i]); counters reset.
static napi_value watch_set(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct watch *w = watch_arg(env, info, 2, argv);
  if (!w) return NULL;
  napi_typedarray_type type;
  size_t count;
  void *data;
  if (napi_get_typedarray_info(env, argv[1], &type, &count, &data, NULL, NULL) != napi_ok || type != napi_uint32_array ||
      count > MAX_WATCHED) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "mapWatchSet(handle, Uint32Array of at most 16 map IDs)");
    return NULL;
  }
  uint32_t key, next;
  void *prev = NULL;
  // Empty the filter first: stale IDs would count changes to maps that are gone (IDs are not reused soon, but
  // counters must start from zero with the new set).
  while (bpf_map_get_next_key(w->watched_fd, prev, &next) == 0) {
    bpf_map_delete_elem(w->watched_fd, &next);
    prev = NULL;
  }
  unsigned char zeros[COUNTS_SIZE] = {0};
  for (uint32_t slot = 0; slot < MAX_WATCHED; slot++) bpf_map_update_elem(w->counters_fd, &slot, zeros, BPF_ANY);
  const uint32_t *ids = data;
  for (uint32_t slot = 0; slot < count; slot++) {
    key = ids[slot];
    if (bpf_map_update_elem(w->watched_fd, &key, &slot, BPF_ANY) != 0) {
      throw_libbpf(env, "map watch set", -errno);
      return NULL;
    }
  }
  return kl_undefined(env);
}

// mapWatchConsumerNice(handle) -> { nice, errno?, code? }: the consumer thread's nice value, and why it is not
// CONSUMER_NICE when setting that failed (EPERM/EACCES without CAP_SYS_NICE).
static napi_value watch_consumer_nice(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct watch *w = watch_arg(env, info, 1, argv);
  if (!w) return NULL;
  napi_value r, v;
  napi_create_object(env, &r);
  napi_create_int32(env, w->nice_err == 0 ? CONSUMER_NICE : 0, &v);
  napi_set_named_property(env, r, "nice", v);
  if (w->nice_err != 0) {
    napi_create_int32(env, w->nice_err, &v);
    napi_set_named_property(env, r, "errno", v);
    char namebuf[KL_ERRNO_NAME_SIZE];
    napi_create_string_utf8(env, kl_errno_name(w->nice_err, namebuf), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, r, "code", v);
  }
  return r;
}

// mapWatchAddonWriteBacks(handle) -> { count, over1ms, maxNs }: the addon's write-backs since the watch opened.
static napi_value watch_addon_write_backs(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct watch *w = watch_arg(env, info, 1, argv);
  if (!w) return NULL;
  napi_value r, v;
  napi_create_object(env, &r);
  napi_create_double(env, (double)__atomic_load_n(&w->wb_count, __ATOMIC_RELAXED), &v);
  napi_set_named_property(env, r, "count", v);
  napi_create_double(env, (double)__atomic_load_n(&w->wb_over_1ms, __ATOMIC_RELAXED), &v);
  napi_set_named_property(env, r, "over1ms", v);
  napi_create_double(env, (double)__atomic_load_n(&w->wb_max_ns, __ATOMIC_RELAXED), &v);
  napi_set_named_property(env, r, "maxNs", v);
  return r;
}

// mapWatchCounters(handle, out: Uint8Array of 16 × 24 bytes): {changes, foreign, dropped} per slot, host order.
static napi_value watch_counters(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct watch *w = watch_arg(env, info, 2, argv);
  if (!w) return NULL;
  void *out;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &out, &len) != napi_ok || len < MAX_WATCHED * COUNTS_SIZE) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "mapWatchCounters(handle, Uint8Array(384))");
    return NULL;
  }
  for (uint32_t slot = 0; slot < MAX_WATCHED; slot++) {
    if (bpf_map_lookup_elem(w->counters_fd, &slot, (unsigned char *)out + slot * COUNTS_SIZE) != 0) {
      throw_libbpf(env, "map watch counters", -errno);
      return NULL;
    }
  }
  return kl_undefined(env);
}

// mapWatchWriteBackIds(handle) → Uint32Array(3): the kernel ID of the map each role's write-back covers (by the
// program, or by the addon for a map programs may not write), 0 where it is off.
static napi_value watch_write_back_ids(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct watch *w = watch_arg(env, info, 1, argv);
  if (!w) return NULL;
  napi_value ab, out;
  void *data;
  napi_create_arraybuffer(env, sizeof(w->write_back_ids), &data, &ab);
  uint32_t *ids = data;
  for (int r = 0; r < WRITE_BACK_ROLES; r++) ids[r] = w->write_back_ids[r] ? w->write_back_ids[r] : w->user_id[r];
  napi_create_typedarray(env, napi_uint32_array, WRITE_BACK_ROLES, ab, 0, &out);
  return out;
}

// mapWatchOwnFd(handle, role) → a new fd (the caller closes it) of own_services, own_backends or own_rev_nat.
static napi_value watch_own_fd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct watch *w = watch_arg(env, info, 2, argv);
  if (!w) return NULL;
  uint32_t role;
  if (napi_get_value_uint32(env, argv[1], &role) != napi_ok || role >= WRITE_BACK_ROLES) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "mapWatchOwnFd(handle, role 0..2)");
    return NULL;
  }
  struct bpf_map *own = bpf_object__find_map_by_name(w->obj, OWN_MAPS[role]);
  int fd = own ? fcntl(bpf_map__fd(own), F_DUPFD_CLOEXEC, 0) : -1;
  if (fd < 0) {
    throw_libbpf(env, "map watch own map", own ? -errno : -ENOENT);
    return NULL;
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

// mapWatchDrain(handle) → Buffer of pending events, or undefined: what the next readable callback would get.
static napi_value watch_drain(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct watch *w = watch_arg(env, info, 1, argv);
  if (!w) return NULL;
  return take_events(env, w);
}

// mapWatchClose(handle): stops the thread, detaches the programs and frees everything once the wake-up handle is
// closed.
static napi_value watch_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct watch *w = watch_arg(env, info, 1, argv);
  if (!w) return NULL;
  w->delivering = false;
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->async);
  // The thread and the links go now, so nothing is consumed, written back or fires after close returns; memory
  // goes when libuv has closed the wake-up handle.
  stop_thread(w);
  for (int i = 0; i < w->nlinks; i++) bpf_link__destroy(w->links[i]);
  w->nlinks = 0;
  ring_buffer__free(w->rb);
  w->rb = NULL;
  bpf_object__close(w->obj);
  w->obj = NULL;
  uv_close((uv_handle_t *)&w->wake, on_closed);
  return kl_undefined(env);
}

napi_value kl_map_watch_init(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      KL_FUNCTION("mapWatchOpen", watch_open),
      KL_FUNCTION("mapWatchSet", watch_set),
      KL_FUNCTION("mapWatchCounters", watch_counters),
      KL_FUNCTION("mapWatchConsumerNice", watch_consumer_nice),
      KL_FUNCTION("mapWatchAddonWriteBacks", watch_addon_write_backs),
      KL_FUNCTION("mapWatchDrain", watch_drain),
      KL_FUNCTION("mapWatchOwnFd", watch_own_fd),
      KL_FUNCTION("mapWatchWriteBackIds", watch_write_back_ids),
      KL_FUNCTION("mapWatchClose", watch_close),
  };
  return kl_define(env, exports, props, sizeof(props) / sizeof(props[0]));
}
