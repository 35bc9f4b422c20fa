"""Terminal prompts for a site's questions: an unknown host key (the SHA256 fingerprint is shown;
only ``yes`` accepts) and passwords or one-time codes (read with :func:`getpass.getpass`). Nothing
is stored but an accepted host key (in napari-tramway's own known_hosts).
"""

from __future__ import annotations

import getpass
import sys


def confirm_host_key_tty(host: str, key_type: str, fingerprint: str) -> bool:
    """Ask on the terminal whether to trust an unknown host key (only 'yes' accepts)."""
    if not sys.stdin or not sys.stdin.isatty():
        print(f"napari-tramway: unknown host key for {host}: {key_type} {fingerprint}; not a terminal, refusing. "
              "Add the key to ~/.ssh/known_hosts (e.g. connect once with ssh) and retry.", file=sys.stderr)
        return False
    print(f"The authenticity of host {host} can't be established.\n"
          f"{key_type} key fingerprint is {fingerprint}.", file=sys.stderr)
    try:
        answer = input("Are you sure you want to trust it and continue connecting (yes/no)? ")
    except EOFError:
        return False
    return answer.strip().lower() == "yes"


def ask_secret_tty(prompt: str, echo: bool = False) -> str:
    """A password or one-time code, read from the terminal (not echoed unless ``echo``)."""
    prompt = prompt.rstrip() + " "
    try:
        return input(prompt) if echo else getpass.getpass(prompt)
    except EOFError:
        return ""


def callbacks() -> dict:
    """The prompts as a site's callbacks: ``confirm_host_key`` and ``ask_secret``."""
    return {"confirm_host_key": confirm_host_key_tty, "ask_secret": ask_secret_tty}
