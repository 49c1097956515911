"""Bulk ingest: walking folders and computing image digests in a pool of processes.

``provenance sign DIR --workers N`` spends its time decoding images; the pool keeps the
cores busy while the parent process signs and appends in batches. Results come back in
input order through a bounded window (memory stays flat however many images there are),
and each image is reported as soon as its digests are known (progress per image, not per
batch). Workers run single-threaded: the pool already fills the cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Final

from provenance.errors import ImageError
from provenance.records import Asset

IMAGE_SUFFIXES: Final = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif"}
)


def collect_images(paths: Iterable[str | os.PathLike[str]], *, recursive: bool) -> Iterator[Path]:
    """Expand files and folders into image paths, in a stable sorted order.

    Folders are walked one level unless ``recursive``; files inside folders are kept when
    their suffix is an image suffix; files named explicitly are always kept (so a bad file
    given by name yields a clear error instead of being skipped).
    """
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            walker = sorted(p.rglob("*")) if recursive else sorted(p.iterdir())
            for child in walker:
                if child.suffix.lower() in IMAGE_SUFFIXES and not child.is_dir():
                    yield child
        else:
            yield p


def has_subfolders(paths: Iterable[str | os.PathLike[str]]) -> bool:
    """Whether any folder among ``paths`` has sub-folders (for the ``--recursive`` hint)."""
    return any(Path(p).is_dir() and any(c.is_dir() for c in Path(p).iterdir()) for p in paths)


def digest_one(path: str, data: bytes | None = None, *, threads: bool = False) -> Asset | str:
    """The asset digests of one file, or the error message (picklable, for workers).

    ``threads``: let the probe use a helper thread (one image at a time in this process);
    pool workers do not, the pool already fills the cores.
    """
    from provenance.imaging import ImageProbe, read_image_bytes

    try:
        if data is None:
            data = read_image_bytes(path)
        return ImageProbe(data, name=path, threads=threads).asset()
    except ImageError as exc:
        return str(exc)


def _worker_init() -> None:
    """Workers ignore Ctrl-C (the parent stops the pool) and use one thread each; they
    import the digest path (Pillow's JPEG decoder, numpy, PDQ) as they start, side by side,
    rather than one after the other inside their first image."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import provenance.pdq  # noqa: F401 (numpy with it)
    from provenance.imaging import supported_formats

    supported_formats()  # Pillow and its decoders


def digest_many(paths: list[str], workers: int) -> Iterator[tuple[str, Asset | str]]:
    """``(path, asset or error message)`` for each path, in order; ``workers`` processes
    (1: in this process). At most ``4 * workers`` images are in flight."""
    if workers <= 1:
        for path in paths:
            yield path, digest_one(path, threads=True)
        return
    window = max(4, workers * 4)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)
    queue: list[tuple[str, Future[Asset | str]]] = []
    try:
        for path in paths:
            queue.append((path, pool.submit(digest_one, path)))
            while len(queue) >= window:
                done_path, fut = queue.pop(0)
                yield done_path, fut.result()
        while queue:
            done_path, fut = queue.pop(0)
            yield done_path, fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
