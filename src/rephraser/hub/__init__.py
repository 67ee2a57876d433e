"""The Hugging Face Hub as an output: huggingface_hub calls (client.py) and live uploads of committed
parts while a run goes on (live.py). `rephraser push` (report/hub_push.py) builds on these."""
