"""The Gradio chat page: streaming answers, a sources panel, documents, feedback and export.

All per-user state lives in gr.State (one copy per browser session); the handlers call the same
ChatService and Assistant as the REST API. Answers are shown as escaped Markdown (only our own
[n] links survive) and sources as escaped HTML, so a document can never inject markup.
Every event has a fixed API name (`ask`, `upload`, ...), so `gradio_client` callers do not depend
on names Gradio would derive from the order of registration.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from cecot_rag.assistant import InvalidQuestion, validate_question
from cecot_rag.evaluation.ui import build_evaluation_tab
from cecot_rag.ingest.pipeline import Progress
from cecot_rag.models import Answer
from cecot_rag.server.render import (
    answer_markdown,
    conversation_markdown,
    document_rows,
    escape_markdown,
    sources_html,
)
from cecot_rag.server.service import UPLOAD_SUFFIXES, ChatService, Rejected

EXAMPLE_QUESTIONS = (
    "How many inmates can CECOT hold?",
    "What are the conditions for inmates inside CECOT?",
    "Which Latin American leaders want to copy Bukele's model?",
)
# Gradio hands each call its own tracker when a parameter defaults to a Progress instance.
_PROGRESS = gr.Progress()
DOCUMENT_HEADERS = ["Title", "Source", "Passages", "Ingested at", "Document id"]

# Clicking an [n] in an answer scrolls to that source instead of following the link.
PAGE_HEAD = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest('a[href^="#source-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const target = document.getElementById(link.getAttribute("href").slice(1));
  if (!target) return;
  target.scrollIntoView({behavior: "smooth", block: "center"});
  target.classList.add("flash");
  setTimeout(() => target.classList.remove("flash"), 1600);
}, true);
</script>
"""

PAGE_CSS = """
#sources-panel { max-height: 640px; overflow-y: auto; }
.sources .citation, .sources .retrieved { border: 1px solid var(--border-color-primary);
  border-radius: 8px; padding: 8px 10px; margin: 0 0 10px 0; }
.sources .citation.flash { outline: 3px solid #f5b301; }
.sources .cite-number { font-weight: 700; float: left; margin-right: 6px; }
.sources .cite-meta { font-size: 0.85em; margin-bottom: 4px; color: var(--body-text-color-subdued); }
.sources .cite-text { font-size: 0.92em; line-height: 1.45; white-space: pre-wrap; }
.sources mark { background: #ffe58a; color: #222; padding: 0 2px; border-radius: 2px; }
.sources .abstained, .sources .notice { border-left: 4px solid #d97706; padding: 6px 10px;
  margin-bottom: 10px; background: var(--background-fill-secondary); }
.sources details summary { cursor: pointer; margin: 6px 0; }
.sources-empty { color: var(--body-text-color-subdued); }
"""


# System fonts: nothing for the browser to fetch, and glyphs for every language in the documents.
PAGE_THEME = gr.themes.Default(
    font=["system-ui", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"],
    font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"],
)


def new_session() -> dict[str, Any]:
    """One browser session's conversation: turns for follow-ups, answers for feedback and export."""
    return {"turns": [], "answers": []}


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

    def build(self) -> gr.Blocks:
        with gr.Blocks(title="cecot-rag: CECOT and security policy in Latin America") as page:
            session = gr.State(new_session())
            gr.Markdown(
                "## CECOT and security policy in Latin America\n"
                "Answers quote the documents verbatim; every [n] points to its passage on the right."
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
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="question",
                        placeholder="Ask about CECOT, Bukele's security policy, the region…",
                        show_label=False,
                        lines=1,
                        max_lines=4,
                        max_length=self.service.settings.max_question_chars,
                        scale=5,
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                with gr.Row():
                    generator = gr.Dropdown(
                        choices=generators,
                        value=generators[0],
                        label="Answer generator",
                        visible=len(generators) > 1,
                        scale=2,
                    )
                    clear_button = gr.Button("Clear chat", size="sm", elem_id="clear")
                    export_button = gr.Button("Export as Markdown", size="sm", elem_id="export")
                export_file = gr.File(label="Conversation", visible=False, elem_id="export-file")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html(None), elem_id="sources-panel", js_on_load=None)

        # One listener for typing, the Ask button and the example buttons: one `ask` endpoint.
        gr.on(
            [question.submit, ask_button.click, *(button.click for button in example_buttons)],
            self.respond,
            [question, chatbot, session, generator],
            [chatbot, sources, question, session, examples_row],
            api_name="ask",
        )
        cleared = [chatbot, sources, question, session, examples_row, export_file]
        # The chatbot's own trash icon resets the session too.
        gr.on([clear_button.click, chatbot.clear], self.clear, None, cleared, api_name="clear")
        export_button.click(self.export, session, export_file, api_name="export")
        chatbot.like(self.feedback, session, None, api_name="feedback")

    def respond(
        self,
        text: str,
        messages: list[dict[str, Any]],
        state: dict[str, Any],
        chosen: str | None,
        event: gr.EventData,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream an answer into the chat; the last update carries its sources and the new session."""
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
        messages = [*messages, {"role": "user", "content": escape_markdown(asked)}]
        partial = ""
        final: Answer | None = None
        waiting = [*messages, {"role": "assistant", "content": "…"}]
        yield waiting, gr.skip(), "", state, gr.update(visible=False)
        for item in self.assistant.ask_stream(asked, state["turns"], generator=chosen or None):
            if isinstance(item, Answer):
                final = item
                break
            partial += item
            streamed = [*messages, {"role": "assistant", "content": answer_markdown(partial)}]
            yield streamed, gr.skip(), "", state, gr.skip()
        if final is None:  # an answerer that ended without its Answer: say so, keep the session sane
            gr.Warning("The answer was interrupted; please ask again.")
            yield messages, gr.skip(), asked, state, gr.skip()
            return
        state = {
            "turns": [
                *state["turns"],
                {"role": "user", "content": asked},
                {"role": "assistant", "content": final.text},
            ],
            "answers": [*state["answers"], final],
        }
        reply = answer_markdown(final.text, final.citations)
        messages = [*messages, {"role": "assistant", "content": reply}]
        yield messages, sources_html(final), "", state, gr.skip()

    def clear(self) -> tuple[Any, ...]:
        hidden = gr.update(visible=False)
        return [], sources_html(None), "", new_session(), gr.update(visible=True), hidden

    def export(self, state: dict[str, Any]) -> Any:
        if not state["answers"]:
            gr.Info("Nothing to export yet: ask a question first.")
            return gr.update(visible=False)
        folder = Path(tempfile.mkdtemp(prefix="cecot-rag-export-"))
        path = folder / "cecot-rag-conversation.md"
        path.write_text(conversation_markdown(state["answers"]), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

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
        documents_table = gr.Dataframe(
            headers=DOCUMENT_HEADERS,
            value=[],
            interactive=False,
            wrap=True,
            elem_id="documents",
        )
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
            delete_button = gr.Button("Delete", variant="stop", scale=1, elem_id="delete")

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
            concurrency_limit=1,
            api_name="add_url",
        )
        delete_button.click(
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
        return document_rows(documents), gr.update(choices=choices, value=None)

    def add_files(
        self, files: list[dict[str, Any]] | None, tracker: gr.Progress = _PROGRESS
    ) -> tuple[Any, ...]:
        """Ingest uploaded files (raw FileData: the upload event skips Gradio's preprocessing)."""
        lines = []
        for file in files or []:
            file = file if isinstance(file, dict) else {}  # anything else is refused as "not uploaded"
            temporary = str(file.get("path") or "")
            name = str(file.get("orig_name") or Path(temporary).name)
            try:
                self.service.require_ready()
                with open(self.service.page_upload(temporary), "rb") as upload:
                    saved = self.service.save_upload(name, upload)
                report = self.service.ingest_upload(saved, ingest_progress(tracker, name))
                lines.append(f"**{escape_markdown(saved.name)}**: {report.summary()}")
            except Rejected as exc:
                lines.append(f"**{escape_markdown(name)}** was not added: {escape_markdown(exc.message)}")
            finally:
                # Gradio's copy goes whether or not the file was added: the uploads folder keeps the
                # only copy, so deleting the document deletes every copy.
                self.service.discard_page_upload(temporary)
        return "\n\n".join(lines), *self.list_documents()

    def add_url(self, url: str, tracker: gr.Progress = _PROGRESS) -> tuple[Any, ...]:
        try:
            self.service.require_ready()
            report = self.service.ingest_url(url, ingest_progress(tracker, url.strip()[:80]))
            status = f"**{escape_markdown(url.strip())}**: {report.summary()}"
            url = ""
        except Rejected as exc:
            status = f"Not added: {escape_markdown(exc.message)}"
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
