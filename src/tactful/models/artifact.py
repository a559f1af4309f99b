"""Versioned model artifact: named numpy arrays in ``.npz`` plus a JSON manifest, no pickle."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tactful.errors import Conflict, NotFound, ValidationError

FORMAT = "tactful-model/1"
ARRAYS_FILE = "arrays.npz"
MANIFEST_FILE = "manifest.json"


def new_version_id() -> str:
    """Sortable version id: UTC timestamp plus a random suffix."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


@dataclass
class ModelArtifact:
    """Item ids, the arrays of every component, and training metadata.

    No per-person state is stored: people are folded in at request time, so erasing a
    person never requires editing an artifact (only retraining without their events).
    """

    item_ids: npt.NDArray[np.str_]
    arrays: dict[str, npt.NDArray[Any]]
    params: dict[str, Any]
    train_seconds: float = 0.0
    version: str = field(default_factory=new_version_id)
    created_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "created_at": self.created_at,
            "train_seconds": self.train_seconds,
            "n_items": self.n_items,
            "params": self.params,
            "extra": self.extra,
            "arrays": {k: [str(v.dtype), list(v.shape)] for k, v in self.arrays.items()},
        }

    def encode(self) -> tuple[bytes, bytes]:
        """The artifact as its two files' bytes: ``arrays.npz`` and ``manifest.json``."""
        buffer = io.BytesIO()
        arrays = {"item_ids": np.asarray(self.item_ids, dtype=np.str_), **self.arrays}
        np.savez(buffer, allow_pickle=False, **arrays)
        data = buffer.getvalue()
        manifest = self.manifest()
        manifest["sha256"] = hashlib.sha256(data).hexdigest()
        return data, json.dumps(manifest, indent=2, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes, manifest_bytes: bytes, where: str = "artifact") -> ModelArtifact:
        """Rebuild an artifact from its files' bytes, verifying format and checksum."""
        manifest = json.loads(manifest_bytes)
        if manifest.get("format") != FORMAT:
            raise ValidationError(f"unknown artifact format {manifest.get('format')!r}")
        if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
            raise ValidationError(f"artifact {where} is corrupt (checksum mismatch)")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        item_ids = arrays.pop("item_ids")
        return cls(
            item_ids=item_ids,
            arrays=arrays,
            params=manifest["params"],
            train_seconds=float(manifest["train_seconds"]),
            version=str(manifest["version"]),
            created_at=float(manifest["created_at"]),
            extra=dict(manifest.get("extra", {})),
        )

    def save(self, directory: str | Path) -> Path:
        """Write to a temporary sibling folder, then rename it into place atomically."""
        target = Path(directory)
        if target.exists():
            raise Conflict(f"{target} already exists", field="directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            data, manifest = self.encode()
            for name, content in ((ARRAYS_FILE, data), (MANIFEST_FILE, manifest)):
                with (staging / name).open("wb") as fh:
                    fh.write(content)
                    fh.flush()
                    os.fsync(fh.fileno())
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | Path) -> ModelArtifact:
        """Read an artifact written by :meth:`save`, verifying its checksum."""
        root = Path(directory)
        manifest_path = root / MANIFEST_FILE
        if not manifest_path.is_file():
            raise NotFound(f"no model artifact in {root}", field="directory")
        return cls.decode((root / ARRAYS_FILE).read_bytes(), manifest_path.read_bytes(), str(root))
