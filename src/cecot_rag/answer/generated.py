"""The language-model answerer: fluent sentences, each kept only if the passages it cites support it.

The model's output is verified sentence by sentence while it streams, so users only ever see
sentences that passed. When the model fails or nothing it wrote survives, the extractive answer is
given instead, with a notice saying why. Small local models get evidence first: a few numbered
sentences instead of whole passages, and their own [n] are ignored: the application attaches each
sentence to the passage that supports it (Verifier.attach).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from cecot_rag.answer.base import Evidence, abstention, number_citations
from cecot_rag.answer.followup import retrieval_query
from cecot_rag.answer.llm import ChatBackend, LLMError, make_backend
from cecot_rag.answer.path import Answerer, Found
from cecot_rag.answer.prompt import (
    answer_messages,
    evidence_messages,
    is_instruction,
    rewrite_messages,
    strip_markup,
)
from cecot_rag.answer.verify import GeneratedSentence, Verifier, is_abstention, split_generated
from cecot_rag.embedding import Embedder
from cecot_rag.models import Answer, DroppedSentence, Passage
from cecot_rag.settings import Settings
from cecot_rag.text import sentence_spans, terms

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

MAX_ANSWER_TOKENS = 300
MAX_REWRITE_TOKENS = 64
MAX_REWRITE_CHARS = 300
EVIDENCE_SENTENCES = 6  # evidence-first prompts: the best sentences, each with the one before it
EVIDENCE_FIRST = ("local",)  # generators whose own [n] is not trusted (measured: right 1 in 7)
# Evidence-first answers are 1 to 3 short sentences (~25 tokens each). A small model sometimes
# keeps going; every token costs ~40 ms on two cores, so it is cut off after 3 shown sentences.
EVIDENCE_MAX_TOKENS = 160
EVIDENCE_MAX_SENTENCES = 3


class ScoredEvidence(Protocol):
    evidence: Evidence


@dataclass
class _Draft:
    """What has been decided so far about the answer being streamed."""

    verifier: Verifier
    attach: bool = False  # True: the model's markers are ignored, the verifier finds the support
    question: str = ""
    shown: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    dropped: list[DroppedSentence] = field(default_factory=list)
    abstained: bool = False

    def add(self, sentence: GeneratedSentence) -> str | None:
        """The text delta to show for sentence, or None when it is dropped or an abstention."""
        if (self.attach or not sentence.markers) and is_abstention(sentence.text):
            self.abstained = True
            return None
        if self.attach:
            verdict = self.verifier.attach(sentence, self.question)
        else:
            verdict = self.verifier.check(sentence)
        if not verdict.supported:
            shown = "(withheld)" if is_instruction(sentence.text) else self.verifier.redact(sentence.text)
            self.dropped.append(DroppedSentence(text=shown, reason=verdict.reason or "not supported"))
            return None
        self.evidence.extend(verdict.evidence)
        numbers, _ = number_citations(self.evidence)
        own = dict.fromkeys(numbers[len(numbers) - len(verdict.evidence) :])
        rendered = f"{sentence.text} {''.join(f'[{n}]' for n in own)}"
        delta = rendered if not self.shown else f" {rendered}"
        self.shown.append(rendered)
        return delta


class GeneratedAnswerer:
    """Answers with a language model; every sentence is verified against the passages it cites."""

    def __init__(
        self,
        name: str,
        backend: ChatBackend,
        embedder: Embedder,
        fallback: Answerer,
        max_tokens: int = MAX_ANSWER_TOKENS,
        evidence_first: bool = False,
    ) -> None:
        """fallback answers when the model fails or none of its sentences survives verification.

        Evidence first: the prompt holds only the sentences the answer path chose (with the one
        before each), the model's [n] are ignored, and each sentence it writes is attached to the
        passage sentence that supports it, or dropped.
        """
        self.name = name
        self.backend = backend
        self.embedder = embedder
        self.fallback = fallback
        self.evidence_first = evidence_first
        self.max_tokens = min(max_tokens, EVIDENCE_MAX_TOKENS) if evidence_first else max_tokens
        self.max_sentences = EVIDENCE_MAX_SENTENCES if evidence_first else None
        # Evidence-first (small, local) models are not asked to rewrite follow-ups: a rewrite would
        # cost as much as an answer; the answer path decides the reading from evidence instead.
        self.rewrite = None if evidence_first else self.rewrite_question

    @property
    def label(self) -> str:
        return self.backend.label

    def rewrite_question(self, text: str, history: list[dict[str, str]]) -> str:
        """A follow-up rewritten by the model into a standalone question (joined text on failure)."""
        try:
            rewritten = self.backend.complete(rewrite_messages(text, history), MAX_REWRITE_TOKENS)
        except LLMError:
            return retrieval_query(text, history)
        candidate = _first_line(rewritten)
        earlier = set().union(*(terms(t["content"]) for t in history))
        # A useful rewrite brings something from the conversation (a name for "it"); one that
        # does not is an echo or a guess, and joining the previous question does better.
        brought = set(terms(candidate)) - set(terms(text))
        if (
            not candidate
            or len(candidate) > MAX_REWRITE_CHARS
            or is_instruction(candidate)
            or not brought & earlier
        ):
            return retrieval_query(text, history)
        return candidate

    def answer(self, found: Found) -> Answer:
        final: Answer | None = None
        for item in self.stream(found):
            if isinstance(item, Answer):
                final = item
        assert final is not None  # stream always ends with the Answer
        return final

    def stream(self, found: Found) -> Iterator[str | Answer]:
        question, passages = found.question, found.passages
        if not found.answered:
            # The answer path decided the documents do not answer: the model is not asked.
            answer = abstention(question, passages, self.label, found.decision)
            yield answer.text
            yield answer
            return
        draft = _Draft(Verifier(passages, self.embedder), self.evidence_first, question.text)
        if not self.evidence_first:
            messages = answer_messages(question.text, passages, question.history)
        else:
            evidence = evidence_windows(found.chosen)
            messages = evidence_messages(question.text, evidence, question.history)
        buffer = ""
        handled = 0
        failure: LLMError | None = None
        complete = False  # enough sentences shown: the rest of the reply is not read
        deltas = self.backend.stream(messages, self.max_tokens)
        try:
            for delta in deltas:
                buffer += delta
                if buffer.rfind("[") > buffer.rfind("]"):
                    continue  # a marker is being written: it may belong to the sentence before it
                sentences = split_generated(buffer)
                # The last sentence may still grow (or gain markers); the ones before it are final.
                for sentence in sentences[handled : len(sentences) - 1]:
                    shown = draft.add(sentence)
                    if shown:
                        yield shown
                handled = max(handled, len(sentences) - 1)
                if self.max_sentences and len(draft.shown) >= self.max_sentences:
                    complete = True
                    break
        except LLMError as error:
            failure = error
        finally:
            deltas.close()  # stops the generation at once
        if failure is None and not complete:
            for sentence in split_generated(buffer)[handled:]:
                shown = draft.add(sentence)
                if shown:
                    yield shown
        final = self._finish(found, draft, failure)
        if not draft.shown:
            yield final.text
        yield final

    def _finish(self, found: Found, draft: _Draft, failure: LLMError | None) -> Answer:
        question, passages = found.question, found.passages
        if draft.shown:
            _, citations = number_citations(draft.evidence)
            notice = None
            if failure is not None:
                notice = f"{failure}; the answer may be incomplete."
            elif draft.dropped:
                notice = _removed_notice(len(draft.dropped))
            return Answer(
                question=question.text,
                text=" ".join(draft.shown),
                answered=True,
                citations=citations,
                passages=passages,
                generator=self.label,
                dropped=draft.dropped,
                notice=notice,
                decision=found.decision,
            )
        if failure is not None:
            reason = f"{failure}; showing quoted sentences from the documents instead."
        elif draft.abstained and not draft.dropped:
            reason = "The language model did not answer; showing quoted sentences from the documents instead."
        else:
            written = len(draft.dropped)
            reason = (
                f"None of the {written} sentence{'s' if written != 1 else ''} the language model wrote "
                "was supported by the passages it cited; showing quoted sentences instead."
            )
        fallback = self.fallback.answer(found)
        return fallback.model_copy(
            update={
                "generator": f"extractive (fallback from {self.label})",
                "dropped": draft.dropped,
                "notice": reason,
            }
        )


def _removed_notice(count: int) -> str:
    sentences = "sentence was" if count == 1 else "sentences were"
    return f"{count} generated {sentences} removed because the cited passages did not support them."


def _first_line(text: str) -> str:
    for line in strip_markup(text).splitlines():
        line = re.sub(r"^\s*(standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.I)
        line = line.strip().strip("\"'“”").strip()
        if line:
            return line
    return ""


def evidence_windows(scored: Sequence[ScoredEvidence], count: int = EVIDENCE_SENTENCES) -> list[str]:
    """The texts of the best count sentences, each with the sentence before it; overlapping
    windows of one passage are merged, in the order of their best sentence."""
    windows: list[tuple[Passage, int, int]] = []
    for item in scored[:count]:
        passage, start, end = item.evidence.passage, item.evidence.start, item.evidence.end
        starts = [s.start for s in sentence_spans(passage.text) if s.start < start]
        start = starts[-1] if starts else start
        for i, (other, a, b) in enumerate(windows):
            if other.id == passage.id and start <= b and a <= end:
                windows[i] = (other, min(a, start), max(b, end))
                break
        else:
            windows.append((passage, start, end))
    return [passage.text[a:b] for passage, a, b in windows]


def make_generated_answerer(
    name: str, settings: Settings, embedder: Embedder, fallback: Answerer, llm: LLM | None = None
) -> Answerer:
    """The answerer for generator name (see Settings.generator); raises GeneratorUnavailable.

    llm: the llama-index LLM given to the Assistant, for the "llama-index" generator.
    """
    return GeneratedAnswerer(
        name, make_backend(name, settings, llm), embedder, fallback, evidence_first=name in EVIDENCE_FIRST
    )
