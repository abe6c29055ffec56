"""tiny-interp: train, open, inspect and grade TinyStories-scale language models.

Everything a notebook needs is importable from here (``from tiny_interp import Model, StoryInspector``). Names
are resolved on first use (module ``__getattr__``), so ``import tiny_interp`` and ``tiny-interp --help`` stay
instant: torch, transformers and the widgets load only when a name that needs them is touched.
"""

from __future__ import annotations

import importlib

from . import quiet

__version__ = "0.1.0"
quiet.install()  # before any model loads: third-party noise stays out of cells and reports

# public name -> the module that defines it (a name that differs there is written "module:name")
_EXPORTS: dict[str, str] = {
    # the model handle and the bridge
    "Model": "tiny_interp.model.handle",
    "ModelCard": "tiny_interp.model.handle",
    "ModelConfig": "tiny_interp.model.config",
    "Readout": "tiny_interp.model.readout",
    "readout_of": "tiny_interp.model.readout",
    "load": "tiny_interp.loading",
    "SamplingConfig": "tiny_interp.model.sampling",
    # why a head attends (QK attribution)
    "attention_why": "tiny_interp.qk.why",
    "explainer_for": "tiny_interp.qk.why",
    "AttentionWhy": "tiny_interp.qk.why",
    "QKExplainer": "tiny_interp.qk.engine",
    "why_table": "tiny_interp.qk.table",
    "qk_shares": "tiny_interp.qk.shares",
    "qk_kind_summary": "tiny_interp.qk.shares",
    "qk_summary_markdown": "tiny_interp.qk.shares",
    "qk_findings": "tiny_interp.qk.shares",
    "qk_story_ids": "tiny_interp.qk.shares",
    "head_labels": "tiny_interp.interp.heads",
    # views
    "AttentionExplorer": "tiny_interp.widgets.attention",
    "NeuronExplorer": "tiny_interp.widgets.neurons",
    "StoryInspector": "tiny_interp.widgets.story",
    "FeatureExplorer": "tiny_interp.widgets.features",
    "GraphView": "tiny_interp.widgets.graph",
    "ExplanationTable": "tiny_interp.autointerp.view",
    "save_html": "tiny_interp.widgets.render",
    "pattern_figure": "tiny_interp.workbench.attention",
    "text_pattern": "tiny_interp.workbench.attention",
    # analyses
    "logit_lens": "tiny_interp.interp.lens",
    "direct_logit_attribution": "tiny_interp.interp.lens",
    "activation_patching": "tiny_interp.interp.patching",
    "head_taxonomy": "tiny_interp.interp.heads",
    "attention_patterns": "tiny_interp.interp.patterns",
    "list_checkpoints": "tiny_interp.interp.dynamics",
    "training_dynamics": "tiny_interp.interp.dynamics",
    # training
    "TrainConfig": "tiny_interp.train.config",
    "train_model": "tiny_interp.train.loop:train",  # not "train": that is the subpackage tiny_interp.train
    "read_metrics": "tiny_interp.train.loop",
    "train_live": "tiny_interp.workbench.live",
    "train_argv": "tiny_interp.workbench.live",
    "loss_figure": "tiny_interp.workbench.live",
    "saved_step": "tiny_interp.workbench.live",
    # dictionaries
    "SAE": "tiny_interp.features.sae",
    "SAEConfig": "tiny_interp.features.sae",
    "load_sae": "tiny_interp.features.sae",
    "SAETrainConfig": "tiny_interp.features.config",
    "SAETrainer": "tiny_interp.features.trainer:Trainer",
    "dictionary_dirs": "tiny_interp.features.card",
    "load_dictionaries": "tiny_interp.features.card",
    # atlases
    "Atlas": "tiny_interp.interp.atlas",
    "AtlasConfig": "tiny_interp.atlas_config",
    "build_atlas": "tiny_interp.interp.atlas",
    "open_atlas": "tiny_interp.interp.atlas",
    "FeatureAtlas": "tiny_interp.features.feature_atlas",
    "build_feature_atlas": "tiny_interp.features.feature_atlas",
    "neurons_vs_features": "tiny_interp.features.compare",
    # auto-interp
    "AutointerpConfig": "tiny_interp.autointerp",
    "HeldoutConfig": "tiny_interp.autointerp",
    "run_autointerp": "tiny_interp.autointerp",
    "compare_sets": "tiny_interp.autointerp.compare",
    "distribution_figure": "tiny_interp.autointerp.compare",
    "ensure_feature_atlas": "tiny_interp.autointerp.compare",
    "shipped_sae": "tiny_interp.autointerp.compare",
    "summary_table": "tiny_interp.autointerp.compare",
    "working_copy": "tiny_interp.autointerp.compare",
    # attribution graphs
    "GraphConfig": "tiny_interp.graphs.config",
    "open_graph_model": "tiny_interp.graphs.api",
    "trace": "tiny_interp.graphs.trace",
    # stories and LLM jobs (synthesis, completions, grading)
    "read_stories": "tiny_interp.data.stories",
    "RunnerConfig": "tiny_interp.llm.runner",
    "run_items_async": "tiny_interp.llm.runner",
    "SynthConfig": "tiny_interp.llm.synth",
    "dataset_records": "tiny_interp.llm.synth",
    "story_handler": "tiny_interp.llm.synth",
    "synth_items": "tiny_interp.llm.synth",
    "CompleteConfig": "tiny_interp.llm.complete",
    "complete": "tiny_interp.llm.complete",
    "eval_prompts": "tiny_interp.llm.prompts",
    "latest_records": "tiny_interp.llm.records",
    "grade_figure": "tiny_interp.llm.grade",
    "grade_handler": "tiny_interp.llm.grade",
    "grade_items": "tiny_interp.llm.grade",
    "grade_prompt": "tiny_interp.llm.grade",
    "grade_table": "tiny_interp.llm.grade",
    "load_paper_figures": "tiny_interp.llm.grade",
    "paper_markdown": "tiny_interp.llm.grade",
    "table_markdown": "tiny_interp.llm.grade",
    # reports and the notebooks' helpers
    "note_run": "tiny_interp.report",
    "build_report": "tiny_interp.report",
    "setup": "tiny_interp.workbench.notebook",
    "pick_model": "tiny_interp.workbench.notebook",
    "pick_path": "tiny_interp.workbench.notebook",
    "endpoint_mode": "tiny_interp.workbench.llm",
    "items_table": "tiny_interp.workbench.llm",
    "class_neurons": "tiny_interp.workbench.paper",
    "head_kind_figure": "tiny_interp.workbench.paper",
    "head_kinds": "tiny_interp.workbench.paper",
    "neuron_model": "tiny_interp.workbench.paper",
    # where things are
    "REPO_ROOT": "tiny_interp.defaults",
    "SHIPPED_MODELS": "tiny_interp.defaults",
    "SHARED_TRAIN": "tiny_interp.defaults",
    "SHARED_VALID": "tiny_interp.defaults",
    "default_model_dir": "tiny_interp.defaults",
    "default_neuron_model": "tiny_interp.defaults",
    "default_dynamics_run": "tiny_interp.defaults",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> object:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'tiny_interp' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name), attr or name)
    globals()[name] = value  # resolved once; later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
