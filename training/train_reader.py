"""Fine-tune the reader: a MiniLM-L6 cross-encoder from the packaged all-MiniLM-L6-v2 weights.

    python training/reader_data.py            # pairs from the SQuAD 2.0 training articles
    python training/train_reader.py [--epochs 2] [--out build/reader]

Input: build/reader/pairs-train.jsonl (training articles only) and questions-heldout.jsonl (the
two held-out training articles, for choosing the epoch). Binary cross-entropy on
(question, sentence [SEP] previous sentence) pairs, AdamW, linear warm-up and decay, batches of
similar length. After each epoch the model is saved to OUT/epoch-N/ and measured on the held-out
questions: top sentence right (answerable questions), and how well the best sentence's score
separates answerable from impossible questions (AUC, SQuAD's own impossible questions and the
made ones separately). On CPU only; torch is needed here, never at answer time.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cecot_rag.embedding import resolve_model_path  # noqa: E402
from cecot_rag.settings import PACKAGED_MODEL  # noqa: E402

MAX_TOKENS = 112  # question + sentence + the sentence before it; the last is cut first


def auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    if not positive or not negative:
        return float("nan")
    pos, neg = np.asarray(positive), np.asarray(negative)
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def batches(pairs: list[dict], size: int, tokenizer, rng: random.Random) -> list[list[dict]]:
    """Batches of pairs of similar length (less padding), in random order."""
    order = pairs[:]
    rng.shuffle(order)
    lengths = {id(p): len(p["question"]) + len(p["candidate"]) for p in order}
    chunk = size * 50
    grouped: list[list[dict]] = []
    for i in range(0, len(order), chunk):
        block = sorted(order[i : i + chunk], key=lambda p: lengths[id(p)])
        grouped += [block[j : j + size] for j in range(0, len(block), size)]
    rng.shuffle(grouped)
    return grouped


def encode(tokenizer, questions: list[str], candidates: list[str]):
    return tokenizer(
        questions,
        candidates,
        truncation="only_second",
        max_length=MAX_TOKENS,
        padding=True,
        return_tensors="pt",
    )


@torch.no_grad()
def score(model, tokenizer, questions: list[str], candidates: list[str], size: int = 64) -> list[float]:
    model.eval()
    out: list[float] = []
    for i in range(0, len(questions), size):
        enc = encode(tokenizer, questions[i : i + size], candidates[i : i + size])
        out += model(**enc).logits[:, 0].tolist()
    return out


def measure(model, tokenizer, questions: list[dict]) -> dict[str, float]:
    """Held-out figures: top sentence right, and answerable-vs-impossible AUC of the best score."""
    flat_q = [q["question"] for q in questions for _ in q["candidates"]]
    flat_c = [c for q in questions for c in q["candidates"]]
    logits = score(model, tokenizer, flat_q, flat_c)
    at = 0
    top_right = []
    best = {"answerable": [], "squad": [], "perturbed": []}
    pair_pos, pair_neg = [], []
    for q in questions:
        s = logits[at : at + len(q["candidates"])]
        at += len(q["candidates"])
        top = int(np.argmax(s))
        if q["answerable"]:
            top_right.append(q["labels"][top] == 1)
            best["answerable"].append(max(s))
            for value, label in zip(s, q["labels"], strict=True):
                (pair_pos if label else pair_neg).append(value)
        else:
            best[q["origin"]].append(max(s))
    return {
        "top_sentence_right": float(np.mean(top_right)),
        "pair_auc": auc(pair_pos, pair_neg),
        "auc_vs_squad_impossible": auc(best["answerable"], best["squad"]),
        "auc_vs_made_impossible": auc(best["answerable"], best["perturbed"]),
        "answerable": len(best["answerable"]),
        "squad_impossible": len(best["squad"]),
        "made_impossible": len(best["perturbed"]),
    }


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "build" / "reader")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "reader")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N pairs (a smoke run)")
    parser.add_argument("--pairs", default="pairs-train.jsonl", help="the training pairs file in --data")
    parser.add_argument(
        "--init", type=Path, default=None, help="start from this checkpoint, not the packaged weights"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    pairs = load_jsonl(args.data / args.pairs)
    if args.limit:
        pairs = pairs[: args.limit]
    held = load_jsonl(args.data / "questions-heldout.jsonl")
    if args.limit:
        held = held[: max(20, args.limit // 20)]
    base = args.init or resolve_model_path(PACKAGED_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = BertForSequenceClassification.from_pretrained(base, num_labels=1)
    steps = args.epochs * math.ceil(len(pairs) / args.batch)
    warmup = max(1, int(0.05 * steps))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "train-log.jsonl").open("a", encoding="utf-8")
    print(
        f"{len(pairs)} pairs, {args.epochs} epochs, {steps} steps; held-out questions {len(held)}", flush=True
    )
    if args.init is None:  # a checkpoint's figures are in the log of the run that made it
        print("before training:", json.dumps(measure(model, tokenizer, held)), flush=True)
    step = 0
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        seen = 0
        running = 0.0
        for batch in batches(pairs, args.batch, tokenizer, rng):
            model.train()
            enc = encode(tokenizer, [p["question"] for p in batch], [p["candidate"] for p in batch])
            labels = torch.tensor([float(p["label"]) for p in batch])
            loss = loss_fn(model(**enc).logits[:, 0], labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            seen += len(batch)
            running = 0.98 * running + 0.02 * float(loss) if step > 1 else float(loss)
            if step % 50 == 0:
                rate = seen / (time.time() - started)
                print(f"epoch {epoch} step {step}/{steps} loss {running:.4f} {rate:.1f} pairs/s", flush=True)
        folder = args.out / f"epoch-{epoch}"
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        figures = measure(model, tokenizer, held)
        entry = {
            "epoch": epoch,
            "pairs_per_second": seen / (time.time() - started),
            "seconds": time.time() - started,
            **figures,
        }
        log.write(json.dumps(entry) + "\n")
        log.flush()
        print("held-out:", json.dumps(entry), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
