"""The one readout: how residual-space vectors become logits, for predictions and for directions.

Two conventions, one place (every view and analysis calls this module):

- **Predictions** (``Readout.logits``): a residual stream row goes through the whole final norm (its own scale,
  gain and bias) and the unembedding (and its bias): exactly the model's last step, so the logit lens of the
  final layer equals the model's logits.
- **Directions** (``Readout.directions``): a direction (an SAE or transcoder decoder row, a neuron's output
  weights, a difference of means) has no scale of its own. It goes through the final norm's *linear part*:
  LayerNorm's centring, then the gain; the data-dependent scale is left out (the same positive factor for every
  token of one position, so it changes no ranking) and so are both biases (they do not depend on the
  direction). The result is the direction's direct effect on the logits up to that positive factor.

The norm's scale is also what makes the residual's components add up to the logit under a frozen norm:
``FinalNorm.read_direction`` maps a logit direction back into the residual stream for direct logit attribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jaxtyping import Float
from torch import Tensor, nn

if TYPE_CHECKING:
    from .handle import Model
    from .transformer import TinyLM


@dataclass(frozen=True)
class FinalNorm:
    """The model's final norm as (centre?, gain, bias, eps), float32 on the CPU."""

    center: bool
    weight: Float[Tensor, " d"]
    bias: Float[Tensor, " d"] | None
    eps: float

    def scale(self, x: Float[Tensor, "... d"]) -> Float[Tensor, "... 1"]:
        x = x.float()
        if self.center:
            return (x.var(-1, unbiased=False, keepdim=True) + self.eps).sqrt()
        return (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()

    def __call__(self, x: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
        x = x.float()
        y = (x - x.mean(-1, keepdim=True) if self.center else x) / self.scale(x) * self.weight
        return y + self.bias if self.bias is not None else y

    def linear(self, u: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
        """The norm's linear part: centring (LayerNorm) and the gain, no scale, no bias."""
        u = u.float()
        return (u - u.mean(-1, keepdim=True) if self.center else u) * self.weight

    def read_direction(self, u: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
        """g such that (frozen norm of c) . u == (c . g) / scale for every component c of the residual."""
        g = u * self.weight
        return g - g.mean(-1, keepdim=True) if self.center else g


@dataclass(frozen=True)
class Readout:
    """The final norm and the unembedding, float32 on the CPU."""

    norm: FinalNorm
    W_U: Float[Tensor, "vocab d"]
    b_U: Float[Tensor, " vocab"] | None

    def logits(self, resid: Float[Tensor, "... d"]) -> Float[Tensor, "... vocab"]:
        """Predictions: the whole final norm and the unembedding, as the model's forward ends."""
        out = self.norm(resid.detach().cpu()) @ self.W_U.T
        return out + self.b_U if self.b_U is not None else out

    def directions(self, directions: Float[Tensor, "... d"]) -> Float[Tensor, "... vocab"]:
        """Directions: the norm's linear part (centring, gain) and the unembedding; no scale, no biases."""
        return self.norm.linear(directions.detach().cpu()) @ self.W_U.T


def _param(module: nn.Module, name: str) -> Tensor | None:
    """A weight or bias as float32 on the CPU; None when the module has none."""
    t = getattr(module, name, None)
    return t.detach().float().cpu() if isinstance(t, Tensor) else None


def _norm_and_unembed(model: object) -> tuple[nn.Module, nn.Module]:
    from .handle import Model
    from .transformer import TinyLM

    net = model.module if isinstance(model, Model) else model
    if isinstance(net, TinyLM):
        return net.norm_f, net.unembed
    # a TransformerLens bridge: the wrapped Hugging Face modules
    return net.ln_final.original_component, net.unembed.original_component  # type: ignore[attr-defined]


def readout_of(model: TinyLM | Model | nn.Module) -> Readout:
    """The readout of a TinyLM, a ``tiny_interp.Model`` or a TransformerLens bridge (``Model.readout`` keeps
    one per handle)."""
    norm_mod, unembed = _norm_and_unembed(model)
    eps = getattr(norm_mod, "eps", None) or getattr(norm_mod, "variance_epsilon", None) or 1e-5
    weight, W_U = _param(norm_mod, "weight"), _param(unembed, "weight")
    if weight is None or W_U is None:
        raise TypeError(f"{type(norm_mod).__name__} / {type(unembed).__name__}: expected a final norm with a gain")
    norm = FinalNorm(isinstance(norm_mod, nn.LayerNorm), weight, _param(norm_mod, "bias"), float(eps))
    return Readout(norm, W_U, _param(unembed, "bias"))
