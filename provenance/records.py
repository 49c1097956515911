"""Statements and records: their types, strict parsing, canonical bytes and record ids.

A *statement* is what a signer claims (DESIGN section 4); a *record* is a statement with
the signer's key id and an Ed25519 signature over the statement's canonical bytes
(RFC 8785, JCS). The record id is ``sha256:<hex>`` of the record's canonical bytes and the
Merkle leaf is RFC 9162 ``HASH(0x00 || canonical(record))``.

Parsing is strict: unknown versions, missing or extra fields, wrong types and
non-canonical input bytes are all :class:`~provenance.errors.RecordError`. This module
does no I/O and no cryptography beyond SHA-256; signing lives in :mod:`provenance.keys`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol, cast

import rfc8785

from provenance.errors import RecordError

STATEMENT_VERSION: Final = 1
DIGEST_SET: Final = 2
"""The digest set new records carry (DESIGN section 3); 1 is still read."""
MAX_RECORD_BYTES: Final = 65535
"""Largest canonical record: it must fit a tlog-tiles entry bundle's uint16 length."""

RecordType = Literal["capture", "edit", "key", "revoke"]
RECORD_TYPES: Final[tuple[str, ...]] = ("capture", "edit", "key", "revoke")

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_RECORD_ID = re.compile(r"sha256:[0-9a-f]{64}")
_KEY_ID = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_ACTION = re.compile(r"[a-z][A-Za-z0-9_]*(\.[a-z][A-Za-z0-9_]*)+")
_CLAIM_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
_FORMATS: Final = frozenset({"JPEG", "PNG", "WEBP", "TIFF", "GIF", "HEIF", "AVIF", "MPO"})

JSONValue = Any  # JSON values as produced by json.loads (kept loose on purpose)


def canonical(obj: Any) -> bytes:
    """Return the RFC 8785 canonical JSON bytes of ``obj``."""
    if _plain(obj, 0):
        # ASCII text and integers only: the standard library's sorted compact encoding
        # is RFC 8785 (see :func:`_canonical_fast`), and much faster.
        text = _FAST_ENCODER.encode(obj)
        if text.isascii():
            return text.encode("ascii")
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise RecordError(f"cannot canonicalise: {exc}") from exc


def format_time(when: datetime) -> str:
    """Render an aware datetime as RFC 3339 UTC with a ``Z`` suffix (second precision)."""
    if when.tzinfo is None:
        raise ValueError("time must be timezone-aware")
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- value types ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Asset:
    """The digests binding a record to an image (DESIGN section 3), in digest set ``digests``.

    Digest set 2 (current): ``content`` (what a viewer displays, metadata-independent),
    ``frames``, and the perceptual hashes with ``pdq``. Digest set 1 (older records):
    ``pixels`` (frame 0 after EXIF orientation) instead of ``content``; no ``frames``, no
    ``pdq``. Width and height are as displayed (orientation applied).
    """

    sha256: str
    phash64: str
    phash256: str
    width: int
    height: int
    format: str
    digests: int = DIGEST_SET
    content: str | None = None
    pixels: str | None = None
    frames: int = 1
    pdq: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {
            "digests": self.digests,
            "format": self.format,
            "height": self.height,
            "phash256": self.phash256,
            "phash64": self.phash64,
            "sha256": self.sha256,
            "width": self.width,
        }
        if self.digests == 1:
            out["pixels"] = self.pixels
        else:
            out.update(content=self.content, frames=self.frames, pdq=self.pdq)
        return out

    @classmethod
    def from_json(cls, obj: JSONValue) -> Asset:
        common = {"digests", "format", "height", "phash256", "phash64", "sha256", "width"}
        if not isinstance(obj, dict):
            raise RecordError("asset: expected an object")
        version = obj.get("digests")
        if type(version) is int and version == 1:
            o = _obj(obj, "asset", common | {"pixels"})
        elif type(version) is int and version == 2:
            o = _obj(obj, "asset", common | {"content", "frames", "pdq"})
        else:
            raise RecordError(f"asset.digests: unsupported digest set {version!r}")
        fmt = _str(o["format"], "asset.format")
        if fmt not in _FORMATS:
            raise RecordError(f"asset.format: unsupported format {fmt!r}")
        width = _int(o["width"], "asset.width")
        height = _int(o["height"], "asset.height")
        if width < 1 or height < 1:
            raise RecordError("asset: width and height must be positive")
        common_values: dict[str, Any] = {
            "sha256": _match(o["sha256"], _HEX64, "asset.sha256"),
            "phash64": _match(o["phash64"], _HEX16, "asset.phash64"),
            "phash256": _match(o["phash256"], _HEX64, "asset.phash256"),
            "width": width,
            "height": height,
            "format": fmt,
            "digests": version,
        }
        if version == 1:
            return cls(**common_values, pixels=_match(o["pixels"], _HEX64, "asset.pixels"))
        frames = _int(o["frames"], "asset.frames")
        if frames < 1:
            raise RecordError("asset.frames: must be positive")
        return cls(
            **common_values,
            content=_match(o["content"], _HEX64, "asset.content"),
            frames=frames,
            pdq=_match(o["pdq"], _HEX64, "asset.pdq"),
        )

    @property
    def binding(self) -> str | None:
        """The metadata-independent digest a match may rely on (None for digest set 1)."""
        return self.content if self.digests >= 2 else None


@dataclass(frozen=True, slots=True)
class Action:
    """One C2PA-named action with its parameters (``c2pa.cropped`` ...)."""

    action: str
    params: Mapping[str, JSONValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, JSONValue]:
        return {"action": self.action, "params": dict(self.params)}

    @classmethod
    def from_json(cls, obj: JSONValue) -> Action:
        o = _obj(obj, "action", {"action", "params"})
        name = _match(o["action"], _ACTION, "actions[].action")
        params = o["params"]
        if not isinstance(params, dict):
            raise RecordError("actions[].params: expected an object")
        _check_json_value(params, "actions[].params", depth=0)
        return cls(action=name, params=params)


@dataclass(frozen=True, slots=True)
class KeyRef:
    """The key a ``key`` (registration) or ``revoke`` statement is about."""

    id: str
    public: str | None = None  # OpenSSH public key line; required for ``key``
    name: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {"id": self.id}
        if self.public is not None:
            out["public"] = self.public
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True, slots=True)
class Statement:
    """What a signer asserts. Fields depend on ``type`` (see :func:`Statement.from_json`)."""

    type: RecordType
    time: str
    asset: Asset | None = None
    parents: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    key: KeyRef | None = None
    claims: Mapping[str, str] = field(default_factory=dict)
    v: int = STATEMENT_VERSION
    # canonical bytes, remembered when parsed from canonical input (not part of equality)
    _canonical: bytes | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Re-validate through the strict parser so a Statement can never be malformed.
        Statement.from_json(self._raw_json())

    def _raw_json(self) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {
            "v": self.v,
            "type": self.type,
            "time": self.time,
            "claims": dict(self.claims),
        }
        if self.type in ("capture", "edit"):
            out["asset"] = self.asset.to_json() if self.asset is not None else None
            out["parents"] = list(self.parents)
            out["actions"] = [a.to_json() for a in self.actions]
        else:
            out["key"] = self.key.to_json() if self.key is not None else None
        return out

    def to_json(self) -> dict[str, JSONValue]:
        return self._raw_json()

    def canonical(self) -> bytes:
        return self._canonical if self._canonical is not None else canonical(self.to_json())

    @classmethod
    def from_json(cls, obj: JSONValue) -> Statement:
        if not isinstance(obj, dict):
            raise RecordError("statement: expected an object")
        if "v" not in obj:
            raise RecordError("statement: missing field 'v'")
        if obj["v"] != STATEMENT_VERSION or isinstance(obj["v"], bool):
            raise RecordError(f"statement: unsupported version {obj['v']!r}")
        rtype = obj.get("type")
        if rtype not in RECORD_TYPES:
            raise RecordError(f"statement: unknown type {rtype!r}")
        claims = _claims(obj.get("claims"))
        if rtype in ("capture", "edit"):
            o = _obj(
                obj, "statement", {"v", "type", "time", "claims", "asset", "parents", "actions"}
            )
            parents = o["parents"]
            if not isinstance(parents, list):
                raise RecordError("statement.parents: expected a list")
            parent_ids = tuple(_match(p, _RECORD_ID, "statement.parents[]") for p in parents)
            if len(set(parent_ids)) != len(parent_ids):
                raise RecordError("statement.parents: duplicate parent")
            if rtype == "capture" and parent_ids:
                raise RecordError("statement: a capture has no parents")
            if rtype == "edit" and not parent_ids:
                raise RecordError("statement: an edit names at least one parent")
            actions = o["actions"]
            if not isinstance(actions, list):
                raise RecordError("statement.actions: expected a list")
            if rtype == "edit" and not actions:
                raise RecordError("statement: an edit lists at least one action")
            return cls._make(
                type=cast(RecordType, rtype),
                time=_match(o["time"], _TIME, "statement.time"),
                asset=Asset.from_json(o["asset"]),
                parents=parent_ids,
                actions=tuple(Action.from_json(a) for a in actions),
                claims=claims,
            )
        o = _obj(obj, "statement", {"v", "type", "time", "claims", "key"})
        if rtype == "key":
            k = _obj(o["key"], "statement.key", {"id", "public", "name"})
            key = KeyRef(
                id=_match(k["id"], _KEY_ID, "statement.key.id"),
                public=_str(k["public"], "statement.key.public"),
                name=_str(k["name"], "statement.key.name"),
            )
        else:
            k = _obj(o["key"], "statement.key", {"id"})
            key = KeyRef(id=_match(k["id"], _KEY_ID, "statement.key.id"))
        return cls._make(
            type=cast(RecordType, rtype),
            time=_match(o["time"], _TIME, "statement.time"),
            key=key,
            claims=claims,
        )

    @classmethod
    def _make(cls, **kwargs: Any) -> Statement:
        # Build without re-running __post_init__ validation (already validated).
        st = object.__new__(cls)
        defaults: dict[str, Any] = {
            "asset": None,
            "parents": (),
            "actions": (),
            "key": None,
            "claims": {},
            "v": STATEMENT_VERSION,
            "_canonical": None,
        }
        defaults.update(kwargs)
        for name, value in defaults.items():
            object.__setattr__(st, name, value)
        return st


@dataclass(frozen=True, slots=True)
class Record:
    """A signed statement: ``{"statement": ..., "signer": <key id>, "sig": <base64>}``."""

    statement: Statement
    signer: str
    sig: bytes
    _canonical: bytes | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "sig": base64.b64encode(self.sig).decode("ascii"),
            "signer": self.signer,
            "statement": self.statement.to_json(),
        }

    def canonical(self) -> bytes:
        return self._canonical if self._canonical is not None else canonical(self.to_json())

    @property
    def record_id(self) -> str:
        return record_id(self.canonical())

    @classmethod
    def from_json(cls, obj: JSONValue) -> Record:
        o = _obj(obj, "record", {"statement", "signer", "sig"})
        signer = _match(o["signer"], _KEY_ID, "record.signer")
        sig_b64 = _str(o["sig"], "record.sig")
        try:
            sig = base64.b64decode(sig_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RecordError("record.sig: invalid base64") from exc
        if len(sig) != 64 or base64.b64encode(sig).decode("ascii") != sig_b64:
            raise RecordError("record.sig: expected 64 bytes in canonical base64")
        return cls(statement=Statement.from_json(o["statement"]), signer=signer, sig=sig)


RESERVED_CLAIM_PREFIX: Final = "provenance."
MAX_KEY_NAME: Final = 64


def check_user_claims(claims: Mapping[str, str]) -> None:
    """Claims given by a user: valid names, and none in the reserved ``provenance.`` space
    (the tool's own markers, such as ``provenance.edit``, cannot be claimed by hand).

    Raises:
        RecordError: a malformed or reserved claim name, or a value too long.
    """
    for name, value in claims.items():
        if _CLAIM_KEY.fullmatch(name) is None:
            raise RecordError(
                f"malformed claim name {name[:80]!r}",
                hint="claim names start with a letter: letters, digits, _ . : -, at most 64",
            )
        if name.startswith(RESERVED_CLAIM_PREFIX):
            raise RecordError(
                f"claim {name!r} is reserved for provenance's own markers",
                hint="choose a name that does not start with 'provenance.'",
            )
        _str(value, f"claim {name}")


def check_key_name(name: str) -> str:
    """A signer's name: 1 to 64 printable characters, no surrounding spaces.

    Raises:
        RecordError: the name is empty, too long, or holds control or format characters.
    """
    if not name or len(name) > MAX_KEY_NAME or not name.isprintable() or name != name.strip():
        raise RecordError(
            f"invalid key name {name[:80]!r}",
            hint=f"1 to {MAX_KEY_NAME} printable characters, no control characters and no "
            "leading or trailing spaces",
        )
    return name


def record_id(canonical_record: bytes) -> str:
    """The record id of a record given its canonical bytes."""
    return "sha256:" + hashlib.sha256(canonical_record).hexdigest()


def is_record_id(text: str) -> bool:
    """True when ``text`` has the shape of a record id."""
    return _RECORD_ID.fullmatch(text) is not None


def parse_record(data: bytes) -> Record:
    """Strictly parse canonical record bytes (from the log, a bundle or a file).

    Raises:
        RecordError: not UTF-8 JSON, duplicate keys, not canonical, or not a valid record.
    """
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"record too large: {len(data)} bytes")
    obj = _canonical_fast(data)
    if obj is None:
        try:
            obj = json.loads(
                data.decode("utf-8"),
                object_pairs_hook=_no_duplicates,
                parse_constant=_reject_constant,
            )
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise RecordError(f"record is not valid JSON: {exc}") from exc
        record = Record.from_json(obj)
        if canonical(obj) != data:
            raise RecordError("record is not in canonical form (RFC 8785)")
    else:
        record = Record.from_json(obj)
    if record.to_json() != obj:
        raise RecordError("record does not round-trip to the same bytes")
    # The input is canonical, so the statement's canonical bytes are the value of its
    # "statement" member, the last one ("sig" < "signer" < "statement"); neither the
    # base64 signature nor the key id can contain the separator.
    start = data.index(b',"statement":') + len(b',"statement":')
    object.__setattr__(record.statement, "_canonical", data[start:-1])
    object.__setattr__(record, "_canonical", data)
    return record


class _NotFast(Exception):
    """The input needs the general (RFC 8785) path."""


def _no_float(text: str) -> float:
    raise _NotFast


def _fast_constant(name: str) -> None:
    raise _NotFast


_FAST_DECODER = json.JSONDecoder(parse_float=_no_float, parse_constant=_fast_constant)
_FAST_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _plain(value: Any, depth: int) -> bool:
    """Whether ``value`` holds only objects with string keys, arrays, strings, booleans,
    null and integers of magnitude below 2**53 (nested at most 32 deep)."""
    if isinstance(value, str) or value is None or value is True or value is False:
        return True
    if type(value) is int:
        return -(2**53) < value < 2**53
    if depth > 32:
        return False
    if type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    if type(value) is list:
        return all(_plain(v, depth + 1) for v in value)
    return False


def _canonical_fast(data: bytes) -> Any | None:
    """The parsed value of ``data`` when it is, provably, canonical RFC 8785 JSON; None
    when the general path must decide (it then gives the precise error).

    For ASCII input without numbers other than integers, the standard library's sorted,
    compact encoding *is* RFC 8785: keys sort by code point (the same order as UTF-16 code
    units for ASCII), strings escape exactly ``"``, ``\\`` and control characters in the
    same forms (``\\n`` ... and lowercase ``\\u00xx``), and integers print in decimal
    (every integer a valid record holds is below 2**53, where ES6 number formatting is
    decimal too; :meth:`Record.from_json` checks that range). Duplicate keys, whitespace,
    other escapes and any other deviation make the re-encoding differ from the input.
    """
    if not data.isascii():
        return None
    try:
        text = data.decode("ascii")
        obj = _FAST_DECODER.decode(text)
        if not isinstance(obj, dict) or _FAST_ENCODER.encode(obj) != text:
            return None
    except (_NotFast, ValueError, RecursionError):
        return None
    return obj


# --- helpers -------------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise RecordError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> None:
    raise RecordError(f"invalid JSON constant {name}")


def _obj(obj: JSONValue, where: str, fields: set[str]) -> dict[str, JSONValue]:
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: expected an object")
    keys = set(obj)
    missing = fields - keys
    if missing:
        raise RecordError(f"{where}: missing field {sorted(missing)[0]!r}")
    extra = keys - fields
    if extra:
        raise RecordError(f"{where}: unexpected field {sorted(extra)[0]!r}")
    return obj


def _str(value: JSONValue, where: str, max_len: int = 4096) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{where}: expected a string")
    if len(value) > max_len:
        raise RecordError(f"{where}: longer than {max_len} characters")
    return value


def _int(value: JSONValue, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordError(f"{where}: expected an integer")
    if not 0 <= value < 2**53:
        raise RecordError(f"{where}: out of range")
    return value


def _match(value: JSONValue, pattern: re.Pattern[str], where: str) -> str:
    s = _str(value, where)
    if pattern.fullmatch(s) is None:
        raise RecordError(f"{where}: malformed value {s[:80]!r}")
    return s


def _claims(value: JSONValue) -> dict[str, str]:
    if not isinstance(value, dict):
        raise RecordError("statement.claims: expected an object")
    if len(value) > 64:
        raise RecordError("statement.claims: more than 64 claims")
    for k, v in value.items():
        if _CLAIM_KEY.fullmatch(k) is None:
            raise RecordError(f"statement.claims: malformed claim name {k[:80]!r}")
        _str(v, f"statement.claims.{k}")
    return cast(dict[str, str], value)


def _check_json_value(value: JSONValue, where: str, depth: int) -> None:
    if depth > 8:
        raise RecordError(f"{where}: nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) >= 2**53:
            raise RecordError(f"{where}: integer out of the interoperable range")
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RecordError(f"{where}: non-finite number")
        if abs(value) >= 2**53:
            # Canonical JSON writes integral floats as integers; past 2**53 they would
            # come back as integers outside the interoperable range and fail to parse.
            raise RecordError(f"{where}: number out of the interoperable range")
        return
    if isinstance(value, list):
        for item in value:
            _check_json_value(item, where, depth + 1)
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise RecordError(f"{where}: object keys must be strings")
            _check_json_value(item, f"{where}.{k}", depth + 1)
        return
    raise RecordError(f"{where}: unsupported value of type {type(value).__name__}")


class StatementSigner(Protocol):
    """Anything that signs bytes with Ed25519 and knows its key id (a keys.SigningKey)."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


def sign_statement(statement: Statement, signer: StatementSigner) -> Record:
    """Sign ``canonical(statement)`` and wrap it in a record."""
    return Record(statement=statement, signer=signer.key_id, sig=signer.sign(statement.canonical()))


# --- the key-event commitment carried by every checkpoint ------------------------------------
KEY_EVENTS_EXTENSION: Final = "provenance-key-events"
KEY_EVENTS_START: Final = bytes(32)
_KEY_EVENTS_DOMAIN: Final = b"provenance/key-events/v1\n"


def fold_key_event(state: bytes, index: int, record_id_hex: str) -> bytes:
    """Extend the running hash of key events (``key`` and ``revoke`` records) by one.

    Each checkpoint carries ``provenance-key-events <count> <base64 state>`` over every key
    event below its size, so a verifier holding the key events can prove it holds *all* of
    them: a database or bundle that hides a revocation no longer matches the signed state.
    """
    return hashlib.sha256(
        _KEY_EVENTS_DOMAIN + state + index.to_bytes(8, "big") + bytes.fromhex(record_id_hex[7:])
    ).digest()


def key_events_line(count: int, state: bytes) -> str:
    """The checkpoint extension line committing to ``count`` key events with ``state``."""
    return f"{KEY_EVENTS_EXTENSION} {count} {base64.b64encode(state).decode('ascii')}"


def parse_key_events_line(extensions: tuple[str, ...]) -> tuple[int, bytes] | None:
    """(count, state) from a checkpoint's extension lines; None when absent.

    Raises:
        RecordError: the line is present but malformed.
    """
    for line in extensions:
        name, _, rest = line.partition(" ")
        if name != KEY_EVENTS_EXTENSION:
            continue
        count_s, _, state_b64 = rest.partition(" ")
        try:
            state = base64.b64decode(state_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RecordError("malformed key-events extension") from exc
        if not count_s.isdigit() or len(state) != 32 or str(int(count_s)) != count_s:
            raise RecordError("malformed key-events extension")
        return int(count_s), state
    return None
