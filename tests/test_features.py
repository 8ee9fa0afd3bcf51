"""Genre lists become multi-hot rows; the sequence length covers most overviews (posters: test_posters.py)."""

from genre_hf.features.featurizer import multi_hot
from genre_hf.training.prepare import choose_sequence_length


def test_multi_hot_and_sequence_length():
    labels = multi_hot([["Drama", "Unknown"], []], ["Comedy", "Drama"])
    assert labels.tolist() == [[0, 1], [0, 0]]
    texts = ["one two three"] * 99 + ["a " * 100]
    assert choose_sequence_length(texts, 95) == 8  # the floor
    assert choose_sequence_length(["w " * 30] * 10, 99) == 30


def test_a_chosen_sequence_length_stays_within_its_range():
    assert choose_sequence_length(["w " * 2000] * 10, 99) == 512  # an MM-IMDb plot can be that long
