"""Attribution graphs: trace a next-token prediction through per-layer transcoder features (issue 17).

``api.open_graph_model(model_dir, transcoder_dir)`` then ``.graph(prompt)``; ``trace.trace`` for notebooks;
``frozen`` (the local replacement model), ``attribute`` (edges), ``prune`` (influence, pruning, fidelity),
``interventions`` (feature edits in the real model), ``paths``, ``validate``, ``export`` (circuit-tracer JSON).
Modules import torch; this package file does not, so the CLI stays quick.
"""
