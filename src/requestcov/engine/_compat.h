/* What the compiled core's files need of newer C APIs on the oldest Python
 * they build for (3.9). */

#ifndef REQUESTCOV_COMPAT_H
#define REQUESTCOV_COMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
requestcov_NewRef(PyObject *object)
{
    Py_INCREF(object);
    return object;
}
#define Py_NewRef requestcov_NewRef
#endif

/* A vectorcall handed on to ``call`` (a tp_call or tp_new taking a tuple and a
 * dict): for the calls of a compiled type whose arguments are parsed the
 * general way, the rare ones. */
static inline PyObject *
requestcov_call_parsed(PyObject *callable, ternaryfunc call, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *tuple = PyTuple_New(nargs);
    if (tuple == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < nargs; index++) {
        PyTuple_SET_ITEM(tuple, index, Py_NewRef(args[index]));
    }
    PyObject *keywords = NULL;
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        keywords = PyDict_New();
        if (keywords == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        for (Py_ssize_t index = 0; index < PyTuple_GET_SIZE(kwnames); index++) {
            if (PyDict_SetItem(keywords, PyTuple_GET_ITEM(kwnames, index), args[nargs + index]) < 0) {
                Py_DECREF(tuple);
                Py_DECREF(keywords);
                return NULL;
            }
        }
    }
    PyObject *result = call(callable, tuple, keywords);
    Py_DECREF(tuple);
    Py_XDECREF(keywords);
    return result;
}

/* Ready ``type`` and add it to ``module`` as ``name``: 0, or -1 with an error. */
static inline int
requestcov_add_type(PyObject *module, PyTypeObject *type, const char *name)
{
    if (PyType_Ready(type) < 0) {
        return -1;
    }
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

#endif
