"""Fault injection over every registered kind of persisted file (inpainting.stored, issue 28).

Each kind's sound example is read back, then damaged in each generic way of ``stored.DAMAGES``;
its reader must raise ``DamagedFileError`` naming the file, unless the kind declares why it cannot
tell that damage (``Kind.undetectable``). A kind registered tomorrow is walked here tomorrow."""
from __future__ import annotations

import json
import math
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from inpainting.stored import DAMAGES, DamagedFileError, all_kinds

KINDS = all_kinds()
# the kinds issue 28 names; more may be registered, none of these may go
NAMED = {"checkpoint", "generator", "perceptual weights", "reference manifest", "reference model",
         "committed table", "identity record", "run record", "log.csv", "inception feature cache",
         "results record (run.json)"}


def test_every_kind_the_issue_names_is_registered():
    assert NAMED <= set(KINDS), sorted(NAMED - set(KINDS))


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_sound_file_of_every_kind_reads(name, tmp_path):
    kind = KINDS[name]
    path, expect = kind.example(tmp_path, 0)
    kind.read(path, **expect)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_damage_is_handled_or_declared_with_its_reason(name):
    kind = KINDS[name]
    for how in DAMAGES:
        if how == "foreign_network" and kind.foreign is None:
            assert kind.undetectable.get(how), f"{name}: give foreign= or declare why not"
        if how in kind.undetectable:
            assert len(kind.undetectable[how]) > 20, f"{name}: say why {how} cannot be told"
        if how == "field_removed" and how not in kind.undetectable:
            assert kind.fields, f"{name}: name the fields every file has, or declare why not"


# ------------------------------------------------------------------------------ generic damage
def _state_dicts(value) -> list[dict]:
    """The dicts of tensors (state dicts) in a loaded torch file, outermost first."""
    if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
        return [value]
    found = []
    if isinstance(value, dict):
        for item in value.values():
            found += _state_dicts(item)
    return found


def _first_weight(blob) -> torch.Tensor:
    for state in _state_dicts(blob):
        for name, tensor in state.items():
            if name.endswith("weight") and tensor.dim() >= 2 and tensor.is_floating_point():
                return tensor
    raise AssertionError("the example holds no weight tensor")


def _numbers(value, change):
    """``value`` with every JSON number passed through ``change`` (the first only when ``change``
    says so by returning None for the rest)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return change(value)
    if isinstance(value, dict):
        return {k: _numbers(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v, change) for v in value]
    return value


def _first_only(new):
    done = []

    def change(v):
        if done:
            return v
        done.append(1)
        return new
    return change


def _torch(path, how, kind):
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if how == "zeroed":
        _first_weight(blob).zero_()
    elif how == "nan":
        _first_weight(blob).fill_(float("nan"))
    elif how == "field_removed":
        del blob[kind.fields[0]]
    torch.save(blob, path)


def _json(path, how, kind):
    value = json.loads(path.read_text())
    if how == "zeroed":
        value = _numbers(value, lambda v: 0)
    elif how == "nan":
        value = _numbers(value, _first_only(math.nan))
    elif how == "field_removed":
        del value[kind.fields[0]]
    path.write_text(json.dumps(value))


def _csv(path, how, kind):
    table = pd.read_csv(path)
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    if how == "zeroed":
        table[numeric] = 0
    elif how == "nan":
        table[numeric[0]] = table[numeric[0]].astype(float)
        table.loc[0, numeric[0]] = math.nan
    elif how == "field_removed":
        table = table.drop(columns=[kind.fields[0]])
    table.to_csv(path, index=False)


def _npy(path, how, kind):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    big = max(arrays, key=lambda k: arrays[k].size)
    if how == "zeroed":
        arrays[big] = np.zeros_like(arrays[big])
    elif how == "nan":
        arrays[big] = np.full_like(arrays[big], np.nan)
    elif how == "field_removed":
        del arrays[kind.fields[0]]
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


EDIT = {"torch": _torch, "json": _json, "csv": _csv, "npy": _npy}


def damage(kind, path, how, other):
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":   # a CSV cut mid-line, any other file cut in half
        data = path.read_bytes()
        path.write_bytes(data.rstrip(b"\n")[:-2] if kind.format == "csv" else data[:len(data) // 2])
    elif how == "other_run":
        shutil.copyfile(other, path)
    elif how == "foreign_network":
        kind.foreign(path)
    else:
        EDIT[kind.format](path, how, kind)


CASES = [(name, how) for name in sorted(KINDS) for how in DAMAGES]


@pytest.mark.parametrize("name,how", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_every_kind_refuses_every_damage_naming_the_file(name, how, tmp_path):
    kind = KINDS[name]
    if how in kind.undetectable:
        pytest.skip(f"{name} cannot tell {how}: {kind.undetectable[how]}")
    path, expect = kind.example(tmp_path / "a", 0)
    other, _ = kind.example(tmp_path / "b", 1)
    damage(kind, path, how, other)
    with pytest.raises(DamagedFileError) as err:
        kind.read(path, **expect)
    assert str(path) in str(err.value), err.value
    assert isinstance(err.value, ValueError)
    again = pickle.loads(pickle.dumps(err.value))   # crosses process boundaries intact
    assert str(again) == str(err.value) and again.damaged == err.value.damaged
