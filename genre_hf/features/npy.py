""".npy files written a chunk of rows at a time and read a range of rows at a time.

Nothing here maps a file into memory: rows are read with ordinary file reads, which go through the
page cache, so a process's resident memory stays flat however large the files are.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


class NpyWriter:
    """A .npy file appended to a chunk of rows at a time; the header gets the final row count on close.

    numpy pads a header so its length does not depend on the first dimension (it leaves room for
    21 digits), so rewriting it in place never moves the data.
    """

    def __init__(self, path: Path, row_shape: tuple, dtype):
        self.path, self.row_shape = Path(path), tuple(row_shape)
        self.dtype = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
        self.rows = 0
        self.handle = open(self.path, "wb")
        self.offset = self._write_header()

    def _write_header(self) -> int:
        self.handle.seek(0)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.rows, *self.row_shape)}
        np.lib.format.write_array_header_1_0(self.handle, header)
        return self.handle.tell()

    def append(self, rows: np.ndarray) -> None:
        if tuple(rows.shape[1:]) != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape[1:]}, expected {self.row_shape}")
        np.ascontiguousarray(rows, dtype=self.dtype).tofile(self.handle)
        self.rows += len(rows)

    def close(self) -> None:
        end = self.handle.tell()
        if self._write_header() != self.offset:  # cannot happen with numpy's padded headers; never write garbage
            raise RuntimeError(f"{self.path.name}: the .npy header changed length")
        self.handle.seek(end)
        self.handle.close()


class NpyArray:
    """A read-only .npy file on disk that reads only the rows asked for, with file reads (never a
    memory map: mapped pages would count as the process's memory). Slices, integers, iteration
    (a chunk of rows read at a time) and `np.asarray` (everything) work as on an array."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, self.dtype = read_header(handle)
            self.offset = handle.tell()
        if fortran_order or not shape:
            raise ValueError(f"{self.path} is not a C-ordered array of rows")
        self.shape = tuple(shape)
        self.row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        self.file_bytes = self.path.stat().st_size
        if self.file_bytes != self.offset + self.shape[0] * self.row_bytes:
            raise ValueError(f"{self.path} is truncated or damaged: {self.file_bytes:,} bytes for shape {self.shape}")

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, start), min(len(self), stop)
        count = max(0, stop - start)
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + start * self.row_bytes)
            rows = np.fromfile(handle, dtype=self.dtype, count=count * math.prod(self.shape[1:]))
        return rows.reshape((count, *self.shape[1:]))

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            index = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"row {key} of {len(self)}")
            return self.read(index, index + 1)[0]
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(len(self))
            return self.read(start, stop)
        raise TypeError(f"NpyArray reads integer rows and contiguous slices, not {key!r}")

    def __iter__(self):
        for start in range(0, len(self), 4096):
            yield from self.read(start, start + 4096)

    def __array__(self, dtype=None, copy=None):
        rows = self.read(0, len(self))
        return rows if dtype is None else rows.astype(dtype)
