"""The demo never deletes what it did not create, and its crawlers die with it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import wait_for_exit
from aicity import demo
from aicity.cli import cli


ROOT = Path(__file__).resolve().parent.parent



# --- demo --out never deletes what it did not create -----------------------------------------

def test_demo_refuses_a_folder_with_someone_elses_files(tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    (out / "precious.txt").write_text("keep", encoding="utf-8")
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--regions", "成都",
                                      "--days", "30"])
    assert result.exit_code != 0
    assert "not empty" in result.output and "previous demo" in result.output
    assert (out / "precious.txt").read_text(encoding="utf-8") == "keep"


def test_a_previous_demo_folder_loses_only_the_demos_files(tmp_path):
    out = tmp_path / "demo"
    demo.prepare_demo_dir(out)
    (out / "briefings").mkdir()
    (out / "briefings" / "全国.csv").write_text("x", encoding="utf-8")
    (out / "aicity.db").write_text("x", encoding="utf-8")
    demo._record_demo_files(out, [out / "briefings" / "全国.csv", out / "aicity.db"])
    (out / "briefings" / "my-notes.txt").write_text("mine", encoding="utf-8")
    (out / "mine.csv").write_text("mine", encoding="utf-8")
    for _ in range(3):     # the second run left the user's file; a third must too
        demo.prepare_demo_dir(out)
        assert not (out / "aicity.db").exists()
        assert not (out / "briefings" / "全国.csv").exists()
        assert (out / "briefings" / "my-notes.txt").read_text(encoding="utf-8") == "mine"
        assert (out / "mine.csv").read_text(encoding="utf-8") == "mine"
        (out / "briefings" / "全国.csv").write_text("y", encoding="utf-8")
        demo._record_demo_files(out, [out / "briefings" / "全国.csv"])


def test_a_demo_file_the_user_changed_is_not_replaced(tmp_path):
    out = tmp_path / "demo"
    demo.prepare_demo_dir(out)
    (out / "briefings").mkdir()
    (out / "briefings" / "全国.csv").write_text("x", encoding="utf-8")
    demo._record_demo_files(out, [out / "briefings" / "全国.csv"])
    (out / "briefings" / "全国.csv").write_text("my edits", encoding="utf-8")
    with pytest.raises(demo.DemoFolderError, match="全国.csv changed since the demo wrote it"):
        demo.prepare_demo_dir(out)
    assert (out / "briefings" / "全国.csv").read_text(encoding="utf-8") == "my edits"


def test_a_demo_marker_cannot_make_it_delete_outside_its_folder(tmp_path):
    out = tmp_path / "demo"
    demo.prepare_demo_dir(out)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    (out / demo.DEMO_MARKER).write_text(json.dumps({"files": ["../victim.txt"]}),
                                           encoding="utf-8")
    (out / "report.html").write_text("x", encoding="utf-8")
    demo.prepare_demo_dir(out)
    assert victim.read_text(encoding="utf-8") == "keep"


DEMO_PARENT = textwrap.dedent("""
    import os, signal, time
    from aicity.children import spawned_pool
    if __name__ == "__main__":
        with spawned_pool(1) as pool:
            print(pool.submit(os.getpid).result(), flush=True)
            pool.submit(time.sleep, 600)          # busy, as a crawler is: not reading its queue
            os.kill(os.getpid(), signal.SIGKILL)
""")


def test_the_demo_crawlers_die_with_a_killed_demo(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(DEMO_PARENT, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == -signal.SIGKILL
    assert wait_for_exit(int(proc.stdout.split()[0])), "a crawler outlived its demo"


def test_a_demo_with_an_unknown_region_stops_before_it_starts(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--regions", "成都,Atlantis"],
                                obj={})
    assert result.exit_code == 1 and "Atlantis" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
