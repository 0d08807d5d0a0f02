"""Posted patches applied to a copy of the kernel files: never to the user's tree.

A patch file is a ``git format-patch`` file, an mbox holding a series (applied in order), or a
plain unified diff.  :func:`read_series` splits it into :class:`Patch` values (subject, diff);
:func:`apply_series` copies each file the series touches from the tree into an *overlay*
directory and applies the diffs there with ``git apply`` (which needs no repository).  The build
(:func:`kernel.build.build`) then reads patched files from the overlay and every other file from
the tree.  A patch that does not apply is an :class:`~model.errors.InputError` naming the patch,
the file and the hunk.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import mailbox
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs

from kernel.sources import KernelSource, cache_dir
from model.errors import InputError

_DIFF_FILE = re.compile(r"^\+\+\+ (?:b/)?(\S+)", re.M)
_OLD_FILE = re.compile(r"^--- (?:a/)?(\S+)", re.M)


@attrs.frozen
class Patch:
    """One patch of a series: where it came from, its subject, its author and its diff."""

    source: str
    subject: str
    diff: str
    author: str = ""
    message_id: str = ""

    @property
    def files(self) -> tuple[str, ...]:
        """Tree paths the diff touches (new files included)."""
        out: dict[str, None] = {}
        for m in _DIFF_FILE.finditer(self.diff):
            if m.group(1) != "/dev/null":
                out[m.group(1)] = None
        return tuple(out)


def _subject(text: str) -> str:
    return " ".join(text.split())


def read_series(path: str | os.PathLike[str]) -> tuple[Patch, ...]:
    """The patches in ``path``: each message of an mbox (or the one ``git format-patch``
    message), else the file as a plain diff."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the patch ({exc.strerror})") from None
    if len(raw) > 16 << 20:
        raise InputError(f"{path}: {len(raw)} bytes is too large for a patch (limit 16 MiB)")
    text = raw.decode("utf-8", errors="replace")
    patches: list[Patch] = []
    if text.startswith("From "):
        for msg in mailbox.mbox(str(p)):
            patches.append(_from_message(str(path), msg))
    elif re.match(r"^(Subject|From|Date|Message-I[dD]):", text):
        patches.append(_from_message(str(path), email.message_from_string(
            text, policy=email.policy.compat32)))
    else:
        patches.append(Patch(str(path), p.name, text))
    patches = [pt for pt in patches if pt.files]
    if not patches:
        raise InputError(f"{path}: no diff found (expected a unified diff, a git format-patch "
                         "file or an mbox)")
    return tuple(patches)


def _from_message(source: str, msg: email.message.Message) -> Patch:
    body = msg.get_payload(decode=True) if not msg.is_multipart() else None
    if body is None:
        parts = [part.get_payload(decode=True) for part in msg.walk()
                 if part.get_content_type() in ("text/plain", "text/x-patch", "text/x-diff")]
        body = b"\n".join(x for x in parts if isinstance(x, bytes))
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    return Patch(source, _subject(str(msg.get("Subject", "(no subject)"))), text,
                 _subject(str(msg.get("From", ""))), str(msg.get("Message-ID", "")).strip())


def _hunk_failure(stderr: str, patch: Patch) -> str:
    """``git apply``'s complaint as one line: the file and the hunk's line."""
    m = re.search(r"error: patch failed: (\S+):(\d+)", stderr)
    if m:
        return f"{m.group(1)}: the hunk at line {m.group(2)} does not apply"
    m = re.search(r"error: (\S+): (No such file or directory|does not exist in index)", stderr)
    if m:
        return f"{m.group(1)}: no such file in the kernel tree"
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[0].removeprefix("error: ") if lines else "git apply failed"


def apply_series(source: KernelSource, patches: Sequence[Patch]) -> Path:
    """An overlay directory holding the tree's files that ``patches`` touch, with the patches
    applied in order (cached by the patches' and the tree's identity)."""
    h = hashlib.sha256(str(source.root).encode() + source.version.encode())
    for pt in patches:
        h.update(pt.diff.encode())
    overlay = cache_dir() / "overlays" / h.hexdigest()[:24]
    if (overlay / ".applied").exists():
        return overlay
    overlay.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=overlay.parent))
    try:
        for pt in patches:
            for rel in pt.files:
                src, dst = source.path(rel), tmp / rel
                if src.is_file() and not dst.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)
        for pt in patches:
            proc = subprocess.run(["git", "apply", "--whitespace=nowarn", "-p1", "-"],
                                  input=pt.diff, cwd=tmp, capture_output=True, text=True,
                                  timeout=60, check=False,
                                  env={**os.environ, "GIT_DIR": "/nonexistent", "LC_ALL": "C"})
            if proc.returncode != 0:
                raise InputError(f"patch '{pt.subject}' does not apply: "
                                 f"{_hunk_failure(proc.stderr, pt)}", path=pt.source)
        (tmp / ".applied").write_text("\n".join(p.subject for p in patches) + "\n")
        if overlay.exists():
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, overlay)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return overlay
