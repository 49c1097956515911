"""The verification page and its JSON twins, in-process (Starlette's TestClient runs the
app's lifespan; no sockets), plus the difference-map library and ``provenance diff``.

The ledger (:func:`browser_helpers.build_ledger`): keys ``Alice Example``, ``News desk``
and one whose name holds HTML; captures rocket, hopper (Alice) and apple (the HTML-named
key); ``rocket-crop.png``, a replayable crop + resize of rocket; a retouched copy of it
recorded as the same edit (a record that lies); a re-encoded hopper, not signed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_helpers import (
    SCRIPT_NAME,
    PageLedger,
    build_ledger,
    copy_ledger,
    tamper_signature,
)
from PIL import Image

import provenance
from provenance import Crop, Ledger, Resize
from provenance.diffing import compare, diff_images, encode_png
from provenance.server import ServeSettings, create_app
from provenance.server.page import CSP, STATIC, openapi_paths

with warnings.catch_warnings():
    # starlette 1.x warns that it prefers httpx2 for its TestClient; httpx is what we ship
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

MB = 1024 * 1024


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> PageLedger:
    return build_ledger(tmp_path_factory.mktemp("page-ledger"), corpus)


def _client(db: Path, **settings: Any) -> Iterator[TestClient]:
    ledger = Ledger.open(str(db))
    try:
        with TestClient(create_app(ServeSettings(db=str(db), **settings), ledger=ledger)) as c:
            yield c
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def client(built: PageLedger) -> Iterator[TestClient]:
    yield from _client(built.db)


class Tags(HTMLParser):
    """Every element of a page with its attributes, and any text inside <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.text_in_script = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.text_in_script += data.strip()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checks(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {c["number"]: c for c in body["report"]["checks"]}


def diff_body(original: Path, edited: Path) -> tuple[dict[str, str], bytes]:
    o, e = original.read_bytes(), edited.read_bytes()
    return {"original_bytes": str(len(o))}, o + e


def png_of(data_url: str) -> Image.Image:
    assert data_url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


# --- GET /v1/verify?sha256= ------------------------------------------------------------------
def test_an_exact_sha256_is_verified_and_says_what_was_not_checked(
    client: TestClient, built: PageLedger
) -> None:
    r = client.get("/v1/verify", params={"sha256": sha(built.photos["rocket"])})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["query"] == {"sha256": sha(built.photos["rocket"]), "uploaded": False}
    assert body["summary"]["verdict"] == "verified"
    assert body["summary"]["title"] == "Verified"
    assert body["summary"]["headline"] == "a signed capture, no edits since"
    report = body["report"]
    assert (report["verdict"], report["match"], report["assurance"]) == (
        "verified",
        "sha256",
        "complete",
    )
    c = checks(body)
    assert c[6]["status"] == "pass" and c[6]["code"] == "dataHash.match"
    assert "not uploaded" in c[6]["detail"]
    assert c[7]["status"] == "skip" and c[7]["code"] == "softBinding.notComputed"
    assert "not uploaded" in c[7]["detail"] and "not recomputed" in c[7]["detail"]
    assert report["distances"] == {}  # nothing was computed from the pixels
    assert body["bundle"] == f"/v1/evidence/{report['record_id']}"
    assert client.get(body["bundle"]).status_code == 200
    assert body["checkpoint"]["origin"] == "test.provenance.local/log"
    assert body["checkpoint"]["cosigned_by"] == []
    [step] = report["chain"]
    assert step["signer_name"] == "Alice Example" and step["time_is_claimed"] is True


def test_uppercase_hex_is_accepted(client: TestClient, built: PageLedger) -> None:
    r = client.get("/v1/verify", params={"sha256": sha(built.photos["rocket"]).upper()})
    assert r.status_code == 200 and r.json()["report"]["verdict"] == "verified"


def test_an_unknown_sha256_is_a_404_unknown_report(client: TestClient) -> None:
    r = client.get("/v1/verify", params={"sha256": "ab" * 32})
    assert r.status_code == 404
    body = r.json()
    assert body["report"]["verdict"] == "unknown"
    assert body["summary"]["title"] == "Unknown"
    assert "not uploaded" in body["report"]["notes"][0]
    assert body["bundle"] is None


@pytest.mark.parametrize("value", ["", "abc", "zz" * 32, "ab" * 33, "../../etc/passwd"])
def test_a_malformed_sha256_is_refused(client: TestClient, value: str) -> None:
    r = client.get("/v1/verify", params={"sha256": value})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "verify.sha256"


# --- POST /v1/verify -------------------------------------------------------------------------
def test_an_uploaded_signed_photo_gets_the_full_report(
    client: TestClient, built: PageLedger
) -> None:
    r = client.post("/v1/verify", content=built.photos["rocket"].read_bytes())
    assert r.status_code == 200
    body = r.json()
    assert body["query"]["uploaded"] is True
    c = checks(body)
    assert c[7]["status"] == "pass" and c[7]["code"] == "softBinding.match"
    assert body["report"]["distances"]["phash64"] == 0


def test_an_uploaded_re_encoded_copy_is_similar(client: TestClient, built: PageLedger) -> None:
    r = client.post("/v1/verify", content=built.photos["hopper-q70"].read_bytes())
    assert r.status_code == 200
    body = r.json()
    assert body["report"]["verdict"] == "similar"
    assert body["report"]["match"] == "perceptual"
    assert body["summary"]["headline"] == "re-encoded or resized after it was logged"
    d = body["report"]["distances"]
    assert f"{d['phash64']} of 64 bits" in body["summary"]["meaning"]


def test_an_uploaded_stranger_is_unknown(client: TestClient, built: PageLedger) -> None:
    r = client.post("/v1/verify", content=built.photos["stranger"].read_bytes())
    assert r.status_code == 404
    assert r.json()["report"]["verdict"] == "unknown"


def test_a_30_mb_upload_is_refused_with_a_message(client: TestClient) -> None:
    r = client.post("/v1/verify", content=b"\xff\xd8\xff" + bytes(30 * MB))
    assert r.status_code == 413
    error = r.json()["error"]
    assert error["code"] == "request.tooLarge"
    assert "25 MB" in error["message"] and "26,214,400 bytes" in error["message"]


def test_what_is_not_an_image_is_415(client: TestClient) -> None:
    r = client.post("/v1/verify", content=b"<html>not a photo</html>")
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "image.unsupported"


def test_the_pixel_limit_applies_to_uploads(built: PageLedger) -> None:
    for c in _client(built.db, max_upload_pixels=10_000):
        r = c.post("/v1/verify", content=built.photos["rocket"].read_bytes())
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "image.tooLarge"


# --- a tampered ledger -----------------------------------------------------------------------
def test_a_tampered_ledger_is_tampered_by_digest_and_by_upload(
    built: PageLedger, tmp_path: Path
) -> None:
    copy = copy_ledger(built, tmp_path / "tampered")
    tamper_signature(copy.db, 3)  # the rocket capture
    for c in _client(copy.db):
        for r in (
            c.get("/v1/verify", params={"sha256": sha(copy.photos["rocket"])}),
            c.post("/v1/verify", content=copy.photos["rocket"].read_bytes()),
            c.get("/v1/verify", params={"sha256": sha(copy.photos["crop"])}),  # its child
        ):
            assert r.status_code == 200
            body = r.json()
            assert body["report"]["verdict"] == "tampered"
            assert body["summary"]["title"] == "Tampered"
            assert checks(body)[2]["code"] == "claimSignature.mismatch"
            assert "Check 2 failed" in body["summary"]["meaning"]
        page = c.get("/")
        assert page.status_code == 200  # a damaged ledger still gets its page


# --- the page --------------------------------------------------------------------------------
def test_the_page_has_a_strict_csp_and_nothing_inline(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert csp == CSP
    assert "default-src 'self'" in csp and "img-src 'self' data: blob:" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    html = r.text
    tags = Tags()
    tags.feed(html)
    scripts = [a for tag, a in tags.seen if tag == "script"]
    assert scripts and all(a.get("src", "").startswith("/static/") for a in scripts)
    assert tags.text_in_script == ""  # no inline script
    assert "style" not in {tag for tag, _ in tags.seen}
    for tag, attrs in tags.seen:
        assert not {a for a in attrs if a == "style" or a.startswith("on")}, (tag, attrs)
    assert "leaves your browser only if" in html  # says when the photo is uploaded
    assert 'for="file"' in html and 'id="file"' in html  # labelled input


def test_a_key_name_holding_html_is_escaped_in_the_page(client: TestClient) -> None:
    html = client.get("/").text
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    tags = Tags()
    tags.feed(html)
    assert [t for t, _ in tags.seen].count("script") == 1
    assert [t for t, _ in tags.seen].count("img") == 0


def test_a_key_name_holding_html_is_data_in_the_json(client: TestClient, built: PageLedger) -> None:
    body = client.get("/v1/verify", params={"sha256": sha(built.photos["apple"])}).json()
    assert body["report"]["chain"][0]["signer_name"] == SCRIPT_NAME
    js = (STATIC / "verify.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink
    assert "textContent" in js


def test_the_page_weighs_under_100_kb(client: TestClient) -> None:
    html = client.get("/").text
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assert len(assets) == 2
    sizes = {a.split("?")[0]: len(client.get(a).content) for a in assets}
    total = len(html.encode()) + sum(sizes.values())
    assert total < 100_000, (total, sizes)
    js = client.get(next(a for a in assets if a.endswith(".js") or ".js?" in a))
    assert js.headers["content-type"].startswith("text/javascript")


def test_static_files_stay_in_their_folder(client: TestClient) -> None:
    for path in ("/static/../page.py", "/static/%2e%2e/page.py", "/static/../../__init__.py"):
        assert client.get(path).status_code == 404


# --- POST /v1/diff ---------------------------------------------------------------------------
def test_diff_of_an_exact_crop_is_zero_pixels_and_replayed(
    client: TestClient, built: PageLedger
) -> None:
    params, content = diff_body(built.photos["rocket"], built.photos["crop"])
    r = client.post("/v1/diff", params=params, content=content)
    assert r.status_code == 200, r.text
    body = r.json()
    d = body["diff"]
    assert (d["exact"], d["differing"], d["max_delta"], d["total"]) == (True, 0, 0, 220 * 180)
    assert d["edited"]["index"] == 6 and d["original"]["index"] == 3
    assert [a["action"] for a in d["actions"]] == ["c2pa.cropped", "c2pa.resized"]
    for name in ("replayed", "edited", "map"):
        assert png_of(body["images"][name]).size == (220, 180)
    report = body["report"]
    assert report["verdict"] == "verified" and report["assurance"] == "complete"
    assert checks(body)[8]["code"] == "replay.match"
    assert [s["check"] for s in report["chain"]] == ["replayed", "capture"]
    assert body["summary"]["headline"].startswith("every step checked")


def test_diff_of_an_edit_record_that_lies_is_non_zero(
    client: TestClient, built: PageLedger
) -> None:
    params, content = diff_body(built.photos["rocket"], built.photos["forged"])
    body = client.post("/v1/diff", params=params, content=content).json()
    d = body["diff"]
    assert d["exact"] is False
    assert d["differing"] == 22 * 30
    assert d["max_delta"] > 100
    assert body["report"]["verdict"] == "tampered"
    assert checks(body)[8]["code"] == "replay.mismatch"
    # the map highlights exactly the painted patch
    highlighted = np.all(np.asarray(png_of(body["images"]["map"])) == (255, 214, 0), axis=2)
    ys, xs = np.nonzero(highlighted)
    assert highlighted.sum() == 22 * 30
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (150, 60, 171, 89)


@pytest.mark.parametrize(
    ("original", "edited", "status", "code"),
    [
        ("rocket", "stranger", 404, "diff.notLogged"),
        ("hopper", "crop", 422, "diff.notParent"),
        ("rocket", "hopper", 422, "diff.notAnEdit"),
    ],
)
def test_diff_says_why_it_cannot_compare(
    client: TestClient, built: PageLedger, original: str, edited: str, status: int, code: str
) -> None:
    params, content = diff_body(built.photos[original], built.photos[edited])
    r = client.post("/v1/diff", params=params, content=content)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code


@pytest.mark.parametrize("split", ["", "-1", "0", "abc", "999999999"])
def test_diff_refuses_a_bad_split(client: TestClient, built: PageLedger, split: str) -> None:
    r = client.post(
        "/v1/diff", params={"original_bytes": split}, content=built.photos["crop"].read_bytes()
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "diff.split"


def test_diff_refuses_an_oversized_photo(built: PageLedger) -> None:
    edited = built.photos["crop"].read_bytes()
    limit = len(edited) + 1000
    for c in _client(built.db, max_upload_bytes=limit):
        big = b"\xff\xd8\xff" + bytes(limit + 10)
        r = c.post("/v1/diff", params={"original_bytes": str(len(big))}, content=big + edited)
        assert r.status_code == 413
        assert "each photo" in r.json()["error"]["message"]


# --- the library -----------------------------------------------------------------------------
def test_encode_png_round_trips() -> None:
    rng = np.random.default_rng(1)
    for channels in (3, 4):
        pixels = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8)
        decoded = np.asarray(Image.open(io.BytesIO(encode_png(pixels))))
        assert decoded.shape == pixels.shape and np.array_equal(decoded, pixels)


def test_a_single_differing_pixel_stays_visible_on_a_reduced_map() -> None:
    a = np.full((900, 1200, 4), 128, dtype=np.uint8)
    b = a.copy()
    b[450, 600, 0] = 129
    result = compare(a, b, preview=300)
    assert (result.differing, result.max_delta, result.scale) == (1, 1, 4)
    small = np.asarray(Image.open(io.BytesIO(result.map_png)))
    assert small.shape == (225, 300, 3)
    assert np.all(small == (255, 214, 0), axis=2).sum() >= 1


def test_reduced_previews_cover_every_pixel_of_odd_sizes() -> None:
    a = np.zeros((901, 1201, 3), dtype=np.uint8)
    b = a.copy()
    b[900, 1200] = (0, 0, 7)  # the very last pixel, in the padded edge block
    result = compare(a, b, preview=300)
    assert (result.differing, result.max_delta, result.scale) == (1, 7, 5)
    for png in (result.map_png, result.replayed_png, result.edited_png):
        with Image.open(io.BytesIO(png)) as im:
            assert im.size == (241, 181)
    small = np.asarray(Image.open(io.BytesIO(result.map_png)))
    assert np.all(small[-1, -1] == (255, 214, 0))


def test_alpha_differences_count() -> None:
    rgb = np.full((8, 8, 3), 90, dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((8, 8, 1), 255, dtype=np.uint8)], axis=2)
    assert compare(rgb, rgba).exact  # opaque RGBA is the RGB image
    rgba[2, 3, 3] = 0
    result = compare(rgb, rgba)
    assert (result.differing, result.max_delta) == (1, 255)


def test_sizes_that_differ_count_every_pixel() -> None:
    a = np.zeros((10, 20, 4), dtype=np.uint8)
    b = np.zeros((10, 21, 4), dtype=np.uint8)
    result = compare(a, b)
    assert (result.exact, result.differing, result.total) == (False, 210, 210)


def test_diff_images_replays_what_edit_wrote(tmp_path: Path, built: PageLedger) -> None:
    rocket = built.photos["rocket"].read_bytes()
    ops = [Crop(10, 10, 300, 200)]
    edited = provenance.apply_edits(rocket, ops, out_format="JPEG")
    result = diff_images(rocket, edited, [op.action() for op in ops])
    assert result.exact and result.total == 290 * 190
    other = diff_images(rocket, edited, [Resize(290, 190).action()])
    assert not other.exact and other.differing > 0


def test_diff_images_refuses_actions_that_are_not_replayable(built: PageLedger) -> None:
    data = built.photos["rocket"].read_bytes()
    with pytest.raises(provenance.DiffError) as info:
        diff_images(data, data, [provenance.Action("c2pa.color_adjustments", {})])
    assert info.value.code == "diff.notReplayable"


# --- provenance diff -------------------------------------------------------------------------
@pytest.fixture
def diff_cli(run_cli: Any) -> Any:
    import provenance.cli.diff_cmd  # noqa: F401  (registers the command)

    return run_cli


def test_cli_diff_exact_writes_the_map_and_exits_0(
    diff_cli: Any, built: PageLedger, tmp_path: Path
) -> None:
    out = tmp_path / "diff.png"
    r = diff_cli("--db", built.db, "diff", built.photos["rocket"], built.photos["crop"], "-o", out)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("EXACT: ")
    assert "0 of 39,600 pixels differ" in r.stdout
    with Image.open(out) as im:
        assert im.size == (220, 180)


def test_cli_diff_json_of_a_lie_exits_1(diff_cli: Any, built: PageLedger) -> None:
    r = diff_cli("--db", built.db, "diff", built.photos["rocket"], built.photos["forged"], "--json")
    assert r.exit_code == 1, r.output
    obj = json.loads(r.stdout)
    assert (obj["exact"], obj["differing"], obj["total"]) == (False, 660, 39_600)
    assert isinstance(obj["max_delta"], int) and obj["map"] is None


def test_cli_diff_of_an_image_not_in_the_ledger_exits_4(diff_cli: Any, built: PageLedger) -> None:
    r = diff_cli("--db", built.db, "diff", built.photos["rocket"], built.photos["stranger"])
    assert r.exit_code == 4
    assert "not in the ledger" in r.stderr


def test_cli_diff_of_the_wrong_original_exits_3(diff_cli: Any, built: PageLedger) -> None:
    r = diff_cli("--db", built.db, "diff", built.photos["hopper"], built.photos["crop"])
    assert r.exit_code == 3
    assert "not the parent image" in r.stderr


def test_cli_diff_keeps_an_existing_map(diff_cli: Any, built: PageLedger, tmp_path: Path) -> None:
    out = tmp_path / "diff.png"
    out.write_bytes(b"mine")
    r = diff_cli("--db", built.db, "diff", built.photos["rocket"], built.photos["crop"], "-o", out)
    assert r.exit_code == 3 and out.read_bytes() == b"mine"


# --- the OpenAPI fragment ----------------------------------------------------------------------
def fits(value: Any, schema: dict[str, Any], path: str = "$") -> None:
    """A small subset of JSON Schema: type, required, properties, allOf, enum, bounds."""
    for part in schema.get("allOf", []):
        fits(value, part, path)
    kind = schema.get("type")
    types = {"object": dict, "string": str, "boolean": bool, "integer": int, "array": list}
    if kind is not None:
        assert isinstance(value, types[kind]), f"{path}: {value!r} is not {kind}"
    if "enum" in schema:
        assert value in schema["enum"], path
    if isinstance(value, int) and not isinstance(value, bool):
        assert schema.get("minimum", value) <= value <= schema.get("maximum", value), path
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{path}: missing {name}"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                fits(value[name], sub, f"{path}.{name}")


def test_the_openapi_fragment_describes_the_answers(client: TestClient, built: PageLedger) -> None:
    paths = openapi_paths()
    assert set(paths) == {"/verify", "/diff"}
    params, content = diff_body(built.photos["rocket"], built.photos["crop"])
    for response, route, method in (
        (
            client.get("/v1/verify", params={"sha256": sha(built.photos["rocket"])}),
            "/verify",
            "get",
        ),
        (client.get("/v1/verify", params={"sha256": "ab" * 32}), "/verify", "get"),
        (client.get("/v1/verify", params={"sha256": "x"}), "/verify", "get"),
        (
            client.post("/v1/verify", content=built.photos["hopper-q70"].read_bytes()),
            "/verify",
            "post",
        ),
        (client.post("/v1/verify", content=b"nope"), "/verify", "post"),
        (client.post("/v1/diff", params=params, content=content), "/diff", "post"),
    ):
        documented = paths[route][method]["responses"][str(response.status_code)]
        schema = documented["content"]["application/json"]["schema"]
        if "$ref" in schema:
            assert schema["$ref"].endswith("/provenance.error")
            fits(response.json(), {"type": "object", "required": ["error"]})
        else:
            fits(response.json(), schema)
