"""The 17 rough edges a new user hit (issue 9), one named test each, driven as a user would.

Each test runs the command line (in-process through click's CliRunner, or as a process
where a terminal or the shell matters) and asserts both the exit code and the words the
user reads, so that each edge, once fixed, stays fixed. The README's own text for edges 2,
3, 11 and 12 is checked by the README tests; here the behaviour behind it is.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import CORPUS, REPO, LedgerEnv

import provenance
import provenance.keys
from provenance.ledger import Ledger

PASSPHRASE = "newcomer passphrase"
Run = Callable[..., Result]


@dataclass
class House:
    """A ledger made the README's way (init, keys generate alice) in a temporary folder."""

    tmp: Path
    db: Path
    key: Path
    photos: list[Path]
    run: Run

    def sign(self, *paths: Path, claims: Sequence[str] = ()) -> Result:
        args: list[object] = ["sign", *paths, "--key", self.key]
        for claim in claims:
            args += ["--claim", claim]
        r = self.run(*args)
        assert r.exit_code == 0, r.output
        return r


@pytest.fixture
def house(tmp_path: Path, run_cli: Any, photos: list[Path]) -> House:
    db = tmp_path / "provenance.db"
    key = tmp_path / "alice.key"

    def run(*args: object, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        result: Result = run_cli(
            "--db", db, *args, env={"PROVENANCE_PASSPHRASE": PASSPHRASE, **(env or {})}, input=input
        )
        return result

    r = run("init", "--origin", "newcomer.test/log")
    assert r.exit_code == 0, r.output
    r = run("keys", "generate", "alice", "-o", key, "--kdf-rounds", "1")
    assert r.exit_code == 0, r.output
    return House(tmp_path, db, key, photos, run)


def _error_lines(r: Result) -> tuple[str, str]:
    """The ``error:`` and ``hint:`` lines of a failed command (both must be there)."""
    lines = r.stderr.splitlines()
    errors = [x for x in lines if x.startswith("error: ")]
    hints = [x for x in lines if x.startswith("hint: ")]
    assert errors and hints, r.stderr
    assert "Traceback" not in r.stderr
    return errors[0], hints[0]


def _process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def _run_at_a_terminal(
    args: Sequence[str | os.PathLike[str]], answers: Sequence[str], *, cwd: Path
) -> tuple[int, str, str]:
    """Run ``python -m provenance.cli ARGS`` with a pseudo-terminal on stdin, typing one
    answer at each passphrase prompt (after the prompt appears, as a person would)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "provenance.cli", *map(str, args)],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_process_env(),
        cwd=cwd,
        start_new_session=True,  # no controlling terminal: getpass uses stdin and stderr
    )
    os.close(slave)
    assert proc.stdout is not None and proc.stderr is not None
    names = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
    got = {"out": b"", "err": b""}
    pending = list(answers)
    typed = 0
    deadline = time.monotonic() + 60
    try:
        while names and time.monotonic() < deadline:
            ready, _, _ = select.select(list(names), [], [], 0.5)
            for fd in ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    del names[fd]
                    continue
                got[names[fd]] += chunk
                prompts = got["err"].count(b"Passphrase for ")
                if prompts > typed and got["err"].endswith(b": ") and pending:
                    os.write(master, pending.pop(0).encode() + b"\n")
                    typed += 1
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        proc.stdout.close()
        proc.stderr.close()
    return code, got["out"].decode(), got["err"].decode()


def _readme_section(title: str) -> str:
    """The text of the README section headed ``## title`` (up to the next ``## ``)."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, re.M | re.S)


# --- 1 -------------------------------------------------------------------------------------
def test_edge_01_demo_keep_relative_folder(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. `provenance demo --keep kept` (a relative folder) runs and keeps its files there."""
    monkeypatch.chdir(tmp_path)
    r = run_cli("demo", "--keep", "kept")
    assert r.exit_code == 0, r.output[-3000:]
    assert "demo finished: every step gave the expected result" in r.output
    assert "internal error" not in r.output
    kept = tmp_path / "kept"
    assert (kept / "demo.db").is_file() and (kept / "alice.key").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]  # nothing outside it


# --- 2 -------------------------------------------------------------------------------------
def _pytest_call_in_ci() -> list[str]:
    lines = [x for x in (REPO / ".ci" / "run").read_text().splitlines() if "pytest" in x]
    calls = [shlex.split(x) for x in lines if not x.lstrip().startswith("#")]
    assert len(calls) == 1, calls
    return calls[0]


def test_edge_02_ci_runs_the_slow_tests_plain_pytest_skips() -> None:
    """2. Plain `pytest` deselects the slow tests (pyproject's addopts); the full suite, which
    CI runs, needs `-m "slow or not slow"`. The README must say exactly that."""
    import tomllib

    ini = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    addopts = shlex.split(ini["addopts"])
    assert addopts[addopts.index("-m") + 1] == "not slow"
    assert any(m.startswith("slow:") for m in ini["markers"])
    call = _pytest_call_in_ci()
    last_m = len(call) - 1 - call[::-1].index("-m")
    assert call[last_m + 1] == "slow or not slow"  # the last -m wins over addopts'


def test_edge_02_readme_test_command_is_what_ci_runs() -> None:
    """2. The README's test command selects the tests CI runs, and says what plain `pytest`
    leaves out."""
    section = _readme_section("Tests")
    [block] = _sh_blocks(section)
    [command] = [shlex.split(x.split("&&")[-1]) for x in block.splitlines() if "pytest" in x]
    ci = _pytest_call_in_ci()
    assert command[0] == "pytest"
    assert command[command.index("-m") + 1] == ci[len(ci) - 1 - ci[::-1].index("-m") + 1]
    prose = " ".join(section.split())
    assert "Plain `pytest` runs everything except the tests marked `slow`" in prose


# --- 3 -------------------------------------------------------------------------------------
def test_edge_03_log_show_text_prints_the_vkey(house: House) -> None:
    """3. `log show` prints a `vkey` line (the README says so), equal to `--json`'s."""
    vkey = json.loads(house.run("log", "show", "--json").stdout)["vkey"]
    r = house.run("log", "show")
    assert r.exit_code == 0, r.output
    [line] = [x for x in r.stdout.splitlines() if x.startswith("vkey")]
    assert line.split() == ["vkey", vkey]
    assert vkey.startswith("newcomer.test/log+")


def test_edge_03_readme_needs_no_jq_and_says_log_show_prints_the_vkey() -> None:
    """3. No command in the README needs `jq` (it is mentioned only as optional), and the
    walkthrough says `log show` prints the vkey."""
    text = (REPO / "README.md").read_text()
    for block in _sh_blocks(text):
        assert not re.search(r"\bjq\b", block), block
    by_hand = _readme_section("Using it by hand")
    assert re.search(r"^provenance log show +# prints the vkey", by_hand, re.M)
    if re.search(r"\bjq\b", text):
        assert "if you\nhave `jq`" in text or "if you have `jq`" in text


# --- 4 -------------------------------------------------------------------------------------
def test_edge_04_interrupted_batch_says_how_many_were_logged(
    house: House, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4. Ctrl-C during batch signing says how many images were logged and that a re-run
    continues (never "nothing half-written" after some were logged); the re-run does."""
    real = Ledger.append_records
    calls = []

    def interrupted_on_the_third_batch(self: Ledger, *a: Any, **k: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    folder = house.photos[0].parent
    with monkeypatch.context() as m:
        m.setattr(Ledger, "append_records", interrupted_on_the_third_batch)
        r = house.run("sign", folder, "--key", house.key, "--batch-size", "1")
    assert r.exit_code == 130, r.output
    error, hint = _error_lines(r)
    assert error == "error: interrupted"
    assert "2 image(s) were logged before the interruption" in hint
    assert "run the same command again to continue" in hint
    assert "nothing half-written" not in r.stderr
    r = house.run("sign", folder, "--key", house.key, "--batch-size", "1", "--json")
    assert r.exit_code == 0, r.output
    statuses = sorted(json.loads(x)["status"] for x in r.stdout.splitlines())
    assert statuses == ["exists"] * 2 + ["signed"] * (len(house.photos) - 2)


# --- 5 -------------------------------------------------------------------------------------
def test_edge_05_init_on_an_existing_ledger_changes_nothing(house: House) -> None:
    """5. `init` where a ledger exists says so (with its size) and that nothing changed;
    it never advises removing anything (the log key cannot be made again)."""
    house.sign(house.photos[0])
    logkey = house.db.with_name(house.db.name + ".logkey")
    before = (house.db.read_bytes(), logkey.read_bytes())
    r = house.run("init")
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert error.startswith(f"error: a ledger already exists at {house.db}")
    assert "newcomer.test/log, 2 records" in error
    assert hint == "hint: nothing was changed"
    assert "remove" not in r.stderr.lower() and "delete" not in r.stderr.lower()
    assert (house.db.read_bytes(), logkey.read_bytes()) == before


# --- 6 -------------------------------------------------------------------------------------
def test_edge_06_keys_generate_before_init(tmp_path: Path, run_cli: Any) -> None:
    """6. `keys generate` before `init` says to run init (or --no-register) and writes no
    key; its help names the number of KDF rounds, not a Python constant."""
    env = {"PROVENANCE_PASSPHRASE": PASSPHRASE}
    db = tmp_path / "provenance.db"
    r = run_cli("--db", db, "keys", "generate", "alice", "-o", tmp_path / "a.key", env=env)
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert error == f"error: no ledger at {db}: the key was not written"
    assert "provenance init" in hint and "--no-register" in hint
    assert not (tmp_path / "a.key").exists() and not db.exists()
    r = run_cli(
        "--db",
        db,
        "keys",
        "generate",
        "alice",
        "-o",
        tmp_path / "a.key",
        "--no-register",
        "--kdf-rounds",
        "1",
        env=env,
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.key").is_file() and not db.exists()
    r = run_cli("keys", "generate", "--help")
    assert r.exit_code == 0
    help_text = " ".join(r.stdout.split())
    assert f"(default {provenance.keys.DEFAULT_KDF_ROUNDS})" in help_text
    assert "DEFAULT_KDF_ROUNDS" not in help_text and "when one exists" not in help_text


# --- 7 -------------------------------------------------------------------------------------
def test_edge_07_names_and_indexes_are_accepted_everywhere(house: House) -> None:
    """7. `keys show alice` works as `keys list` shows the name; `history 1` works as
    `log prove 1` does."""
    [listed] = json.loads(house.run("keys", "list", "--json").stdout)
    r = house.run("keys", "show", "alice", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["key_id"] == listed["key_id"]
    r = house.run("keys", "show", "alice")
    assert r.exit_code == 0 and listed["key_id"] in r.stdout
    house.sign(house.photos[0], claims=["author=Alice"])
    assert house.run("log", "prove", "1").exit_code == 0
    r = house.run("history", "1")
    assert r.exit_code == 0, r.output
    assert "chain verifies" in r.stdout and "#1 capture" in r.stdout
    r = house.run("history", "7")
    assert r.exit_code == 3
    assert _error_lines(r) == (
        "error: no record at log index 7",
        "hint: the log holds indexes 0 to 1",
    )


# --- 8 -------------------------------------------------------------------------------------
def test_edge_08_errors_name_their_input_and_give_a_hint(house: House) -> None:
    """8. `verify notes.txt`, `--checkpoint notes.txt`, `--db notes.txt init` and an
    out-of-range crop each name the file and say what to do; no repr, no raw bytes."""
    house.sign(house.photos[0])
    notes = house.tmp / "notes.txt"
    notes.write_text("shopping list: film, batteries\n")
    before = notes.read_bytes()

    r = house.run("verify", notes)
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert str(notes) in error and "not an image" in error and "shopping" not in error
    assert "JPEG" in hint

    r = house.run("verify", house.photos[0], "--checkpoint", notes)
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert error.startswith(f"error: {notes} is not a checkpoint")
    assert "provenance log checkpoint --out" in hint

    r = house.run("--db", notes, "init")
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert str(notes) in error and "already exists" in error
    assert hint == "hint: nothing was changed"
    assert notes.read_bytes() == before

    out = house.tmp / "crop.png"
    r = house.run("edit", house.photos[0], "-o", out, "--crop", "0,0,9999,10", "--key", house.key)
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert error == f"error: crop box 0,0,9999,10 lies outside the 640x427 image {house.photos[0]}"
    assert hint == "hint: RIGHT must be at most 640 and BOTTOM at most 427"
    assert "Crop(" not in r.stderr and not out.exists()


# --- 9 -------------------------------------------------------------------------------------
def test_edge_09_similar_says_what_matched(house: House) -> None:
    """9. For a `similar` verdict, check (6) says the bytes and content differ and only the
    perceptual hashes matched (not "image digests match")."""
    from PIL import Image

    house.sign(house.photos[0])
    copy = house.tmp / "reencoded.jpg"
    Image.open(house.photos[0]).save(copy, quality=70)
    r = house.run("verify", copy, "--json")
    assert r.exit_code == 5, r.output
    report = json.loads(r.stdout)
    assert report["verdict"] == "similar" and report["match"] == "perceptual"
    six = report["checks"][5]
    assert six["number"] == 6 and six["code"] == "softBinding.match"
    assert "bytes and displayed content differ" in six["detail"]
    assert "perceptual match only" in six["detail"]
    r = house.run("verify", copy)
    assert r.exit_code == 5 and r.stdout.startswith("SIMILAR")
    [line] = [x for x in r.stdout.splitlines() if x.lstrip().startswith("(6)")]
    assert "bytes and displayed content differ; perceptual match only" in line


# --- 10 ------------------------------------------------------------------------------------
def test_edge_10_claims_show_in_history_and_verify_text(house: House) -> None:
    """10. Claims (author, caption) are shown in `history` and `verify` text, not only in
    `--json`."""
    house.sign(house.photos[0], claims=["author=Alice", "caption=A rocket at dawn"])
    want = 'claims: author="Alice", caption="A rocket at dawn"'
    for command in ("history", "verify"):
        r = house.run(command, house.photos[0])
        assert r.exit_code == 0, r.output
        assert want in r.stdout, (command, r.stdout)


# --- 11 ------------------------------------------------------------------------------------
#: The README's "Using it by hand" block as it should read: every file it names comes from
#: the sentence under it (shoot/, graded.jpg, downloads/, ~/.ssh/id_ed25519.pub) or from an
#: earlier line, and the vkey is taken from `log show`, not a placeholder.
WALKTHROUGH = """\
python3 -m venv .venv && . .venv/bin/activate && pip install .
provenance init --origin newsroom.example/photos       # ./provenance.db + provenance.db.logkey
export PROVENANCE_PASSPHRASE='a long passphrase'        # or --passphrase-file, or a prompt
provenance keys generate alice                          # alice.key (encrypted) + alice.key.pub, registered
provenance keys register ~/.ssh/id_ed25519.pub --name bob   # an existing OpenSSH key
provenance sign shoot/ --recursive --workers 2 --key alice.key --claim author="Alice"
provenance edit shoot/DSC_0001.jpg -o web.png --crop 0,0,3000,2000 --resize 1500x1000 --key alice.key
# graded.jpg was made in another tool from DSC_0002.jpg: record what was declared
provenance derive shoot/DSC_0002.jpg graded.jpg --action c2pa.adjustedColor \\
    --param brightness=1.1 --key alice.key
provenance history web.png
provenance log checkpoint --out today.checkpoint       # keep this somewhere else
provenance log prove web.png
provenance verify web.png --checkpoint today.checkpoint
provenance verify web.png --parent-image shoot/DSC_0001.jpg   # replay the recorded edit
provenance diff shoot/DSC_0001.jpg web.png -o changed.png     # what the edit changed, as a picture
provenance export web.png -o web.provenance.json
provenance log show                                     # prints the vkey to publish
VKEY="$(provenance log show | awk '$1 == "vkey" {print $2}')"   # or paste it
provenance verify web.png --bundle web.provenance.json --trust-log-key "$VKEY"
provenance verify downloads/*.jpg --json                # one JSON line per image
provenance log verify                                   # audit every record, node and checkpoint
"""  # noqa: E501


def _walkthrough_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A home with ~/.ssh/id_ed25519.pub and a working folder with what the walkthrough's
    introduction names: shoot/ (DSC_0001.jpg at least 3000x2000), graded.jpg, downloads/."""
    from PIL import Image, ImageEnhance

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    bob = provenance.SigningKey.from_seed(bytes(range(7, 39)))
    (home / ".ssh" / "id_ed25519.pub").write_text(bob.public.openssh("bob@laptop") + "\n")
    work = tmp_path / "work"
    for sub in ("shoot", "downloads"):
        (work / sub).mkdir(parents=True)
    big = Image.open(CORPUS / "skimage__rocket.jpg").convert("RGB").resize((3000, 2000))
    big.save(work / "shoot" / "DSC_0001.jpg", quality=85)
    shutil.copyfile(CORPUS / "opencv-doc__apple.jpg", work / "shoot" / "DSC_0002.jpg")
    graded = ImageEnhance.Brightness(Image.open(work / "shoot" / "DSC_0002.jpg")).enhance(1.1)
    graded.save(work / "graded.jpg", quality=90)
    shutil.copyfile(work / "graded.jpg", work / "downloads" / "found-online.jpg")
    shutil.copyfile(work / "shoot" / "DSC_0002.jpg", work / "downloads" / "original.jpg")
    return home, work


def _run_walkthrough(block: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a by-hand block as one shell script, stopping at the first failing line; the
    install line is skipped (the test runs in the installed environment)."""
    home, work = _walkthrough_folder(tmp_path)
    lines = [x for x in block.splitlines() if not x.startswith("python3 -m venv ")]
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail -x\n" + "\n".join(lines)],
        cwd=work,
        env=_process_env(HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_edge_11_by_hand_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """11. The by-hand walkthrough runs in a fresh folder as one shell script, given only
    what its introduction names: a virtual environment first, graded.jpg made before it is
    recorded, no download.jpg from nowhere, no placeholder vkey."""
    assert WALKTHROUGH.startswith("python3 -m venv .venv && . .venv/bin/activate")
    done = _run_walkthrough(WALKTHROUGH, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "error:" not in done.stderr
    assert re.search(r"^log verifies: 6 records", done.stdout, re.M), done.stdout[-2000:]
    assert done.stdout.count("VERIFIED: web.png") == 3  # --checkpoint, --parent-image, --bundle
    found = [json.loads(x) for x in done.stdout.splitlines() if x.startswith('{"image": "down')]
    assert sorted((x["image"], x["verdict"]) for x in found) == [
        ("downloads/found-online.jpg", "verified"),
        ("downloads/original.jpg", "verified"),
    ]


# --- 12 ------------------------------------------------------------------------------------
def test_edge_12_checkpoint_key_events_line_has_the_documented_form(house: House) -> None:
    """12. A checkpoint's fourth line is the `provenance-key-events <count> <base64 of 32
    bytes>` extension the README's formats section documents; it counts key events."""
    r = house.run("log", "checkpoint")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[:2] == ["newcomer.test/log", "1"]
    match = re.fullmatch(r"provenance-key-events (\d+) ([A-Za-z0-9+/]{43}=)", lines[3])
    assert match, lines[3]
    assert match.group(1) == "1"  # alice's registration
    assert lines[4] == "" and lines[5].startswith("\u2014 newcomer.test/log ")
    kid = json.loads(house.run("keys", "list", "--json").stdout)[0]["key_id"]
    assert house.run("keys", "revoke", kid, "--reason", "test").exit_code == 0
    lines = house.run("log", "checkpoint").stdout.splitlines()
    assert lines[3].startswith("provenance-key-events 2 ")


def test_edge_12_readme_documents_the_key_events_line() -> None:
    """12. The README's formats section documents the `provenance-key-events` line and shows
    it in its example checkpoint."""
    formats = _readme_section("Formats")
    assert "`provenance-key-events <count> <base64 state>`" in formats
    assert "provenance/key-events/v1" in formats
    example = re.search(r"^```\n(newsroom\.example/photos\n\d+\n.*?)^```$", formats, re.M | re.S)
    assert example, "no example checkpoint in the formats section"
    assert example.group(1).splitlines()[3].startswith("provenance-key-events ")


# --- 13 ------------------------------------------------------------------------------------
def test_edge_13_folder_of_folders_hints_recursive(house: House) -> None:
    """13. `sign nest` on a folder with only sub-folders says to add --recursive."""
    nest = house.tmp / "nest"
    (nest / "day1").mkdir(parents=True)
    shutil.copyfile(house.photos[0], nest / "day1" / "a.jpg")
    r = house.run("sign", nest, "--key", house.key)
    assert r.exit_code == 2, r.output
    assert f"no images found in {nest}" in r.stderr
    assert "add --recursive" in r.stderr
    r = house.run("sign", nest, "--recursive", "--key", house.key)
    assert r.exit_code == 0, r.output
    assert "1 signed" in r.stderr


# --- 14 ------------------------------------------------------------------------------------
def test_edge_14_already_done_is_success_everywhere(house: House) -> None:
    """14. Registering a registered key is `exists` with exit 0, as signing a logged image
    is."""
    pub = f"{house.key}.pub"
    r = house.run("keys", "register", pub, "--name", "alice")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("already registered: ") and "(alice)" in r.stdout
    r = house.run("keys", "register", pub, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["status"] == "exists"
    house.sign(house.photos[0])
    r = house.run("sign", house.photos[0], "--key", house.key, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["status"] == "exists"
    assert json.loads(house.run("log", "show", "--json").stdout)["size"] == 2


# --- 15 ------------------------------------------------------------------------------------
def test_edge_15_wrong_passphrase_from_env_or_file_is_named(house: House) -> None:
    """15a. A wrong PROVENANCE_PASSPHRASE or --passphrase-file is blamed on its source; the
    hint never says to set the variable that is set."""
    photo = house.photos[0]
    r = house.run("sign", photo, "--key", house.key, env={"PROVENANCE_PASSPHRASE": "wrong"})
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert error == (
        f"error: wrong passphrase for key file {house.key}: $PROVENANCE_PASSPHRASE holds a "
        "wrong passphrase"
    )
    assert hint.startswith("hint: correct $PROVENANCE_PASSPHRASE")
    assert "set PROVENANCE_PASSPHRASE" not in hint
    pw = house.tmp / "pw.txt"
    pw.write_text("wrong\n")
    r = house.run("sign", photo, "--key", house.key, "--passphrase-file", pw)
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert error == (
        f"error: wrong passphrase for key file {house.key}: the passphrase file {pw} holds a "
        "wrong passphrase"
    )
    assert hint == f"hint: put the key's passphrase on the first line of {pw}"
    assert "PROVENANCE_PASSPHRASE" not in r.stderr
    assert json.loads(house.run("log", "show", "--json").stdout)["size"] == 1


def test_edge_15_wrong_log_passphrase_is_named(tmp_path: Path, run_cli: Any) -> None:
    """15b. The same for the log key and PROVENANCE_LOG_PASSPHRASE (no prompt exists for
    it); with none, the hint names the log key's own option and variable."""
    db = tmp_path / "p.db"
    env = {"PROVENANCE_LOG_PASSPHRASE": "log secret", "PROVENANCE_PASSPHRASE": PASSPHRASE}
    assert run_cli("--db", db, "init", env=env).exit_code == 0
    r = run_cli(
        "--db",
        db,
        "keys",
        "generate",
        "alice",
        "-o",
        tmp_path / "a.key",
        "--kdf-rounds",
        "1",
        env={**env, "PROVENANCE_LOG_PASSPHRASE": "not it"},
    )
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert "$PROVENANCE_LOG_PASSPHRASE holds a wrong passphrase" in error
    assert hint == "hint: correct $PROVENANCE_LOG_PASSPHRASE"
    r = run_cli(
        "--db",
        db,
        "keys",
        "generate",
        "alice",
        "-o",
        tmp_path / "a.key",
        "--kdf-rounds",
        "1",
        env={"PROVENANCE_PASSPHRASE": PASSPHRASE},
    )
    assert r.exit_code == 3, r.output
    error, hint = _error_lines(r)
    assert error == (
        f"error: no passphrase: key file {db}.logkey needs one and no passphrase file or "
        "$PROVENANCE_LOG_PASSPHRASE is available"
    )
    assert hint == "hint: use --log-passphrase-file FILE or set PROVENANCE_LOG_PASSPHRASE"


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_edge_15_three_tries_at_the_prompt(house: House) -> None:
    """15c. At a terminal a wrong passphrase can be typed again, three tries in all (as ssh
    and gpg give); the third wrong one fails, naming the number of tries."""
    env_free: list[str | os.PathLike[str]] = ["--db", house.db, "sign"]
    photo, other = house.photos[0], house.photos[1]
    code, out, err = _run_at_a_terminal(
        [*env_free, photo, "--key", house.key], ["nope", "still nope", PASSPHRASE], cwd=house.tmp
    )
    assert code == 0, err
    assert err.count("Passphrase for ") == 3
    assert f"Passphrase for {house.key} (wrong passphrase; try 2 of 3): " in err
    assert f"Passphrase for {house.key} (wrong passphrase; try 3 of 3): " in err
    assert out.startswith("signed ")
    code, out, err = _run_at_a_terminal(
        [*env_free, other, "--key", house.key], ["a", "b", "c", PASSPHRASE], cwd=house.tmp
    )
    assert code == 3, err
    assert err.count("Passphrase for ") == 3
    assert f"error: wrong passphrase for key file {house.key} (3 tries)\n" in err
    assert "hint: " in err and "PROVENANCE_PASSPHRASE" not in err
    assert out == ""


def test_edge_15_an_empty_answer_at_a_retry_gives_up(
    house: House, monkeypatch: pytest.MonkeyPatch
) -> None:
    """15d. Pressing Enter at the second prompt stops asking (in-process, a faked terminal)."""
    prompts: list[str] = []
    answers = iter(["wrong", ""])

    def typed(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(provenance.keys, "_stdin_is_tty", lambda: True)
    monkeypatch.setattr("getpass.getpass", typed)
    r = house.run("sign", house.photos[0], "--key", house.key, env={"PROVENANCE_PASSPHRASE": ""})
    assert r.exit_code == 3, r.output
    assert prompts == [
        f"Passphrase for {house.key}: ",
        f"Passphrase for {house.key} (wrong passphrase; try 2 of 3): ",
    ]
    error, hint = _error_lines(r)
    assert error == f"error: wrong passphrase for key file {house.key} (1 try)"
    assert "PROVENANCE_PASSPHRASE" not in hint


# --- 16 ------------------------------------------------------------------------------------
def test_edge_16_init_says_the_log_key_is_not_encrypted(tmp_path: Path, run_cli: Any) -> None:
    """16. `init` says when it writes the log key unencrypted, and how to encrypt it; with
    PROVENANCE_LOG_PASSPHRASE it is encrypted and says nothing of the kind."""
    r = run_cli("--db", tmp_path / "plain.db", "init")
    assert r.exit_code == 0, r.output
    key = tmp_path / "plain.db.logkey"
    assert f"note: the log key {key} is not encrypted (mode 0600)" in r.stderr
    assert "PROVENANCE_LOG_PASSPHRASE" in r.stderr and "--log-passphrase-file" in r.stderr
    assert provenance.keys.key_file_encrypted(key) is False
    r = run_cli(
        "--db", tmp_path / "enc.db", "init", env={"PROVENANCE_LOG_PASSPHRASE": "log secret"}
    )
    assert r.exit_code == 0, r.output
    assert "not encrypted" not in r.stderr
    assert provenance.keys.key_file_encrypted(tmp_path / "enc.db.logkey") is True


# --- 17 ------------------------------------------------------------------------------------
def test_edge_17_verify_json_errors_are_json(house: House) -> None:
    """17. `verify --json` prints a JSON object for every outcome, errors included
    (verdict `error`, the exit code, the error's name, message and hint)."""
    notes = house.tmp / "notes.txt"
    notes.write_text("not a picture")
    cases = [
        (["verify", notes, "--json"], "ImageError", str(notes)),
        (["verify", house.tmp / "missing.jpg", "--json"], "ImageError", "missing.jpg"),
        (
            ["--db", house.tmp / "none.db", "verify", house.photos[0], "--json"],
            "LedgerNotFoundError",
            "none.db",
        ),
    ]
    for args, name, mentioned in cases:
        r = house.run(*args)
        assert r.exit_code == 3, r.output
        doc = json.loads(r.stdout)
        assert doc["verdict"] == "error" and doc["exit_code"] == 3
        assert doc["error"] == name
        assert mentioned in doc["message"] and doc["hint"]
        assert r.stderr.startswith("error: ")  # and still one line for the person


def test_edge_11_readme_walkthrough_is_the_tested_one() -> None:
    section = _readme_section("Using it by hand")
    [block] = _sh_blocks(section)
    assert block == WALKTHROUGH
    prose = " ".join(section.split())
    assert "`downloads/`" in prose and "3000x2000" in prose


def test_edge_04_progress_counts_each_image_before_its_batch_commits(
    lenv: LedgerEnv, photos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """4. Progress moves per image as each is digested, not per committed batch."""
    ticks: list[str] = []
    at_commit: list[int] = []
    real = Ledger.append_records

    def spy(self: Ledger, *a: Any, **k: Any) -> Any:
        at_commit.append(len(ticks))
        return real(self, *a, **k)

    monkeypatch.setattr(Ledger, "append_records", spy)
    lenv.ledger.sign(photos, lenv.alice, batch_size=100, on_progress=ticks.append)
    assert at_commit == [len(photos)]
    assert ticks == [str(p) for p in photos]
