"""A fake vLLM OpenAI-compatible server for the sandbox (docs/architecture.md §10.4).

`serve()` starts one in a daemon thread; `python -m sandbox.vllm --host H --port P
--served-model-name NAME [--api-key K] [--startup-seconds S]` runs one in the foreground, as the
emulated `docker run` of a vLLM image does. `server` documents every behaviour and the token rule.
"""

from sandbox.vllm.server import VERSION, FakeVllm, ModelInfo, count_tokens, main, serve

__all__ = ["VERSION", "FakeVllm", "ModelInfo", "count_tokens", "main", "serve"]
