"""The language-model answerer: fluent sentences, each shown only once the evidence supports it.

The answer path decides whether the documents answer (`Found.decision`); the model is asked only
when they do, and otherwise the answer abstains exactly as the extractive one. It is shown evidence
first: the sentences the answer path chose, each with the sentence before it, numbered, under a
fixed system prompt and two worked examples. Its output is checked sentence by sentence while it
streams: a sentence that repeats our prompt or only restates the question, a title or a heading
is dropped; each other one must pass the verifier against a sentence the scorer found to answer
the question (answer/verify.py). A chosen sentence that no shown sentence draws on, or whose
numbers or asked-about words they leave out, is added as its quote: a written answer does not say
less than the quoted one. When the model fails, is paused after a failure, or nothing it wrote
survives, the extractive answer is given instead, with a notice saying why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cecot_rag.answer.base import Evidence, abstention, number_citations
from cecot_rag.answer.candidates import Candidate
from cecot_rag.answer.followup import retrieval_query
from cecot_rag.answer.llm import ChatBackend, LLMError, LLMPaused, make_backend
from cecot_rag.answer.path import Answerer, Found
from cecot_rag.answer.prompt import (
    evidence_messages,
    is_instruction,
    restated,
    rewrite_messages,
    scaffolding,
    strip_markup,
)
from cecot_rag.answer.verify import GeneratedSentence, Span, Verifier, is_abstention, split_generated
from cecot_rag.embedding import Embedder
from cecot_rag.errors import GeneratorUnavailable
from cecot_rag.models import Answer, DroppedSentence, Passage
from cecot_rag.settings import DEFAULT_TOPIC, Settings
from cecot_rag.text import numbers, sentence_spans, terms, words

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

MAX_REWRITE_TOKENS = 64
MAX_REWRITE_CHARS = 300
ATTACHED = ("local",)  # generators whose own [n] is not trusted (measured: right 1 in 7)
# An answer is 1 to 3 short sentences (~25 tokens each). A small model sometimes keeps going; every
# token costs ~40 ms on two cores, so generation stops after 3 shown sentences or 120 tokens.
MAX_ANSWER_TOKENS = 120
MAX_ANSWER_SENTENCES = 3
WARM_SECONDS = 600.0  # loading a model at startup may take minutes on a busy machine; nobody waits
WITHHELD = "(withheld)"
PAUSED = "The language model is paused after a failure; quoted sentences shown."


def quotable_spans(found: Found) -> set[Span]:
    """The sentences the scorer found to answer the question: scored at or above the threshold."""
    threshold = found.decision.threshold
    return {(c.passage.id, c.start, c.end) for c in found.candidates if c.scored_by and c.score >= threshold}


def evidence_blocks(chosen: Sequence[Candidate]) -> list[tuple[Passage, str]]:
    """What the model is shown: per passage of the chosen sentences, in the order of its best one,
    each chosen sentence with the sentence before it (none after a heading), in the passage's order;
    overlapping windows merged, separate ones joined by ' … '."""
    windows: dict[str, tuple[Passage, list[tuple[int, int]]]] = {}
    for candidate in chosen:
        passage = candidate.passage
        start = candidate.start
        if candidate.previous:
            start = sentence_spans(passage.text)[candidate.index - 1].start
        windows.setdefault(passage.id, (passage, []))[1].append((start, candidate.end))
    blocks = []
    for passage, spans in windows.values():
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        blocks.append((passage, " … ".join(passage.text[a:b] for a, b in merged)))
    return blocks


@dataclass
class _Draft:
    """What has been decided so far about the answer being streamed."""

    verifier: Verifier
    found: Found
    attach: bool  # True: the model's markers are ignored, the verifier finds the support
    shown: list[str] = field(default_factory=list)
    shown_words: list[tuple[str, ...]] = field(default_factory=list)
    drawn: dict[Span, list[str]] = field(default_factory=dict)  # a quote's span -> the sentences on it
    evidence: list[Evidence] = field(default_factory=list)
    dropped: list[DroppedSentence] = field(default_factory=list)
    abstained: bool = False

    def add(self, sentence: GeneratedSentence) -> str | None:
        """The text delta to show for sentence, or None when it is dropped, repeated or an abstention."""
        if (self.attach or not sentence.markers) and is_abstention(sentence.text):
            self.abstained = True
            return None
        own = tuple(words(sentence.text))
        if own in self.shown_words:
            return None  # said twice: shown once, and not listed as removed
        rejected = self._reject(sentence)
        if rejected is not None:
            self.dropped.append(rejected)
            return None
        verdict = (
            self.verifier.attach(sentence, self.found.question.text)
            if self.attach
            else self.verifier.check(sentence)
        )
        if not verdict.supported:
            shown = WITHHELD if is_instruction(sentence.text) else self.verifier.redact(sentence.text)
            self.dropped.append(DroppedSentence(text=shown, reason=verdict.reason or "not supported"))
            return None
        return self._show(sentence.text, verdict.evidence)

    def quote(self, candidate: Candidate) -> str | None:
        """The delta adding candidate verbatim unless the shown sentences that draw on it say what it
        says (or it only restates a title or heading); else None."""
        written = " ".join(self.drawn.get((candidate.passage.id, candidate.start, candidate.end), []))
        question = self.found.question.text
        if (written and says_as_much(written, candidate.text, question)) or restated(
            candidate.text, "", self.verifier.passages
        ):
            return None
        return self._show(candidate.text, (candidate.evidence,))

    def _show(self, text: str, evidence: Sequence[Evidence]) -> str:
        for item in evidence:
            self.drawn.setdefault((item.passage.id, item.start, item.end), []).append(text)
        self.evidence.extend(evidence)
        numbers, _ = number_citations(self.evidence)
        markers = dict.fromkeys(numbers[len(numbers) - len(evidence) :])
        rendered = f"{text} {''.join(f'[{n}]' for n in markers)}"
        self.shown.append(rendered)
        self.shown_words.append(tuple(words(text)))
        return rendered if len(self.shown) == 1 else f" {rendered}"

    def _reject(self, sentence: GeneratedSentence) -> DroppedSentence | None:
        """Our own prompt text (never shown, not even as removed) or a restatement: not an answer."""
        reason = scaffolding(sentence.text)
        if reason is not None:
            return DroppedSentence(text=WITHHELD, reason=reason)
        reason = restated(sentence.text, self.found.question.text, self.verifier.passages)
        if reason is not None:
            return DroppedSentence(text=sentence.text, reason=reason)
        return None


class GeneratedAnswerer:
    """Answers with a language model; every sentence is verified before it is shown."""

    def __init__(
        self,
        name: str,
        backend: ChatBackend,
        embedder: Embedder,
        fallback: Answerer,
        topic: str = DEFAULT_TOPIC,
        attach: bool = False,
    ) -> None:
        """fallback answers when the model fails or none of its sentences survives verification.

        attach: the model's [n] are ignored and each sentence it writes is attached to the
        evidence that supports it, or dropped (for small models, whose markers are often wrong).
        """
        self.name = name
        self.backend = backend
        self.embedder = embedder
        self.fallback = fallback
        self.topic = topic
        self.attach = attach
        self.max_tokens = MAX_ANSWER_TOKENS
        # Small (attached) models are not asked to rewrite follow-ups: a rewrite would cost as much
        # as an answer; the answer path decides the reading from evidence instead.
        self.rewrite = None if attach else self.rewrite_question

    @property
    def label(self) -> str:
        return self.backend.label

    def warm(self) -> None:
        """Load the model and compute the fixed start of its prompts now (raises LLMError)."""
        self.backend.warm(evidence_messages("Warm up.", ["Warm up."], self.topic), WARM_SECONDS)

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
        if not found.answered:
            # The answer path decided the documents do not answer: the model is not asked.
            answer = abstention(found.question, found.passages, self.label, found.decision)
            yield answer.text
            yield answer
            return
        blocks = evidence_blocks(found.chosen)
        verifier = Verifier([p for p, _ in blocks], self.embedder, quotable_spans(found), found.passages)
        draft = _Draft(verifier, found, self.attach)
        question = found.question
        messages = evidence_messages(
            question.text, [text for _, text in blocks], self.topic, question.history
        )
        failure = yield from self._write(messages, draft)
        quoted = 0
        if draft.shown:  # the written answer never says less than the quoted one
            for candidate in found.chosen:
                delta = draft.quote(candidate)
                if delta:
                    quoted += 1
                    yield delta
        final = self._finish(found, draft, failure, quoted)
        if not draft.shown:
            yield final.text
        yield final

    def _write(self, messages: list[dict[str, str]], draft: _Draft) -> Iterator[str]:
        """Stream the model's reply through the draft; returns the model's failure, if any."""
        buffer = ""
        handled = 0
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
                if len(draft.shown) >= MAX_ANSWER_SENTENCES:
                    return None  # enough: the rest of the reply is not read
        except LLMError as error:
            return error
        finally:
            deltas.close()  # stops the generation at once
        for sentence in split_generated(buffer)[handled:]:
            shown = draft.add(sentence)
            if shown:
                yield shown
        return None

    def _finish(self, found: Found, draft: _Draft, failure: LLMError | None, quoted: int) -> Answer:
        if draft.shown:
            _, citations = number_citations(draft.evidence)
            text = " ".join(draft.shown)
            dropped = _not_shown(draft.dropped, text)
            notice = None
            if failure is not None:
                rest = "the rest is quoted from the documents" if quoted else "the answer may be incomplete"
                notice = f"{failure}; {rest}."
            elif dropped:
                notice = _removed_notice(len(dropped))
            return Answer(
                question=found.question.text,
                text=text,
                answered=True,
                citations=citations,
                passages=found.passages,
                generator=self.label,
                dropped=dropped,
                notice=notice,
                decision=found.decision,
            )
        fallback = self.fallback.answer(found)
        return fallback.model_copy(
            update={
                "generator": f"extractive (fallback from {self.label})",
                "dropped": _not_shown(draft.dropped, fallback.text),
                "notice": _fallback_notice(draft, failure),
            }
        )


def says_as_much(written: str, quote: str, question: str) -> bool:
    """Whether written keeps what quote says in answer to question: its numbers, and every content
    word it shares with the question. A small model's rewording often drops the half of a
    sentence the question asked about ("How does Lima's mayor compare with Costa Rica's minister?"
    answered with the mayor alone); what the question does not ask about may go."""
    asked = set(terms(quote)) & set(terms(question))
    return numbers(quote) <= numbers(written) and asked <= set(terms(written))


def _not_shown(dropped: list[DroppedSentence], shown: str) -> list[DroppedSentence]:
    """The removed sentences that are not in the shown text: a sentence the model wrote twice, once
    rejected, or that the quoted answer also says, is shown, so it is not listed as removed."""
    text = " ".join(words(shown))
    return [d for d in dropped if " ".join(words(d.text)) not in text]


def _fallback_notice(draft: _Draft, failure: LLMError | None) -> str:
    """Why the quoted answer is shown instead of the written one."""
    if isinstance(failure, LLMPaused):
        return f"{PAUSED} ({failure}.)"
    if failure is not None:
        return f"{failure}; showing quoted sentences from the documents instead."
    if draft.abstained and not draft.dropped:
        return "The language model did not answer; showing quoted sentences from the documents instead."
    written = len(draft.dropped)
    return (
        f"None of the {written} sentence{'s' if written != 1 else ''} the language model wrote "
        "passed the checks against the documents; showing quoted sentences instead."
    )


def _removed_notice(count: int) -> str:
    if count == 1:
        return "1 generated sentence was removed (the reason is listed with the sources)."
    return f"{count} generated sentences were removed (the reasons are listed with the sources)."


def _first_line(text: str) -> str:
    for line in strip_markup(text).splitlines():
        line = re.sub(r"^\s*(standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.I)
        line = line.strip().strip("\"'“”").strip()
        if line:
            return line
    return ""


def make_generated_answerer(
    name: str, settings: Settings, embedder: Embedder, fallback: Answerer, llm: LLM | None = None
) -> GeneratedAnswerer:
    """The answerer for generator name (see Settings.generator); raises GeneratorUnavailable.

    llm: the llama-index LLM given to the Assistant, for the "llama-index" generator.
    """
    backend = make_backend(name, settings, llm)
    return GeneratedAnswerer(name, backend, embedder, fallback, settings.topic, attach=name in ATTACHED)


def warm_up(answerer_for: Callable[[str], Answerer], name: str) -> str:
    """Load generator name's model and compute its fixed prompt (serve does this at startup, so
    the first question does not wait for it); a line saying how it went."""
    started = time.monotonic()
    try:
        answerer = answerer_for(name)
        if isinstance(answerer, GeneratedAnswerer):
            answerer.warm()
    except (GeneratorUnavailable, LLMError) as error:
        return f"the language model for {name!r} answers is not ready ({error}); each question tries again"
    label = getattr(answerer, "label", name)
    return f"language model {label} loaded and warmed after {time.monotonic() - started:.0f} s"
