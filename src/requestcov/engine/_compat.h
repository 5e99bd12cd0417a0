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

#endif
