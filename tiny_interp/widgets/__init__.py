"""Notebook views: ``AttentionExplorer(model)``, ``NeuronExplorer(model)``, ``StoryInspector(model)``.

All three stand on one rendering layer (``render``): our own small JS/CSS bundle drawing compact JSON. Live in
JupyterLab/VS Code/Colab through anywidget; exported HTML keeps a working static twin of each view; ``save_html``
writes a self-contained page. Nothing loads from the network.
"""

from .attention import AttentionExplorer, story_attention
from .neurons import NeuronExplorer, neuron_data
from .render import reset_page, safe_json, save_html
from .story import StoryInspector, story_data

__all__ = [
    "AttentionExplorer",
    "NeuronExplorer",
    "StoryInspector",
    "neuron_data",
    "reset_page",
    "safe_json",
    "save_html",
    "story_attention",
    "story_data",
]
