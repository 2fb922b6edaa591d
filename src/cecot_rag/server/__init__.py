"""The web front end: a FastAPI app serving the Gradio chat page at / and the REST API at /api/v1."""
