/* The compiled ASGI send: the ``send`` an app gets for one HTTP request.
 *
 * It does what ``requestcov.middleware.asgi._RecordingSend`` does in Python
 * (that class stays the reference and the fallback, REQUESTCOV_CORE=python):
 * called with a message, it notes the status of ``http.response.start`` and,
 * at the last ``http.response.body`` (``more_body`` false), that the whole
 * body is the server's to send; then it returns the server's ``send(message)``
 * (an awaitable) as it is. Every response has at least two messages: as a
 * Python object and method they cost each request its share of frames.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

#include "../engine/_compat.h"
#include "_slots.h"

typedef struct {
    PyObject_HEAD
    PyObject *request;
    PyObject *send;  /* the server's */
    vectorcallfunc vectorcall;
} RecordingSend;

static PyObject *str_type, *str_status, *str_more_body, *str_body_sent, *str_get;
static PyObject *str_response_start, *str_response_body;
/* The request's status and body_sent, written at their offsets. */
static SlotCache status_slot, body_sent_slot;

/* message.get(key), a new reference or NULL with no error for "not there";
 * NULL with an error when the message's get failed. */
static PyObject *
message_get(PyObject *message, PyObject *key)
{
    if (PyDict_CheckExact(message)) {
        PyObject *value = PyDict_GetItemWithError(message, key);
        return value == NULL ? NULL : Py_NewRef(value);
    }
    PyObject *value = PyObject_CallMethodOneArg(message, str_get, key);
    if (value == Py_None) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

/* Note what the message says of the response. Errors of ours never reach
 * the app: a status that is no number is left unnoted, as in Python. */
static int
note(RecordingSend *self, PyObject *message)
{
    PyObject *kind = message_get(message, str_type);
    if (kind == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    int is_start = PyUnicode_Check(kind) && PyUnicode_Compare(kind, str_response_start) == 0;
    int is_body = !is_start && PyUnicode_Check(kind) && PyUnicode_Compare(kind, str_response_body) == 0;
    Py_DECREF(kind);
    if (is_start) {
        PyObject *status = message_get(message, str_status);
        if (status == NULL) {
            if (PyErr_Occurred()) {
                PyErr_Clear();
            }
            return 0;
        }
        PyObject *code = PyNumber_Long(status);
        Py_DECREF(status);
        if (code == NULL) {
            if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                return 0;
            }
            return -1;
        }
        int failed = requestcov_slot_set(&status_slot, self->request, str_status, code);
        Py_DECREF(code);
        return failed;
    }
    if (is_body) {
        PyObject *more = message_get(message, str_more_body);
        if (more == NULL && PyErr_Occurred()) {
            return -1;
        }
        int more_body = more == NULL ? 0 : PyObject_IsTrue(more);
        Py_XDECREF(more);
        if (more_body < 0) {
            return -1;
        }
        if (!more_body) {
            /* Marked before the await, which may not resume: a stop from
             * here on records the request even if the app call never returns. */
            return requestcov_slot_set(&body_sent_slot, self->request, str_body_sent, Py_True);
        }
    }
    return 0;
}

static PyObject *
RecordingSend_vectorcall(RecordingSend *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "send(message) takes one message");
        return NULL;
    }
    if (note(self, args[0]) < 0) {
        return NULL;
    }
    return PyObject_Vectorcall(self->send, args, 1, NULL);
}

static int
RecordingSend_traverse(RecordingSend *self, visitproc visit, void *arg)
{
    Py_VISIT(self->request);
    Py_VISIT(self->send);
    return 0;
}

static int
RecordingSend_clear(RecordingSend *self)
{
    Py_CLEAR(self->request);
    Py_CLEAR(self->send);
    return 0;
}

static void
RecordingSend_dealloc(RecordingSend *self)
{
    PyObject_GC_UnTrack(self);
    RecordingSend_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
make_send(PyTypeObject *type, PyObject *request, PyObject *send)
{
    RecordingSend *self = (RecordingSend *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->request = Py_NewRef(request);
    self->send = Py_NewRef(send);
    self->vectorcall = (vectorcallfunc)RecordingSend_vectorcall;
    return (PyObject *)self;
}

/* RecordingSend(request, send) */
static PyObject *
RecordingSend_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *request, *send;
    static char *keywords[] = {"request", "send", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:RecordingSend", keywords, &request, &send)) {
        return NULL;
    }
    return make_send(type, request, send);
}

/* The type called as the middleware calls it, once a request: positionally,
 * with no tuple made and nothing parsed (anything else the general way). */
static PyObject *
RecordingSend_make(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if ((kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) && PyVectorcall_NARGS(nargsf) == 2) {
        return make_send((PyTypeObject *)type, args[0], args[1]);
    }
    return requestcov_call_parsed(type, (ternaryfunc)RecordingSend_new, args, nargsf, kwnames);
}

static PyTypeObject RecordingSendType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.RecordingSend",
    .tp_doc = "One ASGI request's send: notes the status and the end of the body.",
    .tp_basicsize = sizeof(RecordingSend),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(RecordingSend, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall = RecordingSend_make,
    .tp_new = RecordingSend_new,
    .tp_dealloc = (destructor)RecordingSend_dealloc,
    .tp_traverse = (traverseproc)RecordingSend_traverse,
    .tp_clear = (inquiry)RecordingSend_clear,
};

int
requestcov_add_asgi_send(PyObject *module)
{
    str_type = PyUnicode_InternFromString("type");
    str_status = PyUnicode_InternFromString("status");
    str_more_body = PyUnicode_InternFromString("more_body");
    str_body_sent = PyUnicode_InternFromString("body_sent");
    str_get = PyUnicode_InternFromString("get");
    str_response_start = PyUnicode_InternFromString("http.response.start");
    str_response_body = PyUnicode_InternFromString("http.response.body");
    if (!str_type || !str_status || !str_more_body || !str_body_sent || !str_get || !str_response_start
        || !str_response_body) {
        return -1;
    }
    return requestcov_add_type(module, &RecordingSendType, "RecordingSend");
}
