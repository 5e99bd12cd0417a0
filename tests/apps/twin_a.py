"""Identical to its twin: equal code objects in two files must stay apart."""


def compute(value):
    doubled = value * 2
    return doubled + 1
