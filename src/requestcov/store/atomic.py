"""Write an output file so that readers see the old file or the new one, never half.

Exports can be large and interrupted (Ctrl-C, a full disk); writing beside the
destination and renaming into place keeps whatever was there intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, TextIO

__all__ = ["atomic_text_output"]


@contextlib.contextmanager
def atomic_text_output(path: "str | os.PathLike[str]") -> Iterator[TextIO]:
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}-", suffix=".tmp", dir=destination.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as output:
            yield output
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
