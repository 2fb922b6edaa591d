"""The Gradio chat page: streaming answers, per-answer sources, feedback and export (the Documents
tab is server.page_documents).

All per-user state lives in gr.State (one copy per browser session); the handlers call the same
ChatService and Assistant as the REST API, and a question takes a slot of the same ask budget.
Answers are shown as escaped Markdown (only our own [n] links survive) and sources as escaped
HTML, so a document can never inject markup.
Every event has a fixed API name (`ask`, `upload`, ...), so `gradio_client` callers do not depend
on names Gradio would derive from the order of registration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import gradio as gr
from gradio.utils import get_upload_folder

from cecot_rag.answer.local_model import LOCAL_MODEL
from cecot_rag.assistant import InvalidQuestion, validate_question
from cecot_rag.errors import GeneratorUnavailable
from cecot_rag.evaluation.ui import build_evaluation_tab
from cecot_rag.models import Answer
from cecot_rag.server.page_documents import DocumentsTab
from cecot_rag.server.page_files import PageFiles
from cecot_rag.server.rejected import Rejected
from cecot_rag.server.render import answer_markdown, conversation_sources_html, escape_markdown, evidence_html
from cecot_rag.server.service import ChatService
from cecot_rag.settings import Settings

QUOTED = "extractive"
T = TypeVar("T")


def new_session() -> dict[str, Any]:
    """One browser session's conversation: turns for follow-ups, answers for feedback and export,
    and which chat message shows which answer (a refused question's reply shows none)."""
    return {"turns": [], "answers": [], "replies": {}}


async def in_threads(updates: Iterator[T]) -> AsyncIterator[T]:
    """A blocking generator's items, each computed in a worker thread: the event loop stays free."""
    done = object()
    try:
        while (item := await anyio.to_thread.run_sync(next, updates, done)) is not done:
            yield item  # type: ignore[misc]
    finally:
        updates.close()


def refused(messages: list[dict[str, Any]], sentence: str) -> tuple[Any, ...]:
    """A refused question's only change to the page: the reason, as an ordinary reply."""
    reply = {"role": "assistant", "content": escape_markdown(sentence)}
    return [*messages, reply], gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()


def generator_label(name: str, settings: Settings) -> str:
    """How the answer switch names a generator: what the reader gets, not an internal name."""
    if name == QUOTED:
        return "Quoted sentences"
    model = settings.llm_model if name == "openai" else None
    if name == "local":
        model = LOCAL_MODEL
    if name == "llamacpp" and settings.llm_model_path:
        model = Path(settings.llm_model_path).stem
    return f"Written by {model or name}"


class ChatPage:
    """The page: build() lays out the tabs and wires each event once; the handlers are methods."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.assistant = service.assistant
        self.files = PageFiles(Path(get_upload_folder()))  # the upload route's files, and exports
        self.documents = DocumentsTab(service, self.files)
        self.examples = list(service.settings.example_questions)

    def build(self) -> gr.Blocks:
        topic = self.service.settings.topic
        with gr.Blocks(title=f"cecot-rag: {topic}") as page:
            self.files.received = page.upload_file_set  # filled by Gradio's upload route
            session = gr.State(new_session())
            gr.Markdown(
                f"## {escape_markdown(topic)}\n"
                "Every answer quotes the documents verbatim. Click a [n] to see the passage it comes "
                "from, with the quoted sentence highlighted."
            )
            with gr.Tabs():
                with gr.Tab("Chat", id="chat"):
                    answer_switch = self._chat_tab(session)
                with gr.Tab("Documents", id="documents") as documents_tab:
                    listing = self.documents.build()
                with gr.Tab("Evaluation", id="evaluation"):
                    build_evaluation_tab(self.assistant)
            gr.on(
                [documents_tab.select, page.load],
                self.documents.list_documents,
                None,
                listing,
                api_name="list_documents",
            )
            # Every page load lists the generators available now, as REST /generators does: one
            # that becomes available while the server runs appears without a restart.
            page.load(lambda: gr.update(**self.answer_switch()), None, answer_switch, api_name=False)
        # For the page's other events (listing, export, evaluation...); questions are limited by the
        # ask budget shared with REST instead (the ask event has no limit of its own).
        page.queue(default_concurrency_limit=2, max_size=64)
        return page

    # -- chat ----------------------------------------------------------------------------------
    def _chat_tab(self, session: gr.State) -> gr.Radio:
        """The chat tab's components and events; returns the answer switch."""
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    label="Conversation",
                    height=520,
                    render_markdown=True,
                    sanitize_html=True,
                    latex_delimiters=[],
                    allow_file_downloads=False,
                    feedback_options=("Like", "Dislike"),
                    # A refused question's reply is a bubble of its own, not part of the answer above.
                    group_consecutive_messages=False,
                    buttons=["copy"],
                )
                with gr.Row(visible=bool(self.examples)) as examples_row:
                    example_buttons = [
                        gr.Button(q, size="sm", elem_classes=["example-question"]) for q in self.examples
                    ]
                # No max_length: the browser would cut a long question silently; ask() refuses it.
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="question",
                        placeholder=f"Ask about {self.service.settings.topic}…",
                        show_label=False,
                        lines=1,
                        max_lines=4,
                        scale=5,
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                generator = gr.Radio(label="Answer", elem_id="generator", **self.answer_switch())
                with gr.Row():
                    clear_button = gr.Button("Clear chat", size="sm", elem_id="clear")
                    export_button = gr.DownloadButton(
                        "Export as Markdown", size="sm", elem_id="export", interactive=False
                    )
                    self.files.served_exports = export_button.temp_files  # Gradio's served copies
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(conversation_sources_html([]), elem_id="sources-panel", js_on_load=None)

        # One listener for typing, the Ask button and the example buttons: one `ask` endpoint. No
        # concurrency limit of Gradio's own: the ask budget (page and REST together) is the limit.
        gr.on(
            [question.submit, ask_button.click, *(button.click for button in example_buttons)],
            self.ask,
            [question, chatbot, session, generator],
            [chatbot, sources, question, session, examples_row, export_button],
            api_name="ask",
            concurrency_limit=None,
        )
        cleared = [chatbot, sources, question, session, examples_row, export_button]
        # The chatbot's own trash icon resets the session too.
        gr.on([clear_button.click, chatbot.clear], self.clear, None, cleared, api_name="clear")
        export_button.click(self.export, session, export_button, api_name="export")
        chatbot.like(self.feedback, session, None, api_name="feedback")
        return generator

    def answer_switch(self) -> dict[str, Any]:
        """The answer switch's choices as the generators available now; shown when one writes."""
        generators = self.assistant.generators()
        return {
            "choices": [(generator_label(name, self.service.settings), name) for name in generators],
            "value": generators[0],
            "visible": any(name != QUOTED for name in generators),
        }

    async def ask(
        self,
        text: str,
        messages: list[dict[str, Any]],
        state: dict[str, Any],
        chosen: str | None,
        event: gr.EventData,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """The ask event: the question is checked, then waits for a slot of the ask budget it shares
        with REST, then respond() answers it in worker threads.

        A question refused (too long, invalid, the index not ready, the budget full) gets the
        refusal's sentence as an ordinary reply; nothing else on the page changes, the textbox
        keeps what was typed, and the invalid text itself (a lone surrogate, say) is never sent back.
        """
        target = event.target
        if isinstance(target, gr.Button) and target.value in self.examples:
            text = target.value  # an example button asks its own question
        try:
            asked = validate_question(text, self.service.settings.max_question_chars)
            self.service.readiness.require_ready()
        except InvalidQuestion as exc:
            yield refused(messages, str(exc))
            return
        except Rejected as exc:
            yield refused(messages, exc.message)
            return
        asks = self.service.asks
        if not await asks.take():
            yield refused(messages, asks.busy)
            return
        try:
            async for update in in_threads(self.respond(asked, messages, state, chosen)):
                yield update
        finally:
            asks.give_back()

    def respond(
        self, asked: str, messages: list[dict[str, Any]], state: dict[str, Any], chosen: str | None
    ) -> Iterator[tuple[Any, ...]]:
        """Stream an answer into the chat; the last update carries its sources and the new session.

        With a language model chosen, the quoted answer and its sources come first, then the written
        answer streams in its place (its sentences arrive only once verified against the passages).
        """
        turn = len(state["answers"]) + 1
        earlier: list[Answer] = state["answers"]
        messages = [*messages, {"role": "user", "content": escape_markdown(asked)}]
        waiting = [*messages, {"role": "assistant", "content": "…"}]
        # Every update hides the example questions: Gradio may skip intermediate streamed updates.
        hide = gr.update(visible=False)
        # The textbox is cleared once, here: what the user types while the answer streams is theirs.
        yield waiting, gr.skip(), "", state, hide, gr.skip()
        generator = chosen or QUOTED
        label = generator_label(generator, self.service.settings)
        try:
            if generator not in self.assistant.generators():
                raise GeneratorUnavailable(f"{label} is not available now; choose another answer")
            # One answer path for both answers: the written one has the quoted one's decision.
            found = self.assistant.prepare(asked, state["turns"], None, generator)
        except GeneratorUnavailable as exc:  # an ordinary reply, the question kept in the textbox
            yield (*refused(messages[:-1], str(exc))[:2], asked, state, gr.skip(), gr.skip())
            return
        writing = f"\n\n*{label}: writing…*" if generator != QUOTED else ""
        if writing and found.answered:  # the quoted answer and its sources at once
            quoted = self.service.sources.answer(self.assistant.answerer(QUOTED).answer(found))
            shown = answer_markdown(quoted.text, quoted.citations, turn) + writing
            sources = conversation_sources_html([*earlier, quoted])
            yield (
                [*messages, {"role": "assistant", "content": shown}],
                sources,
                gr.skip(),
                state,
                hide,
                gr.skip(),
            )
        partial = ""
        final: Answer | None = None
        for item in self.assistant.answerer(generator).stream(found):
            if isinstance(item, Answer):
                final = item
                break
            partial += item
            streamed = [*messages, {"role": "assistant", "content": answer_markdown(partial) + writing}]
            yield streamed, gr.skip(), gr.skip(), state, hide, gr.skip()
        if final is None:  # an answerer that ended without its Answer: say so, keep the session sane
            gr.Warning("The answer was interrupted; please ask again.")
            yield messages, gr.skip(), asked, state, gr.skip(), gr.skip()
            return
        final = self.service.sources.answer(final)  # sources without server folders, with their kind
        state = {
            "turns": [
                *state["turns"],
                {"role": "user", "content": asked},
                {"role": "assistant", "content": final.text},
            ],
            "answers": [*earlier, final],
            "replies": {**state["replies"], len(messages): len(earlier)},  # the reply's message index
        }
        reply = answer_markdown(final.text, final.citations, turn)
        if final.notice and generator != QUOTED:  # why the written answer is not (all) there, in view
            reply += f"\n\n*Note: {escape_markdown(final.notice)}*"
        if final.decision is not None:  # the evidence in words, its numbers on hover
            reply += "\n\n" + evidence_html(final.decision)
        messages = [*messages, {"role": "assistant", "content": reply}]
        # The export file goes as soon as Gradio has copied it to serve it (at the generator's next step).
        with self.files.export(state["answers"]) as exported:
            download = gr.update(value=exported, interactive=True)
            yield messages, conversation_sources_html(state["answers"]), gr.skip(), state, hide, download

    def clear(self) -> tuple[Any, ...]:
        no_file = gr.update(value=None, interactive=False)
        examples = gr.update(visible=bool(self.examples))
        return [], conversation_sources_html([]), "", new_session(), examples, no_file

    def export(self, state: dict[str, Any]) -> Iterator[Any]:
        """The button downloads the file it holds (refreshed after every answer); this refreshes it."""
        if not state["answers"]:
            gr.Info("Nothing to export yet: ask a question first.")
            yield gr.update(value=None, interactive=False)
            return
        with self.files.export(state["answers"]) as exported:
            yield gr.update(value=exported, interactive=True)

    def feedback(self, state: dict[str, Any], like: gr.LikeData) -> None:
        index = like.index if isinstance(like.index, int) else like.index[0]
        number = state["replies"].get(index)  # None: a question, or a refused question's reply
        if like.liked not in (True, False) or number is None:
            return
        self.service.feedback.record(state["answers"][number], "up" if like.liked else "down")
        gr.Info("Thanks: your rating was recorded.")
