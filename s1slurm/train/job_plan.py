"""Everything derived from one training spec and its resolved profile (no torch needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s1slurm.config.cluster import Profile
from s1slurm.core.rundir import RunDir
from s1slurm.train import deepspeed as ds
from s1slurm.train.recipe import Layout, gradient_accumulation, layout_for
from s1slurm.train.spec import TrainSpec

# manifest.json key under which the stage records the DeepSpeed template read at submission.
MANIFEST_TEMPLATE_KEY = "deepspeed_template"


@dataclass(frozen=True)
class TrainPlan:
    """The spec, its layout and gradient accumulation, and the DeepSpeed template."""

    spec: TrainSpec
    profile: Profile
    layout: Layout
    accumulation: int
    template: dict[str, Any]

    @classmethod
    def build(
        cls,
        spec: TrainSpec,
        profile: Profile,
        template: dict[str, Any] | None = None,
        *,
        file: str | None = None,
    ) -> TrainPlan:
        """Check the layout against the recipe; ConfigError (exit 2) when it cannot work."""
        layout = layout_for(
            profile,
            spec.launch.processes_per_node,
            sequence_parallel=spec.memory.sequence_parallel_size,
            file=file,
        )
        accumulation = gradient_accumulation(
            spec.recipe.global_batch_size,
            layout.data_parallel,
            spec.recipe.micro_batch_size,
            file=file,
            sequence_parallel=layout.sequence_parallel,
        )
        if template is None:
            template = ds.load_template(Path(spec.deepspeed))
        return cls(spec, profile, layout, accumulation, template)

    @classmethod
    def from_manifest(cls, run: RunDir) -> TrainPlan:
        """The plan of a submitted run, from its manifest (the single source of truth)."""
        manifest = run.read_manifest()
        spec = TrainSpec.model_validate(manifest["spec"])
        profile = Profile.model_validate(manifest["profile"])
        return cls.build(spec, profile, manifest.get(MANIFEST_TEMPLATE_KEY))

    def deepspeed_config(self) -> dict[str, Any]:
        r, m = self.spec.recipe, self.spec.memory
        return ds.render(
            self.template,
            micro_batch=r.micro_batch_size,
            accumulation=self.accumulation,
            world_size=self.layout.world_size,
            precision=r.precision,
            max_grad_norm=r.max_grad_norm,
            sequence_parallel=self.layout.sequence_parallel,
            offload_optimizer=m.offload_optimizer,
            offload_parameters=m.offload_parameters,
        )

    def backend(self, cuda: bool) -> str:
        """torch.distributed backend: the spec's choice, else NCCL on GPUs and gloo on CPUs."""
        choice = self.spec.launch.backend
        return choice if choice != "auto" else ("nccl" if cuda else "gloo")
