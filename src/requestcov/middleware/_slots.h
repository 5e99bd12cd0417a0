/* A request's attribute read and written at its slot's offset, as its
 * member descriptor would, without a descriptor call (some 200 instructions
 * each, a few a request). The offset is learned from the first object's
 * type, which is kept; an object of any other type, or an attribute that is
 * not a plain slot of its own class, goes through getattr and setattr. */

#ifndef REQUESTCOV_SLOTS_H
#define REQUESTCOV_SLOTS_H

#include <Python.h>
#include <structmember.h>

typedef struct {
    PyTypeObject *type;  /* a strong reference; NULL until learned */
    Py_ssize_t offset;   /* 0: not a slot of ``type`` */
} SlotCache;

/* The offset of ``name`` in objects of ``object``'s type, 0 when it has to
 * go the long way. */
static inline Py_ssize_t
requestcov_slot_offset(SlotCache *cache, PyObject *object, PyObject *name)
{
    PyTypeObject *type = Py_TYPE(object);
    if (cache->type == type) {
        return cache->offset;
    }
    Py_ssize_t offset = 0;
    PyObject *descriptor = type->tp_dict == NULL ? NULL : PyDict_GetItemWithError(type->tp_dict, name);
    if (descriptor == NULL) {
        PyErr_Clear();
    }
    else if (Py_TYPE(descriptor) == &PyMemberDescr_Type && PyDescr_TYPE(descriptor) == type
             && ((PyMemberDescrObject *)descriptor)->d_member->type == T_OBJECT_EX
             && !(((PyMemberDescrObject *)descriptor)->d_member->flags & READONLY)
             && type->tp_getattro == PyObject_GenericGetAttr && type->tp_setattro == PyObject_GenericSetAttr) {
        offset = ((PyMemberDescrObject *)descriptor)->d_member->offset;
    }
    Py_XSETREF(cache->type, (PyTypeObject *)Py_NewRef(type));
    cache->offset = offset;
    return offset;
}

/* getattr(object, name): a new reference, NULL with AttributeError when unset. */
static inline PyObject *
requestcov_slot_get(SlotCache *cache, PyObject *object, PyObject *name)
{
    Py_ssize_t offset = requestcov_slot_offset(cache, object, name);
    if (offset == 0) {
        return PyObject_GetAttr(object, name);
    }
    PyObject *value = *(PyObject **)((char *)object + offset);
    if (value == NULL) {
        PyErr_SetObject(PyExc_AttributeError, name);
        return NULL;
    }
    return Py_NewRef(value);
}

/* setattr(object, name, value): 0, or -1 with an error. */
static inline int
requestcov_slot_set(SlotCache *cache, PyObject *object, PyObject *name, PyObject *value)
{
    Py_ssize_t offset = requestcov_slot_offset(cache, object, name);
    if (offset == 0) {
        return PyObject_SetAttr(object, name, value);
    }
    Py_XSETREF(*(PyObject **)((char *)object + offset), Py_NewRef(value));
    return 0;
}

#endif
