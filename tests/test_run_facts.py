"""One record of run facts (training.records.RunFacts) feeds four files; each keeps the fields it had
before the record existed, so committed reference generators and runs in progress still read."""
from inpainting.profiles import get_profile
from inpainting.training.records import RunFacts, record_from_generator


def _facts(steps=8):
    profile = get_profile("smoke")
    return RunFacts(key="k" * 12, identity={"format": 1}, role="faces", profile=profile,
                    run="runs/faces/lite-kkk", dataset="faces", dataset_description="faces",
                    data=None, precision="float32", device="cpu", device_name="test CPU",
                    torch_threads=2, world_size=1, balance_wrt="parameters",
                    effective_loss_weights={"w_rec": 1.0}, perceptual_weights_source="random",
                    steps=steps, seconds=1.23456)


def test_each_file_gets_the_fields_it_always_had():
    facts = _facts()
    assert list(facts.provenance()) == [
        "key", "run", "role", "dataset", "dataset_description", "generator", "seed", "precision",
        "device", "device_name", "torch_threads", "world_size", "perceptual_weights_source",
        "steps", "seconds"]
    assert facts.provenance()["seconds"] == 1.23   # rounded in run.json, exact in the record
    record = facts.record("finished")
    assert list(record) == ["status", "key", "role", "profile", "effective_loss_weights",
                            "schedule", "seed", "device", "amp", "precision", "steps_done",
                            "seconds", "balance_wrt", "provenance"]
    assert record["seconds"] == 1.23456 and record["amp"] is False
    assert record["schedule"]["total"] == sum(record["schedule"][f"steps_{s}"]
                                              for s in ("g", "d", "joint"))
    assert set(facts.checkpoint()) == {"step", "role", "identity", "key", "profile", "seconds",
                                       "world_size", "data", "perceptual_weights_source"}
    meta = facts.generator_meta()
    assert set(meta) == {"key", "role", "profile", "steps", "precision", "data",
                         "perceptual_weights_source", "effective_loss_weights"}
    assert facts.generator_meta(curve_point=True) == {**meta, "curve_point": True}


def test_the_record_is_rebuilt_from_the_generator_meta_it_wrote():
    blob = {"meta": _facts().generator_meta()}
    rebuilt = record_from_generator(blob, "k" * 12, 8)
    assert rebuilt["status"] == "finished" and rebuilt["steps_done"] == 8
    assert rebuilt["effective_loss_weights"] == {"w_rec": 1.0}
    assert record_from_generator(blob, "k" * 12, 9) is None                  # not every step
    assert record_from_generator(blob, "other", 8) is None                   # another run's
