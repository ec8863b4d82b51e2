"""The seeded split of a dataset into training, validation and test indices."""

from __future__ import annotations

import numpy as np

from asegen.errors import ConfigError
from asegen.train.config import TrainConfig

__all__ = ["split_indices"]


def split_indices(
    n: int, config: TrainConfig, *, with_val: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(n)`` into train, validation and test indices.

    Counts (``n_train``, ``n_val``, ``n_test``) override ratios. Without
    ``keep_data_order`` the order is a seeded shuffle. Training takes the
    first structures, the test set the last ones, validation those just
    before the test set. With ``with_val`` (a separate validation file) no
    validation structures are taken from ``n``.
    """
    n_test = config.n_test if config.n_test is not None else int(config.test_ratio * n)
    n_val = (
        0
        if with_val
        else (config.n_val if config.n_val is not None else int(config.val_ratio * n))
    )
    n_train = config.n_train if config.n_train is not None else n - n_val - n_test
    if n_train < 1 or n_train + n_val + n_test > n:
        raise ConfigError(
            f"cannot split {n} structures into {n_train} train, {n_val} validation "
            f"and {n_test} test; change the ratios or counts in the train section"
        )
    order = np.arange(n)
    if not config.keep_data_order:
        order = np.random.default_rng(config.seed).permutation(n)
    test = order[n - n_test :]
    val = order[n - n_test - n_val : n - n_test]
    return order[:n_train], val, test
