"""The GPU host: the `InferenceHost` component, its `HostState` dynamic resource, SSH and remote scripts."""

from components.host.inference_host import InferenceHost, InferenceHostArgs

__all__ = ["InferenceHost", "InferenceHostArgs"]
