"""Text renderings of what the library returns: reports, chains, keys, proofs, receipts.

Pure functions from values to lines (the commands print them with :func:`.base.out`). Every
string that came from a ledger, a bundle or a user goes through :func:`.base.safe`, so a key
name holding a newline or a terminal escape sequence is shown, never obeyed: a signer cannot
forge a line of this output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from provenance.cli.base import safe

if TYPE_CHECKING:
    from provenance import ChainStep, InclusionProof, KeyInfo, LedgerInfo, Report, SignResult

_MATCH_WORDS = {
    "sha256": "exact file match (the signed bytes)",
    "content": "content match: what a viewer shows is what was signed; only metadata differs",
    "perceptual": "perceptual match only",
    None: "record",
}

_CHECK_MARK = {"pass": "pass", "fail": "FAIL", "skip": "skip"}


def signer(step: ChainStep) -> str:
    """``name (SHA256:...)``: two keys may share a name, the key id tells them apart."""
    if step.signer_name:
        return f"{safe(step.signer_name)} ({step.signer})"
    return step.signer


def actions(step: ChainStep) -> str:
    return ", ".join(
        safe(a["action"])
        + (safe(json.dumps(a["params"], sort_keys=True, ensure_ascii=False)) if a["params"] else "")
        for a in step.actions
    )


def claims(step: ChainStep) -> str:
    return ", ".join(
        f"{safe(k)}={safe(json.dumps(v, ensure_ascii=False))}"
        for k, v in sorted(step.claims.items())
    )


def assurance_line(report: Report) -> str | None:
    """What a verdict rests on: every edit replayed, or some only declared."""
    if report.assurance is None or not report.chain:
        return None
    declared = report.declared_steps
    edits = sum(1 for s in report.chain if s.type == "edit")
    if not edits:
        return "a signed capture, no edits since"
    if not declared:
        return f"every step checked: {edits} edit(s) replayed from their parent images"
    plausible = sum(1 for s in declared if s.check == "declared, plausible")
    return f"{len(declared)} of {edits} edit(s) declared by their signers, not replayed" + (
        f" ({plausible} checked plausible from the records)" if plausible else ""
    )


def report_lines(report: Report, name: str) -> Iterator[str]:
    """``verify``'s text output: verdict, match, checkpoint, the numbered checks, the chain."""
    yield f"{report.verdict.upper()}: {safe(name)}"
    line = assurance_line(report)
    if line:
        yield f"  {line}"
    if report.record_id:
        how = _MATCH_WORDS[report.match]
        if report.variant not in (None, "original"):  # PDQ: "mirrored horizontally", ...
            how += f" (the record's image {report.variant})"
        yield f"  matched record #{report.index} {report.record_id} by {how}"
    if report.checkpoint_size is not None:
        witnessed = (
            f", cosigned by {', '.join(map(safe, report.witnesses))}" if report.witnesses else ""
        )
        yield f"  checkpoint: {safe(report.origin)} size {report.checkpoint_size}{witnessed}"
    for c in report.checks:
        detail = f" ({c.code}{': ' + safe(c.detail) if c.detail else ''})" if c.code != "ok" else ""
        yield f"  ({c.number}) {_CHECK_MARK[c.status]}  {c.name}{detail}"
        for p in c.problems[1:5]:
            yield f"           also {p.code}: {safe(p.detail)}"
    if report.chain:
        yield "  chain back to capture (times are the signers' claims):"
        for step in report.chain:
            yield "    " + step_line(step)
            if step.claims:
                yield f"          claims: {claims(step)}"
    for note in report.notes:
        yield f"  note: {safe(note)}"


def step_line(step: ChainStep) -> str:
    mark = "ok " if step.ok else "BAD"
    how = {"capture": "capture", "key event": "key"}.get(step.check, step.check)
    acts = actions(step)
    return (
        f"[{mark}] #{step.index} {step.type:<7} by {signer(step)}  {safe(step.time)}"
        + (f"  {acts}" if acts else "")
        + (f"  [{how}]" if step.type == "edit" else "")
    )


def tree_lines(report: Report) -> Iterator[str]:
    """The chain as an indented tree, child first (iterative: any depth)."""
    steps = {s.record_id: s for s in report.chain}
    if not report.chain:
        return
    stack: list[tuple[ChainStep, str, str]] = [(report.chain[0], "", "")]
    while stack:
        step, head, pad = stack.pop()
        mark = "ok " if step.ok else "BAD"
        acts = actions(step)
        how = f"  [{step.check}]" if step.type == "edit" else ""
        yield (
            f"{head}[{mark}] #{step.index} {step.type:<7} {step.record_id[:19]}…  by "
            f"{signer(step)}  {safe(step.time)}" + (f"  {acts}" if acts else "") + how
        )
        if step.claims:
            yield f"{pad}      claims: {claims(step)}"
        if step.check_detail and step.type == "edit":
            yield f"{pad}      {safe(step.check_detail)}"
        for p in step.problems:
            yield f"{pad}      ! {safe(p)}"
        parents = [steps[p] for p in step.parents if p in steps]
        for p in (p for p in step.parents if p not in steps):
            yield f"{pad}└── [BAD] parent {p[:19]}… is missing"
        for n, parent in reversed(list(enumerate(parents))):
            last = n == len(parents) - 1
            stack.append(
                (parent, pad + ("└── " if last else "├── "), pad + ("    " if last else "│   "))
            )


def sign_line(res: SignResult) -> str:
    """One line per image handed to ``sign``."""
    if res.status == "error":
        return f"error    {safe(res.path)}: {safe(res.error)}"
    if res.status == "conflict":
        who = f"{safe(res.signer_name)} ({res.signer})" if res.signer_name else res.signer
        return (
            f"CONFLICT {safe(res.path)}: already logged by {who} as #{res.index} "
            f"{res.record_id}; your signature was not recorded"
        )
    word = "signed  " if res.status == "signed" else "exists  "
    line = f"{word} {safe(res.path)}  {res.record_id}  (log index {res.index})"
    if res.c2pa:
        line += f"\n  content credentials: {safe(res.c2pa)}"
    return line


def key_lines(keys: list[KeyInfo]) -> Iterator[str]:
    if not keys:
        yield "no keys registered"
    for k in keys:
        state = f"revoked at record {k.revoked_at}" if k.revoked_at is not None else "active"
        yield f"{k.key_id}  {safe(k.name):<20} registered at record {k.registered_at}, {state}"


def info_lines(info: LedgerInfo) -> Iterator[str]:
    counts = info.counts
    yield f"ledger   {safe(info.db)}"
    yield f"origin   {safe(info.origin)}"
    yield (
        f"size     {info.size} records ({counts.get('assets', 0)} images, "
        f"{counts.get('keys', 0)} keys, {counts.get('revocations', 0)} revocations)"
    )
    yield f"log key  {info.log_key_id}"
    yield f"vkey     {safe(info.vkey)}"
    if info.checkpoint is not None:
        yield "latest checkpoint:"
        yield from (safe(line) for line in info.checkpoint.note.rstrip("\n").split("\n"))


def proof_lines(p: InclusionProof) -> Iterator[str]:
    import base64

    yield f"record     {p.record_id}"
    yield f"index      {p.index}"
    yield f"tree size  {p.size}"
    yield f"leaf hash  {p.leaf_hash.hex()}"
    yield f"root       {p.root.hex()}  ({base64.b64encode(p.root).decode()})"
    yield f"proof ({len(p.proof)} hashes, checked against the root):"
    for h in p.proof:
        yield f"  {h.hex()}"
