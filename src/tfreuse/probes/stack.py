"""Where in the user's code something happened: the call stack with library frames left out.

TensorFlow's, Keras' and tfreuse's own frames say nothing a user can act on (the line that made a
variable is always `add_weight` in Keras); the standard library's and pytest's frames neither.
What is left is the user's code: a script, a test, a benchmark module.
"""

from __future__ import annotations

import dataclasses
import linecache
import sys
import sysconfig
from pathlib import Path
from types import FrameType

import tfreuse


def _package_folder(name: str) -> str | None:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    return str(Path(file).resolve().parent) if file else None


_LIBRARIES = ("tensorflow", "keras", "tf_keras", "_pytest", "pluggy", "pytest", "absl")
_PREFIXES: dict[tuple[bool, ...], tuple[str, ...]] = {}


def _library_prefixes() -> tuple[str, ...]:
    """Folders whose frames are not the user's: TF, Keras, tfreuse, the standard library, pytest."""
    loaded = tuple(name in sys.modules for name in _LIBRARIES)
    if loaded not in _PREFIXES:
        _PREFIXES[loaded] = _find_library_prefixes()
    return _PREFIXES[loaded]


def _find_library_prefixes() -> tuple[str, ...]:
    folders = {str(Path(tfreuse.__file__).resolve().parent)}
    for name in _LIBRARIES:
        folder = _package_folder(name)
        if folder:
            folders.add(folder)
    for key in ("stdlib", "platstdlib"):
        folders.add(str(Path(sysconfig.get_paths()[key]).resolve()))
    return tuple(sorted(folder + "/" for folder in folders))


@dataclasses.dataclass(frozen=True)
class SourceLine:
    """One frame of user code: file, line, function and the line's text."""

    file: str
    line: int
    function: str
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}: {self.text}"

    def noted(self, note: str) -> str:
        """As `str()`, with `(note)` after the function: `f.py:3 in step (Dense constructed here): ...`."""
        return f"{self.file}:{self.line} in {self.function} ({note}): {self.text}"

    @property
    def location(self) -> str:
        """`file:line`, the form editors and terminals open."""
        return f"{self.file}:{self.line}"


_RESOLVED: dict[str, str] = {}


def _resolved(filename: str) -> str:
    if filename not in _RESOLVED:
        _RESOLVED[filename] = str(Path(filename).resolve()) if not filename.startswith("<") else filename
    return _RESOLVED[filename]


def is_library(filename: str, prefixes: tuple[str, ...] | None = None) -> bool:
    """True for a frame of TensorFlow, Keras, tfreuse, the standard library or pytest."""
    path = _resolved(filename)
    # Frozen modules, `<string>` and the like: import machinery, not user code.
    return path.startswith("<frozen") or path.startswith(prefixes or _library_prefixes())


AUTOGRAPH_FILES = "__autograph_generated_file"


def _autograph_origin(frame: FrameType) -> SourceLine | None:
    """The user's line behind a frame of AutoGraph's generated code, from its source map.

    AutoGraph rewrites a tf.function's body into a temporary file; the converted function carries
    `ag_source_map` (generated line -> original line), which TensorFlow's own error messages use.
    The converted function is a local of one of the next few (AutoGraph) frames outwards.
    """
    key = (frame.f_code.co_filename, frame.f_lineno)
    outer = frame.f_back
    for _ in range(4):
        if outer is None:
            return None
        for value in list(outer.f_locals.values()):
            origin = getattr(value, "ag_source_map", {}).get(key) if hasattr(value, "ag_source_map") else None
            if origin is not None:
                return SourceLine(_resolved(origin.loc.filename), origin.loc.lineno,
                                  origin.function_name, (origin.source_code_line or "").strip())
        outer = outer.f_back
    return None


def user_frames(frame: FrameType | None, limit: int = 3) -> tuple[SourceLine, ...]:
    """The innermost `limit` user frames from `frame` outwards (innermost first).

    A frame of AutoGraph's generated code is replaced by the user's line it was generated from.
    """
    prefixes = _library_prefixes()
    found = []
    while frame is not None and len(found) < limit:
        code = frame.f_code
        if AUTOGRAPH_FILES in code.co_filename:
            origin = _autograph_origin(frame)
            if origin is not None and not is_library(origin.file, prefixes):
                found.append(origin)
        elif not is_library(code.co_filename, prefixes):
            text = linecache.getline(code.co_filename, frame.f_lineno).strip()
            found.append(SourceLine(_resolved(code.co_filename), frame.f_lineno, code.co_name, text))
        frame = frame.f_back
    return tuple(found)


def caller_frames(limit: int = 3) -> tuple[SourceLine, ...]:
    """The user frames of the current call stack (innermost first)."""
    return user_frames(sys._getframe(1), limit)


def definition_site(function) -> SourceLine | None:
    """Where a Python function was defined (its `def` line), unwrapping decorators."""
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    code = getattr(function, "__code__", None) or getattr(getattr(function, "__func__", None), "__code__", None)
    if code is None:
        return None
    text = linecache.getline(code.co_filename, code.co_firstlineno).strip()
    return SourceLine(_resolved(code.co_filename), code.co_firstlineno, code.co_name, text)
