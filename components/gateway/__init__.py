"""The gateway: the `Gateway` component and the Aperture config dynamic provider, its client and merge."""

from components.gateway.gateway import Gateway, GatewayArgs

__all__ = ["Gateway", "GatewayArgs"]
