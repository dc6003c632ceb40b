#!/usr/bin/env python3
"""Reference outputs of CTranslate2 for the Argos zh->en 1.9 package, for tolk's parity tests.

Runs `ctranslate2.Translator(model_dir, device="cpu", compute_type=C)` (C = float32, or the
one given with --compute-type) on the
SentencePiece pieces of every line of tests/fixtures/argos/zh_sentences.txt, as Argos Translate
does (`sp.encode(text, out_type=str)`), with greedy search (beam_size 1) and beam search
(beam_size 4); every other decoding option is CTranslate2's default (recorded in the output).

Writes tests/fixtures/argos/golden_ct2.json (float32) or golden_ct2_<C>.json with, per sentence: the source, its pieces, its ids in
the CT2 vocabulary (`</s>` appended, since config.json sets add_source_eos), and per beam size the
output pieces, their ids, CT2's score, `sp.decode(pieces)` and the English as Argos Translate
detokenizes it (`sp.decode(pieces).replace("▁", " ").lstrip()`), and near-tie data:
- greedy: the log-probability margin between the best and second-best token at every step
  (from the step logits CTranslate2 returns with return_logits_vocab);
- beam 4: the score margin between the best and second-best finished hypothesis, and the
  per-token log-probabilities of the best one (teacher-forced with `score_batch`).

Usage (needs ctranslate2, sentencepiece, numpy; fetch the model with scripts/fetch-test-models):
    python scripts/golden_ct2.py [PACKAGE_DIR] [--compute-type int8]
CTranslate2's int8 results depend on the CPU kernels it dispatches to; the output records
`ctranslate2.get_supported_compute_types("cpu")` and the CPU model next to them.
PACKAGE_DIR defaults to $TOLK_TEST_MODELS/translate-zh_en-1_9 or .cache/test-models/translate-zh_en-1_9.
"""

import json
import os
import sys
from pathlib import Path

import ctranslate2
import numpy as np
import sentencepiece as spm

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "argos"
BEAMS = [1, 4]


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x[np.isfinite(x)])
    z = x - m
    return z - np.log(np.sum(np.exp(z[np.isfinite(z)])))


def top2_margin(logits):
    lp = log_softmax(logits)
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    i1, i2 = np.argsort(-lp)[:2]
    return int(i1), float(lp[i1] - lp[i2])


def argos_detokenize(sp, tokens):
    """Argos Translate's SentencePiece detokenization: the package's (source-side) model does
    not know most English pieces and keeps them verbatim, so `▁` is replaced afterwards."""
    return sp.decode(tokens).replace("\u2581", " ").lstrip()


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    default = Path(os.environ.get("TOLK_TEST_MODELS", ROOT / ".cache" / "test-models"))
    args = sys.argv[1:]
    compute_type = "float32"
    if "--compute-type" in args:
        i = args.index("--compute-type")
        compute_type = args[i + 1]
        del args[i : i + 2]
    package = Path(args[0]) if args else default / "translate-zh_en-1_9"
    model_dir = package / "model"
    if not (model_dir / "model.bin").is_file():
        sys.exit(f"no model at {model_dir}; run scripts/fetch-test-models first")
    config = json.loads((model_dir / "config.json").read_text())
    vocab = json.loads((model_dir / "shared_vocabulary.json").read_text())
    unk = config.get("unk_token", "<unk>")
    if unk not in vocab:  # CTranslate2 appends the unknown token when the file lacks it.
        vocab.append(unk)
    index = {}
    for i, tok in enumerate(vocab):
        index.setdefault(tok, i)
    eos = config.get("eos_token", "</s>")

    def to_ids(pieces):
        return [index.get(p, index[unk]) for p in pieces]

    sp = spm.SentencePieceProcessor(model_file=str(package / "sentencepiece.model"))
    translator = ctranslate2.Translator(str(model_dir), device="cpu", compute_type=compute_type)
    sentences = [
        line.strip()
        for line in (FIXTURES / "zh_sentences.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]

    cases = []
    for text in sentences:
        pieces = sp.encode(text, out_type=str)
        source_ids = to_ids(pieces) + ([index[eos]] if config.get("add_source_eos") else [])
        case = {"source": text, "source_pieces": pieces, "source_ids": source_ids, "outputs": {}}
        for beam in BEAMS:
            res = translator.translate_batch(
                [pieces],
                beam_size=beam,
                num_hypotheses=2 if beam > 1 else 1,
                return_scores=True,
                return_logits_vocab=(beam == 1),
            )[0]
            tokens = res.hypotheses[0]
            out = {
                "tokens": tokens,
                "ids": to_ids(tokens),
                "score": res.scores[0],
                "sp_decode": sp.decode(tokens),
                "text": argos_detokenize(sp, tokens),
            }
            if beam == 1:
                steps = [top2_margin(np.asarray(step)) for step in res.logits[0]]
                out["step_argmax"] = [s[0] for s in steps]
                out["step_margins"] = [s[1] for s in steps]
            else:
                out["second_tokens"] = res.hypotheses[1] if len(res.hypotheses) > 1 else None
                out["hypothesis_margin"] = (
                    res.scores[0] - res.scores[1] if len(res.scores) > 1 else None
                )
                scored = translator.score_batch([pieces], [tokens])[0]
                out["token_log_probs"] = list(scored.log_probs)
            case["outputs"][str(beam)] = out
        cases.append(case)
        print(f"{text}\n  -> {case['outputs']['1']['text']}\n  => {case['outputs']['4']['text']}")

    golden = {
        "generator": "scripts/golden_ct2.py",
        "ctranslate2_version": ctranslate2.__version__,
        "sentencepiece_version": spm.__version__,
        "model": "Argos Translate translate-zh_en-1_9 (model/ of the package)",
        "device": "cpu",
        "compute_type": compute_type,
        "cpu": cpu_model(),
        "supported_compute_types": sorted(ctranslate2.get_supported_compute_types("cpu")),
        "options": {
            "beam_sizes": BEAMS,
            "note": "all other translate_batch options are CTranslate2 defaults",
            "length_penalty": 1,
            "patience": 1,
            "max_decoding_length": 256,
            "min_decoding_length": 1,
            "repetition_penalty": 1,
            "no_repeat_ngram_size": 0,
            "return_end_token": False,
        },
        "add_source_eos": bool(config.get("add_source_eos")),
        "vocab_size": len(vocab),
        "cases": cases,
    }
    name = "golden_ct2.json" if compute_type == "float32" else f"golden_ct2_{compute_type}.json"
    path = FIXTURES / name
    path.write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path} ({len(cases)} sentences)")


if __name__ == "__main__":
    main()
