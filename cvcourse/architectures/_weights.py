"""The builders' ``weights=`` argument: the course never downloads, so only ``None`` is accepted.

torchvision's builders take ``weights=`` to download pretrained weights; ours keep the keyword so
that code written for torchvision reads the same, and say how to get the weights instead.
"""

from __future__ import annotations


def check_no_weights(weights: object, builder: str) -> None:
    """The course never downloads: ``weights`` must be None (the error says how to load them)."""
    if weights is not None:
        raise ValueError(
            f"{builder}(weights=...) is not supported: cvcourse never downloads. Build "
            f"torchvision.models.{builder}(weights={weights!r}) online and copy its weights with "
            f"model.load_state_dict(tv_model.state_dict(), strict=True); got weights={weights!r}"
        )
