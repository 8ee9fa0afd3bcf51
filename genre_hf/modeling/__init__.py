"""The Keras pieces: custom layers, the tokenizer, one encoder per module, the fusion head, and the
three models built on them. The models' names and what each reads are decided here, once."""

MODEL_NAMES = ("poster", "overview", "fusion")  # named by the inputs they read
MODEL_INPUTS = {"poster": ("poster",), "overview": ("overview",), "fusion": ("poster", "overview")}
