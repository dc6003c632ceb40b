#!/usr/bin/env python3
"""Round-trip references from the sentencepiece library for tolk's SentencePiece tests.

For each model below and 150 arbitrary strings (a fixed seed; pieces of several scripts,
characters NFKC rewrites, control characters, whitespace runs, characters no vocabulary has),
records what `sentencepiece.SentencePieceProcessor` gives:
  normalized: sp.normalize(text)
  pieces:     sp.encode(text, out_type=str)
  decoded:    sp.decode_pieces(pieces)
tolk's test (src/tokenize/spm_roundtrip.rs) checks its encoder and decoder give the same, and
that decode(encode(x)) equals the normalized x with whitespace escapes undone.

Usage: .venv/bin/python scripts/golden_spm_roundtrip.py   (needs sentencepiece; the Argos model
from scripts/fetch-test-models). Writes tests/fixtures/spm/golden_roundtrip.json.
"""

import json
import os
import random
from pathlib import Path

import sentencepiece as spm

ROOT = Path(__file__).resolve().parent.parent
MODELS = os.environ.get("TOLK_TEST_MODELS", str(ROOT / ".cache/test-models"))
FILES = {
    "t5/tiny-madlad/spiece.model": ROOT / "tests/fixtures/t5/tiny-madlad/spiece.model",
    "t5/tiny-relu-untied/spiece.model": ROOT / "tests/fixtures/t5/tiny-relu-untied/spiece.model",
    "marian/tiny-st/source.spm": ROOT / "tests/fixtures/marian/tiny-st/source.spm",
    "marian/tiny-sep/target.spm": ROOT / "tests/fixtures/marian/tiny-sep/target.spm",
    "argos:translate-zh_en-1_9/sentencepiece.model": Path(MODELS)
    / "translate-zh_en-1_9/sentencepiece.model",
}
PIECES = [
    "the", " ", "  ", "   ", "\t", "\n", "\u3000", "\u00a0", "Syrien", "Rusland", "USA", "og",
    "a", "B", "ø", "æ", "Å", "ß", "é", "e\u0301", "Ж", "中国", "经济", "增长", "。", "，", "％",
    "5,2", "67.3%", "１２３", "Ａ", "ｶ", "①", "ﬁ", "™", "…", "«", "»", "“", "”", "'", "\"", "-",
    "—", "(", ")", "\u200b", "\u200d", "\ufeff", "\u0007", "🙂", "𝔸", "ǅ", "ﷺ", "\u2028", "▁",
    "<unk>", "</s>", "x" * 30,
]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 25)))


def main() -> None:
    rng = random.Random(20261204)
    texts = [random_text(rng) for _ in range(150)]
    out = {"sentencepiece": spm.__version__, "models": {}}
    for name, path in FILES.items():
        sp = spm.SentencePieceProcessor(model_file=str(path))
        cases = []
        for text in texts:
            pieces = sp.encode(text, out_type=str)
            cases.append(
                {
                    "text": text,
                    "normalized": sp.normalize(text),
                    "pieces": pieces,
                    "decoded": sp.decode_pieces(pieces),
                }
            )
        out["models"][name] = cases
    dest = ROOT / "tests/fixtures/spm/golden_roundtrip.json"
    dest.write_text(json.dumps(out, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
