"""grader.wire: plain data between processes (JSON + raw buffers, never pickle)."""
import math
import struct

import numpy as np
import pytest

from grader import wire
from grader.wire import TooLarge, Unsupported, WireError, decode, encode, plain

ALL_DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8",
              "f2", "f4", "f8", "c8", "c16"]


def same_array(a, b):
    assert type(b) is np.ndarray
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == np.ascontiguousarray(b).tobytes() or np.array_equal(a, b, equal_nan=True)
    assert b.flags.writeable and b.flags.owndata and b.flags.c_contiguous


@pytest.mark.parametrize("value", [
    None, True, False, 0, -1, 2**63 - 1, 2**64 + 5, -(2**100), 0.0, -0.0, 1.5, 1e-310,
    1e308, "", "héllo \u2603 \U0001F600", "\ud800 lone surrogate", "a\x00b",
    [], (), {}, [1, [2, [3, (4, 5)]]], {"a": 1, "b": [1.0, None], "c": {"d": (True,)}},
    ((),), ([],), {"": ()},
])
def test_round_trip_python(value):
    out = plain(value)
    assert out == value and type(out) is type(value)
    if type(value) is float:
        assert math.copysign(1, out) == math.copysign(1, value)


def test_nested_types_preserved():
    v = {"t": (1, [2, (3,)]), "l": [(), {}]}
    out = plain(v)
    assert type(out["t"]) is tuple and type(out["t"][1]) is list and type(out["t"][1][1]) is tuple
    assert type(out["l"][0]) is tuple and type(out["l"][1]) is dict


def test_nan_inf():
    out = plain([float("nan"), float("inf"), float("-inf")])
    assert math.isnan(out[0]) and out[1] == math.inf and out[2] == -math.inf
    a = np.array([np.nan, np.inf, -np.inf, 1.0])
    b = plain(a)
    assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_array_dtypes(dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4)) * 50).astype(dtype)
    b = plain(a)
    same_array(a, b)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_numpy_scalars(dtype):
    s = np.zeros(1, dtype=dtype)[0] + np.ones(1, dtype=dtype)[0]
    out = plain(s)
    assert type(out) is type(s) and out.dtype == s.dtype and out == s
    assert out.shape == ()


def test_scalar_float64_and_nan():
    out = plain(np.float64("nan"))
    assert type(out) is np.float64 and np.isnan(out)
    assert type(plain(np.bool_(True))) is np.bool_
    out = plain(np.longlong(3))            # same dtype '<i8'; decodes as np.int64
    assert out.dtype == np.dtype("i8") and out == 3


def test_zero_d_and_empty_arrays():
    a = np.array(3.5)
    b = plain(a)
    assert type(b) is np.ndarray and b.shape == () and b == 3.5
    for shape in [(0,), (3, 0), (0, 0, 2)]:
        same_array(np.zeros(shape, "i4"), plain(np.zeros(shape, "i4")))


def test_non_contiguous_transposed_fortran():
    base = np.arange(24, dtype=float).reshape(4, 6)
    for a in [base.T, base[::2, ::-3], np.asfortranarray(base), base[:, 1]]:
        b = plain(a)
        same_array(np.ascontiguousarray(a), b)
        assert np.array_equal(a, b)


def test_big_endian_array_becomes_little_endian():
    a = np.arange(5, dtype=">i4")
    b = plain(a)
    assert b.dtype == np.dtype("<i4") and np.array_equal(a, b)


def test_decoded_array_is_a_copy():
    data = encode(np.arange(4))
    b = decode(data)
    b[0] = 99
    assert decode(data)[0] == 0


def test_ndarray_subclass_becomes_base_ndarray():
    class Hostile(np.ndarray):
        def __array__(self, *a, **k):
            raise RuntimeError("no")

        def __array_finalize__(self, obj):
            if obj is not None and getattr(self, "_armed", False):
                raise RuntimeError("no")

        @property
        def dtype(self):
            raise RuntimeError("no")

        def tobytes(self, *a, **k):
            raise RuntimeError("no")

    a = np.arange(6.0).reshape(2, 3).view(Hostile)
    b = plain(a)
    assert type(b) is np.ndarray and np.array_equal(b, np.arange(6.0).reshape(2, 3))
    m = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    assert type(plain(m)) is np.ndarray
    with pytest.warns(PendingDeprecationWarning):
        mat = np.matrix([[1, 2]])
    assert type(plain(mat)) is np.ndarray


def test_hostile_objects_are_unsupported():
    calls = []

    class ArrayLike:
        def __array__(self, *a, **k):
            calls.append("array")
            raise RuntimeError("boom")

        def __iter__(self):
            calls.append("iter")
            raise RuntimeError("boom")

        def __repr__(self):
            calls.append("repr")
            raise RuntimeError("boom")

        def __len__(self):
            calls.append("len")
            return 1

    class D(dict):
        def items(self):
            calls.append("items")
            raise RuntimeError("boom")

    class Meta(type):
        @property
        def __name__(cls):
            calls.append("name")
            raise RuntimeError("boom")

    class Weird(metaclass=Meta):
        pass

    class F(float):
        def __repr__(self):
            calls.append("repr")
            return "nope"

    recursive = [1]
    recursive.append(recursive)
    rdict = {}
    rdict["self"] = rdict
    out = plain([ArrayLike(), D(a=1), {1: 2}, {"a": 1, 2: 3}, {1, 2}, frozenset(),
                 lambda: 0, print, object(), Weird(), F(1.0), recursive, rdict,
                 np.array([1, "a"], dtype=object), np.array(["ab"]),
                 np.zeros(2, dtype=[("x", "f8")]), np.zeros(2, "M8[s]"), np.longdouble(1),
                 np.zeros(2, np.longdouble), 1j, b"bytes", bytearray(b"x"), range(3),
                 np.str_("s"), 2**20000, Ellipsis, NotImplemented, type])
    assert calls == []
    u = out
    assert [x.type_name for x in u[:3]] == ["ArrayLike", "D", "dict with non-str keys"]
    assert u[3] == Unsupported("dict with non-str keys")
    assert all(isinstance(x, Unsupported) for x in u[:11])
    assert u[11][0] == 1 and isinstance(u[11][1], Unsupported)
    assert isinstance(u[12]["self"], Unsupported)
    assert all(isinstance(x, Unsupported) for x in u[13:])
    assert u[13].type_name == "ndarray[|O]"


def test_depth_limit():
    v = 1
    for _ in range(100):
        v = [v]
    out = plain(v)
    depth = 0
    while type(out) is list:
        out, depth = out[0], depth + 1
    assert depth == wire.MAX_DEPTH and out == Unsupported("too deep")
    ok = 1
    for i in range(wire.MAX_DEPTH):
        ok = [ok] if i % 3 == 0 else (ok,) if i % 3 == 1 else {"k": ok}
    assert plain(ok) == ok


def test_too_large():
    with pytest.raises(TooLarge):
        encode(np.zeros(1000), max_bytes=4000)
    with pytest.raises(TooLarge):
        encode(["x" * 5000], max_bytes=4000)
    data = encode(np.zeros(1000))
    with pytest.raises(TooLarge):
        decode(data, max_bytes=4000)
    assert isinstance(TooLarge("x"), WireError) and isinstance(WireError("x"), ValueError)


def _frame(tree_json: bytes, bufs: bytes = b"") -> bytes:
    return struct.pack("<4sQQ", b"NNW1", len(tree_json), len(bufs)) + tree_json + bufs


@pytest.mark.parametrize("data", [
    b"", b"NNW1", b"garbage" * 10, _frame(b"{"), _frame(b"[1,2"), _frame(b'{"z":1}'),
    _frame(b'{"a":["|O",[1],0,8]}', b"\0" * 8),
    _frame(b'{"a":["O",[1],0,8]}', b"\0" * 8),
    _frame(b'{"a":["<f8",[2],0,8]}', b"\0" * 8),          # size mismatch
    _frame(b'{"a":["<f8",[1],4,8]}', b"\0" * 8),          # out of range
    _frame(b'{"a":["<f8",[-1],0,8]}', b"\0" * 8),
    _frame(b'{"a":["<f8",[1.5],0,8]}', b"\0" * 8),
    _frame(b'{"a":["<f8",[1],0]}', b"\0" * 8),
    _frame(b'{"s":["<f8",0,4]}', b"\0" * 8),
    _frame(b'{"s":["<U1",0,4]}', b"\0" * 4),
    _frame(b'{"d":[1]}'), _frame(b'{"t":{}}'), _frame(b'{"u":1}'), _frame(b'{"t":[],"d":{}}'),
    _frame(b"[" * 50 + b"]" * 50), _frame(b"[" * 100000 + b"]" * 100000),
    _frame(b"1" * 5000), _frame(b"\xff\xfe"), _frame(b"nan"), _frame(b"[1] trailing"),
])
def test_malformed_raises_wire_error(data):
    with pytest.raises(WireError):
        decode(data)


def test_truncated_and_random_bytes():
    good = encode({"x": np.arange(10.0), "y": [1, "two", (3.0,)]})
    for n in range(len(good)):
        with pytest.raises(WireError):
            decode(good[:n])
    with pytest.raises(WireError):
        decode(good + b"\0")
    rng = np.random.default_rng(1)
    for _ in range(300):
        junk = rng.integers(0, 256, rng.integers(0, 200), dtype=np.uint8).tobytes()
        with pytest.raises(WireError):
            decode(junk)
    # random corruption of a valid message: either decodes or raises WireError
    for _ in range(500):
        b = bytearray(good)
        i = int(rng.integers(0, len(b)))
        b[i] = int(rng.integers(0, 256))
        try:
            decode(bytes(b))
        except WireError:
            pass
    with pytest.raises(WireError):
        decode("not bytes")


def test_decode_accepts_memoryview_and_bytearray():
    data = encode([np.arange(3)])
    assert np.array_equal(decode(memoryview(data))[0], np.arange(3))
    assert np.array_equal(decode(bytearray(data))[0], np.arange(3))


def test_unsupported_round_trips():
    assert plain(Unsupported("function")) == Unsupported("Unsupported")
    assert plain({"u": 1}) == {"u": 1}                      # user dicts are not tags
    assert plain({"a": [1], "t": 2}) == {"a": [1], "t": 2}
