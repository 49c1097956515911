"""What a file's Content Credentials say, as the flat ``c2pa.*`` claims a record carries.

Pure functions over the JSON c2pa-python returns (``Reader.json()`` and ``Reader.crjson()``;
:mod:`provenance.c2pa` calls the SDK) and over XMP text; no SDK import here.

The claims (no record-format change: statement ``claims`` are flat strings, at most 64 of
them, names ``[A-Za-z][A-Za-z0-9_.:-]{0,63}``), in :data:`CLAIM_ORDER`:

=========================  ====================================================================
``c2pa.manifest``          the active manifest's label, verbatim (any label form)
``c2pa.store``             ``sha256:`` of the raw manifest store (the JUMBF bytes)
``c2pa.state``             ``Trusted`` / ``Valid`` / ``Invalid`` / ``remote`` / ``error``
``c2pa.failures``          sorted active-manifest failure codes, comma-joined
``c2pa.ingredient_failures`` failure codes of the ingredients, as judged now
``c2pa.trust``             ``sha256:`` of the trust anchors the state was judged under, or ``none``
``c2pa.generator``         the first claim generator's name and version (or the v1 string)
``c2pa.signer``            signing certificate subject, RFC 4514 (``CN=…,O=…,C=…``)
``c2pa.signer_issuer``     its issuer
``c2pa.signed_at``         the time-stamp authority's time, when there is one
``c2pa.source_type``       IPTC digital source types of ``c2pa.created``/``placed`` actions
``c2pa.ai``                ``true`` when a source type means generative or algorithmic media
``c2pa.actions``           the active manifest's action names
``c2pa.remote``            the URL of a remote-only manifest (never fetched)
``c2pa.sdk``               ``c2pa-rs/<version>``
``c2pa.error``             why a manifest could not be read
``c2pa.xmp_source_type``   ``Iptc4xmpExt:DigitalSourceType`` of a file *without* a manifest
=========================  ====================================================================

Every value is capped at :data:`MAX_CLAIM_VALUE` characters, so 17 claims stay far below
a record's 64 KiB limit whatever a hostile manifest holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

__all__ = [
    "AI_SOURCE_TYPES",
    "CLAIM_ORDER",
    "CLAIM_PREFIX",
    "IPTC_SOURCE_TYPE_BASE",
    "MAX_CLAIM_VALUE",
    "cap",
    "error_text",
    "ordered",
    "reading_claims",
    "rfc4514",
    "short_source_type",
    "summarize",
    "xmp_claims",
]

CLAIM_PREFIX: Final = "c2pa."
IPTC_SOURCE_TYPE_BASE: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: IPTC digital source types that mean "made by a generative or algorithmic system".
AI_SOURCE_TYPES: Final = frozenset(
    {
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "algorithmicMedia",
        "compositeSynthetic",
        "trainedAlgorithmicData",
    }
)
MAX_CLAIM_VALUE: Final = 1024
MAX_ERROR_TEXT: Final = 400
CLAIM_ORDER: Final = (
    "c2pa.manifest",
    "c2pa.store",
    "c2pa.state",
    "c2pa.failures",
    "c2pa.ingredient_failures",
    "c2pa.trust",
    "c2pa.generator",
    "c2pa.signer",
    "c2pa.signer_issuer",
    "c2pa.signed_at",
    "c2pa.source_type",
    "c2pa.ai",
    "c2pa.actions",
    "c2pa.remote",
    "c2pa.sdk",
    "c2pa.error",
    "c2pa.xmp_source_type",
)
_TRUST_FAMILIES: Final = frozenset({"signingCredential", "timeStamp"})
_DN_ORDER: Final = ("CN", "OU", "O", "L", "ST", "C")
_ACTIONS_LABEL = re.compile(r"c2pa\.actions(\.v\d+)?(__\d+)?")


# --- reading ----------------------------------------------------------------------------------
def reading_claims(store_json: Any, cr_json: Any) -> dict[str, Any]:
    """The claims of a successful read, from ``Reader.json()`` and ``Reader.crjson()``
    (parsed). Unordered and uncapped: pass the result through :func:`ordered`.

    Raises:
        ValueError: ``store_json`` is not an object.
    """
    if not isinstance(store_json, dict):
        raise ValueError("manifest store JSON is not an object")
    manifests = _dict(store_json.get("manifests"))
    active_label = store_json.get("active_manifest")
    active = _dict(manifests.get(active_label)) if isinstance(active_label, str) else {}
    results = _dict(store_json.get("validation_results"))
    claims: dict[str, Any] = {}
    if isinstance(active_label, str):
        claims["c2pa.manifest"] = active_label
    state = store_json.get("validation_state")
    failures = _codes(_dict(results.get("activeManifest")).get("failure"))
    if state not in ("Trusted", "Valid", "Invalid"):
        state = "Invalid" if failures else "Valid"
    claims["c2pa.state"] = state
    claims["c2pa.failures"] = _join(sorted(set(failures)))
    claims["c2pa.ingredient_failures"] = _join(sorted(_ingredient_failures(active, results)))
    claims["c2pa.generator"] = _generator(active)
    subject, issuer = _certificate_names(cr_json, active_label)
    signature_info = _dict(active.get("signature_info"))
    if subject is None:
        fallback = [
            ("CN", signature_info.get("common_name")),
            ("O", signature_info.get("issuer")),  # the SDK's "issuer" is the subject's O
        ]
        subject = rfc4514([(k, v) for k, v in fallback if isinstance(v, str) and v])
    claims["c2pa.signer"] = subject
    claims["c2pa.signer_issuer"] = issuer
    signed_at = signature_info.get("time")
    claims["c2pa.signed_at"] = signed_at if isinstance(signed_at, str) else None
    source_types: list[str] = []
    for manifest in [active] + [_dict(m) for k, m in manifests.items() if k != active_label]:
        for action in _actions(manifest):
            for value in _source_type_values(action):
                term = short_source_type(value)
                if term not in source_types:
                    source_types.append(term)
    claims["c2pa.source_type"] = _join(source_types)
    if any(t in AI_SOURCE_TYPES for t in source_types):
        claims["c2pa.ai"] = "true"
    claims["c2pa.actions"] = _join(
        [a["action"] for a in _actions(active) if isinstance(a.get("action"), str)]
    )
    return claims


def _ingredient_failures(active: dict[str, Any], results: dict[str, Any]) -> set[str]:
    """Failure codes of the active manifest's ingredients, as things stand now.

    An ingredient carries the validation results recorded when it was added (the only place
    a tampered parent's ``assertion.dataHash.mismatch`` survives: its asset bytes are gone),
    and the reader adds ``ingredientDeltas``, the re-validation under the current trust
    settings. A recorded verdict that depends on the reader's anchors (``signingCredential.*``,
    ``timeStamp.*``) is stale when the delta judges it again (c2pa-rs#2207: ``untrusted``
    frozen into an ingredient by a writer without the root): the delta's replaces it. Every
    other recorded failure stays, and the delta's failures are added.
    """
    deltas: dict[str, dict[str, Any]] = {}
    for entry in _list(results.get("ingredientDeltas")):
        uri = _dict(entry).get("ingredientAssertionURI")
        if isinstance(uri, str):
            deltas[uri] = _dict(_dict(entry).get("validationDeltas"))
    failures: set[str] = set()
    matched: set[str] = set()
    for item in _list(active.get("ingredients")):
        ingredient = _dict(item)
        recorded = _codes(
            _dict(_dict(ingredient.get("validation_results")).get("activeManifest")).get("failure")
        )
        recorded += _codes(ingredient.get("validation_status"))
        label = ingredient.get("label")
        delta: dict[str, Any] = {}
        if isinstance(label, str):
            found = next((u for u in deltas if u.endswith("/" + label)), None)
            if found is not None:
                delta = deltas[found]
                matched.add(found)
        rejudged = {
            family
            for kind in ("success", "failure", "informational")
            for code in _codes(delta.get(kind))
            if (family := code.split(".", 1)[0]) in _TRUST_FAMILIES
        }
        failures.update(code for code in recorded if code.split(".", 1)[0] not in rejudged)
        failures.update(_codes(delta.get("failure")))
    for uri, delta in deltas.items():
        if uri not in matched:
            failures.update(_codes(delta.get("failure")))
    return failures


def _actions(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for assertion in _list(manifest.get("assertions")):
        label = _dict(assertion).get("label")
        if isinstance(label, str) and _ACTIONS_LABEL.fullmatch(label):
            for action in _list(_dict(_dict(assertion).get("data")).get("actions")):
                if isinstance(action, dict):
                    yield action


def _source_type_values(action: dict[str, Any]) -> Iterator[str]:
    value = action.get("digitalSourceType")
    if isinstance(value, str) and value:
        yield value
    for key, param in _dict(action.get("parameters")).items():
        if key.lower().endswith("digitalsourcetype") and isinstance(param, str) and param:
            yield param


def short_source_type(value: str) -> str:
    """An IPTC digital source type URI as its term (``trainedAlgorithmicMedia``); any
    other value verbatim."""
    value = value.strip()
    for base in (IPTC_SOURCE_TYPE_BASE, IPTC_SOURCE_TYPE_BASE.replace("http:", "https:")):
        if value.startswith(base):
            return value[len(base) :]
    return value


def _generator(manifest: dict[str, Any]) -> str | None:
    info = _list(manifest.get("claim_generator_info"))
    if info and isinstance(info[0], dict) and isinstance(info[0].get("name"), str):
        name = info[0]["name"]
        version = info[0].get("version")
        return f"{name} {version}" if isinstance(version, str) and version else name
    legacy = manifest.get("claim_generator")
    return legacy if isinstance(legacy, str) and legacy else None


def _certificate_names(cr_json: Any, label: Any) -> tuple[str | None, str | None]:
    for item in _list(_dict(cr_json).get("manifests")):
        manifest = _dict(item)
        if manifest.get("label") != label:
            continue
        info = _dict(_dict(manifest.get("signature")).get("certificateInfo"))
        names = []
        for which in ("subject", "issuer"):
            dn = _dict(info.get(which))
            pairs = [(k, dn[k]) for k in _DN_ORDER if isinstance(dn.get(k), str)]
            pairs += [(k, v) for k, v in dn.items() if k not in _DN_ORDER and isinstance(v, str)]
            names.append(rfc4514(pairs))
        return names[0], names[1]
    return None, None


# --- XMP (files without a manifest) -----------------------------------------------------------
def xmp_claims(packet: str | None) -> tuple[dict[str, str], str | None]:
    """From a file's XMP packet: ``({"c2pa.xmp_source_type": term}, remote manifest URL)``.

    Generators that write no C2PA often declare ``Iptc4xmpExt:DigitalSourceType``; a remote
    (not embedded) manifest is named by ``dcterms:provenance`` (C2PA 2.2 section 11.5), and
    is never fetched. Cheap when the packet names neither namespace (a substring test).
    """
    if packet is None:
        return {}, None
    import provenance.xmp as xmp

    claims: dict[str, str] = {}
    source = xmp.xmp_property(packet, xmp.IPTC_EXT_NS, "DigitalSourceType")
    if source:
        claims["c2pa.xmp_source_type"] = cap(short_source_type(source))
    remote = xmp.xmp_property(packet, xmp.DCTERMS_NS, "provenance")
    if remote is not None and re.fullmatch(r"https?://[^\s\"<>\\^`{|}]{1,2000}", remote) is None:
        remote = None
    return claims, remote


# --- rendering --------------------------------------------------------------------------------
def summarize(claims: Mapping[str, str]) -> str:
    """One human line from ``c2pa.*`` claims (stored or fresh), e.g. ``Trusted — Leica
    M11-P 2.0.2, signed by Leica Camera AG; digital capture``."""
    state = claims.get("c2pa.state")
    if state is None:
        term = claims.get("c2pa.xmp_source_type")
        if term is None:
            return "no Content Credentials"
        ai = " (AI-generated)" if term in AI_SOURCE_TYPES else ""
        return f"no Content Credentials; XMP declares digital source type {term}{ai}"
    if state == "remote":
        return f"remote manifest, not fetched ({claims.get('c2pa.remote', 'no URL')})"
    if state == "error":
        return f"unreadable Content Credentials ({claims.get('c2pa.error', 'unknown error')})"
    failures = [f for f in claims.get("c2pa.failures", "").split(",") if f]
    signer = claims.get("c2pa.signer")
    names = split_dn(signer) if signer else {}
    if state == "Valid" and "signingCredential.untrusted" in failures:
        head = f"Valid, signer not in your trust list ({signer or 'unknown signer'})"
    elif state == "Invalid":
        head = "Invalid (" + ", ".join(failures[:3]) + (", …" if len(failures) > 3 else "") + ")"
    else:
        head = state
    details: list[str] = []
    who = names.get("O") or names.get("CN")
    generator = claims.get("c2pa.generator")
    if generator and state == "Trusted" and who:
        details.append(f"{generator}, signed by {who}")
    elif generator:
        details.append(generator)
    elif state == "Trusted" and who:
        details.append(f"signed by {who}")
    source_types = [t for t in claims.get("c2pa.source_type", "").split(",") if t]
    if claims.get("c2pa.ai") == "true":
        ai_types = [t for t in source_types if t in AI_SOURCE_TYPES]
        details.append("AI-generated (" + ", ".join(ai_types or source_types) + ")")
    elif source_types == ["digitalCapture"]:
        details.append("digital capture")
    elif source_types:
        details.append(", ".join(source_types))
    ingredient = [f for f in claims.get("c2pa.ingredient_failures", "").split(",") if f]
    problems = [f for f in ingredient if f.split(".", 1)[0] not in _TRUST_FAMILIES]
    if problems:
        details.append("ingredient problems: " + ",".join(problems)[:200])
    elif ingredient:
        details.append("an ingredient's signer is not in your trust list")
    return head + (" — " + "; ".join(details) if details else "")


def rfc4514(pairs: Sequence[tuple[str, str]]) -> str | None:
    """``CN=…,O=…,C=…`` with RFC 4514 escaping; None for no attributes."""
    if not pairs:
        return None
    return ",".join(f"{k}={_escape_dn(v)}" for k, v in pairs)


def _escape_dn(value: str) -> str:
    out = "".join("\\" + ch if ch in ',+"\\<>;=' else ch for ch in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out.replace("\x00", "\\00")


def split_dn(dn: str) -> dict[str, str]:
    """Parse what :func:`rfc4514` writes (first value per attribute type)."""
    out: dict[str, str] = {}
    key, value, in_value, escaped = "", "", False, False
    for ch in dn + ",":
        if escaped:
            value += ch
            escaped = False
        elif ch == "\\" and in_value:
            escaped = True
        elif ch == "=" and not in_value:
            in_value = True
        elif ch == "," and in_value:
            out.setdefault(key.strip(), value)
            key, value, in_value = "", "", False
        elif in_value:
            value += ch
        else:
            key += ch
    return out


# --- small helpers ----------------------------------------------------------------------------
def error_text(exc: BaseException) -> str:
    """An exception as one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


def cap(value: str) -> str:
    """At most :data:`MAX_CLAIM_VALUE` characters (``…`` marks a cut)."""
    return value if len(value) <= MAX_CLAIM_VALUE else value[: MAX_CLAIM_VALUE - 1] + "…"


def ordered(claims: Mapping[str, Any]) -> dict[str, str]:
    """The non-empty string claims in :data:`CLAIM_ORDER`, each capped."""
    out: dict[str, str] = {}
    for key in CLAIM_ORDER:
        value = claims.get(key)
        if isinstance(value, str) and value:
            out[key] = cap(value)
    return out


def _join(items: Sequence[str]) -> str | None:
    """Comma-join, capped at :data:`MAX_CLAIM_VALUE` characters (``,…`` marks a cut)."""
    out = ""
    for item in items:
        piece = item if not out else "," + item
        if len(out) + len(piece) > MAX_CLAIM_VALUE - 2:
            return out + ",…"
        out += piece
    return out or None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _codes(entries: Any) -> list[str]:
    return [
        e["code"] for e in _list(entries) if isinstance(e, dict) and isinstance(e.get("code"), str)
    ]
