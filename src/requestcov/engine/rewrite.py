"""Insert line probes into code objects (Python 3.9-3.11).

A probe is a call of a constant with no arguments whose result is dropped;
it is put in front of each instruction at which the interpreter would send
``sys.settrace`` a ``line`` event: the start of each line-table range that has
a line, and the instructions a jump can enter a line at (on 3.9 and 3.10
backward jumps and exception handlers only, whose tracers see a forward jump
into the middle of a line as no new line; every jump and exception handler
on 3.11, whose tracer compares lines). The instructions of the function
prologue (up to and including ``RESUME`` on 3.11, ``GEN_START`` on 3.10) are
left alone: the interpreter sends them a ``call`` event, not a ``line``; on
3.11 the instruction after ``RESUME`` always gets one.

Which lines fire is what coverage.py records on these versions: a line
counts when one of its instructions starts a new line for the tracer; the
first one that runs in a frame is entered either in offset order at a range
start or by a jump, and gets a probe. Set-wise, probes and line events agree
(tests/engine/test_probes_rewrite.py runs code both ways).

Everything that names an offset is rebuilt: jump arguments (with as many
``EXTENDED_ARG`` prefixes as they need, iterated until the layout is stable),
the line table (``co_lnotab`` on 3.9, ``co_linetable`` pairs on 3.10, the
positions table on 3.11, each probe taking its instruction's position) and,
on 3.11, the exception table and the inline ``CACHE`` entries. A jump or
handler that targeted an instruction targets the probe in front of it.
"""

from __future__ import annotations

import dis
import sys
from types import CodeType
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar

__all__ = ["ProbeFactory", "insert_probes", "probe_points", "REWRITE_SUPPORTED"]

#: Versions whose bytecode this module knows.
REWRITE_SUPPORTED = (3, 9) <= sys.version_info[:2] <= (3, 11)

T = TypeVar("T")
_V = sys.version_info[:2]
_EXTENDED_ARG = dis.EXTENDED_ARG
_HAVE_ARGUMENT = dis.HAVE_ARGUMENT
_CACHES: Sequence[int] = getattr(dis, "_inline_cache_entries", [0] * 256)
_JREL = frozenset(dis.hasjrel)
_JABS = frozenset(dis.hasjabs)
_OP = dis.opmap
_BACKWARD = frozenset(op for name, op in _OP.items() if "JUMP_BACKWARD" in name)
_RESUME = _OP.get("RESUME")
_GEN_START = _OP.get("GEN_START")
_CO_OPTIMIZED = 0x0001
#: 3.9 and 3.10: the instructions whose target is an exception handler; the
#: tracer sends a line event for the first instruction run there.
_SETUP = frozenset(op for name, op in _OP.items() if name.startswith("SETUP_"))

#: probe factory: (file name, line, records into start-up) -> the callable.
ProbeFactory = Callable[[str, int, bool], object]

Position = Tuple[Optional[int], Optional[int], Optional[int], Optional[int]]


class _Instr:
    __slots__ = ("start", "offset", "op", "arg", "target", "probe", "position", "ext", "new_start", "new_offset")

    def __init__(self, start: int, offset: int, op: int, arg: int) -> None:
        self.start = start  # offset of its first EXTENDED_ARG, else its own
        self.offset = offset
        self.op = op
        self.arg = arg
        self.target: Optional[int] = None  # index of the instruction a jump goes to
        self.probe: Optional[int] = None  # the line of the probe in front, if any
        self.position: Position = (None, None, None, None)
        self.ext = 0
        self.new_start = 0
        self.new_offset = 0


def _jump_target(op: int, offset: int, arg: int) -> Optional[int]:
    """The original offset a jump instruction goes to."""
    after = offset + 2 + 2 * _CACHES[op]
    if op in _JREL:
        if _V >= (3, 11):
            return after - 2 * arg if op in _BACKWARD else after + 2 * arg
        return after + (2 * arg if _V >= (3, 10) else arg)
    if op in _JABS:
        return 2 * arg if _V >= (3, 10) else arg
    return None


def _decode(code: CodeType) -> List[_Instr]:
    raw = code.co_code
    instrs: List[_Instr] = []
    extended = 0
    start: Optional[int] = None
    offset = 0
    while offset < len(raw):
        op, arg = raw[offset], raw[offset + 1] | extended
        if start is None:
            start = offset
        if op == _EXTENDED_ARG:
            extended = arg << 8
            offset += 2
            continue
        extended = 0
        instrs.append(_Instr(start, offset, op, arg if op >= _HAVE_ARGUMENT else 0))
        start = None
        offset += 2 + 2 * _CACHES[op]
    return instrs


def _unit_lines(code: CodeType) -> List[Optional[int]]:
    """The line of each code unit, as the tracer sees it."""
    units = len(code.co_code) // 2
    lines: List[Optional[int]] = [None] * units
    if _V >= (3, 10):
        for start, end, line in code.co_lines():
            for unit in range(start // 2, min(end // 2, units)):
                lines[unit] = line
        return lines
    starts = dict(dis.findlinestarts(code))
    line = code.co_firstlineno
    for unit in range(units):
        line = starts.get(unit * 2, line)
        lines[unit] = line
    return lines


def _range_starts(code: CodeType) -> Dict[int, int]:
    """Offsets that start a line-table range with a line, and that line
    (3.9 and 3.10, whose tracers send a line event at each range start; on
    3.11 every instruction has a range of its own)."""
    if _V >= (3, 10):
        return {start: line for start, end, line in code.co_lines() if line is not None and start < end}
    return dict(dis.findlinestarts(code))


def _parse_exception_table(code: CodeType) -> List[Tuple[int, int, int, int, bool]]:
    """(start, end, target, depth, lasti), offsets in bytes, end exclusive."""
    table = getattr(code, "co_exceptiontable", b"")
    entries = []
    position = 0

    def varint() -> int:
        nonlocal position
        byte = table[position]
        position += 1
        value = byte & 63
        while byte & 64:
            byte = table[position]
            position += 1
            value = (value << 6) | (byte & 63)
        return value

    while position < len(table):
        start = varint() * 2
        end = start + varint() * 2
        target = varint() * 2
        depth_lasti = varint()
        entries.append((start, end, target, depth_lasti >> 1, bool(depth_lasti & 1)))
    return entries


def _emit_exception_item(out: bytearray, value: int, msb: int) -> None:
    chunks = [value & 63]
    value >>= 6
    while value:
        chunks.append(value & 63)
        value >>= 6
    chunks.reverse()
    for index, chunk in enumerate(chunks):
        byte = chunk | (64 if index < len(chunks) - 1 else 0)
        if index == 0:
            byte |= msb
        out.append(byte)


def _varint(out: bytearray, value: int) -> None:
    while value >= 64:
        out.append(64 | (value & 63))
        value >>= 6
    out.append(value)


def _svarint(out: bytearray, value: int) -> None:
    _varint(out, (-value << 1) | 1 if value < 0 else value << 1)


def _runs(items: Sequence[T], most: Optional[int] = None) -> Iterator[Tuple[T, int]]:
    """Each run of equal neighbours as (item, length), a run at most ``most`` long."""
    index = 0
    while index < len(items):
        item = items[index]
        length = 1
        while (most is None or length < most) and index + length < len(items) and items[index + length] == item:
            length += 1
        yield item, length
        index += length


def _positions_table(positions: List[Position], first_line: int) -> bytes:
    """The 3.11 locations table for one position per code unit."""
    out = bytearray()
    previous = first_line
    for position, length in _runs(positions, most=8):
        line, end_line, column, end_column = position
        if line is None:
            out.append(0x80 | (15 << 3) | (length - 1))
        elif end_line is None or column is None or end_column is None or end_line < line:
            out.append(0x80 | (13 << 3) | (length - 1))
            _svarint(out, line - previous)
            previous = line
        else:
            out.append(0x80 | (14 << 3) | (length - 1))
            _svarint(out, line - previous)
            _varint(out, end_line - line)
            _varint(out, column + 1)
            _varint(out, end_column + 1)
            previous = line
    return bytes(out)


def _linetable_310(lines: List[Optional[int]], first_line: int) -> bytes:
    """3.10's ``co_linetable``: (byte delta, line delta or -128) pairs."""
    out = bytearray()
    previous = first_line
    for line, length in _runs(lines):
        bdelta = 2 * length
        if line is None:
            ldelta = -128
        else:
            ldelta = line - previous
            previous = line
            while ldelta > 127:
                out += bytes((0, 127))
                ldelta -= 127
            while ldelta < -127:
                out += bytes((0, (-127) & 0xFF))
                ldelta += 127
        while bdelta > 254:
            out += bytes((254, ldelta & 0xFF))
            ldelta = -128 if line is None else 0
            bdelta -= 254
        out += bytes((bdelta, ldelta & 0xFF))
    return bytes(out)


def _lnotab_39(lines: List[Optional[int]], first_line: int) -> bytes:
    """3.9's ``co_lnotab``: (byte increment, signed line increment) pairs."""
    out = bytearray()
    previous_offset, previous_line = 0, first_line
    for unit, line in enumerate(lines):
        if line is None or line == previous_line:
            continue
        bdelta, ldelta = unit * 2 - previous_offset, line - previous_line
        while bdelta > 255:
            out += bytes((255, 0))
            bdelta -= 255
        while ldelta > 127:
            out += bytes((bdelta, 127))
            bdelta, ldelta = 0, ldelta - 127
        while ldelta < -128:
            out += bytes((bdelta, (-128) & 0xFF))
            bdelta, ldelta = 0, ldelta + 128
        out += bytes((bdelta, ldelta & 0xFF))
        previous_offset, previous_line = unit * 2, line
    return bytes(out)


def _prologue_end(instrs: List[_Instr]) -> int:
    """Index of the first instruction that may get a probe."""
    marker = _RESUME if _V >= (3, 11) else _GEN_START
    if marker is None:
        return 0
    for index, instr in enumerate(instrs):
        if instr.op == marker and (_V < (3, 11) or instr.arg == 0):
            return index + 1
    return 0


def probe_points(code: CodeType) -> Dict[int, int]:
    """Original offsets of the instructions that get a probe, and their lines."""
    instrs = _decode(code)
    return {instr.offset: instr.probe for instr in _plan(code, instrs) if instr.probe is not None}


def _plan(code: CodeType, instrs: List[_Instr]) -> List[_Instr]:
    by_offset: Dict[int, int] = {}
    for index, instr in enumerate(instrs):
        by_offset[instr.start] = index
        by_offset[instr.offset] = index
    lines = _unit_lines(code)
    starts = _range_starts(code)
    for index, instr in enumerate(instrs):
        target = _jump_target(instr.op, instr.offset, instr.arg)
        if target is not None:
            instr.target = by_offset[target]
    first = _prologue_end(instrs)
    # 3.11 sends a line event for the first instruction after RESUME even on
    # RESUME's own line (a one-line function's only line is its def line).
    wanted = {first} if _V >= (3, 11) and first < len(instrs) else set()
    previous: Optional[int] = -1
    for index, instr in enumerate(instrs):
        line = lines[instr.offset // 2]
        if line != previous or (_V < (3, 11) and (instr.start in starts or instr.offset in starts)):
            wanted.add(index)
        previous = line
        if instr.target is not None and (_V >= (3, 11) or instr.target <= index or instr.op in _SETUP):
            wanted.add(instr.target)
    if _V >= (3, 11):
        for _start, _end, target, _depth, _lasti in _parse_exception_table(code):
            wanted.add(by_offset[target])
    for index in wanted:
        if index >= first:
            line = lines[instrs[index].offset // 2]
            if line is not None and line > 0:
                instrs[index].probe = line
    return instrs


def _ext_needed(arg: int) -> int:
    return 0 if arg < 1 << 8 else 1 if arg < 1 << 16 else 2 if arg < 1 << 24 else 3


_PROBE_UNITS = 10 if _V >= (3, 11) else 3


def insert_probes(
    code: CodeType,
    make_probe: ProbeFactory,
    startup: bool,
    on_copy: Optional[Callable[[CodeType, CodeType], None]] = None,
) -> CodeType:
    """A copy of ``code``, and of every code object nested in it, with probes.

    ``startup`` says whether this code runs at import (a module body, or a
    class body reached from module and class bodies only): its probes then
    record into the start-up collector. A function's never do, nor does
    anything nested in a function. ``on_copy(original, probed)`` is told of
    each copy made, nested ones first.
    """
    return _insert(code, make_probe, startup, on_copy)


def _insert(
    code: CodeType,
    make_probe: ProbeFactory,
    startup: bool,
    on_copy: Optional[Callable[[CodeType, CodeType], None]],
) -> CodeType:
    consts = list(code.co_consts)
    for index, const in enumerate(consts):
        if isinstance(const, CodeType):
            nested_startup = startup and not (const.co_flags & _CO_OPTIMIZED)
            consts[index] = _insert(const, make_probe, nested_startup, on_copy)
    result = _with_probes(code, consts, make_probe, startup)
    if on_copy is not None and result is not code:
        on_copy(code, result)
    return result


def _with_probes(code: CodeType, consts: List[object], make_probe: ProbeFactory, startup: bool) -> CodeType:
    instrs = _plan(code, _decode(code))
    probes: Dict[int, int] = {}  # line -> index in co_consts
    filename = code.co_filename
    for instr in instrs:
        if instr.probe is not None and instr.probe not in probes:
            probes[instr.probe] = len(consts)
            consts.append(make_probe(filename, instr.probe, startup))
    if not probes:
        nested_changed = any(new is not old for new, old in zip(consts, code.co_consts))
        return code.replace(co_consts=tuple(consts)) if nested_changed else code

    if _V >= (3, 11):
        positions = list(code.co_positions())
        for instr in instrs:
            instr.position = positions[instr.offset // 2]
    else:
        lines = _unit_lines(code)
        for instr in instrs:
            instr.position = (lines[instr.offset // 2], None, None, None)

    for instr in instrs:
        instr.ext = _ext_needed(instr.arg)
    while True:
        offset = 0
        for instr in instrs:
            instr.new_start = offset
            if instr.probe is not None:
                offset += 2 * (_PROBE_UNITS + _ext_needed(probes[instr.probe]))
            instr.new_offset = offset + 2 * instr.ext
            offset = instr.new_offset + 2 + 2 * _CACHES[instr.op]
        changed = False
        for instr in instrs:
            if instr.target is None:
                continue
            instr.arg = _new_jump_arg(instr, instrs[instr.target].new_start)
            needed = _ext_needed(instr.arg)
            if needed > instr.ext:
                instr.ext = needed
                changed = True
        if not changed:
            break

    out = bytearray()
    unit_positions: List[Position] = []

    def emit(op: int, arg: int, position: Position, ext: int = 0) -> None:
        for shift in range(ext, 0, -1):
            out.extend((_EXTENDED_ARG, (arg >> (8 * shift)) & 0xFF))
            unit_positions.append(position)
        out.extend((op, arg & 0xFF))
        unit_positions.append(position)
        for _ in range(_CACHES[op]):
            out.extend((0, 0))
            unit_positions.append(position)

    for instr in instrs:
        if instr.probe is not None:
            const = probes[instr.probe]
            ext = _ext_needed(const)
            if _V >= (3, 11):
                emit(_OP["PUSH_NULL"], 0, instr.position)
                emit(_OP["LOAD_CONST"], const, instr.position, ext)
                emit(_OP["PRECALL"], 0, instr.position)
                emit(_OP["CALL"], 0, instr.position)
            else:
                emit(_OP["LOAD_CONST"], const, instr.position, ext)
                emit(_OP["CALL_FUNCTION"], 0, instr.position)
            emit(_OP["POP_TOP"], 0, instr.position)
        emit(instr.op, instr.arg, instr.position, instr.ext)

    changes: dict = {
        "co_code": bytes(out),
        "co_consts": tuple(consts),
        "co_stacksize": code.co_stacksize + 2,
    }
    if _V >= (3, 11):
        changes["co_linetable"] = _positions_table(unit_positions, code.co_firstlineno)
        changes["co_exceptiontable"] = _exception_table(code, instrs, len(out))
    elif _V >= (3, 10):
        changes["co_linetable"] = _linetable_310([p[0] for p in unit_positions], code.co_firstlineno)
    else:
        changes["co_lnotab"] = _lnotab_39([p[0] for p in unit_positions], code.co_firstlineno)
    return code.replace(**changes)


def _new_jump_arg(instr: _Instr, target: int) -> int:
    after = instr.new_offset + 2 + 2 * _CACHES[instr.op]
    if instr.op in _JREL:
        if _V >= (3, 11):
            return (after - target) // 2 if instr.op in _BACKWARD else (target - after) // 2
        return (target - after) // 2 if _V >= (3, 10) else target - after
    return target // 2 if _V >= (3, 10) else target


def _exception_table(code: CodeType, instrs: List[_Instr], size: int) -> bytes:
    by_offset: Dict[int, int] = {}
    for index, instr in enumerate(instrs):
        by_offset[instr.start] = index
        by_offset[instr.offset] = index

    def new(offset: int) -> int:
        if offset >= len(code.co_code):
            return size
        return instrs[by_offset[offset]].new_start

    out = bytearray()
    for start, end, target, depth, lasti in _parse_exception_table(code):
        new_start, new_end = new(start), new(end)
        _emit_exception_item(out, new_start // 2, 128)
        _emit_exception_item(out, (new_end - new_start) // 2, 0)
        _emit_exception_item(out, new(target) // 2, 0)
        _emit_exception_item(out, (depth << 1) | int(lasti), 0)
    return bytes(out)
