/*
 * psi_trigger: the kernel's PSI trigger (Documentation/accounting/psi.rst) for Node.
 *
 * A trigger is armed by writing "<some|full> <stall us> <window us>" to an
 * O_RDWR descriptor of /proc/pressure/<resource> (or a cgroup's memory.pressure);
 * the kernel then reports POLLPRI on that descriptor when the stall threshold is
 * crossed within the window. Node cannot wait for POLLPRI itself, but libuv's
 * uv_poll can (UV_PRIORITIZED), on the main loop, with no thread.
 *
 * JS API:
 *   open(path, trigger, callback) -> handle   callback(eventName) on "pressure" or "error"
 *   close(handle)
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

typedef struct {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref callback;
  int closed;
} trigger_t;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[4400];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static void on_closed(uv_handle_t *handle) {
  trigger_t *t = (trigger_t *)handle->data;
  free(t);
}

static void stop_trigger(trigger_t *t) {
  if (t->closed) return;
  t->closed = 1;
  uv_poll_stop(&t->poll);
  close(t->fd);
  napi_delete_reference(t->env, t->callback);
  uv_close((uv_handle_t *)&t->poll, on_closed);
}

static void call_back(trigger_t *t, const char *event) {
  napi_env env = t->env;
  napi_handle_scope scope;
  napi_value callback, global, arg, result;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, t->callback, &callback) == napi_ok && callback != NULL &&
      napi_get_global(env, &global) == napi_ok &&
      napi_create_string_utf8(env, event, NAPI_AUTO_LENGTH, &arg) == napi_ok) {
    /* An exception thrown by the callback surfaces as an uncaught exception. */
    if (napi_call_function(env, global, callback, 1, &arg, &result) == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  trigger_t *t = (trigger_t *)handle->data;
  if (t->closed) return;
  if (status < 0 || (events & UV_DISCONNECT)) {
    /* The trigger is dead (e.g. its cgroup went away): tell JS once and stop. */
    call_back(t, "error");
    stop_trigger(t);
    return;
  }
  if (events & UV_PRIORITIZED) call_back(t, "pressure");
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char path[4096], trigger[128];
  size_t len;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) {
    napi_throw_type_error(env, NULL, "open(path, trigger, callback) takes 3 arguments");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, argv[1], trigger, sizeof trigger, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "trigger must be a string");
    return NULL;
  }
  napi_typeof(env, argv[2], &type);
  if (type != napi_function) {
    napi_throw_type_error(env, NULL, "callback must be a function");
    return NULL;
  }

  int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, path, errno);
  /* The trigger string is written with its terminating NUL, as the kernel docs do. */
  if (write(fd, trigger, strlen(trigger) + 1) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "writing the PSI trigger", err);
  }

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    napi_throw_error(env, NULL, "no libuv loop");
    return NULL;
  }
  trigger_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  t->fd = fd;
  t->env = env;
  int rc = uv_poll_init(loop, &t->poll, fd);
  if (rc != 0) {
    close(fd);
    free(t);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  t->poll.data = t;
  napi_create_reference(env, argv[2], 1, &t->callback);
  rc = uv_poll_start(&t->poll, UV_PRIORITIZED | UV_DISCONNECT, on_poll);
  if (rc != 0) {
    stop_trigger(t);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  napi_value handle;
  napi_create_external(env, t, NULL, NULL, &handle);
  return handle;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "close(handle) needs a handle from open()");
    return NULL;
  }
  stop_trigger((trigger_t *)data);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, js_open, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, js_close, NULL, &fn);
  napi_set_named_property(env, exports, "close", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
