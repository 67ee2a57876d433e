"""A tiny random-init BERT sequence classifier built locally (offline): the shape of FineWeb-Edu's
regression head (1 label) or of a two-class quality head, small enough for unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def bert_classifier(root: Path, num_labels: int, texts: Sequence[str]) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(list(texts) * 5, trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", model_max_length=64)
    import torch

    torch.manual_seed(0)
    labels = {"id2label": {0: "cc", 1: "hq"}, "label2id": {"cc": 0, "hq": 1}} if num_labels == 2 else {}
    cfg = BertConfig(vocab_size=fast.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, num_labels=num_labels, **labels)
    out = root / f"bert{num_labels}"
    BertForSequenceClassification(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out
