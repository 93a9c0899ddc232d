// The JS side that every area of the addon has alike: registering functions, reading arguments, and the Error a
// failed syscall throws (see addon.h).
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include "addon.h"

napi_value kl_define(napi_env env, napi_value exports, const napi_property_descriptor *props, size_t count) {
  if (napi_define_properties(env, exports, count, props) != napi_ok) return NULL;
  return exports;
}

bool kl_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "too few arguments");
    return false;
  }
  return true;
}

napi_value kl_undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

const char *kl_errno_name(int err, char buf[static KL_ERRNO_NAME_SIZE]) {
  const char *name = strerrorname_np(err);
  if (name != NULL) return name;
  snprintf(buf, KL_ERRNO_NAME_SIZE, "E%d", err);
  return buf;
}

void kl_throw_syscall(napi_env env, const char *code, int err, const char *syscall, const char *message,
                      int64_t processed) {
  napi_value code_value, message_value, error, num, sys;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value);
  napi_create_error(env, code_value, message_value, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  if (processed >= 0) {
    napi_value p;
    napi_create_int64(env, processed, &p);
    napi_set_named_property(env, error, "processed", p);
  }
  napi_throw(env, error);
}
