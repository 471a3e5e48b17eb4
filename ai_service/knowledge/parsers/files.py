"""Runbook files: which files are runbooks and in which format, where a runbook came from, what its path says.

:data:`SUPPORTED_SUFFIXES` maps an extension to a format; :func:`iter_runbook_files` walks a corpus in a stable
order, skipping hidden files, Hugo ``_index`` pages and repository housekeeping (licence, changelog).
:class:`SourceInfo` carries a runbook's display name, its path relative to the corpus root and the SHA-256 of
its bytes; the runbook id, service, component and (when the file declares none) team are derived from that
relative path alone.

What this module must never do: read more of a file than its bytes and their encoding (the parsers interpret
them), or derive an id from anything but the relative path - the same file under the same root gets the same
id on every machine.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ai_service.errors import InputError
from ai_service.knowledge.models import RunbookFormat

SUPPORTED_SUFFIXES: dict[str, RunbookFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".docx": "docx",
}


@dataclass(frozen=True)
class SourceInfo:
    """Where a runbook came from: ``display`` names it in errors, ``relative`` (relative to the corpus root, or
    just the file name) gives the derived id and service, ``sha256`` is of the file's bytes."""

    display: str
    relative: PurePosixPath
    sha256: str

    @classmethod
    def for_bytes(cls, data: bytes, name: str, relative: PurePosixPath | None = None) -> SourceInfo:
        rel = relative if relative is not None else PurePosixPath(PurePosixPath(name).name)
        return cls(display=name, relative=rel, sha256=hashlib.sha256(data).hexdigest())


def relative_path(file: Path, root: str | Path | None) -> PurePosixPath:
    if root is None:
        return PurePosixPath(file.name)
    try:
        relative = file.resolve().relative_to(Path(root).resolve())
    except ValueError as exc:
        raise InputError(
            f"{file}: runbook is not inside the runbook root {root}",
            hint="pass the directory that contains the runbook as root, or no root at all",
        ) from exc
    return PurePosixPath(relative.as_posix())


def decode_text(data: bytes, source: SourceInfo) -> str:
    """The file's text (UTF-8, a BOM allowed); InputError at the line of an undecodable or NUL byte."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{source.display}:{line}: not valid UTF-8 (byte {exc.start})",
            hint="save the runbook as UTF-8 text",
        ) from exc
    nul = text.find("\x00")
    if nul >= 0:  # PostgreSQL text cannot hold it; a UTF-16 file has one in every other byte
        line = text.count("\n", 0, nul) + 1
        raise InputError(
            f"{source.display}:{line}: a NUL byte (0x00) in the text: the file is binary, UTF-16, or damaged",
            hint="save the runbook as UTF-8 text, or remove the NUL bytes (tr -d '\\000' < in > out)",
        )
    return text


def derive_runbook_id(relative: PurePosixPath) -> str:
    """Stable slug from a relative path: lower-case, extension dropped, separators and anything not a letter or
    digit turned into ``-`` (``node/NodeFilesystemSpaceFillingUp.md`` -> ``node-nodefilesystemspacefillingup``)."""
    stem = relative.with_suffix("").as_posix() if relative.suffix else relative.as_posix()
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug or "runbook"


def derive_service_component(relative: PurePosixPath) -> tuple[str | None, str | None]:
    """The first folder of the relative path is the service, the second (when the file is nested two deep)
    the component: ``etcd/X.md`` -> (``etcd``, None); ``db/postgres/X.md`` -> (``db``, ``postgres``)."""
    folders = relative.parts[:-1]
    service = folders[0] if folders else None
    component = folders[1] if len(folders) > 1 else None
    return service, component


def derive_team(relative: PurePosixPath) -> str | None:
    """The folder a runbook file lives in is its owning team when the file declares none: ``dba/pg-x.md`` ->
    ``dba``, ``content/runbooks/etcd/X.md`` -> ``etcd``; a file directly in the root has none."""
    folders = relative.parts[:-1]
    return folders[-1] if folders else None


#: Repository housekeeping files that sit beside runbooks but are not runbooks.
NOT_RUNBOOKS = frozenset({"LICENSE", "LICENCE", "CHANGELOG", "CONTRIBUTING", "CODE_OF_CONDUCT", "NOTICE", "AUTHORS"})


def iter_runbook_files(root: str | Path) -> Iterable[Path]:
    """Runbook files under ``root`` in a stable order (hidden files, Hugo ``_index`` pages and licence / changelog
    files skipped)."""
    base = Path(root)
    for path in sorted(base.rglob("*")):
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            relative = path.relative_to(base)
            if any(part.startswith(".") for part in relative.parts) or path.stem == "_index":
                continue
            if path.stem.upper().replace("-", "_") in NOT_RUNBOOKS:
                continue
            yield path
