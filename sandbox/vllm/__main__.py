"""`python -m sandbox.vllm`: run the fake vLLM in the foreground (see `sandbox.vllm.server`)."""

from sandbox.vllm.server import main

raise SystemExit(main())
