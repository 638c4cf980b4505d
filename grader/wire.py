"""Plain data between processes: a JSON tree plus raw array buffers, never pickle.

Layout of an encoded message::

    b"NNW1" | json_len: u64 LE | buf_len: u64 LE | JSON (ASCII) | buffers

The JSON tree uses JSON null/true/false/numbers/strings/arrays for None, bool,
int, float (NaN and +-Infinity as Python's json writes them), str and list.
Every JSON object is a tagged node with exactly one key:

    {"t": [...]}                      tuple
    {"d": {...}}                      dict (str keys only)
    {"a": [dtype, shape, off, len]}   ndarray; raw C-order bytes at buffers[off:off+len]
    {"s": [dtype, off, len]}          numpy scalar (np.float64, np.bool_, ...)
    {"u": "type name"}                something that is not plain data -> Unsupported

Encoding never calls methods of unknown classes: exact type checks only, and
ndarray subclasses are copied into a base ndarray through numpy's C code.
Anything else becomes an ``Unsupported(type_name)`` marker.  Decoding validates
everything and raises ``WireError`` (a ValueError) on malformed input.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

__all__ = ["encode", "decode", "plain", "Unsupported", "WireError", "TooLarge",
           "MAX_BYTES", "MAX_DEPTH"]

MAGIC = b"NNW1"
_HEADER = struct.Struct("<4sQQ")
MAX_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 32
_MAX_INT_BITS = 14000          # str(int) is limited to 4300 digits by CPython

# Allowed dtypes, as stored (little-endian or byte-order free).
_DTYPES = {"|b1", "|i1", "|u1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8",
           "<f2", "<f4", "<f8", "<c8", "<c16"}
_DTYPE_OBJ = {s: np.dtype(s) for s in _DTYPES}
# Exact numpy scalar types of those dtypes (np.longlong and np.int64 are distinct types).
_SCALAR_TYPES = frozenset(np.dtype(c).type for c in "?bBhHiIlLqQefdFD"
                          if np.dtype(c).newbyteorder("<").str in _DTYPES)

# References taken at import time (best effort against monkeypatching in a child).
_np_array = np.array
_np_frombuffer = np.frombuffer
_ndarray = np.ndarray
_nbytes = np.ndarray.nbytes.__get__
_type_name_get = type.__dict__["__name__"].__get__
_json_dumps = json.dumps
_json_loads = json.loads


class WireError(ValueError):
    """Malformed or unacceptable wire data."""


class TooLarge(WireError):
    """The message exceeds max_bytes."""


@dataclass(frozen=True)
class Unsupported:
    """Stands for a value that is not plain data (function, set, object array...)."""
    type_name: str

    def __str__(self) -> str:
        return f"<unsupported {self.type_name}>"


def _tname(obj) -> str:
    try:
        name = _type_name_get(type(obj))
        return name if type(name) is str else "object"
    except Exception:
        return "object"


class _Encoder:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bufs: list[bytes] = []
        self.buf_size = 0      # bytes in bufs
        self.size = 0          # bufs + string lengths: an early estimate of the total
        self.active: set[int] = set()

    def _add(self, raw: bytes) -> tuple[int, int]:
        off = self.buf_size
        self.buf_size += len(raw)
        self.size += len(raw)
        if self.size > self.max_bytes:
            raise TooLarge(f"more than {self.max_bytes} bytes")
        self.bufs.append(raw)
        return off, len(raw)

    def _array(self, x):
        if _nbytes(x) > self.max_bytes - self.size:
            raise TooLarge(f"more than {self.max_bytes} bytes")
        # exact ndarray: tobytes() copies in C order itself; a subclass is first
        # copied into a base ndarray by numpy's C code (no subclass methods run)
        a = x if type(x) is _ndarray else _np_array(x, copy=True, subok=False, order="C")
        dt = a.dtype
        s = dt.str
        if s not in _DTYPES and dt.byteorder == ">":
            le = dt.newbyteorder("<")
            if le.str in _DTYPES:
                a = a.astype(le)
                s = le.str
        if s not in _DTYPES or dt.fields is not None:
            return {"u": f"ndarray[{s}]"}
        off, n = self._add(a.tobytes())
        return {"a": [s, list(a.shape), off, n]}

    def node(self, x, depth: int):
        t = type(x)
        if t is str:
            self.size += len(x)            # JSON text is at least as long
            if self.size > self.max_bytes:
                raise TooLarge(f"more than {self.max_bytes} bytes")
            return x
        if x is None or t is bool:
            return x
        if t is int:
            if x.bit_length() > _MAX_INT_BITS:
                return {"u": "int (too large)"}
            return x
        if t is float:
            return x
        if t in _SCALAR_TYPES:
            a = _np_array(x)                   # exact numpy scalar: numpy's own code
            s = a.dtype.str
            if s not in _DTYPES:
                a = a.astype(a.dtype.newbyteorder("<"))
                s = a.dtype.str
            off, n = self._add(a.tobytes())
            return {"s": [s, off, n]}
        if issubclass(t, _ndarray):          # type.__subclasscheck__: no user code
            try:
                return self._array(x)
            except TooLarge:
                raise
            except Exception as e:
                return {"u": f"ndarray ({_tname(e)})"}
        if t is list or t is tuple or t is dict:
            if depth >= MAX_DEPTH:
                return {"u": "too deep"}
            if id(x) in self.active:
                return {"u": f"recursive {t.__name__}"}
            self.active.add(id(x))
            try:
                if t is dict:
                    out = {}
                    for k, v in list(x.items()):
                        if type(k) is not str:
                            return {"u": "dict with non-str keys"}
                        out[k] = self.node(v, depth + 1)
                    return {"d": out}
                items = [self.node(v, depth + 1) for v in list(x)]
                return items if t is list else {"t": items}
            finally:
                self.active.discard(id(x))
        return {"u": _tname(x)}


def encode(obj, max_bytes: int = MAX_BYTES) -> bytes:
    """Encode plain data; non-plain parts become Unsupported markers. Raises TooLarge."""
    enc = _Encoder(max_bytes)
    try:
        tree = enc.node(obj, 0)
    except TooLarge:
        raise
    except Exception as e:                     # hostile container mutated under us, ...
        enc = _Encoder(max_bytes)
        tree = {"u": f"{_tname(obj)} ({_tname(e)} while encoding)"}
    try:
        text = _json_dumps(tree, ensure_ascii=True, allow_nan=True,
                           separators=(",", ":")).encode("ascii")
    except Exception as e:                     # should not happen; stay total
        enc = _Encoder(max_bytes)
        text = _json_dumps({"u": f"{_tname(obj)} ({_tname(e)} while encoding)"}).encode()
    total = _HEADER.size + len(text) + enc.buf_size
    if total > max_bytes:
        raise TooLarge(f"{total} bytes > {max_bytes}")
    return b"".join([_HEADER.pack(MAGIC, len(text), enc.buf_size), text, *enc.bufs])


class _Decoder:
    def __init__(self, buf: memoryview):
        self.buf = buf

    def _slice(self, off, n) -> memoryview:
        if (type(off) is not int or type(n) is not int or off < 0 or n < 0
                or off + n > len(self.buf)):
            raise WireError("buffer reference out of range")
        return self.buf[off:off + n]

    @staticmethod
    def _dtype(s):
        if type(s) is not str or s not in _DTYPES:
            raise WireError(f"dtype not allowed: {s!r:.40}")
        return _DTYPE_OBJ[s]

    def node(self, x, depth: int):
        t = type(x)
        if x is None or t is bool or t is int or t is float or t is str:
            return x
        if depth >= MAX_DEPTH + 1:
            raise WireError("nesting too deep")
        if t is list:
            return [self.node(v, depth + 1) for v in x]
        if t is not dict or len(x) != 1:
            raise WireError("bad node")
        (tag, v), = x.items()
        if tag == "t" and type(v) is list:
            return tuple(self.node(e, depth + 1) for e in v)
        if tag == "d" and type(v) is dict:
            return {k: self.node(e, depth + 1) for k, e in v.items()}
        if tag == "u" and type(v) is str:
            return Unsupported(v)
        if tag == "a" and type(v) is list and len(v) == 4:
            dt = self._dtype(v[0])
            shape = v[1]
            if (type(shape) is not list or len(shape) > 64
                    or any(type(d) is not int or d < 0 for d in shape)):
                raise WireError("bad shape")
            mv = self._slice(v[2], v[3])
            if math.prod(shape) * dt.itemsize != len(mv):
                raise WireError("array size does not match its shape")
            return _np_frombuffer(mv, dtype=dt).reshape(shape).copy()
        if tag == "s" and type(v) is list and len(v) == 3:
            dt = self._dtype(v[0])
            mv = self._slice(v[1], v[2])
            if len(mv) != dt.itemsize:
                raise WireError("scalar size does not match its dtype")
            return _np_frombuffer(mv, dtype=dt)[0]
        raise WireError("bad node")


def _no_constant(name):
    if name in ("NaN", "Infinity", "-Infinity"):
        return float(name.replace("Infinity", "inf"))
    raise WireError("bad constant")


def decode(data, max_bytes: int = MAX_BYTES):
    """Decode and validate; raises WireError (or TooLarge) on anything malformed."""
    try:
        mv = memoryview(data).cast("B")
    except Exception:
        raise WireError("not a bytes-like object") from None
    if len(mv) > max_bytes:
        raise TooLarge(f"{len(mv)} bytes > {max_bytes}")
    if len(mv) < _HEADER.size:
        raise WireError("truncated header")
    magic, jlen, blen = _HEADER.unpack_from(mv, 0)
    if magic != MAGIC:
        raise WireError("bad magic")
    if _HEADER.size + jlen + blen != len(mv):
        raise WireError("length mismatch (truncated or trailing data)")
    try:
        text = bytes(mv[_HEADER.size:_HEADER.size + jlen]).decode("ascii")
        tree = _json_loads(text, parse_constant=_no_constant)
        return _Decoder(mv[_HEADER.size + jlen:]).node(tree, 0)
    except WireError:
        raise
    except Exception as e:
        raise WireError(f"malformed data ({type(e).__name__})") from None


def plain(obj, max_bytes: int = MAX_BYTES):
    """obj exactly as it would look after crossing a process boundary."""
    return decode(encode(obj, max_bytes), max_bytes)
