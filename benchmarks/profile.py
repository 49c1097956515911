"""Where the time goes: ``python -m benchmarks.profile sign|append|audit|verify [--smoke]``.

Runs one operation of the suite under cProfile and prints the top functions by own time
and by cumulative time. The evidence behind the "why" of a missed target:

- ``sign``: ``Ledger.sign`` of one 12 MP baseline JPEG into the cached 10k ledger.
- ``append``: ``Store.append`` of one batch of 10,000 pre-signed records, dedupe on and off.
- ``audit``: ``Ledger.audit`` over the cached 10k ledger, signatures in this process.
- ``verify``: a whole ``provenance verify`` of the exact copy on the big ledger (imports
  included), as the CLI process runs it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import uuid
from pathlib import Path

from benchmarks import fixtures
from benchmarks.suite import make_ctx


def _report(prof: cProfile.Profile, title: str, top: int) -> None:
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats(key).print_stats(top)
        print(f"=== {title}: top {top} by {key} ===")
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print("\n".join(line[:160] for line in lines[start:] if line.strip()))
        print()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("what", choices=("sign", "append", "audit", "verify"))
    parser.add_argument("--smoke", action="store_true", help="the smoke sizes' ledgers")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_ctx(smoke=args.smoke, cache=None, tmp=Path(tmp))
        prof = cProfile.Profile()
        if args.what == "sign":
            pics = fixtures.photos(ctx)
            led = fixtures.copy_ledger(
                ctx, fixtures.build_ledger(ctx, ctx.sizes.existing, chain=False), "profile"
            )
            files = []
            for i in range(2):
                p = Path(tmp) / f"v{i}.jpg"
                salt = uuid.uuid4().int % 30_000  # new bytes and content digest each time
                p.write_bytes(fixtures.vary_content(pics.baseline.read_bytes(), salt + i))
                files.append(p)
            with led.open() as ledger:
                key = fixtures.bench_key()
                ledger.sign([files[0]], key)  # warm-up
                prof.runcall(ledger.sign, [files[1]], key)
            _report(prof, "Ledger.sign, one 12 MP JPEG", args.top)
        elif args.what == "append":
            led = fixtures.copy_ledger(
                ctx, fixtures.build_ledger(ctx, ctx.sizes.existing, chain=False), "profile"
            )
            with led.open() as ledger:
                sign_cp = fixtures.checkpoint_signer(ledger)
                for i, dedupe in enumerate((True, False)):
                    recs = fixtures.to_new_records(fixtures.synth_records((7 * 10**9 + i, 10_000)))
                    prof = cProfile.Profile()
                    prof.runcall(ledger.store.append, recs, sign_cp, dedupe=dedupe)
                    _report(prof, f"Store.append, 10,000 records, dedupe={dedupe}", args.top)
        elif args.what == "audit":
            led = fixtures.build_ledger(ctx, ctx.sizes.existing, chain=False)
            with led.open() as ledger:
                # in this process (workers=0), so the profile sees the signature checks too
                prof.runcall(ledger.audit, workers=0)
            _report(prof, f"Ledger.audit (audit_log), {led.size:,} records", args.top)
        else:
            from provenance.cli import main as cli_main

            pics = fixtures.photos(ctx)
            big = fixtures.build_ledger(ctx, ctx.sizes.big, chain=True)
            try:
                prof.runcall(cli_main, ["--db", str(big.db), "verify", str(pics.baseline)])
            except SystemExit as exc:
                print(f"verify exited {exc.code}", file=sys.stderr)
            _report(prof, "provenance verify (exact copy), whole command", args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
