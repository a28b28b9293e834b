"""Placing files in the static site: its fixed page (index.html, script, style) and images.

The site is self-contained under its folder, so that it opens from the file system and
from any static host (a copy of the folder alone). Images of other stages are
hard-linked where the file system allows it (no extra disk space, same bytes) and
copied otherwise (``images: copy``, or across file systems); either way the folder holds
real files, which a static host or an archive copies as such.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ..runtime import atomic_path

__all__ = ["STATIC", "SiteWriter", "site_size"]

# The page itself: plain HTML, CSS and JavaScript shipped as package data, no build step.
STATIC = Path(__file__).with_name("static")
_STATIC_FILES = {"index.html": "index.html", "app.js": "assets/app.js", "style.css": "assets/style.css"}


class SiteWriter:
    """Writes one site below `root`. `images`: ``link`` (hard link, copy where linking
    fails) or ``copy``. Counts what it placed (``linked``, ``copied``, ``written``)."""

    def __init__(self, root: str | os.PathLike, images: str = "link"):
        if images not in ("link", "copy"):
            raise ValueError(f"explorer.images must be link or copy, not {images!r}")
        self.root = Path(root)
        self.images = images
        self.linked = self.copied = self.written = 0

    def place(self, source: str | os.PathLike, rel: str) -> str:
        """Put file `source` at `rel` (a path relative to the site root); returns `rel`.
        FileNotFoundError naming the file if it is missing."""
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(f"explorer: input image {source} is missing")
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        if self.images == "link":
            try:
                os.link(source, target)
                self.linked += 1
                return rel
            except OSError as err:
                # Another file system, or one without hard links: fall back to a copy.
                if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        self.copied += 1
        return rel

    def write_text(self, rel: str, text: str) -> str:
        """Write a text file (UTF-8) at `rel` atomically; returns `rel`."""
        with atomic_path(self.root / rel) as tmp:
            tmp.write_text(text, encoding="utf-8")
        self.written += 1
        return rel

    def static(self) -> None:
        """The page's fixed files: index.html, assets/app.js, assets/style.css."""
        for name, rel in _STATIC_FILES.items():
            self.write_text(rel, (STATIC / name).read_text(encoding="utf-8"))


def site_size(root: str | os.PathLike) -> dict[str, int]:
    """Files and bytes below `root`: ``files``, ``bytes`` (every file counted in full, as a
    static host or a copy stores it) and ``own_bytes`` (files with no other hard link, i.e.
    the disk space the site adds beside the results it links)."""
    files = total = own = 0
    for path in Path(root).rglob("*"):
        if path.is_file():
            st = path.stat()
            files += 1
            total += st.st_size
            own += st.st_size if st.st_nlink == 1 else 0
    return {"files": files, "bytes": total, "own_bytes": own}
