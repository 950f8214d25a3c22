"""`--runtime chromium` (the default): the benchmark page in a local headless Chromium under chromedriver.

`--gpu-profile NAME` starts it with a named set of flags and environment for a real GPU (app.host.gpu_profiles),
recorded in the result's environment; `--dawn-features` turns on Dawn toggles (opt-in, labelled on every WebGPU row).
"""

from __future__ import annotations

import argparse

from app.host.gpu_profiles import DAWN_FEATURES, PROFILES, dawn_flags, label_dawn_rows
from app.host.runtimes._base import Outcome, RuntimeMissing
from app.host.runtimes._webdriver import WebDriverRuntime


class ChromiumRuntime(WebDriverRuntime):
    """Debian's Chromium under chromedriver (app.host.chromium.start_chromium: its own profile folder and a
    process tag, so it is ended for certain, even when WebDriver no longer answers)."""

    name = "chromium"
    browser = "chromium"  # --browser chromium
    help = "the page in a local headless Chromium"
    program = "Chromium"
    where = "in headless Chromium"
    in_words = "runs a local headless Chromium"
    default = True
    order = 0

    def __init__(self, serve_host: str | None = None, result_global: str = "benchResultJSON",
                 gpu_profile: str | None = None, dawn_features: list[str] | None = None) -> None:
        super().__init__(serve_host, result_global)
        self.gpu_profile = PROFILES[gpu_profile] if gpu_profile else None
        self.dawn_features = list(dawn_features or [])

    @classmethod
    def add_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--gpu-profile", choices=sorted(PROFILES), default=None,
                           help="start Chromium with a named set of flags and environment for a real GPU "
                                "(recorded in the result): " + "; ".join(f"{p.name}: {p.note}" for p in PROFILES.values()))
        group.add_argument("--dawn-features", default="", metavar="LIST",
                           help="opt-in Dawn toggles (comma-separated), labelled on every WebGPU row: "
                                + "; ".join(f"{k}: {v}" for k, v in DAWN_FEATURES.items()))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ChromiumRuntime:
        from app.core.settings import SettingsError

        features = [f.strip() for f in (getattr(args, "dawn_features", "") or "").split(",") if f.strip()]
        bad = [f for f in features if not f.replace("_", "").isalnum()]
        if bad:
            raise SettingsError(f"--dawn-features takes names of Dawn toggles (letters, digits, _), not {bad}")
        return cls(serve_host=getattr(args, "serve_host", None), gpu_profile=getattr(args, "gpu_profile", None),
                   dawn_features=features)

    def preflight(self) -> None:
        from app.host.chromium import ChromiumMissing, find_binaries

        try:
            find_binaries()
        except ChromiumMissing as err:
            raise RuntimeMissing(str(err)) from None

    def new_driver(self, site_url: str, command_timeout_s: float):
        from app.host.chromium import start_chromium

        profile = self.gpu_profile
        flags = (list(profile.flags) if profile else []) + dawn_flags(self.dawn_features)
        return start_chromium(extra_flags=flags, command_timeout_s=command_timeout_s,
                              extra_env=dict(profile.env) if profile else None)

    def collect(self, state: str) -> Outcome:
        outcome = super().collect(state)
        result = outcome.result
        if isinstance(result, dict) and (self.gpu_profile or self.dawn_features):
            env = result.setdefault("environment", {})
            if self.gpu_profile:
                env["browser_profile"] = self.gpu_profile.record()
            if self.dawn_features:
                env["dawn_features"] = list(self.dawn_features)
                label_dawn_rows(result, self.dawn_features)
        return outcome


RUNTIME = ChromiumRuntime
