"""Render time and peak memory for clusters of 10, 100 and 1000 node pools (growth should
be linear). Each size runs in its own process so its peak RSS is its own."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from _common import REPO

CHILD = r"""
import json, resource, sys, time, tempfile, yaml
from pathlib import Path
from kopsgen import core
n = int(sys.argv[1])
doc = yaml.safe_load(Path(sys.argv[2]).read_text())
doc["worker"]["nodePools"] = [{"name": f"pool{i:04d}", "count": 1} for i in range(n)]
doc["podCIDR"] = "10.128.0.0/12"
with tempfile.TemporaryDirectory() as tmp:
    d = Path(tmp)
    (d / "cluster.yaml").write_text(yaml.safe_dump(doc))
    t = time.perf_counter()
    outcome = core.render(d, "stack")
    render_s = time.perf_counter() - t
    t = time.perf_counter()
    core.write(d, outcome)
    write_s = time.perf_counter() - t
    main_lines = (d / "terraform" / "main.tf").read_text().count("\n")
rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"pools": n, "render_s": render_s, "write_s": write_s,
                  "peak_rss_mib": rss_mib, "main_tf_lines": main_lines}))
"""


def main() -> None:
    seed = REPO / "examples" / "kubeops" / "cluster.yaml"
    print(f"{'pools':>6} {'render ms':>10} {'write ms':>9} {'peak RSS MiB':>13} {'main.tf lines':>14}")
    with tempfile.TemporaryDirectory():
        for n in (10, 100, 1000):
            best = None
            for _ in range(3):
                out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(seed)],
                                     capture_output=True, text=True, check=True).stdout
                r = json.loads(out)
                best = r if best is None or r["render_s"] < best["render_s"] else best
            print(f"{best['pools']:>6} {best['render_s'] * 1000:>10.1f} {best['write_s'] * 1000:>9.1f}"
                  f" {best['peak_rss_mib']:>13.1f} {best['main_tf_lines']:>14}")


main()
