"""The Keras pieces: custom layers, the tokenizer, one encoder per module (registered), and the three models built on them."""
