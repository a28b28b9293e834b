"""Downloads from a real local HTTP server, checksum checks, and safe extraction."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from vischange.datasets import download as dl

from .stanford_fixtures import add_bytes, make_dogs, md5, serve, sha256


@pytest.fixture()
def served(tmp_path):
    files = make_dogs(tmp_path / "site")
    with serve(tmp_path / "site") as url:
        yield url, files


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_parse_checksum():
    assert dl.parse_checksum("md5:" + "A" * 32) == ("md5", "a" * 32)
    assert dl.parse_checksum("sha256:" + "0" * 64) == ("sha256", "0" * 64)
    for bad in ("md5:123", "sha1:" + "0" * 40, "0" * 32, None, "sha256:" + "g" * 64):
        with pytest.raises(ValueError, match="checksum"):
            dl.parse_checksum(bad)


@pytest.mark.parametrize("kind", [md5, sha256])
def test_download_verifies_and_keeps_the_file(served, tmp_path, kind):
    url, files = served
    dest = tmp_path / "downloads" / "images.tar"
    out = dl.download(f"{url}/images.tar", dest, kind(files["images"]), key="data.stanford_dogs.images")
    assert out == dest and dest.read_bytes() == files["images"].read_bytes()
    assert leftovers(dest.parent) == ["images.tar"]  # no .part file left


def test_download_with_wrong_checksum_names_both_and_keeps_nothing(served, tmp_path):
    url, files = served
    dest = tmp_path / "downloads" / "images.tar"
    wrong = "md5:" + "0" * 32
    with pytest.raises(dl.ChecksumError) as err:
        dl.download(f"{url}/images.tar", dest, wrong, key="data.stanford_dogs.images")
    message = str(err.value)
    assert "images.tar" in message and wrong in message and md5(files["images"]) in message
    assert "data.stanford_dogs.images.checksum" in message
    assert leftovers(dest.parent) == []


def test_download_that_breaks_off_is_reported_and_removed(served, tmp_path):
    url, files = served
    dest = tmp_path / "downloads" / "images.tar"
    with pytest.raises(dl.DownloadError, match=r"broke off|truncated") as err:
        dl.download(f"{url}/short/images.tar", dest, md5(files["images"]), key="data.stanford_dogs.images")
    assert "images.tar" in str(err.value)
    assert leftovers(dest.parent) == []


def test_unreachable_url_names_the_key(served, tmp_path):
    url, files = served
    with pytest.raises(dl.DownloadError, match=r"data.stanford_dogs.images.*mirror|mirror.*data.stanford_dogs.images"):
        dl.download(f"{url}/no-such-file.tar", tmp_path / "x.tar", md5(files["images"]), key="data.stanford_dogs.images")
    assert not (tmp_path / "x.tar").exists()


def test_truncated_local_copy_fails_verification(tmp_path):
    files = make_dogs(tmp_path / "site")
    good = md5(files["images"])
    data = files["images"].read_bytes()
    files["images"].write_bytes(data[: len(data) // 3])
    with pytest.raises(dl.ChecksumError) as err:
        dl.fetch({"path": str(files["images"]), "url": None, "checksum": good}, tmp_path / "unused", key="data.stanford_dogs.images")
    message = str(err.value)
    assert str(files["images"]) in message and good in message and md5(files["images"]) in message
    assert "truncated" in message


def test_local_path_wins_over_url(tmp_path):
    files = make_dogs(tmp_path / "site")
    spec = {"path": str(files["lists"]), "url": "http://127.0.0.1:9/never-contacted", "checksum": md5(files["lists"])}
    assert dl.fetch(spec, tmp_path / "dl" / "lists.tar") == files["lists"]
    assert not (tmp_path / "dl").exists()


def test_extract_all_combines_archives_and_plain_files(tmp_path):
    files = make_dogs(tmp_path / "site")
    plain = tmp_path / "site" / "README.txt"
    plain.write_text("hello")
    dest = dl.extract_all([files["images"], files["lists"], plain], tmp_path / "out" / "raw")
    assert (dest / "train_list.mat").is_file() and (dest / "README.txt").read_text() == "hello"
    assert len(list((dest / "Images").rglob("*.jpg"))) == 18
    assert leftovers(tmp_path / "out") == ["raw"]  # no staging folder left


def _tar_with(tmp_path: Path, build) -> Path:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        add_bytes(tar, "ok/fine.txt", b"fine")
        build(tar)
    return path


def _link(tar, name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


UNSAFE = {
    "dotdot": (lambda tar: add_bytes(tar, "ok/../../escape.txt", b"x"), "'..'"),
    "absolute": (lambda tar: add_bytes(tar, "/tmp/vischange-absolute.txt", b"x"), "absolute path"),
    "symlink_escape": (lambda tar: _link(tar, "ok/link", "../../../etc/passwd"), "outside"),
    "symlink_absolute": (lambda tar: _link(tar, "ok/link", "/etc/passwd"), "absolute"),
    "hardlink_escape": (lambda tar: _link(tar, "ok/hard", "../outside.txt", tarfile.LNKTYPE), "outside"),
    "device": (lambda tar: _link(tar, "ok/dev", "", tarfile.CHRTYPE), "special"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_tar_members_are_refused_before_anything_is_written(tmp_path, case):
    build, reason = UNSAFE[case]
    archive = _tar_with(tmp_path, build)
    out = tmp_path / "out"
    with pytest.raises(dl.UnsafeArchiveError) as err:
        dl.extract_all([archive], out / "raw")
    assert reason in str(err.value) and "evil.tar" in str(err.value)
    assert leftovers(out) == []  # neither raw/ nor a staging folder
    assert not (tmp_path / "escape.txt").exists() and not Path("/tmp/vischange-absolute.txt").exists()


def test_safe_internal_symlink_is_allowed(tmp_path):
    archive = _tar_with(tmp_path, lambda tar: _link(tar, "ok/alias.txt", "fine.txt"))
    dest = dl.extract_all([archive], tmp_path / "raw")
    assert (dest / "ok/alias.txt").read_bytes() == b"fine"


def test_unsafe_zip_member_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr("../escape.txt", "x")
    with pytest.raises(dl.UnsafeArchiveError, match=r"'\.\./escape\.txt'"):
        dl.extract_all([archive], tmp_path / "out" / "raw")
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.9])
def test_truncated_archive_fails_cleanly_even_unverified(tmp_path, keep):
    """Cut inside a member's data or at a member boundary: both are caught."""
    files = make_dogs(tmp_path / "site")
    data = files["images"].read_bytes()
    cut = tmp_path / "images.tar"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(dl.DownloadError, match=r"truncated or corrupt"):
        dl.extract_all([cut], tmp_path / "out" / "raw")
    assert leftovers(tmp_path / "out") == []


def test_find_root_skips_wrapping_folders(tmp_path):
    (tmp_path / "mirror" / "stanford_dogs" / "Images").mkdir(parents=True)
    for name in ("train_list.mat", "test_list.mat"):
        (tmp_path / "mirror" / "stanford_dogs" / name).write_bytes(b"")
    assert dl.find_root(tmp_path, ["Images", "train_list.mat"]) == tmp_path / "mirror" / "stanford_dogs"
    with pytest.raises(dl.DownloadError, match="expected layout"):
        dl.find_root(tmp_path, ["devkit/cars_meta.mat"])
