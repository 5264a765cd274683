#!/usr/bin/env bash
# Make sure a headless browser is on disk for tests/test_browser.py: Debian's `chromium`, driven by
# the `playwright` Python package (requirements.txt) through its executable_path. Playwright's own
# browser download (`playwright install`) is never used: this project's machines reach Debian's
# archive and PyPI, nothing else. Where apt is not available (a laptop), the browser test skips.
set -u
browser=/usr/bin/chromium
if [ -x "$browser" ]; then
  echo "browser: found $browser"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "browser: installing the Debian package chromium"
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core) >/dev/null; then
    echo "browser: installed $browser"
    exit 0
  fi
  echo "browser: apt-get failed; tests/test_browser.py will be skipped" >&2
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  echo "browser: installing the Debian package chromium (sudo)"
  if (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core) >/dev/null; then
    echo "browser: installed $browser"
    exit 0
  fi
  echo "browser: apt-get failed; tests/test_browser.py will be skipped" >&2
elif command -v apt-get >/dev/null 2>&1; then
  echo "browser: no $browser, and neither root nor sudo to install the Debian package chromium;" \
       "tests/test_browser.py will be skipped (or set EQUALNETS_CHROMIUM to a Chromium binary)"
else
  echo "browser: no apt here and no $browser; tests/test_browser.py will be skipped" \
       "(or set EQUALNETS_CHROMIUM to a Chromium binary)"
fi
exit 0
