/* The verification page: hash in the browser, ask the API, render its JSON.
 *
 * The server judges; this file only displays. Every value is put into the DOM with
 * textContent, never parsed as markup, so a key name holding HTML is shown as text.
 * The photo is uploaded only when no record matches its SHA-256 exactly.
 */
"use strict";
(function () {
  var body = document.body;
  var LIMIT = Number(body.dataset.maxUpload || 0);
  var LIMIT_MB = body.dataset.maxUploadMb || "";
  var current = null; // {file, answer}: the photo being shown

  function $(id) { return document.getElementById(id); }

  /* el("p", {class: "x"}, "text", child, ...): strings become text nodes. */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    var key;
    for (key in attrs || {}) {
      if (attrs[key] === null || attrs[key] === undefined || attrs[key] === false) continue;
      if (key === "class") node.className = attrs[key];
      else node.setAttribute(key, String(attrs[key]));
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function add(node, kid) {
    if (kid === null || kid === undefined || kid === false) return;
    if (Array.isArray(kid)) { kid.forEach(function (k) { add(node, k); }); return; }
    node.appendChild(typeof kid === "object" ? kid : document.createTextNode(String(kid)));
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function num(n) { return Number(n).toLocaleString("en-US"); }
  function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }

  function say(id, text) { $(id).textContent = text; }
  function showError(id, message, hint) {
    var box = $(id);
    clear(box);
    add(box, [el("p", {class: "error-title"}, message), hint ? el("p", {class: "hint"}, hint) : null]);
    box.hidden = false;
  }

  /* --- SHA-256: WebCrypto where the page is a secure context, else plain JS ------------ */
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }
  function sha256(buffer) {
    if (window.crypto && window.crypto.subtle) {
      return window.crypto.subtle.digest("SHA-256", buffer).then(hex);
    }
    return Promise.resolve(sha256Plain(new Uint8Array(buffer)));
  }
  function sha256Plain(data) {
    var k = [], h = [], c, d, n = 0, prime;
    for (c = 2; n < 64; c++) {
      prime = true;
      for (d = 2; d * d <= c; d++) if (c % d === 0) { prime = false; break; }
      if (!prime) continue;
      if (n < 8) h[n] = (Math.pow(c, 1 / 2) * 4294967296) | 0;
      k[n++] = (Math.pow(c, 1 / 3) * 4294967296) | 0;
    }
    var len = data.length, total = ((len + 9 + 63) >> 6) << 6;
    var buf = new Uint8Array(total);
    buf.set(data);
    buf[len] = 0x80;
    var view = new DataView(buf.buffer);
    view.setUint32(total - 8, Math.floor(len / 536870912));
    view.setUint32(total - 4, (len * 8) >>> 0);
    var w = new Array(64), a, b, e, f, g, hh, cc, dd, t1, t2, i, j;
    for (j = 0; j < total; j += 64) {
      for (i = 0; i < 16; i++) w[i] = view.getUint32(j + i * 4);
      for (i = 16; i < 64; i++) {
        var x = w[i - 15], y = w[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      a = h[0]; b = h[1]; cc = h[2]; dd = h[3]; e = h[4]; f = h[5]; g = h[6]; hh = h[7];
      for (i = 0; i < 64; i++) {
        t1 = (hh + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
          ((e & f) ^ (~e & g)) + k[i] + w[i]) | 0;
        t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
          ((a & b) ^ (a & cc) ^ (b & cc))) | 0;
        hh = g; g = f; f = e; e = (dd + t1) | 0; dd = cc; cc = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + cc) | 0; h[3] = (h[3] + dd) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
    }
    return h.map(function (v) { return ("00000000" + (v >>> 0).toString(16)).slice(-8); }).join("");
  }

  /* --- talking to the API --------------------------------------------------------------- */
  function getJSON(response) {
    return response.json().then(function (data) {
      return {status: response.status, data: data};
    }, function () {
      return {status: response.status, data: {error: {code: "http." + response.status,
        message: "the server answered " + response.status + " without a JSON body"}}};
    });
  }
  function request(url, options) {
    return fetch(url, options).then(getJSON, function () {
      return {status: 0, data: {error: {code: "network", message: "the server could not be reached"}}};
    });
  }

  function check(file) {
    var started = performance.now();
    $("error").hidden = true;
    $("result").hidden = true;
    $("compare").hidden = true;
    current = null;
    say("status", "Computing the fingerprint (SHA-256) of " + file.name + " in your browser…");
    return file.arrayBuffer().then(sha256).then(function (digest) {
      say("status", "Asking the ledger about fingerprint " + digest.slice(0, 16) + "…");
      return request("/v1/verify?sha256=" + digest, {headers: {Accept: "application/json"}});
    }).then(function (res) {
      var unknown = res.data.report && res.data.report.verdict === "unknown";
      if (!unknown) return res;
      if (LIMIT && file.size > LIMIT) {
        return {status: 413, data: {error: {code: "request.tooLarge",
          message: "No record matches " + file.name + " exactly, and at " + mb(file.size) +
            " it is too large to upload for a comparison by content: this server accepts photos up to " +
            LIMIT_MB + " MB.",
          hint: "Nothing was uploaded."}}};
      }
      say("status", "No exact match: uploading the photo to compare it by content (it is not stored)…");
      return request("/v1/verify", {method: "POST", body: file,
        headers: {"Content-Type": "application/octet-stream", Accept: "application/json"}});
    }).then(function (res) {
      var seconds = (performance.now() - started) / 1000;
      if (res.data.error) {
        say("status", "");
        showError("error", res.data.error.message, res.data.error.hint);
        return;
      }
      current = {file: file, answer: res.data};
      render(res.data, seconds);
      announce(file.name, res.data);
      $("result").scrollIntoView({block: "start"});
      body.dataset.checkedMs = String(Math.round(seconds * 1000));
    }).catch(function (e) {
      say("status", "");
      showError("error", "The photo could not be checked: " + (e && e.message ? e.message : e));
    });
  }

  function announce(what, answer) {
    say("status", "Result for " + what + ": " + answer.summary.title + " — " +
      answer.summary.headline + ". Details below.");
  }

  /* --- rendering a verification answer --------------------------------------------------- */
  var ICONS = {verified: "✓", tampered: "✗", similar: "≈", unknown: "?"};
  var STATUS_WORDS = {pass: "passed", fail: "FAILED", skip: "skipped"};
  var STEP_TYPES = {capture: "Captured", edit: "Edited", key: "Key registered", revoke: "Key revoked"};
  var HOW = {
    "capture": ["capture", "the signed original"],
    "replayed": ["replayed", "re-applied to its parent image here: identical to the recorded result"],
    "declared, plausible": ["declared, plausible", "the signer's word, consistent with the records"],
    "declared": ["declared", "the signer's word: not checked"],
    "key event": ["key", ""]
  };

  function render(answer, seconds) {
    var report = answer.report, s = answer.summary, box = $("result");
    clear(box);
    var verdict = el("div", {class: "verdict tone-" + s.verdict, id: "verdict", "data-verdict": s.verdict},
      el("span", {class: "verdict-icon", "aria-hidden": "true"}, ICONS[s.verdict] || "?"),
      el("div", {class: "verdict-text"},
        el("h2", {class: "verdict-title"}, s.title),
        el("p", {class: "verdict-headline"}, s.headline),
        el("p", {class: "verdict-meaning"}, s.meaning),
        el("p", {class: "verdict-how"}, howLine(answer, seconds))));
    add(box, verdict);

    var failed = (report.checks || []).filter(function (c) { return c.status === "fail"; });
    if (failed.length) {
      add(box, el("div", {class: "failures"},
        el("h3", null, "What failed"),
        el("ul", null, failed.map(function (c) {
          return el("li", null, el("strong", null, "Check " + c.number + ": " + c.name),
            " — ", el("code", null, c.code), c.detail ? ": " + c.detail : "");
        }))));
    }
    if (report.checks && report.checks.length) add(box, checksBlock(report.checks, false));
    if (report.chain && report.chain.length) add(box, timeline(report.chain));
    if (answer.checkpoint && answer.checkpoint.size !== null) add(box, checkpointBlock(answer));
    if (report.notes && report.notes.length) {
      add(box, el("ul", {class: "notes"}, report.notes.map(function (n) { return el("li", null, n); })));
    }
    box.hidden = false;
    var head = report.chain && report.chain[0];
    var compare = $("compare");
    compare.hidden = !(head && head.type === "edit" && (report.match === "sha256" || report.match === "content"));
    if (!answer.diff) { clear($("diff")); $("diff").hidden = true; $("error2").hidden = true; say("status2", ""); }
  }

  function howLine(answer, seconds) {
    var r = answer.report, parts = [];
    if (current && current.file) parts.push(current.file.name);
    if (seconds !== null) parts.push("Checked in " + seconds.toFixed(2) + " s");
    if (r.record_id) {
      parts.push("record #" + r.index + " matched by " +
        ({sha256: "exact file (SHA-256)", content: "displayed content", perceptual: "appearance only"}[r.match] || r.match));
    }
    parts.push(answer.query.uploaded ? "the photo was uploaded for this check and not stored"
      : "your photo was not uploaded: only its SHA-256 was sent");
    return parts.join(" · ");
  }

  function checksBlock(checks, open) {
    var counts = {pass: 0, fail: 0, skip: 0};
    checks.forEach(function (c) { counts[c.status] += 1; });
    return el("details", {class: "checks", open: open ? "open" : null},
      el("summary", null, "What was checked: " + counts.pass + " passed, " + counts.skip + " skipped, " +
        counts.fail + " failed"),
      el("ol", {class: "check-list"}, checks.map(function (c) {
        return el("li", {class: "check check-" + c.status, "data-check": c.number},
          el("span", {class: "badge badge-" + c.status}, STATUS_WORDS[c.status] || c.status),
          el("span", {class: "check-name"}, "(" + c.number + ") " + c.name),
          c.code !== "ok" ? el("span", {class: "check-code"}, el("code", null, c.code), c.detail ? " " + c.detail : "") : null,
          c.problems && c.problems.length > 1 ? el("ul", {class: "problems"}, c.problems.slice(1, 6).map(function (p) {
            return el("li", null, el("code", null, p.code), " " + p.detail);
          })) : null);
      })));
  }

  function actionText(a) {
    var p = a.params || {}, name = String(a.action || "");
    if (name === "c2pa.cropped" && "left" in p) {
      return "cropped to the box left " + p.left + ", top " + p.top + ", right " + p.right + ", bottom " + p.bottom;
    }
    if (name === "c2pa.resized" && "width" in p) {
      return "resized to " + p.width + " × " + p.height + " px" + (p.filter ? " (" + p.filter + ")" : "");
    }
    if (name === "c2pa.orientation" && "rotate" in p) return "rotated " + p.rotate + "° clockwise";
    if (name === "c2pa.orientation" && "flip" in p) return "flipped " + p.flip;
    var keys = Object.keys(p);
    return name.replace(/^c2pa\./, "") + (keys.length ? ": " + keys.map(function (key) {
      return key + " " + (typeof p[key] === "string" ? p[key] : JSON.stringify(p[key]));
    }).join(", ") : "");
  }

  function timeline(chain) {
    var steps = chain.slice().sort(function (a, b) { return a.index - b.index; });
    return el("section", {class: "history", "aria-labelledby": "history-title"},
      el("h3", {id: "history-title"}, "History back to capture"),
      el("p", {class: "hint"}, "Oldest first. Times are what each signer's device claimed; the log order is what the ledger proves."),
      el("ol", {class: "timeline"}, steps.map(function (s) {
        var how = HOW[s.check] || [s.check, ""];
        var proof = "/v1/proof/inclusion?record=" + encodeURIComponent(s.record_id);
        var claims = Object.keys(s.claims || {}).filter(function (k) { return k.indexOf("provenance.") !== 0; });
        return el("li", {class: "step" + (s.ok ? "" : " step-bad"), "data-index": s.index, "data-check": s.check},
          el("div", {class: "step-head"},
            el("span", {class: "step-type"}, (STEP_TYPES[s.type] || s.type)),
            s.asset ? el("span", {class: "step-asset"}, s.asset.format + " · " + s.asset.width + " × " + s.asset.height + " px") : null,
            s.type === "edit" ? el("span", {class: "tag tag-" + how[0].replace(/[^a-z]+/g, "-")}, how[0]) : null,
            s.ok ? null : el("span", {class: "tag tag-bad"}, "fails a check")),
          s.actions && s.actions.length ? el("ul", {class: "actions"}, s.actions.map(function (a) {
            return el("li", null, actionText(a));
          })) : null,
          how[1] && s.type === "edit" ? el("p", {class: "step-how"}, how[1] +
            (s.check_detail && s.check !== "replayed" ? " (" + s.check_detail + ")" : "")) : null,
          el("p", {class: "step-signer"}, "Signed by ",
            el("strong", {class: "signer-name"}, s.signer_name === null || s.signer_name === undefined ? "an unregistered key" : s.signer_name),
            " ", el("code", {class: "key-id"}, s.signer)),
          el("p", {class: "step-time"}, "Claimed time: ", el("time", {datetime: s.time}, s.time.replace("T", " ").replace("Z", " UTC")),
            el("span", {class: "claimed"}, " (claimed by the signer, not checked)")),
          claims.length ? el("p", {class: "step-claims"}, claims.map(function (k) { return k + ": " + s.claims[k]; }).join(" · ")) : null,
          el("p", {class: "step-log"}, "Log index " + s.index + " · ",
            el("a", {href: proof, class: "proof-link"}, "inclusion proof"),
            " · ", el("code", {class: "record-id", title: s.record_id}, s.record_id.slice(0, 19) + "…")),
          s.problems && s.problems.length ? el("ul", {class: "problems"}, s.problems.map(function (p) {
            return el("li", null, p);
          })) : null);
      })));
  }

  function checkpointBlock(answer) {
    var cp = answer.checkpoint, r = answer.report;
    var witnesses;
    if (cp.witnesses && cp.witnesses.length) {
      witnesses = "cosigned by " + cp.witnesses.join(", ") + " (verified)";
    } else if (cp.cosigned_by && cp.cosigned_by.length) {
      witnesses = "cosigned by " + cp.cosigned_by.join(", ") +
        " (not checked here: verify with provenance verify --witness-key)";
    } else {
      witnesses = "no witness has cosigned this checkpoint";
    }
    var name = r.record_id ? r.record_id.replace(":", "-").slice(0, 23) + ".provenance.json" : "evidence.json";
    return el("section", {class: "checkpoint", "aria-labelledby": "cp-title"},
      el("h3", {id: "cp-title"}, "Signed checkpoint"),
      el("dl", {class: "facts"},
        el("dt", null, "Log"), el("dd", null, el("code", null, cp.origin)),
        el("dt", null, "Size"), el("dd", null, num(cp.size) + " records"),
        el("dt", null, "Root"), el("dd", null, el("code", {class: "wrap"}, cp.root)),
        el("dt", null, "Witnesses"), el("dd", {id: "witnesses"}, witnesses)),
      answer.bundle && (r.verdict === "verified" || r.verdict === "similar") ? el("p", null, el("a", {href: answer.bundle, download: name, class: "button", id: "bundle"},
        "Download the evidence bundle"), " — verify offline: ", el("code", null, "provenance verify PHOTO --bundle " + name)) : null);
  }

  /* --- the difference map ---------------------------------------------------------------- */
  function compare(original) {
    if (!current) return;
    var edited = current.file;
    $("error2").hidden = true;
    $("diff").hidden = true;
    if (LIMIT && (original.size > LIMIT || edited.size > LIMIT)) {
      showError("error2", "To compare, both photos are uploaded, and this server accepts photos up to " +
        LIMIT_MB + " MB each.", "Nothing was uploaded.");
      return;
    }
    say("status2", "Uploading both photos; the server replays the recorded edit and compares…");
    var started = performance.now();
    request("/v1/diff?original_bytes=" + original.size, {method: "POST", body: new Blob([original, edited]),
      headers: {"Content-Type": "application/octet-stream", Accept: "application/json"}}).then(function (res) {
      say("status2", "");
      if (res.data.error) { showError("error2", res.data.error.message, res.data.error.hint); return; }
      say("status2", res.data.diff.exact ? "Compared: identical to the replayed edit." :
        "Compared: " + num(res.data.diff.differing) + " pixels differ from the replayed edit.");
      var seconds = (performance.now() - started) / 1000;
      current.answer = res.data;
      render(res.data, seconds);
      announce(edited.name + " with its original " + original.name, res.data);
      renderDiff(res.data);
      $("diff").scrollIntoView({block: "start"});
    });
  }

  function renderDiff(answer) {
    var d = answer.diff, box = $("diff");
    clear(box);
    var pct = d.total ? (100 * d.differing / d.total) : 0;
    var line = d.exact
      ? "0 of " + num(d.total) + " pixels differ: the uploaded photo is exactly the recorded edit of the original."
      : num(d.differing) + " of " + num(d.total) + " pixels differ (" + (pct < 0.1 ? pct.toFixed(3) : pct.toFixed(1)) +
        " %); the largest difference is " + d.max_delta + " of 255.";
    if (!d.exact && (d.replayed_size[0] !== d.edited_size[0] || d.replayed_size[1] !== d.edited_size[1])) {
      line += " The replay is " + d.replayed_size.join(" × ") + " px, the uploaded photo " + d.edited_size.join(" × ") + " px.";
    }
    add(box, el("p", {class: "diff-count " + (d.exact ? "diff-exact" : "diff-differs"), id: "diff-count",
      "data-differing": d.differing},
      el("strong", null, d.exact ? "Identical. " : "Different. "), line));
    function figure(src, caption, alt) {
      return el("figure", null, el("img", {src: src, alt: alt}), el("figcaption", null, caption));
    }
    add(box, el("div", {class: "figures"},
      figure(answer.images.replayed, "Replayed: the recorded edit applied to the original",
        "The original with the recorded edit applied by the server"),
      figure(answer.images.edited, "Uploaded: the photo you are checking", "The photo being checked"),
      figure(answer.images.map, d.exact ? "Difference map: no pixel differs" : "Difference map: differing pixels in yellow",
        d.exact ? "A dimmed copy of the photo with no pixel highlighted" :
          "A dimmed copy of the photo with the " + num(d.differing) + " differing pixels highlighted in yellow")));
    if (d.scale > 1) add(box, el("p", {class: "hint"}, "Shown at 1/" + d.scale + " size; the counts are over every pixel."));
    box.hidden = false;
  }

  /* --- choosing and dropping files -------------------------------------------------------- */
  function wire(zoneId, inputId, onFile) {
    var zone = $(zoneId), input = $(inputId);
    input.addEventListener("change", function () {
      if (input.files && input.files[0]) onFile(input.files[0]);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (ev) {
      ev.preventDefault();
      ev.stopPropagation();
      var files = ev.dataTransfer && ev.dataTransfer.files;
      if (files && files[0]) onFile(files[0]);
    });
  }
  // a photo dropped beside a zone must not replace the page
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (ev) { ev.preventDefault(); });
  });
  document.addEventListener("DOMContentLoaded", function () {
    wire("drop", "file", check);
    wire("drop2", "original", compare);
    body.dataset.ready = "1";
  });
}());
