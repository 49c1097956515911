"""The C2PA Soft Binding Resolution API of ``provenance serve``: deposit, fetch, receipts,
``io.iscc.v0`` look-ups, every error status, and every response checked against the
OpenAPI document's schemas (the spec's components, verbatim).

The app runs in-process (``create_app`` + Starlette's TestClient, lifespan included).
``byBinding`` and ``supportedAlgorithms`` belong to routes.py: their io.iscc.v0 tests run
once routes.py calls :func:`provenance.server.c2pa_routes.iscc_matches`.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa_fixtures as fx
import pytest
from conftest import LedgerEnv
from PIL import Image

import provenance
import provenance.c2pa as pc
import provenance.c2pa_certs as c2pa_certs
import provenance.c2pa_export as export_mod
import provenance.c2pa_ingest as ingest_mod
import provenance.iscc as iscc
from provenance.c2pa_ledger import C2paLedger
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.server import ServeSettings, create_app
from provenance.server.c2pa_openapi import openapi_document
from provenance.server.c2pa_routes import content_matches, iscc_matches, similarity_score

with warnings.catch_warnings():
    # starlette 1.x warns (a UserWarning) that it prefers httpx2; httpx is what we ship
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.skipif(not pc.available(), reason="c2pa-python is not installed")

REPO = Path(__file__).resolve().parents[1]
ORIGIN = "test.provenance.local/log"
WIRED = "iscc_matches" in (REPO / "provenance" / "server" / "routes.py").read_text()
needs_wiring = pytest.mark.skipif(not WIRED, reason="routes.py does not call iscc_matches yet")
LedgerC2pa: type[Ledger] = (
    Ledger if issubclass(Ledger, C2paLedger) else type("LedgerC2pa", (Ledger, C2paLedger), {})
)
SPEC = openapi_document("http://testserver/v1")


# --- a minimal JSON-schema check (the subset the OpenAPI document uses) -----------------------
def conforms(value: Any, schema: dict[str, Any], path: str = "$") -> None:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        conforms(value, SPEC["components"]["schemas"][name], path)
        return
    for part in schema.get("allOf", []):
        conforms(value, part, path)
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                conforms(value, option, path)
                break
            except AssertionError as exc:
                errors.append(str(exc))
        else:
            raise AssertionError(f"{path}: no oneOf option fits: {errors}")
    kind = schema.get("type")
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "integer": int,
    }
    if kind is not None:
        assert isinstance(value, types[kind]), f"{path}: {value!r} is not {kind}"
        if kind == "integer":
            assert not isinstance(value, bool), path
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if isinstance(value, int) and not isinstance(value, bool):
        assert value >= schema.get("minimum", value), path
        assert value <= schema.get("maximum", value), path
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{path}: missing {name}"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                conforms(value[name], sub, f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            conforms(item, schema["items"], f"{path}[{i}]")


def check(response: Any, route: str, method: str = "get") -> Any:
    """The response's status is documented for the route, and its JSON body fits."""
    operation = SPEC["paths"][route][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, (route, method, response.status_code, response.text)
    content = documented.get("content", {})
    if "application/json" in content:
        body = response.json()
        conforms(body, content["application/json"]["schema"])
        return body
    if "application/c2pa" in content:
        assert response.headers["content-type"] == "application/c2pa"
    return response.content


# --- fixtures -------------------------------------------------------------------------------
@dataclass
class Served:
    client: TestClient
    ledger: Ledger
    lenv: LedgerEnv
    chain: Path
    root: Path

    def export(self, image: Path, **kw: Any) -> export_mod.ExportResult:
        bundle = provenance.export_bundle(self.ledger, str(image))
        return provenance.export_credentials(
            bundle,
            image.read_bytes(),
            cert_chain=self.chain,
            key=self.lenv.alice,
            ledger_url="http://testserver",
            title=image.name,
            **kw,
        )

    def logged(self, name: str, seed: int, size: tuple[int, int] = (160, 120)) -> Path:
        path = self.lenv.tmp / name
        path.write_bytes(fx.jpeg_bytes(fx.photo_like(*size, seed=seed)))
        self.ledger.sign([path], self.lenv.alice)
        return path

    def photo(self, corpus: Path, name: str) -> Path:
        """A real photograph, logged (synthetic noise images are poor ISCC material)."""
        path = self.lenv.tmp / name
        path.write_bytes((corpus / name).read_bytes())
        self.ledger.sign([path], self.lenv.alice)
        return path

    def deposit(self, store: bytes, query: str = "") -> Any:
        return self.client.post(
            f"/v1/manifests{query}", content=store, headers={"content-type": "application/c2pa"}
        )


def _serve(lenv: LedgerEnv, **settings: Any) -> Iterator[Served]:
    c2pa_certs.make_c2pa_certs(
        "Test Newsroom", ORIGIN, lenv.tmp / "c2pa", for_key=lenv.alice.public
    )
    ledger = LedgerC2pa.open(str(lenv.db))
    app = create_app(ServeSettings(db=str(lenv.db), **settings), ledger=ledger)
    try:
        with TestClient(app) as client:
            yield Served(
                client,
                ledger,
                lenv,
                lenv.tmp / "c2pa" / "chain.pem",
                lenv.tmp / "c2pa" / "root.pem",
            )
    finally:
        ledger.close()


@pytest.fixture
def served(lenv: LedgerEnv) -> Iterator[Served]:
    yield from _serve(lenv)


# --- deposit and fetch ----------------------------------------------------------------------
def test_deposit_then_fetch_the_store_and_its_active_manifest(served: Served) -> None:
    res = served.export(served.logged("a.jpg", 1))
    first = served.deposit(res.store)
    assert first.status_code == 201
    assert check(first, "/manifests", "post") == {"manifestId": res.manifest_id}
    again = served.deposit(res.store)
    assert again.status_code == 200 and again.json() == {"manifestId": res.manifest_id}
    quoted = urllib.parse.quote(res.manifest_id, safe="")
    got = served.client.get(f"/v1/manifests/{quoted}")
    assert got.status_code == 200
    assert check(got, "/manifests/{manifestId}") == res.store
    # the store validates the exported file, as a Soft Binding Resolution client would use it
    import c2pa

    ctx = pc.context(pc.TrustConfig(user_anchors=served.root.read_text()))
    with c2pa.Reader("image/jpeg", io.BytesIO(res.data), got.content, context=ctx) as reader:
        assert reader.get_validation_state() == "Trusted"
    active = served.client.get(f"/v1/manifests/{quoted}?returnActiveManifest=true")
    assert active.status_code == 200
    store_json, _ = pc.read_store(active.content, pc.TrustConfig())
    assert store_json["active_manifest"] == res.manifest_id
    assert len(store_json["manifests"]) == 1
    assert ingest_mod.store_bundle(active.content) is not None
    bad = served.client.get(f"/v1/manifests/{quoted}?returnActiveManifest=maybe")
    assert bad.status_code == 400
    # a remote-mode export deposits its sidecar store the same way
    remote = served.export(served.logged("remote.jpg", 11), remote_url="http://testserver")
    assert remote.remote_url == f"http://testserver/v1/manifests/{remote.manifest_id}"
    assert served.deposit(remote.store).status_code == 201
    fetched = served.client.get(remote.remote_url.removeprefix("http://testserver"))
    with c2pa.Reader("image/jpeg", io.BytesIO(remote.data), fetched.content, context=ctx) as r:
        assert r.get_validation_state() == "Trusted"


def test_deposit_with_a_receipt_and_the_receipt_routes(served: Served) -> None:
    res = served.export(served.logged("r.jpg", 2))
    made = served.deposit(res.store, "?returnReceipt=true")
    assert made.status_code == 201
    body = check(made, "/manifests", "post")
    receipt = body["receipt"]
    assert receipt["@type"] == "org.c2pa.manifest-receipt"
    assert receipt["repository"] == {"uri": "http://testserver/v1", "manifestId": res.manifest_id}
    proof = receipt["anchor"]["proof"]
    assert proof["alg"] == "c2sp.org/tlog-proof@v1"
    assert proof["vkey"] == served.ledger.log_verifier.vkey()
    assert proof["record"] == res.record_id
    assert proof["value"].startswith("c2sp.org/tlog-proof@v1\nindex ")
    route = "/manifests/{manifestId}/receipts"
    url = f"/v1/manifests/{res.manifest_id}/receipts"
    got = served.client.get(url)
    verified = check(got, route)
    assert verified["verified"] is True and "error" not in verified
    posted = served.client.post(url, json=receipt)
    assert check(posted, route, "post")["verified"] is True
    # tampered receipts verify false, with the reason
    cases: dict[str, Any] = {
        "not about": {**receipt, "repository": {**receipt["repository"], "manifestId": "x"}},
        "not a c2sp": {**receipt, "anchor": {**receipt["anchor"], "proof": {"alg": "x"}}},
    }
    lines = proof["value"].split("\n")
    lines[2] = base64.b64encode(b"\x00" * 32).decode()  # a wrong sibling hash
    cases["does not verify"] = _with_proof(receipt, "\n".join(lines))
    other = Ledger.init(str(served.lenv.tmp / "other.db"), origin=ORIGIN)  # same name, other key
    other.register_key(SigningKey.generate().public, "x")
    foreign = other.prove(0)
    from provenance.checkpoint import format_tlog_proof

    assert foreign.checkpoint is not None
    cases["not this log's"] = _with_proof(
        receipt, format_tlog_proof(foreign.index, foreign.proof, foreign.checkpoint)
    )
    other.close()
    for reason, tampered in cases.items():
        out = check(served.client.post(url, json=tampered), route, "post")
        assert out["verified"] is False and reason in out["error"], (reason, out)
    assert check(served.client.post(url, content=b"{nope"), route, "post")["error"]
    for malformed in ([1], {**receipt, "@type": "x"}, {**receipt, "anchor": "x"}):
        bad = served.client.post(url, json=malformed)
        assert bad.status_code == 400 and check(bad, route, "post")["error"]
    unknown = f"/v1/manifests/urn:c2pa:{uuid.uuid4()}/receipts"
    assert check(served.client.get(unknown), route).get("error")
    assert served.client.post(unknown, json=receipt).status_code == 404
    assert served.client.get("/v1/manifests/nope/receipts").status_code == 400


def _with_proof(receipt: dict[str, Any], value: str) -> dict[str, Any]:
    anchor = receipt["anchor"]
    return {**receipt, "anchor": {**anchor, "proof": {**anchor["proof"], "value": value}}}


def test_manifest_route_errors(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    route = "/manifests/{manifestId}"
    assert check(served.client.get("/v1/manifests/not-a-urn"), route)["error"]["code"] == (
        "manifest.id"
    )
    missing = served.client.get(f"/v1/manifests/urn:c2pa:{uuid.uuid4()}")
    assert missing.status_code == 404 and check(missing, route)
    deleted = served.client.delete(f"/v1/manifests/urn:c2pa:{uuid.uuid4()}:provenance")
    assert deleted.status_code == 405 and deleted.headers["allow"] == "GET"
    assert check(deleted, route, "delete")["error"]["code"] == "manifest.appendOnly"
    res = served.export(served.logged("e.jpg", 3))
    wrong_type = served.client.post(
        "/v1/manifests", content=res.store, headers={"content-type": "application/json"}
    )
    assert wrong_type.status_code == 415 and check(wrong_type, "/manifests", "post")
    garbage = served.deposit(b"definitely not JUMBF" * 10)
    assert garbage.status_code == 400 and check(garbage, "/manifests", "post")
    flipped = bytearray(res.store)
    at = flipped.find(b'"tlog_proof"') + 40
    flipped[at] ^= 0x01  # inside the bundle assertion: its hashed link breaks
    broken = served.deposit(bytes(flipped))
    assert broken.status_code == 400, broken.text
    assert "assertion.hashedURI.mismatch" in broken.json()["error"]["message"]
    # a store exported from another log is not kept here
    other_db = served.lenv.tmp / "other.db"
    other = Ledger.init(str(other_db), origin="other.example/log")
    other.register_key(served.lenv.alice.public, "alice")
    image = served.lenv.tmp / "o.jpg"
    image.write_bytes(fx.jpeg_bytes(fx.photo_like(seed=4)))
    other.sign([image], served.lenv.alice)
    foreign = provenance.export_credentials(
        provenance.export_bundle(other, str(image)),
        image.read_bytes(),
        cert_chain=served.chain,
        key=served.lenv.alice,
    )
    other.close()
    refused = served.deposit(foreign.store)
    assert refused.status_code == 422 and check(refused, "/manifests", "post")
    # another store under an id already kept
    fixed = uuid.UUID("00000000-0000-4000-8000-000000000001")
    monkeypatch.setattr(export_mod.uuid, "uuid4", lambda: fixed)
    one = served.export(served.logged("c1.jpg", 5))
    two = served.export(served.logged("c2.jpg", 6))
    assert one.manifest_id == two.manifest_id
    assert served.deposit(one.store).status_code == 201
    conflict = served.deposit(two.store)
    assert conflict.status_code == 409 and check(conflict, "/manifests", "post")


def test_deposit_size_limit(lenv: LedgerEnv) -> None:
    for served in _serve(lenv, max_upload_bytes=2_000):
        res = served.export(served.logged("big.jpg", 7))
        assert len(res.store) > 2_000
        too_big = served.deposit(res.store)
        assert too_big.status_code == 413 and check(too_big, "/manifests", "post")


def test_openapi_documents_every_v1_route(served: Served) -> None:
    got = served.client.get("/v1/openapi.json")
    doc = check(got, "/openapi.json")
    assert doc["openapi"] == "3.0.3" and doc["servers"] == [{"url": "http://testserver/v1"}]
    for name in ("c2pa.softBindingAlgList", "c2pa.softBindingQuery", "c2pa.softBindingQueryResult"):
        assert name in doc["components"]["schemas"]
    app_paths = {
        route.path.removeprefix("/v1").replace("{manifest_id}", "{manifestId}")
        for route in served.client.app.routes  # type: ignore[attr-defined]
        if getattr(route, "path", "").startswith("/v1/")
    }
    assert app_paths <= set(doc["paths"]), app_paths - set(doc["paths"])
    assert "/matches/byReference" not in doc["paths"]


# --- io.iscc.v0 -------------------------------------------------------------------------------
def _resave(data: bytes, quality: int = 85) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_iscc_matches_and_scores(served: Served, corpus: Path) -> None:
    res = served.export(served.photo(corpus, "imgaug__quokka.jpg"))
    assert served.deposit(res.store).status_code == 201
    resaved = _resave(res.data)
    found = iscc_matches(served.ledger, iscc.image_iscc(resaved), 10)
    assert [m["manifestId"] for m in found] == [res.manifest_id]
    assert 50 <= found[0]["similarityScore"] <= 100
    assert iscc_matches(served.ledger, res.iscc, 10) == [
        {"manifestId": res.manifest_id, "similarityScore": 100}
    ]
    assert content_matches(served.ledger, resaved, 1)[0]["manifestId"] == res.manifest_id
    stranger = (corpus / "mahotas__luispedro.jpg").read_bytes()
    assert iscc_matches(served.ledger, iscc.image_iscc(stranger), 10) == []
    assert similarity_score(0) == 100 and similarity_score(iscc.MATCH_THRESHOLD) == 50
    from provenance.server.http import HTTPError

    with pytest.raises(HTTPError) as info:
        iscc_matches(served.ledger, b"\x11\x07" + bytes(32), 10)  # a Meta-Code unit only
    assert info.value.status == 400


@needs_wiring
def test_round_trip_export_deposit_reencode_find_fetch(served: Served, corpus: Path) -> None:
    """export -> POST /v1/manifests -> a platform re-encodes the file (credentials gone) ->
    byBinding(io.iscc.v0) finds the manifest -> GET it: C2PA says the pixels changed, the
    ledger says similar; both are shown."""
    res = served.export(served.photo(corpus, "skimage__rocket.jpg"))
    assert served.deposit(res.store).status_code == 201
    resaved = _resave(res.data, quality=80)
    assert pc.read(resaved, "image/jpeg", pc.TrustConfig()) is None  # stripped
    value = base64.b64encode(iscc.image_iscc(resaved)).decode()
    query = urllib.parse.urlencode({"alg": "io.iscc.v0", "value": value, "maxResults": 1})
    got = served.client.get(f"/v1/matches/byBinding?{query}")
    body = check(got, "/matches/byBinding")
    assert [m["manifestId"] for m in body["matches"]] == [res.manifest_id]
    posted = served.client.post("/v1/matches/byBinding", json={"alg": "io.iscc.v0", "value": value})
    assert check(posted, "/matches/byBinding", "post")["matches"] == body["matches"]
    store = served.client.get(f"/v1/manifests/{res.manifest_id}").content
    import c2pa

    ctx = pc.context(pc.TrustConfig(user_anchors=served.root.read_text()))
    with c2pa.Reader("image/jpeg", io.BytesIO(resaved), store, context=ctx) as reader:
        assert reader.get_validation_state() == "Invalid"
        codes = [f["code"] for f in reader.get_validation_results()["activeManifest"]["failure"]]
        assert "assertion.dataHash.mismatch" in codes
    report, _ = served.ledger.evidence().verify_image(resaved)
    assert report.verdict == "similar"


@needs_wiring
def test_by_binding_statuses_for_iscc(served: Served) -> None:
    route = "/matches/byBinding"
    unit = iscc.IMAGE_HEADER + bytes(32)
    good = base64.b64encode(unit).decode()
    for value in (
        "not base64!",
        good.rstrip("="),
        base64.b64encode(b"\x11\x07" + bytes(32)).decode(),
    ):
        got = served.client.get(
            "/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": value}
        )
        assert got.status_code == 400, value
        check(got, route)
    ok = served.client.get("/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": good})
    assert check(ok, route) == {"matches": []}
    unknown = served.client.get("/v1/matches/byBinding", params={"alg": "com.x.y", "value": good})
    assert unknown.status_code == 400
    zero = served.client.get(
        "/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": good, "maxResults": 0}
    )
    assert zero.status_code == 400
    long = served.client.get(
        "/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": "A" * 5000}
    )
    assert long.status_code == 414 and check(long, route)


@needs_wiring
def test_supported_algorithms_lists_iscc(served: Served) -> None:
    got = served.client.get("/v1/services/supportedAlgorithms")
    body = check(got, "/services/supportedAlgorithms")
    assert {"alg": "io.iscc.v0"} in body["fingerprints"]
    assert body["watermarks"] == []


def test_served_exports_stay_small_and_json_is_stable(served: Served) -> None:
    res = served.export(served.logged("s.jpg", 10))
    assert res.growth < 10_000
    assert json.loads(json.dumps(SPEC)) == SPEC  # the document is plain JSON
