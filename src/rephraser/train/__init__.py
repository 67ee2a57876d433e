"""Proxy training: the proxy model, its data loader over `mix`'s token shards, the loop (one process or
many under torchrun), resumable checkpoints, schedule and throughput. Reads token shards; `evaluate`
scores what it writes."""
