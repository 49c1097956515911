"""The OpenAPI document served at ``/v1/openapi.json``: every ``/v1`` route of a ledger.

A static description (nothing is generated from the code): the C2PA Soft Binding
Resolution API 1.0.0 routes (C2PA 2.2) with the spec's component schemas verbatim
(``c2pa.softBindingAlgList``, ``c2pa.softBindingQuery``, ``c2pa.softBindingQueryResult``),
the 2.4 additions we implement (``POST /manifests``, the receipt routes; ``DELETE`` answers
405 because the log is append-only), and the ledger's own routes. The server URL is the
ledger's ``/v1``, as in the spec's ``https://c2pa.example.org/v1``. Tests validate every
response against these schemas.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from provenance.server.page import openapi_paths

__all__ = ["SCHEMAS", "openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "Successful operation") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid request",
        404: "Not found",
        405: "Method not allowed: the log is append-only",
        409: "Another manifest store is kept under this id",
        413: "Request body too large",
        414: "Query too long, consider using POST instead",
        415: "Unsupported media type",
        422: "Not a manifest of this log",
        500: "Service failure",
    }
    return {str(c): _json(_ref("provenance.error"), text[c]) for c in codes}


_MAX_RESULTS: Final = {
    "name": "maxResults",
    "in": "query",
    "description": "The maximum number of manifest identifiers to return for each query.",
    "schema": {"type": "integer", "minimum": 1, "default": 10},
}
_MANIFEST_ID: Final = {
    "name": "manifestId",
    "in": "path",
    "description": "Identifier of the C2PA Manifest (a urn:c2pa URN)",
    "required": True,
    "schema": {"type": "string"},
}
_OBJECT: Final = {"type": "object"}

#: Component schemas: the spec's three verbatim (C2PA 2.2 SBR API 1.0.0), then the 2.4
#: receipt shapes and ours.
SCHEMAS: Final[dict[str, Any]] = {
    "c2pa.softBindingAlgList": {
        "description": "list of the names of soft binding algorithms supported by this "
        "service. The authoritative list of name is available here: "
        "https://github.com/c2pa-org/softbinding-algorithm-list",
        "properties": {
            "watermarks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "alg": {
                            "type": "string",
                            "example": "foo.bar.watermark.1",
                            "description": "Unique identifier of a fingerprint algorithm.",
                        }
                    },
                    "required": ["alg"],
                },
            },
            "fingerprints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "alg": {
                            "type": "string",
                            "example": "foo.bar.fingerprint.1",
                            "description": "Unique identifier of a watermark algorithm.",
                        }
                    },
                    "required": ["alg"],
                },
            },
        },
    },
    "c2pa.softBindingQuery": {
        "required": ["value", "alg"],
        "type": "object",
        "properties": {
            "alg": {
                "type": "string",
                "description": "A string identifying the soft binding algorithm and version "
                "of that algorithm used.",
            },
            "value": {
                "type": "string",
                "description": "A base64-encoded string describing, in algorithm specific "
                "format, the value of the soft binding to be used as the query.",
            },
        },
    },
    "c2pa.softBindingQueryResult": {
        "type": "object",
        "properties": {
            "matches": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "manifestId": {
                            "type": "string",
                            "description": "Unique identifier of a matched C2PA Manifest",
                        },
                        "endpoint": {
                            "type": "string",
                            "description": "Endpoint of a Soft Binding Resolution API from "
                            "which the C2PA Manifest may be obtained. If the endpoint is absent "
                            "then the C2PA Manifest is available from same endpoint the query "
                            "was sent to using the /manifests endpoint.",
                        },
                        "similarityScore": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 100,
                            "description": "An integer score in the range (0-100) representing "
                            "the strength of match, if appropriate, where 0 is the weakest "
                            "possible match and 100 is the strongest possible match.",
                        },
                    },
                    "required": ["manifestId"],
                },
            },
            "records": {
                "type": "array",
                "description": "provenance extension: ledger records matched by the "
                "ledger's own algorithms (records need not have a C2PA manifest).",
                "items": _OBJECT,
            },
        },
    },
    "c2pa.manifestReceipt": {
        "type": "object",
        "required": ["@context", "@type", "repository", "anchor"],
        "properties": {
            "@context": {"oneOf": [{"type": "object"}, {"type": "string"}]},
            "@type": {"type": "string", "enum": ["org.c2pa.manifest-receipt"]},
            "repository": {
                "type": "object",
                "required": ["uri", "manifestId"],
                "properties": {"uri": {"type": "string"}, "manifestId": {"type": "string"}},
            },
            "anchor": {
                "type": "object",
                "required": ["uri", "proof"],
                "properties": {
                    "uri": {"type": "string"},
                    "parameters": {"type": "object"},
                    "proof": {
                        "type": "object",
                        "description": "Repository-specific. provenance: the exported "
                        "record's C2SP tlog-proof (alg c2sp.org/tlog-proof@v1), the log's "
                        "verifier key and the record id.",
                        "properties": {
                            "alg": {"type": "string", "example": "c2sp.org/tlog-proof@v1"},
                            "value": {"type": "string"},
                            "vkey": {"type": "string"},
                            "record": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
    "c2pa.verifiedManifestReceipt": {
        "allOf": [
            _ref("c2pa.manifestReceipt"),
            {
                "type": "object",
                "required": ["verified"],
                "properties": {"verified": {"type": "boolean"}, "error": {"type": "string"}},
            },
        ]
    },
    "c2pa.manifestCreateResult": {
        "type": "object",
        "required": ["manifestId"],
        "properties": {
            "manifestId": {"type": "string"},
            "receipt": _ref("c2pa.manifestReceipt"),
        },
    },
    "provenance.error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "hint": {"type": "string"},
                },
            }
        },
    },
}


def _paths() -> dict[str, Any]:
    security = [{"auth": ["fetch:manifests"]}, {}]
    query_result = _json(_ref("c2pa.softBindingQueryResult"))
    return {
        "/matches/byBinding": {
            "get": {
                "tags": ["query"],
                "summary": "Returns C2PA Manifest identifiers corresponding to a soft binding.",
                "operationId": "queryByBinding",
                "parameters": [
                    {
                        "name": "value",
                        "in": "query",
                        "required": True,
                        "description": "Base64 (standard, padded) soft binding value.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "alg",
                        "in": "query",
                        "required": True,
                        "description": "io.iscc.v0, or a ledger algorithm listed by "
                        "/services/supportedAlgorithms.",
                        "schema": {"type": "string"},
                    },
                    _MAX_RESULTS,
                ],
                "responses": {"200": query_result, **_errors(400, 414, 500)},
                "security": security,
            },
            "post": {
                "tags": ["query"],
                "summary": "Returns C2PA Manifest identifiers corresponding to a large soft "
                "binding value.",
                "operationId": "queryByLargeBinding",
                "parameters": [_MAX_RESULTS],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("c2pa.softBindingQuery")}},
                },
                "responses": {"200": query_result, **_errors(400, 413, 500)},
                "security": security,
            },
        },
        "/matches/byContent": {
            "post": {
                "tags": ["query"],
                "summary": "Finds C2PA Manifest identifiers using a digital asset.",
                "operationId": "uploadFile",
                "parameters": [_MAX_RESULTS],
                "requestBody": {
                    "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}
                },
                "responses": {"200": query_result, **_errors(413, 415, 500)},
                "security": security,
            }
        },
        "/manifests": {
            "post": {
                "tags": ["store"],
                "summary": "Stores a C2PA Manifest Store exported from a record of this log.",
                "operationId": "storeManifest",
                "parameters": [
                    {
                        "name": "returnReceipt",
                        "in": "query",
                        "schema": {"type": "boolean", "default": False},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/c2pa": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "200": _json(_ref("c2pa.manifestCreateResult"), "Already stored"),
                    "201": _json(_ref("c2pa.manifestCreateResult"), "Stored"),
                    **_errors(400, 409, 413, 415, 422, 500),
                },
                "security": [{"auth": ["store:manifests"]}, {}],
            }
        },
        "/manifests/{manifestId}": {
            "get": {
                "tags": ["fetch"],
                "summary": "Returns a full C2PA Manifest Store or an active C2PA Manifest.",
                "operationId": "getManifestById",
                "parameters": [
                    {
                        "name": "returnActiveManifest",
                        "in": "query",
                        "schema": {"type": "boolean", "default": False},
                    },
                    _MANIFEST_ID,
                ],
                "responses": {
                    "200": {
                        "description": "Successful operation",
                        "content": {"application/c2pa": {}},
                    },
                    **_errors(400, 404, 500),
                },
                "security": security,
            },
            "delete": {
                "tags": ["store"],
                "summary": "Not supported: the log and its manifest stores are append-only.",
                "operationId": "deleteManifest",
                "parameters": [_MANIFEST_ID],
                "responses": _errors(405),
            },
        },
        "/manifests/{manifestId}/receipts": {
            "get": {
                "tags": ["fetch"],
                "summary": "The repository's proof of ingestion (a C2SP tlog-proof).",
                "operationId": "getReceipt",
                "parameters": [_MANIFEST_ID],
                "responses": {
                    "200": _json(_ref("c2pa.verifiedManifestReceipt")),
                    **_errors(400, 404, 500),
                },
            },
            "post": {
                "tags": ["fetch"],
                "summary": "Verifies a receipt the client holds.",
                "operationId": "verifyReceipt",
                "parameters": [_MANIFEST_ID],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("c2pa.manifestReceipt")}},
                },
                "responses": {
                    "200": _json(_ref("c2pa.verifiedManifestReceipt")),
                    **_errors(400, 404, 413, 500),
                },
            },
        },
        "/services/supportedAlgorithms": {
            "get": {
                "tags": ["service"],
                "summary": "Returns a list of the soft binding algorithms supported by the "
                "service.",
                "operationId": "getSupportedBindings",
                "responses": {"200": _json(_ref("c2pa.softBindingAlgList")), **_errors(500)},
            }
        },
        "/openapi.json": {
            "get": {
                "tags": ["service"],
                "summary": "This document.",
                "responses": {"200": _json(_OBJECT)},
            }
        },
        **_ledger_paths(),
        **openapi_paths(),
    }


def _ledger_paths() -> dict[str, Any]:
    """The ledger's own routes (docs/api.md), described loosely."""

    def get(summary: str, *params: dict[str, Any], codes: tuple[int, ...] = (400, 404)) -> Any:
        return {
            "get": {
                "tags": ["ledger"],
                "summary": summary,
                "parameters": list(params),
                "responses": {"200": _json(_OBJECT), **_errors(*codes)},
            }
        }

    ref = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}
    query = [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("record", "size")]
    sizes = [{"name": n, "in": "query", "schema": {"type": "integer"}} for n in ("old", "new")]
    return {
        "/log": get("The log: origin, verifier key, size, latest checkpoint.", codes=()),
        "/keys": get("Registered signer keys.", codes=()),
        "/records": {
            "post": {
                "tags": ["ledger"],
                "summary": "Submit one signed record (canonical JSON).",
                "requestBody": {"required": True, "content": {"application/json": {}}},
                "responses": {
                    "200": _json(_OBJECT, "Already logged"),
                    "201": _json(_OBJECT, "Logged"),
                    **_errors(400, 413),
                },
            }
        },
        "/records/{ref}": get("A record by id or log index.", ref),
        "/evidence/{ref}": get("The offline bundle (provenance-bundle/v1) of a record.", ref),
        "/proof/inclusion": get("An inclusion proof.", *query),
        "/proof/consistency": get("A consistency proof.", *sizes),
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    """The document, for a ledger whose ``/v1`` is at ``server_url``."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "provenance ledger: C2PA Soft Binding Resolution API and ledger API",
            "description": "The C2PA Soft Binding Resolution API (C2PA 2.2, API 1.0.0; "
            "POST /manifests and receipts from 2.4) over an append-only provenance ledger, "
            "plus the ledger's own routes. byReference is not offered (it fetches arbitrary "
            "URLs).",
            "version": "1.0.0",
        },
        "externalDocs": {
            "description": "C2PA Specification",
            "url": "https://c2pa.org/specifications",
        },
        "servers": [{"url": server_url}],
        "paths": _paths(),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "auth": {
                    "type": "oauth2",
                    "flows": {
                        "implicit": {
                            "authorizationUrl": "http://example.c2pa.org/oauth/dialog",
                            "scopes": {
                                "fetch:manifests": "search and read manifests.",
                                "store:manifests": "store manifests.",
                            },
                        }
                    },
                }
            },
        },
    }
