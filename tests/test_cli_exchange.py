"""`jikimi webhook ...` and `jikimi bank import/export/feedback` in exchange formats, as a
user runs them: real processes, a real workspace."""

import json
import os
import subprocess
import sys

PDQ = "f" * 32 + "0" * 16 + "a" * 16


def run(home, *args, check=True):
    env = {**os.environ, "JIKIMI_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "jikimi", *map(str, args)], env=env, capture_output=True,
                            text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"jikimi {args} failed ({result.returncode}): {result.stderr}")
    return result


def test_webhook_commands(tmp_path):
    home = tmp_path / "home"
    refused = run(home, "webhook", "add", "https://hooks.example.org/x", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: hooks.example.org is not an allowed webhook host: an admin allows it first with "
        "`jikimi webhook allow hooks.example.org`"]
    run(home, "webhook", "allow", "hooks.example.org")
    added = run(home, "webhook", "add", "https://hooks.example.org/x", "--event", "decision.made").stdout
    assert "Signing secret (shown only now): whsec_" in added
    [target] = json.loads(run(home, "webhook", "list", "--json").stdout)
    assert target["events"] == ["decision.made"] and "secret" not in target
    assert json.loads(run(home, "webhook", "deliveries", "--dead", "--json").stdout) == []
    assert "0 delivered" in run(home, "webhook", "send").stdout
    run(home, "webhook", "remove", target["id"])
    assert not json.loads(run(home, "webhook", "list", "--json").stdout)[0]["enabled"]


def test_stopncii_import_feedback_export_and_a_refused_list(tmp_path):
    home = tmp_path / "home"
    run(home, "bank", "create", "stopncii")
    good = [{"signalType": "ImagePDQ", "hashValue": PDQ, "hashStatus": "Active", "caseNumbers": {"C-1": "Active"}},
            {"signalType": "Text", "hashValue": "x", "hashStatus": "Active"}]
    (tmp_path / "feed.json").write_text(json.dumps({"hashRecords": good}))
    imported = run(home, "bank", "import", "stopncii", tmp_path / "feed.json", "--format", "stopncii")
    assert "Imported 1 record(s)" in imported.stdout
    assert "skipped: record 2: Text signals cannot be matched by Jikimi (skipped)" in imported.stderr
    run(home, "bank", "feedback", "stopncii", PDQ, "confirmed")
    [record] = json.loads(run(home, "bank", "export", "stopncii", "--format", "stopncii").stdout)["hashRecords"]
    assert record["caseNumbers"] == {"C-1": "Active"} and record["CSPFeedbacks"][0]["feedbackValue"] == "Blocked"

    bad = [good[0], {**good[0], "hashValue": "0" * 64}]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    refused = run(home, "bank", "import", "stopncii", tmp_path / "bad.json", "--format", "stopncii", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: record 2: an all-zero PDQ hash (a blank or corrupt picture) is refused"
