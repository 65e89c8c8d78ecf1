"""House rule for the Lua scripts of abflask.storage (STYLE.md §2, §6)."""

from __future__ import annotations

from pathlib import Path

LUA = Path(__file__).resolve().parents[2] / "abflask" / "storage" / "lua"


def test_every_lua_script_documents_keys_argv_and_returns() -> None:
    scripts = sorted(LUA.glob("*.lua"))
    assert scripts
    for script in scripts:
        header = script.read_text().split("\n\n")[0]
        for word in ("KEYS[1]", "ARGV[1]", "Returns"):
            assert word in header, f"{script.name} header lacks {word}"
