"""Posters of every mode and size become 64x64 RGB; bad posters give a clear ValueError."""


import numpy as np
import pytest
from PIL import Image

from genre_hf.features import choose_sequence_length, multi_hot
from genre_hf.posters import poster_to_array


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "1", "I;16", "I", "F"])
def test_every_mode_becomes_rgb(sample_movie, mode):
    poster = Image.open(sample_movie[0])
    converted = poster.convert(mode) if mode not in ("I;16", "I", "F") else poster.convert("L").convert(mode)
    array = poster_to_array(converted, 64)
    assert array.shape == (64, 64, 3) and array.dtype == np.uint8
    assert array.std() > 0  # the picture survived


def test_transparency_is_composited_on_white():
    image = Image.new("RGBA", (30, 50), (255, 0, 0, 0))
    assert (poster_to_array(image, 64) == 255).all()


def test_paths_bytes_and_arrays_agree(sample_movie):
    path = sample_movie[0]
    from_path = poster_to_array(path, 64)
    assert (poster_to_array(path.read_bytes(), 64) == from_path).all()
    decoded = np.asarray(Image.open(path).convert("RGB"))
    assert np.abs(poster_to_array(decoded, 64).astype(int) - from_path).max() <= 1
    assert np.abs(poster_to_array(decoded / 255.0, 64).astype(int) - from_path).max() <= 1


def test_huge_jpeg_is_decoded_at_reduced_scale(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (10_000, 10_000), (10, 200, 30)).save(path, quality=50)
    array = poster_to_array(path, 64)
    assert array.shape == (64, 64, 3)
    assert abs(int(array[..., 1].mean()) - 200) < 5


@pytest.mark.parametrize(
    "poster, message",
    [
        (b"this is not an image", "not a readable image"),
        ("/definitely/missing.jpg", "not found"),
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 2), np.uint8), "HxW"),
        (np.full((4, 4, 3), np.nan), "NaN"),
        (42, "must be a path"),
    ],
)
def test_bad_posters_are_clear_errors(poster, message):
    with pytest.raises(ValueError, match=message):
        poster_to_array(poster, 64)


def test_truncated_jpeg_is_an_error(sample_movie):
    data = sample_movie[0].read_bytes()
    with pytest.raises(ValueError, match="decoded|readable"):
        poster_to_array(data[: len(data) // 2], 64)


def test_multi_hot_and_sequence_length():
    labels = multi_hot([["Drama", "Unknown"], []], ["Comedy", "Drama"])
    assert labels.tolist() == [[0, 1], [0, 0]]
    texts = ["one two three"] * 99 + ["a " * 100]
    assert choose_sequence_length(texts, 95) == 8  # the floor
    assert choose_sequence_length(["w " * 30] * 10, 99) == 30
