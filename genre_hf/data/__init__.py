"""Data sets in, clean rows out: sources, splits, cleaning, the upstream and MM-IMDb layouts, posters as arrays. Imports no model code."""

MAX_GENRE_CHARS = 40  # characters in one genre's name: the longest a model may have (here: config.json's check needs no `datasets`)
