"""Reading the hook modules of a file while another thread imports: ``sys.modules`` grows
under the reader (a callback deliverer's first post imports TLS modules while a run loads
its hooks), and the reader must not fail with "dictionary changed size"."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

from orecart.hookfiles import forget, imported_files


def test_hook_modules_are_read_while_another_thread_imports(tmp_path: Path) -> None:
    source = tmp_path / "pipeline.yaml"
    stop = threading.Event()

    def importing() -> None:  # what an import does to sys.modules, as fast as it can
        n = 0
        while not stop.is_set():
            name = f"_orecart_test_churn_{n % 500}"
            sys.modules[name] = types.ModuleType(name)
            if n % 500 == 499:
                for k in range(500):
                    sys.modules.pop(f"_orecart_test_churn_{k}", None)
            n += 1

    churn = threading.Thread(target=importing, daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    churn.start()
    try:
        for _ in range(300):
            assert imported_files(source) == ()
            forget(source)
    finally:
        stop.set()
        churn.join()
        sys.setswitchinterval(interval)
        for name in [n for n in list(sys.modules) if n.startswith("_orecart_test_churn_")]:
            del sys.modules[name]
