#!/usr/bin/env python3
"""Check a running `tolk serve` with the real LibreTranslate Python client.

Uses libretranslatepy==2.1.4 (`pip install libretranslatepy==2.1.4`) for everything
it can express: languages(), translate(q, source, target), detect(q). That client
sends application/x-www-form-urlencoded bodies (POST /translate, POST /detect, and
GET /languages *with a body*), puts api_key in the body, and lets
urllib.error.HTTPError propagate on non-2xx. Things it cannot express (JSON bodies,
list q, format=html, /frontend/settings, error bodies) go through urllib and are
marked [urllib].

  python3 scripts/libretranslate_client.py --url http://127.0.0.1:5000/ \
      [--api-key K] [--expect-key-required [--missing-key-status 400]] \
      [--expect expected.json] [--source da] [--target en] [--char-limit N] \
      [--text T] [--detect-text T]

Expected statuses follow LibreTranslate 1.9.6: missing key when required -> 400
("Please contact the server operator to get an API key"), unknown key -> 403
("Invalid API key"), unsupported language -> 400 ("xx is not supported").
"""
import argparse
import json
import sys
import urllib.error
import urllib.request

from libretranslatepy import LibreTranslateAPI

SRC_TEXT = "Hej verden. Jeg kan godt lide at læse bøger om aftenen."
DETECT_TEXT = "Det er en dejlig dag, og vi skal ud at gå en lang tur i skoven i eftermiddag."


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print(f"ok: {msg}")


def http_json(url, path, body=None, method=None):
    """[urllib] JSON request; returns (status, parsed body or raw text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            status, raw = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read().decode()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def expect_client_error(fn, status, what, message=None, contains=None):
    """Call a libretranslatepy method, require it to raise HTTPError(status) with {"error": str}."""
    try:
        res = fn()
    except urllib.error.HTTPError as e:
        if e.code != status:
            fail(f"{what}: expected HTTP {status}, client raised HTTP {e.code}: {e.read()!r}")
        try:
            body = json.loads(e.read().decode())
        except ValueError:
            fail(f"{what}: error body is not JSON")
        if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
            fail(f"{what}: error body is not {{\"error\": str}}: {body!r}")
        if message is not None and body["error"] != message:
            fail(f"{what}: error {body['error']!r} != {message!r}")
        if contains is not None and contains not in body["error"]:
            fail(f"{what}: error {body['error']!r} lacks {contains!r}")
        ok(f"{what}: HTTP {status} {body['error']!r}")
        return
    fail(f"{what}: expected HTTP {status}, got success {res!r}")


def is_conf(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 100


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="e.g. http://127.0.0.1:5000/")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--expect-key-required", action="store_true",
                    help="server requires a key: keyless call must fail, --api-key must work")
    ap.add_argument("--missing-key-status", type=int, default=400,
                    help="status for a keyless call when a key is required (LibreTranslate: 400)")
    ap.add_argument("--expect", metavar="FILE",
                    help="JSON object: source sentence -> expected translatedText")
    ap.add_argument("--source", default="da")
    ap.add_argument("--target", default="en")
    ap.add_argument("--text", default=SRC_TEXT, help="a sentence in --source to translate")
    ap.add_argument("--detect-text", default=DETECT_TEXT, help="a longer --source text for detect()")
    ap.add_argument("--char-limit", type=int, default=None,
                    help="the server's --char-limit: one character more must be refused with 400")
    a = ap.parse_args()
    url = a.url if a.url.endswith("/") else a.url + "/"
    src, tgt = a.source, a.target
    text, detect_text = a.text, a.detect_text
    if a.expect_key_required and not a.api_key:
        fail("--expect-key-required needs --api-key")
    lt = LibreTranslateAPI(url, api_key=a.api_key)
    key = {"api_key": a.api_key} if a.api_key else {}

    # --- languages (client: GET /languages, form body) ---
    langs = lt.languages()
    if not isinstance(langs, list) or not langs:
        fail(f"languages(): expected non-empty list, got {langs!r}")
    for e in langs:
        if not (isinstance(e, dict) and isinstance(e.get("code"), str) and isinstance(e.get("name"), str)
                and isinstance(e.get("targets"), list) and all(isinstance(t, str) for t in e["targets"])):
            fail(f"languages(): bad entry (need code:str, name:str, targets:[str]): {e!r}")
    by_code = {e["code"]: e for e in langs}
    for c in (src, tgt):
        if c not in by_code:
            fail(f"languages(): {c!r} missing; have {sorted(by_code)}")
    if tgt not in by_code[src]["targets"]:
        fail(f"languages(): {src} targets {by_code[src]['targets']} lack {tgt!r}")
    ok(f"languages(): {len(langs)} entries, {src} -> {by_code[src]['targets']}")

    # --- frontend settings [urllib] ---
    st, fs = http_json(url, "frontend/settings")
    if st != 200 or not isinstance(fs, dict):
        fail(f"[urllib] GET /frontend/settings: HTTP {st} {fs!r}")
    types = {"charLimit": int, "frontendTimeout": int, "apiKeys": bool, "keyRequired": bool,
             "suggestions": bool, "filesTranslation": bool, "supportedFilesFormat": list, "language": dict}
    for k, ty in types.items():
        if not isinstance(fs.get(k), ty) or (ty is int and isinstance(fs.get(k), bool)):
            fail(f"[urllib] /frontend/settings: {k!r} should be {ty.__name__}: {fs!r}")
    for side in ("source", "target"):
        d = fs["language"].get(side)
        if not (isinstance(d, dict) and isinstance(d.get("code"), str) and isinstance(d.get("name"), str)):
            fail(f"[urllib] /frontend/settings: language.{side} needs code/name: {fs['language']!r}")
    if a.expect_key_required and not (fs["apiKeys"] and fs["keyRequired"]):
        fail(f"[urllib] /frontend/settings: expected apiKeys and keyRequired true: {fs!r}")
    ok(f"[urllib] /frontend/settings keys/types ({sorted(fs)})")

    # --- api keys ---
    if a.expect_key_required:
        bare = LibreTranslateAPI(url)
        expect_client_error(lambda: bare.translate(text, src, tgt), a.missing_key_status,
                            "translate() without key", contains="API key")
        expect_client_error(lambda: bare.detect(detect_text), a.missing_key_status,
                            "detect() without key", contains="API key")
        wrong = LibreTranslateAPI(url, api_key=a.api_key + "-wrong")
        expect_client_error(lambda: wrong.translate(text, src, tgt), 403,
                            "translate() with unknown key", message="Invalid API key")

    # --- translate (client: POST /translate, form body) ---
    out = lt.translate(text, src, tgt)
    if not isinstance(out, str) or not out.strip():
        fail(f"translate({src}->{tgt}): expected non-empty string, got {out!r}")
    ok(f"translate({src}->{tgt}{', with key' if a.api_key else ''}): {out!r}")
    out = lt.translate(text, "auto", tgt)
    if not isinstance(out, str) or not out.strip():
        fail(f"translate(auto->{tgt}): expected non-empty string, got {out!r}")
    ok(f"translate(auto->{tgt}): {out!r}")

    # [urllib] auto source: detectedLanguage object; explicit source: no detectedLanguage key
    st, r = http_json(url, "translate", {"q": text, "source": "auto", "target": tgt, **key})
    dl = r.get("detectedLanguage") if isinstance(r, dict) else None
    if st != 200 or not (isinstance(dl, dict) and isinstance(dl.get("language"), str) and is_conf(dl.get("confidence"))):
        fail(f"[urllib] JSON translate auto: want detectedLanguage {{confidence 0-100, language}}: HTTP {st} {r!r}")
    ok(f"[urllib] JSON translate auto: detectedLanguage={dl}")
    st, r = http_json(url, "translate", {"q": text, "source": src, "target": tgt, **key})
    if st != 200 or not isinstance(r, dict) or not isinstance(r.get("translatedText"), str) or "detectedLanguage" in r:
        fail(f"[urllib] JSON translate {src}: want string translatedText, no detectedLanguage: HTTP {st} {r!r}")
    ok(f"[urllib] JSON translate {src}->{tgt}: keys {sorted(r)}")

    # --- detect (client: POST /detect, form body) ---
    det = lt.detect(detect_text)
    if not isinstance(det, list) or not det:
        fail(f"detect(): expected non-empty list, got {det!r}")
    for d in det:
        if not (isinstance(d, dict) and isinstance(d.get("language"), str) and is_conf(d.get("confidence"))):
            fail(f"detect(): bad item (need language:str, confidence 0-100): {d!r}")
    if det[0]["language"] != src:
        fail(f"detect(): top language {det[0]['language']!r} != {src!r} for {detect_text!r}: {det!r}")
    ok(f"detect(): {det}")

    # --- list q [urllib]: the client would send str(list) as q ---
    qs = [text, detect_text, text]
    st, r = http_json(url, "translate", {"q": qs, "source": src, "target": tgt, **key})
    tt = r.get("translatedText") if isinstance(r, dict) else None
    if st != 200 or not (isinstance(tt, list) and len(tt) == len(qs) and all(isinstance(t, str) and t for t in tt)):
        fail(f"[urllib] JSON list q: expected list of {len(qs)} strings: HTTP {st} {r!r}")
    ok(f"[urllib] JSON list q: {tt}")

    # --- format=html [urllib]: client has no format param ---
    html = f"<p>{text} <b>{text}</b></p>"
    st, r = http_json(url, "translate", {"q": html, "source": src, "target": tgt, "format": "html", **key})
    tt = r.get("translatedText") if isinstance(r, dict) else None
    if st != 200 or not isinstance(tt, str) or not all(t in tt for t in ("<p>", "</p>", "<b>", "</b>")):
        fail(f"[urllib] format=html: tags not preserved: HTTP {st} {r!r}")
    ok(f"[urllib] format=html: {tt!r}")

    # --- errors ---
    expect_client_error(lambda: lt.translate(text, "xx", tgt), 400,
                        "translate() unknown source", message="xx is not supported")
    expect_client_error(lambda: lt.translate(text, src, "zz"), 400,
                        "translate() unknown target", message="zz is not supported")
    st, r = http_json(url, "translate", {"source": src, "target": tgt, **key})
    if st != 400 or r != {"error": "Invalid request: missing q parameter"}:
        fail(f"[urllib] missing q: expected 400 {{'error': 'Invalid request: missing q parameter'}}, got {st} {r!r}")
    ok("[urllib] missing q: HTTP 400 'Invalid request: missing q parameter'")

    # --- the character limit (LibreTranslate counts characters of all texts together) ---
    if a.char_limit is not None:
        long = (text * (a.char_limit // max(1, len(text)) + 2))[: a.char_limit + 1]
        expect_client_error(lambda: lt.translate(long, src, tgt), 400, "translate() over --char-limit",
                            message=f"Invalid request: request ({a.char_limit + 1}) exceeds text limit ({a.char_limit})")

    # --- expected translations ---
    if a.expect:
        with open(a.expect, encoding="utf-8") as f:
            expected = json.load(f)
        if not isinstance(expected, dict):
            fail(f"--expect {a.expect}: must be a JSON object")
        for s, want in expected.items():
            got = lt.translate(s, src, tgt)
            if got != want:
                fail(f"expected translation of {s!r}: want {want!r}, got {got!r}")
        ok(f"{len(expected)} expected translations from {a.expect} match")
    print("all checks passed")


if __name__ == "__main__":
    try:
        main()
    except urllib.error.HTTPError as e:
        fail(f"unexpected HTTP {e.code} from {e.url}: {e.read()[:500]!r}")
    except urllib.error.URLError as e:
        fail(f"cannot reach server: {e.reason}")
