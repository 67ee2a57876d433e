"""Throughput -> device-hours and money, and projections from a pilot run or a reference table.

Everything here is plain arithmetic on measured numbers, so a plan can be made before any GPU is
rented: the offline table holds the study's measured single-H100 throughputs (vLLM, tuned), and
`project_from_pilot` scales a short local pilot to the full input.

Time model for a pilot (why "waves"): the runner keeps up to `window` requests in flight and the
engine decodes them together, so a run of N documents takes about ceil(N / window) rounds of one
request's latency, plus a fixed start-up (loading a model, starting a server, first-call warm-up).
A throughput measured on a pilot smaller than the window would otherwise under-predict a full run
badly, and a fixed cost hidden in a short pilot's time would be multiplied by the full run's rounds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SECONDS_PER_HOUR = 3600.0
BILLION = 1e9

# From the FinePhrase study ("How Can We Synthesize High-Quality Pretraining Data?", arXiv 2604.13977):
# the released dataset (486B output tokens in ~14.7k H100-hours) and the REWIRE comparison point.
FINEPHRASE_OUTPUT_TOKENS = 486e9
FINEPHRASE_GPU_HOURS = 14.7e3
FINEPHRASE_TOKENS_PER_GPU_HOUR = FINEPHRASE_OUTPUT_TOKENS / FINEPHRASE_GPU_HOURS  # ~33M
REWIRE_TOKENS_PER_GPU_HOUR = 1.1e6
MEAN_OUTPUT_TOKENS_PER_SAMPLE = 359  # FinePhrase average; used when no pilot measured it
DEFAULT_PRICE_PER_HOUR = 2.5  # USD per H100-hour; a typical on-demand cloud price, override freely


@dataclass(frozen=True)
class ReferenceThroughput:
    model: str
    output_tok_per_s: float
    hardware: str = "1x H100 80GB, vLLM"
    note: str = ""


_REFERENCES = [
    ReferenceThroughput("SmolLM2-135M", 45_500, note="tuned"),
    ReferenceThroughput("SmolLM2-360M", 24_000, note="tuned"),
    ReferenceThroughput("Gemma-3-270M", 23_600, note="tuned"),
    ReferenceThroughput("Gemma-3-1B", 16_800, note="tuned"),
    ReferenceThroughput("SmolLM2-1.7B", 9_200, note="tuned: prefix caching, chunked prefill, n-gram speculation"),
    ReferenceThroughput("SmolLM2-1.7B-untuned", 5_300, note="vLLM defaults"),
    ReferenceThroughput("Gemma-3-27B", 1_700, note="tuned"),
]
REFERENCE_THROUGHPUTS: dict[str, ReferenceThroughput] = {r.model.lower(): r for r in _REFERENCES}


def reference(model: str) -> ReferenceThroughput:
    """Look a model up in the offline table (case-insensitive; a missing '-instruct' suffix is fine)."""
    key = model.strip().lower().removesuffix("-instruct")
    if key not in REFERENCE_THROUGHPUTS:
        known = ", ".join(r.model for r in _REFERENCES)
        raise KeyError(f"no reference throughput for {model!r}; known: {known}")
    return REFERENCE_THROUGHPUTS[key]


def study_tok_s(model: str) -> tuple[float, str] | None:
    """The study's measured throughput for a served model path or name, with its source; None if not in the table."""
    try:
        ref = reference(model.rsplit("/", 1)[-1])
    except KeyError:
        return None
    return ref.output_tok_per_s, f"study table: {ref.model} on {ref.hardware}"


# ---- unit conversions --------------------------------------------------------------------------
def hours_per_billion(output_tok_per_s: float) -> float:
    """Device-hours to generate 1B output tokens at this aggregate throughput (per device).

    Returns math.inf when nothing was generated (throughput <= 0), so a stats file of a run whose
    every call failed still gets a value that compares as "worse than anything".
    """
    if not output_tok_per_s > 0:  # also catches NaN
        return math.inf
    return BILLION / output_tok_per_s / SECONDS_PER_HOUR


def cost_per_billion(output_tok_per_s: float, price_per_hour: float) -> float:
    return hours_per_billion(output_tok_per_s) * price_per_hour


# ---- projections -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PilotMeasurement:
    """What a pilot run measured. Counts are per (document, prompt, sample) request unit."""

    units: int  # requests that finished (ok + rejected + failed)
    units_ok: int
    input_tokens: int  # prompt tokens over all calls
    output_tokens: int  # generated tokens over all calls (kept or not)
    output_tokens_ok: int  # generated tokens of kept (status=ok) rows
    wall_s: float  # the whole pilot, start-up included
    startup_s: float = 0.0  # the part of wall_s spent before the first request (model load, server)
    window: int = 1  # requests decoded together (min of in-flight limit and engine batch slots)
    hardware: str = "this machine"
    round_latency_s: float | None = None  # measured directly (two-stage pilot); else derived from wall_s

    def __post_init__(self) -> None:
        if self.units <= 0:
            raise ValueError("the pilot finished no request; nothing to project from")
        if self.wall_s <= 0 or self.startup_s < 0 or self.startup_s >= self.wall_s:
            raise ValueError(f"pilot timing is inconsistent (wall {self.wall_s}s, start-up {self.startup_s}s)")
        if self.round_latency_s is not None and not self.round_latency_s > 0:
            raise ValueError(f"pilot round latency must be > 0, got {self.round_latency_s}")

    @property
    def generate_s(self) -> float:
        return self.wall_s - self.startup_s

    @property
    def round_s(self) -> float:
        """Latency of one round of `window` concurrent requests."""
        if self.round_latency_s is not None:
            return self.round_latency_s
        return self.generate_s / math.ceil(self.units / max(self.window, 1))

    @property
    def output_tok_per_s(self) -> float:
        """Throughput the pilot itself achieved (may be below steady state if units < window)."""
        return self.output_tokens / self.generate_s

    @property
    def steady_output_tok_per_s(self) -> float:
        """Throughput with the window full: one round yields `window` requests' worth of tokens."""
        return self.window * (self.output_tokens / self.units) / self.round_s


@dataclass
class Projection:
    source: str  # "pilot" | "reference:<model>"
    hardware: str
    devices: int
    units: int  # request units of the full input (docs x prompts x samples)
    input_tokens: float
    output_tokens: float  # generated
    output_tokens_kept: float  # in status=ok rows
    keep_rate: float
    output_tok_per_s: float  # per device, steady state
    wall_hours: float
    device_hours: float
    price_per_hour: float
    cost: float
    hours_per_billion: float
    cost_per_billion: float
    target_tokens: float | None = None
    target_units: float | None = None  # request units needed to keep target_tokens
    target_wall_hours: float | None = None
    target_device_hours: float | None = None
    target_cost: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finish(p: Projection, kept_per_unit: float, seconds_per_unit_per_device: float) -> Projection:
    if p.target_tokens is not None and kept_per_unit > 0:
        p.target_units = math.ceil(p.target_tokens / kept_per_unit)
        device_s = p.target_units * seconds_per_unit_per_device
        p.target_device_hours = device_s / SECONDS_PER_HOUR
        p.target_wall_hours = p.target_device_hours / p.devices
        p.target_cost = p.target_device_hours * p.price_per_hour
    elif p.target_tokens is not None:
        p.notes.append("the pilot kept no output, so no number of documents reaches the target")
    return p


def project_from_pilot(
    pilot: PilotMeasurement,
    full_units: int,
    *,
    price_per_hour: float = DEFAULT_PRICE_PER_HOUR,
    target_tokens: float | None = None,
    devices: int = 1,
) -> Projection:
    """Scale a pilot to `full_units` request units on `devices` copies of the pilot's hardware."""
    per_unit_out = pilot.output_tokens / pilot.units
    per_unit_in = pilot.input_tokens / pilot.units
    keep_rate = pilot.units_ok / pilot.units
    kept_per_unit = pilot.output_tokens_ok / pilot.units
    units_per_device = math.ceil(full_units / max(devices, 1))
    rounds = math.ceil(units_per_device / max(pilot.window, 1))
    wall_s = pilot.startup_s + rounds * pilot.round_s
    tps = pilot.steady_output_tok_per_s
    notes = []
    if pilot.units < pilot.window:
        notes.append(
            f"pilot ({pilot.units} requests) smaller than the in-flight window ({pilot.window}): "
            "assumes the engine keeps the same latency with a full batch; pilot more documents to check"
        )
    p = Projection(
        source="pilot",
        hardware=pilot.hardware,
        devices=devices,
        units=full_units,
        input_tokens=per_unit_in * full_units,
        output_tokens=per_unit_out * full_units,
        output_tokens_kept=kept_per_unit * full_units,
        keep_rate=keep_rate,
        output_tok_per_s=tps,
        wall_hours=wall_s / SECONDS_PER_HOUR,
        device_hours=wall_s * devices / SECONDS_PER_HOUR,
        price_per_hour=price_per_hour,
        cost=wall_s * devices / SECONDS_PER_HOUR * price_per_hour,
        hours_per_billion=hours_per_billion(tps),
        cost_per_billion=cost_per_billion(tps, price_per_hour),
        target_tokens=target_tokens,
        notes=notes,
    )
    seconds_per_unit = pilot.round_s / max(pilot.window, 1)
    return _finish(p, kept_per_unit, seconds_per_unit)


def project_from_reference(
    model: str,
    full_units: int,
    *,
    output_tokens_per_unit: float = MEAN_OUTPUT_TOKENS_PER_SAMPLE,
    input_tokens_per_unit: float = 0.0,
    keep_rate: float = 1.0,
    price_per_hour: float = DEFAULT_PRICE_PER_HOUR,
    target_tokens: float | None = None,
    devices: int = 1,
) -> Projection:
    """Project a GPU run from the study's measured throughput (no pilot possible on this machine)."""
    ref = reference(model)
    tps = ref.output_tok_per_s
    out = output_tokens_per_unit * full_units
    device_h = out / tps / SECONDS_PER_HOUR
    p = Projection(
        source=f"reference:{ref.model}",
        hardware=ref.hardware,
        devices=devices,
        units=full_units,
        input_tokens=input_tokens_per_unit * full_units,
        output_tokens=out,
        output_tokens_kept=out * keep_rate,
        keep_rate=keep_rate,
        output_tok_per_s=tps,
        wall_hours=device_h / max(devices, 1),
        device_hours=device_h,
        price_per_hour=price_per_hour,
        cost=device_h * price_per_hour,
        hours_per_billion=hours_per_billion(tps),
        cost_per_billion=cost_per_billion(tps, price_per_hour),
        target_tokens=target_tokens,
        notes=[f"throughput from the study's table ({ref.note}); start-up time not included"],
    )
    return _finish(p, output_tokens_per_unit * keep_rate, output_tokens_per_unit / tps)
