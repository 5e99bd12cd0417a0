/* The compiled request path: a request's begin and end, which every recorded
 * request pays however few lines it runs.
 *
 * ``RequestPath.begin`` does what ``requestcov.context.begin_collecting``
 * followed by ``ActiveRequest(...)`` do in Python, and ``RequestPath.end``
 * what ``end_collecting`` does; the Python code stays the reference and the
 * fallback (REQUESTCOV_CORE=python). The collector and the request are the
 * Python classes ``Collector`` and ``ActiveRequest`` themselves: their slots
 * are filled in place (at the offsets their member descriptors name), so
 * there is one definition of each and every engine, probe and isinstance
 * check sees the same objects whichever path made them. (Their ``__init__``
 * only fills those slots; a Python ``__init__`` call is most of what a
 * request's begin costs.)
 *
 * The order of the steps is ``begin_collecting``'s: the collector is current
 * and published in flight before the generation is bumped, and disabled
 * locations are enabled again after it, all under the tracking lock.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <time.h>

#include "_compat.h"

/* The slots filled, in the order of the names given to RequestPath(). */
enum { T_IN_FLIGHT, T_GENERATION, T_LOCK, T_ON_REQUEST_START, T_DISABLED, TRACKING_SLOTS };
enum { C_REQUEST, C_LINES, C_ARCS, C_TRACERS, COLLECTOR_SLOTS };
enum {
    R_COLLECTOR, R_TOKEN, R_TEST_ID, R_TEST_SET, R_METHOD, R_PATH, R_START, R_STARTED_COUNTER,
    R_ROUTE, R_STATUS, R_BODY_SENT, R_RECORDED, R_UNFINISHED, R_UNWRITTEN, REQUEST_SLOTS
};

typedef struct {
    PyObject_HEAD
    PyObject *tracking;
    PyObject *context_var;
    PyTypeObject *collector_type;
    PyTypeObject *request_type;
    PyObject *wall_clock;     /* time.time, where the C clocks are not Python's */
    PyObject *perf_counter;   /* time.perf_counter, likewise */
    /* What finish() needs, given by set_finish(): */
    PyObject *submit;         /* the writer's submit(finished) */
    PyObject *pid;            /* this process's id (set again after a fork) */
    PyObject *kind;           /* the kind of a request's record */
    PyObject *fixed_row;      /* (kind, pid, has_arcs 0): every ready row's first item */
    Py_ssize_t tracking_offsets[TRACKING_SLOTS];
    Py_ssize_t collector_offsets[COLLECTOR_SLOTS];
    Py_ssize_t request_offsets[REQUEST_SLOTS];
} RequestPath;

/* The slot names of tracking, in the enum's order (for errors). */
static PyObject *tracking_names[TRACKING_SLOTS];
static PyObject *str_acquire, *str_release, *str_batch, *str_packed;
static PyObject *one;  /* the int 1 */

#define SLOT(object, offset) (*(PyObject **)((char *)(object) + (offset)))

/* Store a new reference in an empty slot (a fresh object's slots are NULL). */
static inline void
fill(PyObject *object, Py_ssize_t offset, PyObject *value)
{
    SLOT(object, offset) = value;
}

/* tracking.<slot>, a new reference; NULL with AttributeError when unset. The
 * slots are read and written at their offsets, as their member descriptors
 * would, without a descriptor call each (a dozen a request). */
static PyObject *
tracking_get(RequestPath *self, int slot)
{
    PyObject *value = SLOT(self->tracking, self->tracking_offsets[slot]);
    if (value == NULL) {
        PyErr_SetObject(PyExc_AttributeError, tracking_names[slot]);
        return NULL;
    }
    return Py_NewRef(value);
}

static void
tracking_set(RequestPath *self, int slot, PyObject *value)
{
    Py_XSETREF(SLOT(self->tracking, self->tracking_offsets[slot]), Py_NewRef(value));
}

/* The offsets of ``names`` in ``type``, each a slot (T_OBJECT_EX member) of
 * the class itself; -1 with an exception otherwise. */
static int
slot_offsets(PyTypeObject *type, PyObject *names, Py_ssize_t *offsets, Py_ssize_t count)
{
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) != count) {
        PyErr_Format(PyExc_TypeError, "%s: expected a tuple of %zd slot names", type->tp_name, count);
        return -1;
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        PyObject *name = PyTuple_GET_ITEM(names, index);
        PyObject *descriptor = PyDict_GetItemWithError(type->tp_dict, name);  /* borrowed */
        if (descriptor == NULL || Py_TYPE(descriptor) != &PyMemberDescr_Type
            || ((PyMemberDescrObject *)descriptor)->d_member->type != T_OBJECT_EX
            || PyDescr_TYPE(descriptor) != type) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_TypeError, "%s.%S is not a slot of the class", type->tp_name, name);
            }
            return -1;
        }
        offsets[index] = ((PyMemberDescrObject *)descriptor)->d_member->offset;
    }
    return 0;
}

/* Seconds of a clock as a float, the way time.time() and time.perf_counter()
 * read them on Linux; elsewhere the Python functions are called. */
static PyObject *
clock_now(clockid_t clock, PyObject *fallback)
{
#ifdef __linux__
    struct timespec now;
    if (clock_gettime(clock, &now) == 0) {
        return PyFloat_FromDouble((double)now.tv_sec + (double)now.tv_nsec * 1e-9);
    }
#endif
    (void)clock;
    return PyObject_CallNoArgs(fallback);
}

static PyObject *
new_instance(PyTypeObject *type)
{
    return type->tp_alloc(type, 0);
}

/* One-item list [True]: the request's "unfinished" and "unwritten" marks. */
static PyObject *
true_mark(void)
{
    PyObject *mark = PyList_New(1);
    if (mark != NULL) {
        PyList_SET_ITEM(mark, 0, Py_NewRef(Py_True));
    }
    return mark;
}

/* tracking.in_flight with ``collector`` added (adding) or taken out. A
 * finaliser run by the allocation (the garbage collector) may end a request
 * meanwhile: the tuple is made again from the new value. */
static int
replace_in_flight(RequestPath *self, PyObject *collector, int adding)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        PyObject *old = tracking_get(self, T_IN_FLIGHT);
        if (old == NULL) {
            return -1;
        }
        if (!PyTuple_Check(old)) {
            Py_DECREF(old);
            PyErr_SetString(PyExc_TypeError, "tracking.in_flight is not a tuple");
            return -1;
        }
        Py_ssize_t size = PyTuple_GET_SIZE(old), kept = 0;
        if (!adding) {
            for (Py_ssize_t index = 0; index < size; index++) {
                kept += PyTuple_GET_ITEM(old, index) != collector;
            }
            if (kept == size) {  /* not in flight: nothing to do */
                Py_DECREF(old);
                return 0;
            }
        }
        PyObject *fresh = PyTuple_New(adding ? size + 1 : kept);
        if (fresh == NULL) {
            Py_DECREF(old);
            return -1;
        }
        PyObject *now = tracking_get(self, T_IN_FLIGHT);
        if (now == NULL) {
            Py_DECREF(old);
            Py_DECREF(fresh);
            return -1;
        }
        Py_DECREF(now);  /* held by tracking: only its identity is compared */
        if (now != old) {
            Py_DECREF(old);
            Py_DECREF(fresh);
            continue;
        }
        Py_ssize_t at = 0;
        for (Py_ssize_t index = 0; index < size; index++) {
            PyObject *item = PyTuple_GET_ITEM(old, index);
            if (adding || item != collector) {
                PyTuple_SET_ITEM(fresh, at++, Py_NewRef(item));
            }
        }
        if (adding) {
            PyTuple_SET_ITEM(fresh, at, Py_NewRef(collector));
        }
        tracking_set(self, T_IN_FLIGHT, fresh);
        Py_DECREF(fresh);
        Py_DECREF(old);
        return 0;
    }
    PyErr_SetString(PyExc_RuntimeError, "tracking.in_flight kept changing");
    return -1;
}

static int
bump_generation(RequestPath *self)
{
    PyObject *generation = tracking_get(self, T_GENERATION);
    if (generation == NULL) {
        return -1;
    }
    PyObject *next = PyNumber_Add(generation, one);
    Py_DECREF(generation);
    if (next == NULL) {
        return -1;
    }
    tracking_set(self, T_GENERATION, next);
    Py_DECREF(next);
    return 0;
}

/* Call the engine's on_request_start when a location is disabled, as
 * begin_collecting does: with none disabled it has nothing to enable. */
static int
restart_if_disabled(RequestPath *self)
{
    PyObject *restart = tracking_get(self, T_ON_REQUEST_START);
    if (restart == NULL) {
        return -1;
    }
    int failed = 0;
    if (restart != Py_None) {
        PyObject *disabled = tracking_get(self, T_DISABLED);
        if (disabled == NULL) {
            failed = -1;
        }
        else {
            int any = PyObject_IsTrue(disabled);
            Py_DECREF(disabled);
            if (any < 0) {
                failed = -1;
            }
            else if (any) {
                PyObject *result = PyObject_CallNoArgs(restart);
                failed = result == NULL ? -1 : 0;
                Py_XDECREF(result);
            }
        }
    }
    Py_DECREF(restart);
    return failed;
}

/* Run ``step`` under tracking.lock, as ``with tracking.lock:`` does. */
static int
under_lock(RequestPath *self, int (*step)(RequestPath *, PyObject *), PyObject *collector)
{
    PyObject *lock = tracking_get(self, T_LOCK);
    if (lock == NULL) {
        return -1;
    }
    PyObject *acquired = PyObject_CallMethodNoArgs(lock, str_acquire);
    if (acquired == NULL) {
        Py_DECREF(lock);
        return -1;
    }
    Py_DECREF(acquired);
    int failed = step(self, collector);
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyObject *released = PyObject_CallMethodNoArgs(lock, str_release);
    Py_DECREF(lock);
    if (released == NULL) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return -1;
    }
    Py_DECREF(released);
    PyErr_Restore(type, value, traceback);
    return failed;
}

static int
publish(RequestPath *self, PyObject *collector)
{
    if (replace_in_flight(self, collector, 1) < 0 || bump_generation(self) < 0) {
        return -1;
    }
    return restart_if_disabled(self);
}

static int
withdraw(RequestPath *self, PyObject *collector)
{
    return replace_in_flight(self, collector, 0);
}

/* begin(test_id, test_set, method, path): a new request in flight, its
 * collector current. */
static PyObject *
RequestPath_begin(RequestPath *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "begin(test_id, test_set, method, path)");
        return NULL;
    }
    const Py_ssize_t *c = self->collector_offsets, *r = self->request_offsets;
    PyObject *collector = new_instance(self->collector_type);
    if (collector == NULL) {
        return NULL;
    }
    /* Filled whatever fails: an empty slot is one the deallocation skips. */
    fill(collector, c[C_REQUEST], Py_NewRef(Py_None));
    fill(collector, c[C_LINES], PyDict_New());
    fill(collector, c[C_ARCS], PyDict_New());
    fill(collector, c[C_TRACERS], PyDict_New());
    if (!SLOT(collector, c[C_LINES]) || !SLOT(collector, c[C_ARCS]) || !SLOT(collector, c[C_TRACERS])) {
        Py_DECREF(collector);
        return NULL;
    }
    PyObject *request = new_instance(self->request_type);
    if (request == NULL) {
        Py_DECREF(collector);
        return NULL;
    }
    for (Py_ssize_t index = 0; index < 4; index++) {
        fill(request, r[R_TEST_ID + index], Py_NewRef(args[index]));
    }
    fill(request, r[R_COLLECTOR], Py_NewRef(collector));
    fill(request, r[R_ROUTE], Py_NewRef(Py_None));
    fill(request, r[R_STATUS], Py_NewRef(Py_None));
    fill(request, r[R_BODY_SENT], Py_NewRef(Py_False));
    fill(request, r[R_RECORDED], Py_NewRef(Py_True));
    fill(request, r[R_UNFINISHED], true_mark());
    fill(request, r[R_UNWRITTEN], true_mark());
    fill(request, r[R_START], clock_now(CLOCK_REALTIME, self->wall_clock));
    if (!SLOT(request, r[R_UNFINISHED]) || !SLOT(request, r[R_UNWRITTEN]) || !SLOT(request, r[R_START])) {
        goto error;
    }
    /* The collector knows its request before anyone can see it. */
    Py_SETREF(SLOT(collector, c[C_REQUEST]), Py_NewRef(request));

    /* Read before the collector is current: a failure here leaves nothing to undo. */
    PyObject *counter = clock_now(CLOCK_MONOTONIC, self->perf_counter);
    if (counter == NULL) {
        goto error;
    }
    fill(request, r[R_STARTED_COUNTER], counter);
    PyObject *token = PyContextVar_Set(self->context_var, collector);
    if (token == NULL) {
        goto error;
    }
    fill(request, r[R_TOKEN], token);
    if (under_lock(self, publish, collector) < 0) {
        /* Made current but maybe not in flight: undone as end() undoes it. */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        if (PyContextVar_Reset(self->context_var, token) < 0) {
            PyErr_Clear();
        }
        if (under_lock(self, withdraw, collector) < 0) {
            PyErr_Clear();
        }
        PyErr_Restore(type, value, traceback);
        goto error;
    }
    Py_DECREF(collector);
    return request;
error:
    Py_CLEAR(SLOT(collector, c[C_REQUEST]));  /* no cycle left behind */
    Py_DECREF(collector);
    Py_DECREF(request);
    return NULL;
}

/* Undo the request's current_collector.set (quietly when ended from another
 * context than it began in: nothing of ours is current there); its token None. */
static int
restore_token(RequestPath *self, PyObject *request)
{
    Py_ssize_t offset = self->request_offsets[R_TOKEN];
    PyObject *token = SLOT(request, offset);
    if (token != NULL && token != Py_None) {
        Py_INCREF(token);
        if (PyContextVar_Reset(self->context_var, token) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_ValueError)) {
                Py_DECREF(token);
                return -1;
            }
            PyErr_Clear();
        }
        Py_DECREF(token);
    }
    Py_XSETREF(SLOT(request, offset), Py_NewRef(Py_None));
    return 0;
}

/* end(request): out of flight, its collector no longer current (quietly
 * when ended from another context than it began in) and no longer pointing
 * back at the request. */
static PyObject *
RequestPath_end(RequestPath *self, PyObject *request)
{
    if (Py_TYPE(request) != self->request_type) {
        PyErr_SetString(PyExc_TypeError, "end() takes a request begun by begin()");
        return NULL;
    }
    const Py_ssize_t *r = self->request_offsets;
    PyObject *collector = SLOT(request, r[R_COLLECTOR]);
    if (collector == NULL) {
        PyErr_SetString(PyExc_AttributeError, "the request has no collector");
        return NULL;
    }
    Py_INCREF(collector);
    int failed = under_lock(self, withdraw, collector);
    if (failed == 0) {
        /* The cycle request <-> collector broken: freed by reference
         * counting, not left to the garbage collector. */
        Py_XSETREF(SLOT(collector, self->collector_offsets[C_REQUEST]), Py_NewRef(Py_None));
    }
    Py_DECREF(collector);
    if (failed < 0 || restore_token(self, request) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Take the request's one "unfinished" mark, as list.pop() does: 1 taken, 0
 * taken already (ended elsewhere), -1 an error. */
static int
take_mark(PyObject *request, Py_ssize_t offset)
{
    PyObject *marks = SLOT(request, offset);
    if (marks == NULL || !PyList_CheckExact(marks)) {
        PyErr_SetString(PyExc_TypeError, "request.unfinished is not a list");
        return -1;
    }
    Py_ssize_t size = PyList_GET_SIZE(marks);
    if (size == 0) {
        return 0;
    }
    return PyList_SetSlice(marks, size - 1, size, NULL) < 0 ? -1 : 1;
}

/* finish(request, *, status=None): what Recorder.finish does, in one call.
 *
 * The record is queued (the writer's submit) before the request's mark is
 * taken, as in Python: a stop whose signal handler interrupts the submit,
 * on this thread, finds the request still in flight and unfinished and
 * queues it itself (the writer keeps one of the two). From the mark on
 * nothing of Python runs: the request leaves flight and its collector
 * stops being current in the same call, with no bytecode between for a
 * signal to cut in at. */
static PyObject *
RequestPath_finish(RequestPath *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *status = Py_None;
    Py_ssize_t keywords = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs != 1 || keywords > 1
        || (keywords == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "status") != 0)) {
        PyErr_SetString(PyExc_TypeError, "finish(request, *, status=None)");
        return NULL;
    }
    if (keywords == 1) {
        status = args[1];
    }
    PyObject *request = args[0];
    if (Py_TYPE(request) != self->request_type) {
        PyErr_SetString(PyExc_TypeError, "finish() takes an ActiveRequest");
        return NULL;
    }
    if (self->submit == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "finish() before set_finish()");
        return NULL;
    }
    const Py_ssize_t *r = self->request_offsets;
    PyObject *unfinished = SLOT(request, r[R_UNFINISHED]);
    if (unfinished == NULL || !PyList_CheckExact(unfinished)) {
        PyErr_SetString(PyExc_TypeError, "request.unfinished is not a list");
        return NULL;
    }
    if (PyList_GET_SIZE(unfinished) == 0) {
        Py_RETURN_NONE;  /* ended already */
    }
    if (SLOT(request, r[R_RECORDED]) != Py_True) {
        /* Sampled out: nothing to queue, its collector was never in flight. */
        int taken = take_mark(request, r[R_UNFINISHED]);
        if (taken <= 0) {
            return taken < 0 ? NULL : Py_NewRef(Py_None);
        }
        return restore_token(self, request) < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *started = SLOT(request, r[R_STARTED_COUNTER]);
    double started_at = started == NULL ? -1.0 : PyFloat_AsDouble(started);
    if (started_at == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *now = clock_now(CLOCK_MONOTONIC, self->perf_counter);
    if (now == NULL) {
        return NULL;
    }
    double now_at = PyFloat_AsDouble(now);
    Py_DECREF(now);
    if (now_at == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (status != Py_None) {
        Py_XSETREF(SLOT(request, r[R_STATUS]), Py_NewRef(status));
    }
    PyObject *duration = PyFloat_FromDouble((now_at - started_at) * 1000.0);
    if (duration == NULL) {
        return NULL;
    }
    PyObject *finished = PyTuple_New(4);
    if (finished == NULL) {
        Py_DECREF(duration);
        return NULL;
    }
    PyTuple_SET_ITEM(finished, 0, Py_NewRef(request));
    PyTuple_SET_ITEM(finished, 1, duration);
    PyTuple_SET_ITEM(finished, 2, Py_NewRef(self->pid));
    PyTuple_SET_ITEM(finished, 3, Py_NewRef(self->kind));
    PyObject *result = PyObject_Vectorcall(self->submit, &finished, 1, NULL);
    Py_DECREF(finished);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    int taken = take_mark(request, r[R_UNFINISHED]);
    if (taken <= 0) {  /* another thread ended it meanwhile */
        return taken < 0 ? NULL : Py_NewRef(Py_None);
    }
    return RequestPath_end(self, request);
}

/* In _speedups.c: a collector's lines packed (see pack_lines there). */
PyObject *requestcov_pack_lines(PyObject *lines_by_name, PyObject *path_by_name, PyObject *known);

/* Whether the set that ``packed`` (what pack_lines returned) found is
 * known in this batch of file versions; its PackedLines in ``*packed_lines``
 * (a new reference) when it is. -1 with an error. */
static int
known_in_batch(PyObject *packed, PyObject *batch, PyObject **packed_lines)
{
    if (packed == Py_None || !PyTuple_CheckExact(packed) || PyTuple_GET_SIZE(packed) != 3
        || PyTuple_GET_ITEM(packed, 1) == Py_None) {
        return 0;
    }
    PyObject *known = PyTuple_GET_ITEM(packed, 1);
    PyObject *known_batch = PyObject_GetAttr(known, str_batch);
    if (known_batch == NULL) {
        return -1;
    }
    int same = known_batch == batch ? 1 : PyObject_RichCompareBool(known_batch, batch, Py_EQ);
    Py_DECREF(known_batch);
    if (same <= 0) {
        return same;
    }
    *packed_lines = PyObject_GetAttr(known, str_packed);
    return *packed_lines == NULL ? -1 : 1;
}

/* ready_rows(items, index, out, known, path_by_name, batch, stopped, set_ids): the
 * twin of ``requestcov.recordbuilder.ready_rows_python``, for requests begun by
 * begin() (their slots read at their offsets); see there. Whatever is not
 * such a request, or cannot be read, is left to the long way, which says
 * what is wrong: an error here only when a row cannot be made (no memory),
 * its request left unmarked. */
static PyObject *
RequestPath_ready_rows(RequestPath *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8 || !PyList_CheckExact(args[0]) || !PyLong_Check(args[1]) || !PyList_CheckExact(args[2])
        || !PyDict_Check(args[3]) || !PyDict_Check(args[4]) || !PyList_CheckExact(args[6])
        || !PyDict_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError, "ready_rows(items: list, index: int, out: list, known: dict, "
                                         "path_by_name: dict, batch, stopped: list, set_ids: dict)");
        return NULL;
    }
    PyObject *items = args[0], *out = args[2], *known = args[3], *path_by_name = args[4], *batch = args[5];
    PyObject *stopped = args[6], *set_ids = args[7];
    Py_ssize_t index = PyLong_AsSsize_t(args[1]);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const Py_ssize_t *r = self->request_offsets;
    static const int row_slots[] = {R_TEST_ID, R_TEST_SET, R_METHOD, R_PATH, R_ROUTE, R_STATUS, R_START};
    const int row_count = (int)(sizeof(row_slots) / sizeof(row_slots[0]));
    for (index = index < 0 ? 0 : index; index < PyList_GET_SIZE(items); index++) {
        PyObject *item = PyList_GET_ITEM(items, index);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 4) {
            break;
        }
        PyObject *request = PyTuple_GET_ITEM(item, 0), *kind = PyTuple_GET_ITEM(item, 3);
        if (Py_TYPE(request) != self->request_type || !PyUnicode_Check(kind)
            || (kind != self->kind && PyUnicode_CompareWithASCIIString(kind, "request") != 0)) {
            break;
        }
        PyObject *collector = SLOT(request, r[R_COLLECTOR]);
        PyObject *unwritten = SLOT(request, r[R_UNWRITTEN]);
        if (collector == NULL || Py_TYPE(collector) != self->collector_type
            || unwritten == NULL || !PyList_CheckExact(unwritten)) {
            break;
        }
        int readable = 1;
        for (int slot = 0; slot < row_count; slot++) {
            readable &= SLOT(request, r[row_slots[slot]]) != NULL;
        }
        PyObject *lines = SLOT(collector, self->collector_offsets[C_LINES]);
        if (!readable || lines == NULL || !PyDict_Check(lines)) {
            break;
        }
        PyObject *packed = requestcov_pack_lines(lines, path_by_name, known);
        PyObject *packed_lines = NULL;
        int usable = packed == NULL ? -1 : known_in_batch(packed, batch, &packed_lines);
        if (usable == 0) {
            /* Its row or record is made next, of this very packing. */
            PyObject *kept = PyTuple_Pack(2, item, packed);
            if (kept == NULL || PyList_SetSlice(stopped, 0, PyList_GET_SIZE(stopped), kept) < 0) {
                PyErr_Clear();
            }
            Py_XDECREF(kept);
        }
        Py_XDECREF(packed);
        if (usable <= 0) {
            PyErr_Clear();  /* the long way says what is wrong */
            break;
        }
        if (PyList_GET_SIZE(unwritten) == 0) {  /* queued twice (see Recorder.finish); written already */
            Py_DECREF(packed_lines);
            continue;
        }
        /* The set's id in the store, when the store knows its packing. */
        PyObject *set_id = Py_None;
        PyObject *found = PyDict_GetItemWithError(set_ids, packed_lines);  /* borrowed */
        if (found != NULL && PyTuple_CheckExact(found) && PyTuple_GET_SIZE(found) >= 1
            && PyLong_CheckExact(PyTuple_GET_ITEM(found, 0))) {
            set_id = PyTuple_GET_ITEM(found, 0);
        }
        else if (found == NULL && PyErr_Occurred()) {
            PyErr_Clear();  /* the store finds the set by its packing */
        }
        /* kind, pid and has_arcs (branch coverage makes no rows): this
         * process's one tuple, which the store tells by identity. */
        PyObject *pid = PyTuple_GET_ITEM(item, 2);
        PyObject *fixed = self->fixed_row != NULL && kind == self->kind && pid == self->pid
            ? Py_NewRef(self->fixed_row) : Py_BuildValue("(OOi)", kind, pid, 0);
        PyObject *row = fixed == NULL ? NULL : PyList_New(11);
        if (row == NULL) {
            Py_XDECREF(fixed);
            Py_DECREF(packed_lines);
            return NULL;
        }
        PyList_SET_ITEM(row, 0, fixed);
        for (int slot = 0; slot < row_count; slot++) {
            PyList_SET_ITEM(row, 1 + slot, Py_NewRef(SLOT(request, r[row_slots[slot]])));
        }
        PyList_SET_ITEM(row, 8, Py_NewRef(PyTuple_GET_ITEM(item, 1)));
        PyList_SET_ITEM(row, 9, Py_NewRef(set_id));
        PyList_SET_ITEM(row, 10, packed_lines);
        /* Of strs, numbers and the set's PackedLines: never part of a cycle,
         * so not for the garbage collector to scan while the batch waits. */
        PyObject_GC_UnTrack(row);
        int failed = PyList_Append(out, row);
        Py_DECREF(row);
        if (failed < 0) {
            return NULL;  /* no row, no mark taken: the long way writes it */
        }
        /* The mark taken once the row is out; not taken, the row goes. */
        int taken = take_mark(request, r[R_UNWRITTEN]);
        if (taken <= 0) {
            Py_ssize_t size = PyList_GET_SIZE(out);
            if (PyList_SetSlice(out, size - 1, size, NULL) < 0 || taken < 0) {
                return NULL;
            }
        }
    }
    return PyLong_FromSsize_t(index);
}

/* set_finish(submit, pid, kind): what finish() hands each finished request to. */
static PyObject *
RequestPath_set_finish(RequestPath *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyCallable_Check(args[0]) || !PyLong_Check(args[1]) || !PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "set_finish(submit, pid: int, kind: str)");
        return NULL;
    }
    PyObject *fixed_row = Py_BuildValue("(OOi)", args[2], args[1], 0);
    if (fixed_row == NULL) {
        return NULL;
    }
    Py_XSETREF(self->submit, Py_NewRef(args[0]));
    Py_XSETREF(self->pid, Py_NewRef(args[1]));
    Py_XSETREF(self->kind, Py_NewRef(args[2]));
    Py_XSETREF(self->fixed_row, fixed_row);
    Py_RETURN_NONE;
}

static PyObject *
RequestPath_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"tracking", "tracking_slots", "context_var", "collector_type", "collector_slots",
                               "request_type", "request_slots", "wall_clock", "perf_counter", NULL};
    PyObject *tracking, *tracking_slots, *context_var, *collector_type, *collector_slots, *request_type;
    PyObject *request_slots, *wall_clock, *perf_counter;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO!OO!OOO:RequestPath", keywords, &tracking, &tracking_slots,
                                     &context_var, &PyType_Type, &collector_type, &collector_slots, &PyType_Type,
                                     &request_type, &request_slots, &wall_clock, &perf_counter)) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(context_var)) {
        PyErr_SetString(PyExc_TypeError, "context_var must be a ContextVar");
        return NULL;
    }
    RequestPath *self = (RequestPath *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->tracking = Py_NewRef(tracking);
    self->context_var = Py_NewRef(context_var);
    self->collector_type = (PyTypeObject *)Py_NewRef(collector_type);
    self->request_type = (PyTypeObject *)Py_NewRef(request_type);
    self->wall_clock = Py_NewRef(wall_clock);
    self->perf_counter = Py_NewRef(perf_counter);
    /* The slots are those of tracking's own class (a subclass could override them). */
    if (slot_offsets(Py_TYPE(tracking), tracking_slots, self->tracking_offsets, TRACKING_SLOTS) < 0
        || slot_offsets(self->collector_type, collector_slots, self->collector_offsets, COLLECTOR_SLOTS) < 0
        || slot_offsets(self->request_type, request_slots, self->request_offsets, REQUEST_SLOTS) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
RequestPath_dealloc(RequestPath *self)
{
    Py_XDECREF(self->tracking);
    Py_XDECREF(self->context_var);
    Py_XDECREF((PyObject *)self->collector_type);
    Py_XDECREF((PyObject *)self->request_type);
    Py_XDECREF(self->wall_clock);
    Py_XDECREF(self->perf_counter);
    Py_XDECREF(self->submit);
    Py_XDECREF(self->pid);
    Py_XDECREF(self->kind);
    Py_XDECREF(self->fixed_row);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef RequestPath_methods[] = {
    {"begin", (PyCFunction)(void (*)(void))RequestPath_begin, METH_FASTCALL,
     "begin(test_id, test_set, method, path): a new ActiveRequest, in flight, its collector current."},
    {"end", (PyCFunction)RequestPath_end, METH_O,
     "end(request): the request out of flight, its collector no longer current."},
    {"finish", (PyCFunction)(void (*)(void))RequestPath_finish, METH_FASTCALL | METH_KEYWORDS,
     "finish(request, *, status=None): Recorder.finish in one call (see set_finish)."},
    {"set_finish", (PyCFunction)(void (*)(void))RequestPath_set_finish, METH_FASTCALL,
     "set_finish(submit, pid, kind): the writer's submit, this process's id and the records' kind."},
    {"ready_rows", (PyCFunction)(void (*)(void))RequestPath_ready_rows, METH_FASTCALL,
     "ready_rows(items, index, out, known, path_by_name, batch, stopped, set_ids): the store's rows of the finished "
     "requests that need no record, as requestcov.recordbuilder.ready_rows_python makes them."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RequestPathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "requestcov.engine._speedups.RequestPath",
    .tp_basicsize = sizeof(RequestPath),
    .tp_dealloc = (destructor)RequestPath_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A request's begin and end: RequestPath(tracking, tracking_slots, context_var, collector_type, "
              "collector_slots, request_type, request_slots, wall_clock, perf_counter).",
    .tp_methods = RequestPath_methods,
    .tp_new = RequestPath_new,
};

/* Called by the module's init in _speedups.c. */
int
requestcov_add_request_path(PyObject *module)
{
    static const char *names[TRACKING_SLOTS] = {"in_flight", "generation", "lock", "on_request_start", "disabled"};
    for (int slot = 0; slot < TRACKING_SLOTS; slot++) {
        tracking_names[slot] = PyUnicode_InternFromString(names[slot]);
        if (tracking_names[slot] == NULL) {
            return -1;
        }
    }
    str_acquire = PyUnicode_InternFromString("acquire");
    str_release = PyUnicode_InternFromString("release");
    str_batch = PyUnicode_InternFromString("batch");
    str_packed = PyUnicode_InternFromString("packed");
    one = PyLong_FromLong(1);
    if (!str_acquire || !str_release || !str_batch || !str_packed || !one) {
        return -1;
    }
    return requestcov_add_type(module, &RequestPathType, "RequestPath");
}
