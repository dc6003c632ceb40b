#!/usr/bin/env python3
"""Reference outputs of transformers for GGUF chat models, for tolk's parity tests (tests/it/gguf.rs).

transformers loads the same GGUF file tolk does (`gguf_file=`): the tokenizer is rebuilt from the
file's metadata and the weights are dequantized to float32. For every chat in CHATS this records
- `rendered`: `tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)`;
- `prompt_ids`: the ids of that string (`add_special_tokens=False`, as `apply_chat_template` does);
- `greedy_ids`: the first NEW_TOKENS tokens of `model.generate(do_sample=False)` (stops early at
  the end-of-sequence id), `greedy_text` their decoding with special tokens skipped;
- `top2_gap`: per generated step, the logit of the chosen token minus the runner-up's (raw logits,
  no processor is active), to tell near-ties from real disagreements.
It also records `tokenizer(text)["input_ids"]` for tests/fixtures/tokenizer_text.txt (whole file and
line by line) and each tests/fixtures/news_en/*.txt.

A second, tiny GGUF with a SentencePiece ("llama") vocabulary and no tensors is written to
tests/fixtures/gguf/tiny_spm.gguf (a BPE sentencepiece model trained here on
tests/fixtures/spm/corpus-source.txt), with transformers' encodings of the same texts, so the
SentencePiece path of tolk's GGUF tokenizer is checked too.

Usage (needs torch, transformers, sentencepiece and the `gguf` package; fetch the model first with
scripts/fetch-test-models gguf):
    python scripts/golden_gguf.py [MODEL.gguf]
MODEL defaults to $TOLK_TEST_MODELS/SmolLM2-135M-Instruct.Q4_1.gguf or .cache/test-models/....
"""

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
OUT = FIXTURES / "gguf"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
NEW_TOKENS = 20
SUMMARY_ASK = "Summarize this news article in two sentences:\n\n"


def chats():
    out = []
    for path in sorted((FIXTURES / "news_en").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        out.append({"name": f"summary-{path.stem}", "messages": [{"role": "user", "content": SUMMARY_ASK + text}]})
    out.append({"name": "short-capital", "messages": [{"role": "user", "content": "What is the capital of France?"}]})
    out.append(
        {
            "name": "system-headline",
            "messages": [
                {"role": "system", "content": "You are a concise news editor."},
                {"role": "user", "content": "Write a headline about a bridge that reopened after repairs."},
            ],
        }
    )
    out.append(
        {
            "name": "multi-turn",
            "messages": [
                {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "Blue."},
                {"role": "user", "content": "Name another one, and say why you like it."},
            ],
        }
    )
    return out


def tokenizer_texts():
    texts = []
    whole = (FIXTURES / "tokenizer_text.txt").read_text(encoding="utf-8")
    texts.append({"name": "tokenizer_text.txt", "text": whole})
    for i, line in enumerate(whole.split("\n")):
        texts.append({"name": f"tokenizer_text.txt:{i + 1}", "text": line})
    for path in sorted((FIXTURES / "news_en").glob("*.txt")):
        texts.append({"name": f"news_en/{path.name}", "text": path.read_text(encoding="utf-8")})
    for i, extra in enumerate(["", " ", "  leading spaces", "trailing  \n\n", "<|im_start|>user\nhi<|im_end|>", "tab\there"]):
        texts.append({"name": f"edge-{i}", "text": extra})
    return texts


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def smollm_golden(model_path):
    folder, name = str(model_path.parent), model_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    records = []
    for chat in chats():
        rendered = tok.apply_chat_template(chat["messages"], tokenize=False, add_generation_prompt=True)
        ids = tok(rendered, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                do_sample=False,
                max_new_tokens=NEW_TOKENS,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=tok.pad_token_id,
            )
        new = out.sequences[0, len(ids):].tolist()
        gaps = []
        for step, logits in enumerate(out.logits):
            row = logits[0].double().numpy()
            top = np.argsort(-row)[:2]
            assert top[0] == new[step], "greedy pick differs from the arg-max logit"
            gaps.append(float(row[top[0]] - row[top[1]]))
        records.append(
            {
                "name": chat["name"],
                "messages": chat["messages"],
                "rendered": rendered,
                "prompt_ids": ids,
                "greedy_ids": new,
                "greedy_text": tok.decode(new, skip_special_tokens=True),
                "top2_gap": gaps,
            }
        )
        print(f"{chat['name']}: {len(ids)} prompt tokens -> {tok.decode(new, skip_special_tokens=True)!r}")
    encodings = [{**t, "ids": tok(t["text"])["input_ids"]} for t in tokenizer_texts()]
    return {
        "model": MODEL_NAME,
        "model_sha256": sha256(model_path),
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "weights": "dequantized to float32 by transformers",
        "new_tokens": NEW_TOKENS,
        "eos_token_id": tok.eos_token_id,
        "chats": records,
        "encodings": encodings,
    }


def tiny_spm():
    """Train a tiny BPE sentencepiece model and write its vocabulary as a tensor-less GGUF."""
    import gguf
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "tiny")
        spm.SentencePieceTrainer.train(
            input=str(FIXTURES / "spm" / "corpus-source.txt"),
            model_prefix=prefix,
            model_type="bpe",
            vocab_size=400,
            byte_fallback=True,
            character_coverage=1.0,
            bos_id=1,
            eos_id=2,
            unk_id=0,
            pad_id=-1,
            user_defined_symbols=["<|im_start|>", "<|im_end|>"],
        )
        proto = pb.ModelProto()
        proto.ParseFromString(open(prefix + ".model", "rb").read())
    kinds = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6}  # sentencepiece piece type -> GGUF token type
    tokens = [p.piece for p in proto.pieces]
    scores = [p.score for p in proto.pieces]
    types = [kinds.get(p.type, 1) for p in proto.pieces]
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "tiny_spm.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tok = AutoTokenizer.from_pretrained(str(OUT), gguf_file=path.name)
    encodings = [{**t, "ids": tok(t["text"])["input_ids"]} for t in tokenizer_texts()]
    decoded = [tok.decode(e["ids"], skip_special_tokens=True) for e in encodings]
    for e, d in zip(encodings, decoded):
        e["decoded"] = d
    return {"file": path.name, "vocab_size": len(tokens), "encodings": encodings}


def main():
    default = Path(os.environ.get("TOLK_TEST_MODELS") or ROOT / ".cache" / "test-models") / MODEL_NAME
    model_path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    if not model_path.is_file():
        sys.exit(f"{model_path} is missing; run scripts/fetch-test-models gguf")
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    golden = smollm_golden(model_path)
    (OUT / "golden_smollm2.json").write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    spm_golden = tiny_spm()
    (OUT / "golden_tiny_spm.json").write_text(
        json.dumps(spm_golden, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"wrote {OUT / 'golden_smollm2.json'} and {OUT / 'golden_tiny_spm.json'}")


if __name__ == "__main__":
    main()
