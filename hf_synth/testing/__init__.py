"""Test doubles shipped with the package: `messages_server`, a loopback Anthropic Messages API that the real
`anthropic` SDK talks to (used by the tests, the benchmarks and anyone rehearsing a run offline)."""
