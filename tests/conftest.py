"""Shared fixtures: corpus photographs, ledgers with registered keys, a CLI runner."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from provenance.cli import cli
from provenance.keys import SigningKey, save_signing_key
from provenance.ledger import Ledger

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("PROVENANCE_CORPUS", REPO.parent / "shared" / "corpus"))
FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)

# Small JPEG/PNG photographs from ../shared/corpus used across tests.
PHOTOS = (
    "skimage__rocket.jpg",
    "opencv-doc__apple.jpg",
    "opencv-doc__baboon.jpg",
    "matplotlib__grace_hopper.jpg",
    "skimage__chelsea.png",
    "opencv-doc__fruits.jpg",
)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real photographs (tests needing it skip if it is absent)."""
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip(f"photo corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def photos(corpus: Path, tmp_path: Path) -> list[Path]:
    """Private copies of a few corpus photographs (tests may alter them)."""
    out = tmp_path / "photos"
    out.mkdir()
    copies = []
    for name in PHOTOS:
        dst = out / name
        shutil.copyfile(corpus / name, dst)
        copies.append(dst)
    return copies


@dataclass
class LedgerEnv:
    """A fresh ledger on disk with two registered signer keys written to files."""

    db: Path
    ledger: Ledger
    alice: SigningKey
    desk: SigningKey
    alice_file: Path
    desk_file: Path
    tmp: Path

    def reopen(self) -> Ledger:
        self.ledger.close()
        self.ledger = Ledger.open(str(self.db))
        return self.ledger


@pytest.fixture
def lenv(tmp_path: Path) -> Iterator[LedgerEnv]:
    db = tmp_path / "ledger.db"
    ledger = Ledger.init(str(db), origin="test.provenance.local/log")
    alice = SigningKey.from_seed(bytes(range(32)))
    desk = SigningKey.from_seed(bytes(range(1, 33)))
    alice_file, desk_file = tmp_path / "alice.key", tmp_path / "desk.key"
    save_signing_key(alice, alice_file, None)
    save_signing_key(desk, desk_file, None)
    ledger.register_key(alice.public, "alice", now=FIXED_NOW)
    ledger.register_key(desk.public, "desk", now=FIXED_NOW)
    env = LedgerEnv(db, ledger, alice, desk, alice_file, desk_file, tmp_path)
    yield env
    env.ledger.close()


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke the CLI in-process: run_cli("--db", db, "verify", path) -> click Result."""
    monkeypatch.delenv("PROVENANCE_DB", raising=False)
    monkeypatch.delenv("PROVENANCE_PASSPHRASE", raising=False)
    monkeypatch.delenv("PROVENANCE_LOG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PROVENANCE_LOG_KEY", raising=False)

    def run(
        *args: str | os.PathLike[str], env: dict[str, str] | None = None, input: str | None = None
    ) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli, [str(a) for a in args], env=env, input=input, catch_exceptions=False
        )

    return run
