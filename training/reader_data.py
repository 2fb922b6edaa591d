"""Training pairs for the reader, made only from the SQuAD 2.0 training articles.

    python training/reader_data.py [--squad PATH] [--out build/reader] [--seed 13]

The reader scores (question, sentence in its window) pairs: does this sentence answer the
question? Every pair comes from `../shared/benchmarks/squad2/train_10_articles.json` (SQuAD 2.0
training split, CC BY-SA 4.0; read, never copied). Two of its ten articles are held out for model
selection and the abstention threshold (HELD_OUT); the evaluation sets of the project
(eval/cecot.jsonl, the SQuAD test article, amnesty_qa) are never read here.

Pairs, per question of a training article:
- answerable: the sentence holding the gold answer's start is positive. Negatives: the other
  sentence of its paragraph sharing the most weighted terms with the question, and the
  best-overlapping sentence of the most similar other paragraph of the article (a "retrieved"
  paragraph). Easy random sentences are left out: at answer time the reader only sees the
  sentences a first stage ranked highest. A sentence that holds the answer text elsewhere is
  never a negative.
- impossible (SQuAD's own, `is_impossible`): the sentence of its `plausible_answers` span is a hard
  negative, plus the paragraph's best-overlapping other sentence.
- made impossible (origin "perturbed"): for a share of answerable questions, one name, year or
  number of the question is swapped for another of the same kind from the same article that the
  paragraph never states, as SQuAD's authors made theirs; the original gold sentence is then a
  hard negative. These are labelled as made in every output row.

The candidate text is the sentence, then "[SEP]", then the sentence before it (the window the
answer path gives the reader; cecot_rag.answer.reader.pair_text builds it the same way).
Output: pairs-train.jsonl, pairs-heldout.jsonl (the held-out articles' pairs, same recipe) and
questions-heldout.jsonl (each held-out question with every sentence of its paragraph and of its
retrieved paragraph, to measure ranking and abstention), plus data.json (counts, sha256 of the
source file, seed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cecot_rag.answer.reader import pair_text  # noqa: E402
from cecot_rag.text import sentence_spans, terms  # noqa: E402

SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad2" / "train_10_articles.json"
# Held out for model selection and the abstention threshold: one article with SQuAD's own
# impossible questions (the only two such articles are Zelda and Spectre) and one without.
HELD_OUT = ("Spectre_(2015_film)", "Solar_energy")
PERTURB_SHARE = 0.4  # answerable questions that also get a made impossible twin
MIN_WORDS = 4  # shorter sentences are never candidates at answer time either

_YEAR = re.compile(r"\b(1[0-9]\d\d|20\d\d)\b")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")
_OPENERS = {"The", "A", "An", "In", "On", "At", "By", "For", "Of", "To", "And", "But", "His", "Her", "Its"}
_NAME = re.compile(r"\b[A-Z][a-zà-ÿ]+(?:\s+[A-Z][a-zà-ÿ]+)*\b")


@dataclass
class Sentence:
    text: str
    previous: str
    start: int
    end: int

    @property
    def pair(self) -> str:
        return pair_text(self.text, self.previous)


def sentences(context: str) -> list[Sentence]:
    spans = sentence_spans(context)
    found = []
    for i, span in enumerate(spans):
        text = context[span.start : span.end]
        previous = context[spans[i - 1].start : spans[i - 1].end] if i else ""
        found.append(Sentence(text, previous, span.start, span.end))
    return found


def candidate(sentence: Sentence) -> bool:
    return len(sentence.text.split()) >= MIN_WORDS and not sentence.text.endswith("?")


def sentence_at(items: list[Sentence], offset: int) -> Sentence | None:
    return next((s for s in items if s.start <= offset < s.end), None)


class Overlap:
    """IDF-weighted term overlap within one article (the lexical side of retrieval)."""

    def __init__(self, paragraphs: list[str]) -> None:
        counts: Counter[str] = Counter()
        self.paragraph_terms = [set(terms(p)) for p in paragraphs]
        for found in self.paragraph_terms:
            counts.update(found)
        n = len(paragraphs)
        self.idf = {t: math.log(1 + n / c) for t, c in counts.items()}

    # Sums run over sorted terms: a set's order changes with each process's string hashing, and a
    # float sum's last digit (which decides ties) with the order.
    def score(self, question_terms: set[str], text: str) -> float:
        return sum(self.idf.get(t, 0.0) for t in sorted(question_terms & set(terms(text))))

    def nearest_paragraph(self, question_terms: set[str], own: int) -> int | None:
        scores = [
            (sum(self.idf.get(t, 0.0) for t in sorted(question_terms & found)), i)
            for i, found in enumerate(self.paragraph_terms)
            if i != own
        ]
        return max(scores)[1] if scores else None


def swappable(question: str) -> list[tuple[str, str]]:
    """(kind, text) of the question's years, numbers and names (a sentence's first word aside)."""
    found = [("year", m.group()) for m in _YEAR.finditer(question)]
    years = {t for _, t in found}
    found += [("number", m.group()) for m in _NUMBER.finditer(question) if m.group() not in years]
    for m in _NAME.finditer(question):
        name = m.group()
        if m.start() > 0 and name.split()[0] not in _OPENERS and not any(name in t for _, t in found):
            found.append(("name", name))
    return found


def article_pool(paragraphs: list[str]) -> dict[str, list[str]]:
    pool: dict[str, set[str]] = {"year": set(), "number": set(), "name": set()}
    for text in paragraphs:
        for kind, value in swappable(text):
            pool[kind].add(value)
    return {k: sorted(v) for k, v in pool.items()}


def perturb(question: str, context: str, pool: dict[str, list[str]], rng: random.Random) -> str | None:
    """The question with one name, year or number swapped for one the paragraph never states."""
    options = swappable(question)
    rng.shuffle(options)
    for kind, value in options:
        choices = [v for v in pool[kind] if v != value and v not in context and value not in v]
        if choices:
            return question.replace(value, rng.choice(choices), 1)
    return None


def row(article: str, question: str, sentence: Sentence, label: int, origin: str, kind: str) -> dict:
    return {
        "article": article,
        "question": question,
        "candidate": sentence.pair,
        "label": label,
        "origin": origin,  # "squad" (as written by SQuAD's authors) or "perturbed" (made here)
        "kind": kind,  # gold, paragraph, retrieved, plausible, perturbed-gold
    }


def best_other(items: list[Sentence], exclude: set[int], q_terms: set[str], overlap: Overlap) -> int | None:
    scored = [(overlap.score(q_terms, s.text), i) for i, s in enumerate(items) if i not in exclude]
    return max(scored)[1] if scored else None


def article_pairs(article: dict, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Training pairs of one article, and its questions with all their candidate sentences."""
    title = article["title"]
    contexts = [p["context"] for p in article["paragraphs"]]
    overlap = Overlap(contexts)
    pool = article_pool(contexts)
    split = [[s for s in sentences(c)] for c in contexts]
    pairs: list[dict] = []
    questions: list[dict] = []
    for p, paragraph in enumerate(article["paragraphs"]):
        context = paragraph["context"]
        items = [s for s in split[p] if candidate(s)]
        if not items:
            continue
        for qa in paragraph["qas"]:
            question = qa["question"].strip()
            q_terms = set(terms(question))
            near = overlap.nearest_paragraph(q_terms, p)
            retrieved = [s for s in split[near] if candidate(s)] if near is not None else []
            impossible = qa.get("is_impossible", False) or not qa["answers"]
            spans = qa.get("plausible_answers" if impossible else "answers") or []
            marked = {id(s) for a in spans if (s := sentence_at(items, a["answer_start"])) is not None}
            texts = [a["text"].strip() for a in spans if a["text"].strip()]
            # Sentences holding the answer text somewhere other than the marked start are
            # ambiguous: neither positive nor negative.
            ambiguous = {id(s) for s in items if id(s) not in marked and any(t in s.text for t in texts)}
            gold = [i for i, s in enumerate(items) if id(s) in marked]
            if not gold:
                continue
            questions.append(
                {
                    "article": title,
                    "question": question,
                    "answerable": not impossible,
                    "origin": "squad",
                    "candidates": [s.pair for s in items] + [s.pair for s in retrieved],
                    "labels": [int(not impossible and id(s) in marked) for s in items] + [0] * len(retrieved),
                }
            )
            skip = set(gold) | {i for i, s in enumerate(items) if id(s) in ambiguous}
            if impossible:
                pairs += [row(title, question, items[i], 0, "squad", "plausible") for i in gold]
                other = best_other(items, skip, q_terms, overlap)
                if other is not None:
                    pairs.append(row(title, question, items[other], 0, "squad", "paragraph"))
                continue
            pairs += [row(title, question, items[i], 1, "squad", "gold") for i in gold]
            other = best_other(items, skip, q_terms, overlap)
            if other is not None:
                pairs.append(row(title, question, items[other], 0, "squad", "paragraph"))
                skip.add(other)
            if retrieved:
                r = best_other(retrieved, set(), q_terms, overlap)
                if r is not None and not any(t in retrieved[r].text for t in texts):
                    pairs.append(row(title, question, retrieved[r], 0, "squad", "retrieved"))
            if rng.random() < PERTURB_SHARE:
                twin = perturb(question, context, pool, rng)
                if twin is not None:
                    pairs += [row(title, twin, items[i], 0, "perturbed", "perturbed-gold") for i in gold]
                    questions.append(
                        {
                            "article": title,
                            "question": twin,
                            "answerable": False,
                            "origin": "perturbed",
                            "candidates": [s.pair for s in items] + [s.pair for s in retrieved],
                            "labels": [0] * (len(items) + len(retrieved)),
                        }
                    )
    return pairs, questions


def path_pairs(questions: Path, first_stage_reads: int, negatives: int) -> list[dict]:
    """Pairs as the reader meets them at answer time: for each question of a training article
    (training/answer_data.py ran it through the real answer path), the candidates the feature
    model ranks in its first `first_stage_reads`: those holding the answer are positive, the
    `negatives` best-ranked others negative (every one of them for an impossible question)."""
    import numpy as np

    from cecot_rag.answer.scorers import FeatureScorer
    from cecot_rag.settings import PACKAGED_MODEL

    first = FeatureScorer.for_model(PACKAGED_MODEL)
    coef = np.array([first.coefficients[f] for f in first.names])
    pairs: list[dict] = []
    with questions.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for q in rows:
        if q["held_out"] or not q["candidates"]:
            continue
        x = np.array([[c["features"][n] for n in first.names] for c in q["candidates"]])
        order = np.argsort(-(first.bias + x @ coef))[:first_stage_reads]
        read = [q["candidates"][i] for i in order]
        positive = [c for c in read if c["label"]]
        negative = [c for c in read if not c["label"]][: negatives if positive else first_stage_reads]
        kind = "path" if q["answerable"] else "path-impossible"
        for c in positive + negative:
            pairs.append(
                {
                    "article": q["article"],
                    "question": q["question"],
                    "candidate": c["pair"],
                    "label": c["label"],
                    "origin": q["origin"],
                    "kind": kind,
                }
            )
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "reader")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--from-path",
        type=Path,
        default=None,
        help="build/answer/questions.jsonl: also write pairs-path-train.jsonl, the first stage's best "
        "candidates of the training articles, plus the made impossible twins of pairs-train.jsonl",
    )
    args = parser.parse_args(argv)
    if not args.squad.is_file():
        print(f"reader_data: {args.squad} not found (the SQuAD 2.0 training articles)", file=sys.stderr)
        return 2
    raw = args.squad.read_bytes()
    data = json.loads(raw)
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    train: list[dict] = []
    held: list[dict] = []
    held_questions: list[dict] = []
    for article in data["data"]:
        pairs, questions = article_pairs(article, rng)
        if article["title"] in HELD_OUT:
            held += pairs
            held_questions += questions
        else:
            train += pairs
    rng.shuffle(train)
    for name, items in (
        ("pairs-train.jsonl", train),
        ("pairs-heldout.jsonl", held),
        ("questions-heldout.jsonl", held_questions),
    ):
        with (args.out / name).open("w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
    summary = {
        "source": str(args.squad.name),
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "seed": args.seed,
        "held_out_articles": list(HELD_OUT),
        "perturb_share": PERTURB_SHARE,
        "train_pairs": len(train),
        "train_by_kind": dict(Counter(p["kind"] for p in train)),
        "train_positive": sum(p["label"] for p in train),
        "heldout_pairs": len(held),
        "heldout_questions": len(held_questions),
        "heldout_by_origin": {
            f"{origin}/{'answerable' if answerable else 'impossible'}": n
            for (origin, answerable), n in Counter(
                (q["origin"], q["answerable"]) for q in held_questions
            ).items()
        },
    }
    if args.from_path is not None:
        path_train = path_pairs(args.from_path, first_stage_reads=8, negatives=3)
        path_train += [p for p in train if p["origin"] == "perturbed"]
        rng.shuffle(path_train)
        with (args.out / "pairs-path-train.jsonl").open("w", encoding="utf-8") as f:
            for item in path_train:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
        summary["path_train_pairs"] = len(path_train)
        summary["path_train_by_kind"] = dict(Counter(p["kind"] for p in path_train))
        summary["path_train_positive"] = sum(p["label"] for p in path_train)
    (args.out / "data.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
