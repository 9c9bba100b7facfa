"""Quiet native libraries: capture what C++ code writes to file descriptor 2.

TensorFlow, the TFLite converter, onnxruntime and OpenVINO print from C++
straight to the process's stderr, which Python's ``sys.stderr`` redirection
does not catch. Setting ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything.

Example:
    >>> import os
    >>> with captured_stderr() as captured:
    ...     _ = os.write(2, b"C++ chatter")
    ...     text = captured()
    >>> text
    'C++ chatter'
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator


def verbose() -> bool:
    """True when the user asked to see native libraries' logs."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0"


@contextlib.contextmanager
def captured_stderr(*, replay_on_error: bool = False) -> Iterator[Callable[[], str]]:
    """Capture file descriptor 2 for the block.

    Yields a function returning what was captured so far. What was captured
    is written back to stderr when the block is interrupted (or raises
    anything, with ``replay_on_error``). Nothing is captured in verbose mode.
    """
    if verbose():
        yield lambda: ""
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:

        def read() -> str:
            capture.seek(0)
            return capture.read().decode(errors="replace")

        os.dup2(capture.fileno(), 2)
        try:
            yield read
        except Exception:
            if replay_on_error:
                os.dup2(saved, 2)
                sys.stderr.write(read())
            raise
        except BaseException:
            os.dup2(saved, 2)
            sys.stderr.write(read())
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
