/* What the compiled WSGI and ASGI calls (_wsgicall.c, _asgicall.c) share:
 * what they are given of the middleware, the test id check, the count of
 * requests begun, and handing an error of ours to the middleware's logger. Each file that includes it calls
 * requestcov_call_shared_init() once, from its module init. */

#ifndef REQUESTCOV_MIDDLEWARECALL_H
#define REQUESTCOV_MIDDLEWARECALL_H

#include <Python.h>

/* As requestcov.middleware.testid.MAX_TEST_ID_LENGTH; longer ids go the Python way. */
#define MAX_TEST_ID_LENGTH 200

static PyObject *shared_requests_begun;  /* "requests_begun" */
static PyObject *shared_app;             /* "app" */
static PyObject *shared_wants_thread_start;
static PyObject *shared_one;             /* the int 1 */

static int
requestcov_call_shared_init(void)
{
    shared_requests_begun = PyUnicode_InternFromString("requests_begun");
    shared_app = PyUnicode_InternFromString("app");
    shared_wants_thread_start = PyUnicode_InternFromString("wants_thread_start");
    shared_one = PyLong_FromLong(1);
    return !shared_requests_begun || !shared_app || !shared_wants_thread_start || !shared_one ? -1 : 0;
}

/* What a compiled call needs of its middleware, given by its
 * ``_set_fast_path``; until then (``ready`` 0) every call is the Python one. */
typedef struct {
    char ready;                /* the fields below are set */
    char records_everything;   /* the sampler records every request, test id or not */
    PyObject *recorder;
    PyObject *engine;
    PyObject *begin;           /* the recorder's RequestPath.begin */
    PyObject *make_part;       /* WSGI: the exchange type; ASGI: the recording send's type */
    PyObject *end;             /* WSGI: finish(recorder, request, environ, error); ASGI: finish_failed(error) */
    PyObject *id_header;       /* the test id and test set headers: WSGI environ keys (str), */
    PyObject *test_set_header; /* ASGI lowercase names (bytes) */
    PyObject *python_call;     /* the middleware's _call_python */
    PyObject *begin_failed;    /* begin_failed(error): logs that a request could not be begun */
} CallSetup;

/* _set_fast_path(recorder, engine, begin, make_part, end, id_header,
 * test_set_header, python_call, begin_failed, records_everything), the
 * headers of ``header_type``: 0, or -1 with a TypeError naming ``signature``. */
static int
requestcov_setup_fast_path(CallSetup *setup, PyObject *const *args, Py_ssize_t nargs, PyTypeObject *header_type,
                           const char *signature)
{
    if (nargs != 10 || Py_TYPE(args[5]) != header_type || Py_TYPE(args[6]) != header_type
        || !PyBool_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError, signature);
        return -1;
    }
    setup->records_everything = args[9] == Py_True;
    PyObject **fields[9] = {&setup->recorder, &setup->engine, &setup->begin, &setup->make_part, &setup->end,
                            &setup->id_header, &setup->test_set_header, &setup->python_call, &setup->begin_failed};
    for (int index = 0; index < 9; index++) {
        Py_XSETREF(*fields[index], Py_NewRef(args[index]));
    }
    setup->ready = 1;
    return 0;
}

/* _set_python_path(python_call): every call the Python way. */
static void
requestcov_setup_python_path(CallSetup *setup, PyObject *python_call)
{
    Py_XSETREF(setup->python_call, Py_NewRef(python_call));
    setup->ready = 0;
}

static int
requestcov_setup_traverse(CallSetup *setup, visitproc visit, void *arg)
{
    Py_VISIT(setup->recorder);
    Py_VISIT(setup->engine);
    Py_VISIT(setup->begin);
    Py_VISIT(setup->make_part);
    Py_VISIT(setup->end);
    Py_VISIT(setup->python_call);
    Py_VISIT(setup->begin_failed);
    return 0;
}

static void
requestcov_setup_clear(CallSetup *setup)
{
    setup->ready = 0;
    Py_CLEAR(setup->recorder);
    Py_CLEAR(setup->engine);
    Py_CLEAR(setup->begin);
    Py_CLEAR(setup->make_part);
    Py_CLEAR(setup->end);
    Py_CLEAR(setup->id_header);
    Py_CLEAR(setup->test_set_header);
    Py_CLEAR(setup->python_call);
    Py_CLEAR(setup->begin_failed);
}

/* Whether a header value is an id as the middleware keeps it, as it is:
 * printable ASCII, no space at either end, not too long (clean_test_id
 * would change nothing). An empty value is not asked about. */
static inline int
requestcov_is_kept_id(const unsigned char *characters, Py_ssize_t length)
{
    if (length > MAX_TEST_ID_LENGTH || characters[0] == ' ' || characters[length - 1] == ' ') {
        return 0;
    }
    for (Py_ssize_t index = 0; index < length; index++) {
        if (characters[index] < 0x20 || characters[index] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* recorder.requests_begun += 1, as Recorder.begin counts. */
static int
requestcov_count_request(PyObject *recorder)
{
    PyObject *begun = PyObject_GetAttr(recorder, shared_requests_begun);
    if (begun == NULL) {
        return -1;
    }
    PyObject *next = PyNumber_Add(begun, shared_one);
    Py_DECREF(begun);
    if (next == NULL) {
        return -1;
    }
    int failed = PyObject_SetAttr(recorder, shared_requests_begun, next);
    Py_DECREF(next);
    return failed;
}

/* The exception being raised handed to ``logger(error)`` (the middleware's
 * log-once of a failure of ours), its traceback kept, and cleared: 0, or -1
 * with the logger's own error. */
static int
requestcov_log_error(PyObject *logger)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    PyObject *logged = value == NULL ? NULL : PyObject_CallOneArg(logger, value);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    if (logged == NULL) {
        return -1;
    }
    Py_DECREF(logged);
    return 0;
}

/* Whether the engine wants to see a request's thread before it begins
 * (the Python way then): 1, 0, or -1 with an error. */
static int
requestcov_engine_waits(CallSetup *setup)
{
    PyObject *wants = PyObject_GetAttr(setup->engine, shared_wants_thread_start);
    if (wants == NULL) {
        return -1;
    }
    int wanted = PyObject_IsTrue(wants);
    Py_DECREF(wants);
    return wanted;
}

/* middleware.app(*args): the app read at each call, as in Python. */
static PyObject *
requestcov_call_app(PyObject *middleware, PyObject *const *args, size_t nargs)
{
    PyObject *app = PyObject_GetAttr(middleware, shared_app);
    if (app == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(app, args, nargs, NULL);
    Py_DECREF(app);
    return result;
}

/* The request begun as Recorder.begin begins it: counted, then
 * ``RequestPath.begin(test_id, test_set, method, path)``, the arguments
 * held across it (what it may run, a finaliser or the engine's restart,
 * could change the mapping they are borrowed from). A new reference;
 * ``Py_None`` when beginning it raised an Exception, logged once, as
 * ``_begin`` has it (the app then runs unrecorded); NULL on any other error. */
static PyObject *
requestcov_begin_request(CallSetup *setup, PyObject *test_id, PyObject *test_set, PyObject *method,
                         PyObject *path)
{
    PyObject *args[4] = {test_id, test_set, method, path};
    for (int index = 0; index < 4; index++) {
        Py_INCREF(args[index]);
    }
    PyObject *request = NULL;
    if (requestcov_count_request(setup->recorder) == 0) {
        request = PyObject_Vectorcall(setup->begin, args, 4, NULL);
    }
    for (int index = 0; index < 4; index++) {
        Py_DECREF(args[index]);
    }
    if (request == NULL && PyErr_ExceptionMatches(PyExc_Exception) && requestcov_log_error(setup->begin_failed) == 0) {
        request = Py_NewRef(Py_None);
    }
    return request;
}

#endif
