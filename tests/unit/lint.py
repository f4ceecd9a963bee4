"""asterisklint over rendered dialplan fragments, wrapped in a minimal extensions.conf."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# asterisklint 0.4.3 does not implement the hint directive; hint lines are checked by regex in the tests.
IGNORED_CODES = {"I_NOTIMPL_HINT"}
# asterisklint 0.4.3 knows no func_hangupcause (Asterisk's funcs/func_hangupcause.c, since Asterisk 11): its app and
# function are reported missing by name only; the e2e suite runs both on Asterisk 22.10.1 (test_fallback_e2e.py).
LINT_GAPS = (("E_APP_MISSING", "'HangupCauseClear'"), ("E_FUNC_MISSING", "'HANGUPCAUSE_KEYS'"))
_DIAG_RE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+) (?P<code>[A-Z_]+): (?P<text>.*)$")


def asterisklint_bin() -> str:
    local = Path(sys.executable).with_name("asterisklint")
    found = str(local) if local.exists() else shutil.which("asterisklint")
    if not found:
        raise RuntimeError("asterisklint is not installed (pip install -e '.[dev]')")
    return found


def wrap_dialplan(hooks: dict[str, str]) -> str:
    """The module's dialplan fragments where Core puts them, plus the contexts they jump to."""
    parts = [
        "[general]\nstatic=yes\n",
        "[globals]\n",
        "[internal]\nexten => 201,1,Goto(internal-users,201,1)\n",
        "[internal-users]\nexten => 201,1,Dial(PJSIP/201,30)\n",
        "[outgoing]\nexten => _X!,1,NoOp(routes)\n",
        "[internal-transfer]\nexten => 201,1,Goto(internal-users,201,1)\n" + hooks["extensionGenInternalTransfer"],
        "[internal-hints]\nexten => 201,hint,PJSIP/201\n" + hooks["extensionGenHints"],
    ]
    text = "\n".join(parts)
    if hooks["extensionGenContexts"]:
        text += "\n" + hooks["extensionGenContexts"]
    if hooks.get("generateOutRoutContext"):
        # Where Core puts it: inside an outgoing route's context, after its number and Dial command, before its Dial.
        text += ("\n[SIP-PROVIDER-PSTN1-7-outgoing]\n"
                 "exten => _X!,1,Set(number=78125550${EXTEN})\n\t"
                 "same => n,Set(DIAL_COMMAND=PJSIP/${number}@SIP-PROVIDER-PSTN1)\n\t"
                 + hooks["generateOutRoutContext"].rstrip() + "\n\t"
                 "same => n,Dial(${DIAL_COMMAND},600,TK)\n\tsame => n,Return()\n")
    return text


def lint(text: str, tmp: Path) -> Counter[str]:
    """Diagnostic codes asterisklint reports for `text` (ignored codes removed)."""
    path = tmp / "extensions.conf"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run([asterisklint_bin(), "dialplan-check", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    codes: Counter[str] = Counter()
    for line in (proc.stdout + proc.stderr).splitlines():
        m = _DIAG_RE.match(line.strip())
        if m and any(m["code"] == code and name in m["text"] for code, name in LINT_GAPS):
            continue
        if m and m["code"] not in IGNORED_CODES:
            codes[f"{m['code']}@{m['line']}"] += 1
        elif line.strip() and not m:
            codes[f"UNPARSED: {line.strip()}"] += 1
    return codes
