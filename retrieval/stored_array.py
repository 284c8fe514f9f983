"""Arrays and byte blobs on disk read a piece at a time, for what a question picks a few pieces of.

Memory-mapping such a file costs more than it seems: every page fault maps the 64 KB around it, so a few hundred
questions picking sentences all over a million-sentence archive leave the whole file resident in the process.
Reading the pieces (pread) keeps in memory only what is read, while it is used; the kernel still caches the file."""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import overload

import numpy as np


class StoredBytes:
    """A file read by byte ranges."""

    def __init__(self, path: Path) -> None:
        self.size = path.stat().st_size
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def read(self, start: int, stop: int) -> bytes:
        """Bytes start .. stop - 1; raises OSError when the file is shorter."""
        data = os.pread(self._fd, stop - start, start) if stop > start else b""
        if len(data) != max(stop - start, 0):
            raise OSError(f"short read: bytes {start}..{stop} of a file of {self.size}")
        return data


class StoredArray:
    """A one-dimensional array in a .npy file, read by slices (what an engine or the index reads of it)."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f"{path}: unsupported .npy version {version}")
            offset = handle.tell()
        if len(shape) != 1 or dtype.hasobject:
            raise ValueError(f"{path} does not hold a one-dimensional array of numbers")
        self.dtype = dtype
        self.shape: tuple[int, ...] = shape
        self.ndim = 1
        self._offset = offset
        self._bytes = StoredBytes(path)
        if offset + shape[0] * dtype.itemsize != self._bytes.size:
            raise ValueError(f"{path} is not as long as its header says")

    def __len__(self) -> int:
        return self.shape[0]

    @overload
    def __getitem__(self, key: int) -> np.generic: ...

    @overload
    def __getitem__(self, key: slice) -> np.ndarray: ...

    def __getitem__(self, key: int | slice) -> np.generic | np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise IndexError("only contiguous slices can be read")
            return self._read(start, max(start, stop))
        position = int(key) + (len(self) if key < 0 else 0)
        if not 0 <= position < len(self):
            raise IndexError(f"index {key} of an array of {len(self)}")
        found: np.generic = self._read(position, position + 1)[0]
        return found

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The elements at `positions`: one read of their span when it is dense, else one read each."""
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return np.empty(0, dtype=self.dtype)
        first, last = int(positions.min()), int(positions.max())
        if last - first < 4 * len(positions) + 512:
            return self._read(first, last + 1)[positions - first]
        return np.array([self[position] for position in positions.tolist()], dtype=self.dtype)

    def _read(self, start: int, stop: int) -> np.ndarray:
        size = self.dtype.itemsize
        data = self._bytes.read(self._offset + start * size, self._offset + stop * size)
        return np.frombuffer(data, dtype=self.dtype)
