#!/usr/bin/env bash
# Installs what the benchmark and the tests need on a fresh Debian machine:
# Chromium + chromedriver, Firefox ESR + Mesa's Vulkan drivers, WebKitGTK's WebDriver + Xvfb (Debian packages) and this
# project with its test extra (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "[setup] installing chromium and chromium-driver" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
fi

# Java 17 runs the Selenium Grid jar (`bench --grid` on one machine, and its test); skipped when java is there.
if ! command -v java >/dev/null; then
  echo "[setup] installing openjdk-17-jre-headless (Selenium Grid)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q openjdk-17-jre-headless
fi

# Firefox ESR (--browser firefox, driven over WebDriver BiDi: no geckodriver) and Mesa's Vulkan drivers (lavapipe: the
# software WebGPU adapter Firefox's wgpu finds on a machine without a GPU); skipped when firefox-esr is there.
if ! command -v firefox-esr >/dev/null || [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]; then
  echo "[setup] installing firefox-esr and mesa-vulkan-drivers (Firefox, WebGPU through lavapipe)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q firefox-esr mesa-vulkan-drivers
fi

# WebKit (--browser webkit): WebKitGTK's WebDriver, which brings its MiniBrowser, and Xvfb (WebKitGTK has no headless
# mode of its own); skipped when both are there.
if ! command -v WebKitWebDriver >/dev/null || ! command -v Xvfb >/dev/null; then
  echo "[setup] installing webkit2gtk-driver and xvfb (WebKit)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q webkit2gtk-driver xvfb
fi

# BENCH_EXTRAS=test,convert adds the Transformers.js conversion's heavy dependencies (torch, ...); ,native the native
# llama.cpp row's binding, compiled once from its pinned sdist (about 5.5 minutes on 2 cores) and cached by its sha256.
EXTRAS="${BENCH_EXTRAS:-test}"
if [[ ",$EXTRAS," == *",native,"* ]]; then
  BASE="$(echo ",$EXTRAS," | sed 's/,native,/,/g; s/^,//; s/,$//')"
  echo "[setup] installing the project (pip install -e '.[$BASE]'), then the native binding's cached wheel" >&2
  python -m pip install --quiet --disable-pip-version-check -e ".${BASE:+[$BASE]}"
  # A machine without a C++ compiler or cmake cannot build it: the native rows then say how to install it, and
  # the rest of the set-up goes on.
  python -m app.engines.native.host.wheel || echo "[setup] the native binding was not built (see above): native rows will be unsupported, saying how to install it" >&2
  EXTRAS="$BASE"
fi
echo "[setup] installing the project (pip install -e '.[$EXTRAS]')" >&2
python -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
