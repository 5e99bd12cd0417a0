/* The compiled WSGI call: what ``WSGIMiddleware.__call__`` does for a
 * request that is simply recorded, in one C call.
 *
 * ``WSGICall`` is the base of ``requestcov.middleware.wsgi.WSGIMiddleware``
 * when the compiled core is built. Once the middleware has given it what a
 * request needs (``_set_fast_path``: done only when no test-control endpoint
 * or Keploy agent can name a test and the recorder's request path is the
 * compiled one), a call reads the test id and test set headers, begins the
 * request (``Recorder.begin``'s steps: counted, then ``RequestPath.begin``),
 * makes the exchange, calls the app and hands the exchange back as the body.
 * Everything else goes to the middleware's ``_call_python`` (the reference,
 * and what runs with REQUESTCOV_CORE=python): a request a sampler must decide
 * on, an engine that wants to see a request's thread first, a header that
 * must be cleaned, an environ that is not a dict, a call with keywords. The
 * Python frames of ``__call__``, ``_begin``, ``Recorder.begin`` and
 * ``clean_test_id`` were about 130 bytecodes of every recorded request.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../engine/_compat.h"
#include "_middlewarecall.h"

typedef struct {
    PyObject_HEAD
    CallSetup setup;  /* make_part: the exchange type; end: finish(recorder, request, environ, error) */
} WSGICall;

static PyObject *str_body, *str_closed;
static PyObject *str_request_method, *str_path_info, *str_empty, *str_slash;

/* A header's value as the middleware keeps it, when that is the value
 * itself: a str of printable ASCII, no space at either end, not too long.
 * 1 kept as it is ("" when absent or empty), 0 it must be cleaned (the
 * Python way), -1 an error. */
static int
header_value(PyObject *environ, PyObject *key, PyObject **value)
{
    PyObject *raw = PyDict_GetItemWithError(environ, key);  /* borrowed */
    if (raw == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        *value = str_empty;
        return 1;
    }
    if (!PyUnicode_CheckExact(raw)) {
        return 0;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(raw);
    if (length == 0) {
        *value = str_empty;
        return 1;
    }
    if (!PyUnicode_IS_ASCII(raw) || !requestcov_is_kept_id(PyUnicode_1BYTE_DATA(raw), length)) {
        return 0;
    }
    *value = raw;
    return 1;
}

/* environ.get(key, default), borrowed. */
static PyObject *
environ_get(PyObject *environ, PyObject *key, PyObject *default_value)
{
    PyObject *value = PyDict_GetItemWithError(environ, key);
    if (value == NULL && !PyErr_Occurred()) {
        return default_value;
    }
    return value;
}

static PyObject *
call_python(WSGICall *self, PyObject *args, PyObject *kwargs)
{
    if (self->setup.python_call == NULL) {
        PyErr_SetString(PyExc_TypeError, "the middleware is not set up");
        return NULL;
    }
    return PyObject_Call(self->setup.python_call, args, kwargs);
}

static PyObject *
WSGICall_call(WSGICall *self, PyObject *args, PyObject *kwargs)
{
    if (!self->setup.ready || (kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) || PyTuple_GET_SIZE(args) != 2) {
        return call_python(self, args, kwargs);
    }
    PyObject *environ = PyTuple_GET_ITEM(args, 0), *start_response = PyTuple_GET_ITEM(args, 1);
    if (!PyDict_CheckExact(environ)) {
        return call_python(self, args, kwargs);
    }
    PyObject *test_id, *test_set;
    int kept = header_value(environ, self->setup.id_header, &test_id);
    if (kept > 0) {
        kept = header_value(environ, self->setup.test_set_header, &test_set);
    }
    if (kept < 0) {
        return NULL;
    }
    if (kept == 0 || (test_id == str_empty && !self->setup.records_everything)) {
        /* A header to clean, or a sampler to decide: the Python way. */
        return call_python(self, args, kwargs);
    }
    int wanted = requestcov_engine_waits(&self->setup);
    if (wanted != 0) {
        return wanted < 0 ? NULL : call_python(self, args, kwargs);
    }
    PyObject *method = environ_get(environ, str_request_method, str_empty);
    PyObject *path = method == NULL ? NULL : environ_get(environ, str_path_info, str_empty);
    if (path == NULL) {
        return NULL;
    }
    int empty = PyObject_Not(path);
    if (empty < 0) {
        return NULL;
    }
    PyObject *request = requestcov_begin_request(&self->setup, test_id, test_set, method, empty ? str_slash : path);
    if (request == NULL) {
        return NULL;
    }
    PyObject *app_args[2] = {environ, start_response};
    if (request == Py_None) {  /* could not be begun (logged): the app runs unrecorded */
        Py_DECREF(request);
        return requestcov_call_app((PyObject *)self, app_args, 2);
    }
    PyObject *exchange_args[5] = {request, start_response, self->setup.end, self->setup.recorder, environ};
    PyObject *exchange = PyObject_Vectorcall(self->setup.make_part, exchange_args, 5, NULL);
    if (exchange == NULL) {
        Py_DECREF(request);
        return NULL;
    }
    app_args[1] = exchange;
    PyObject *body = requestcov_call_app((PyObject *)self, app_args, 2);
    if (body == NULL) {
        /* Ended here, with the error: freeing the exchange must not end it again. */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        int closed = PyObject_SetAttr(exchange, str_closed, Py_True);
        PyObject *finish_args[4] = {self->setup.recorder, request, environ, Py_True};
        PyObject *finished = closed < 0 ? NULL : PyObject_Vectorcall(self->setup.end, finish_args, 4, NULL);
        Py_DECREF(request);
        Py_DECREF(exchange);
        if (finished == NULL) {
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(traceback);
            return NULL;
        }
        Py_DECREF(finished);
        PyErr_Restore(type, value, traceback);
        return NULL;
    }
    Py_DECREF(request);
    int failed = PyObject_SetAttr(exchange, str_body, body);
    Py_DECREF(body);
    if (failed < 0) {
        Py_DECREF(exchange);
        return NULL;
    }
    return exchange;
}

static PyObject *
WSGICall_set_fast_path(WSGICall *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (requestcov_setup_fast_path(&self->setup, args, nargs, &PyUnicode_Type,
                                   "_set_fast_path(recorder, engine, begin, make_exchange, finish, id_key: str, "
                                   "test_set_key: str, python_call, begin_failed, records_everything: bool)") < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
WSGICall_set_python_path(WSGICall *self, PyObject *python_call)
{
    requestcov_setup_python_path(&self->setup, python_call);
    Py_RETURN_NONE;
}

static int
WSGICall_traverse(WSGICall *self, visitproc visit, void *arg)
{
    return requestcov_setup_traverse(&self->setup, visit, arg);
}

static int
WSGICall_clear(WSGICall *self)
{
    requestcov_setup_clear(&self->setup);
    return 0;
}

static void
WSGICall_dealloc(WSGICall *self)
{
    PyObject_GC_UnTrack(self);
    WSGICall_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef WSGICall_methods[] = {
    {"_set_fast_path", (PyCFunction)(void (*)(void))WSGICall_set_fast_path, METH_FASTCALL,
     "What a simply recorded request needs: calls of the middleware take the compiled path."},
    {"_set_python_path", (PyCFunction)WSGICall_set_python_path, METH_O,
     "Every call of the middleware goes to this callable (the Python reference)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WSGICallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.WSGICall",
    .tp_doc = "The compiled call of the WSGI middleware (its base class).",
    .tp_basicsize = sizeof(WSGICall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)WSGICall_dealloc,
    .tp_traverse = (traverseproc)WSGICall_traverse,
    .tp_clear = (inquiry)WSGICall_clear,
    .tp_call = (ternaryfunc)WSGICall_call,
    .tp_methods = WSGICall_methods,
};

int
requestcov_add_wsgi_call(PyObject *module)
{
    str_body = PyUnicode_InternFromString("body");
    str_closed = PyUnicode_InternFromString("closed");
    str_request_method = PyUnicode_InternFromString("REQUEST_METHOD");
    str_path_info = PyUnicode_InternFromString("PATH_INFO");
    str_empty = PyUnicode_InternFromString("");
    str_slash = PyUnicode_InternFromString("/");
    if (requestcov_call_shared_init() < 0 || !str_body || !str_closed || !str_request_method || !str_path_info
        || !str_empty || !str_slash) {
        return -1;
    }
    return requestcov_add_type(module, &WSGICallType, "WSGICall");
}
