/* The compiled core of requestcov's engines: the code that runs on every
 * recorded line.
 *
 * A Python callback costs a frame, a few calls and a dozen bytecodes per line
 * event; in C the same work is a handful of dict and set operations. Both
 * classes do exactly what their pure-Python twins do (``_make_line_callback``
 * in sysmon.py, ``_local_tracer`` in settrace.py), which remain the
 * reference and the fallback when this module was not built or
 * REQUESTCOV_CORE=python asks for them.
 *
 * Lines of code that runs at import (module bodies, and the class bodies in
 * them: see engine/scope.py) go to the start-up collector whatever request is
 * current. Functions, the hot path, pay one bit test for it (CO_OPTIMIZED);
 * the decision for a module or class body is asked of Python once per code
 * object and cached in a dict shared with the pure-Python twin's engine.
 *
 * Neither ever lets an error reach the app: it is handed once to a Python
 * function that logs it, then cleared.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <frameobject.h>
#include <structmember.h>

#include "_compat.h"

static PyObject *str_lines;       /* "lines" */
static PyObject *str_in_flight;   /* "in_flight" */
static PyObject *str_generation;  /* "generation" */
static PyObject *str_disabled;    /* "disabled" */
static PyObject *str_f_trace_lines;  /* "f_trace_lines" */

/* Hand the pending exception to ``report`` the first time, then clear it. */
static void
report_once(PyObject *report, int *reported)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (!*reported) {
        *reported = 1;
        PyErr_NormalizeException(&type, &value, &traceback);
        PyObject *result = PyObject_CallFunctionObjArgs(report, value ? value : Py_None, NULL);
        Py_XDECREF(result);
        PyErr_Clear();
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
}

/* Add ``line`` to the set of ``filename`` in ``collector.lines``.
 * Returns 1 when it was new, 0 when it was there already, -1 on error. */
static int
record_line(PyObject *collector, PyObject *filename, PyObject *line)
{
    PyObject *lines = PyObject_GetAttr(collector, str_lines);
    if (lines == NULL) {
        return -1;
    }
    int answer = -1;
    PyObject *seen = PyDict_GetItemWithError(lines, filename);  /* borrowed */
    if (seen == NULL) {
        if (PyErr_Occurred()) {
            goto done;
        }
        PyObject *fresh = PySet_New(NULL);
        if (fresh == NULL) {
            goto done;
        }
        if (PySet_Add(fresh, line) == 0 && PyDict_SetItem(lines, filename, fresh) == 0) {
            answer = 1;
        }
        Py_DECREF(fresh);
        goto done;
    }
    answer = PySet_Contains(seen, line);
    if (answer == 0) {
        answer = PySet_Add(seen, line) == 0 ? 1 : -1;
    }
    else if (answer == 1) {
        answer = 0;
    }
done:
    Py_DECREF(lines);
    return answer;
}

/* 1 when ``collector`` has recorded ``line`` of ``filename``, 0 if not, -1 on error. */
static int
has_line(PyObject *collector, PyObject *filename, PyObject *line)
{
    PyObject *lines = PyObject_GetAttr(collector, str_lines);
    if (lines == NULL) {
        return -1;
    }
    int answer = 0;
    PyObject *seen = PyDict_GetItemWithError(lines, filename);
    if (seen == NULL) {
        answer = PyErr_Occurred() ? -1 : 0;
    }
    else {
        answer = PySet_Contains(seen, line);
    }
    Py_DECREF(lines);
    return answer;
}


/* Whether ``code``, a module or class body, runs at import: 1, 0, or -1 on
 * error. Asked once per code object of ``decide`` (engine/scope.py's
 * runs_at_import, given the frame when there is one), then read from
 * ``scopes``: {id(code): (code, answer)}, the code held so its id is never
 * reused while the answer is kept. */
static int
runs_at_import(PyObject *scopes, PyObject *decide, PyObject *code, PyObject *frame)
{
    PyObject *key = PyLong_FromVoidPtr(code);  /* id(code) */
    if (key == NULL) {
        return -1;
    }
    int answer = -1;
    PyObject *known = PyDict_GetItemWithError(scopes, key);  /* borrowed */
    if (known != NULL) {
        if (PyTuple_Check(known) && PyTuple_GET_SIZE(known) == 2 && PyTuple_GET_ITEM(known, 0) == code) {
            answer = PyObject_IsTrue(PyTuple_GET_ITEM(known, 1));
        }
        else {
            PyErr_SetString(PyExc_TypeError, "a scope entry is not (code, answer)");
        }
        goto done;
    }
    if (PyErr_Occurred()) {
        goto done;
    }
    PyObject *asked = frame == NULL ? PyObject_CallOneArg(decide, code)
                                    : PyObject_CallFunctionObjArgs(decide, code, frame, NULL);
    if (asked == NULL) {
        goto done;
    }
    int truth = PyObject_IsTrue(asked);
    Py_DECREF(asked);
    if (truth < 0) {
        goto done;
    }
    PyObject *entry = PyTuple_Pack(2, code, truth ? Py_True : Py_False);
    if (entry == NULL) {
        goto done;
    }
    if (PyDict_SetItem(scopes, key, entry) == 0) {
        answer = truth;
    }
    Py_DECREF(entry);
done:
    Py_DECREF(key);
    return answer;
}


/* ---- LineCallback: the sys.monitoring LINE callback (Python 3.12+) ---- */

typedef struct {
    PyObject_HEAD
    PyObject *context_var;  /* ContextVar[Collector]: the current request's collector */
    PyObject *tracking;     /* requestcov.context.tracking */
    PyObject *disable;      /* sys.monitoring.DISABLE */
    PyObject *report;       /* called once with the first error */
    PyObject *startup;      /* the start-up collector: lines of code run at import */
    PyObject *scopes;       /* dict: id(code) -> (code, runs at import), see runs_at_import */
    PyObject *decide;       /* runs_at_import(code) of engine/scope.py */
    int may_disable;
    int reported;
    vectorcallfunc vectorcall;
} LineCallback;

/* The second event at this line of this file in this request: DISABLE when
 * every other request in flight has recorded the line too. The order of the
 * reads is that of the Python callback, whose comments explain it: the
 * generation first, then the requests in flight, the code noted among the
 * disabled ones, and the generation compared again last of all, with no
 * allocation between that comparison and the return. */
static PyObject *
decide_disable(LineCallback *self, PyObject *collector, PyObject *code, PyObject *filename, PyObject *line)
{
    PyObject *generation = PyObject_GetAttr(self->tracking, str_generation);
    if (generation == NULL) {
        return NULL;
    }
    PyObject *in_flight = PyObject_GetAttr(self->tracking, str_in_flight);
    if (in_flight == NULL) {
        Py_DECREF(generation);
        return NULL;
    }
    PyObject *answer = NULL;
    if (!PyTuple_Check(in_flight)) {
        PyErr_SetString(PyExc_TypeError, "tracking.in_flight is not a tuple");
        goto done;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(in_flight);
    for (Py_ssize_t index = 0; index < count; index++) {
        PyObject *other = PyTuple_GET_ITEM(in_flight, index);
        if (other == collector) {
            continue;
        }
        int seen = has_line(other, filename, line);
        if (seen < 0) {
            goto done;
        }
        if (seen == 0) {
            answer = Py_NewRef(Py_None);
            goto done;
        }
    }
    PyObject *disabled = PyObject_GetAttr(self->tracking, str_disabled);
    if (disabled == NULL) {
        goto done;
    }
    PyObject *key = PyLong_FromVoidPtr(code);  /* id(code) */
    int noted = key == NULL ? -1 : PyDict_SetItem(disabled, key, code);
    Py_XDECREF(key);
    Py_DECREF(disabled);
    if (noted < 0) {
        goto done;
    }
    PyObject *now = PyObject_GetAttr(self->tracking, str_generation);
    if (now == NULL) {
        goto done;
    }
    int same = PyObject_RichCompareBool(generation, now, Py_EQ);
    Py_DECREF(now);
    if (same < 0) {
        goto done;
    }
    answer = Py_NewRef(same ? self->disable : Py_None);
done:
    Py_DECREF(in_flight);
    Py_DECREF(generation);
    return answer;
}

static PyObject *
LineCallback_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    LineCallback *self = (LineCallback *)callable;
    if (PyVectorcall_NARGS(nargsf) != 2 || kwnames != NULL || !PyCode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "LineCallback takes (code, line)");
        return NULL;
    }
    PyObject *code = args[0], *line = args[1];
    PyObject *filename = ((PyCodeObject *)code)->co_filename;
    PyObject *collector = NULL;
    if (!(((PyCodeObject *)code)->co_flags & CO_OPTIMIZED)) {
        /* A module or class body. Run at import, its lines go to start-up
         * alone, so once recorded no location of it need report again: it is
         * disabled at once and never noted for enabling again. */
        int at_import = runs_at_import(self->scopes, self->decide, code, NULL);
        if (at_import < 0) {
            goto error;
        }
        if (at_import) {
            if (record_line(self->startup, filename, line) < 0) {
                goto error;
            }
            return Py_NewRef(self->may_disable ? self->disable : Py_None);
        }
    }
    if (PyContextVar_Get(self->context_var, NULL, &collector) < 0 || collector == NULL) {
        goto error;
    }
    int fresh = record_line(collector, filename, line);
    if (fresh < 0) {
        goto error;
    }
    if (fresh || !self->may_disable) {
        Py_DECREF(collector);
        Py_RETURN_NONE;
    }
    /* A location that runs once per request stays enabled (see sysmon.py):
     * only the second event of a line within one request gets this far. */
    PyObject *answer = decide_disable(self, collector, code, filename, line);
    Py_DECREF(collector);
    if (answer == NULL) {
        goto error;
    }
    return answer;
error:
    Py_XDECREF(collector);
    report_once(self->report, &self->reported);
    Py_RETURN_NONE;
}

static PyObject *
LineCallback_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"context_var", "tracking", "disable", "may_disable", "report",
                               "startup", "scopes", "decide", NULL};
    PyObject *context_var, *tracking, *disable, *report, *startup, *scopes, *decide;
    int may_disable;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOpOOO!O:LineCallback", keywords,
                                     &context_var, &tracking, &disable, &may_disable, &report,
                                     &startup, &PyDict_Type, &scopes, &decide)) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(context_var)) {
        PyErr_SetString(PyExc_TypeError, "context_var must be a ContextVar");
        return NULL;
    }
    LineCallback *self = (LineCallback *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->context_var = Py_NewRef(context_var);
    self->tracking = Py_NewRef(tracking);
    self->disable = Py_NewRef(disable);
    self->report = Py_NewRef(report);
    self->startup = Py_NewRef(startup);
    self->scopes = Py_NewRef(scopes);
    self->decide = Py_NewRef(decide);
    self->may_disable = may_disable;
    self->reported = 0;
    self->vectorcall = LineCallback_vectorcall;
    return (PyObject *)self;
}

static void
LineCallback_dealloc(LineCallback *self)
{
    Py_XDECREF(self->context_var);
    Py_XDECREF(self->tracking);
    Py_XDECREF(self->disable);
    Py_XDECREF(self->report);
    Py_XDECREF(self->startup);
    Py_XDECREF(self->scopes);
    Py_XDECREF(self->decide);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject LineCallbackType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.LineCallback",
    .tp_doc = "The sys.monitoring LINE callback: LineCallback(context_var, tracking, disable, may_disable, report, "
              "startup, scopes, decide).",
    .tp_basicsize = sizeof(LineCallback),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = LineCallback_new,
    .tp_dealloc = (destructor)LineCallback_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(LineCallback, vectorcall),
};


/* ---- LineTracer: a C trace function (Python 3.9-3.11) ---- */

typedef struct {
    PyObject_HEAD
    PyObject *decisions;    /* dict: co_filename -> True (measured) or False */
    PyObject *decide;       /* callable(co_filename) -> bool, asked once per file name */
    PyObject *context_var;  /* ContextVar[Collector] */
    PyObject *unrecorded;   /* the collector of requests sampling leaves out */
    PyObject *report;
    PyObject *startup;      /* the start-up collector: lines of code run at import */
    PyObject *scopes;       /* dict: id(code) -> (code, runs at import), see runs_at_import */
    PyObject *scope_of;     /* runs_at_import(code, frame) of engine/scope.py */
    int reported;
    int retired;            /* set by retire(): each thread removes the tracer at its next event */
} LineTracer;

/* Whether the code's file is measured: 1, 0, or -1 on error. */
static int
is_measured(LineTracer *self, PyObject *filename)
{
    PyObject *decision = PyDict_GetItemWithError(self->decisions, filename);
    if (decision == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        PyObject *asked = PyObject_CallOneArg(self->decide, filename);
        if (asked == NULL) {
            return -1;
        }
        int truth = PyObject_IsTrue(asked);
        Py_DECREF(asked);
        if (truth < 0 || PyDict_SetItem(self->decisions, filename, truth ? Py_True : Py_False) < 0) {
            return -1;
        }
        return truth;
    }
    return decision == Py_True;
}

/* Ask the interpreter for no line events from this frame: it then skips
 * the call into the trace function for each line of code we do not measure. */
static int
stop_line_events(PyFrameObject *frame)
{
#if PY_VERSION_HEX < 0x030B0000
    frame->f_trace_lines = 0;
    return 0;
#else
    /* The frame's fields are private from 3.11 on. */
    return PyObject_SetAttr((PyObject *)frame, str_f_trace_lines, Py_False);
#endif
}

/* Installed with PyEval_SetTrace: every frame's call and line events come
 * here. Lines of measured files go into the current request's collector; a
 * frame of any other file is told, at its call event, to send no line
 * events at all. */
static int
LineTracer_trace(PyObject *object, PyFrameObject *frame, int what, PyObject *arg)
{
    LineTracer *self = (LineTracer *)object;
    if (self->retired) {
        /* The probes engine's bridge over a __main__ script's top-level
         * lines is done: this thread stops tracing, from its own stack. */
        PyEval_SetTrace(NULL, NULL);
        return 0;
    }
    if (what != PyTrace_LINE && what != PyTrace_CALL) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyObject *collector = NULL, *line = NULL;
    int measured = is_measured(self, code->co_filename);
    if (measured <= 0 || what == PyTrace_CALL) {
        Py_DECREF(code);
        if (measured == 0 && what == PyTrace_CALL && stop_line_events(frame) < 0) {
            measured = -1;
        }
        if (measured < 0) {
            report_once(self->report, &self->reported);
        }
        return 0;
    }
    if (!(code->co_flags & CO_OPTIMIZED)) {
        /* A module or class body: run at import, it records into start-up. */
        int at_import = runs_at_import(self->scopes, self->scope_of, (PyObject *)code, (PyObject *)frame);
        if (at_import < 0) {
            goto error;
        }
        if (at_import) {
            collector = Py_NewRef(self->startup);
        }
    }
    if (collector == NULL && (PyContextVar_Get(self->context_var, NULL, &collector) < 0 || collector == NULL)) {
        goto error;
    }
    if (collector != self->unrecorded) {
        line = PyLong_FromLong(PyFrame_GetLineNumber(frame));
        if (line == NULL || record_line(collector, code->co_filename, line) < 0) {
            goto error;
        }
    }
    Py_XDECREF(line);
    Py_DECREF(collector);
    Py_DECREF(code);
    return 0;
error:
    Py_XDECREF(line);
    Py_XDECREF(collector);
    Py_DECREF(code);
    report_once(self->report, &self->reported);
    return 0;
}

static PyObject *
LineTracer_install(LineTracer *self, PyObject *unused)
{
    PyEval_SetTrace(LineTracer_trace, (PyObject *)self);
    Py_RETURN_NONE;
}

static PyObject *
LineTracer_retire(LineTracer *self, PyObject *unused)
{
    self->retired = 1;
    Py_RETURN_NONE;
}

/* Called as a Python trace function: someone passed sys.gettrace() back to
 * sys.settrace(). Do what the C function does and stay the local tracer. */
static PyObject *
LineTracer_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *frame, *event, *arg;
    if (!PyArg_ParseTuple(args, "O!UO:LineTracer", &PyFrame_Type, &frame, &event, &arg)) {
        return NULL;
    }
    if (PyUnicode_CompareWithASCIIString(event, "line") == 0) {
        LineTracer_trace(self, (PyFrameObject *)frame, PyTrace_LINE, arg);
    }
    return Py_NewRef(self);
}

static PyObject *
LineTracer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"decide", "context_var", "unrecorded", "report", "startup", "scopes", "scope_of", NULL};
    PyObject *decide, *context_var, *unrecorded, *report, *startup, *scopes, *scope_of;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOO!O:LineTracer", keywords,
                                     &decide, &context_var, &unrecorded, &report,
                                     &startup, &PyDict_Type, &scopes, &scope_of)) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(context_var)) {
        PyErr_SetString(PyExc_TypeError, "context_var must be a ContextVar");
        return NULL;
    }
    LineTracer *self = (LineTracer *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->decisions = PyDict_New();
    if (self->decisions == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->decide = Py_NewRef(decide);
    self->context_var = Py_NewRef(context_var);
    self->unrecorded = Py_NewRef(unrecorded);
    self->report = Py_NewRef(report);
    self->startup = Py_NewRef(startup);
    self->scopes = Py_NewRef(scopes);
    self->scope_of = Py_NewRef(scope_of);
    self->reported = 0;
    self->retired = 0;
    return (PyObject *)self;
}

static void
LineTracer_dealloc(LineTracer *self)
{
    Py_XDECREF(self->decisions);
    Py_XDECREF(self->decide);
    Py_XDECREF(self->context_var);
    Py_XDECREF(self->unrecorded);
    Py_XDECREF(self->report);
    Py_XDECREF(self->startup);
    Py_XDECREF(self->scopes);
    Py_XDECREF(self->scope_of);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef LineTracer_methods[] = {
    {"install", (PyCFunction)LineTracer_install, METH_NOARGS,
     "Make this the trace function of the calling thread (PyEval_SetTrace)."},
    {"retire", (PyCFunction)LineTracer_retire, METH_NOARGS,
     "Record nothing more: each thread tracing with it removes it at its next event."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LineTracerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.LineTracer",
    .tp_doc = "A C trace function: LineTracer(decide, context_var, unrecorded, report, startup, scopes, scope_of).",
    .tp_basicsize = sizeof(LineTracer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = LineTracer_new,
    .tp_dealloc = (destructor)LineTracer_dealloc,
    .tp_call = LineTracer_call,
    .tp_methods = LineTracer_methods,
};


/* ---- Probe: a call put into the bytecode of measured code (Python 3.9-3.11) ----
 *
 * engine/rewrite.py puts a call of a Probe before each instruction where a
 * trace function would get a line event; the probe adds its line to the
 * current request's collector. The hot path is the probe that fired for
 * this request already: a ContextVar read (cached per thread by CPython), the
 * collector's ``lines`` read through its slot, one pointer comparison with
 * the ``lines`` dict the probe last added to. The pure-Python twin is
 * engine/probes.py's PythonProbeHub. */

typedef struct {
    PyObject_HEAD
    PyObject *context_var;   /* ContextVar[Collector] */
    PyObject *unrecorded;    /* the collector of requests sampling leaves out */
    PyObject *startup;       /* the start-up collector */
    PyObject *report;        /* called once with the first error */
    PyTypeObject *collector_type;  /* Collector, whose ``lines`` slot is read directly */
    Py_ssize_t lines_offset;
    int reported;
    int stopped;       /* set by stop(): every probe returns at once */
} ProbeHub;

typedef struct {
    PyObject_HEAD
    ProbeHub *hub;
    PyObject *filename;
    PyObject *line;
    PyObject *stamp;   /* the lines dict last added to, held so its address is never reused */
    int startup;       /* records into start-up: a module or class body run at import */
    vectorcallfunc vectorcall;
} Probe;

static PyObject *
Probe_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Probe *self = (Probe *)callable;
    ProbeHub *hub = self->hub;
    PyObject *collector, *lines;
    int owned_lines = 0;
    if (hub->stopped) {
        Py_RETURN_NONE;
    }
    if (self->startup) {
        collector = Py_NewRef(hub->startup);
    }
    else if (PyContextVar_Get(hub->context_var, NULL, &collector) < 0 || collector == NULL) {
        goto error_no_collector;
    }
    if (Py_TYPE(collector) == hub->collector_type) {
        lines = *(PyObject **)((char *)collector + hub->lines_offset);
        if (lines == NULL) {
            PyErr_SetString(PyExc_AttributeError, "the collector has no lines");
            goto error;
        }
    }
    else {
        lines = PyObject_GetAttr(collector, str_lines);
        if (lines == NULL) {
            goto error;
        }
        owned_lines = 1;
    }
    if (lines == self->stamp || collector == hub->unrecorded) {
        goto done;
    }
    if (!PyDict_Check(lines)) {
        PyErr_SetString(PyExc_TypeError, "collector.lines is not a dict");
        goto error;
    }
    PyObject *seen = PyDict_GetItemWithError(lines, self->filename);  /* borrowed */
    if (seen == NULL) {
        if (PyErr_Occurred()) {
            goto error;
        }
        PyObject *fresh = PySet_New(NULL);
        if (fresh == NULL) {
            goto error;
        }
        if (PySet_Add(fresh, self->line) < 0 || PyDict_SetItem(lines, self->filename, fresh) < 0) {
            Py_DECREF(fresh);
            goto error;
        }
        Py_DECREF(fresh);
    }
    else if (PySet_Add(seen, self->line) < 0) {
        goto error;
    }
    Py_XSETREF(self->stamp, Py_NewRef(lines));
done:
    if (owned_lines) {
        Py_DECREF(lines);
    }
    Py_DECREF(collector);
    Py_RETURN_NONE;
error:
    if (owned_lines) {
        Py_DECREF(lines);
    }
    Py_DECREF(collector);
error_no_collector:
    report_once(hub->report, &hub->reported);
    Py_RETURN_NONE;
}

static PyObject *
Probe_repr(Probe *self)
{
    return PyUnicode_FromFormat("<requestcov probe %U:%S>", self->filename, self->line);
}

static void
Probe_dealloc(Probe *self)
{
    Py_XDECREF(self->hub);
    Py_XDECREF(self->filename);
    Py_XDECREF(self->line);
    Py_XDECREF(self->stamp);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A probed code object pickled (cloudpickle and dill pickle code by value)
 * loses its probes' state: each becomes ``int``, which the probe's call and
 * POP_TOP run as a no-op wherever it is unpickled. */
static PyObject *
Probe_reduce(Probe *self, PyObject *unused)
{
    return Py_BuildValue("(O(i))", (PyObject *)&PyType_Type, 0);  /* type(0): int */
}

static PyMethodDef Probe_methods[] = {
    {"__reduce__", (PyCFunction)Probe_reduce, METH_NOARGS, "Pickled, a probe becomes int: a no-op call."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ProbeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.Probe",
    .tp_doc = "A line probe; made by ProbeHub.probe(filename, line, startup).",
    .tp_basicsize = sizeof(Probe),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_dealloc = (destructor)Probe_dealloc,
    .tp_repr = (reprfunc)Probe_repr,
    .tp_methods = Probe_methods,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Probe, vectorcall),
};

static PyObject *
ProbeHub_probe(ProbeHub *self, PyObject *args)
{
    PyObject *filename, *line;
    int startup;
    if (!PyArg_ParseTuple(args, "UO!p:probe", &filename, &PyLong_Type, &line, &startup)) {
        return NULL;
    }
    Probe *probe = PyObject_New(Probe, &ProbeType);
    if (probe == NULL) {
        return NULL;
    }
    probe->hub = (ProbeHub *)Py_NewRef((PyObject *)self);
    probe->filename = Py_NewRef(filename);
    probe->line = Py_NewRef(line);
    probe->stamp = NULL;
    probe->startup = startup;
    probe->vectorcall = Probe_vectorcall;
    return (PyObject *)probe;
}

static PyObject *
ProbeHub_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"context_var", "unrecorded", "startup", "report", "lines_slot", NULL};
    PyObject *context_var, *unrecorded, *startup, *report, *lines_slot;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO:ProbeHub", keywords,
                                     &context_var, &unrecorded, &startup, &report, &lines_slot)) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(context_var)) {
        PyErr_SetString(PyExc_TypeError, "context_var must be a ContextVar");
        return NULL;
    }
    if (Py_TYPE(lines_slot) != &PyMemberDescr_Type
        || ((PyMemberDescrObject *)lines_slot)->d_member->type != T_OBJECT_EX) {
        PyErr_SetString(PyExc_TypeError, "lines_slot must be the member descriptor Collector.lines");
        return NULL;
    }
    ProbeHub *self = (ProbeHub *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->context_var = Py_NewRef(context_var);
    self->unrecorded = Py_NewRef(unrecorded);
    self->startup = Py_NewRef(startup);
    self->report = Py_NewRef(report);
    self->collector_type = (PyTypeObject *)Py_NewRef((PyObject *)PyDescr_TYPE(lines_slot));
    self->lines_offset = ((PyMemberDescrObject *)lines_slot)->d_member->offset;
    self->reported = 0;
    self->stopped = 0;
    return (PyObject *)self;
}

static PyObject *
ProbeHub_stop(ProbeHub *self, PyObject *unused)
{
    self->stopped = 1;
    Py_RETURN_NONE;
}

static void
ProbeHub_dealloc(ProbeHub *self)
{
    Py_XDECREF(self->context_var);
    Py_XDECREF(self->unrecorded);
    Py_XDECREF(self->startup);
    Py_XDECREF(self->report);
    Py_XDECREF((PyObject *)self->collector_type);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef ProbeHub_methods[] = {
    {"probe", (PyCFunction)ProbeHub_probe, METH_VARARGS,
     "probe(filename, line, startup): a new Probe recording that line of that file."},
    {"stop", (PyCFunction)ProbeHub_stop, METH_NOARGS,
     "stop(): from now on every probe of this hub returns at once, recording nothing."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ProbeHubType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.ProbeHub",
    .tp_doc = "What every probe shares: ProbeHub(context_var, unrecorded, startup, report, lines_slot).",
    .tp_basicsize = sizeof(ProbeHub),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = ProbeHub_new,
    .tp_dealloc = (destructor)ProbeHub_dealloc,
    .tp_methods = ProbeHub_methods,
};


/* ---- What the probes engine needs for code it did not import ----
 *
 * The ``__main__`` script and code an app runs with exec() never pass the
 * import hook: the interpreter compiles them and runs them at once. The
 * audit event "exec" names each such code object just before it runs; the
 * engine then puts the probed copies of the functions and classes nested in
 * it into its constants, where MAKE_FUNCTION will find them. */

static int
exec_audit_hook(const char *event, PyObject *args, void *callback)
{
    if (strcmp(event, "exec") != 0 || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 1
        || !PyCode_Check(PyTuple_GET_ITEM(args, 0))) {
        return 0;
    }
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyObject *result = PyObject_CallOneArg((PyObject *)callback, PyTuple_GET_ITEM(args, 0));
    Py_XDECREF(result);
    PyErr_Clear();  /* never fails the app's exec: the callback reports its own errors */
    PyErr_Restore(type, value, traceback);
    return 0;
}

static PyObject *
speedups_add_exec_hook(PyObject *module, PyObject *callback)
{
    /* The hook holds the callback for the life of the process: audit hooks
     * cannot be removed. The callback stays quiet once its engine stopped. */
    if (PySys_AddAuditHook(exec_audit_hook, Py_NewRef(callback)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
speedups_set_const(PyObject *module, PyObject *args)
{
    PyObject *code, *value;
    Py_ssize_t index;
    if (!PyArg_ParseTuple(args, "O!nO!:set_const", &PyCode_Type, &code, &index, &PyCode_Type, &value)) {
        return NULL;
    }
    PyObject *consts = ((PyCodeObject *)code)->co_consts;
    if (!PyTuple_Check(consts) || index < 0 || index >= PyTuple_GET_SIZE(consts)
        || !PyCode_Check(PyTuple_GET_ITEM(consts, index))) {
        PyErr_SetString(PyExc_ValueError, "set_const replaces a code object among the constants only");
        return NULL;
    }
    PyObject *old = PyTuple_GET_ITEM(consts, index);
    PyTuple_SET_ITEM(consts, index, Py_NewRef(value));
    Py_DECREF(old);
    Py_RETURN_NONE;
}

/* ---- pack_lines: a finished request's collector, packed for the store ---- */

/* Line numbers of one file and where they go in the packed bytes. */
typedef struct {
    PyObject *path;   /* borrowed from path_by_name */
    PyObject *lines;  /* borrowed: the collector's set */
} FileLines;

/* Sort a request's files by path (str, compared by code point as Python
 * sorts them; no error can happen between two str): an insertion sort, a
 * request runs a handful of files. 0 when two files have one path, else 1. */
static int
sort_files(FileLines *files, Py_ssize_t count)
{
    for (Py_ssize_t index = 1; index < count; index++) {
        FileLines file = files[index];
        Py_ssize_t place = index;
        while (place > 0) {
            int order = PyUnicode_Compare(files[place - 1].path, file.path);
            if (order == 0) {
                return 0;
            }
            if (order < 0) {
                break;
            }
            files[place] = files[place - 1];
            place--;
        }
        files[place] = file;
    }
    return 1;
}

/* One bit per possible line number, all zero between calls of pack_lines
 * (which runs no Python code, and so is never entered twice at once). */
static uint64_t line_bits[1024];
/* The int object of each line number met in the call, borrowed from its
 * set (the collector holds them all until the call returns): the sorted
 * lists of a new set are made of the very objects of the sets, as sorted()
 * makes them, with no new int to allocate. */
static PyObject *line_objects[65536];

static inline unsigned
lowest_bit(uint64_t word)
{
#if defined(_MSC_VER)
    unsigned long index;
    _BitScanForward64(&index, word);
    return (unsigned)index;
#else
    return (unsigned)__builtin_ctzll(word);
#endif
}

/* Write the line numbers of ``set`` (exact ints of 0 to 65,535), sorted,
 * as little-endian uint16 at ``out``; ``bits`` is a zeroed bitmap of every
 * such number, left zeroed. Returns how many were written: the set's size,
 * or -1 when one is not such a number (the caller falls back to Python).
 * A set of line numbers is sorted by
 * setting its bits and reading them back in order: no comparisons, and only
 * the words between the smallest and the largest are read. */
/* The value of ``item`` when it is an int from 0 to 65,535, else -1. */
static inline long
small_line_number(PyObject *item)
{
    if (!PyLong_Check(item)) {  /* an int, or a bool as struct takes it */
        return -1;
    }
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Long_IsCompact((PyLongObject *)item)) {
        return -1;
    }
    Py_ssize_t value = PyUnstable_Long_CompactValue((PyLongObject *)item);
#else
    Py_ssize_t digits = Py_SIZE(item);
    if (digits != 0 && digits != 1) {
        return -1;
    }
    Py_ssize_t value = digits ? (Py_ssize_t)((PyLongObject *)item)->ob_digit[0] : 0;
#endif
    return value >= 0 && value <= 0xFFFF ? (long)value : -1;
}

static Py_ssize_t
write_sorted_lines(PyObject *set, uint64_t *bits, unsigned char *out)
{
    /* The set's table read directly: an entry is a number, or empty (no
     * key), or a dummy left by a removal (hash -1, which no object has). */
    PySetObject *table_owner = (PySetObject *)set;
    setentry *entry = table_owner->table;
    Py_ssize_t size = PySet_GET_SIZE(set), taken = 0, slots = table_owner->mask + 1;
    long lowest = 0xFFFF, highest = 0;
    for (Py_ssize_t slot = 0; slot < slots; slot++, entry++) {
        if (entry->key == NULL || entry->hash == -1) {
            continue;
        }
        long value = taken < size ? small_line_number(entry->key) : -1;
        if (value < 0) {
            taken = -1;  /* a line past 65,535 is packed four bytes wide, in Python */
            break;
        }
        bits[value >> 6] |= (uint64_t)1 << (value & 63);
        line_objects[value] = entry->key;
        lowest = value < lowest ? value : lowest;
        highest = value > highest ? value : highest;
        taken++;
    }
    if (taken <= 0) {
        if (taken < 0) {
            memset(bits, 0, sizeof(uint64_t) * 1024);
        }
        return taken;
    }
    for (long word = lowest >> 6; word <= highest >> 6; word++) {
        uint64_t set_bits = bits[word];
        bits[word] = 0;
        while (set_bits) {
            unsigned value = (unsigned)(word << 6) + lowest_bit(set_bits);
            *out++ = (unsigned char)(value & 0xFF);
            *out++ = (unsigned char)(value >> 8);
            set_bits &= set_bits - 1;
        }
    }
    return taken;
}

PyObject *requestcov_pack_lines(PyObject *lines_by_name, PyObject *path_by_name, PyObject *known);

/* pack_lines(lines_by_name, path_by_name, known): the twin of
 * ``requestcov.recordbuilder.pack_lines_python``; see there. Returns what
 * it returns: None, or (key, known[key], None), or (key, None, lists). */
static PyObject *
speedups_pack_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    /* Fast-call: the writer packs every request's lines, and a tuple of
     * arguments parsed by format costs the call as much as a small set. */
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyDict_Check(args[1]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "pack_lines(lines_by_name: dict, path_by_name: dict, known: dict)");
        return NULL;
    }
    return requestcov_pack_lines(args[0], args[1], args[2]);
}

/* pack_lines on three dicts, for the C callers (RequestPath.ready_rows). */
PyObject *
requestcov_pack_lines(PyObject *lines_by_name, PyObject *path_by_name, PyObject *known)
{
    Py_ssize_t names = PyDict_GET_SIZE(lines_by_name);
    FileLines *files = PyMem_Malloc(sizeof(FileLines) * (size_t)(names > 0 ? names : 1));
    if (files == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *result = NULL, *paths = NULL, *packed = NULL, *key = NULL, *lists = NULL;
    Py_ssize_t count = 0, total = 0, position = 0;
    PyObject *name, *lines;
    /* Nothing below runs Python code (str and int keys, exact sets), so the
     * collector cannot change while it is read. */
    while (PyDict_Next(lines_by_name, &position, &name, &lines)) {
        if (!PyUnicode_CheckExact(name) || !PyAnySet_CheckExact(lines)) {
            goto fall_back;
        }
        PyObject *path = PyDict_GetItemWithError(path_by_name, name);  /* borrowed */
        if (path == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            goto fall_back;  /* a file not decided yet */
        }
        if (path == Py_None) {
            continue;  /* not measured */
        }
        if (!PyUnicode_CheckExact(path)) {
            goto fall_back;
        }
        files[count].path = path;
        files[count].lines = lines;
        count++;
        total += PySet_GET_SIZE(lines);
    }
    if (!sort_files(files, count)) {
        goto fall_back;  /* two names of one file: merged in Python */
    }
    packed = PyBytes_FromStringAndSize(NULL, 8 * count + 2 * total);
    paths = PyTuple_New(count);
    if (packed == NULL || paths == NULL) {
        goto done;
    }
    unsigned char *counts = (unsigned char *)PyBytes_AS_STRING(packed);
    uint64_t *bits = line_bits;
    /* No arcs: an arc count of -1 for every file, after the line counts. */
    memset(counts + 4 * count, 0xFF, 4 * (size_t)count);
    unsigned char *out = counts + 8 * count;
    for (Py_ssize_t index = 0; index < count; index++) {
        Py_ssize_t taken = write_sorted_lines(files[index].lines, bits, out);
        if (taken < 0) {
            goto fall_back;
        }
        out += 2 * taken;
        uint32_t taken32 = (uint32_t)taken;
        counts[4 * index] = (unsigned char)(taken32 & 0xFF);
        counts[4 * index + 1] = (unsigned char)((taken32 >> 8) & 0xFF);
        counts[4 * index + 2] = (unsigned char)((taken32 >> 16) & 0xFF);
        counts[4 * index + 3] = (unsigned char)((taken32 >> 24) & 0xFF);
        PyTuple_SET_ITEM(paths, index, Py_NewRef(files[index].path));
    }
    key = PyTuple_Pack(2, paths, packed);
    if (key == NULL) {
        goto done;
    }
    PyObject *found = PyDict_GetItemWithError(known, key);  /* borrowed */
    if (found != NULL) {
        result = PyTuple_Pack(3, key, found, Py_None);
        goto done;
    }
    if (PyErr_Occurred()) {
        goto done;
    }
    /* A new set: its sorted lists, read back from the packed numbers. */
    lists = PyList_New(count);
    if (lists == NULL) {
        goto done;
    }
    const unsigned char *counts_in = (const unsigned char *)PyBytes_AS_STRING(packed);
    const unsigned char *numbers_in = counts_in + 8 * count;
    for (Py_ssize_t index = 0; index < count; index++) {
        const unsigned char *at = counts_in + 4 * index;
        Py_ssize_t size = (Py_ssize_t)((uint32_t)at[0] | ((uint32_t)at[1] << 8) | ((uint32_t)at[2] << 16)
                                       | ((uint32_t)at[3] << 24));
        PyObject *list = PyList_New(size);
        if (list == NULL) {
            goto done;
        }
        for (Py_ssize_t line = 0; line < size; line++, numbers_in += 2) {
            PyList_SET_ITEM(list, line, Py_NewRef(line_objects[numbers_in[0] | (numbers_in[1] << 8)]));
        }
        /* A list of ints is never part of a cycle: the garbage collector
         * need not scan it (it would, again and again, while the record
         * waits for its batch and the set stays known). */
        PyObject_GC_UnTrack(list);
        PyList_SET_ITEM(lists, index, list);
    }
    result = PyTuple_Pack(3, key, Py_None, lists);
    goto done;
fall_back:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(paths);
    Py_XDECREF(packed);
    Py_XDECREF(key);
    Py_XDECREF(lists);
    PyMem_Free(files);
    return result;
}

static PyMethodDef speedups_functions[] = {
    {"add_exec_hook", (PyCFunction)speedups_add_exec_hook, METH_O,
     "add_exec_hook(callback): call callback(code) on each audit event \"exec\"."},
    {"set_const", (PyCFunction)speedups_set_const, METH_VARARGS,
     "set_const(code, index, nested): put a code object in place of code.co_consts[index], a code object."},
    {"pack_lines", (PyCFunction)(void (*)(void))speedups_pack_lines, METH_FASTCALL,
     "pack_lines(lines_by_name, path_by_name, known): a collector's lines packed, as "
     "requestcov.recordbuilder.pack_lines_python packs them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "requestcov.engine._speedups",
    .m_doc = "The compiled core of requestcov's engines.",
    .m_size = -1,
    .m_methods = speedups_functions,
};

/* The request path's begin and end, in _requestpath.c. */
int requestcov_add_request_path(PyObject *module);
/* The WSGI exchange, in middleware/_wsgiexchange.c. */
int requestcov_add_wsgi_exchange(PyObject *module);
/* The ASGI send, in middleware/_asgisend.c. */
int requestcov_add_asgi_send(PyObject *module);
/* The WSGI middleware's call, in middleware/_wsgicall.c. */
int requestcov_add_wsgi_call(PyObject *module);
/* The ASGI middleware's call, in middleware/_asgicall.c (3.10+). */
int requestcov_add_asgi_call(PyObject *module);

PyMODINIT_FUNC
PyInit__speedups(void)
{
    str_lines = PyUnicode_InternFromString("lines");
    str_in_flight = PyUnicode_InternFromString("in_flight");
    str_generation = PyUnicode_InternFromString("generation");
    str_disabled = PyUnicode_InternFromString("disabled");
    str_f_trace_lines = PyUnicode_InternFromString("f_trace_lines");
    if (!str_lines || !str_in_flight || !str_generation || !str_disabled || !str_f_trace_lines) {
        return NULL;
    }
    if (PyType_Ready(&LineCallbackType) < 0 || PyType_Ready(&LineTracerType) < 0
        || PyType_Ready(&ProbeType) < 0 || PyType_Ready(&ProbeHubType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&LineCallbackType);
    Py_INCREF(&LineTracerType);
    Py_INCREF(&ProbeType);
    Py_INCREF(&ProbeHubType);
    if (PyModule_AddObject(module, "LineCallback", (PyObject *)&LineCallbackType) < 0
        || PyModule_AddObject(module, "LineTracer", (PyObject *)&LineTracerType) < 0
        || PyModule_AddObject(module, "Probe", (PyObject *)&ProbeType) < 0
        || PyModule_AddObject(module, "ProbeHub", (PyObject *)&ProbeHubType) < 0
        || requestcov_add_request_path(module) < 0
        || requestcov_add_wsgi_exchange(module) < 0
        || requestcov_add_asgi_send(module) < 0
        || requestcov_add_wsgi_call(module) < 0
        || requestcov_add_asgi_call(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
