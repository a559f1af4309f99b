"""Erasing a person from saved model artifacts under ``settings.model_dir``.

The contract with model code (``tactful.models.artifact``): per-person data in an artifact's
``arrays.npz`` lives only in arrays whose name starts with ``user_``, aligned row for row
with a string array ``user_ids``. Erasure drops the person's row from every such array,
rewrites the file atomically and refreshes the ``sha256`` in a ``manifest.json`` beside it.
The default recommender keeps no per-person arrays (people are folded in at request time),
so for it this finds nothing to change; :func:`files_mentioning` verifies that.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

USER_IDS = "user_ids"
USER_PREFIX = "user_"
MANIFEST = "manifest.json"


def _load(path: Path) -> dict[str, npt.NDArray[Any]]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _write_npz(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _refresh_manifest(npz: Path) -> None:
    manifest = npz.parent / MANIFEST
    if not manifest.is_file():
        return
    data = json.loads(manifest.read_text())
    if not isinstance(data, dict) or "sha256" not in data:
        return
    sha = hashlib.sha256(npz.read_bytes()).hexdigest()
    data["sha256"] = sha
    arrays = data.get("arrays")
    if isinstance(arrays, dict):
        for name, arr in _load(npz).items():
            if name in arrays:
                arrays[name] = [str(arr.dtype), list(arr.shape)]
    tmp = manifest.with_name(f".{manifest.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, manifest)


def scrub_person(model_dir: Path, user_id: str) -> list[Path]:
    """Remove the person's rows from every artifact under ``model_dir``; the files rewritten."""
    if not model_dir.is_dir():
        return []
    changed: list[Path] = []
    for npz in sorted(model_dir.rglob("*.npz")):
        arrays = _load(npz)
        ids = arrays.get(USER_IDS)
        if ids is None or ids.dtype.kind not in "US":
            continue
        keep = ids != (user_id if ids.dtype.kind == "U" else user_id.encode())
        if bool(keep.all()):
            continue
        n = len(ids)
        for name, arr in arrays.items():
            if name.startswith(USER_PREFIX) and arr.ndim >= 1 and arr.shape[0] == n:
                arrays[name] = arr[keep]
        _write_npz(npz, arrays)
        _refresh_manifest(npz)
        changed.append(npz)
    return changed


def files_mentioning(model_dir: Path, user_id: str) -> list[Path]:
    """Files under ``model_dir`` that still hold the id: in a string array of an ``.npz``, or
    anywhere in any other file (as UTF-8 or as numpy's UTF-32 strings)."""
    if not model_dir.is_dir():
        return []
    found: list[Path] = []
    needle = user_id.encode()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        if path.suffix == ".npz":
            for arr in _load(path).values():
                if arr.dtype.kind == "U" and bool((arr == user_id).any()):
                    found.append(path)
                    break
                if arr.dtype.kind == "S" and bool((arr == needle).any()):
                    found.append(path)
                    break
        else:
            raw = path.read_bytes()
            if needle in raw or user_id.encode("utf-32-le") in raw:
                found.append(path)
    return found
