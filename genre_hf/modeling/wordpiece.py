"""BERT's uncased WordPiece in plain Python: the ids KerasHub's `BertTokenizer` gives (through
TensorFlow Text's FastWordpiece), without TensorFlow.

The steps are KerasHub's (`word_piece_tokenizer.pretokenize`, with lowercase and strip_accents):
accents stripped (NFD, marks removed); the text split on ASCII whitespace, control and format
characters (dropped) and on punctuation and CJK characters (each kept as a word); each word case
folded (NFKC_Casefold); then the greedy longest-match WordPiece, `##` before a word's later pieces,
a word that cannot be pieced (or longer than 100 bytes) one [UNK]. Each character is classified once
per process and each word pieced once (up to WORD_MEMORY), so a batch costs a `str.translate` per text
and a dictionary look-up per word. tests/test_litert.py holds it to KerasHub's ids on every overview
of the data.
"""

from __future__ import annotations

import unicodedata

MAX_BYTES_PER_WORD = 100  # FastWordpiece gives a longer word [UNK]
WORD_MEMORY = 200_000
SUFFIX = "##"
SPLIT = "\x00"  # what every delimiter becomes before the text is cut (a control character: never inside a word)
CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
       (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
ASCII_PUNCTUATION = {chr(c) for c in (*range(0x21, 0x30), *range(0x3A, 0x41), *range(0x5B, 0x61), *range(0x7B, 0x7F))}
# What NFKC_Casefold drops besides format characters (Unicode's Default_Ignorable_Code_Point beyond Cf).
IGNORABLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810), *range(0xFE00, 0xFE10),
             *range(0x2065, 0x2070), *range(0xE0000, 0xE1000), *range(0xFFF0, 0xFFF9)}


class _Delimiters(dict):
    """str.translate's table: a delimiter to SPLIT (dropped) or to itself between SPLITs (kept as a
    word); any other character to itself. Filled as characters are first seen."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        category = unicodedata.category(char)
        if char in " \t\n\r\f" or category in ("Cc", "Cf"):
            value = SPLIT
        elif char in ASCII_PUNCTUATION or category.startswith("P") or any(low <= code <= high for low, high in CJK):
            value = SPLIT + char + SPLIT
        else:
            value = char
        self[code] = value
        return value


def casefold(word: str) -> str:
    """NFKC_Casefold, as ICU (TensorFlow Text's case_fold_utf8) applies it."""
    if word.isascii():
        return word.lower()
    word = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
    return "".join(c for c in word if ord(c) not in IGNORABLE and unicodedata.category(c) != "Cf")


def strip_accents(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


class WordPiece:
    """Texts -> WordPiece ids (no [CLS] or [SEP]) over a BERT vocabulary (vocab.txt: one token a line)."""

    def __init__(self, vocabulary: list[str], unknown: str = "[UNK]"):
        self.ids = {token: index for index, token in enumerate(vocabulary)}
        if unknown not in self.ids:
            raise ValueError(f"the WordPiece vocabulary has no {unknown} token")
        self.unknown = self.ids[unknown]
        self._table = _Delimiters()
        self._words: dict[str, list[int]] = {}

    def token_id(self, token: str) -> int:
        return self.ids[token]

    def __call__(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]

    def encode(self, text: str) -> list[int]:
        ids, words = [], self._words
        for word in strip_accents(text).translate(self._table).split(SPLIT):
            if not word:
                continue
            pieces = words.get(word)
            if pieces is None:
                if len(words) >= WORD_MEMORY:
                    words.clear()
                pieces = words[word] = self._pieces(casefold(word))
            ids.extend(pieces)
        return ids

    def _pieces(self, word: str) -> list[int]:
        """Greedy longest match first; a word that cannot be pieced whole is one [UNK]."""
        if not word:
            return []
        if len(word.encode("utf-8")) > MAX_BYTES_PER_WORD:
            return [self.unknown]
        pieces, start, ids = [], 0, self.ids
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else SUFFIX + word[start:end]
                if piece in ids:
                    pieces.append(ids[piece])
                    break
                end -= 1
            else:
                return [self.unknown]
            start = end
        return pieces
