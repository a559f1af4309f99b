"""Where model versions live: a local folder by default, any fsspec URL otherwise.

Several hosts (and a Spark cluster's driver) share one model store when it is an
S3-compatible bucket (``s3://bucket/tactful/models``, with the ``s3`` extra) or a shared
folder. The layout is the same everywhere::

    <root>/<version>/arrays.npz      named numpy arrays, no pickle
    <root>/<version>/manifest.json   format, params, sha256 of arrays.npz
    <root>/CURRENT                   the published version's name

Writing is ordered so a reader never sees half a model: a version's arrays, then its
manifest, then ``CURRENT``. On a local folder the version is staged in a hidden sibling and
renamed into place, and ``CURRENT`` is replaced by a rename; on an object store each file
is one whole-object write, and only a version named by ``CURRENT`` is ever read.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from pathlib import Path
from typing import Any

from tactful.errors import ConfigurationError, Conflict, MissingExtra, NotFound
from tactful.extras import hint
from tactful.models.artifact import ARRAYS_FILE, MANIFEST_FILE, ModelArtifact

CURRENT = "CURRENT"
# fsspec protocols and the extra that brings their implementation
_PROTOCOL_EXTRAS = {"s3": "s3", "s3a": "s3"}


class ModelStore:
    """Model versions under one root, read and written through fsspec."""

    def __init__(self, url: str | Path, **storage_options: Any) -> None:
        import fsspec

        self.url = str(url)
        protocol = self.url.split("://", 1)[0] if "://" in self.url else "file"
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **storage_options)
        except ImportError as exc:
            extra = _PROTOCOL_EXTRAS.get(protocol)
            if extra is not None:
                raise MissingExtra(hint(extra, f"the model store {self.url}"), extra) from exc
            raise ConfigurationError(f"model store {self.url}: {exc}", field="models.store_url") from exc
        except ValueError as exc:
            raise ConfigurationError(f"model store {self.url}: {exc}", field="models.store_url") from exc
        self.fs = fs
        self.root = str(root).rstrip("/")
        self.local = "file" in _protocols(fs)

    def __repr__(self) -> str:
        return f"ModelStore({self.url!r})"

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def local_dir(self, version: str) -> Path | None:
        """The version's folder on this machine's disk, for a local store."""
        return Path(self.path(version)) if self.local else None

    # -- versions ------------------------------------------------------------------------

    def save(self, artifact: ModelArtifact) -> str:
        """Write ``artifact`` as a new version (not yet published); returns where it is."""
        version = artifact.version
        if self.local:
            return str(artifact.save(Path(self.path(version))))
        target = self.path(version)
        if self.fs.exists(self.path(version, MANIFEST_FILE)):
            raise Conflict(f"{self.url}/{version} already exists", field="version")
        data, manifest = artifact.encode()
        self.fs.makedirs(target, exist_ok=True)
        self.fs.pipe_file(self.path(version, ARRAYS_FILE), data)
        self.fs.pipe_file(self.path(version, MANIFEST_FILE), manifest)  # last: the version is whole
        return target

    def load(self, version: str) -> ModelArtifact:
        """Read a version, verifying its checksum."""
        if self.local:
            return ModelArtifact.load(Path(self.path(version)))
        manifest_path = self.path(version, MANIFEST_FILE)
        try:
            manifest = self.fs.cat_file(manifest_path)
            data = self.fs.cat_file(self.path(version, ARRAYS_FILE))
        except FileNotFoundError as exc:
            raise NotFound(f"no model artifact at {self.url}/{version}", field="version") from exc
        return ModelArtifact.decode(data, manifest, f"{self.url}/{version}")

    def versions(self) -> list[str]:
        """Every version folder, oldest first (version ids sort by time)."""
        if not self.fs.exists(self.root):
            return []
        names = []
        for entry in self.fs.ls(self.root, detail=True):
            name = posixpath.basename(str(entry["name"]).rstrip("/"))
            if entry.get("type") == "directory" and not name.startswith("."):
                names.append(name)
        return sorted(names)

    def remove(self, version: str) -> None:
        target = self.path(version)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    # -- the published pointer ------------------------------------------------------------

    def publish(self, version: str) -> None:
        """Point ``CURRENT`` at ``version``, atomically (a rename locally, one object write else)."""
        if self.local:
            os.makedirs(self.root, exist_ok=True)
            tmp = self.path(f".{CURRENT}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
            Path(tmp).write_text(version)
            os.replace(tmp, self.path(CURRENT))
            return
        self.fs.pipe_file(self.path(CURRENT), version.encode())

    def current(self) -> str | None:
        """The published version, or None before the first one."""
        try:
            raw = self.fs.cat_file(self.path(CURRENT))
        except FileNotFoundError:
            return None
        return raw.decode().strip() or None

    def prune(self, keep: int) -> None:
        """Delete all but the newest ``keep`` versions (never the current one)."""
        current = self.current()
        for old in self.versions()[:-keep]:
            if old != current:
                self.remove(old)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
