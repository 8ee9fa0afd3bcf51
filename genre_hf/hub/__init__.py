"""The model folder format (every file name), its card, and moving folders to and from the Hugging Face Hub."""
