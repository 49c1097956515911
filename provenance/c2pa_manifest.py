"""The C2PA manifest an export signs: labels, the namespace, actions and ingredients.

Pure (no SDK): :func:`build_manifest` returns the manifest definition c2pa-python's
``Builder`` takes; :mod:`provenance.c2pa_export` signs it.

Labels (C2PA 2.2 sections 6.2-6.4, 8.1):

* the manifest label is pre-assigned, ``urn:c2pa:<uuid4>:provenance`` (:data:`MANIFEST_LABEL`
  is the IANA ``urn:c2pa`` grammar), so the id is known before signing;
* entity-specific assertion labels begin with a reverse domain the entity controls;
  ours is :func:`assertion_namespace`: the reverse of the log origin's host plus
  ``.provenance`` (origin ``newsroom.example/photos`` gives ``example.newsroom.provenance``):
  ``<ns>.bundle`` carries the ``provenance-bundle/v1`` evidence, ``<ns>.params`` our
  replayable action parameters. A verifier checks that the label's host is the bundle's
  origin host (:mod:`provenance.c2pa_ingest`).

Actions (C2PA 2.2 section 18.14) are mapped from the record: an edit opens its first
parent (``c2pa.opened``, a ``parentOf`` ingredient) and places every further one
(``c2pa.placed``, ``componentOf``); a capture with a known digital source type is
``c2pa.created``; a capture without one never gets an invented ``digitalCapture`` but opens
a metadata-only ingredient "the asset as logged in record R" (``allActionsIncluded``); the
deprecated ``c2pa.color_adjustments`` is written ``c2pa.adjustedColor``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from provenance.c2pa import ContentCredentialsError
from provenance.c2pa_claims import IPTC_SOURCE_TYPE_BASE

__all__ = [
    "BUNDLE_LABEL",
    "ISCC_ALG",
    "LABEL_SUFFIX",
    "MANIFEST_LABEL",
    "ParentRef",
    "assertion_namespace",
    "build_manifest",
    "generator_info",
    "namespace_host",
]

#: C2PA manifest identifiers (C2PA 2.x section 8.1, IANA ``urn:c2pa``): a UUID, then an
#: optional claim generator identifier (1-32 printable ASCII characters, not ``:`` or ``_``),
#: then an optional ``v<version>_<reason>``.
MANIFEST_LABEL: Final = re.compile(
    r"urn:c2pa:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"(?::[!-9;-^`-~]{0,32}(?::v[1-9][0-9]*_[0-9]+)?)?"
)
#: ``<ns>.bundle`` for any namespace ending in ``.provenance`` (group 1: the namespace).
BUNDLE_LABEL: Final = re.compile(r"((?:[a-zA-Z0-9][a-zA-Z0-9_-]*\.)+provenance)\.bundle")
#: Our claim generator identifier in manifest labels.
LABEL_SUFFIX: Final = "provenance"
#: The registered soft-binding algorithm we write (C2PA soft-binding algorithm list, id 3).
ISCC_ALG: Final = "io.iscc.v0"
RENAMED_ACTIONS: Final = {"c2pa.color_adjustments": "c2pa.adjustedColor"}

_COMPONENT = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]*")
_RECORD_ID = re.compile(r"sha256:[0-9a-f]{64}")
_URL = re.compile(r"https?://[^\s\"<>\\^`{|}]{1,2000}")
_TERM = re.compile(r"[A-Za-z][A-Za-z0-9]{0,99}")
_SOFTWARE_AGENT: Final = "provenance"


def assertion_namespace(origin: str) -> str:
    """The assertion-label namespace for a log origin: reversed host + ``.provenance``.

    ``newsroom.example/photos`` -> ``example.newsroom.provenance``. The host is lower-cased
    and IDNA-encoded (``xn--…`` labels); a trailing dot is dropped.

    Raises:
        ContentCredentialsError: the host is empty, has a port or user part, is an IP
            address, has no dot, or a label that cannot be a C2PA label component.
    """
    host = origin.split("/", 1)[0].strip()
    hint = "give the ledger an origin whose host is a domain name, e.g. ledger.example.org/log"
    if not host:
        raise ContentCredentialsError(f"log origin {origin[:80]!r} has no host", hint=hint)
    if "@" in host or ":" in host or host.startswith("["):
        raise ContentCredentialsError(
            f"log origin host {host[:80]!r} has a port or user part; C2PA labels need a "
            "plain domain name",
            hint=hint,
        )
    host = host.removesuffix(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ContentCredentialsError(
            f"log origin host {host!r} is an IP address; C2PA labels need a domain name",
            hint=hint,
        )
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ContentCredentialsError(
            f"log origin host {host[:80]!r} is not a valid domain name", hint=hint
        ) from exc
    labels = ascii_host.split(".")
    if len(labels) < 2:
        raise ContentCredentialsError(
            f"log origin host {host!r} has no dot: it is not a domain anyone controls", hint=hint
        )
    for label in labels:
        if _COMPONENT.fullmatch(label) is None or "__" in label:
            raise ContentCredentialsError(
                f"log origin host {host!r}: {label!r} cannot be a C2PA label component",
                hint=hint,
            )
    return ".".join(reversed(labels)) + ".provenance"


def namespace_host(namespace: str) -> str:
    """The host a namespace names (``example.newsroom.provenance`` -> ``newsroom.example``)."""
    return ".".join(reversed(namespace.removesuffix(".provenance").split(".")))


@dataclass(frozen=True)
class ParentRef:
    """A parent record of the exported one, to become a C2PA ingredient.

    Attributes:
        record_id: ``sha256:<hex>``; also the ingredient's label and instance id.
        title: a human title (the parent's file name, or its record id).
        format: the parent's MIME type.
        ledger_url: the ledger's base URL for this parent (default: the export's); the
            ingredient's ``informational_URI`` is ``<ledger>/v1/records/<record id>``.
        archive: a c2pa ingredient archive of the parent's own Content Credentials
            (:func:`provenance.c2pa.ingredient_archive`): its chain is carried along.
    """

    record_id: str
    title: str
    format: str
    ledger_url: str | None = None
    archive: bytes | None = field(default=None, repr=False)


@functools.lru_cache(maxsize=1)
def generator_info() -> dict[str, str]:
    """Our ``claim_generator_info`` / ``softwareAgent`` entry."""
    from importlib import metadata

    try:
        version = metadata.version("provenance")
    except metadata.PackageNotFoundError:
        version = "0"
    return {"name": _SOFTWARE_AGENT, "version": version}


def build_manifest(
    *,
    manifest_id: str,
    title: str,
    mime: str,
    record_id: str,
    namespace: str,
    actions: Sequence[Mapping[str, Any]],
    parents: Sequence[ParentRef],
    source_type: str | None,
    iscc_unit: bytes,
    bundle: Mapping[str, Any],
    ledger_url: str | None,
    self_ingredient: bool = False,
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """The manifest definition an export signs (see the module docstring for the
    mapping). ``self_ingredient``: the image embeds its own manifest (a capture whose file
    came with Content Credentials), which becomes the opened ingredient and carries its
    chain.

    Returns:
        The definition, and ``(ingredient JSON, archive bytes)`` for parents that carry an
        ingredient archive (added with ``Builder.add_ingredient``).

    Raises:
        ContentCredentialsError: a malformed or repeated parent id, a malformed action or
            source type, or nothing to record.
    """
    agent = generator_info()
    params_key = f"{namespace}.params"
    c2pa_actions: list[dict[str, Any]] = []
    ingredients: list[dict[str, Any]] = []
    archives: list[tuple[dict[str, Any], bytes]] = []
    actions_data: dict[str, Any] = {}
    seen: set[str] = set()
    for index, parent in enumerate(parents):
        if _RECORD_ID.fullmatch(parent.record_id) is None:
            raise ContentCredentialsError(f"malformed parent record id {parent.record_id[:80]!r}")
        if parent.record_id in seen:
            raise ContentCredentialsError(f"parent {parent.record_id} is listed twice")
        seen.add(parent.record_id)
        ingredient: dict[str, Any] = {
            "title": parent.title,
            "format": parent.format,
            "relationship": "parentOf" if index == 0 else "componentOf",
            "label": parent.record_id,
            "instance_id": parent.record_id,
            "description": "parent record in the provenance ledger"
            if index == 0
            else "component record in the provenance ledger",
        }
        url = _record_url(parent.ledger_url or ledger_url, parent.record_id)
        if url is not None:
            ingredient["informational_URI"] = url
        if parent.archive is not None:
            archives.append((ingredient, parent.archive))
        else:
            ingredients.append(ingredient)
        c2pa_actions.append(
            {
                "action": "c2pa.opened" if index == 0 else "c2pa.placed",
                "parameters": {"ingredientIds": [parent.record_id]},
            }
        )
    if not parents:
        if self_ingredient:
            c2pa_actions.append(
                {"action": "c2pa.opened", "parameters": {"ingredientIds": [record_id]}}
            )
        elif source_type:
            c2pa_actions.append(
                {"action": "c2pa.created", "digitalSourceType": _source_type_uri(source_type)}
            )
        else:
            ingredient = {
                "title": title,
                "format": mime,
                "relationship": "parentOf",
                "label": record_id,
                "instance_id": record_id,
                "description": f"the asset as logged in record {record_id}",
            }
            url = _record_url(ledger_url, record_id)
            if url is not None:
                ingredient["informational_URI"] = url
            ingredients.append(ingredient)
            c2pa_actions.append(
                {"action": "c2pa.opened", "parameters": {"ingredientIds": [record_id]}}
            )
            actions_data["allActionsIncluded"] = True
    for item in actions:
        name = item.get("action")
        if not isinstance(name, str) or not name:
            raise ContentCredentialsError(f"malformed action {str(item)[:80]}")
        if name in ("c2pa.opened", "c2pa.created") and c2pa_actions:
            continue  # already written from the parents / the source type
        params = item.get("params") or {}
        if not isinstance(params, Mapping):
            raise ContentCredentialsError(f"action {name}: params must be an object")
        entry: dict[str, Any] = {"action": RENAMED_ACTIONS.get(name, name), "softwareAgent": agent}
        parameters: dict[str, Any] = {}
        if params:
            parameters[params_key] = dict(params)
        if name in RENAMED_ACTIONS:
            parameters[f"{namespace}.action"] = name
        if parameters:
            entry["parameters"] = parameters
        c2pa_actions.append(entry)
    if not c2pa_actions:
        raise ContentCredentialsError("nothing to record: no parents, source type or actions")
    actions_data["actions"] = c2pa_actions
    definition: dict[str, Any] = {
        "label": manifest_id,
        "title": title,
        "format": mime,
        "claim_generator_info": [agent],
        "assertions": [
            {"label": "c2pa.actions.v2", "created": True, "data": actions_data},
            {
                "label": "c2pa.soft-binding",
                "created": True,
                "data": {"alg": ISCC_ALG, "blocks": [{"scope": {}, "value": list(iscc_unit)}]},
            },
            {"label": f"{namespace}.bundle", "kind": "Json", "created": True, "data": dict(bundle)},
        ],
    }
    if ingredients:
        definition["ingredients"] = ingredients
    return definition, archives


def self_ingredient_json(record_id: str, title: str, mime: str) -> dict[str, Any]:
    """The ingredient for an image that embeds its own manifest (its chain is carried)."""
    return {
        "title": title,
        "format": mime,
        "relationship": "parentOf",
        "label": record_id,
        "instance_id": record_id,
        "description": f"the asset as logged in record {record_id}, with its own Content "
        "Credentials",
    }


def _record_url(base: str | None, record_id: str) -> str | None:
    return f"{base.rstrip('/')}/v1/records/{record_id}" if base else None


def _source_type_uri(source_type: str) -> str:
    value = source_type.strip()
    if _TERM.fullmatch(value):
        return IPTC_SOURCE_TYPE_BASE + value
    if _URL.fullmatch(value):
        return value
    raise ContentCredentialsError(f"malformed digital source type {source_type[:80]!r}")
