"""A restricted unpickler for the official CIFAR python-version files.

The project never unpickles artifacts. The official CIFAR "python version" is,
however, only distributed as pickles, so those (and only those) are read with an
unpickler whose ``find_class`` allow-lists exactly what an ndarray of the official
format needs: ``numpy.core.multiarray._reconstruct`` (also spelled
``numpy._core.multiarray._reconstruct`` by numpy >= 2), ``numpy.ndarray`` and
``numpy.dtype``. Plain dicts, lists, bytes, str and ints need no globals. Any other
global (``os.system``, ``builtins.eval``, ...) raises :class:`pickle.UnpicklingError`
before it can be called. Prefer the CIFAR binary version, which needs no unpickling.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name}: only {allowed} are allowed"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id in pickle")


def restricted_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (py2 strings decoded as latin-1)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{source}: {e}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise pickle.UnpicklingError(f"{source}: malformed pickle ({type(e).__name__}: {e})") from e


def restricted_load(path: str | os.PathLike[str]) -> Any:
    with open(path, "rb") as f:
        return restricted_loads(f.read(), str(path))
