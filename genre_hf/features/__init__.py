"""Movies to the named arrays the models read, in memory or in an on-disk cache, and the tf.data pipelines over them."""
