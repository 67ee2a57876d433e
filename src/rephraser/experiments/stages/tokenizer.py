"""tokenizer: one BPE per grid, trained on the sources' training splits."""

from __future__ import annotations

from rephraser.atomic import atomic_write_text
from rephraser.experiments.stages.base import KINDS, NoMeta, RunContext, Stage, StageOutputs, StageSpec
from rephraser.experiments.stages.source import SourceStage
from rephraser.mix.tokenize import train_bpe


class TokenizerSpec(StageSpec):
    vocab_size: int
    min_frequency: int
    max_docs: int | None = None  # per source


class TokenizerOutputs(StageOutputs):
    vocab_size: int | None = None
    documents: int | None = None


@KINDS.register
class TokenizerStage(Stage[TokenizerSpec, NoMeta]):
    kind = "tokenizer"
    rank = 1
    Outputs = TokenizerOutputs

    def run(self, ctx: RunContext) -> TokenizerOutputs:
        texts: list[str] = []
        for src in self.deps_of(SourceStage):
            texts.extend(src.texts(ctx.out, "train", self.spec.max_docs))
        tok = train_bpe(texts, vocab_size=self.spec.vocab_size, min_frequency=self.spec.min_frequency)
        atomic_write_text(ctx.dir / "tokenizer.json", tok.to_str(pretty=True))
        vocab = tok.get_vocab_size(with_added_tokens=True)
        ctx.log(f"tokenizer: BPE with {vocab} tokens trained on {len(texts)} source documents")
        return TokenizerOutputs(vocab_size=vocab, documents=len(texts))
