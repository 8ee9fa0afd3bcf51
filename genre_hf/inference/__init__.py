"""Using a trained model: `GenreClassifier` (predict, explain, from_pretrained), input checks and batch prediction to a file."""
