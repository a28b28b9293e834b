"""Fetching dataset files: download or local copy, checksum verification, safe extraction.

A file is described by a spec from the config, ``{"url", "path", "checksum"}``:
``path`` (a local copy, for offline clusters) wins over ``url``; ``checksum`` is
``"md5:<hex>"`` or ``"sha256:<hex>"`` and is always checked before the file is used.

Failure leaves nothing half-done behind: downloads go to a temporary sibling that
is renamed only once its checksum matches, and archives are extracted into a
temporary folder that is renamed onto the target only when every member is out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

from tqdm.auto import tqdm

log = logging.getLogger(__name__)

ALGORITHMS = ("md5", "sha256")
_CHUNK = 1 << 20
_CHECKSUM_RE = re.compile(r"^(md5|sha256):([0-9a-fA-F]+)$")
_HEX_LENGTH = {"md5": 32, "sha256": 64}


class DownloadError(RuntimeError):
    """A file could not be fetched, verified or extracted; the message says which and why."""


class ChecksumError(DownloadError):
    """A file's checksum differs from the configured one (corrupt, truncated or another file)."""


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside the extraction folder (absolute, `..`, escaping link)."""


def _mismatch(what: str, algorithm: str, expected: str, actual: str, key: str | None, hint: str) -> ChecksumError:
    """The checksum error for `what`: both digests, the config key of the expected one, and what to do."""
    return ChecksumError(
        f"checksum mismatch for {what}:\n"
        f"  expected {algorithm}:{expected}" + (f" (config key {key}.checksum)" if key else "") + "\n"
        f"  actual   {algorithm}:{actual}\n" + hint
    )

def parse_checksum(text: str) -> tuple[str, str]:
    """'md5:<hex>' or 'sha256:<hex>' -> (algorithm, lower-case hex digest)."""
    match = _CHECKSUM_RE.match(str(text or "").strip())
    if not match or len(match.group(2)) != _HEX_LENGTH[match.group(1)]:
        raise ValueError(
            f"checksum {text!r} is not 'md5:<32 hex digits>' or 'sha256:<64 hex digits>'"
        )
    return match.group(1), match.group(2).lower()


def file_checksum(path: str | os.PathLike, algorithm: str) -> str:
    """Hex digest of a file's bytes with `algorithm` (md5 or sha256), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: str | os.PathLike, checksum: str, *, key: str = "") -> None:
    """Raise ChecksumError naming the file and both checksums unless `path` matches `checksum`."""
    algorithm, expected = parse_checksum(checksum)
    path = Path(path)
    if not path.is_file():
        raise DownloadError(f"{path}: no such file" + (f" (config key {key})" if key else ""))
    actual = file_checksum(path, algorithm)
    if actual != expected:
        raise _mismatch(
            f"{path} ({path.stat().st_size} bytes)", algorithm, expected, actual, key,
            "The file is truncated or corrupt, or it is not the file the config names. "
            "Delete it and fetch it again, or fix the config.",
        )
    log.info("verified %s (%s:%s)", path, algorithm, actual)


def download(url: str, dest: str | os.PathLike, checksum: str, *, key: str = "", timeout: float = 60) -> Path:
    """Download `url` to `dest`, verifying length and checksum; `dest` appears only if both pass.

    The bytes stream into a temporary sibling of `dest` while being hashed; a short
    read (fewer bytes than the server's Content-Length) or a checksum mismatch
    removes it and raises, naming the URL, the file and the config key.
    """
    algorithm, expected = parse_checksum(checksum)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    where = f" (config key {key}.url)" if key else ""
    handle, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.new(algorithm)
        received = 0
        request = urllib.request.Request(url, headers={"User-Agent": "vischange (dataset download)"})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except (urllib.error.URLError, OSError) as err:
            raise DownloadError(
                f"cannot download {url}{where}: {err}. If this host is unreachable, set "
                f"{key or 'the url'} to a mirror, or its path to a local copy of the file."
            ) from None
        with response, os.fdopen(handle, "wb") as out:
            handle = None
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            log.info("downloading %s -> %s (%s bytes)", url, dest, total if total is not None else "unknown")
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, mininterval=5) as bar:
                while True:
                    try:
                        block = response.read(_CHUNK)
                    except Exception as err:  # http.client.IncompleteRead, socket errors
                        raise DownloadError(
                            f"download of {url}{where} broke off after {received} bytes: {err!r}"
                        ) from None
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
        if total is not None and received != total:
            raise DownloadError(
                f"truncated download of {url}{where}: received {received} of {total} bytes"
            )
        actual = digest.hexdigest()
        if actual != expected:
            raise _mismatch(
                f"{dest.name} downloaded from {url} ({received} bytes)", algorithm, expected, actual, key,
                "The download is truncated or corrupt, or the URL serves another file than "
                "the config's checksum describes. Nothing was kept.",
            )
        os.replace(tmp, dest)
        log.info("downloaded and verified %s (%s:%s)", dest, algorithm, actual)
        return dest
    finally:
        if handle is not None:
            os.close(handle)
        if tmp.exists():
            tmp.unlink()


def fetch(spec: dict, dest: str | os.PathLike, *, key: str = "") -> Path:
    """The verified file of a spec: its local `path` if given (checked in place), else `url` -> `dest`."""
    if spec.get("path"):
        verify(spec["path"], spec["checksum"], key=key)
        return Path(spec["path"])
    if not spec.get("url"):
        raise DownloadError(f"config key {key or '(file)'}: neither url nor path is set")
    return download(spec["url"], dest, spec["checksum"], key=key)


# --------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------


def _member_problem(name: str, *, link: str | None = None, hardlink: bool = False, special: bool = False) -> str | None:
    """Why an archive member is unsafe to extract, or None. Names use '/' as in archives."""
    if special:
        return "device, FIFO or other special file"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "'..' in its path"
    if link is not None:
        target = link.replace("\\", "/")
        if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
            return f"link to absolute path {link!r}"
        # Symlinks resolve from the member's folder, hard links from the archive root.
        base = "" if hardlink else posixpath.dirname(name.replace("\\", "/"))
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            return f"link {link!r} points outside the extraction folder"
    return None


def unsafe_members(archive: str | os.PathLike) -> list[tuple[str, str]]:
    """(member name, reason) for every member of a tar or zip archive that is unsafe to extract.

    Raises DownloadError if the archive cannot be read to its end (truncated or corrupt).
    """
    archive = Path(archive)
    problems: list[tuple[str, str]] = []
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    mode = info.external_attr >> 16
                    is_link = (mode & 0o170000) == 0o120000
                    reason = _member_problem(info.filename)
                    if reason is None and is_link:
                        reason = "symbolic link (not extracted from zip archives)"
                    if reason:
                        problems.append((info.filename, reason))
        else:
            with tarfile.open(archive, "r:*") as tf:
                for member in tf:  # iterating reads every header: a truncated tar fails here
                    reason = _member_problem(
                        member.name,
                        link=member.linkname if member.issym() or member.islnk() else None,
                        hardlink=member.islnk(),
                        special=not (member.isfile() or member.isdir() or member.issym() or member.islnk()),
                    )
                    if reason:
                        problems.append((member.name, reason))
                end = tf.offset
            _check_tar_end(archive, end)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise DownloadError(f"cannot read archive {archive}: {err} (truncated or corrupt?)") from None
    return problems


def _check_tar_end(archive: Path, end: int) -> None:
    """An uncompressed tar cut at a member boundary reads as complete; its missing
    end-of-archive marker (two zero blocks after the last member) gives it away.
    Compressed tars need no check: their decompressor fails on a cut stream."""
    with open(archive, "rb") as handle:
        if handle.read(6).startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
            return
        handle.seek(end)
        marker = handle.read(1024)
    if len(marker) < 1024 or marker.count(0) != 1024:
        raise tarfile.ReadError(f"no end-of-archive marker after byte {end}")


def is_archive(path: str | os.PathLike) -> bool:
    """Whether `path` is a tar (any compression) or zip archive, by content."""
    path = Path(path)
    return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)


def _extract_one(archive: Path, into: Path) -> int:
    problems = unsafe_members(archive)
    if problems:
        shown = "\n".join(f"  {name!r}: {reason}" for name, reason in problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise UnsafeArchiveError(
            f"refusing to extract {archive}: {len(problems)} member(s) would land outside the "
            f"extraction folder:\n{shown}{more}"
        )
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(into)
                return len(zf.infolist())
        with tarfile.open(archive, "r:*") as tf:
            # The 'data' filter re-checks every member (paths, links, special files) as it extracts.
            members = tf.getmembers()
            tf.extractall(into, members=members, filter="data")
            return len(members)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise DownloadError(f"cannot extract {archive}: {err} (truncated or corrupt?)") from None


def extract_all(files: Sequence[str | os.PathLike], dest: str | os.PathLike) -> Path:
    """Extract every archive in `files` (and copy every non-archive file) into folder `dest`.

    All members are checked before anything is written; the work happens in a
    temporary sibling of `dest` that replaces `dest` only when everything succeeded,
    so a failure leaves neither `dest` nor a partial copy behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        for item in files:
            item = Path(item)
            if is_archive(item):
                count = _extract_one(item, staging)
                log.info("extracted %d members of %s", count, item)
            else:
                shutil.copyfile(item, staging / item.name)
                log.info("copied %s (not an archive)", item)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def find_root(top: str | os.PathLike, markers: Iterable[str]) -> Path:
    """The shallowest folder under `top` that holds every relative path in `markers`.

    Archives and mirrors often wrap a dataset in one or two extra folders; this finds
    the dataset wherever it sits. Raises DownloadError listing the markers if none does.
    """
    top = Path(top)
    markers = list(markers)
    for folder in sorted((p for p in [top, *top.rglob("*")] if p.is_dir()), key=lambda p: (len(p.parts), str(p))):
        if all((folder / m).exists() for m in markers):
            return folder
    raise DownloadError(f"no folder under {top} holds {', '.join(markers)}: the files are not in the expected layout")
