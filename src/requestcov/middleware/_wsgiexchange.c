/* The compiled WSGI exchange: one request's ``start_response`` and the body
 * the server iterates and closes, which ends the request.
 *
 * It does what ``requestcov.middleware.wsgi._Exchange`` does in Python (that
 * class stays the reference and the fallback, REQUESTCOV_CORE=python): called
 * as the app's ``start_response`` it notes the status and hands the call on;
 * iterated, it yields the app's body and marks the request's body sent once
 * the body is exhausted; ``close()`` closes the app's body and then ends the
 * request through the middleware's ``finish(recorder, request, environ,
 * False)``; a server that never calls ``close()`` (against PEP 3333) gets the
 * request ended when the exchange is freed. Every request pays these calls:
 * as Python methods, a generator and a ``__del__`` they were a fifth of what
 * recording a thin request cost on the request's own thread.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>

#include "../engine/_compat.h"
#include "_slots.h"

/* getattr(object, name, None) without an AttributeError made and dropped:
 * 1 found, 0 not there, -1 an error. */
static inline int
lookup_attribute(PyObject *object, PyObject *name, PyObject **found)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(object, name, found);
#else
    return _PyObject_LookupAttr(object, name, found);
#endif
}

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall; /* called as start_response */
    PyObject *body;            /* what the app returned; () until then */
    PyObject *iterator;        /* iter(body), once iteration began */
    PyObject *request;
    PyObject *start_response;  /* the server's */
    PyObject *finish;
    PyObject *recorder;
    PyObject *environ;
    char closed;               /* the request was ended (or must not be ended here) */
} WSGIExchange;

static PyObject *str_status, *str_body_sent, *str_close;
/* The request's status and body_sent, written at their offsets. */
static SlotCache status_slot, body_sent_slot;
static PyObject *is_finalizing;  /* sys.is_finalizing */

/* The status code of a WSGI status line ("200 OK" -> 200); -1 when it has none. */
static long
status_code(PyObject *status)
{
    if (!PyUnicode_Check(status)) {
        return -1;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(status);
    int kind = PyUnicode_KIND(status);
    const void *data = PyUnicode_DATA(status);
    long code = 0;
    Py_ssize_t index = 0;
    /* The digits before the first space, as the Python exchange reads them. */
    for (; index < length && index < 9; index++) {
        Py_UCS4 character = PyUnicode_READ(kind, data, index);
        if (character == ' ') {
            break;
        }
        if (character < '0' || character > '9') {
            return -1;
        }
        code = code * 10 + (long)(character - '0');
    }
    if (index == 0 || (index < length && PyUnicode_READ(kind, data, index) != ' ') || index == 9) {
        return -1;
    }
    return code;
}

static PyObject *
start_response(WSGIExchange *self, PyObject *status, PyObject *headers, PyObject *exc_info)
{
    long code = status_code(status);
    if (code >= 0) {
        PyObject *number = PyLong_FromLong(code);
        if (number == NULL || requestcov_slot_set(&status_slot, self->request, str_status, number) < 0) {
            Py_XDECREF(number);
            return NULL;
        }
        Py_DECREF(number);
    }
    if (exc_info == Py_None) {
        PyObject *call_args[2] = {status, headers};
        return PyObject_Vectorcall(self->start_response, call_args, 2, NULL);
    }
    PyObject *call_args[3] = {status, headers, exc_info};
    return PyObject_Vectorcall(self->start_response, call_args, 3, NULL);
}

static PyObject *
WSGIExchange_call(WSGIExchange *self, PyObject *args, PyObject *kwargs)
{
    PyObject *status, *headers, *exc_info = Py_None;
    static char *keywords[] = {"status", "headers", "exc_info", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response", keywords, &status, &headers, &exc_info)) {
        return NULL;
    }
    return start_response(self, status, headers, exc_info);
}

/* start_response(status, headers[, exc_info]) as every server's app calls it,
 * positionally: no tuple made, nothing parsed. */
static PyObject *
WSGIExchange_vectorcall(WSGIExchange *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if ((kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) && (nargs == 2 || nargs == 3)) {
        return start_response(self, args[0], args[1], nargs == 3 ? args[2] : Py_None);
    }
    return requestcov_call_parsed((PyObject *)self, (ternaryfunc)WSGIExchange_call, args, nargsf, kwnames);
}

static PyObject *
WSGIExchange_iter(WSGIExchange *self)
{
    PyObject *iterator = PyObject_GetIter(self->body);
    if (iterator == NULL) {
        return NULL;
    }
    Py_XSETREF(self->iterator, iterator);
    return Py_NewRef((PyObject *)self);
}

static PyObject *
WSGIExchange_next(WSGIExchange *self)
{
    if (self->iterator == NULL) {
        /* next() before iter(): iterate as iter() would have. */
        PyObject *iterator = PyObject_GetIter(self->body);
        if (iterator == NULL) {
            return NULL;
        }
        self->iterator = iterator;
    }
    PyObject *chunk = PyIter_Next(self->iterator);
    if (chunk != NULL || PyErr_Occurred()) {
        return chunk;
    }
    if (requestcov_slot_set(&body_sent_slot, self->request, str_body_sent, Py_True) < 0) {
        return NULL;
    }
    return NULL;  /* exhausted: StopIteration */
}

/* The middleware's finish(recorder, request, environ, False).
 *
 * What comes out of it is an exception the middleware does not catch: one an
 * app's signal handler raised in the middle (SystemExit), at any bytecode. A
 * server may catch that and serve on (gunicorn's gevent worker, until it is
 * killed): the request was answered, so finish is called once more, with the
 * exception held, to queue what the first call did not (a request queued
 * already is not queued again, and one queued twice is written once); then
 * the exception goes on. Called from here, in C, no bytecode of ours runs
 * between the two calls for a signal to land on. */
static int
end_request(WSGIExchange *self)
{
    PyObject *args[4] = {self->recorder, self->request, self->environ, Py_False};
    PyObject *result = PyObject_Vectorcall(self->finish, args, 4, NULL);
    if (result == NULL) {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        result = PyObject_Vectorcall(self->finish, args, 4, NULL);
        if (result == NULL) {
            /* A second exception is dropped: the first one goes on. */
            PyErr_Clear();
        }
        Py_XDECREF(result);
        PyErr_Restore(type, value, traceback);
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static PyObject *
WSGIExchange_close(WSGIExchange *self, PyObject *Py_UNUSED(ignored))
{
    if (self->closed) {
        Py_RETURN_NONE;
    }
    self->closed = 1;
    PyObject *close;
    int failed = 0;
    if (lookup_attribute(self->body, str_close, &close) < 0) {
        failed = 1;
    } else if (close != NULL) {
        PyObject *result = PyObject_CallNoArgs(close);
        Py_DECREF(close);
        if (result == NULL) {
            failed = 1;
        } else {
            Py_DECREF(result);
        }
    }
    /* The request ends whatever the body's close() did (``finally``), and
     * that error, not one of ending, is what the server sees. */
    PyObject *type = NULL, *value = NULL, *traceback = NULL;
    if (failed) {
        PyErr_Fetch(&type, &value, &traceback);
    }
    if (end_request(self) < 0) {
        if (failed) {
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(traceback);
        }
        return NULL;
    }
    if (failed) {
        PyErr_Restore(type, value, traceback);
        return NULL;
    }
    Py_RETURN_NONE;
}

static void
WSGIExchange_finalize(WSGIExchange *self)
{
    if (self->closed || self->finish == NULL) {
        return;
    }
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    /* During interpreter shutdown the recorder has flushed already and no
     * thread can start: nothing is ended then. */
    PyObject *finalizing = PyObject_CallNoArgs(is_finalizing);
    if (finalizing == NULL) {
        PyErr_WriteUnraisable((PyObject *)self);
    } else {
        int shutting_down = PyObject_IsTrue(finalizing);
        Py_DECREF(finalizing);
        if (shutting_down == 0) {
            self->closed = 1;
            if (end_request(self) < 0) {
                PyErr_WriteUnraisable((PyObject *)self);
            }
        } else if (shutting_down < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
    }
    PyErr_Restore(type, value, traceback);
}

static int
WSGIExchange_traverse(WSGIExchange *self, visitproc visit, void *arg)
{
    Py_VISIT(self->body);
    Py_VISIT(self->iterator);
    Py_VISIT(self->request);
    Py_VISIT(self->start_response);
    Py_VISIT(self->finish);
    Py_VISIT(self->recorder);
    Py_VISIT(self->environ);
    return 0;
}

static int
WSGIExchange_clear(WSGIExchange *self)
{
    Py_CLEAR(self->body);
    Py_CLEAR(self->iterator);
    Py_CLEAR(self->request);
    Py_CLEAR(self->start_response);
    Py_CLEAR(self->finish);
    Py_CLEAR(self->recorder);
    Py_CLEAR(self->environ);
    return 0;
}

static void
WSGIExchange_dealloc(WSGIExchange *self)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return;  /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    WSGIExchange_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
make_exchange(PyTypeObject *type, PyObject *request, PyObject *start_response, PyObject *finish,
              PyObject *recorder, PyObject *environ)
{
    WSGIExchange *self = (WSGIExchange *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = (vectorcallfunc)WSGIExchange_vectorcall;
    self->body = PyTuple_New(0);
    if (self->body == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->iterator = NULL;
    self->request = Py_NewRef(request);
    self->start_response = Py_NewRef(start_response);
    self->finish = Py_NewRef(finish);
    self->recorder = Py_NewRef(recorder);
    self->environ = Py_NewRef(environ);
    self->closed = 0;
    return (PyObject *)self;
}

/* WSGIExchange(request, start_response, finish, recorder, environ) */
static PyObject *
WSGIExchange_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *request, *start_response, *finish, *recorder, *environ;
    static char *keywords[] = {"request", "start_response", "finish", "recorder", "environ", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO:WSGIExchange", keywords,
                                     &request, &start_response, &finish, &recorder, &environ)) {
        return NULL;
    }
    return make_exchange(type, request, start_response, finish, recorder, environ);
}

/* The type called as the middleware calls it, once a request: positionally,
 * with no tuple made and nothing parsed. */
static PyObject *
WSGIExchange_make(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if ((kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) && PyVectorcall_NARGS(nargsf) == 5) {
        return make_exchange((PyTypeObject *)type, args[0], args[1], args[2], args[3], args[4]);
    }
    return requestcov_call_parsed(type, (ternaryfunc)WSGIExchange_new, args, nargsf, kwnames);
}

static PyMethodDef WSGIExchange_methods[] = {
    {"close", (PyCFunction)WSGIExchange_close, METH_NOARGS,
     "Close the app's body, then end the request (once)."},
    {NULL, NULL, 0, NULL},
};

static int
WSGIExchange_set_body(WSGIExchange *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "the body cannot be deleted");
        return -1;
    }
    Py_XSETREF(self->body, Py_NewRef(value));
    Py_CLEAR(self->iterator);
    return 0;
}

static PyObject *
WSGIExchange_get_body(WSGIExchange *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->body);
}

static PyGetSetDef WSGIExchange_getset[] = {
    {"body", (getter)WSGIExchange_get_body, (setter)WSGIExchange_set_body, "What the app returned.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef WSGIExchange_members[] = {
    {"closed", T_BOOL, offsetof(WSGIExchange, closed), 0,
     "The request was ended, or is ended elsewhere (the app raised)."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject WSGIExchangeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.WSGIExchange",
    .tp_doc = "One WSGI request's start_response and response body.",
    .tp_basicsize = sizeof(WSGIExchange),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_FINALIZE | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(WSGIExchange, vectorcall),
    .tp_vectorcall = WSGIExchange_make,
    .tp_new = WSGIExchange_new,
    .tp_dealloc = (destructor)WSGIExchange_dealloc,
    .tp_finalize = (destructor)WSGIExchange_finalize,
    .tp_traverse = (traverseproc)WSGIExchange_traverse,
    .tp_clear = (inquiry)WSGIExchange_clear,
    .tp_call = PyVectorcall_Call,
    .tp_iter = (getiterfunc)WSGIExchange_iter,
    .tp_iternext = (iternextfunc)WSGIExchange_next,
    .tp_methods = WSGIExchange_methods,
    .tp_members = WSGIExchange_members,
    .tp_getset = WSGIExchange_getset,
};

int
requestcov_add_wsgi_exchange(PyObject *module)
{
    str_status = PyUnicode_InternFromString("status");
    str_body_sent = PyUnicode_InternFromString("body_sent");
    str_close = PyUnicode_InternFromString("close");
    PyObject *sys = PyImport_ImportModule("sys");
    if (sys == NULL) {
        return -1;
    }
    is_finalizing = PyObject_GetAttrString(sys, "is_finalizing");
    Py_DECREF(sys);
    if (!str_status || !str_body_sent || !str_close || !is_finalizing) {
        return -1;
    }
    return requestcov_add_type(module, &WSGIExchangeType, "WSGIExchange");
}
