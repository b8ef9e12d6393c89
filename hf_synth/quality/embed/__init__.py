"""Text embeddings for the quality stage: `sentence` (sentence-transformers with a disk cache), `static`
(a model2vec distillation, ~100x faster), `store` (memory-mapped embedding stores), `ray_engine`
(Ray Data)."""
