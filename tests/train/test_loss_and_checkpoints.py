"""Loss weighting (per sequence as s1, or per token) and sealed, checksummed checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s1slurm.train.checkpoints import MARKER, CheckpointManager, verify

torch = pytest.importorskip("torch")


def test_sequence_weighting_gives_each_sequence_the_same_weight_token_weighting_each_token():
    from s1slurm.train.trainer import sequence_mean_loss

    torch.manual_seed(0)
    vocab, width = 11, 10
    logits = torch.randn(2, width, vocab, requires_grad=True)
    labels = torch.full((2, width), -100)
    labels[0, 1:3] = torch.tensor([1, 2])  # a short sequence: 2 predicted tokens
    labels[1, 1:9] = torch.arange(3, 11)  # a long one: 8 predicted tokens

    def token_losses(i: int) -> torch.Tensor:
        lab = labels[i, 1:]
        keep = lab != -100
        return torch.nn.functional.cross_entropy(logits[i, :-1][keep], lab[keep], reduction="none")

    def grad_of(loss: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(loss, logits)[0]

    seq = grad_of(sequence_mean_loss(logits, labels))
    assert seq.shape == logits.shape
    # the reference: the mean over each sequence's tokens, then over the two sequences
    assert torch.allclose(seq, grad_of((token_losses(0).mean() + token_losses(1).mean()) / 2), atol=1e-7)
    # token weighting (transformers' default): every one of the 10 tokens weighs 1/10
    tok = grad_of(torch.cat([token_losses(0), token_losses(1)]).mean())
    # a token of the short sequence weighs 1/(2 sequences x 2 tokens) = 1/4 against 1/10 ...
    assert (seq[0, 1].norm() / tok[0, 1].norm()).item() == pytest.approx((1 / 4) / (1 / 10), rel=1e-5)
    # ... and one of the long sequence 1/(2 x 8) = 1/16 against 1/10: long traces weigh more per token
    assert (seq[1, 1].norm() / tok[1, 1].norm()).item() == pytest.approx((1 / 16) / (1 / 10), rel=1e-5)


def stage(manager: CheckpointManager, step: int, payload: bytes) -> None:
    folder = manager.staging_path(step)
    (folder / "global_step").mkdir(parents=True)
    (folder / "global_step" / "zero_pp_rank_0_optim_states.pt").write_bytes(payload)
    (folder / "trainer_state.json").write_text(json.dumps({"step": step}))


def test_a_sealed_checkpoint_lists_checksums_and_a_corrupted_file_falls_back_to_the_previous(tmp_path: Path):
    manager = CheckpointManager(tmp_path / "checkpoints", keep_last=2)
    stage(manager, 2, b"a" * 1000)
    manager.finalize(2)
    stage(manager, 4, b"b" * 1000)
    newest = manager.finalize(4)
    marker = json.loads((newest / MARKER).read_text())
    entry = marker["files"]["global_step/zero_pp_rank_0_optim_states.pt"]
    assert entry["size"] == 1000 and len(entry["sha256"]) == 64
    assert manager.latest(checksums=True) == newest
    # same size, different bytes: only the checksum can tell
    (newest / "global_step" / "zero_pp_rank_0_optim_states.pt").write_bytes(b"c" * 1000)
    assert verify(newest) is None
    assert "does not match its checksum" in verify(newest, checksums=True)
    assert manager.latest(checksums=True) == manager.final_path(2)


def test_the_ranks_seal_disjoint_shares_that_cover_every_file(tmp_path: Path):
    from s1slurm.train.checkpoints import file_sizes, seal_files

    manager = CheckpointManager(tmp_path / "c", keep_last=1)
    stage(manager, 1, b"x" * 10)
    folder = manager.staging_path(1)
    (folder / "extra.bin").write_bytes(b"y")
    shares = [seal_files(folder, rank, 2) for rank in range(2)]
    assert not set(shares[0]) & set(shares[1])
    assert set(shares[0]) | set(shares[1]) == set(file_sizes(folder))
    final = manager.finalize(1, sealed={k: v for s in shares for k, v in s.items()})
    assert verify(final, checksums=True) is None
