"""The public faces: every exported name resolves, a name means one thing across parts, and
importing a part imports neither torch nor ray."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PARTS = ["index", "bloom", "decide", "policy", "tune", "placement", "nas", "bench"]


@pytest.mark.parametrize("part", PARTS)
def test_every_exported_name_resolves(part: str) -> None:
    mod = importlib.import_module(f"learnedsys.{part}")
    names = getattr(mod, "__all__", None)
    assert names, f"learnedsys.{part} declares no __all__"
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(mod, name) is not None, f"learnedsys.{part}.{name}"
        assert name in dir(mod)


def _exports() -> dict[str, dict[str, object]]:
    out = {}
    for part in PARTS:
        mod = importlib.import_module(f"learnedsys.{part}")
        out[part] = {name: getattr(mod, name) for name in mod.__all__}
    return out


#: verbs every part has for its own files: ``learnedsys.index.load`` reads indexes,
#: ``learnedsys.bloom.load`` filters (each refuses the other's files with a FormatError)
PER_PART_VERBS = {"load"}


def test_a_name_means_one_thing_across_parts() -> None:
    seen: dict[str, tuple[str, object]] = {}
    clashes = []
    for part, names in _exports().items():
        for name, obj in names.items():
            if name in PER_PART_VERBS:
                continue
            if name in seen and seen[name][1] is not obj:
                clashes.append(f"{name}: learnedsys.{seen[name][0]} and learnedsys.{part}")
            seen.setdefault(name, (part, obj))
    assert not clashes, "the same name for different things: " + "; ".join(clashes)


def test_importing_a_part_imports_neither_torch_nor_ray() -> None:
    code = (
        "import sys\n"
        f"for p in {PARTS!r}:\n"
        "    __import__('learnedsys.' + p)\n"
        "import learnedsys.testing, learnedsys.cli\n"
        "bad = [m for m in ('torch', 'ray') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"
