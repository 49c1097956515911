"""Build ledgers with the code of f7d0887 (digest set 1, schema 0003 and 0001)."""

import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, "/tmp/oldtree/tests")
from provenance.edits import Crop, Resize
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.records import Action

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
rng = np.random.default_rng(20261101)


# small photo-like images: smooth gradients + noise (distinct pHashes)
def img(seed, size):
    r = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack(
        [
            (x * r.uniform(0.5, 2) + y * r.uniform(0.2, 1.5)) % 256,
            (x * r.uniform(0.1, 1) + 128) % 256,
            (y * r.uniform(0.5, 3)) % 256,
        ],
        -1,
    )
    base += r.normal(0, 6, base.shape)
    blobs = r.integers(0, min(h, w), (6, 3))
    for cy, cx, rad in blobs:
        base[(y - cy) ** 2 + (x - cx) ** 2 < (rad // 3 + 5) ** 2] = r.integers(0, 256, 3)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


img(1, (96, 128)).save(out / "v1_capture.jpg", quality=90)
img(2, (120, 90)).save(out / "v1_capture2.png")
img(3, (96, 128)).save(out / "v1_derived.jpg", quality=85)
db = out / "ledger_v1.db"
ledger = Ledger.init(str(db), origin="legacy.provenance.local/log")
alice, desk = SigningKey.from_seed(bytes(range(32))), SigningKey.from_seed(bytes(range(1, 33)))
ledger.register_key(alice.public, "alice", now=NOW)
ledger.register_key(desk.public, "desk", now=NOW)
print(
    ledger.sign(
        [out / "v1_capture.jpg", out / "v1_capture2.png"],
        alice,
        now=NOW,
        claims={"author": "Alice"},
    )
)
print(
    ledger.edit(
        out / "v1_capture.jpg",
        out / "v1_edit.png",
        [Crop(8, 8, 104, 80), Resize(48, 36)],
        desk,
        now=NOW,
    )
)
print(
    ledger.derive(
        [str(out / "v1_capture2.png")],
        out / "v1_derived.jpg",
        desk,
        [Action("c2pa.edited", {})],
        now=NOW,
    )
)
gone = SigningKey.from_seed(bytes(range(9, 41)))
ledger.register_key(gone.public, "gone", now=NOW)
ledger.revoke_key(gone.public.key_id, reason="test", now=NOW)
from pg_helpers import write_0001_ledger  # noqa: E402 (needs the old tree on sys.path)

write_0001_ledger(ledger, f"sqlite:///{out / 'ledger_v1_rev0001.db'}")
ledger.close()
for suffix in (".logkey", ".logkey.pub"):
    shutil.copyfile(str(db) + suffix, str(out / "ledger_v1_rev0001.db") + suffix)
print("done")
