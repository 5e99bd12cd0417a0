/* The compiled ASGI call: what ``ASGIMiddleware._call_python`` does for an
 * HTTP request that is simply recorded, with no Python frame of ours.
 *
 * ``ASGICall`` is the base of ``requestcov.middleware.asgi.ASGIMiddleware``
 * when the compiled core is built (3.10+: ``PyIter_Send``). The middleware's
 * ``__call__`` stays a coroutine function, as servers tell an ASGI app by it,
 * and only awaits ``_call_compiled(scope, receive, send)``. Once the
 * middleware has given it what a request needs (``_set_fast_path``: no
 * test-control endpoint or Keploy agent can name a test, the request path is
 * the compiled one), that reads the test id and test set headers, begins the
 * request (counted, then ``RequestPath.begin``), calls the app with the
 * recording send and returns an ``ASGIExchange``: an awaitable that hands
 * every step on to the app's and ends the request when the app's call
 * returns or raises (what ``_finish`` does, then ``recorder.finish``), as
 * the Python call's ``await`` and ``except`` do. Everything else is the
 * coroutine of ``_call_python`` (the reference, and what runs with
 * REQUESTCOV_CORE=python): lifespan and websocket scopes, a header to clean,
 * a request a sampler must decide on, an engine that wants to see a
 * request's thread first. The Python frames of the call, ``_begin``,
 * ``Recorder.begin``, ``clean_test_id`` and ``_finish`` were about 220
 * bytecodes of every recorded request.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../engine/_compat.h"

#if PY_VERSION_HEX >= 0x030A0000

#include "_middlewarecall.h"
#include "_slots.h"

typedef struct {
    PyObject_HEAD
    CallSetup setup;  /* make_part: the recording send's type; end: finish_failed(error) */
} ASGICall;

/* One request's app call, awaited. ``request`` is NULL once it has ended. */
typedef struct {
    PyObject_HEAD
    PyObject *inner;    /* the iterator of the app's awaitable */
    PyObject *request;
    PyObject *scope;
    ASGICall *call;     /* the middleware: its recorder, and its finish_failed */
} ASGIExchange;

static PyTypeObject ASGIExchangeType;

/* 3.10 and 3.11 read am_send only with this flag; 3.12 always does. */
#ifdef Py_TPFLAGS_HAVE_AM_SEND
#define EXCHANGE_AM_SEND_FLAG Py_TPFLAGS_HAVE_AM_SEND
#else
#define EXCHANGE_AM_SEND_FLAG 0
#endif

static PyObject *str_type, *str_http, *str_headers;
static PyObject *str_method, *str_path, *str_empty, *str_slash, *str_throw, *str_close;
static PyObject *str_route, *str_path_format, *str_status, *str_finish;
static PyObject *server_error;

/* ---- the exchange ---- */

/* getattr(object, name, None): a new reference, NULL only on an error
 * other than AttributeError. */
static PyObject *
optional_attr(PyObject *object, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(object, name);
    if (value == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        value = Py_NewRef(Py_None);
    }
    return value;
}

/* The request's route, read and written at its offset. */
static SlotCache route_slot;

/* request.route, when the app named none: the route the framework left in
 * the scope (its ``path``, else its ``path_format``), as _finish takes it. */
static int
fill_route(ASGIExchange *self, PyObject *request)
{
    PyObject *route = requestcov_slot_get(&route_slot, request, str_route);
    if (route == NULL) {
        return -1;
    }
    int named = route != Py_None;
    Py_DECREF(route);
    if (named) {
        return 0;
    }
    PyObject *found = PyDict_GetItemWithError(self->scope, str_route);  /* borrowed */
    if (found == NULL) {
        return PyErr_Occurred() ? -1 : 0;  /* none: None stays */
    }
    Py_INCREF(found);
    PyObject *value = optional_attr(found, str_path);
    int usable = value == NULL ? -1 : PyObject_IsTrue(value);
    if (usable == 0) {
        Py_SETREF(value, optional_attr(found, str_path_format));
    }
    Py_DECREF(found);
    if (value == NULL || usable < 0) {
        Py_XDECREF(value);
        return -1;
    }
    int failed = requestcov_slot_set(&route_slot, request, str_route, value);
    Py_DECREF(value);
    return failed;
}

/* What ASGIMiddleware._finish does: the route, a status of 500 for a
 * failed request that has none, then recorder.finish(request). An
 * Exception on the way is logged once (finish_failed) and the request goes
 * on; -1 only for what is not one (an app's signal handler raising
 * SystemExit), which goes on as in Python. */
static int
end_request(ASGIExchange *self, PyObject *request, int error)
{
    int failed = fill_route(self, request);
    if (failed == 0 && error) {
        PyObject *status = PyObject_GetAttr(request, str_status);
        failed = status == NULL ? -1 : status == Py_None ? PyObject_SetAttr(request, str_status, server_error) : 0;
        Py_XDECREF(status);
    }
    if (failed == 0) {
        PyObject *finish = PyObject_GetAttr(self->call->setup.recorder, str_finish);
        PyObject *finished = finish == NULL ? NULL : PyObject_CallOneArg(finish, request);
        Py_XDECREF(finish);
        failed = finished == NULL ? -1 : 0;
        Py_XDECREF(finished);
    }
    if (failed == 0) {
        return 0;
    }
    return PyErr_ExceptionMatches(PyExc_Exception) ? requestcov_log_error(self->call->setup.end) : -1;
}

/* End the request once, with the exception being raised (if any) held
 * across its end, as ``except BaseException: ...; raise`` holds it. 0, or
 * -1 when ending it raised (that exception then goes on in place of the
 * app's, as in Python). */
static int
exchange_end(ASGIExchange *self, int error)
{
    PyObject *request = self->request;
    if (request == NULL) {
        return 0;
    }
    self->request = NULL;
    Py_CLEAR(self->inner);
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    int ended = end_request(self, request, error);
    Py_DECREF(request);
    if (ended < 0) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return -1;
    }
    PyErr_Restore(type, value, traceback);
    return 0;
}

static PySendResult
ASGIExchange_am_send(ASGIExchange *self, PyObject *arg, PyObject **result)
{
    if (self->inner == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse an ended request's awaitable");
        *result = NULL;
        return PYGEN_ERROR;
    }
    PySendResult status = PyIter_Send(self->inner, arg, result);
    if (status == PYGEN_NEXT) {
        return status;
    }
    if (status == PYGEN_RETURN) {
        if (exchange_end(self, 0) < 0) {
            Py_CLEAR(*result);
            return PYGEN_ERROR;
        }
        return status;
    }
    *result = NULL;
    exchange_end(self, 1);
    return PYGEN_ERROR;
}

/* What a generator's send raises when it returns ``value``. */
static void
set_stop_iteration(PyObject *value)
{
    if (value == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
        return;
    }
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, value);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
}

/* One step: what the app's call yields, or NULL with its error or with
 * StopIteration when it returns (none for a return of None when
 * ``quiet``: how tp_iternext ends). */
static PyObject *
exchange_step(ASGIExchange *self, PyObject *arg, int quiet)
{
    PyObject *result;
    if (ASGIExchange_am_send(self, arg, &result) != PYGEN_RETURN) {
        return result;
    }
    if (!quiet || result != Py_None) {
        set_stop_iteration(result);
    }
    Py_DECREF(result);
    return NULL;
}

static PyObject *
ASGIExchange_iternext(ASGIExchange *self)
{
    return exchange_step(self, Py_None, 1);
}

static PyObject *
ASGIExchange_send(ASGIExchange *self, PyObject *value)
{
    return exchange_step(self, value, 0);
}

/* throw(...): into the app's awaitable, as ``await`` hands it on; the
 * request ends when the app's call returns or raises. */
static PyObject *
ASGIExchange_throw(ASGIExchange *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw(value) or throw(type[, value[, traceback]])");
        return NULL;
    }
    PyObject *method = self->inner == NULL ? NULL : PyObject_GetAttr(self->inner, str_throw);
    if (method == NULL) {
        /* Ended, or an awaitable that takes no exception: raised here, as
         * ``await`` raises it in the awaiting frame. */
        PyErr_Clear();
        PyObject *thrown = args[0];
        if (PyExceptionInstance_Check(thrown)) {
            PyErr_SetObject((PyObject *)Py_TYPE(thrown), thrown);
        }
        else {
            PyErr_SetObject(thrown, nargs > 1 ? args[1] : NULL);
        }
        exchange_end(self, 1);
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(method, args, (size_t)nargs, NULL);
    Py_DECREF(method);
    if (result != NULL) {
        return result;  /* the app caught it and waits again */
    }
    exchange_end(self, !PyErr_ExceptionMatches(PyExc_StopIteration));
    return NULL;
}

/* close(): the awaiting coroutine is closed (GeneratorExit at its await):
 * the app's awaitable is closed, and the request ends as failed. */
static PyObject *
ASGIExchange_close(ASGIExchange *self, PyObject *unused)
{
    if (self->request == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *method = self->inner == NULL ? NULL : PyObject_GetAttr(self->inner, str_close);
    PyObject *closed = NULL;
    if (method == NULL) {
        PyErr_Clear();
        closed = Py_NewRef(Py_None);
    }
    else {
        closed = PyObject_CallNoArgs(method);
        Py_DECREF(method);
    }
    int ended = exchange_end(self, 1);
    if (closed == NULL || ended < 0) {
        Py_XDECREF(closed);
        return NULL;
    }
    return closed;
}

static PyObject *
ASGIExchange_await(PyObject *self)
{
    return Py_NewRef(self);
}

static int
ASGIExchange_traverse(ASGIExchange *self, visitproc visit, void *arg)
{
    Py_VISIT(self->inner);
    Py_VISIT(self->request);
    Py_VISIT(self->scope);
    Py_VISIT(self->call);
    return 0;
}

static int
ASGIExchange_clear(ASGIExchange *self)
{
    Py_CLEAR(self->inner);
    Py_CLEAR(self->request);
    Py_CLEAR(self->scope);
    Py_CLEAR(self->call);
    return 0;
}

static void
ASGIExchange_dealloc(ASGIExchange *self)
{
    PyObject_GC_UnTrack(self);
    ASGIExchange_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef ASGIExchange_methods[] = {
    {"send", (PyCFunction)ASGIExchange_send, METH_O, "send(value): the app's call goes on."},
    {"throw", (PyCFunction)(void (*)(void))ASGIExchange_throw, METH_FASTCALL,
     "throw(...): into the app's call."},
    {"close", (PyCFunction)ASGIExchange_close, METH_NOARGS, "close(): the app's call closed, the request ended."},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods ASGIExchange_async = {
    .am_await = ASGIExchange_await,
    .am_send = (sendfunc)ASGIExchange_am_send,
};

static PyTypeObject ASGIExchangeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.ASGIExchange",
    .tp_doc = "One recorded ASGI request's app call, awaited: ends the request when the call does.",
    .tp_basicsize = sizeof(ASGIExchange),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | EXCHANGE_AM_SEND_FLAG,
    .tp_as_async = &ASGIExchange_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)ASGIExchange_iternext,
    .tp_methods = ASGIExchange_methods,
    .tp_dealloc = (destructor)ASGIExchange_dealloc,
    .tp_traverse = (traverseproc)ASGIExchange_traverse,
    .tp_clear = (inquiry)ASGIExchange_clear,
};

/* ---- the call ---- */

/* A header's value as the middleware keeps it, when that is the value
 * itself: printable ASCII bytes, no space at either end, not too long; made
 * a str in ``*value``. 1 kept, 0 it must be cleaned (the Python way), -1 an
 * error. */
static int
header_value(PyObject *raw, PyObject **value)
{
    Py_ssize_t length = PyBytes_GET_SIZE(raw);
    if (length == 0) {
        *value = Py_NewRef(str_empty);
        return 1;
    }
    const unsigned char *characters = (const unsigned char *)PyBytes_AS_STRING(raw);
    if (!requestcov_is_kept_id(characters, length)) {
        return 0;
    }
    *value = PyUnicode_FromStringAndSize((const char *)characters, length);
    return *value == NULL ? -1 : 1;
}

/* Whether header ``name`` (bytes) is ``wanted`` (lowercase bytes), in any case. */
static int
is_header(PyObject *name, PyObject *wanted)
{
    Py_ssize_t length = PyBytes_GET_SIZE(name);
    if (length != PyBytes_GET_SIZE(wanted)) {
        return 0;
    }
    const unsigned char *have = (const unsigned char *)PyBytes_AS_STRING(name);
    const unsigned char *want = (const unsigned char *)PyBytes_AS_STRING(wanted);
    for (Py_ssize_t index = 0; index < length; index++) {
        unsigned char character = have[index];
        if (character >= 'A' && character <= 'Z') {
            character = (unsigned char)(character - 'A' + 'a');
        }
        if (character != want[index]) {
            return 0;
        }
    }
    return 1;
}

/* The test id and test set of ``headers`` (new references, "" when absent),
 * the last of each as in Python. 1 found, 0 the Python way (headers of
 * another shape, or a value to clean), -1 an error. */
static int
test_headers(ASGICall *self, PyObject *headers, PyObject **test_id, PyObject **test_set)
{
    *test_id = Py_NewRef(str_empty);
    *test_set = Py_NewRef(str_empty);
    if (headers == NULL || headers == Py_None) {
        return 1;
    }
    if (!PyList_CheckExact(headers) && !PyTuple_CheckExact(headers)) {
        return 0;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(headers);
    for (Py_ssize_t index = 0; index < count; index++) {
        PyObject *header = PySequence_Fast_GET_ITEM(headers, index);
        if ((!PyTuple_CheckExact(header) && !PyList_CheckExact(header)) || PySequence_Fast_GET_SIZE(header) != 2) {
            return 0;
        }
        PyObject *name = PySequence_Fast_GET_ITEM(header, 0), *raw = PySequence_Fast_GET_ITEM(header, 1);
        if (!PyBytes_CheckExact(name) || !PyBytes_CheckExact(raw)) {
            return 0;
        }
        PyObject **slot = is_header(name, self->setup.id_header) ? test_id
                          : is_header(name, self->setup.test_set_header) ? test_set : NULL;
        if (slot == NULL) {
            continue;
        }
        PyObject *value;
        int kept = header_value(raw, &value);
        if (kept <= 0) {
            return kept;
        }
        Py_SETREF(*slot, value);
    }
    return 1;
}

static PyObject *
call_python(ASGICall *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (self->setup.python_call == NULL) {
        PyErr_SetString(PyExc_TypeError, "the middleware is not set up");
        return NULL;
    }
    return PyObject_Vectorcall(self->setup.python_call, args, (size_t)nargs, NULL);
}

/* scope[key] when a str, borrowed; ``fallback`` when absent; NULL (no
 * error) when of another type, for the Python way to make it one. */
static PyObject *
scope_str(PyObject *scope, PyObject *key, PyObject *fallback)
{
    PyObject *value = PyDict_GetItemWithError(scope, key);
    if (value == NULL) {
        return PyErr_Occurred() ? NULL : fallback;
    }
    return PyUnicode_CheckExact(value) ? value : NULL;
}

/* The request begun (a new reference); NULL with no error when the Python
 * way must take it, NULL with an error on one; ``Py_None`` when beginning
 * it failed (logged) and the app runs unrecorded. */
static PyObject *
begin_request(ASGICall *self, PyObject *scope)
{
    PyObject *kind = PyDict_GetItemWithError(scope, str_type);
    if (kind == NULL || !PyUnicode_CheckExact(kind) || PyUnicode_Compare(kind, str_http) != 0) {
        return NULL;
    }
    PyObject *headers = PyDict_GetItemWithError(scope, str_headers);
    if (headers == NULL && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *test_id, *test_set;
    int kept = test_headers(self, headers, &test_id, &test_set);
    PyObject *method = kept <= 0 ? NULL : scope_str(scope, str_method, str_empty);
    PyObject *path = method == NULL ? NULL : scope_str(scope, str_path, str_empty);
    PyObject *request = NULL;
    if (path == NULL || (test_id == str_empty && !self->setup.records_everything)) {
        goto done;  /* a header to clean, a sampler to decide, a field to make a str: the Python way */
    }
    if (requestcov_engine_waits(&self->setup) == 0) {
        request = requestcov_begin_request(&self->setup, test_id, test_set, method,
                                           PyUnicode_GET_LENGTH(path) == 0 ? str_slash : path);
    }
done:
    Py_DECREF(test_id);
    Py_DECREF(test_set);
    return request;
}

/* _call_compiled(scope, receive, send): an awaitable of the request. */
static PyObject *
ASGICall_call_compiled(ASGICall *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_call_compiled(scope, receive, send)");
        return NULL;
    }
    PyObject *scope = args[0], *receive = args[1], *send = args[2];
    if (!self->setup.ready || !PyDict_CheckExact(scope)) {
        return call_python(self, args, nargs);
    }
    PyObject *request = begin_request(self, scope);
    if (request == NULL) {
        return PyErr_Occurred() ? NULL : call_python(self, args, nargs);
    }
    PyObject *app_args[3] = {scope, receive, send};
    if (request == Py_None) {  /* could not be begun (logged): the app runs unrecorded */
        Py_DECREF(request);
        return requestcov_call_app((PyObject *)self, app_args, 3);
    }
    ASGIExchange *exchange = PyObject_GC_New(ASGIExchange, &ASGIExchangeType);
    if (exchange == NULL) {
        Py_DECREF(request);
        return NULL;
    }
    exchange->inner = NULL;
    exchange->request = request;
    exchange->scope = Py_NewRef(scope);
    exchange->call = (ASGICall *)Py_NewRef((PyObject *)self);
    PyObject_GC_Track(exchange);
    PyObject *send_args[2] = {request, send};
    PyObject *recording_send = PyObject_Vectorcall(self->setup.make_part, send_args, 2, NULL);
    app_args[2] = recording_send;
    PyObject *awaitable = recording_send == NULL ? NULL : requestcov_call_app((PyObject *)self, app_args, 3);
    Py_XDECREF(recording_send);
    if (awaitable != NULL) {
        if (PyCoro_CheckExact(awaitable)) {
            exchange->inner = awaitable;
        }
        else {
            unaryfunc get_iterator = Py_TYPE(awaitable)->tp_as_async ? Py_TYPE(awaitable)->tp_as_async->am_await
                                                                      : NULL;
            if (get_iterator == NULL) {
                PyErr_Format(PyExc_TypeError, "the app returned %.100s, which cannot be awaited",
                             Py_TYPE(awaitable)->tp_name);
            }
            else {
                exchange->inner = get_iterator(awaitable);
                if (exchange->inner != NULL && !PyIter_Check(exchange->inner)) {
                    PyErr_Format(PyExc_TypeError, "__await__() returned %.100s, not an iterator",
                                 Py_TYPE(exchange->inner)->tp_name);
                    Py_CLEAR(exchange->inner);
                }
            }
            Py_DECREF(awaitable);
        }
    }
    if (exchange->inner == NULL) {
        exchange_end(exchange, 1);  /* the app's call raised: ended with its error */
        Py_DECREF(exchange);
        return NULL;
    }
    return (PyObject *)exchange;
}

static PyObject *
ASGICall_set_fast_path(ASGICall *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (requestcov_setup_fast_path(&self->setup, args, nargs, &PyBytes_Type,
                                   "_set_fast_path(recorder, engine, begin, make_send, finish_failed, "
                                   "id_header: bytes, test_set_header: bytes, python_call, begin_failed, "
                                   "records_everything: bool)") < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ASGICall_set_python_path(ASGICall *self, PyObject *python_call)
{
    requestcov_setup_python_path(&self->setup, python_call);
    Py_RETURN_NONE;
}

static int
ASGICall_traverse(ASGICall *self, visitproc visit, void *arg)
{
    return requestcov_setup_traverse(&self->setup, visit, arg);
}

static int
ASGICall_clear(ASGICall *self)
{
    requestcov_setup_clear(&self->setup);
    return 0;
}

static void
ASGICall_dealloc(ASGICall *self)
{
    PyObject_GC_UnTrack(self);
    ASGICall_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef ASGICall_methods[] = {
    {"_call_compiled", (PyCFunction)(void (*)(void))ASGICall_call_compiled, METH_FASTCALL,
     "_call_compiled(scope, receive, send): the awaitable of one call of the middleware."},
    {"_set_fast_path", (PyCFunction)(void (*)(void))ASGICall_set_fast_path, METH_FASTCALL,
     "What a simply recorded request needs: calls of the middleware take the compiled path."},
    {"_set_python_path", (PyCFunction)ASGICall_set_python_path, METH_O,
     "Every call of the middleware goes to this callable (the Python reference)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ASGICallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.ASGICall",
    .tp_doc = "The compiled call of the ASGI middleware (its base class).",
    .tp_basicsize = sizeof(ASGICall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)ASGICall_dealloc,
    .tp_traverse = (traverseproc)ASGICall_traverse,
    .tp_clear = (inquiry)ASGICall_clear,
    .tp_methods = ASGICall_methods,
};

int
requestcov_add_asgi_call(PyObject *module)
{
    str_type = PyUnicode_InternFromString("type");
    str_http = PyUnicode_InternFromString("http");
    str_headers = PyUnicode_InternFromString("headers");
    str_method = PyUnicode_InternFromString("method");
    str_path = PyUnicode_InternFromString("path");
    str_empty = PyUnicode_InternFromString("");
    str_slash = PyUnicode_InternFromString("/");
    str_throw = PyUnicode_InternFromString("throw");
    str_close = PyUnicode_InternFromString("close");
    str_route = PyUnicode_InternFromString("route");
    str_path_format = PyUnicode_InternFromString("path_format");
    str_status = PyUnicode_InternFromString("status");
    str_finish = PyUnicode_InternFromString("finish");
    server_error = PyLong_FromLong(500);
    if (requestcov_call_shared_init() < 0 || !server_error || !str_type
        || !str_http || !str_headers || !str_method || !str_path || !str_empty || !str_slash || !str_throw
        || !str_close || !str_route || !str_path_format || !str_status || !str_finish) {
        return -1;
    }
    if (PyType_Ready(&ASGIExchangeType) < 0) {
        return -1;
    }
    return requestcov_add_type(module, &ASGICallType, "ASGICall");
}

#else  /* 3.9: no PyIter_Send; the middleware's call is its Python one. */

int
requestcov_add_asgi_call(PyObject *module)
{
    return 0;
}

#endif
