"""The Gradio chat page: streaming answers, per-answer sources, documents, feedback and export.

All per-user state lives in gr.State (one copy per browser session); the handlers call the same
ChatService and Assistant as the REST API. Answers are shown as escaped Markdown (only our own
[n] links survive) and sources as escaped HTML, so a document can never inject markup.
Every event has a fixed API name (`ask`, `upload`, ...), so `gradio_client` callers do not depend
on names Gradio would derive from the order of registration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from cecot_rag.answer.local_model import LOCAL_MODEL
from cecot_rag.assistant import InvalidQuestion, validate_question
from cecot_rag.evaluation.ui import build_evaluation_tab
from cecot_rag.ingest.pipeline import Progress
from cecot_rag.models import Answer
from cecot_rag.server.page_files import PageFiles
from cecot_rag.server.render import (
    answer_markdown,
    conversation_sources_html,
    documents_html,
    escape_markdown,
)
from cecot_rag.server.service import UPLOAD_SUFFIXES, ChatService, Rejected, checked_url
from cecot_rag.settings import Settings

EXAMPLE_QUESTIONS = (
    "How many inmates can CECOT hold?",
    "What are the conditions for inmates inside CECOT?",
    "Which Latin American leaders want to copy Bukele's model?",
)
QUOTED = "extractive"
# Gradio hands each call its own tracker when a parameter defaults to a Progress instance.
_PROGRESS = gr.Progress()


def new_session() -> dict[str, Any]:
    """One browser session's conversation: turns for follow-ups, answers for feedback and export."""
    return {"turns": [], "answers": []}


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


def ingest_progress(tracker: Callable[..., Any], label: str) -> Progress:
    """Ingestion progress for the page: documents as a bar, passages embedded as a running total."""
    embedded = 0

    def on_source(source: str, index: int, total: int) -> None:
        tracker((index, total), desc=f"Ingesting {label}", unit="documents")

    def on_passages(count: int) -> None:  # the pipeline reports increments
        nonlocal embedded
        embedded += count
        tracker(None, desc=f"Ingesting {label}: {embedded} passages embedded")

    return Progress(on_source=on_source, on_passages=on_passages)


class ChatPage:
    """The page: build() lays out the tabs and wires each event once; the handlers are methods."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.assistant = service.assistant
        self.files = PageFiles(Path(get_upload_folder()))  # the upload route's files, and exports

    def build(self) -> gr.Blocks:
        with gr.Blocks(title="cecot-rag: CECOT and security policy in Latin America") as page:
            self.files.received = page.upload_file_set  # filled by Gradio's upload route
            session = gr.State(new_session())
            gr.Markdown(
                "## CECOT and security policy in Latin America\n"
                "Every answer quotes the documents verbatim. Click a [n] to see the passage it comes "
                "from, with the quoted sentence highlighted."
            )
            with gr.Tabs():
                with gr.Tab("Chat", id="chat"):
                    self._chat_tab(session)
                with gr.Tab("Documents", id="documents") as documents_tab:
                    listing = self._documents_tab()
                with gr.Tab("Evaluation", id="evaluation"):
                    build_evaluation_tab(self.assistant)
            gr.on(
                [documents_tab.select, page.load],
                self.list_documents,
                None,
                listing,
                api_name="list_documents",
            )
        # Two answers at a time on a small CPU; beyond 64 waiting, Gradio tells users the queue is full.
        page.queue(default_concurrency_limit=2, max_size=64)
        return page

    # -- chat ----------------------------------------------------------------------------------
    def _chat_tab(self, session: gr.State) -> None:
        generators = self.assistant.generators()
        settings = self.service.settings
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
                    buttons=["copy"],
                )
                with gr.Row(visible=True) as examples_row:
                    example_buttons = [
                        gr.Button(q, size="sm", elem_classes=["example-question"]) for q in EXAMPLE_QUESTIONS
                    ]
                # No max_length: the browser would cut a long question silently; respond refuses it.
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="question",
                        placeholder="Ask about CECOT, Bukele's security policy, the region…",
                        show_label=False,
                        lines=1,
                        max_lines=4,
                        scale=5,
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                generator = gr.Radio(
                    choices=[(generator_label(name, settings), name) for name in generators],
                    value=generators[0],
                    label="Answer",
                    elem_id="generator",
                    visible=any(name != QUOTED for name in generators),
                )
                with gr.Row():
                    clear_button = gr.Button("Clear chat", size="sm", elem_id="clear")
                    export_button = gr.DownloadButton(
                        "Export as Markdown", size="sm", elem_id="export", interactive=False
                    )
                    self.files.served_exports = export_button.temp_files  # Gradio's served copies
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(conversation_sources_html([]), elem_id="sources-panel", js_on_load=None)

        # One listener for typing, the Ask button and the example buttons: one `ask` endpoint.
        gr.on(
            [question.submit, ask_button.click, *(button.click for button in example_buttons)],
            self.respond,
            [question, chatbot, session, generator],
            [chatbot, sources, question, session, examples_row, export_button],
            api_name="ask",
        )
        cleared = [chatbot, sources, question, session, examples_row, export_button]
        # The chatbot's own trash icon resets the session too.
        gr.on([clear_button.click, chatbot.clear], self.clear, None, cleared, api_name="clear")
        export_button.click(self.export, session, export_button, api_name="export")
        chatbot.like(self.feedback, session, None, api_name="feedback")

    def respond(
        self,
        text: str,
        messages: list[dict[str, Any]],
        state: dict[str, Any],
        chosen: str | None,
        event: gr.EventData,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream an answer into the chat; the last update carries its sources and the new session.

        With a language model chosen, the quoted answer and its sources come first, then the written
        answer streams in its place (its sentences arrive only once verified against the passages).
        """
        target = event.target
        if isinstance(target, gr.Button) and target.value in EXAMPLE_QUESTIONS:
            text = target.value  # an example button asks its own question
        try:
            asked = validate_question(text, self.service.settings.max_question_chars)
            self.service.require_ready()
        except (InvalidQuestion, Rejected) as exc:
            # An error, not a warning and an unchanged chat: API callers (gradio_client) see it fail,
            # and the invalid text (a lone surrogate, say) is never sent back to the browser.
            raise gr.Error(str(exc)) from None
        turn = len(state["answers"]) + 1
        earlier: list[Answer] = state["answers"]
        messages = [*messages, {"role": "user", "content": escape_markdown(asked)}]
        waiting = [*messages, {"role": "assistant", "content": "…"}]
        # Every update hides the example questions: Gradio may skip intermediate streamed updates.
        hide = gr.update(visible=False)
        yield waiting, gr.skip(), "", state, hide, gr.skip()
        generator = chosen or QUOTED
        if generator != QUOTED:
            quoted = self.service.public_answer(self.assistant.ask(asked, state["turns"], generator=QUOTED))
            note = f"\n\n*{generator_label(generator, self.service.settings)}: writing…*"
            shown = answer_markdown(quoted.text, quoted.citations, turn) + note
            sources = conversation_sources_html([*earlier, quoted])
            yield (
                [*messages, {"role": "assistant", "content": shown}],
                sources,
                "",
                state,
                hide,
                gr.skip(),
            )
        partial = ""
        final: Answer | None = None
        for item in self.assistant.ask_stream(asked, state["turns"], generator=generator):
            if isinstance(item, Answer):
                final = item
                break
            partial += item
            streamed = [*messages, {"role": "assistant", "content": answer_markdown(partial)}]
            yield streamed, gr.skip(), "", state, hide, gr.skip()
        if final is None:  # an answerer that ended without its Answer: say so, keep the session sane
            gr.Warning("The answer was interrupted; please ask again.")
            yield messages, gr.skip(), asked, state, gr.skip(), gr.skip()
            return
        final = self.service.public_answer(final)  # sources without server folders, with their kind
        state = {
            "turns": [
                *state["turns"],
                {"role": "user", "content": asked},
                {"role": "assistant", "content": final.text},
            ],
            "answers": [*earlier, final],
        }
        reply = answer_markdown(final.text, final.citations, turn)
        messages = [*messages, {"role": "assistant", "content": reply}]
        # The export file goes as soon as Gradio has copied it to serve it (at the generator's next step).
        with self.files.export(state["answers"]) as exported:
            download = gr.update(value=exported, interactive=True)
            yield messages, conversation_sources_html(state["answers"]), "", state, hide, download

    def clear(self) -> tuple[Any, ...]:
        no_file = gr.update(value=None, interactive=False)
        return [], conversation_sources_html([]), "", new_session(), gr.update(visible=True), no_file

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
        number = index // 2  # messages alternate question, answer
        if like.liked not in (True, False) or not 0 <= number < len(state["answers"]):
            return
        self.service.record_feedback(state["answers"][number], "up" if like.liked else "down")
        gr.Info("Thanks: your rating was recorded.")

    # -- documents -----------------------------------------------------------------------------
    def _documents_tab(self) -> list[gr.components.Component]:
        """The tab's components and events; returns the listing outputs (table, delete choice)."""
        documents_table = gr.HTML(documents_html([]), elem_id="documents", js_on_load=None)
        documents_status = gr.Markdown("", elem_id="documents-status")
        with gr.Row():
            upload_button = gr.UploadButton(
                "Upload files (" + " ".join(UPLOAD_SUFFIXES) + ")",
                file_count="multiple",
                file_types=list(UPLOAD_SUFFIXES),
                elem_id="upload",
            )
        with gr.Row():
            url_box = gr.Textbox(label="Add a web page or PDF by URL", scale=4, elem_id="url")
            add_url_button = gr.Button("Add URL", scale=1, elem_id="add-url")
        with gr.Row():
            delete_choice = gr.Dropdown(
                label="Document to delete", choices=[], scale=4, elem_id="delete-choice"
            )
            delete_button = gr.Button("Delete…", variant="stop", scale=1, elem_id="delete")
        # Deleting cannot be undone: the Delete button only asks; this row does it.
        with gr.Row(visible=False, elem_id="delete-confirm") as confirm_row:
            confirm_text = gr.Markdown("", elem_id="delete-question")
            confirm_button = gr.Button("Yes, delete it", variant="stop", elem_id="confirm-delete")
            cancel_button = gr.Button("Cancel", elem_id="cancel-delete")

        listing = [documents_table, delete_choice]
        upload_button.upload(
            self.add_files,
            upload_button,
            [documents_status, *listing],
            concurrency_limit=1,
            api_name="upload",
            # add_files checks types and origins itself, so a refused file's copy is removed too.
            preprocess=False,
        )
        gr.on(
            [add_url_button.click, url_box.submit],
            self.add_url,
            url_box,
            [documents_status, url_box, *listing],
            # Downloads run outside the index's write lock; the service caps them (503 beyond).
            concurrency_limit=self.service.settings.max_url_fetches,
            api_name="add_url",
        )
        delete_button.click(
            self.ask_to_delete, delete_choice, [confirm_row, confirm_text, documents_status], api_name=False
        )
        cancel_button.click(lambda: gr.update(visible=False), None, confirm_row, api_name=False)
        confirm_button.click(lambda: gr.update(visible=False), None, confirm_row, api_name=False).then(
            self.delete_document,
            delete_choice,
            [documents_status, *listing],
            concurrency_limit=1,
            api_name="delete_document",
        )
        return listing

    def list_documents(self) -> tuple[Any, Any]:
        documents = self.assistant.documents() if self.service.ready.is_set() else []
        choices = [(f"{d.title} ({d.document_id})", d.document_id) for d in documents]
        return documents_html(documents), gr.update(choices=choices, value=None)

    def ask_to_delete(self, document_id: str | None) -> tuple[Any, ...]:
        """Show the confirmation row naming the document and its passages (nothing is deleted yet)."""
        chosen = next((d for d in self.assistant.documents() if d.document_id == document_id), None)
        if chosen is None:
            return gr.update(visible=False), "", "Choose a document to delete first."
        passages = f"{chosen.passages} passage{'s' if chosen.passages != 1 else ''}"
        question = (
            f"Delete **{escape_markdown(chosen.title)}** and its {passages} from the index? "
            "This cannot be undone."
        )
        return gr.update(visible=True), question, ""

    def add_files(
        self, files: list[dict[str, Any]] | None, tracker: gr.Progress = _PROGRESS
    ) -> tuple[Any, ...]:
        """Ingest uploaded files (raw FileData: the upload event skips Gradio's preprocessing)."""
        lines = []
        for file in files or []:
            file = file if isinstance(file, dict) else {}  # anything else is refused as "not uploaded"
            temporary = str(file.get("path") or "")
            name = str(file.get("orig_name") or "")
            try:
                # Only a file this server's upload route received is read, or ever removed.
                received = self.files.claim(temporary)
            except Rejected as exc:
                lines.append(f"A file was not added: {escape_markdown(exc.message)}")
                continue
            name = name or received.name
            try:
                self.service.require_ready()
                with open(received, "rb") as upload:
                    saved, report = self.service.add_upload(name, upload, ingest_progress(tracker, name))
                lines.append(f"**{escape_markdown(saved)}**: {report.summary()}")
            except Rejected as exc:
                lines.append(f"**{escape_markdown(name)}** was not added: {escape_markdown(exc.message)}")
            finally:
                # Gradio's copy goes whether or not the file was added: the uploads folder keeps the
                # only copy, so deleting the document deletes every copy.
                self.files.discard(received)
        return "\n\n".join(lines), *self.list_documents()

    def add_url(self, url: str, tracker: gr.Progress = _PROGRESS) -> tuple[Any, ...]:
        try:
            self.service.require_ready()
            url = checked_url(url)  # before any echo: text that cannot be encoded is never sent back
            report = self.service.ingest_url(url, ingest_progress(tracker, url[:80]))
            status = f"**{escape_markdown(url)}**: {report.summary()}"
            url = ""
        except Rejected as exc:
            status = f"Not added: {escape_markdown(exc.message)}"
            url = gr.skip()  # the box keeps what was typed, whatever it is
        return status, url, *self.list_documents()

    def delete_document(self, document_id: str | None) -> tuple[Any, ...]:
        if not document_id:
            return "Choose a document to delete first.", *self.list_documents()
        try:
            self.service.delete_document(document_id)
            status = f"Deleted {escape_markdown(document_id)}."
        except KeyError as exc:  # DocumentNotFound: someone else deleted it meanwhile
            status = escape_markdown(str(exc))
        return status, *self.list_documents()
