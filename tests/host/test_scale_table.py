"""python -m app.host.scale's table (app.host.scale): one line per engine of each model, refusals and failures said."""

from __future__ import annotations

from app.host import scale
from tests.host import synthetic as syn


def test_each_engine_gets_a_line_and_a_model_without_a_result_says_why():
    ok = syn.row(key="llamacpp-wasm", engine="llama.cpp (wllama)", reference=True)
    ok["memory"] = {"process_own_bytes_peak": 300e6, "process_own_to_model": 2.0}
    refused = syn.row(key="flare-cpu", run_list=[], forced=None, unsupported="flare-web needs at least 4.15 GiB")
    result = syn.result([ok, refused])
    result["model"]["size"] = 150e6
    lines = scale.table_rows("llama 1b Q8_0", result)
    assert [line[2] for line in lines] == ["llama.cpp (wllama) wasm-cpu", "flare-web wasm-cpu"]
    decode = ok["summary"]["decode_tok_s"]["mean"]
    assert lines[0][1] == "150" and lines[0][4] == "300 (2.0x)" and lines[0][6] == f"{decode:.2f}"
    assert lines[1][6] == "-" and lines[1][7] == "flare-web needs at least 4.15 GiB"
    assert scale.table_rows("llama 3b Q8_0", None, "bench exited 1: out of memory") == [
        ["llama 3b Q8_0", "-", "-", "-", "-", "-", "-", "bench exited 1: out of memory"]]
    md = scale.markdown(lines).splitlines()
    assert md[0].startswith("| model | file MB |") and len(md) == 4


def test_unknown_sizes_are_refused_in_words(capsys):
    assert scale.main(["--sizes", "7b"]) == 2
    assert "unknown size or type ['7b']" in capsys.readouterr().err


def test_synthetic_gguf_says_what_is_wrong_with_its_paths_in_one_line(tmp_path, capsys):
    from app.host import synthetic_gguf as sg

    notgguf = tmp_path / "x.json"
    notgguf.write_text("{\"not\": \"a model at all\"}")
    cases = [(["--out", str(tmp_path / "no" / "x.gguf")], "the folder"), (["--out", str(tmp_path)], "a folder is there"),
             (["--out", str(tmp_path / "y.gguf"), "--tokenizer-from", str(notgguf)], "not a GGUF file"),
             (["--out", str(tmp_path / "y.gguf"), "--tokenizer-from", str(tmp_path / "missing.gguf")], "no such file")]
    for extra, words in cases:
        assert sg.main(["--size", "0.5b", *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, (extra, err)
    assert not (tmp_path / "y.gguf").exists() and not list(tmp_path.glob("*.partial"))


def test_the_command_refuses_an_unwritable_folder_in_one_line():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "app.host.scale", "--folder", "/proc/no/such"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("scale: --folder /proc/no/such: cannot make or use it")
    assert "Traceback" not in proc.stderr
