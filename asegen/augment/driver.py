"""Drive family growths: label their requests one by one or batched across families.

With an ordinary ASE calculator one family grows at a time and every request
is one ``calculate`` call. With a calculator that has ``calculate_batch``,
up to ``batch_size`` families grow in lockstep: each round collects the
pending requests of every active family (one per slot in flight: up to
``wave_width`` each) and labels them in calls of at most ``batch_size``
structures. Each family's random streams are its own, so the structures
produced do not depend on how the families were interleaved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ase.calculators.calculator import BaseCalculator

from asegen.augment.config import AugmentSettings
from asegen.augment.family import START_KEY, FamilyTask, Produced, Request
from asegen.augment.growth import grow
from asegen.augment.labels import (
    calculator_failed,
    has_batch_hook,
    label_batch,
    label_one,
)
from asegen.augment.streams import SlotStreams

__all__ = ["Finished", "drive", "uses_batches"]


@dataclass
class Finished:
    """Family ``start`` has reached its target size."""

    start: int


def uses_batches(calculator: BaseCalculator, batch_size: int) -> bool:
    """Whether requests go through ``calculate_batch`` (hook present, size > 1)."""
    return batch_size > 1 and has_batch_hook(calculator)


class _Active:
    def __init__(
        self, task: FamilyTask, settings: AugmentSettings, streams: SlotStreams
    ) -> None:
        self.start = task.start
        self.growth = grow(task, settings, streams)
        self.requests: list[Request] = []
        self.done = False

    def advance(
        self, labels: list[dict[str, Any]] | None
    ) -> Iterator[Produced | Finished]:
        """Send ``labels``; yield members until the next round or the end."""
        try:
            item = self.growth.send(labels)
            while isinstance(item, Produced):
                yield item
                item = self.growth.send(None)
        except StopIteration:
            self.done = True
            yield Finished(self.start)
        else:
            self.requests = item


def drive(
    calculator: BaseCalculator,
    settings: AugmentSettings,
    streams: SlotStreams,
    tasks: Sequence[FamilyTask],
    *,
    batch_size: int,
) -> Iterator[Produced | Finished]:
    """Grow every family of ``tasks``, yielding members as they are accepted.

    Parameters
    ----------
    calculator
        Labels every request.
    settings
        The loop's settings.
    streams
        Random stream per (starting structure, slot).
    tasks
        The families to grow, started in this order.
    batch_size
        Families grown at once, and structures per call at most, when the
        calculator has ``calculate_batch``.
    """
    batched = uses_batches(calculator, batch_size)
    width = batch_size if batched else 1
    waiting = list(reversed(tasks))
    active: list[_Active] = []
    while waiting or active:
        while waiting and len(active) < width:
            family = _Active(waiting.pop(), settings, streams)
            yield from family.advance(None)
            if not family.done:
                active.append(family)
        if not active:
            continue
        requests = [request for family in active for request in family.requests]
        if batched:
            results = [
                labels
                for first in range(0, len(requests), batch_size)
                for labels in _label_batch(
                    calculator, requests[first : first + batch_size]
                )
            ]
        else:
            results = [_label_one(calculator, request) for request in requests]
        done = 0
        for family in active:
            count = len(family.requests)
            yield from family.advance(results[done : done + count])
            done += count
        active = [family for family in active if not family.done]


_FIX = "fix the calculator or the input, then rerun the command to resume"


def _label_one(calculator: BaseCalculator, request: Request) -> dict[str, Any]:
    """Call :func:`label_one`; a calculator's exception becomes one line."""
    try:
        return label_one(calculator, request.atoms, fresh=request.fresh)
    except Exception as err:
        info = request.atoms.info
        what = f"structure {info['id']} (starting structure {info[START_KEY]})"
        raise calculator_failed(calculator, err, what, _FIX) from err


def _label_batch(
    calculator: BaseCalculator, requests: Sequence[Request]
) -> list[dict[str, Any]]:
    """Call :func:`label_batch`; a calculator's exception becomes one line."""
    try:
        return label_batch(calculator, [request.atoms for request in requests])
    except Exception as err:
        ids = ", ".join(str(request.atoms.info["id"]) for request in requests)
        what = f"a batch of the structures {ids}"
        raise calculator_failed(calculator, err, what, _FIX) from err
