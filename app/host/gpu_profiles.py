"""Named browser profiles: the flags and environment that take headless Chromium to a real GPU (host only).

`bench --gpu-profile NAME` starts Chromium with the profile's flags and environment, and the result records
both (`environment.browser_profile`), so a figure can be traced to exactly how the browser was started.
A profile changes where WebGPU runs, not how an engine runs. Dawn feature switches do change how an engine
runs (they turn on what the browser leaves off): they are opt-in (`--dawn-features`), and every WebGPU row
of such a run is labelled (backend "webgpu (dawn: ...)", shims "dawn-features=...") wherever it appears.

Source of the nvidia-vulkan profile: ../shared/NOTES.md, "Chromium 156 on the NVIDIA H200, headless, real
adapter" (seen 2026-12-04): without --disable-vulkan-surface vkCreateInstance fails (-7: NVIDIA's driver has
no VK_EXT_headless_surface); without the Vulkan feature Dawn falls back to SwiftShader; ANGLE on Vulkan crashed
the GPU process headless, so ANGLE runs on EGL while Dawn uses Vulkan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NVIDIA_ICD = "/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json"
NVIDIA_EGL_VENDOR = "/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json"


@dataclass(frozen=True)
class GpuProfile:
    name: str
    flags: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)  # set for chromedriver, which Chromium inherits
    note: str = ""

    def record(self) -> dict[str, object]:
        """What a result keeps of it (environment.browser_profile)."""
        return {"name": self.name, "flags": list(self.flags), "env": dict(self.env), "note": self.note}


PROFILES: dict[str, GpuProfile] = {p.name: p for p in (
    GpuProfile(
        "nvidia-vulkan",
        ("--ignore-gpu-blocklist", "--enable-gpu", "--use-angle=gl-egl", "--enable-features=Vulkan",
         "--disable-vulkan-surface"),
        {"VK_DRIVER_FILES": NVIDIA_ICD, "VK_ICD_FILENAMES": NVIDIA_ICD,
         "__EGL_VENDOR_LIBRARY_FILENAMES": NVIDIA_EGL_VENDOR},
        "headless Chromium on an NVIDIA GPU without a display: Dawn on NVIDIA's Vulkan driver, ANGLE on EGL; "
        "needs Debian's libvulkan1, libegl1 and libglvnd0 on the machine"),
)}

# Dawn toggles known to matter here; others are accepted as given (Chromium ignores unknown ones).
DAWN_FEATURES = {
    "vulkan_enable_f16_on_nvidia": "shader-f16 on NVIDIA's Vulkan driver (off by default in Dawn): llama.cpp 3.13's "
                                   "WebGPU backend needs it",
}


def dawn_flags(features: list[str]) -> list[str]:
    """`--enable-dawn-features=a,b` for the opt-in Dawn toggles; [] for none."""
    return [f"--enable-dawn-features={','.join(features)}"] if features else []


def label_dawn_rows(result: dict, features: list[str]) -> None:
    """Label every WebGPU row of `result` (in place) with the Dawn toggles the browser ran with."""
    if not features:
        return
    tag = ",".join(features)
    for row in result.get("rows") or []:
        backend = str(row.get("backend") or "")
        if backend.startswith("webgpu"):
            row["backend"] = f"{backend} (dawn: {tag})"
            row["shims"] = list(row.get("shims") or []) + [f"dawn-features={tag}"]
