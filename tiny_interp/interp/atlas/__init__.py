"""Atlases: stream a corpus through a model and keep, for every unit (MLP neuron or dictionary feature), what
fires it: top-k (story, position) examples with the unit's activations over a window of tokens around each,
quantile examples (a few drawn at random from each activation band below the top), summary statistics, a
histogram and its mean activation per vocabulary token.

Rooms: ``units`` (which activations, read through the hook seam), ``accumulator`` (the streaming state),
``quantiles`` (its seeded, mergeable sample of each activation band),
``build`` and ``workers`` (batches, checkpoints, resume, worker processes), ``fileformat`` (files and output
directories), ``query`` (the ``Atlas`` reader). Memory is bounded (a running top-k merged batch by batch); the
state is checkpointed atomically every ``checkpoint_every`` batches and a stopped build resumes from it. A neuron
atlas lives beside the model in ``<model_dir>/atlas/`` and opens with memory maps in milliseconds.
"""

from ...atlas_config import AtlasConfig
from .accumulator import AtlasState
from .build import BuildJob, batch_plan, build_atlas, corpus_fingerprint, default_atlas_dir
from .fileformat import FORMAT_VERSION, STAT_COLUMNS, quantized_token_means
from .query import Atlas, open_atlas
from .units import UnitBlock, Units, neuron_activations, neuron_units
from .workers import shard_bounds

__all__ = [
    "Atlas",
    "AtlasConfig",
    "AtlasState",
    "BuildJob",
    "FORMAT_VERSION",
    "STAT_COLUMNS",
    "UnitBlock",
    "Units",
    "batch_plan",
    "build_atlas",
    "corpus_fingerprint",
    "default_atlas_dir",
    "neuron_activations",
    "neuron_units",
    "open_atlas",
    "quantized_token_means",
    "shard_bounds",
]
