"""Ray past one machine: one way to connect for every part (decide's learner, ``tune``'s
workers, ``nas search``).

``connect(address)`` starts a local Ray when ``address`` is None and Ray is not running, or
connects to the cluster at ``address`` (``"HOST:PORT"`` of ``ray start --head``, or ``"auto"``).

- **Authentication**: Ray >= 2.59 starts clusters with token authentication; a driver must then
  send the cluster's token. It is read, as Ray reads it, from ``RAY_AUTH_TOKEN``,
  ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token`` (``ray get-auth-token`` prints it on the head);
  when one of them is present and ``RAY_AUTH_MODE`` is unset (or ``token``), this module sets
  ``RAY_AUTH_MODE=token`` and has Ray re-read the token before connecting.
- **Worker nodes** need learnedsys and its extras (and torch for nas) installed, at the same
  versions as the driver: ``pip install torch==2.13.0 'learnedsys[all]'`` on every node.
  :func:`connect` checks it with one task on the cluster and names the fix when a worker cannot
  import learnedsys.
- **Failures** are one-line :class:`InfrastructureError`\\ s naming what to check.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from learnedsys._lazy import require
from learnedsys._storage import first_line
from learnedsys._validation import InfrastructureError

__all__ = ["InfrastructureError", "connect", "has_token"]


def has_token() -> bool:
    """Whether a Ray auth token is available to this process (env or the default file)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return Path(path).is_file()
    return (Path.home() / ".ray" / "auth_token").is_file()


def _enable_token_auth() -> None:
    """Send the token when connecting by address (Ray enables token mode by itself only for a
    cluster it finds without an address). Ray reads the mode when it is imported, so besides the
    environment its cached config is refreshed, as Ray's own ``_enable_token_auth`` does."""
    os.environ["RAY_AUTH_MODE"] = "token"
    try:
        from ray._private.authentication import authentication_token_setup as setup

        setup._enable_token_auth()
        setup.AuthenticationTokenLoader.instance().reset_cache()  # read the token the environment names now
    except (ImportError, AttributeError):  # another Ray: the environment variable must do
        pass


def _unreachable(address: str, timeout: float = 5.0) -> str | None:
    """None when HOST:PORT accepts a TCP connection (or the address is not HOST:PORT, such as
    "auto"), else why not: found in seconds, where Ray would retry for a minute."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return None
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port} does not accept connections: {exc.strerror or exc}"


def connect(address: str | None = None, *, purpose: str = "Ray", check_workers: bool = True) -> Any:
    """The ``ray`` module, initialised: a local Ray (``address=None``) or the cluster at
    ``address``. Raises InfrastructureError (one line) when the cluster cannot be used."""
    ray = require("ray", extra="ray", purpose=purpose)
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
    if address:
        problem = _unreachable(address)
        if problem is not None:
            raise InfrastructureError(
                f"cannot connect to the Ray cluster at {address!r} for {purpose} ({problem}); check that "
                "`ray start --head` runs there and that the address and port are right"
            )
        if os.environ.get("RAY_AUTH_MODE", "token").lower() == "token" and has_token():
            _enable_token_auth()  # also re-reads the token: another Ray of this process may have cached one
        kwargs = {"address": address, "log_to_driver": False}
    try:
        ray.init(**kwargs)
    except Exception as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray"
        hint = (
            "check that `ray start --head` runs there and the address and port are right; if the cluster uses token "
            "authentication, give this process its token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, "
            "from `ray get-auth-token` on the head)"
            if address else "check the free memory and /tmp space, or start a cluster with `ray start --head` and pass its address"
        )
        raise InfrastructureError(f"cannot connect to {where} for {purpose} ({first_line(exc)}); {hint}") from None
    if address and check_workers:
        probe = ray.remote(num_cpus=0)(_probe)
        try:
            got = ray.get(probe.remote(), timeout=120)
        except Exception as exc:
            ray.shutdown()
            raise InfrastructureError(
                f"the Ray cluster at {address!r} cannot run learnedsys tasks ({first_line(exc)}); install the same "
                "learnedsys, its extras and torch on every node: pip install torch==2.13.0 'learnedsys[all]'"
            ) from None
        import learnedsys

        if got != learnedsys.__version__:
            ray.shutdown()
            raise InfrastructureError(
                f"the Ray workers at {address!r} have learnedsys {got}, this process {learnedsys.__version__}; "
                "install the same version on every node"
            )
    return ray


def _probe() -> str:
    import learnedsys

    return learnedsys.__version__
