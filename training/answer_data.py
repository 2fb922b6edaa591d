"""Candidates of the SQuAD 2.0 training articles, as the answer path sees them, for fitting.

    python training/answer_data.py [--squad PATH] [--out build/answer]

Each of the ten training articles is indexed on its own (one document per paragraph, as
`cecot-rag eval --corpus-from-set` indexes the test article) into a temporary embedded Chroma
index with the real pipeline. Every question goes through the real answer path (retrieval,
candidates, features); each candidate becomes a row: its features, the reader's input text, and
its label by the evaluation's own quote-level rule (the sentence lies in or holds a sentence
holding a gold answer, or contains a gold answer text; never for an impossible question).
Held-out articles (training/reader_data.HELD_OUT) also get made impossible twins (a name, year
or number swapped, as in reader_data.py), labelled "perturbed". Nothing else is read: the
evaluation sets of the project never enter here.

`--embedding-model multilingual-e5-small` computes the features with that model (its feature
model is fitted apart: similarities have another scale). Output: OUT/questions.jsonl, one line
per question: article, held_out, question, answerable, origin, and its candidates (features,
pair, label, passage id).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

from reader_data import HELD_OUT, SQUAD, article_pool, perturb  # noqa: E402

from cecot_rag import Settings  # noqa: E402
from cecot_rag.evaluation.dataset import load_set  # noqa: E402
from cecot_rag.evaluation.metrics import citation_supported  # noqa: E402
from cecot_rag.evaluation.runner import temporary_assistant, write_set_corpus  # noqa: E402


def article_questions(article: dict, held_out: bool, rng: random.Random, embedding_model: str) -> list[dict]:
    """Every question of one article through the answer path, with its candidates."""
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="cecot-train-") as tmp:
        path = Path(tmp) / "article.json"
        path.write_text(json.dumps({"version": "v2.0", "data": [article]}), encoding="utf-8")
        eval_set = load_set(path)
        corpus = Path(tmp) / "corpus"
        write_set_corpus(eval_set, corpus)
        settings = Settings(scorer="features", embedding_model=embedding_model)
        with temporary_assistant(settings, corpus) as assistant:
            assistant.ingest([corpus])
            pool = article_pool([p["context"] for p in article["paragraphs"]])
            for case in eval_set.cases:
                items = [(case.question, case.answerable, "squad")]
                if held_out and case.answerable:
                    twin = perturb(case.question, case.set_passages[0], pool, rng)
                    if twin is not None:
                        items.append((twin, False, "perturbed"))
                for question, answerable, origin in items:
                    found = assistant.prepare(question, [], None)
                    contexts, facts = case.reference_contexts, case.expected_facts
                    rows.append(
                        {
                            "article": article["title"],
                            "held_out": held_out,
                            "question": question,
                            "answerable": answerable,
                            "origin": origin,
                            "candidates": [
                                {
                                    "features": c.features,
                                    "pair": c.pair,
                                    "passage": c.passage.id,
                                    "label": int(answerable and citation_supported(c.text, contexts, facts)),
                                }
                                for c in found.candidates
                            ],
                        }
                    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "answer")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--embedding-model", default=Settings().embedding_model)
    args = parser.parse_args(argv)
    if not args.squad.is_file():
        print(f"answer_data: {args.squad} not found (the SQuAD 2.0 training articles)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    data = json.loads(args.squad.read_text(encoding="utf-8"))
    with (args.out / "questions.jsonl").open("w", encoding="utf-8") as f:
        for article in data["data"]:
            rows = article_questions(article, article["title"] in HELD_OUT, rng, args.embedding_model)
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            print(f"{article['title']}: {len(rows)} questions", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
