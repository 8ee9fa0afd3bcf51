"""The Gradio Space: its page, API answers, explanations view, examples and publishing. The only importer of gradio."""
