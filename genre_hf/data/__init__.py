"""Data sets in, clean rows out: sources, splits, cleaning, the upstream and MM-IMDb layouts, posters as arrays. Imports no model code."""
