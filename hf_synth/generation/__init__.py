"""The generation stage: fills planned slots with rows through an LLM backend, resumably.

`slots` (`SlotSpec`, what is filled), `request_builder` (request keys and requests), `engine` (rounds of
concurrent requests, checks, dedup, progress), `runstore` (the SQLite run store), `budget`, `pricing`,
`ratelimit`, `options` (`RunOptions`) and `backends/` (Anthropic, local).
"""
