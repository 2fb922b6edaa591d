"""`cecot-rag eval` end to end on small corpora (real model, real Chroma): exit codes, reports, compare."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from cecot_rag import Assistant
from cecot_rag.cli import main
from cecot_rag.evaluation.dataset import EvalSet, load_set, resolve_set_path
from cecot_rag.evaluation.report import latest_report_path, read_json, run_to_report
from cecot_rag.evaluation.runner import run_set

CORPUS = """# The Blue Lagoon prison

The Blue Lagoon prison can hold 1,200 inmates in its four wings.
It was opened in 1998 by the regional government after a long public debate.
Visitors may come on Sundays between ten and noon, and lawyers on any weekday.
"""

CASES = [
    {
        "id": "capacity",
        "question": "How many inmates can the Blue Lagoon prison hold?",
        "reference_answer": "It can hold 1,200 inmates.",
        "expected_facts": ["1,200|1200"],
        "reference_contexts": ["The Blue Lagoon prison can hold 1,200 inmates in its four wings."],
        "answerable": True,
        "history": [],
    },
    {
        # The corpus never mentions zebras: fact recall cannot reach 1.0 on this set.
        "id": "zebra",
        "question": "Which animal is painted on the Blue Lagoon prison gate?",
        "reference_answer": "A zebra.",
        "expected_facts": ["zebra"],
        "reference_contexts": [
            "It was opened in 1998 by the regional government after a long public debate."
        ],
        "answerable": True,
        "history": [],
    },
    {
        "id": "off-topic",
        "question": "How does photosynthesis work in plants?",
        "reference_answer": "",
        "expected_facts": [],
        "reference_contexts": [],
        "answerable": False,
        "history": [],
    },
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval-cli")
    (root / "corpus").mkdir()
    (root / "corpus" / "blue-lagoon.md").write_text(CORPUS, encoding="utf-8")
    (root / "set.jsonl").write_text("\n".join(json.dumps(c) for c in CASES) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def first_run(workspace: Path) -> tuple[int, Path, str]:
    """The configured index (empty, so documents_dir is ingested first), gated on an unreachable floor.

    Returns the exit status, the JSON report and what was printed on stderr.
    """
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stderr(stderr):
        env.setenv("CECOT_RAG_INDEX_DIR", str(workspace / "index"))
        env.setenv("CECOT_RAG_DOCUMENTS_DIR", str(workspace / "corpus"))
        out = workspace / "first.json"
        code = main(
            [
                "eval",
                "--set",
                str(workspace / "set.jsonl"),
                "--json",
                str(out),
                "--fail-under",
                "fact_recall=1.0",
            ]
        )
    return code, out, stderr.getvalue()


def test_a_missed_threshold_exits_1_and_the_report_says_which(first_run: tuple[int, Path, str]) -> None:
    code, out, _ = first_run
    assert code == 1
    report = read_json(out)
    assert report["failed_thresholds"] == ["fact_recall"]
    assert report["thresholds"] == {"fact_recall": 1.0}
    zebra = next(c for c in report["cases"] if c["id"] == "zebra")
    assert zebra["passed"] is False and zebra["fact_recall"] == 0.0


def test_the_json_report_has_metrics_cases_and_settings(first_run: tuple[int, Path, str]) -> None:
    report = read_json(first_run[1])
    assert set(report["metrics"]) >= {"hit_rate", "mrr", "fact_recall", "answer_f1", "latency_p95_ms"}
    assert report["settings"]["top_k"] == 5 and report["settings"]["documents"] == 1
    assert [c["id"] for c in report["cases"]] == ["capacity", "zebra", "off-topic"]
    for case in report["cases"]:
        assert {"id", "question", "answer", "answered", "citations", "passed"} <= set(case)
    capacity = report["cases"][0]
    # The metric agrees with the text that came back, whatever the answerer did.
    assert capacity["fact_recall"] == (1.0 if capacity["answered"] and "1,200" in capacity["answer"] else 0.0)
    if capacity["answered"]:
        assert capacity["citations"] and all("supported" in c for c in capacity["citations"])


def test_a_run_on_the_configured_index_is_kept_for_the_evaluation_tab(
    workspace: Path, first_run: tuple
) -> None:
    kept = read_json(latest_report_path(workspace / "index"))
    assert kept["metrics"] == read_json(first_run[1])["metrics"]


def test_a_plain_run_says_where_it_kept_its_report(workspace: Path, first_run: tuple[int, Path, str]) -> None:
    kept = latest_report_path(workspace / "index")
    assert f"Report kept for the web page's Evaluation tab: {kept}" in first_run[2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("ids", "refusing to compare: the previous report (set 'set') has no case in common"),
        ("question", "refusing to compare: the question of case 'capacity' changed"),
    ],
)
def test_compare_refuses_a_report_of_other_cases_before_running(
    workspace: Path,
    first_run: tuple[int, Path, str],
    change: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    previous = read_json(first_run[1])
    for case in previous["cases"]:
        if change == "ids":
            case["id"] = "old-" + case["id"]
        elif case["id"] == "capacity":
            case["question"] = "How many guards work at the Blue Lagoon prison?"
    altered = workspace / f"altered-{change}.json"
    altered.write_text(json.dumps(previous), encoding="utf-8")
    argv = ["eval", "--set", str(workspace / "set.jsonl"), "--corpus", str(workspace / "corpus")]
    assert main([*argv, "--compare", str(altered)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Evaluating" not in captured.err


def test_held_thresholds_exit_0_and_compare_lists_deltas(
    workspace: Path, first_run: tuple[int, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    html = workspace / "second.html"
    code = main(
        [
            "eval",
            "--set",
            str(workspace / "set.jsonl"),
            "--corpus",
            str(workspace / "corpus"),
            "--top-k",
            "3",
            "--html",
            str(html),
            "--compare",
            str(first_run[1]),
            "--fail-under",
            "hit_rate=0",
            "abstention_accuracy=0",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "temporary index of" in printed and "top_k=3" in printed
    assert "Compared with the previous report" in printed
    assert "[zebra] Which animal is painted on the Blue Lagoon prison gate?" in printed
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2


def test_corpus_from_set_indexes_the_sets_own_passages_and_runs_the_baseline(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ragas = workspace / "ragas.jsonl"
    records = [
        {
            "user_input": "When did the Blue Lagoon prison open?",
            "reference": "It opened in 1998.",
            "reference_contexts": ["The Blue Lagoon prison opened in 1998 after a long public debate."],
        },
        {
            "user_input": "When may lawyers visit?",
            "reference": "Lawyers may visit on any weekday.",
            "reference_contexts": ["Lawyers may visit the prison on any weekday, visitors only on Sundays."],
        },
    ]
    ragas.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    out = workspace / "ragas-report.json"
    code = main(["eval", "--set", str(ragas), "--corpus-from-set", "--baseline", "--json", str(out)])
    assert code == 0
    report = read_json(out)
    assert report["set"]["format"] == "ragas"
    assert report["settings"]["documents"] == 2
    assert report["metrics"]["hit_rate"] == 1.0  # two passages, top 5: each is retrieved
    assert report["baseline"]["metrics"]["hit_rate"] == 1.0
    assert "baseline" in capsys.readouterr().out


def test_a_squad_file_runs_with_its_paragraphs_as_the_corpus(workspace: Path) -> None:
    context = (
        "The Blue Lagoon prison can hold 1,200 inmates in its four wings. "
        "The Blue Lagoon prison was opened in 1998 by the regional government after a long public debate."
    )  # the subject named: this tests the SQuAD format, not the reader's reading of "It" (a known limit)
    other = "Visitors may come on Sundays between ten and noon, and lawyers on any weekday."
    squad = {
        "version": "v2.0",
        "data": [
            {
                "title": "Blue Lagoon",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "open",
                                "question": "In what year was the Blue Lagoon prison opened?",
                                "answers": [{"text": "1998", "answer_start": context.index("1998")}],
                                "is_impossible": False,
                            },
                            {
                                "id": "closed",
                                "question": "In what year was the Blue Lagoon prison closed down for good?",
                                "answers": [],
                                "plausible_answers": [
                                    {"text": "1998", "answer_start": context.index("1998")}
                                ],
                                "is_impossible": True,
                            },
                        ],
                    },
                    {
                        "context": other,
                        "qas": [
                            {
                                "id": "visits",
                                "question": "On which day may visitors come?",
                                "answers": [{"text": "Sundays", "answer_start": other.index("Sundays")}],
                                "is_impossible": False,
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = workspace / "squad.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    out = workspace / "squad-report.json"
    code = main(["eval", "--set", str(path), "--corpus-from-set", "--json", str(out)])
    report = read_json(out)
    assert code == 0 and report["set"]["format"] == "squad"
    assert report["settings"]["documents"] == 2  # one document per paragraph
    cases = {c["id"]: c for c in report["cases"]}
    assert cases["open"]["answered"] and cases["open"]["fact_recall"] == 1.0
    assert cases["open"]["first_quote_fact"] is True
    assert set(report["metrics"]) >= {"first_quote_fact_recall", "citation_precision_passage"}
    assert report["metrics"]["abstention_accuracy"] in (0.0, 1.0)  # one impossible question


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fail-under", "precision=0.5"], "unknown metric 'precision'"),
        (["--fail-under", "fact_recall"], "METRIC=VALUE"),
        (["--fail-under", "fact_recall=lots"], "not a number"),
        (["--set", "no/such/set.jsonl"], "evaluation set not found"),
        (["--corpus", "no/such/folder"], "not a folder"),
        (["--corpus", ".", "--corpus-from-set"], "alternatives"),
        (["--compare", "pyproject.toml"], "cannot read the report"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert main(["eval", *argv]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error


def test_the_bundled_cases_run_against_the_bundled_index(bundled_assistant: Assistant) -> None:
    bundled = load_set(resolve_set_path(None))
    picked = {"capacity", "honduras-followup", "unans-photosynthesis"}
    subset = EvalSet("subset", bundled.path, bundled.format, [c for c in bundled.cases if c.id in picked])
    run = run_set(bundled_assistant, subset)
    by_id = {r.id: r for r in run.cases}
    assert by_id["unans-photosynthesis"].answered is False and by_id["unans-photosynthesis"].passed
    follow_up = by_id["honduras-followup"]
    assert follow_up.history and follow_up.error is None
    for result in run.cases:
        if result.answerable:
            assert result.fact_recall == sum(result.facts_found) / len(result.facts_found)
            assert result.passed == (result.answered and all(result.facts_found))
    report = run_to_report(run)
    assert report["metrics"]["abstention_accuracy"] == 1.0
    assert json.loads(json.dumps(report)) == report
