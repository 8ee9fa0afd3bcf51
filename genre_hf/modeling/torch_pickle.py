"""PyTorch's legacy (pre-zip) checkpoint format read without torch and without running the file's code.

A `.pth` file is a pickle, and unpickling runs whatever callable the pickle names, so `torch.load` of
a file from elsewhere is arbitrary code. This reader unpickles with a whitelist: an OrderedDict, the
tensor rebuild function and the storage types, each replaced by a stand-in that only records numbers;
any other global is refused. The file is checked against its sha256 before a byte of it is parsed,
and every tensor view is checked to lie inside its storage, so a crafted or damaged file is a
one-line ValueError naming it, never code run or memory read out of bounds.

The legacy layout (torch.serialization's `_legacy_save`): five pickles (a magic number, the protocol
version 1001, the machine's byte order, the object with storages as persistent ids, the storage keys
in order), then each storage's element count (int64) and raw bytes.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {  # torch.<name> -> numpy dtype (little-endian: the only byte order read)
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}
MAX_TENSORS = 100_000


class _StorageType(NamedTuple):  # what `torch.FloatStorage` etc. unpickle to: a name, not a callable
    dtype: str


class _Storage(NamedTuple):
    key: str
    dtype: str
    numel: int


class _TensorRef(NamedTuple):  # a tensor before its storage's bytes are read
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple


class _Refused(Exception):
    pass


def _rebuild_tensor(storage, offset, shape, stride, requires_grad=False, hooks=None, metadata=None):
    """Stands in for torch._utils._rebuild_tensor_v2: records where the tensor lies in its storage."""
    ints = (offset, *shape, *stride) if isinstance(shape, tuple) and isinstance(stride, tuple) else None
    if not isinstance(storage, _Storage) or ints is None or len(shape) != len(stride) or \
            not all(type(value) is int and value >= 0 for value in ints):
        raise _Refused("a tensor with a malformed storage, offset, shape or stride")
    return _TensorRef(storage, offset, shape, stride)


ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict, ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor}


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals of a state dict; storages (persistent ids) become `_Storage` records."""

    def __init__(self, handle):
        super().__init__(handle)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED:
            return ALLOWED[module, name]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise _Refused(f"it asks for {module[:60]}.{name[:60]}, and only tensors and an OrderedDict are read")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise _Refused(f"a persistent id that is not a storage ({str(pid)[:60]})")
        _, kind, key, _location, numel, view = pid
        if not isinstance(kind, _StorageType) or not isinstance(key, str) or type(numel) is not int or numel < 0 or view is not None:
            raise _Refused("a malformed storage record")
        storage = self.storages.setdefault(key, _Storage(key, kind.dtype, numel))
        if storage != (key, kind.dtype, numel):
            raise _Refused(f"storage {key[:20]} declared twice with different types or sizes")
        return storage


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_state_dict(path: str | Path, sha256: str) -> dict[str, np.ndarray]:
    """The tensors of a legacy PyTorch state dict, by name, as numpy arrays (in the file's order).

    `sha256` is the hash the file must have: any other file is refused before it is parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"the weights file {path} does not exist")
    found = file_sha256(path)
    if found != sha256:
        raise ValueError(f"the weights file {path} has sha256 {found[:16]}..., not the pinned {sha256[:16]}...: refused")
    data = path.read_bytes()
    try:
        return _parse(data)
    except _Refused as error:
        raise ValueError(f"the weights file {path} is refused: {error}") from None
    except (EOFError, pickle.UnpicklingError) as error:
        if isinstance(error, EOFError) or "truncated" in str(error):
            raise ValueError(f"the weights file {path} is truncated") from None
        raise ValueError(f"the weights file {path} is not a legacy PyTorch checkpoint ({str(error)[:80]})") from None
    except Exception as error:  # anything else a damaged pickle raises (TypeError, KeyError, IndexError...)
        raise ValueError(f"the weights file {path} is not a legacy PyTorch checkpoint ({type(error).__name__})") from None


def _parse(data: bytes) -> dict[str, np.ndarray]:
    if data[:4] == b"PK\x03\x04":
        raise _Refused("it is a zip-format checkpoint (torch >= 1.6's default); this reader reads the legacy format")
    handle = io.BytesIO(data)
    if _Unpickler(handle).load() != MAGIC_NUMBER:
        raise _Refused("it does not start with PyTorch's magic number")
    if _Unpickler(handle).load() != PROTOCOL_VERSION:
        raise _Refused(f"its protocol version is not {PROTOCOL_VERSION}")
    system = _Unpickler(handle).load()
    if not isinstance(system, dict) or system.get("little_endian") is not True:
        raise _Refused("it was written on a big-endian machine or says nothing of its byte order")
    unpickler = _Unpickler(handle)
    state = unpickler.load()
    if not isinstance(state, dict) or len(state) > MAX_TENSORS or \
            not all(isinstance(name, str) and isinstance(ref, _TensorRef) for name, ref in state.items()):
        raise _Refused("it holds something other than a state dict of named tensors")
    keys = _Unpickler(handle).load()
    if not isinstance(keys, list) or sorted(keys) != sorted(unpickler.storages):
        raise _Refused("its list of storages does not match the tensors")
    buffers = {}
    for key in keys:
        storage = unpickler.storages[key]
        count = np.frombuffer(handle.read(8), "<i8")
        itemsize = np.dtype(storage.dtype).itemsize
        if len(count) != 1 or len(raw := handle.read(storage.numel * itemsize)) != storage.numel * itemsize:
            raise EOFError
        if int(count[0]) != storage.numel:
            raise _Refused(f"storage {key[:20]} holds {int(count[0])} elements, not the {storage.numel} declared")
        buffers[key] = np.frombuffer(raw, storage.dtype)
    if handle.read(1):
        raise _Refused("it has data after its last storage")
    return {name: _materialize(name, ref, buffers[ref.storage.key]) for name, ref in state.items()}


def _materialize(name: str, ref: _TensorRef, storage: np.ndarray) -> np.ndarray:
    """The tensor's own copy, native byte order, after checking that its view lies inside the storage."""
    last = ref.offset + sum((size - 1) * stride for size, stride in zip(ref.shape, ref.stride) if size > 0)
    if any(size == 0 for size in ref.shape):
        return np.zeros(ref.shape, storage.dtype.newbyteorder("="))
    if last >= len(storage):
        raise _Refused(f"tensor {name[:60]} reaches past the end of its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset:], ref.shape, tuple(stride * storage.itemsize for stride in ref.stride), writeable=False
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="))
