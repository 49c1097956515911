"""Statements and records: golden bytes, strict parsing, canonical form, property tests."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.errors import RecordError
from provenance.keys import PublicKey
from provenance.records import (
    DIGEST_SET,
    MAX_KEY_NAME,
    Action,
    Asset,
    Record,
    Statement,
    canonical,
    check_key_name,
    check_user_claims,
    format_time,
    is_record_id,
    parse_record,
    record_id,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
from make_records_golden import ASSET, ASSET_V2, TIME, golden_records  # noqa: E402

STEMS = [
    "records_key",
    "records_capture",
    "records_edit",
    "records_revoke",
    "records_capture_v2",
    "records_edit_v2",
]
V1_COMMON = {"digests", "format", "height", "phash256", "phash64", "sha256", "width"}


@pytest.mark.parametrize("stem", STEMS)
def test_golden_records(stem: str) -> None:
    """Fixed seeds + fixed clock give byte-identical canonical records and ids."""
    rec = golden_records()[stem]
    assert rec.canonical() == (GOLDEN / f"{stem}.json").read_bytes()
    assert rec.record_id == (GOLDEN / f"{stem}.id").read_text().strip()
    assert parse_record(rec.canonical()) == rec


@pytest.mark.parametrize(
    ("stem", "digests"),
    [
        ("records_capture", 1),
        ("records_edit", 1),
        ("records_capture_v2", 2),
        ("records_edit_v2", 2),
    ],
)
def test_golden_files_parse_and_keep_their_ids(stem: str, digests: int) -> None:
    """The committed bytes (not rebuilt ones): records made with digest set 1 still parse,
    keep their ids, and bind nothing but sha256 and the perceptual hashes."""
    raw = (GOLDEN / f"{stem}.json").read_bytes()
    rec = parse_record(raw)
    assert rec.record_id == (GOLDEN / f"{stem}.id").read_text().strip() == record_id(raw)
    assert rec.canonical() == raw
    asset = rec.statement.asset
    assert asset is not None and asset.digests == digests
    if digests == 1:
        assert asset.pixels is not None and asset.content is None and asset.binding is None
        assert set(asset.to_json()) == V1_COMMON | {"pixels"}
    else:
        assert asset.content is not None and asset.binding == asset.content
        assert asset.pixels is None and asset.pdq is not None
        assert set(asset.to_json()) == V1_COMMON | {"content", "frames", "pdq"}


def test_golden_v2_edit_descends_from_a_v1_capture() -> None:
    recs = golden_records()
    assert recs["records_edit_v2"].statement.parents == (recs["records_capture"].record_id,)


def test_new_records_use_the_current_digest_set() -> None:
    assert DIGEST_SET == 2
    default = Asset(
        sha256="11" * 32, phash64="0" * 16, phash256="0" * 64, width=1, height=1, format="PNG"
    )
    assert default.digests == DIGEST_SET


def test_golden_signatures_verify_over_canonical_statement() -> None:
    recs = golden_records()
    alice = recs["records_key"].statement.key
    assert alice is not None and alice.public is not None
    pub = PublicKey.parse(alice.public)
    cap = recs["records_capture"]
    assert pub.verify(cap.sig, cap.statement.canonical())
    # The signature is over the statement's canonical bytes, nothing else.
    assert not pub.verify(cap.sig, cap.canonical())


def test_canonical_matches_sorted_compact_json_for_integers_and_ascii() -> None:
    """Cross-check RFC 8785 against the stdlib where the two must agree (no floats)."""
    rec = golden_records()["records_key"]
    obj = rec.to_json()
    stdlib = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(obj) == stdlib.encode()


def test_record_id_and_shape() -> None:
    assert record_id(b"x") == (
        "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    )
    assert is_record_id(record_id(b""))
    assert not is_record_id("sha256:ABC")
    assert not is_record_id("sha1:" + "0" * 64)


def test_format_time_requires_aware() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    plus2 = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(plus2) == "2026-01-02T03:04:05Z"
    with pytest.raises(ValueError):
        format_time(datetime(2026, 1, 2))


def _capture_json() -> dict[str, Any]:
    return json.loads(golden_records()["records_capture"].canonical())


def _mutate(path: list[str | int], value: Any, delete: bool = False) -> bytes:
    obj = _capture_json()
    cur: Any = obj
    for p in path[:-1]:
        cur = cur[p]
    if delete:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return canonical(obj)


@pytest.mark.parametrize(
    ("path", "value", "delete", "message"),
    [
        (["statement", "v"], 2, False, "unsupported version"),
        (["statement", "v"], True, False, "unsupported version"),
        (["statement", "type"], "selfie", False, "unknown type"),
        (["statement", "time"], "yesterday", False, "statement.time"),
        (["statement", "time"], "2026-11-26T12:00:00+01:00", False, "statement.time"),
        (["statement", "claims"], [], False, "claims"),
        (["statement", "claims", "x y"], "v", False, "claim name"),
        (["statement", "claims", "n"], 1, False, "expected a string"),
        (["statement", "asset"], None, False, "asset"),
        (["statement", "asset", "sha256"], "AB" * 32, False, "asset.sha256"),
        (["statement", "asset", "phash64"], "0" * 15, False, "asset.phash64"),
        (["statement", "asset", "width"], 0, False, "positive"),
        (["statement", "asset", "width"], 1.5, False, "integer"),
        (["statement", "asset", "format"], "BMP", False, "unsupported format"),
        (["statement", "asset", "digests"], 3, False, "unsupported digest set 3"),
        (["statement", "asset", "digests"], 0, False, "unsupported digest set"),
        (["statement", "asset", "digests"], "1", False, "unsupported digest set"),
        (["statement", "asset", "digests"], True, False, "unsupported digest set"),
        (["statement", "asset", "digests"], None, True, "unsupported digest set"),
        (["statement", "asset", "digests"], 2, False, "missing field 'content'"),
        (["statement", "asset", "extra"], 1, False, "unexpected field"),
        (["statement", "asset", "pixels"], None, True, "missing field"),
        (["statement", "asset", "content"], "88" * 32, False, "unexpected field 'content'"),
        (["statement", "asset", "frames"], 1, False, "unexpected field 'frames'"),
        (["statement", "asset", "pdq"], "aa" * 32, False, "unexpected field 'pdq'"),
        (["statement", "parents"], ["sha256:" + "0" * 64], False, "capture has no parents"),
        (["statement", "actions"], {}, False, "expected a list"),
        (["statement", "extra"], 1, False, "unexpected field"),
        (["statement", "claims"], None, True, "claims"),
        (["signer"], "alice", False, "record.signer"),
        (["sig"], "AAAA", False, "64 bytes"),
        (["sig"], "!!!", False, "base64"),
        (["extra"], 1, False, "unexpected field"),
        (["statement"], None, True, "missing field"),
    ],
)
def test_malformed_records_are_rejected(
    path: list[str | int], value: Any, delete: bool, message: str
) -> None:
    with pytest.raises(RecordError, match=message):
        parse_record(_mutate(path, value, delete))


def test_edit_rules() -> None:
    edit = json.loads(golden_records()["records_edit"].canonical())
    no_parents = json.loads(json.dumps(edit))
    no_parents["statement"]["parents"] = []
    with pytest.raises(RecordError, match="at least one parent"):
        parse_record(canonical(no_parents))
    no_actions = json.loads(json.dumps(edit))
    no_actions["statement"]["actions"] = []
    with pytest.raises(RecordError, match="at least one action"):
        parse_record(canonical(no_actions))
    dup = json.loads(json.dumps(edit))
    dup["statement"]["parents"] = dup["statement"]["parents"] * 2
    with pytest.raises(RecordError, match="duplicate parent"):
        parse_record(canonical(dup))
    bad_action = json.loads(json.dumps(edit))
    bad_action["statement"]["actions"][0]["action"] = "Crop!"
    with pytest.raises(RecordError, match="action"):
        parse_record(canonical(bad_action))


def test_non_canonical_bytes_are_rejected() -> None:
    good = golden_records()["records_capture"].canonical()
    obj = json.loads(good)
    pretty = json.dumps(obj, indent=1, ensure_ascii=False).encode()
    with pytest.raises(RecordError, match="canonical"):
        parse_record(pretty)
    escaped = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()  # \u escapes
    with pytest.raises(RecordError, match="canonical"):
        parse_record(escaped)
    with pytest.raises(RecordError, match="canonical"):
        parse_record(good + b"\n")


def test_duplicate_keys_and_constants_are_rejected() -> None:
    good = golden_records()["records_capture"].canonical().decode()
    dup = good.replace('{"sig":', '{"sig":"x","sig":', 1)
    with pytest.raises(RecordError, match="duplicate key"):
        parse_record(dup.encode())
    with pytest.raises(RecordError):
        parse_record(b'{"sig":NaN}')
    with pytest.raises(RecordError, match="not valid JSON"):
        parse_record(b"\xff\xfe")
    with pytest.raises(RecordError, match="too large"):
        parse_record(b" " * (65 * 1024))


def test_statement_constructor_validates() -> None:
    with pytest.raises(RecordError):
        Statement(type="capture", time=TIME)  # no asset
    with pytest.raises(RecordError):
        Statement(type="edit", time=TIME, asset=ASSET)  # no parents
    with pytest.raises(RecordError):
        Statement(type="capture", time="now", asset=ASSET)
    with pytest.raises(RecordError):
        Statement(
            type="capture",
            time=TIME,
            asset=ASSET,
            actions=(Action("c2pa.edited", {"x": float("nan")}),),
        )
    with pytest.raises(RecordError):
        Statement(
            type="capture", time=TIME, asset=ASSET, actions=(Action("c2pa.edited", {"x": 2**60}),)
        )
    with pytest.raises(RecordError, match="interoperable"):
        # would canonicalise to an integer beyond 2**53 and never parse back
        Statement(
            type="capture", time=TIME, asset=ASSET, actions=(Action("c2pa.edited", {"x": 2.0**53}),)
        )


def test_asset_round_trip() -> None:
    assert Asset.from_json(ASSET.to_json()) == ASSET
    assert Asset.from_json(ASSET_V2.to_json()) == ASSET_V2


def test_asset_field_sets_per_version() -> None:
    """Each digest set has exactly its own fields, in to_json and in from_json."""
    v1, v2 = ASSET.to_json(), ASSET_V2.to_json()
    assert set(v1) == V1_COMMON | {"pixels"}
    assert set(v2) == V1_COMMON | {"content", "frames", "pdq"}
    assert (v1["digests"], v2["digests"]) == (1, 2)
    for good in (v1, v2):
        for field in good:
            missing = {k: v for k, v in good.items() if k != field}
            with pytest.raises(RecordError):
                Asset.from_json(missing)
    # a field of the other version is refused, whatever its value
    with pytest.raises(RecordError, match="unexpected field 'pixels'"):
        Asset.from_json({**v2, "pixels": "22" * 32})
    with pytest.raises(RecordError, match="unexpected field 'content'"):
        Asset.from_json({**v1, "content": "88" * 32})
    with pytest.raises(RecordError, match="expected an object"):
        Asset.from_json([v2])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"content": "88" * 31}, "asset.content"),
        ({"content": "AB" * 32}, "asset.content"),
        ({"content": None}, "asset.content"),
        ({"pdq": "0" * 63}, "asset.pdq"),
        ({"pdq": None}, "asset.pdq"),
        ({"frames": 0}, "asset.frames"),
        ({"frames": -1}, "asset.frames"),
        ({"frames": 1.5}, "asset.frames"),
        ({"frames": True}, "asset.frames"),
        ({"width": 0}, "positive"),
        ({"format": "BMP"}, "unsupported format"),
        ({"phash64": "g" * 16}, "asset.phash64"),
        ({"digests": 3}, "unsupported digest set 3"),
        ({"digests": "2"}, "unsupported digest set"),
    ],
)
def test_asset_v2_rejects(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        Asset.from_json({**ASSET_V2.to_json(), **change})


def test_a_v2_statement_with_a_malformed_asset_cannot_be_built() -> None:
    with pytest.raises(RecordError, match=r"asset\.content"):
        Statement(type="capture", time=TIME, asset=replace(ASSET_V2, content=None))
    with pytest.raises(RecordError, match=r"asset\.pixels"):
        Statement(type="capture", time=TIME, asset=replace(ASSET, pixels=None))


def _hexes(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=n, max_size=n)


_assets = st.one_of(
    st.builds(
        Asset,
        digests=st.just(1),
        sha256=_hexes(64),
        pixels=_hexes(64),
        phash64=_hexes(16),
        phash256=_hexes(64),
        width=st.integers(1, 2**53 - 1),
        height=st.integers(1, 2**53 - 1),
        format=st.sampled_from(["JPEG", "PNG", "WEBP", "TIFF", "GIF", "HEIF", "AVIF", "MPO"]),
    ),
    st.builds(
        Asset,
        digests=st.just(2),
        sha256=_hexes(64),
        content=_hexes(64),
        pdq=_hexes(64),
        frames=st.integers(1, 2**53 - 1),
        phash64=_hexes(16),
        phash256=_hexes(64),
        width=st.integers(1, 2**53 - 1),
        height=st.integers(1, 2**53 - 1),
        format=st.sampled_from(["JPEG", "PNG", "WEBP", "TIFF", "GIF", "HEIF", "AVIF", "MPO"]),
    ),
)


@settings(max_examples=200, deadline=None)
@given(_assets)
def test_asset_json_round_trip_property(asset: Asset) -> None:
    as_json = json.loads(json.dumps(asset.to_json()))
    assert Asset.from_json(as_json) == asset
    assert asset.binding == (asset.content if asset.digests == 2 else None)


# --- user claims and key names -------------------------------------------------------------


def test_user_claims() -> None:
    check_user_claims({})
    check_user_claims({"author": "Alice", "iptc:City": "Zürich", "a.b-c_d:e": "x" * 4096})
    check_user_claims({"Provenance.edit": "1", "provenanceNote": "x"})  # not the prefix
    for reserved in ("provenance.edit", "provenance.", "provenance.anything"):
        with pytest.raises(RecordError, match="reserved") as info:
            check_user_claims({"author": "a", reserved: "1"})
        assert info.value.hint is not None and "provenance." in info.value.hint


@pytest.mark.parametrize(
    "name", ["", "1abc", "_x", "a b", "a\nb", "é", "a/b", "x" * 65, "author=", ".provenance"]
)
def test_malformed_claim_names_are_refused(name: str) -> None:
    with pytest.raises(RecordError, match="malformed claim name") as info:
        check_user_claims({name: "v"})
    assert info.value.hint is not None
    assert "\n" not in str(info.value)


def test_claim_values_are_bounded_strings() -> None:
    with pytest.raises(RecordError, match="expected a string"):
        check_user_claims({"n": 1})  # type: ignore[dict-item]
    with pytest.raises(RecordError, match="longer than"):
        check_user_claims({"n": "x" * 4097})


@pytest.mark.parametrize(
    "name",
    [
        "alice",
        "Alice Example",
        "Zürich desk",
        "写真家",
        "José Núñez-Ortiz",
        "a",
        "x" * MAX_KEY_NAME,
    ],
)
def test_good_key_names(name: str) -> None:
    assert check_key_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        " alice",
        "alice ",
        "alice\n[ok ] #3 capture by alice",  # forged output lines
        "alice\r",
        "al\tice",
        "\x1b[31mred",  # terminal escape
        "alice\x00",
        "alice\x7f",
        "evil\u202egpj.exe",  # bidi override
        "a\u200bb",  # zero-width space (format character)
        "a\u2028b",  # line separator
        "x" * (MAX_KEY_NAME + 1),
    ],
)
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(RecordError, match="invalid key name") as info:
        check_key_name(name)
    message = str(info.value)
    assert message.isprintable(), "the error must not carry the control characters itself"
    assert info.value.hint is not None and str(MAX_KEY_NAME) in info.value.hint


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_key_names_that_pass_are_printable_and_trimmed(name: str) -> None:
    try:
        assert check_key_name(name) == name
    except RecordError as exc:
        assert str(exc).isprintable()
        return
    assert 1 <= len(name) <= MAX_KEY_NAME
    assert name.isprintable() and name == name.strip()


_GOOD = {
    1: golden_records()["records_edit"].canonical(),
    2: golden_records()["records_edit_v2"].canonical(),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_records_never_crash(data: st.DataObject) -> None:
    """Any byte mutation or truncation is rejected with RecordError, or parses to a record
    whose canonical bytes are exactly the input (a valid record, never a silent change)."""
    raw = bytearray(_GOOD[data.draw(st.sampled_from([1, 2]))])
    op = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    pos = data.draw(st.integers(0, len(raw) - 1))
    if op == "flip":
        raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif op == "truncate":
        del raw[pos:]
    elif op == "insert":
        raw.insert(pos, data.draw(st.integers(0, 255)))
    else:
        del raw[pos]
    try:
        rec = parse_record(bytes(raw))
    except RecordError:
        return
    assert rec.canonical() == bytes(raw)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(max_size=20)
    | st.floats(min_value=-(2.0**53) + 1, max_value=2.0**53 - 1, allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    params=st.dictionaries(st.text(min_size=1, max_size=8), _json_values, max_size=5),
    claims=st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9_.:-]{0,10}", fullmatch=True),
        st.text(max_size=30),
        max_size=5,
    ),
    asset=_assets,
)
def test_round_trip_property(params: dict[str, Any], claims: dict[str, str], asset: Asset) -> None:
    """Any valid statement survives sign -> canonical bytes -> strict parse unchanged."""
    from provenance.keys import SigningKey
    from provenance.records import sign_statement

    parent = golden_records()["records_capture"].record_id
    st_ = Statement(
        type="edit",
        time=TIME,
        asset=asset,
        parents=(parent,),
        actions=(Action("c2pa.edited", params),),
        claims=claims,
    )
    rec = sign_statement(st_, SigningKey.from_seed(bytes(32)))
    again = parse_record(rec.canonical())
    assert again.canonical() == rec.canonical()
    # the statement bytes remembered from the input are exactly its canonical form
    assert again.statement.canonical() == canonical(again.statement.to_json())
    assert again.record_id == rec.record_id
    assert isinstance(again, Record)
