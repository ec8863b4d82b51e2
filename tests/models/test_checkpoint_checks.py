"""Checkpoints whose hparams do not fit their weights are one-line errors."""

import pytest
import torch
from calculator_factories import alignn_model

from asegen.errors import DataFormatError
from asegen.models.checkpoint import load_checkpoint, save_checkpoint


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p["hparams"]["config"].update(hidden_features=8),
        lambda p: p["hparams"]["config"].update(no_such_key=1),
        lambda p: p["hparams"]["config"].update(hidden_features=0),
        lambda p: p.pop("hparams"),
        lambda p: p["state_dict"].pop("energy_scale"),
    ],
)
def test_hparams_that_do_not_fit_the_weights_are_a_data_format_error(tmp_path, edit):
    path = tmp_path / "model.pt"
    save_checkpoint(path, alignn_model())
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)
    with pytest.raises(DataFormatError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: its weights do not fit the alignn model")
