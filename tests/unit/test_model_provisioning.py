"""The default model is converted once, even when two stacks start at once on a fresh machine."""

import json
import threading
import time

from serving import model


def test_two_stacks_starting_at_once_convert_the_model_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LMLAB_HOME", str(tmp_path))
    conversions = []

    def download(workdir):
        (workdir / model.GGUF_FILE).write_bytes(b"gguf")
        return workdir / model.GGUF_FILE

    def convert(gguf, out):
        conversions.append(out)
        time.sleep(0.3)  # long enough for the second start to arrive mid-conversion
        out.mkdir()
        (out / "config.json").write_text(json.dumps({"model_type": "llama"}))

    monkeypatch.setattr(model, "_download_gguf", download)
    monkeypatch.setattr(model, "_convert", convert)
    results, errors = [], []

    def start():
        try:
            results.append(model.ensure_default_model(log=lambda _: None))
        except Exception as e:  # noqa: BLE001 - the test reports any failure of either start
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(conversions) == 1
    assert results == [model.default_model_dir()] * 2 and model.verify(results[0]) is None
